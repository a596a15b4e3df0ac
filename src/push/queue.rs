//! Accepted asynchronous pushes: written to the store before the caller hears "accepted", sent in the
//! background by a bounded pool, removed once the user's devices have their outcomes, and resumed after a
//! restart (so a crash can repeat a push, never lose one).

use std::{
    collections::HashSet,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::sync::{Notify, Semaphore, mpsc};

use super::{Pusher, UserPush};
use crate::{
    proto::v1::Strategy,
    store::{QueueKey, QueuedPush, Store, StoreError},
};

/// Keys waiting in memory for a worker; more wait in the store and are fed in as room frees.
const HANDOFF_ROOM: usize = 1024;
/// Entries read from the store per scan page.
const SCAN_PAGE: usize = 256;
/// Pause before a push whose plan failed (store trouble) is tried again.
const RETRY_PAUSE: Duration = Duration::from_secs(5);

/// Why pushes could not be accepted.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The queue holds its maximum.
    #[error("{queued} pushes are waiting to be sent; at most {max} may wait")]
    Full {
        /// Waiting now.
        queued: usize,
        /// The limit.
        max: usize,
    },
    /// The store failed; nothing was accepted.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The queue of accepted pushes and its workers.
#[derive(Clone)]
pub struct PushQueue {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    max: usize,
    queued: AtomicUsize,
    /// Keys handed to the workers and not finished: the scan skips them, so no push runs twice at once.
    in_flight: Mutex<HashSet<QueueKey>>,
    handoff: mpsc::Sender<QueueKey>,
    /// Wakes the scanner when a key could not be handed off at once, or a push must be tried again.
    backlog: Notify,
}

impl PushQueue {
    /// Starts the workers (at most `workers` pushes at once) over the pushes already queued in `store`.
    pub async fn start(
        store: Store,
        pusher: Pusher,
        max: usize,
        workers: usize,
    ) -> Result<Self, StoreError> {
        let (handoff, keys) = mpsc::channel(HANDOFF_ROOM);
        let queued = store.push_queue.queue_len().await?;
        let inner = Arc::new(Inner {
            store,
            max,
            queued: AtomicUsize::new(queued),
            in_flight: Mutex::new(HashSet::new()),
            handoff,
            backlog: Notify::new(),
        });
        let observed = Arc::downgrade(&inner);
        crate::telemetry::metrics::observe_push_queue(move || {
            let queued = observed.upgrade()?.queued.load(Ordering::Relaxed);
            u64::try_from(queued).ok()
        });
        tokio::spawn(run_workers(inner.clone(), keys, pusher, workers));
        tokio::spawn(scan(inner.clone()));
        if queued > 0 {
            tracing::info!(queued, "resuming accepted pushes");
            inner.backlog.notify_one();
        }
        Ok(Self { inner })
    }

    /// Queues `pushes` (all or none) and hands them to the workers.
    pub async fn accept(&self, pushes: Vec<QueuedPush>) -> Result<(), QueueError> {
        let s = &self.inner;
        let queued = s.queued.load(Ordering::Relaxed);
        if queued + pushes.len() > s.max {
            return Err(QueueError::Full { queued, max: s.max });
        }
        let keys = s.store.push_queue.enqueue(&pushes).await?;
        // "Accepted" promises the push survives a crash: on disk before the caller hears it.
        s.store.flush().await?;
        s.queued.fetch_add(keys.len(), Ordering::Relaxed);
        for key in keys {
            if s.claim(&key) && s.handoff.try_send(key.clone()).is_err() {
                s.release(&key);
                s.backlog.notify_one();
            }
        }
        Ok(())
    }

    /// Pushes accepted and not yet finished.
    pub fn len(&self) -> usize {
        self.inner.queued.load(Ordering::Relaxed)
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Inner {
    fn claim(&self, key: &QueueKey) -> bool {
        self.in_flight
            .lock()
            .map(|mut set| set.insert(key.clone()))
            .unwrap_or(false)
    }

    fn release(&self, key: &QueueKey) {
        if let Ok(mut set) = self.in_flight.lock() {
            set.remove(key);
        }
    }
}

/// Reads the whole queue whenever woken and hands every unclaimed key to the workers (waiting for room).
/// It lives as long as the server: the queue is built once at start.
async fn scan(s: Arc<Inner>) {
    loop {
        s.backlog.notified().await;
        let mut after: Option<QueueKey> = None;
        loop {
            let page = match s.store.push_queue.queued(after.as_ref(), SCAN_PAGE).await {
                Ok(page) => page,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the push queue");
                    break;
                }
            };
            let Some((last, _)) = page.last() else { break };
            after = Some(last.clone());
            for (key, _) in page {
                if s.claim(&key) && s.handoff.send(key).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Takes keys from the handoff and runs each push, at most `workers` at once.
async fn run_workers(
    s: Arc<Inner>,
    mut keys: mpsc::Receiver<QueueKey>,
    pusher: Pusher,
    workers: usize,
) {
    let room = Arc::new(Semaphore::new(workers.max(1)));
    while let Some(key) = keys.recv().await {
        let Ok(permit) = room.clone().acquire_owned().await else {
            return;
        };
        let (s, pusher) = (s.clone(), pusher.clone());
        tokio::spawn(async move {
            run_one(&s, &pusher, &key).await;
            drop(permit);
        });
    }
}

async fn run_one(s: &Inner, pusher: &Pusher, key: &QueueKey) {
    let queued = match s.store.push_queue.queued_push(key).await {
        Ok(Some(q)) => q,
        // Finished by an earlier run of the same key.
        Ok(None) => {
            s.release(key);
            return;
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot read a queued push");
            retry_later(s, key).await;
            return;
        }
    };
    let push = UserPush {
        app: queued.app,
        user: queued.user,
        strategy: Strategy::try_from(queued.strategy).unwrap_or(Strategy::Unspecified),
        message: Arc::new(queued.message.unwrap_or_default()),
        message_id: queued.message_id,
        accepted_ms: queued.accepted_ms,
        task_id: String::new(),
    };
    let (app, user, message_id) = (push.app.clone(), push.user.clone(), push.message_id.clone());
    match pusher.push_user(push).await {
        Ok(outcomes) => {
            for o in &outcomes {
                tracing::debug!(
                    %app, %user, %message_id, device = %o.device_id, notifier = %o.notifier_name,
                    status = ?o.status, reason = o.failure.map(|f| f.as_str()), "async push outcome"
                );
            }
            if let Err(e) = s.store.push_queue.dequeue(key).await {
                tracing::error!(error = %e, "cannot remove a finished push from the queue");
            } else {
                s.queued.fetch_sub(1, Ordering::Relaxed);
            }
            s.release(key);
        }
        Err(e) => {
            tracing::error!(%app, %user, %message_id, error = %e, "async push failed; trying again");
            retry_later(s, key).await;
        }
    }
}

async fn retry_later(s: &Inner, key: &QueueKey) {
    tokio::time::sleep(RETRY_PAUSE).await;
    s.release(key);
    s.backlog.notify_one();
}
