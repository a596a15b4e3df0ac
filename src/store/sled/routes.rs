//! sled implementation of [`RouteRepository`]. The server never writes routes on sled (its one process's
//! hub knows every stream); they are kept so that the conformance suite holds both backends to one contract.
//! Each step is one sled operation on the route's key (an insert that returns the old value, a
//! compare-and-swap), so it is atomic without a lock.

use async_trait::async_trait;
use prost::Message;

use super::{SledStore, keys};
use crate::store::{ChannelRoute, RouteRepository, StoreError};

fn decode(key: &[u8], bytes: &[u8]) -> Result<ChannelRoute, StoreError> {
    ChannelRoute::decode(bytes).map_err(|e| StoreError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        reason: e.to_string(),
    })
}

#[async_trait]
impl RouteRepository for SledStore {
    async fn set_route(
        &self,
        app: &str,
        device: &str,
        route: &ChannelRoute,
    ) -> Result<Option<ChannelRoute>, StoreError> {
        let written: Result<_, StoreError> = async {
            let key = keys::channel_route(app, device);
            let old = self
                .tree(keys::CHANNEL_ROUTES)?
                .insert(key.as_slice(), route.encode_to_vec())?;
            old.map(|bytes| decode(&key, &bytes)).transpose()
        }
        .await;
        self.durably(written).await
    }

    async fn end_route(
        &self,
        app: &str,
        device: &str,
        holder_key: &str,
        stream: u64,
    ) -> Result<bool, StoreError> {
        let written: Result<_, StoreError> = async {
            let tree = self.tree(keys::CHANNEL_ROUTES)?;
            let key = keys::channel_route(app, device);
            loop {
                let Some(bytes) = tree.get(&key)? else {
                    return Ok(false);
                };
                if !decode(&key, &bytes)?.is(holder_key, stream) {
                    return Ok(false);
                }
                // Lost to a concurrent set: look again (the new route is not this stream's).
                if tree
                    .compare_and_swap(&key, Some(bytes), None::<&[u8]>)?
                    .is_ok()
                {
                    return Ok(true);
                }
            }
        }
        .await;
        self.durably(written).await
    }

    async fn routes(
        &self,
        app: &str,
        devices: &[String],
    ) -> Result<Vec<(String, ChannelRoute)>, StoreError> {
        let tree = self.tree(keys::CHANNEL_ROUTES)?;
        let mut found = Vec::new();
        for device in devices {
            let key = keys::channel_route(app, device);
            if let Some(bytes) = tree.get(&key)? {
                found.push((device.clone(), decode(&key, &bytes)?));
            }
        }
        Ok(found)
    }

    async fn remove_gone_routes(
        &self,
        live: &[String],
        opened_before_ms: i64,
    ) -> Result<u64, StoreError> {
        let written: Result<_, StoreError> = async {
            let tree = self.tree(keys::CHANNEL_ROUTES)?;
            let mut removed = 0;
            for entry in tree.iter() {
                let (key, bytes) = entry?;
                let route = decode(&key, &bytes)?;
                if route.opened_ms < opened_before_ms
                    && !live.contains(&route.holder_key())
                    && tree
                        .compare_and_swap(&key, Some(bytes), None::<&[u8]>)?
                        .is_ok()
                {
                    removed += 1;
                }
            }
            Ok(removed)
        }
        .await;
        self.durably(written).await
    }
}
