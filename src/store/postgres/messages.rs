//! PostgreSQL implementation of [`MessageRepository`].

use async_trait::async_trait;
use prost::Message;

use super::{PgStore, support};
use crate::{
    proto::v1::StoredMessage,
    store::{MessageRepository, StoreError},
};

#[async_trait]
impl MessageRepository for PgStore {
    async fn put_message(&self, app: &str, message: &StoredMessage) -> Result<(), StoreError> {
        let client = self.client().await?;
        // An upsert: a message put again under its id replaces the stored one, in one statement.
        let stmt = client
            .prepare_cached(
                "INSERT INTO messages (app, id, record) VALUES ($1, $2, $3)
                 ON CONFLICT (app, id) DO UPDATE SET record = EXCLUDED.record",
            )
            .await?;
        client
            .execute(&stmt, &[&app, &message.id, &message.encode_to_vec()])
            .await?;
        Ok(())
    }

    async fn get_message(&self, app: &str, id: &str) -> Result<Option<StoredMessage>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT record FROM messages WHERE app = $1 AND id = $2")
            .await?;
        client
            .query_opt(&stmt, &[&app, &id])
            .await?
            .map(|row| support::decode("messages", &[app, id], row.get(0)))
            .transpose()
    }
}
