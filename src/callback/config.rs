//! The `[events]` section: how long delivery events are kept and how often idle streams hear from us.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Settings of the event log and EventService.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct EventsConfig {
    /// How long events are kept; a stream resuming from before it is OUT_OF_RANGE.
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
    /// A SubscribeEvents stream with no matching event for this long gets a heartbeat.
    #[serde(with = "humantime_serde")]
    pub heartbeat_interval: Duration,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            retention: Duration::from_secs(7 * 24 * 3600),
            heartbeat_interval: Duration::from_secs(30),
        }
    }
}
