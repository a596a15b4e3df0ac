//! Idempotent sends: a request id seen within the window returns the first answer and sends nothing again.

use std::{future::Future, time::Duration};

use prost::Message;

use crate::{
    clock::now_ms,
    store::{Begun, IdempotentAnswer, Store, StoreError},
};

/// Longest request id.
pub const MAX_REQUEST_ID_CHARS: usize = 64;

/// Why an idempotent call failed.
#[derive(Debug, thiserror::Error)]
pub enum IdempotencyError<E> {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The call itself failed (nothing is kept; a retry runs it again).
    #[error("{0}")]
    Call(E),
}

/// First answers of request ids, with one call per id at a time: the store decides which call runs
/// ([`IdempotencyRepository::begin_idempotent`]), so this holds across processes sharing it.
///
/// [`IdempotencyRepository::begin_idempotent`]: crate::store::IdempotencyRepository::begin_idempotent
pub struct Idempotency {
    store: Store,
    window: Duration,
    /// How long a running call holds its request id: longer than any call may take, so a claim outlives
    /// its call only when its process died.
    claim_for: Duration,
}

/// First wait before asking again whether a running call with the same id has answered; it doubles up to
/// [`MAX_POLL`].
const FIRST_POLL: Duration = Duration::from_millis(5);
/// Longest wait between two looks at a running call.
const MAX_POLL: Duration = Duration::from_millis(100);

impl Idempotency {
    /// Answers kept in `store` for `window`; a call holds its request id for at most `claim_for`.
    pub fn new(store: Store, window: Duration, claim_for: Duration) -> Self {
        Self {
            store,
            window,
            claim_for,
        }
    }

    /// The answer to `request_id` of `rpc`: the kept one, or `call`'s (kept when it succeeds). A call
    /// arriving while another with the same id runs waits for that one's answer. An empty request id just
    /// runs `call`.
    pub async fn answer<M, E, F>(
        &self,
        app: &str,
        rpc: &str,
        request_id: &str,
        call: F,
    ) -> Result<M, IdempotencyError<E>>
    where
        M: Message + Default,
        F: Future<Output = Result<M, E>>,
    {
        if request_id.is_empty() {
            return call.await.map_err(IdempotencyError::Call);
        }
        let claim_ms = i64::try_from(self.claim_for.as_millis()).unwrap_or(i64::MAX / 4);
        let mut poll = FIRST_POLL;
        loop {
            let now = now_ms();
            let begun = self
                .store
                .idempotency
                .begin_idempotent(app, rpc, request_id, now, now + claim_ms)
                .await?;
            match begun {
                Begun::Claimed => break,
                Begun::Answered(kept) => {
                    return M::decode(kept.response.as_slice()).map_err(|e| {
                        IdempotencyError::Store(StoreError::Corrupt {
                            key: format!("{app}/{rpc}/{request_id}"),
                            reason: e.to_string(),
                        })
                    });
                }
                Begun::Running { until_ms } => {
                    let left = Duration::from_millis(u64::try_from(until_ms - now).unwrap_or(0));
                    tokio::time::sleep(poll.min(left).max(Duration::from_millis(1))).await;
                    poll = (poll * 2).min(MAX_POLL);
                }
            }
        }
        // Held from here: released when the call fails, or when this future is dropped before it answers
        // (the caller went away), so that a retry need not wait for the claim to run out.
        let mut claim = Claim {
            store: self.store.clone(),
            key: Some((app.to_owned(), rpc.to_owned(), request_id.to_owned())),
        };
        let answer = match call.await {
            Ok(answer) => answer,
            Err(e) => {
                claim.abandon().await;
                return Err(IdempotencyError::Call(e));
            }
        };
        let window = i64::try_from(self.window.as_millis()).unwrap_or(i64::MAX / 2);
        let kept = IdempotentAnswer {
            response: answer.encode_to_vec(),
            expire_ms: now_ms() + window,
        };
        self.store
            .idempotency
            .finish_idempotent(app, rpc, request_id, &kept)
            .await?;
        claim.key = None;
        Ok(answer)
    }

    /// Removes expired answers, a bounded number per call; returns how many went.
    pub async fn sweep(&self, limit: usize) -> Result<usize, StoreError> {
        self.store.idempotency.sweep_answers(now_ms(), limit).await
    }
}

/// A request id this process holds while its call runs.
struct Claim {
    store: Store,
    /// `None` once the claim is finished or abandoned.
    key: Option<(String, String, String)>,
}

impl Claim {
    async fn abandon(&mut self) {
        if let Some((app, rpc, request_id)) = self.key.take()
            && let Err(e) = self
                .store
                .idempotency
                .abandon_idempotent(&app, &rpc, &request_id)
                .await
        {
            tracing::warn!(app, rpc, error = %e, "cannot release a request id; it frees when its claim runs out");
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let mut claim = Claim {
                store: self.store.clone(),
                key: Some(key),
            };
            runtime.spawn(async move { claim.abandon().await });
        }
    }
}
