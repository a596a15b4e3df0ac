//! Messages stored for later sends (PushService.CreateMessage) and the templates a message may name: what the
//! API reads and writes of them goes through the send path, which reads them too.

use super::engine::Pusher;
use crate::{proto::v1::StoredMessage, store::StoreError};

impl Pusher {
    /// The app's stored message `id`, if there is one.
    pub async fn stored_message(
        &self,
        app: &str,
        id: &str,
    ) -> Result<Option<StoredMessage>, StoreError> {
        self.inner.store.messages.get_message(app, id).await
    }

    /// Stores `message` under its id.
    pub async fn put_message(&self, app: &str, message: &StoredMessage) -> Result<(), StoreError> {
        self.inner.store.messages.put_message(app, message).await
    }

    /// Whether the app has a push template named `name`.
    pub async fn template_exists(&self, app: &str, name: &str) -> Result<bool, StoreError> {
        Ok(self
            .inner
            .store
            .templates
            .get_template(app, name)
            .await?
            .is_some())
    }
}
