//! sled implementation of [`PushQueueRepository`].

use std::ops::Bound;

use async_trait::async_trait;
use prost::Message;

use super::keys;
use super::{SledStore, decode};
use crate::store::{PushQueueRepository, QueueKey, QueuedPush, StoreError};

#[async_trait]
impl PushQueueRepository for SledStore {
    async fn enqueue(&self, pushes: &[QueuedPush]) -> Result<Vec<QueueKey>, StoreError> {
        let tree = self.tree(keys::PUSH_QUEUE)?;
        let mut batch = sled::Batch::default();
        let mut keys_out = Vec::with_capacity(pushes.len());
        for push in pushes {
            // sled's ids grow monotonically across restarts, so keys keep acceptance order.
            let key = keys::queued_push(&push.app, self.db.generate_id()?);
            batch.insert(key.clone(), push.encode_to_vec());
            keys_out.push(key);
        }
        tree.apply_batch(batch)?;
        Ok(keys_out)
    }

    async fn queued(
        &self,
        after: Option<&QueueKey>,
        limit: usize,
    ) -> Result<Vec<(QueueKey, QueuedPush)>, StoreError> {
        let tree = self.tree(keys::PUSH_QUEUE)?;
        let start = match after {
            Some(k) => Bound::Excluded(k.clone()),
            None => Bound::Unbounded,
        };
        let mut out = Vec::new();
        for entry in tree
            .range::<QueueKey, _>((start, Bound::Unbounded))
            .take(limit)
        {
            let (key, value) = entry?;
            out.push((key.to_vec(), decode(&key, &value)?));
        }
        Ok(out)
    }

    async fn queued_push(&self, key: &QueueKey) -> Result<Option<QueuedPush>, StoreError> {
        self.tree(keys::PUSH_QUEUE)?
            .get(key)?
            .map(|v| decode(key, &v))
            .transpose()
    }

    async fn dequeue(&self, key: &QueueKey) -> Result<(), StoreError> {
        self.tree(keys::PUSH_QUEUE)?.remove(key)?;
        Ok(())
    }

    async fn queue_len(&self) -> Result<usize, StoreError> {
        Ok(self.tree(keys::PUSH_QUEUE)?.len())
    }
}
