//! The own channel's durable state: each device's offline inbox, the receipts that acks are checked against,
//! ack counters, and which devices subscribed as which user.

use async_trait::async_trait;

use super::StoreError;
use crate::proto::v1::PushMessage;

/// One push waiting in a device's inbox. Times are Unix milliseconds.
#[derive(Clone, PartialEq, prost::Message)]
pub struct InboxEntry {
    /// Position in the device's stream; assigned by [`InboxRepository::append`].
    #[prost(uint64, tag = "1")]
    pub position: u64,
    /// The user the push is for; only this user's Subscribe replays it.
    #[prost(string, tag = "2")]
    pub user: String,
    /// The device.
    #[prost(string, tag = "3")]
    pub device_id: String,
    /// Id of the push.
    #[prost(string, tag = "4")]
    pub message_id: String,
    /// The push, rendered for the own channel.
    #[prost(message, optional, tag = "5")]
    pub message: Option<PushMessage>,
    /// When the push was sent.
    #[prost(int64, tag = "6")]
    pub send_time_ms: i64,
    /// When the push expires on the device (its TTL); unset when it does not.
    #[prost(int64, optional, tag = "7")]
    pub expire_ms: Option<i64>,
    /// When the entry leaves the inbox: the earlier of the retention's end and `expire_ms`.
    #[prost(int64, tag = "8")]
    pub purge_at_ms: i64,
    /// Id of the task that sent the push; empty for single sends.
    #[prost(string, tag = "9")]
    pub task_id: String,
}

/// What is known of one push to one device for one user until it expires, whether it is still in the
/// inbox or not: acks are checked and de-duplicated against it.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct InboxReceipt {
    /// Position of the push's inbox entry.
    #[prost(uint64, tag = "1")]
    pub position: u64,
    /// Id of the task that sent the push; empty for single sends.
    #[prost(string, tag = "2")]
    pub task_id: String,
    /// When the receipt (and the entry, if still there) is deleted.
    #[prost(int64, tag = "3")]
    pub purge_at_ms: i64,
    /// A delivered (or clicked) ack was counted.
    #[prost(bool, tag = "4")]
    pub delivered: bool,
    /// A clicked ack was counted.
    #[prost(bool, tag = "5")]
    pub clicked: bool,
}

/// Entry of the expiry index: what to delete when the time comes.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct InboxExpiry {
    /// The device.
    #[prost(string, tag = "1")]
    pub device_id: String,
    /// The user.
    #[prost(string, tag = "2")]
    pub user: String,
    /// Id of the push.
    #[prost(string, tag = "3")]
    pub message_id: String,
    /// Position of the entry.
    #[prost(uint64, tag = "4")]
    pub position: u64,
}

/// How many entries one device's inbox holds.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct InboxCount {
    /// The number of entries.
    #[prost(uint64, tag = "1")]
    pub entries: u64,
}

/// A device that subscribed as a user.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct ChannelDeviceRecord {
    /// The first Subscribe.
    #[prost(int64, tag = "1")]
    pub first_subscribe_ms: i64,
    /// The latest Subscribe.
    #[prost(int64, tag = "2")]
    pub last_subscribe_ms: i64,
}

/// Ack counters of a message id or a task id.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct AckCountRecord {
    /// Devices that acknowledged delivery (a click counts as one too).
    #[prost(uint64, tag = "1")]
    pub delivered: u64,
    /// Devices whose user tapped the notification.
    #[prost(uint64, tag = "2")]
    pub clicked: u64,
}

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Position of the entry.
    pub position: u64,
    /// The push was known for this device and user already (a retried delivery): nothing was written and
    /// `position` is the first one.
    pub duplicate: bool,
    /// Oldest entries dropped to keep the device's inbox within its limit.
    pub evicted: u64,
    /// Entries in the device's inbox after the append.
    pub size: u64,
    /// Position of the device's newest entry before this one (of any user), 0 when its inbox was empty or
    /// the push was a duplicate. A stream that has handled every position up to this one misses nothing by
    /// taking this entry next; one that has not reads the inbox first (a push relayed from another replica
    /// may overtake an earlier one).
    pub previous: u64,
}

/// Which counters to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckSubject<'a> {
    /// One message id.
    Message(&'a str),
    /// One task id.
    Task(&'a str),
}

/// The own channel's inboxes, receipts, counters and devices.
///
/// An append reads the device's inbox (its size, its oldest entries, whether the push is there already)
/// before it writes: it is one atomic step per device. sled serialises the appends to one device inside the
/// store (striped locks); a backend shared by several processes must do the same across them (a row lock
/// on the device's inbox). Positions only increase per device and are not contiguous.
#[async_trait]
pub trait InboxRepository: Send + Sync {
    /// Writes `entry` at a new position (assigned here, greater than any assigned before; `entry.position`
    /// is ignored) with its receipt and expiry, dropping the device's oldest entries beyond
    /// `max_per_device`. A push already known for the device and user is not written twice.
    async fn append(
        &self,
        app: &str,
        entry: &InboxEntry,
        max_per_device: usize,
    ) -> Result<Appended, StoreError>;
    /// Up to `limit` entries of a device's inbox with a position greater than `after`, oldest first, of any
    /// user and expired or not (the caller filters).
    async fn inbox_page(
        &self,
        app: &str,
        device: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<InboxEntry>, StoreError>;
    /// Records acks of pushes to a device for a user: every one removes its inbox entry, and counts as
    /// delivered (and as clicked when `clicked`) unless it was counted so before. Returns the ids that name
    /// no unexpired push to this device and user.
    async fn ack(
        &self,
        app: &str,
        user: &str,
        device: &str,
        message_ids: &[String],
        clicked: bool,
        now_ms: i64,
    ) -> Result<Vec<String>, StoreError>;
    /// The ack counters of a message id or task id (zero when none).
    async fn ack_counts(
        &self,
        app: &str,
        subject: AckSubject<'_>,
    ) -> Result<AckCountRecord, StoreError>;
    /// Records that a device subscribed as a user.
    async fn record_channel_device(
        &self,
        app: &str,
        user: &str,
        device: &str,
        now_ms: i64,
    ) -> Result<(), StoreError>;
    /// The devices that subscribed as a user, by id.
    async fn channel_devices(&self, app: &str, user: &str) -> Result<Vec<String>, StoreError>;
    /// Whether any device subscribed as the user.
    async fn has_channel_devices(&self, app: &str, user: &str) -> Result<bool, StoreError>;
    /// Removes a user's inbox entries, receipts and device records; returns how many inbox entries.
    async fn delete_user_inbox(&self, app: &str, user: &str) -> Result<u64, StoreError>;
    /// Deletes up to `limit` entries (with their receipts) of every app that expired at `now_ms`; returns
    /// how many it looked at (entries, or what the backend keeps per entry to find them), so a caller
    /// repeats while that equals `limit`.
    async fn sweep_expired(&self, now_ms: i64, limit: usize) -> Result<u64, StoreError>;
}
