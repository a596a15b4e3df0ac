//! The event log: outcomes written as delivery events (durably, with the outcome), and handed at once to
//! the live subscribers of their app.

use std::sync::Arc;

use tokio::sync::{broadcast, watch};

use crate::{
    proto::v1::DeliveryEvent,
    store::{Store, StoreError},
};

/// Events waiting for slow live subscribers; a subscriber that falls further behind reads the store instead.
const LIVE_ROOM: usize = 4096;

/// A recorded event of an app.
pub type AppEvent = Arc<(String, DeliveryEvent)>;

/// The event log of every app.
#[derive(Clone)]
pub struct EventLog {
    store: Store,
    live: broadcast::Sender<AppEvent>,
    /// Bumped after every append, so the callback outbox wakes without holding the events themselves.
    recorded: Arc<watch::Sender<u64>>,
}

impl EventLog {
    /// A log over `store`.
    pub fn new(store: Store) -> Self {
        let (live, _) = broadcast::channel(LIVE_ROOM);
        Self {
            store,
            live,
            recorded: Arc::new(watch::channel(0).0),
        }
    }

    /// Records `events` of `app` (durably, in position order: see [`EventRepository`]) and wakes the live
    /// subscribers, which read the store after the last position they examined.
    ///
    /// [`EventRepository`]: crate::store::EventRepository
    pub async fn record(&self, app: &str, events: Vec<DeliveryEvent>) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let stored = self.store.events.append_events(app, events).await?;
        self.announce(app, stored);
        Ok(())
    }

    /// Wakes the outbox workers and the live subscribers for `stored`, events of `app` the store holds
    /// already (a task page records its events with its checkpoint, in one store call).
    pub fn announce(&self, app: &str, stored: Vec<DeliveryEvent>) {
        if stored.is_empty() {
            return;
        }
        self.recorded.send_modify(|n| *n = n.wrapping_add(1));
        // Cloned only for subscribers that exist; the events are in the store either way.
        if self.live.receiver_count() > 0 {
            for event in stored {
                let _ = self.live.send(Arc::new((app.to_owned(), event)));
            }
        }
    }

    /// Changes whenever events have been recorded.
    pub fn recorded(&self) -> watch::Receiver<u64> {
        self.recorded.subscribe()
    }

    /// Whether other replicas append to this log too (a shared store): their events come without a signal
    /// here, so readers look at the store now and then rather than only when signalled.
    pub fn is_shared(&self) -> bool {
        self.store.is_shared()
    }

    /// Events as they are recorded from now on (every app's; the receiver filters).
    pub fn subscribe(&self) -> broadcast::Receiver<AppEvent> {
        self.live.subscribe()
    }

    /// Removes events older than `retention`, a bounded number per round, for the life of the server, on one
    /// replica at a time (the holder of the lease `sweep/events`).
    pub fn sweep_every(
        &self,
        every: std::time::Duration,
        retention: std::time::Duration,
        leases: crate::cluster::Leases,
    ) {
        let store = self.store.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            let keep = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX / 2);
            // One replica sweeps the shared log.
            let mut turn = crate::cluster::OneReplica::new("sweep/events");
            loop {
                tick.tick().await;
                if !turn.mine(&leases).await {
                    continue;
                }
                let before = crate::clock::now_ms() - keep;
                if let Err(e) = store.events.sweep_events(before, 100_000).await {
                    tracing::error!(error = %e, "cannot sweep expired delivery events");
                }
            }
        });
    }

    /// Up to `limit` of the app's events after position `after`, in order.
    pub async fn after(
        &self,
        app: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<DeliveryEvent>, StoreError> {
        self.store.events.events_after(app, after, limit).await
    }

    /// The position through which the app's events have been swept by the retention (0 when none were).
    pub async fn swept_through(&self, app: &str) -> Result<u64, StoreError> {
        self.store.events.swept_through(app).await
    }

    /// The position of the app's newest event, if it has any.
    pub async fn last_position(&self, app: &str) -> Result<Option<u64>, StoreError> {
        self.store.events.last_event_position(app).await
    }
}
