//! The replicas of one deployment: each registers itself in the store it shares with the others and renews
//! its beat while it runs; a replica whose last beat is older than the cluster's stale bound counts as gone.
//! Membership is what the leases and the own channel's relay between replicas are built on (issue 18).

use async_trait::async_trait;

use super::StoreError;

/// One replica as the others see it.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ReplicaRecord {
    /// Its id, unique in the deployment (`cluster.replica_id`).
    #[prost(string, tag = "1")]
    pub id: String,
    /// Where the other replicas reach it (`cluster.internal_address`); empty when it has none.
    #[prost(string, tag = "2")]
    pub address: String,
    /// When it started, Unix milliseconds.
    #[prost(int64, tag = "3")]
    pub started_ms: i64,
    /// Its last beat, Unix milliseconds, by its own clock.
    #[prost(int64, tag = "4")]
    pub beat_ms: i64,
}

/// Where the replicas register. Every method is durable on return, like every store write.
#[async_trait]
pub trait ReplicaRepository: Send + Sync {
    /// Registers `replica`, or renews it: the record of its id is replaced whole.
    async fn beat(&self, replica: &ReplicaRecord) -> Result<(), StoreError>;
    /// The replicas whose last beat is at or after `since_ms`, in id order.
    async fn live_replicas(&self, since_ms: i64) -> Result<Vec<ReplicaRecord>, StoreError>;
    /// Removes the replica `id` (it leaves); nothing when it is not registered.
    async fn remove_replica(&self, id: &str) -> Result<(), StoreError>;
    /// Removes every replica whose last beat is before `before_ms`, and says how many went: the record of a
    /// replica that died without leaving.
    async fn remove_stale_replicas(&self, before_ms: i64) -> Result<usize, StoreError>;
}
