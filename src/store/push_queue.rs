//! The durable queue of accepted asynchronous pushes (SendAsync, SendBatch): one entry per user, written
//! before the caller hears "accepted" and removed once every device of the user has its outcome.

use async_trait::async_trait;

use super::StoreError;
use crate::proto::v1::PushMessage;

/// One accepted push to one user. Times are Unix milliseconds.
#[derive(Clone, PartialEq, prost::Message)]
pub struct QueuedPush {
    /// The app.
    #[prost(string, tag = "1")]
    pub app: String,
    /// The receiving user.
    #[prost(string, tag = "2")]
    pub user: String,
    /// Id of the push.
    #[prost(string, tag = "3")]
    pub message_id: String,
    /// `pushgate.v1.Strategy` number.
    #[prost(int32, tag = "4")]
    pub strategy: i32,
    /// The message as accepted (validated, not rendered).
    #[prost(message, optional, tag = "5")]
    pub message: Option<PushMessage>,
    /// When it was accepted: time-to-live and the wait limit count from here.
    #[prost(int64, tag = "6")]
    pub accepted_ms: i64,
}

/// Position of an entry in the queue (opaque; ordered by acceptance within an app).
pub type QueueKey = Vec<u8>;

/// The queue of accepted pushes.
#[async_trait]
pub trait PushQueueRepository: Send + Sync {
    /// Appends `pushes` at once (all or none); returns their keys in order.
    async fn enqueue(&self, pushes: &[QueuedPush]) -> Result<Vec<QueueKey>, StoreError>;
    /// Up to `limit` entries after `after`, in key order.
    async fn queued(
        &self,
        after: Option<&QueueKey>,
        limit: usize,
    ) -> Result<Vec<(QueueKey, QueuedPush)>, StoreError>;
    /// The entry at `key`, if still queued.
    async fn queued_push(&self, key: &QueueKey) -> Result<Option<QueuedPush>, StoreError>;
    /// Removes the entry at `key` (done).
    async fn dequeue(&self, key: &QueueKey) -> Result<(), StoreError>;
    /// How many entries are queued.
    async fn queue_len(&self) -> Result<usize, StoreError>;
}
