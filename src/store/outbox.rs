//! The callback outbox: per rule, how far through the event log its deliveries are, the callbacks waiting to
//! be retried (in order per device), the failed ones kept after their retries, and the rule's pause.
//!
//! The outbox holds no copy of an event until a delivery fails: a rule reads the event log from its cursor,
//! so recording an outcome is the only write a callback costs while its endpoint answers.

use async_trait::async_trait;

use super::{Fence, StoreError};
use crate::proto::v1::{DeliveryEvent, FailedCallback};

/// A callback that waits: to be retried after a failed attempt, or behind an earlier one of its device.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PendingCallback {
    /// The event it carries.
    #[prost(message, optional, tag = "1")]
    pub event: Option<DeliveryEvent>,
    /// Attempts made so far.
    #[prost(uint32, tag = "2")]
    pub attempts: u32,
    /// When the first attempt was made (0: none yet).
    #[prost(int64, tag = "3")]
    pub first_attempt_ms: i64,
    /// When the last attempt was made (0: none yet).
    #[prost(int64, tag = "4")]
    pub last_attempt_ms: i64,
    /// HTTP status of the last attempt; 0 when no answer came.
    #[prost(int32, tag = "5")]
    pub last_http_status: i32,
    /// What went wrong in the last attempt.
    #[prost(string, tag = "6")]
    pub last_error: String,
    /// Retries end `callbacks.retry_for` after this: the outcome, or the redelivery that queued it again.
    #[prost(int64, tag = "7")]
    pub budget_from_ms: i64,
    /// When it may be tried next, once it is its receiver's first waiting callback.
    #[prost(int64, tag = "8")]
    pub next_attempt_ms: i64,
}

impl PendingCallback {
    /// The event's position (0 without an event).
    pub fn position(&self) -> u64 {
        self.event.as_ref().map_or(0, |e| e.position)
    }

    /// The key that orders the callbacks of one receiver: its device, or for an outcome that reached no
    /// device, its user.
    pub fn order_key(&self) -> String {
        self.event.as_ref().map(order_key).unwrap_or_default()
    }
}

/// The key that orders an event's callbacks: the device, or for an outcome that reached no device, the user.
pub fn order_key(event: &DeliveryEvent) -> String {
    if event.device_id.is_empty() {
        format!("@{}", event.target)
    } else {
        event.device_id.clone()
    }
}

/// A rule's pause state.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PauseRecord {
    /// Paused until this time (ms); 0 or past: not paused.
    #[prost(int64, tag = "1")]
    pub paused_until_ms: i64,
    /// When the recent pauses began (ms), oldest first; the count within the window sets the next one's length.
    #[prost(int64, repeated, tag = "2")]
    pub pause_starts_ms: Vec<i64>,
}

/// Id of a failed callback: the rule and the event's position, as `rule/position`.
pub fn failed_id(rule: &str, position: u64) -> String {
    format!("{rule}/{position}")
}

/// The rule and position of a failed callback id; None when it is not one.
pub fn parse_failed_id(id: &str) -> Option<(&str, u64)> {
    let (rule, position) = id.rsplit_once('/')?;
    Some((rule, position.parse().ok()?)).filter(|(r, _)| !r.is_empty())
}

/// The outbox of every rule of every app.
#[async_trait]
pub trait OutboxRepository: Send + Sync {
    /// The position through which `rule` has handled the log (delivered, queued to retry, or skipped); None
    /// for a rule that has not started.
    async fn cursor(&self, app: &str, rule: &str) -> Result<Option<u64>, StoreError>;
    /// Moves the cursor to `position` and queues `parked` (each behind the callbacks its receiver already has
    /// waiting; a receiver with none waiting becomes due at the first one's `next_attempt_ms`), in one write.
    async fn advance(
        &self,
        app: &str,
        rule: &str,
        position: u64,
        parked: Vec<PendingCallback>,
    ) -> Result<(), StoreError> {
        self.advance_fenced(app, rule, position, parked, None)
            .await
            .map(|_| ())
    }
    /// [`advance`](Self::advance) by the holder of `fence` (the rule's delivery lease): when it is given
    /// and no longer holds, nothing is written and the answer is `false` (another replica delivers the rule
    /// now). The check and the write are one atomic step.
    async fn advance_fenced(
        &self,
        app: &str,
        rule: &str,
        position: u64,
        parked: Vec<PendingCallback>,
        fence: Option<&Fence>,
    ) -> Result<bool, StoreError>;
    /// How many callbacks of `rule` are waiting (one scan; for the metric when a worker starts).
    async fn waiting_count(&self, app: &str, rule: &str) -> Result<u64, StoreError>;
    /// Whether callbacks of `order_key` are waiting (a new one must queue behind them).
    async fn is_held(&self, app: &str, rule: &str, order_key: &str) -> Result<bool, StoreError>;
    /// The first waiting callback of each receiver that is due at `now_ms`, earliest due first.
    async fn due(
        &self,
        app: &str,
        rule: &str,
        now_ms: i64,
        limit: usize,
    ) -> Result<Vec<PendingCallback>, StoreError>;
    /// When the next waiting callback of `rule` is due, if any waits.
    async fn next_due_ms(&self, app: &str, rule: &str) -> Result<Option<i64>, StoreError>;
    /// The first waiting callback of its receiver is done: delivered, or given up on (then kept as `failed`).
    /// The receiver's next callback, if any, becomes due at `now_ms`.
    async fn settle(
        &self,
        app: &str,
        rule: &str,
        pending: &PendingCallback,
        failed: Option<FailedCallback>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.settle_fenced(app, rule, pending, failed, now_ms, None)
            .await
            .map(|_| ())
    }
    /// [`settle`](Self::settle) by the holder of `fence` (the rule's delivery lease): when it is given and
    /// no longer holds, nothing is written and the answer is `false`. The check and the write are one
    /// atomic step.
    async fn settle_fenced(
        &self,
        app: &str,
        rule: &str,
        pending: &PendingCallback,
        failed: Option<FailedCallback>,
        now_ms: i64,
        fence: Option<&Fence>,
    ) -> Result<bool, StoreError>;
    /// The first waiting callback of its receiver failed again: stored as given, due at its
    /// `next_attempt_ms`, if it still waits (a callback settled meanwhile is not brought back).
    async fn reschedule(
        &self,
        app: &str,
        rule: &str,
        pending: PendingCallback,
    ) -> Result<(), StoreError> {
        self.reschedule_fenced(app, rule, pending, None)
            .await
            .map(|_| ())
    }
    /// [`reschedule`](Self::reschedule) by the holder of `fence`, as [`settle_fenced`](Self::settle_fenced):
    /// a paused replica's late retry must neither undo the new deliverer's progress nor reorder a receiver's
    /// callbacks.
    async fn reschedule_fenced(
        &self,
        app: &str,
        rule: &str,
        pending: PendingCallback,
        fence: Option<&Fence>,
    ) -> Result<bool, StoreError>;
    /// Failed callbacks of `app`, oldest event first, of one rule or all, after the id `after`.
    async fn failed(
        &self,
        app: &str,
        rule: Option<&str>,
        after: Option<(&str, u64)>,
        limit: usize,
    ) -> Result<Vec<FailedCallback>, StoreError>;
    /// Moves the failed callback `(rule, position)` back to waiting, due at `now_ms` with a fresh retry
    /// budget; false when there is none.
    async fn requeue_failed(
        &self,
        app: &str,
        rule: &str,
        position: u64,
        now_ms: i64,
    ) -> Result<bool, StoreError>;
    /// The rule's pause state.
    async fn pause(&self, app: &str, rule: &str) -> Result<PauseRecord, StoreError>;
    /// Stores the rule's pause state.
    async fn set_pause(&self, app: &str, rule: &str, pause: PauseRecord) -> Result<(), StoreError>;
    /// Sets where `rule` is in the log.
    async fn set_cursor(&self, app: &str, rule: &str, position: u64) -> Result<(), StoreError>;
    /// Forgets where `rule` was in the log (it starts again from the newest event when next enabled).
    async fn forget_cursor(&self, app: &str, rule: &str) -> Result<(), StoreError>;
    /// Removes everything of `rule`: cursor, waiting and failed callbacks, pause.
    async fn remove_rule(&self, app: &str, rule: &str) -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_ids_round_trip_and_refuse_garbage() {
        assert_eq!(
            parse_failed_id(&failed_id("hook-1", 42)),
            Some(("hook-1", 42))
        );
        assert_eq!(parse_failed_id("hook"), None);
        assert_eq!(parse_failed_id("/5"), None);
        assert_eq!(parse_failed_id("hook/x"), None);
    }

    #[test]
    fn receivers_without_a_device_are_ordered_by_user() {
        let mut e = DeliveryEvent {
            target: "bob".into(),
            ..Default::default()
        };
        assert_eq!(order_key(&e), "@bob");
        e.device_id = "d1".into();
        assert_eq!(order_key(&e), "d1");
    }
}
