//! `fakes_apns_fcm.rs` on PostgreSQL: the same tests, in a crate whose name (`…_pg`) puts every server they start on
//! PostgreSQL (`common::backend`).

#[path = "fakes_apns_fcm.rs"]
mod fakes_apns_fcm;
