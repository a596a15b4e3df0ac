//! This replica's membership: it registers when the server starts, renews its beat every
//! `cluster.heartbeat`, knows which replicas are alive (those that beat within `cluster.lease`), and leaves
//! when the server stops. A replica that died without leaving counts as gone once its beat is a lease old;
//! its record is removed after ten leases, by whichever replica beats next.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{
        Arc, RwLock,
        atomic::{AtomicU64, Ordering},
    },
};

use tokio::sync::watch;

use super::{ClusterConfig, Leases};
use crate::{
    clock::now_ms,
    store::{ReplicaRecord, Store, StoreError},
};

/// How many leases a dead replica's record is kept before it is removed: long enough to show in the logs as
/// gone, short enough that a deployment's history does not pile up.
const GONE_RECORD_LEASES: i64 = 10;

/// This replica in the deployment; cloned freely.
#[derive(Clone)]
pub struct Membership {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    config: ClusterConfig,
    /// This replica's record (its beat is set at each beat).
    me: ReplicaRecord,
    /// How many replicas were live at the last beat, this one included.
    live: AtomicU64,
    /// The other replicas live at the last beat: (id, start time) → internal address.
    others: RwLock<BTreeMap<(String, i64), String>>,
    /// Ends the heartbeat.
    stop: watch::Sender<bool>,
    /// The leases this replica holds, whoever took them.
    leases: Leases,
}

impl Membership {
    /// Registers this replica (start-up fails when the store cannot take the first beat) and starts its
    /// heartbeat.
    pub async fn join(store: Store, config: &ClusterConfig) -> Result<Self, StoreError> {
        let now = now_ms();
        let me = ReplicaRecord {
            id: config.replica_id.clone().unwrap_or_else(generated_id),
            address: config.internal_address.clone().unwrap_or_default(),
            started_ms: now,
            beat_ms: now,
        };
        let since = now - config.lease_ms();
        if let Some(other) = store
            .replicas
            .live_replicas(since)
            .await?
            .into_iter()
            .find(|r| r.id == me.id)
        {
            // The same id beating within a lease: this replica restarted quicker than its lease ran out, or
            // two replicas were given one id; the second would share the first's leases.
            tracing::warn!(
                replica = %me.id, last_beat_ms_ago = now - other.beat_ms,
                "a replica with this id beat within the lease: two replicas must not share an id"
            );
        }
        if !store.is_shared() {
            // Nobody else can have this store open: every other record is an earlier run's, which is gone.
            for old in store.replicas.live_replicas(i64::MIN).await? {
                store.replicas.remove_replica(&old.id).await?;
            }
            store.leases.forget_leases().await?;
        }
        store.replicas.beat(&me).await?;
        let others = store
            .replicas
            .live_replicas(since)
            .await?
            .into_iter()
            .filter(|r| r.id != me.id)
            .map(|r| ((r.id, r.started_ms), r.address))
            .collect();
        let (stop, stopped) = watch::channel(false);
        let leases = Leases::new(store.clone(), &me.id, config.lease, config.heartbeat);
        let inner = Arc::new(Inner {
            leases,
            store,
            config: config.clone(),
            me,
            live: AtomicU64::new(1),
            others: RwLock::new(others),
            stop,
        });
        let observed = Arc::downgrade(&inner);
        crate::telemetry::metrics::observe_cluster_replicas(move || {
            Some(observed.upgrade()?.live.load(Ordering::Relaxed))
        });
        tracing::info!(replica = %inner.me.id, address = %inner.me.address, "joined the cluster");
        tokio::spawn(heartbeat(Arc::downgrade(&inner), stopped));
        Ok(Self { inner })
    }

    /// This replica's id.
    pub fn id(&self) -> &str {
        &self.inner.me.id
    }

    /// How many replicas were live at the last beat, this one included.
    pub fn live_count(&self) -> u64 {
        self.inner.live.load(Ordering::Relaxed).max(1)
    }

    /// This replica as the holder of claimed work: its id and start time (a restart is another holder).
    pub fn holder(&self) -> Holder {
        Holder {
            id: self.inner.me.id.clone(),
            started_ms: self.inner.me.started_ms,
        }
    }

    /// The holders alive at this replica's last beat (this one included), as [`Holder::key`] names them.
    pub fn live_holders(&self) -> Vec<String> {
        let others = self.inner.others.read().unwrap_or_else(|p| p.into_inner());
        std::iter::once(self.holder().key())
            .chain(others.keys().map(|(id, started_ms)| {
                Holder {
                    id: id.clone(),
                    started_ms: *started_ms,
                }
                .key()
            }))
            .collect()
    }

    /// How long a call to another replica may take (`cluster.relay_timeout`).
    pub fn relay_timeout(&self) -> std::time::Duration {
        self.inner.config.relay_timeout
    }

    /// How long a replica's beat counts (`cluster.lease`).
    pub fn lease(&self) -> std::time::Duration {
        self.inner.config.lease
    }

    /// Whether the holder `id` started at `started_ms` is alive: this replica, or another whose beat was
    /// fresh at this replica's last beat. Work claimed by a holder that is not may be taken over; the
    /// fencing epoch of the claim refuses the old holder's late writes if it was only slow.
    pub fn is_live(&self, id: &str, started_ms: i64) -> bool {
        self.is_me(id, started_ms)
            || self
                .inner
                .others
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .contains_key(&(id.to_owned(), started_ms))
    }

    /// Where another replica's internal listener is, while it is alive (at this replica's last beat) and
    /// has one; `None` for this replica itself.
    pub fn address_of(&self, id: &str, started_ms: i64) -> Option<String> {
        self.inner
            .others
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(id.to_owned(), started_ms))
            .filter(|address| !address.is_empty())
            .cloned()
    }

    /// Whether the holder `id` started at `started_ms` is this replica.
    pub fn is_me(&self, id: &str, started_ms: i64) -> bool {
        id == self.inner.me.id && started_ms == self.inner.me.started_ms
    }

    /// Leases held as this replica, for `cluster.lease`, renewed every `cluster.heartbeat`; all of them are
    /// released when it leaves.
    pub fn leases(&self) -> Leases {
        self.inner.leases.clone()
    }

    /// The replicas alive now (this one included, while its beats reach the store), in id order.
    pub async fn live(&self) -> Result<Vec<ReplicaRecord>, StoreError> {
        let since = now_ms() - self.inner.config.lease_ms();
        self.inner.store.replicas.live_replicas(since).await
    }

    /// Stops the heartbeat, releases this replica's leases and removes it, so that the others count it gone
    /// and take its work at once rather than after a lease. For after its work stopped.
    pub async fn leave(&self) {
        let _ = self.inner.stop.send(true);
        self.inner.leases.release_all().await;
        if let Err(e) = self
            .inner
            .store
            .replicas
            .remove_replica(&self.inner.me.id)
            .await
        {
            tracing::warn!(error = %e, "cannot leave the cluster; the others count this replica gone after a lease");
        } else {
            tracing::info!(replica = %self.inner.me.id, "left the cluster");
        }
    }
}

/// A replica holding claimed work, as claims name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// `cluster.replica_id`.
    pub id: String,
    /// When it started, Unix milliseconds.
    pub started_ms: i64,
}

impl Holder {
    /// The holder as one string, for claims that name their holder so (the async queue's).
    pub fn key(&self) -> String {
        format!("{}@{}", self.id, self.started_ms)
    }
}

/// Beats every `heartbeat` until stopped or the last [`Membership`] clone is dropped (it holds the
/// membership weakly, so that a dropped one lets its store close); logs the replicas that join and go.
async fn heartbeat(weak: std::sync::Weak<Inner>, mut stopped: watch::Receiver<bool>) {
    let mut known: BTreeSet<String> = BTreeSet::new();
    let Some(every) = weak.upgrade().map(|inner| inner.config.heartbeat) else {
        return;
    };
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stopped.wait_for(|s| *s) => return,
        }
        let Some(inner) = weak.upgrade() else {
            return;
        };
        // A failed beat is tried again at the next tick: the beat is a lease's third at most, so one
        // failure does not end this replica for the others.
        match beat(&inner).await {
            Ok(live) => {
                *inner.others.write().unwrap_or_else(|p| p.into_inner()) = live
                    .iter()
                    .filter(|r| r.id != inner.me.id)
                    .map(|r| ((r.id.clone(), r.started_ms), r.address.clone()))
                    .collect();
                let now: BTreeSet<String> = live.into_iter().map(|r| r.id).collect();
                for joined in now.difference(&known) {
                    if *joined != inner.me.id {
                        tracing::info!(replica = %joined, "a replica joined");
                    }
                }
                for gone in known.difference(&now) {
                    tracing::info!(replica = %gone, "a replica is gone");
                }
                inner.live.store(now.len() as u64, Ordering::Relaxed);
                known = now;
            }
            Err(e) => tracing::warn!(error = %e, "cannot renew this replica's beat"),
        }
    }
}

/// One beat: renews this replica, removes long-gone records, and reads who is alive.
async fn beat(inner: &Inner) -> Result<Vec<ReplicaRecord>, StoreError> {
    let now = now_ms();
    let me = ReplicaRecord {
        beat_ms: now,
        ..inner.me.clone()
    };
    let replicas = &inner.store.replicas;
    replicas.beat(&me).await?;
    let lease = inner.config.lease_ms();
    replicas
        .remove_stale_replicas(now - lease.saturating_mul(GONE_RECORD_LEASES))
        .await?;
    replicas.live_replicas(now - lease).await
}

/// A replica id for a replica configured without one: the host's name (a pod's name under Kubernetes) and
/// a random suffix, unique across restarts.
fn generated_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default();
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let host = if host.is_empty() {
        "replica"
    } else {
        host.as_str()
    };
    format!("{host}-{}", &suffix[..8])
}
