//! sled implementation of [`MessageRepository`].

use async_trait::async_trait;
use prost::Message;

use super::keys;
use super::{SledStore, decode};
use crate::{
    proto::v1::StoredMessage,
    store::{MessageRepository, StoreError},
};

#[async_trait]
impl MessageRepository for SledStore {
    async fn put_message(&self, app: &str, message: &StoredMessage) -> Result<(), StoreError> {
        let written: Result<_, StoreError> = async {
            self.tree(keys::MESSAGES)?
                .insert(keys::message(app, &message.id), message.encode_to_vec())?;
            Ok(())
        }
        .await;
        self.durably(written).await
    }

    async fn get_message(&self, app: &str, id: &str) -> Result<Option<StoredMessage>, StoreError> {
        let key = keys::message(app, id);
        self.tree(keys::MESSAGES)?
            .get(&key)?
            .map(|v| decode(&key, &v))
            .transpose()
    }
}
