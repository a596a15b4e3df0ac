//! The `[channel]` section of the configuration.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The own push channel (`ChannelService`): offline inbox and live streams.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ChannelConfig {
    /// How long a push waits in a device's offline inbox at most; a shorter push TTL wins.
    #[serde(with = "humantime_serde")]
    pub inbox_retention: Duration,
    /// A Subscribe stream idle this long gets a keepalive (at least 10 ms).
    #[serde(with = "humantime_serde")]
    pub keepalive_interval: Duration,
    /// Live pushes one stream may have waiting for its client (at least 1); a client that lets more pile
    /// up is cut off with RESOURCE_EXHAUSTED, its pushes staying in the inbox.
    pub stream_buffer: usize,
    /// Pushes one device's inbox holds (at least 1). A push beyond it drops the device's oldest one: the
    /// newest pushes matter most to a device that comes back, and a sender cannot act on a refusal.
    pub max_inbox_per_device: usize,
    /// How often expired inbox entries are deleted (at least 10 ms); replay skips them even before that.
    #[serde(with = "humantime_serde")]
    pub sweep_interval: Duration,
}

impl Default for ChannelConfig {
    fn default() -> Self {
        Self {
            inbox_retention: Duration::from_secs(7 * 24 * 3600),
            keepalive_interval: Duration::from_secs(30),
            stream_buffer: 256,
            max_inbox_per_device: 1000,
            sweep_interval: Duration::from_secs(60),
        }
    }
}
