//! Stored push messages (PushService.CreateMessage), named by sends and tasks.

use async_trait::async_trait;

use super::StoreError;
use crate::proto::v1::StoredMessage;

/// Stored messages of every app, keyed by app and message id.
#[async_trait]
pub trait MessageRepository: Send + Sync {
    /// Stores `message` under its id.
    async fn put_message(&self, app: &str, message: &StoredMessage) -> Result<(), StoreError>;
    /// The message with `id`, if stored.
    async fn get_message(&self, app: &str, id: &str) -> Result<Option<StoredMessage>, StoreError>;
}
