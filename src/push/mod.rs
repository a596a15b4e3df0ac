//! The send path: a message to one user's devices, with Easemob's strategies, rules and failure reasons.
//!
//! `api::push` validates and accepts; [`Pusher`] plans each user's push (targets by strategy, message-level
//! rules, device filter) and executes it through the vendor lanes of `dispatch` and the own channel;
//! [`queue`] carries accepted asynchronous pushes across restarts.

mod channel_port;
mod config;
mod engine;
pub mod limits;
mod outcome;
mod reason;
pub mod render;
pub mod route;

pub use channel_port::{ChannelFailure, Handoff, OwnChannel};
pub use config::PushConfig;
pub use engine::{Planned, Progress, PushError, Pusher, UserPush};
pub use outcome::DeviceOutcome;
pub use reason::{Failure, classify, outcome_text};
