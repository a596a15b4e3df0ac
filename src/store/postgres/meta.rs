//! PostgreSQL implementation of [`MetaRepository`].

use async_trait::async_trait;

use super::PgStore;
use crate::store::{MetaRepository, StoreError};

#[async_trait]
impl MetaRepository for PgStore {
    async fn get_meta(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT value FROM meta WHERE key = $1")
            .await?;
        Ok(client
            .query_opt(&stmt, &[&key])
            .await?
            .map(|row| row.get(0)))
    }

    async fn put_meta(&self, key: &[u8], value: Vec<u8>) -> Result<(), StoreError> {
        let client = self.client().await?;
        // An upsert: setting a value is one statement whether or not it was set before.
        let stmt = client
            .prepare_cached(
                "INSERT INTO meta (key, value) VALUES ($1, $2)
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            )
            .await?;
        client.execute(&stmt, &[&key, &value]).await?;
        Ok(())
    }
}
