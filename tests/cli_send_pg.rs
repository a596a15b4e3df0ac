//! `cli_send.rs` on PostgreSQL: the same tests, in a crate whose name (`…_pg`) puts every server they start on
//! PostgreSQL (`common::backend`).

#[path = "cli_send.rs"]
mod cli_send;
