//! The `[push]` section: message limits, defaults, and the bounds of the send path.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Settings of the send path. The text limits are Easemob's; widths count a CJK character as 2.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PushConfig {
    /// Widest `title` (CJK characters count 2).
    pub max_title_width: usize,
    /// Widest `sub_title`.
    pub max_sub_title_width: usize,
    /// Widest `content`.
    pub max_content_width: usize,
    /// Most `ext` entries.
    pub max_ext_entries: usize,
    /// Most characters over all `ext` keys and values.
    pub max_ext_chars: usize,
    /// Title of a push that has none after templates and the display style.
    pub default_title: String,
    /// Content of a push that has none after templates and the display style.
    pub default_content: String,
    /// Longest a push may wait before it is sent; later it fails with `expire message` (a shorter TTL wins).
    #[serde(with = "humantime_serde")]
    pub max_wait: Duration,
    /// How long a request id makes a send idempotent.
    #[serde(with = "humantime_serde")]
    pub idempotency_window: Duration,
    /// SendSync calls allowed per app and second (a token bucket; bursts up to this many).
    pub sync_per_second_per_app: u32,
    /// Most users of one SendBatch.
    pub max_batch_users: usize,
    /// Most accepted async pushes (one per user) waiting to be sent, server-wide; beyond it SendAsync and
    /// SendBatch are RESOURCE_EXHAUSTED.
    pub max_queued: usize,
    /// Async pushes sent at once.
    pub async_workers: usize,
}

impl Default for PushConfig {
    fn default() -> Self {
        Self {
            max_title_width: 32,
            max_sub_title_width: 10,
            max_content_width: 100,
            max_ext_entries: 10,
            max_ext_chars: 1024,
            default_title: "New message".into(),
            default_content: "You have a new message".into(),
            max_wait: Duration::from_secs(24 * 3600),
            idempotency_window: Duration::from_secs(24 * 3600),
            sync_per_second_per_app: 100,
            max_batch_users: 100,
            max_queued: 100_000,
            async_workers: 16,
        }
    }
}

impl PushConfig {
    /// Why the settings cannot be used, if they cannot.
    pub fn check(&self) -> Result<(), String> {
        if self.sync_per_second_per_app == 0 {
            return Err("push.sync_per_second_per_app must be at least 1".into());
        }
        if self.async_workers == 0 || self.max_queued == 0 || self.max_batch_users == 0 {
            return Err(
                "push.async_workers, push.max_queued and push.max_batch_users must be at least 1"
                    .into(),
            );
        }
        if self.default_title.is_empty() || self.default_content.is_empty() {
            return Err("push.default_title and push.default_content must not be empty".into());
        }
        Ok(())
    }
}
