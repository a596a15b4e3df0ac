//! `push/` on PostgreSQL: the same tests, in a crate whose name (`…_pg`) puts every server they start on
//! PostgreSQL (`common::backend`). The modules of `push/` name their helpers `crate::common`.

#[path = "push/main.rs"]
mod push;

use push::common;
