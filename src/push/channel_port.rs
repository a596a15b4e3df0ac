//! What the send path needs of the own channel. `channel::Channel` implements it; the seam lets the send
//! path be tested without live streams.

use async_trait::async_trait;

use crate::proto::v1::PushMessage;

/// A push handed to the own channel for one device.
#[derive(Debug, Clone, PartialEq)]
pub struct Handoff {
    /// Id of the push.
    pub message_id: String,
    /// The push as the channel carries it (see `render::for_channel`).
    pub message: PushMessage,
    /// When the push was accepted, Unix milliseconds.
    pub send_time_ms: i64,
    /// When it expires (from its TTL), Unix milliseconds; `None` for the inbox retention only.
    pub expire_ms: Option<i64>,
    /// The task that sent it; empty for PushService sends.
    pub task_id: String,
}

/// Why the own channel could not take a push.
#[derive(Debug, thiserror::Error)]
#[error("own channel: {0}")]
pub struct ChannelFailure(pub String);

/// The own channel as the send path sees it.
#[async_trait]
pub trait OwnChannel: Send + Sync {
    /// Whether the device has a stream open now.
    fn is_online(&self, app: &str, device_id: &str) -> bool;
    /// The user's devices known to the own channel.
    async fn devices(&self, app: &str, user: &str) -> Result<Vec<String>, ChannelFailure>;
    /// Writes the push into the device's inbox and hands it to its live stream if open; answers whether it
    /// went live.
    async fn deliver(
        &self,
        app: &str,
        user: &str,
        device_id: &str,
        push: &Handoff,
    ) -> Result<bool, ChannelFailure>;
}
