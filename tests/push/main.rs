//! The send path end to end: a real server over gRPC, pushing to the sandbox vendors (and, for the
//! strategies, to devices subscribed to the own channel).

#[path = "../common/mod.rs"]
pub(crate) mod common;

mod callbacks;
mod events;
mod render;
mod rules;
mod sends;
mod strategies;
mod tasks;
mod telemetry;
mod timing;
mod vendors;
