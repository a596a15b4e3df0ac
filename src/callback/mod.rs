//! Delivery outcomes leaving the gateway: the event log (every outcome as a delivery event, streamed by
//! EventService) and the rules that say where an app's callbacks go.

mod config;
pub mod event;
pub mod log;
pub mod rules;

pub use config::{CallbacksConfig, EventsConfig};
pub use log::{AppEvent, EventLog};
