//! PostgreSQL implementation of [`ReplicaRepository`]: one row per replica, its beat beside the record.

use async_trait::async_trait;
use prost::Message;

use super::{PgStore, sql};
use crate::store::{ReplicaRecord, ReplicaRepository, StoreError};

#[async_trait]
impl ReplicaRepository for PgStore {
    async fn beat(&self, replica: &ReplicaRecord) -> Result<(), StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "INSERT INTO replicas (id, beat_ms, record) VALUES ($1, $2, $3)
                 ON CONFLICT (id) DO UPDATE SET beat_ms = EXCLUDED.beat_ms, record = EXCLUDED.record",
            )
            .await?;
        client
            .execute(
                &stmt,
                &[&replica.id, &replica.beat_ms, &replica.encode_to_vec()],
            )
            .await?;
        Ok(())
    }

    async fn live_replicas(&self, since_ms: i64) -> Result<Vec<ReplicaRecord>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT id, record FROM replicas WHERE beat_ms >= $1 ORDER BY id")
            .await?;
        client
            .query(&stmt, &[&since_ms])
            .await?
            .iter()
            .map(|row| sql::decode_named("replicas", &[row.get::<_, &str>(0)], row.get(1)))
            .collect()
    }

    async fn remove_replica(&self, id: &str) -> Result<(), StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("DELETE FROM replicas WHERE id = $1")
            .await?;
        client.execute(&stmt, &[&id]).await?;
        Ok(())
    }

    async fn remove_stale_replicas(&self, before_ms: i64) -> Result<usize, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("DELETE FROM replicas WHERE beat_ms < $1")
            .await?;
        let removed = client.execute(&stmt, &[&before_ms]).await?;
        Ok(usize::try_from(removed).unwrap_or(usize::MAX))
    }
}
