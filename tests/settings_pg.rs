//! `settings/` on PostgreSQL: the same tests, in a crate whose name (`…_pg`) puts every server they start on
//! PostgreSQL (`common::backend`). The modules of `settings/` name their helpers `crate::common`.

#[path = "settings/main.rs"]
mod settings;

use settings::common;
