//! The send path: a message to one user's devices, with Easemob's strategies, rules and failure reasons.
//!
//! `api::push` validates and accepts; [`Pusher`] plans each user's push (targets by strategy, message-level
//! rules, device filter) and executes it through the vendor lanes of `dispatch` and the own channel;
//! [`queue`] carries accepted asynchronous pushes across restarts.

mod config;
mod effects;
mod engine;
mod events;
mod execute;
pub mod idempotency;
pub mod limits;
mod messages;
mod outcome;
mod plan;
mod progress;
mod queue;
mod reason;
pub mod render;
pub mod route;

pub use config::PushConfig;
pub use engine::{PushError, Pusher, PusherParts, UserPush};
pub use idempotency::{Idempotency, IdempotencyError};
pub use messages::{MessageError, MessageSource};
pub use outcome::DeviceOutcome;
pub use plan::Planned;
pub use progress::Progress;
pub use queue::{PushQueue, QueueError};
pub use reason::{Failure, classify, outcome_text};
