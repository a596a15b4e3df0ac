//! UserSettingsService over a real gRPC connection to a real server: every RPC, every limit, bad input that
//! changes nothing, restarts and tenant isolation.

#[path = "../common/mod.rs"]
mod common;

mod notification;
mod service;
mod templates;
mod users;
