//! The message a dispatcher sends: a `PushMessage` whose templates and defaults have been applied.

use std::time::Duration;

use crate::{clock::now_ms, proto::v1::PushMessage};

/// A message ready for the vendors: the push path has rendered templates and filled defaults, so a dispatcher
/// only maps fields into its vendor's payload (the vendor block first, then the base fields).
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// The gateway's id of the message (unique per push), used where a vendor takes a caller's message id.
    pub id: String,
    /// The message.
    pub message: PushMessage,
    /// When the push was accepted, Unix milliseconds: time-to-live counts from here.
    pub accepted_ms: i64,
}

impl Rendered {
    /// A message accepted now.
    pub fn now(id: impl Into<String>, message: PushMessage) -> Self {
        Self {
            id: id.into(),
            message,
            accepted_ms: now_ms(),
        }
    }

    /// The time-to-live of the message: `vendor_ttl` when the vendor block sets one, else the message's.
    pub fn ttl(&self, vendor_ttl: Option<&prost_types::Duration>) -> Option<Duration> {
        let ttl = vendor_ttl.or(self.message.options.as_ref().and_then(|o| o.ttl.as_ref()))?;
        Some(Duration::new(
            u64::try_from(ttl.seconds).unwrap_or(0),
            u32::try_from(ttl.nanos).unwrap_or(0),
        ))
    }

    /// Unix seconds at which the message stops being worth delivering, from `ttl` counted from acceptance.
    pub fn expires_at_secs(&self, ttl: Duration) -> u64 {
        u64::try_from(self.accepted_ms).unwrap_or(0) / 1000 + ttl.as_secs()
    }

    /// What is left of `ttl` now (zero once it has passed): vendors that take a relative TTL get this.
    pub fn remaining(&self, ttl: Duration) -> Duration {
        let elapsed =
            Duration::from_millis(u64::try_from(now_ms() - self.accepted_ms).unwrap_or(0));
        ttl.saturating_sub(elapsed)
    }
}
