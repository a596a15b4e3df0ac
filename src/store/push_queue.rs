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

/// Position of an entry in the queue: opaque to the services, ordered by acceptance within an app. Only
/// the backend that made it reads its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueueKey(Vec<u8>);

impl QueueKey {
    /// A key from a backend's own encoding.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The backend's encoding of the key.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// Who holds queued pushes, and until when (Unix milliseconds): a holder runs the pushes it claimed, and
/// nobody else does while the claim lasts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueClaim {
    /// The claiming process (an id it chose when it started).
    pub holder: String,
    /// When the claim ends unless the push completes first.
    pub until_ms: i64,
}

/// The queue of accepted pushes.
///
/// Each entry is run by one holder at a time: an entry is claimed when it is queued (by the process that
/// accepted it) or by [`claim_queued`](Self::claim_queued), and leaves the queue when its holder completes
/// it. A claim ends when its holder releases it, or at its `until_ms`, so a push whose process died is
/// taken up again. Claiming must be atomic per entry across every process sharing the store (a clustered
/// backend: `FOR UPDATE SKIP LOCKED`, or a conditional update).
#[async_trait]
pub trait PushQueueRepository: Send + Sync {
    /// Appends `pushes` at once (all or none), each claimed by `claim`; returns their keys in order.
    async fn enqueue(
        &self,
        pushes: &[QueuedPush],
        claim: &QueueClaim,
    ) -> Result<Vec<QueueKey>, StoreError>;
    /// Claims, in key order after `after`, up to `limit` entries that nobody holds at `now_ms` (never
    /// claimed, released, or whose claim's `until_ms` is not later than `now_ms`) and returns them.
    async fn claim_queued(
        &self,
        after: Option<&QueueKey>,
        limit: usize,
        claim: &QueueClaim,
        now_ms: i64,
    ) -> Result<Vec<(QueueKey, QueuedPush)>, StoreError>;
    /// The entry at `key`, if still queued.
    async fn queued_push(&self, key: &QueueKey) -> Result<Option<QueuedPush>, StoreError>;
    /// Ends `holder`'s claim on the entry, which stays queued for another try (nothing when another holder
    /// has it).
    async fn release_queued(&self, key: &QueueKey, holder: &str) -> Result<(), StoreError>;
    /// Removes the entry (done) if `holder` still holds it; returns whether it did. A claim that ran out and
    /// that nobody took since is still `holder`'s. `false`: another holder has the entry, or it is gone.
    async fn complete_queued(&self, key: &QueueKey, holder: &str) -> Result<bool, StoreError>;
    /// Ends every claim whose holder is not in `live` and whose `until_ms` is not after `until_latest_ms`;
    /// returns how many ended. With several processes, `live` are the holders whose process is alive
    /// (by heartbeat), and `until_latest_ms` spares the claims made too recently for the caller to know
    /// their holder. Each claim ends atomically: one its holder completes meanwhile is not touched.
    async fn release_gone_claims(
        &self,
        live: &[String],
        until_latest_ms: i64,
    ) -> Result<usize, StoreError>;
    /// Ends every claim. Only for a store that one process uses, when it starts: the claims it finds were
    /// made by a run of it that is gone.
    async fn forget_claims(&self) -> Result<(), StoreError> {
        self.release_gone_claims(&[], i64::MAX).await.map(|_| ())
    }
    /// How many entries are queued.
    async fn queue_len(&self) -> Result<usize, StoreError>;
}
