//! The app's event log: every delivery outcome as a `DeliveryEvent`, by position, kept for the retention.

use async_trait::async_trait;

use super::StoreError;
use crate::proto::v1::DeliveryEvent;

/// Delivery events of every app, keyed by app and position.
///
/// Positions only increase within an app and are not contiguous. Readers (event streams, callback
/// workers) read after the last position they examined, so positions must become visible in order: once a
/// reader has seen position p, no event below p appears later. sled takes positions and writes them under
/// one lock; a backend shared by several processes must give the same guarantee (for example one sequence
/// per app taken in the appending transaction, with readers reading only below the lowest position still
/// being written).
#[async_trait]
pub trait EventRepository: Send + Sync {
    /// Appends `events` of `app` at once, giving each its position (increasing, and greater than every
    /// position of the app visible before); returns them as stored.
    async fn append_events(
        &self,
        app: &str,
        events: Vec<DeliveryEvent>,
    ) -> Result<Vec<DeliveryEvent>, StoreError>;
    /// Up to `limit` events of `app` after position `after`, in position order.
    async fn events_after(
        &self,
        app: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<DeliveryEvent>, StoreError>;
    /// The position of the app's oldest retained event, if any.
    async fn first_event_position(&self, app: &str) -> Result<Option<u64>, StoreError>;
    /// The position of the app's newest event, if any.
    async fn last_event_position(&self, app: &str) -> Result<Option<u64>, StoreError>;
    /// The highest position the retention has removed from the app's log (0 when none): resuming below it
    /// would miss events.
    async fn swept_through(&self, app: &str) -> Result<u64, StoreError>;
    /// Removes events recorded before `before_ms`, oldest first, about `limit` of them (a backend that
    /// stores events in groups, as sled does per append, removes whole groups, dated by their newest event);
    /// returns how many went, so a caller repeats while that is at least `limit`.
    async fn sweep_events(&self, before_ms: i64, limit: usize) -> Result<usize, StoreError>;
}
