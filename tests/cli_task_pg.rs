//! `cli_task.rs` on PostgreSQL: the same tests, in a crate whose name (`…_pg`) puts every server they start on
//! PostgreSQL (`common::backend`).

#[path = "cli_task.rs"]
mod cli_task;
