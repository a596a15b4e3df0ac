//! `cli_admin.rs` on PostgreSQL: the same tests, in a crate whose name (`…_pg`) puts every server they start on
//! PostgreSQL (`common::backend`).

#[path = "cli_admin.rs"]
mod cli_admin;
