//! sled implementation of [`IdempotencyRepository`]: one record per request id, either a kept answer or
//! the claim of the call running now; sled's compare-and-swap loop (`fetch_and_update`) makes the claim
//! atomic.

use async_trait::async_trait;
use prost::Message;

use super::keys;
use super::{SledStore, decode};
use crate::store::{Begun, IdempotencyRepository, IdempotentAnswer, StoreError};

/// What is stored per request id. Records written before claims existed decode as answers.
#[derive(Clone, PartialEq, Eq, prost::Message)]
struct Entry {
    /// The encoded response (an answer only).
    #[prost(bytes = "vec", tag = "1")]
    response: Vec<u8>,
    /// When the answer, or the claim, ends.
    #[prost(int64, tag = "2")]
    expire_ms: i64,
    /// A claim: the first call is still running.
    #[prost(bool, tag = "3")]
    running: bool,
}

#[async_trait]
impl IdempotencyRepository for SledStore {
    async fn begin_idempotent(
        &self,
        app: &str,
        rpc: &str,
        request_id: &str,
        now_ms: i64,
        claim_until_ms: i64,
    ) -> Result<Begun, StoreError> {
        let written: Result<_, StoreError> = async {
            let key = keys::idempotent_answer(app, rpc, request_id);
            let claim = Entry {
                response: Vec::new(),
                expire_ms: claim_until_ms,
                running: true,
            }
            .encode_to_vec();
            let mut found = Begun::Claimed;
            let mut failure = None;
            self.tree(keys::IDEMPOTENT_ANSWERS)?
                .fetch_and_update(&key, |old| {
                    // sled retries this closure when a write raced it: nothing may carry over a try.
                    failure = None;
                    found = Begun::Claimed;
                    let Some(bytes) = old else {
                        return Some(claim.clone());
                    };
                    match decode::<Entry>(&key, bytes) {
                        Ok(e) if e.expire_ms > now_ms && e.running => {
                            found = Begun::Running {
                                until_ms: e.expire_ms,
                            };
                            Some(bytes.to_vec())
                        }
                        Ok(e) if e.expire_ms > now_ms => {
                            found = Begun::Answered(IdempotentAnswer {
                                response: e.response,
                                expire_ms: e.expire_ms,
                            });
                            Some(bytes.to_vec())
                        }
                        // Expired, answer or claim: it no longer counts.
                        Ok(_) => Some(claim.clone()),
                        Err(e) => {
                            failure = Some(e);
                            Some(bytes.to_vec())
                        }
                    }
                })?;
            match failure {
                Some(e) => Err(e),
                None => Ok(found),
            }
        }
        .await;
        // Only a claim wrote something that must survive; an answer or a running call was left as it was.
        match written {
            Ok(Begun::Claimed) => self.durably(written).await,
            other => other,
        }
    }

    async fn finish_idempotent(
        &self,
        app: &str,
        rpc: &str,
        request_id: &str,
        answer: &IdempotentAnswer,
    ) -> Result<(), StoreError> {
        let written: Result<_, StoreError> = async {
            let entry = Entry {
                response: answer.response.clone(),
                expire_ms: answer.expire_ms,
                running: false,
            };
            self.tree(keys::IDEMPOTENT_ANSWERS)?.insert(
                keys::idempotent_answer(app, rpc, request_id),
                entry.encode_to_vec(),
            )?;
            Ok(())
        }
        .await;
        self.durably(written).await
    }

    async fn abandon_idempotent(
        &self,
        app: &str,
        rpc: &str,
        request_id: &str,
    ) -> Result<(), StoreError> {
        let written: Result<_, StoreError> = async {
            let key = keys::idempotent_answer(app, rpc, request_id);
            // Only a claim goes: an answer kept meanwhile (a claim that ran out, taken and finished by
            // another call) stays.
            self.tree(keys::IDEMPOTENT_ANSWERS)?
                .fetch_and_update(&key, |old| {
                    let bytes = old?;
                    match decode::<Entry>(&key, bytes) {
                        Ok(e) if e.running => None,
                        _ => Some(bytes.to_vec()),
                    }
                })?;
            Ok(())
        }
        .await;
        self.durably(written).await
    }

    async fn sweep_answers(&self, now_ms: i64, limit: usize) -> Result<usize, StoreError> {
        let written: Result<_, StoreError> = async {
            let tree = self.tree(keys::IDEMPOTENT_ANSWERS)?;
            let mut removed = 0;
            for entry in tree.iter() {
                let (key, value) = entry?;
                let entry: Entry = decode(&key, &value)?;
                if entry.expire_ms <= now_ms {
                    tree.remove(&key)?;
                    removed += 1;
                    if removed >= limit {
                        break;
                    }
                }
            }
            Ok(removed)
        }
        .await;
        self.durably(written).await
    }
}
