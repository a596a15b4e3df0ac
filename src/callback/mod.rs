//! Delivery outcomes leaving the gateway: the event log (every outcome as a delivery event, streamed by
//! EventService), the rules that say where an app's callbacks go, and the outbox that posts them.

mod body;
mod config;
pub mod log;
pub mod outbox;
mod pause;
mod post;
pub mod rules;
mod worker;

pub use body::{POSITION_HEADER, RULE_HEADER, SIGNATURE_HEADER, security, signature};
pub use config::{CallbacksConfig, EventsConfig};
pub use log::{AppEvent, EventLog};
pub use outbox::Outbox;
pub use post::Poster;
