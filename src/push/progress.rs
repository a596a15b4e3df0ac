//! A push's outcomes as they become known: shared with a caller that may stop waiting (SendSync's deadline)
//! or that shows them while they come in (a task's watchers).

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicU64, Ordering},
};

use super::DeviceOutcome;
use crate::proto::v1::DeliveryStatus;

/// Outcomes as they become known, shared with a caller that may stop waiting (SendSync's deadline) or that
/// shows them while they come in (a task's watchers).
#[derive(Debug, Clone, Default)]
pub struct Progress {
    slots: Arc<Mutex<Vec<Option<DeviceOutcome>>>>,
    /// Final outcomes so far by status (success, fail, error): an outcome counts once it can no longer be
    /// replaced (a failed vendor attempt of a device with a channel fallback is not final), so these only
    /// grow and end equal to the counts of the outcomes returned.
    settled: Arc<[AtomicU64; 3]>,
    /// For a page of many users: which user each slot belongs to and which slots are final, so that a task's
    /// watchers see users done within the page, not only a page at a time.
    page: Arc<Mutex<PageUsers>>,
}

/// The users of a page and how far each is.
#[derive(Debug, Default)]
struct PageUsers {
    /// How many users the page has.
    users: usize,
    /// The user (index in the page) of each slot, in slot order.
    owner: Vec<usize>,
    /// Whether each slot's outcome is final.
    done: Vec<bool>,
}

impl Progress {
    /// Room for `n` outcomes.
    pub fn new(n: usize) -> Self {
        let progress = Self::default();
        progress.resize(n);
        progress
    }

    /// Room for `n` outcomes, for a caller that made the progress before it knew how many.
    pub(super) fn resize(&self, n: usize) {
        if let Ok(mut slots) = self.slots.lock() {
            slots.resize(n, None);
        }
    }

    pub(super) fn set(&self, index: usize, outcome: DeviceOutcome) {
        if let Ok(mut slots) = self.slots.lock()
            && let Some(slot) = slots.get_mut(index)
        {
            *slot = Some(outcome);
        }
    }

    /// Tells which of `users` users each slot belongs to (`owner`, in slot order), for
    /// [`users_final`](Self::users_final).
    pub(super) fn set_users(&self, users: usize, owner: Vec<usize>) {
        if let Ok(mut page) = self.page.lock() {
            page.done = vec![false; owner.len()];
            page.users = users;
            page.owner = owner;
        }
    }

    /// Counts `outcome`, slot `index`'s, as final.
    pub(super) fn settle(&self, index: usize, outcome: &DeviceOutcome) {
        self.settle_status(index, outcome.status);
    }

    /// Counts an outcome of `status`, slot `index`'s, as final.
    pub(super) fn settle_status(&self, index: usize, status: DeliveryStatus) {
        let at = match status {
            DeliveryStatus::Success => 0,
            DeliveryStatus::Fail => 1,
            DeliveryStatus::Error => 2,
            _ => return,
        };
        self.settled[at].fetch_add(1, Ordering::Relaxed);
        self.finish(index);
    }

    /// Marks slot `index` final without counting it: a vendor attempt merged into its device's fallback.
    pub(super) fn finish(&self, index: usize) {
        if let Ok(mut page) = self.page.lock()
            && let Some(done) = page.done.get_mut(index)
        {
            *done = true;
        }
    }

    /// How many users the page has (0 before it is planned, and for a single user's push).
    pub fn users(&self) -> u64 {
        self.page.lock().map_or(0, |p| p.users as u64)
    }

    /// How many users of the page have every slot final (a user without slots counts as done).
    pub fn users_final(&self) -> u64 {
        let Ok(page) = self.page.lock() else {
            return 0;
        };
        let mut pending = vec![false; page.users];
        for (&user, &done) in page.owner.iter().zip(&page.done) {
            if !done && let Some(p) = pending.get_mut(user) {
                *p = true;
            }
        }
        pending.iter().filter(|p| !**p).count() as u64
    }

    /// The outcomes known so far, by target index.
    pub fn snapshot(&self) -> Vec<Option<DeviceOutcome>> {
        self.slots.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Final outcomes so far: (success, fail, error).
    pub fn settled(&self) -> (u64, u64, u64) {
        let [s, f, e] = &*self.settled;
        (
            s.load(Ordering::Relaxed),
            f.load(Ordering::Relaxed),
            e.load(Ordering::Relaxed),
        )
    }
}
