//! Holding a lease while work runs: [`Leases::try_hold`] acquires a named lease for this replica and keeps
//! renewing it every heartbeat until the work releases it (or drops the [`Held`]). A renewal that fails (the
//! lease ran out and went to another replica, or the store refused it) marks the lease lost, and the work
//! stops: what it writes after that is refused by the epoch anyway, but it should not try.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{sync::watch, task::JoinHandle};

use crate::{
    clock::now_ms,
    store::{Fence, LeaseRecord, Store, StoreError},
};

/// This replica's access to the leases.
#[derive(Clone)]
pub struct Leases {
    store: Store,
    holder: Arc<str>,
    lease: Duration,
    renew_every: Duration,
    /// Every lease held through these (and their clones) now, by name: the epoch of its grant.
    held: Arc<Mutex<HashMap<String, u64>>>,
    /// The names a live [`Held`] of this process has: the store grants a lease again to the holder it is
    /// already held by (a renewal), so without this two tasks of one replica could both hold one lease.
    in_use: Arc<Mutex<HashSet<String>>>,
}

impl Leases {
    /// Leases held as `holder` (this replica's id) for `lease`, renewed every `renew_every` (the heartbeat:
    /// a third of the lease at most, so one late renewal does not lose it).
    pub fn new(store: Store, holder: &str, lease: Duration, renew_every: Duration) -> Self {
        Self {
            store,
            holder: holder.into(),
            lease,
            renew_every,
            held: Arc::default(),
            in_use: Arc::default(),
        }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Gives up every lease held through these, so that the other replicas take them at once: for a replica
    /// that stops, once its work has stopped (what it wrote before is kept; what it would write after is
    /// refused by the epoch).
    pub async fn release_all(&self) {
        let held: Vec<(String, u64)> = self.held().drain().collect();
        for (name, epoch) in held {
            if let Err(e) = self
                .store
                .leases
                .release_lease(&name, &self.holder, epoch)
                .await
            {
                tracing::warn!(lease = %name, error = %e, "cannot release a lease; it runs out by itself");
            }
        }
    }

    /// How often to try again for a lease another replica holds: every renewal interval (the heartbeat).
    pub fn retry_every(&self) -> Duration {
        self.renew_every
    }

    fn until(&self, now: i64) -> i64 {
        now.saturating_add(i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX / 4))
    }

    fn in_use(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.in_use.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Acquires `name` for this replica and starts renewing it; `None` when another replica holds it, or
    /// another task of this one does.
    pub async fn try_hold(&self, name: &str) -> Result<Option<Held>, StoreError> {
        if !self.in_use().insert(name.to_owned()) {
            return Ok(None);
        }
        let now = now_ms();
        let acquired = self
            .store
            .leases
            .acquire_lease(name, &self.holder, now, self.until(now))
            .await;
        let Ok(Some(lease)) = acquired else {
            self.in_use().remove(name);
            return acquired.map(|_| None);
        };
        let (lost_tx, lost) = watch::channel(false);
        self.held().insert(lease.name.clone(), lease.epoch);
        let renewer = tokio::spawn(renew(self.clone(), lease.clone(), lost_tx));
        Ok(Some(Held {
            lease,
            lost,
            renewer,
            leases: self.clone(),
        }))
    }
}

/// Renews `lease` every `renew_every` until a renewal fails; then says the lease is lost.
async fn renew(leases: Leases, lease: LeaseRecord, lost: watch::Sender<bool>) {
    let mut ticks = tokio::time::interval(leases.renew_every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let now = now_ms();
        let renewed = leases
            .store
            .leases
            .renew_lease(
                &lease.name,
                &leases.holder,
                lease.epoch,
                now,
                leases.until(now),
            )
            .await;
        match renewed {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(lease = %lease.name, epoch = lease.epoch, "lease lost: it ran out or another replica holds it");
                let _ = lost.send(true);
                return;
            }
            // The store away: tried again at the next tick, while the lease may still run; past its end the
            // renewal answers false and the work stops.
            Err(e) => tracing::warn!(lease = %lease.name, error = %e, "cannot renew a lease"),
        }
    }
}

/// Work that one replica of the deployment does at a time, each time it is due (a sweeper): the replica
/// holding the lease `name` keeps it (renewed every heartbeat) while it lives, and the others, asking at
/// each turn, take it once the holder is gone.
pub struct OneReplica {
    name: String,
    held: Option<Held>,
}

impl OneReplica {
    /// The work named `name` (the lease's name).
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            held: None,
        }
    }

    /// Whether this replica does the work now: it holds the lease, or took it just now through `leases`.
    /// (The leases are lent for the turn, so that work that ends when its owner drops holds no store.)
    pub async fn mine(&mut self, leases: &Leases) -> bool {
        if self.held.as_ref().is_some_and(|h| !h.is_lost()) {
            return true;
        }
        self.held = match leases.try_hold(&self.name).await {
            Ok(held) => held,
            Err(e) => {
                tracing::warn!(lease = %self.name, error = %e, "cannot ask for a lease; skipping this turn");
                None
            }
        };
        self.held.is_some()
    }
}

/// A lease this replica holds, renewed while it lives.
pub struct Held {
    lease: LeaseRecord,
    lost: watch::Receiver<bool>,
    renewer: JoinHandle<()>,
    leases: Leases,
}

impl Held {
    /// The grant's epoch, which the holder's fenced writes carry.
    pub fn epoch(&self) -> u64 {
        self.lease.epoch
    }

    /// What the holder's fenced writes carry.
    pub fn fence(&self) -> Fence {
        Fence {
            name: self.lease.name.clone(),
            holder: self.lease.holder.clone(),
            epoch: self.lease.epoch,
        }
    }

    /// Whether a renewal failed: the work must stop.
    pub fn is_lost(&self) -> bool {
        *self.lost.borrow()
    }

    /// Returns once the lease is lost (never, while renewals succeed).
    pub async fn lost(&mut self) {
        let _ = self.lost.wait_for(|lost| *lost).await;
    }

    /// Stops renewing and gives the lease up, so that another replica may take it at once.
    pub async fn release(self) {
        self.renewer.abort();
        self.leases.forget(&self.lease);
        let released = self
            .leases
            .store
            .leases
            .release_lease(&self.lease.name, &self.leases.holder, self.lease.epoch)
            .await;
        if let Err(e) = released {
            tracing::warn!(lease = %self.lease.name, error = %e, "cannot release a lease; it runs out by itself");
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        // Not released: it runs out by itself after its lease (or at `release_all`, if that comes first).
        self.renewer.abort();
        // Released or not, another task of this replica may now ask for it.
        self.leases.in_use().remove(&self.lease.name);
    }
}

impl Leases {
    /// No longer counts `lease` as held (released by its holder).
    fn forget(&self, lease: &LeaseRecord) {
        let mut held = self.held();
        if held.get(&lease.name) == Some(&lease.epoch) {
            held.remove(&lease.name);
        }
    }
}

#[cfg(test)]
mod tests {
    // On sled: what is tested here is the renewing and the loss, the same over any backend; the lease rules
    // themselves run on both backends in `store/conformance/leases.rs`.
    use super::*;

    fn leases(store: &Store, holder: &str) -> Leases {
        Leases::new(
            store.clone(),
            holder,
            Duration::from_millis(300),
            Duration::from_millis(50),
        )
    }

    #[tokio::test]
    async fn a_held_lease_is_renewed_past_its_length_and_released_for_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::sled_for_tests(dir.path());
        let (r1, r2) = (leases(&store, "r1"), leases(&store, "r2"));
        let held = r1.try_hold("sweep/inbox").await.unwrap().unwrap();
        assert_eq!(held.epoch(), 1);
        // Three lease lengths later it is still r1's: renewed.
        tokio::time::sleep(Duration::from_millis(900)).await;
        assert!(!held.is_lost());
        assert!(r2.try_hold("sweep/inbox").await.unwrap().is_none());
        held.release().await;
        let next = r2.try_hold("sweep/inbox").await.unwrap().unwrap();
        assert_eq!(next.epoch(), 2);
    }

    /// The store grants a lease again to its own holder (that is how it is renewed), so two tasks of one
    /// replica asking at once must be told apart here: the second waits until the first lets go.
    #[tokio::test]
    async fn two_tasks_of_one_replica_do_not_hold_a_lease_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::sled_for_tests(dir.path());
        let r1 = leases(&store, "r1");
        let first = r1.try_hold("task-slots/o#a").await.unwrap().unwrap();
        let clone = r1.clone();
        assert!(clone.try_hold("task-slots/o#a").await.unwrap().is_none());
        assert!(
            r1.try_hold("task-slots/o#b").await.unwrap().is_some(),
            "other names are free"
        );
        first.release().await;
        let second = clone.try_hold("task-slots/o#a").await.unwrap().unwrap();
        // Dropped without a release, it is free for this replica's next task at once (and in the store,
        // still this replica's until it runs out).
        drop(second);
        assert!(r1.try_hold("task-slots/o#a").await.unwrap().is_some());
    }

    #[tokio::test]
    async fn a_lease_taken_by_another_after_it_ran_out_is_lost_for_its_holder() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::sled_for_tests(dir.path());
        let mut held = leases(&store, "r1")
            .try_hold("task/o#a/t")
            .await
            .unwrap()
            .unwrap();
        // As if r1 had paused: another replica finds the lease run out and takes it.
        let later = now_ms() + 1_000;
        let taken = store
            .leases
            .acquire_lease("task/o#a/t", "r2", later, later + 1_000)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(taken.epoch, 2);
        tokio::time::timeout(Duration::from_secs(5), held.lost())
            .await
            .expect("r1 learns it lost the lease at its next renewal");
        assert!(held.is_lost());
    }

    #[tokio::test]
    async fn one_replica_does_the_work_until_it_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::sled_for_tests(dir.path());
        let (r1, r2) = (leases(&store, "r1"), leases(&store, "r2"));
        let (mut first, mut second) = (OneReplica::new("sweep/x"), OneReplica::new("sweep/x"));
        assert!(first.mine(&r1).await);
        assert!(!second.mine(&r2).await, "r1 sweeps");
        // Turns later r1 still holds it (renewed), and r2 still does not.
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert!(first.mine(&r1).await && !second.mine(&r2).await);
        // r1 is gone (its renewals stop without a release): r2 takes over once the lease runs out.
        drop(first);
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(second.mine(&r2).await);
    }
}
