//! Server-wide values that belong to no app.

use async_trait::async_trait;

use super::StoreError;

/// Key of the admin token's hash.
pub const ADMIN_TOKEN_HASH: &[u8] = b"admin_token_sha256";

#[async_trait]
pub trait MetaRepository: Send + Sync {
    /// A value by key (the keys are the constants of this module).
    async fn get_meta(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Sets a value.
    async fn put_meta(&self, key: &[u8], value: Vec<u8>) -> Result<(), StoreError>;
}
