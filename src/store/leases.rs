//! Fenced leases: a named piece of background work (a task's shard, a callback rule's delivery, a sweeper)
//! held by one replica at a time across the deployment, for a bounded time unless renewed.
//!
//! Every grant to a holder that did not hold the lease a moment ago takes the next epoch. A holder writes
//! under its (name, epoch), and a backend that checks the epoch in the same atomic step as the write refuses
//! the late writes of a replica that was paused or cut off while its lease ran out and went to another: the
//! fencing token of the lease, where a time check alone could not tell the two apart.

use async_trait::async_trait;

use super::StoreError;

/// A lease as granted.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LeaseRecord {
    /// What the lease is of (the callers' naming: `task/<app>/<id>`, `sweep/inbox`, …).
    #[prost(string, tag = "1")]
    pub name: String,
    /// The replica holding it.
    #[prost(string, tag = "2")]
    pub holder: String,
    /// The grant's fencing token: increases with every grant to a new holder, and after a lapse or release.
    #[prost(uint64, tag = "3")]
    pub epoch: u64,
    /// When it runs out unless renewed, Unix milliseconds; 0 once released.
    #[prost(int64, tag = "4")]
    pub until_ms: i64,
}

/// Where the leases are kept. Each method is one atomic step, durable on return, whatever other replicas do
/// at the same time.
#[async_trait]
pub trait LeaseRepository: Send + Sync {
    /// Grants `name` to `holder` until `until_ms` when nobody holds it at `now_ms` (never granted, released
    /// or run out), with the next epoch; extends it, same epoch, when `holder` holds it already. `None`
    /// when another holder has it.
    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<Option<LeaseRecord>, StoreError>;
    /// Extends the lease to `until_ms` if `holder` holds it at `epoch` and it has not run out at `now_ms`;
    /// whether it did. A holder whose renewal fails has lost the lease and stops its work.
    async fn renew_lease(
        &self,
        name: &str,
        holder: &str,
        epoch: u64,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<bool, StoreError>;
    /// Gives the lease up if `holder` holds it at `epoch`, so another replica may take it at once rather than
    /// after it runs out; whether it did.
    async fn release_lease(&self, name: &str, holder: &str, epoch: u64)
    -> Result<bool, StoreError>;
    /// The lease's last grant, if it was ever granted.
    async fn get_lease(&self, name: &str) -> Result<Option<LeaseRecord>, StoreError>;
    /// Removes every lease. Only for a store that one process uses, when it starts: every lease it finds was
    /// held by a run of it that is gone.
    async fn forget_leases(&self) -> Result<(), StoreError>;
}

/// What a holder's fenced write carries: the lease it writes under, as it was granted. A backend checks it
/// in the same atomic step as the write ([`fence_holds`]) and writes nothing when it no longer holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    /// The lease's name.
    pub name: String,
    /// Its holder.
    pub holder: String,
    /// The grant's epoch.
    pub epoch: u64,
}

/// Whether `fence` still holds over `current` (the stored lease): the same holder at the same epoch, not
/// released. A lease past its time that nobody took since still holds: nobody else can have written under
/// it, and the next grant, to anyone, takes a new epoch.
pub(crate) fn fence_holds(current: Option<&LeaseRecord>, fence: &Fence) -> bool {
    current.is_some_and(|c| c.holder == fence.holder && c.epoch == fence.epoch && c.until_ms > 0)
}

/// The grant `acquire` makes of `current` (the stored lease, if any), or `None` when another holds it: the
/// rule both backends apply inside their atomic step.
pub(crate) fn granted(
    current: Option<&LeaseRecord>,
    name: &str,
    holder: &str,
    now_ms: i64,
    until_ms: i64,
) -> Option<LeaseRecord> {
    let epoch = match current {
        None => 1,
        Some(c) if c.until_ms > now_ms && c.holder == holder => c.epoch,
        Some(c) if c.until_ms > now_ms => return None,
        Some(c) => c.epoch + 1,
    };
    Some(LeaseRecord {
        name: name.to_owned(),
        holder: holder.to_owned(),
        epoch,
        until_ms,
    })
}
