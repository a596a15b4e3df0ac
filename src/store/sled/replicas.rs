//! sled implementation of [`ReplicaRepository`]. A sled store has one process, so one replica: the records
//! are kept all the same, so that the cluster's code runs the same on both backends.

use async_trait::async_trait;
use prost::Message;

use super::{SledStore, keys};
use crate::store::{ReplicaRecord, ReplicaRepository, StoreError};

impl SledStore {
    /// Every registered replica, in id order.
    fn replicas(&self) -> Result<Vec<ReplicaRecord>, StoreError> {
        self.tree(keys::REPLICAS)?
            .iter()
            .map(|entry| {
                let (key, value) = entry?;
                ReplicaRecord::decode(value.as_ref()).map_err(|e| StoreError::Corrupt {
                    key: String::from_utf8_lossy(&key).into_owned(),
                    reason: e.to_string(),
                })
            })
            .collect()
    }
}

#[async_trait]
impl ReplicaRepository for SledStore {
    async fn beat(&self, replica: &ReplicaRecord) -> Result<(), StoreError> {
        let written: Result<_, StoreError> = async {
            self.tree(keys::REPLICAS)?
                .insert(replica.id.as_bytes(), replica.encode_to_vec())?;
            Ok(())
        }
        .await;
        self.durably(written).await
    }

    async fn live_replicas(&self, since_ms: i64) -> Result<Vec<ReplicaRecord>, StoreError> {
        let mut live = self.replicas()?;
        live.retain(|r| r.beat_ms >= since_ms);
        Ok(live)
    }

    async fn remove_replica(&self, id: &str) -> Result<(), StoreError> {
        let written: Result<_, StoreError> = async {
            self.tree(keys::REPLICAS)?.remove(id.as_bytes())?;
            Ok(())
        }
        .await;
        self.durably(written).await
    }

    async fn remove_stale_replicas(&self, before_ms: i64) -> Result<usize, StoreError> {
        let written: Result<usize, StoreError> = async {
            let tree = self.tree(keys::REPLICAS)?;
            let mut removed = 0;
            for replica in self.replicas()? {
                if replica.beat_ms < before_ms {
                    tree.remove(replica.id.as_bytes())?;
                    removed += 1;
                }
            }
            Ok(removed)
        }
        .await;
        self.durably(written).await
    }
}
