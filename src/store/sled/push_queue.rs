//! sled implementation of [`PushQueueRepository`]: entries in one tree, their claims in another under the
//! same keys, each claim taken with a compare-and-swap so that two claimers cannot both win an entry.

use std::ops::Bound;

use async_trait::async_trait;
use prost::Message;

use super::keys;
use super::{SledStore, decode, tx_decode};
use crate::store::{PushQueueRepository, QueueClaim, QueueKey, QueuedPush, StoreError};

/// A claim as stored.
#[derive(Clone, PartialEq, Eq, prost::Message)]
struct Claim {
    #[prost(string, tag = "1")]
    holder: String,
    #[prost(int64, tag = "2")]
    until_ms: i64,
}

impl From<&QueueClaim> for Claim {
    fn from(c: &QueueClaim) -> Self {
        Self {
            holder: c.holder.clone(),
            until_ms: c.until_ms,
        }
    }
}

impl SledStore {
    /// Takes the entry at `key` for `claim` unless a claim that lasts past `now_ms` holds it.
    fn try_claim(
        &self,
        claims: &sled::Tree,
        key: &[u8],
        claim: &[u8],
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        loop {
            let current = claims.get(key)?;
            if let Some(bytes) = &current {
                let held: Claim = decode(key, bytes)?;
                if held.until_ms > now_ms {
                    return Ok(false);
                }
            }
            // Lost a race to another claimer (or its release): look again.
            if claims.compare_and_swap(key, current, Some(claim))?.is_ok() {
                return Ok(true);
            }
        }
    }

    /// Removes `holder`'s claim on `key`; returns whether `holder` held it.
    fn drop_claim(
        &self,
        claims: &sled::Tree,
        key: &[u8],
        holder: &str,
    ) -> Result<bool, StoreError> {
        let Some(bytes) = claims.get(key)? else {
            return Ok(false);
        };
        let held: Claim = decode(key, &bytes)?;
        if held.holder != holder {
            return Ok(false);
        }
        Ok(claims
            .compare_and_swap(key, Some(bytes), None as Option<&[u8]>)?
            .is_ok())
    }
}

#[async_trait]
impl PushQueueRepository for SledStore {
    async fn enqueue(
        &self,
        pushes: &[QueuedPush],
        claim: &QueueClaim,
    ) -> Result<Vec<QueueKey>, StoreError> {
        let written: Result<_, StoreError> = async {
            let claim = Claim::from(claim).encode_to_vec();
            let mut entries = sled::Batch::default();
            let mut claims = sled::Batch::default();
            let mut keys_out = Vec::with_capacity(pushes.len());
            for push in pushes {
                // sled's ids grow monotonically across restarts, so keys keep acceptance order.
                let key = keys::queued_push(&push.app, self.db.generate_id()?);
                entries.insert(key.clone(), push.encode_to_vec());
                claims.insert(key.clone(), claim.clone());
                keys_out.push(QueueKey::from_bytes(key));
            }
            // Claims first: an entry is never visible unclaimed, so no scan takes it from its acceptor.
            self.tree(keys::PUSH_QUEUE_CLAIMS)?.apply_batch(claims)?;
            self.tree(keys::PUSH_QUEUE)?.apply_batch(entries)?;
            Ok(keys_out)
        }
        .await;
        self.durably(written).await
    }

    async fn claim_queued(
        &self,
        after: Option<&QueueKey>,
        limit: usize,
        claim: &QueueClaim,
        now_ms: i64,
    ) -> Result<Vec<(QueueKey, QueuedPush)>, StoreError> {
        let written: Result<_, StoreError> = async {
            let entries = self.tree(keys::PUSH_QUEUE)?;
            let claims = self.tree(keys::PUSH_QUEUE_CLAIMS)?;
            let encoded = Claim::from(claim).encode_to_vec();
            let start = match after {
                Some(k) => Bound::Excluded(k.as_bytes().to_vec()),
                None => Bound::Unbounded,
            };
            let mut out = Vec::new();
            for entry in entries.range::<Vec<u8>, _>((start, Bound::Unbounded)) {
                if out.len() >= limit {
                    break;
                }
                let (key, value) = entry?;
                if self.try_claim(&claims, &key, &encoded, now_ms)? {
                    out.push((QueueKey::from_bytes(key.to_vec()), decode(&key, &value)?));
                }
            }
            Ok(out)
        }
        .await;
        match written {
            Ok(claimed) if claimed.is_empty() => Ok(claimed),
            written => self.durably(written).await,
        }
    }

    async fn queued_push(&self, key: &QueueKey) -> Result<Option<QueuedPush>, StoreError> {
        self.tree(keys::PUSH_QUEUE)?
            .get(key.as_bytes())?
            .map(|v| decode(key.as_bytes(), &v))
            .transpose()
    }

    async fn release_queued(&self, key: &QueueKey, holder: &str) -> Result<(), StoreError> {
        let written: Result<_, StoreError> = async {
            let claims = self.tree(keys::PUSH_QUEUE_CLAIMS)?;
            self.drop_claim(&claims, key.as_bytes(), holder)?;
            Ok(())
        }
        .await;
        self.durably(written).await
    }

    async fn complete_queued(&self, key: &QueueKey, holder: &str) -> Result<bool, StoreError> {
        use sled::Transactional;
        let written: Result<_, StoreError> = async {
            let entries = self.tree(keys::PUSH_QUEUE)?;
            let claims = self.tree(keys::PUSH_QUEUE_CLAIMS)?;
            let key = key.as_bytes();
            // The claim and the entry go together, and only while `holder` holds the claim.
            let done = (&entries, &claims).transaction(|(entries, claims)| {
                let Some(bytes) = claims.get(key)? else {
                    return Ok(false);
                };
                let held: Claim = tx_decode(key, &bytes)?;
                if held.holder != holder {
                    return Ok(false);
                }
                claims.remove(key)?;
                Ok(entries.remove(key)?.is_some())
            })?;
            Ok(done)
        }
        .await;
        self.durably(written).await
    }

    async fn release_gone_claims(
        &self,
        live: &[String],
        until_latest_ms: i64,
    ) -> Result<usize, StoreError> {
        let written: Result<_, StoreError> = async {
            let claims = self.tree(keys::PUSH_QUEUE_CLAIMS)?;
            let mut released = 0;
            for entry in claims.iter() {
                let (key, bytes) = entry?;
                let held: Claim = decode(&key, &bytes)?;
                if live.contains(&held.holder) || held.until_ms > until_latest_ms {
                    continue;
                }
                // Only the claim as read: one renewed, completed or taken meanwhile stays as it is.
                if claims
                    .compare_and_swap(&key, Some(bytes), None::<&[u8]>)?
                    .is_ok()
                {
                    released += 1;
                }
            }
            Ok(released)
        }
        .await;
        match written {
            Ok(0) => Ok(0),
            written => self.durably(written).await,
        }
    }

    async fn queue_len(&self) -> Result<usize, StoreError> {
        Ok(self.tree(keys::PUSH_QUEUE)?.len())
    }
}
