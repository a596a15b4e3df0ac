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

/// Settings of the callback outbox: retries, dead letters, the pause rule and the HTTP client.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CallbacksConfig {
    /// A failing callback is retried until this long after its outcome (or after its redelivery), then kept
    /// as a failed callback.
    #[serde(with = "humantime_serde")]
    pub retry_for: Duration,
    /// Wait before the first retry; each further retry waits twice as long, up to `max_backoff`.
    #[serde(with = "humantime_serde")]
    pub first_backoff: Duration,
    /// Longest wait between two retries.
    #[serde(with = "humantime_serde")]
    pub max_backoff: Duration,
    /// Time allowed for one POST, connect to last byte.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Most POSTs in flight to one rule's endpoint.
    pub max_in_flight: usize,
    /// This many failed POSTs to one rule within `pause_window` pause the rule.
    pub pause_after_failures: usize,
    /// See `pause_after_failures`.
    #[serde(with = "humantime_serde")]
    pub pause_window: Duration,
    /// Length of a rule's first pause within `pause_count_window`.
    #[serde(with = "humantime_serde")]
    pub pause_first: Duration,
    /// Each further pause within `pause_count_window` is this much longer...
    #[serde(with = "humantime_serde")]
    pub pause_step: Duration,
    /// ...up to this.
    #[serde(with = "humantime_serde")]
    pub pause_max: Duration,
    /// Pauses further back than this no longer lengthen the next one.
    #[serde(with = "humantime_serde")]
    pub pause_count_window: Duration,
}

impl Default for CallbacksConfig {
    fn default() -> Self {
        let minutes = |m: u64| Duration::from_secs(m * 60);
        Self {
            retry_for: Duration::from_secs(24 * 3600),
            first_backoff: Duration::from_secs(1),
            max_backoff: minutes(10),
            request_timeout: Duration::from_secs(10),
            max_in_flight: 8,
            // Easemob's rule: 90 failures in 30 s pause the callback for 5, 10, 15, 20, then 25 minutes.
            pause_after_failures: 90,
            pause_window: Duration::from_secs(30),
            pause_first: minutes(5),
            pause_step: minutes(5),
            pause_max: minutes(25),
            pause_count_window: Duration::from_secs(24 * 3600),
        }
    }
}

impl CallbacksConfig {
    /// Refuses settings the outbox cannot work with.
    pub fn check(&self) -> Result<(), String> {
        let positive = [
            ("retry_for", self.retry_for),
            ("first_backoff", self.first_backoff),
            ("max_backoff", self.max_backoff),
            ("request_timeout", self.request_timeout),
            ("pause_window", self.pause_window),
            ("pause_first", self.pause_first),
            ("pause_max", self.pause_max),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, d)| d.is_zero()) {
            return Err(format!("callbacks.{name} must be positive"));
        }
        if self.max_in_flight == 0 || self.pause_after_failures == 0 {
            return Err(
                "callbacks.max_in_flight and callbacks.pause_after_failures must be at least 1"
                    .into(),
            );
        }
        if self.max_backoff < self.first_backoff || self.pause_max < self.pause_first {
            return Err(
                "callbacks.max_backoff and callbacks.pause_max must not be below their first step"
                    .into(),
            );
        }
        Ok(())
    }

    /// The wait before retry number `attempts` (1 after the first failure).
    pub fn backoff(&self, attempts: u32) -> Duration {
        let doubled = self
            .first_backoff
            .saturating_mul(2u32.saturating_pow(attempts.saturating_sub(1).min(30)));
        doubled.min(self.max_backoff)
    }

    /// The length of a pause after `earlier` pauses within the count window.
    pub fn pause(&self, earlier: u32) -> Duration {
        self.pause_first
            .saturating_add(self.pause_step.saturating_mul(earlier))
            .min(self.pause_max)
    }
}
