//! The message a send or a task pushes: given with the call, or stored before (PushService.CreateMessage),
//! and the template it may name. One resolver serves SendSync and the other sends (`api/push.rs`), task
//! creation (`api/tasks.rs`) and the task runner, so they agree on what "the message" is.

use super::engine::Pusher;
use crate::{
    proto::v1::{PushMessage, StoredMessage},
    store::StoreError,
};

/// Where the message of a send or a task comes from.
#[derive(Debug, Clone)]
pub enum MessageSource {
    /// Given with the call.
    Inline(Box<PushMessage>),
    /// Stored before, by id.
    Stored(String),
}

impl MessageSource {
    /// What a request names: its message when it has one, else its stored message id; `None` when it names
    /// neither (an empty id names nothing).
    pub fn of_request(given: Option<PushMessage>, stored_id: Option<String>) -> Option<Self> {
        match (given, stored_id) {
            (Some(m), _) => Some(Self::Inline(Box::new(m))),
            (None, Some(id)) if !id.is_empty() => Some(Self::Stored(id)),
            _ => None,
        }
    }
}

/// Why the message of a call could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    /// The stored message id names no message of the app.
    #[error("message {0} not found")]
    UnknownMessage(String),
    /// The message names a template the app does not have.
    #[error("template {0} not found")]
    UnknownTemplate(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Pusher {
    /// The message `source` names: the inline one, or the stored one read from the store.
    pub async fn load_message(
        &self,
        app: &str,
        source: MessageSource,
    ) -> Result<PushMessage, MessageError> {
        match source {
            MessageSource::Inline(m) => Ok(*m),
            MessageSource::Stored(id) => match self.stored_message(app, &id).await? {
                Some(stored) => Ok(stored.message.unwrap_or_default()),
                None => Err(MessageError::UnknownMessage(id)),
            },
        }
    }

    /// [`load_message`](Self::load_message), checking that the template it names exists: what a call checks
    /// before it sends or accepts anything. (A template deleted later fails the pushes it would render, one
    /// by one, as `missing template`.)
    pub async fn resolve_message(
        &self,
        app: &str,
        source: MessageSource,
    ) -> Result<PushMessage, MessageError> {
        let message = self.load_message(app, source).await?;
        if let Some(t) = message.template.as_ref().filter(|t| !t.name.is_empty())
            && !self.template_exists(app, &t.name).await?
        {
            return Err(MessageError::UnknownTemplate(t.name.clone()));
        }
        Ok(message)
    }

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
    async fn template_exists(&self, app: &str, name: &str) -> Result<bool, StoreError> {
        Ok(self
            .inner
            .store
            .templates
            .get_template(app, name)
            .await?
            .is_some())
    }
}
