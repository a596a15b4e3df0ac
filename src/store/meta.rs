//! Server-wide values that belong to no app.

use async_trait::async_trait;

use super::StoreError;

#[async_trait]
pub trait MetaRepository: Send + Sync {
    /// A value by key (keys come from [`keys`]).
    async fn get_meta(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Sets a value.
    async fn put_meta(&self, key: &[u8], value: Vec<u8>) -> Result<(), StoreError>;
}
