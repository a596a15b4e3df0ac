//! sled implementation of [`MetaRepository`].

use async_trait::async_trait;

use super::SledStore;
use super::keys;
use crate::store::{MetaRepository, StoreError};

#[async_trait]
impl MetaRepository for SledStore {
    async fn get_meta(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.tree(keys::META)?.get(key)?.map(|v| v.to_vec()))
    }

    async fn put_meta(&self, key: &[u8], value: Vec<u8>) -> Result<(), StoreError> {
        let written: Result<_, StoreError> = async {
            self.tree(keys::META)?.insert(key, value)?;
            Ok(())
        }
        .await;
        self.durably(written).await
    }
}
