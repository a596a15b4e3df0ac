//! sled implementation of [`IdempotencyRepository`].

use async_trait::async_trait;
use prost::Message;

use super::keys;
use super::{SledStore, decode};
use crate::store::{IdempotencyRepository, IdempotentAnswer, StoreError};

#[async_trait]
impl IdempotencyRepository for SledStore {
    async fn get_answer(
        &self,
        app: &str,
        rpc: &str,
        request_id: &str,
        now_ms: i64,
    ) -> Result<Option<IdempotentAnswer>, StoreError> {
        let key = keys::idempotent_answer(app, rpc, request_id);
        let answer: Option<IdempotentAnswer> = self
            .tree(keys::IDEMPOTENT_ANSWERS)?
            .get(&key)?
            .map(|v| decode(&key, &v))
            .transpose()?;
        Ok(answer.filter(|a| a.expire_ms > now_ms))
    }

    async fn put_answer(
        &self,
        app: &str,
        rpc: &str,
        request_id: &str,
        answer: &IdempotentAnswer,
    ) -> Result<(), StoreError> {
        self.tree(keys::IDEMPOTENT_ANSWERS)?.insert(
            keys::idempotent_answer(app, rpc, request_id),
            answer.encode_to_vec(),
        )?;
        Ok(())
    }

    async fn sweep_answers(&self, now_ms: i64, limit: usize) -> Result<usize, StoreError> {
        let tree = self.tree(keys::IDEMPOTENT_ANSWERS)?;
        let mut removed = 0;
        for entry in tree.iter() {
            let (key, value) = entry?;
            let answer: IdempotentAnswer = decode(&key, &value)?;
            if answer.expire_ms <= now_ms {
                tree.remove(&key)?;
                removed += 1;
                if removed >= limit {
                    break;
                }
            }
        }
        Ok(removed)
    }
}
