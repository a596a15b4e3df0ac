//! sled implementation of [`EventRepository`].

use std::ops::Bound;

use async_trait::async_trait;
use prost::Message;

use super::{SledStore, decode};
use crate::{
    proto::v1::DeliveryEvent,
    store::{EventRepository, StoreError, keys},
};

#[async_trait]
impl EventRepository for SledStore {
    async fn append_events(
        &self,
        app: &str,
        mut events: Vec<DeliveryEvent>,
    ) -> Result<Vec<DeliveryEvent>, StoreError> {
        let mut batch = sled::Batch::default();
        for event in &mut events {
            // sled's ids only grow, across restarts too: positions keep the order events were recorded in.
            event.position = self.db.generate_id()? + 1;
            batch.insert(keys::event(app, event.position), event.encode_to_vec());
        }
        self.tree(keys::EVENTS)?.apply_batch(batch)?;
        Ok(events)
    }

    async fn events_after(
        &self,
        app: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<DeliveryEvent>, StoreError> {
        let prefix = keys::app_prefix(app);
        let range = (
            Bound::Excluded(keys::event(app, after)),
            Bound::Unbounded::<Vec<u8>>,
        );
        let mut out = Vec::new();
        for entry in self.tree(keys::EVENTS)?.range(range) {
            let (key, value) = entry?;
            if !key.starts_with(&prefix) || out.len() >= limit {
                break;
            }
            out.push(decode(&key, &value)?);
        }
        Ok(out)
    }

    async fn first_event_position(&self, app: &str) -> Result<Option<u64>, StoreError> {
        match self
            .tree(keys::EVENTS)?
            .scan_prefix(keys::app_prefix(app))
            .next()
        {
            Some(entry) => {
                let (key, value) = entry?;
                Ok(Some(decode::<DeliveryEvent>(&key, &value)?.position))
            }
            None => Ok(None),
        }
    }

    async fn last_event_position(&self, app: &str) -> Result<Option<u64>, StoreError> {
        match self
            .tree(keys::EVENTS)?
            .scan_prefix(keys::app_prefix(app))
            .next_back()
        {
            Some(entry) => {
                let (key, value) = entry?;
                Ok(Some(decode::<DeliveryEvent>(&key, &value)?.position))
            }
            None => Ok(None),
        }
    }

    async fn swept_through(&self, app: &str) -> Result<u64, StoreError> {
        Ok(self
            .tree(keys::EVENT_HORIZONS)?
            .get(keys::app_prefix(app))?
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map_or(0, u64::from_be_bytes))
    }

    async fn sweep_events(&self, before_ms: i64, limit: usize) -> Result<usize, StoreError> {
        let tree = self.tree(keys::EVENTS)?;
        let horizons = self.tree(keys::EVENT_HORIZONS)?;
        let mut removed = 0;
        for entry in tree.iter() {
            let (key, value) = entry?;
            let event: DeliveryEvent = decode(&key, &value)?;
            let at = event
                .timestamp
                .map_or(0, |t| t.seconds * 1000 + i64::from(t.nanos) / 1_000_000);
            if at < before_ms {
                // The horizon first: a resume below it must be refused, never silently short.
                let app = keys::app_of_key(&key).unwrap_or_default();
                let position = event.position;
                horizons.fetch_and_update(keys::app_prefix(app), |old| {
                    let old = old
                        .and_then(|v| <[u8; 8]>::try_from(v).ok())
                        .map_or(0, u64::from_be_bytes);
                    Some(old.max(position).to_be_bytes().to_vec())
                })?;
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
