//! Accepted asynchronous pushes: written to the store before the caller hears "accepted", sent in the
//! background by a bounded pool, removed once the user's devices have their outcomes, and resumed after a
//! restart (so a crash can repeat a push, never lose one).

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::sync::{Notify, Semaphore, mpsc};

use super::{Pusher, UserPush};
use crate::{
    clock::now_ms,
    cluster::Membership,
    proto::v1::Strategy,
    store::{QueueClaim, QueueKey, QueuedPush, Store, StoreError, until_available},
};

/// Keys waiting in memory for a worker; more wait in the store and are fed in as room frees.
const HANDOFF_ROOM: usize = 1024;
/// Entries read from the store per scan page.
const SCAN_PAGE: usize = 256;
/// Pause before a push that failed (its plan or its events could not be stored) is tried again.
const RETRY_PAUSE: Duration = Duration::from_secs(5);
/// How long a claim on a queued push lasts: far longer than a push runs (every vendor request is bounded by
/// its timeout and retries). On a shared store the claims of a replica that is gone end sooner, when
/// another replica sees it gone (`rescan`); this bound is for a replica that is alive and stuck.
const CLAIM_FOR: Duration = Duration::from_secs(3600);

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
    /// This run's name on the claims it takes in the store (its replica's [`Holder::key`]): a queued push
    /// runs only while its claim is held, so no push runs twice at once.
    ///
    /// [`Holder::key`]: crate::cluster::Holder::key
    holder: String,
    handoff: mpsc::Sender<QueueKey>,
    /// Wakes the scanner when a key could not be handed off at once.
    backlog: Notify,
    /// One permit per push running at once.
    room: Arc<Semaphore>,
    /// How many run at once.
    workers: usize,
}

impl PushQueue {
    /// Starts the workers (at most `workers` pushes at once) over the pushes already queued in `store`.
    ///
    /// On a store that one process uses, every claim found at start is an earlier run's. On a shared store
    /// the queue is the replicas' together: each takes up the pushes of the replicas that are gone, every
    /// half lease, and counts the whole queue against `max` as of then.
    pub async fn start(
        store: Store,
        pusher: Pusher,
        max: usize,
        workers: usize,
        membership: Membership,
    ) -> Result<Self, StoreError> {
        let (handoff, keys) = mpsc::channel(HANDOFF_ROOM);
        if !store.is_shared() {
            store.push_queue.forget_claims().await?;
        }
        let queued = store.push_queue.queue_len().await?;
        let inner = Arc::new(Inner {
            store,
            max,
            queued: AtomicUsize::new(queued),
            holder: membership.holder().key(),
            handoff,
            backlog: Notify::new(),
            room: Arc::new(Semaphore::new(workers.max(1))),
            workers: workers.max(1),
        });
        let observed = Arc::downgrade(&inner);
        crate::telemetry::metrics::observe_push_queue(move || {
            let queued = observed.upgrade()?.queued.load(Ordering::Relaxed);
            u64::try_from(queued).ok()
        });
        tokio::spawn(run_workers(inner.clone(), keys, pusher));
        tokio::spawn(scan(inner.clone()));
        if inner.store.is_shared() {
            tokio::spawn(rescan(inner.clone(), membership));
        }
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
        // "Accepted" promises the push survives a crash: the store's writes are durable once they return.
        // Queued claimed by this run, which hands them to its workers at once.
        let keys = s.store.push_queue.enqueue(&pushes, &s.claim()).await?;
        s.queued.fetch_add(keys.len(), Ordering::Relaxed);
        for key in keys {
            if let Err(full) = s.handoff.try_send(key) {
                // No room: the scanner takes it up from the store.
                s.release(&full.into_inner()).await;
                s.backlog.notify_one();
            }
        }
        Ok(())
    }

    /// Stops taking pushes up, for a server that stops, and waits (at most `within`) for those running to
    /// finish. The pushes still queued, and those still running when `within` ends, stay claimed by this
    /// replica: the others take them up once it has left the cluster.
    pub async fn drain(&self, within: Duration) {
        let s = &self.inner;
        let all = u32::try_from(s.workers).unwrap_or(u32::MAX);
        match tokio::time::timeout(within, s.room.acquire_many(all)).await {
            // Kept: no push starts here any more.
            Ok(Ok(permits)) => permits.forget(),
            Ok(Err(_)) => {}
            Err(_) => {
                tracing::warn!(
                    "pushes still running at the end of the drain; another replica sends them again"
                );
            }
        }
        s.room.close();
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
    /// A claim by this run from now.
    fn claim(&self) -> QueueClaim {
        let for_ms = i64::try_from(CLAIM_FOR.as_millis()).unwrap_or(i64::MAX / 4);
        QueueClaim {
            holder: self.holder.clone(),
            until_ms: now_ms() + for_ms,
        }
    }

    /// Gives a claimed push back to the queue, for the scanner to take up again.
    async fn release(&self, key: &QueueKey) {
        if let Err(e) = self
            .store
            .push_queue
            .release_queued(key, &self.holder)
            .await
        {
            tracing::error!(error = %e, "cannot release a queued push; it is taken up when its claim runs out");
        }
    }
}

/// Claims every push nobody holds whenever woken and hands them to the workers (waiting for room).
/// It lives as long as the server: the queue is built once at start. While the store is away it waits for
/// it: giving up would leave the pushes it has not claimed yet until the next wake-up.
async fn scan(s: Arc<Inner>) {
    loop {
        s.backlog.notified().await;
        let mut after: Option<QueueKey> = None;
        loop {
            let claimed = until_available("claim queued pushes", || async {
                let claim = s.claim();
                s.store
                    .push_queue
                    .claim_queued(after.as_ref(), SCAN_PAGE, &claim, now_ms())
                    .await
            })
            .await;
            let page = match claimed {
                Ok(page) => page,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the push queue");
                    break;
                }
            };
            let Some((last, _)) = page.last() else { break };
            after = Some(last.clone());
            for (key, _) in page {
                if s.handoff.send(key).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Every half lease: ends the claims of replicas that are gone (those claimed a lease ago or more, so that a
/// replica that joined since the last beat is not taken for gone), wakes the scan to take their pushes up,
/// and counts the queue again, which the other replicas fill and empty too.
async fn rescan(s: Arc<Inner>, membership: Membership) {
    let lease = membership.lease();
    let mut every = tokio::time::interval(lease / 2);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (lease_ms, claim_ms) = (
        i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 4),
        i64::try_from(CLAIM_FOR.as_millis()).unwrap_or(i64::MAX / 4),
    );
    loop {
        every.tick().await;
        let live = membership.live_holders();
        let released = s
            .store
            .push_queue
            .release_gone_claims(&live, now_ms() - lease_ms + claim_ms)
            .await;
        match released {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(
                    pushes = n,
                    "taking up the queued pushes of replicas that are gone"
                );
                s.backlog.notify_one();
            }
            Err(e) => tracing::warn!(error = %e, "cannot release the claims of gone replicas"),
        }
        match s.store.push_queue.queue_len().await {
            Ok(n) => s.queued.store(n, Ordering::Relaxed),
            Err(e) => tracing::warn!(error = %e, "cannot count the push queue"),
        }
    }
}

/// Takes keys from the handoff and runs each push, at most `workers` at once.
async fn run_workers(s: Arc<Inner>, mut keys: mpsc::Receiver<QueueKey>, pusher: Pusher) {
    while let Some(key) = keys.recv().await {
        let Ok(permit) = s.room.clone().acquire_owned().await else {
            return;
        };
        let (s, pusher) = (s.clone(), pusher.clone());
        tokio::spawn(async move {
            run_one(&s, &pusher, &key).await;
            drop(permit);
        });
    }
}

/// Runs one queued push to its end. This run holds the push's claim throughout, so a try that fails is
/// tried again here after a pause rather than handed back through the store, which may be what failed.
async fn run_one(s: &Inner, pusher: &Pusher, key: &QueueKey) {
    while !try_one(s, pusher, key).await {
        tokio::time::sleep(RETRY_PAUSE).await;
    }
}

/// One try at a queued push; whether it is finished (sent and removed, or gone already).
async fn try_one(s: &Inner, pusher: &Pusher, key: &QueueKey) -> bool {
    let queued =
        match until_available("read a queued push", || s.store.push_queue.queued_push(key)).await {
            Ok(Some(q)) => q,
            // Finished by an earlier run of the same key.
            Ok(None) => return true,
            Err(e) => {
                tracing::error!(error = %e, "cannot read a queued push; trying again");
                return false;
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
    let outcomes = match pusher.push_user(push).await {
        Ok(outcomes) => outcomes,
        Err(e) => {
            tracing::error!(%app, %user, %message_id, error = %e, "async push failed; trying again");
            return false;
        }
    };
    for o in &outcomes {
        tracing::debug!(
            %app, %user, %message_id, device = %o.device_id, notifier = %o.notifier_name,
            status = ?o.status, reason = o.failure.map(|f| f.as_str()), "async push outcome"
        );
    }
    // Sent: only the removal is left, waited for while the store is away so that the push is not sent again
    // once its claim runs out.
    let removed = until_available("remove a finished push", || {
        s.store.push_queue.complete_queued(key, &s.holder)
    })
    .await;
    match removed {
        Ok(true) => {
            // Saturating: on a shared store this replica also completes pushes another accepted.
            let _ = s
                .queued
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                    Some(n.saturating_sub(1))
                });
        }
        Ok(false) => {
            tracing::warn!(%app, %user, %message_id, "a finished push's claim had run out; it may be sent again");
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot remove a finished push from the queue; it may be sent again")
        }
    }
    true
}
