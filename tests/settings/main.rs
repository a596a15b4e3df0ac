//! UserSettingsService over a real gRPC connection to a real server: every RPC, every limit, bad input that
//! changes nothing, restarts and tenant isolation.

#[path = "../common/mod.rs"]
pub(crate) mod common;

mod limits_restarts_and_isolation;
mod notification;
mod templates;
mod users;
