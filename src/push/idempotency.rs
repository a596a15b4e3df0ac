//! Idempotent sends: a request id seen within the window returns the first answer and sends nothing again.

use std::{
    collections::HashMap,
    future::Future,
    sync::{Arc, Mutex},
    time::Duration,
};

use prost::Message;

use crate::{
    clock::now_ms,
    store::{IdempotentAnswer, Store, StoreError},
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

/// First answers of request ids, with one call per id at a time.
pub struct Idempotency {
    store: Store,
    window: Duration,
    /// Locks of the request ids being answered now, so a retry arriving during the first call waits for
    /// its answer instead of sending again.
    running: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Idempotency {
    /// Answers kept in `store` for `window`.
    pub fn new(store: Store, window: Duration) -> Self {
        Self {
            store,
            window,
            running: Mutex::new(HashMap::new()),
        }
    }

    /// The answer to `request_id` of `rpc`: the kept one, or `call`'s (kept when it succeeds). An empty
    /// request id just runs `call`.
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
        let name = format!("{app}\0{rpc}\0{request_id}");
        let lock = {
            let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
            running.entry(name.clone()).or_default().clone()
        };
        let result = {
            let _turn = lock.lock().await;
            self.answer_locked(app, rpc, request_id, call).await
        };
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        // The map's own reference plus ours: nobody else waits, so the entry can go.
        if Arc::strong_count(&lock) <= 2 {
            running.remove(&name);
        }
        result
    }

    async fn answer_locked<M, E, F>(
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
        let now = now_ms();
        if let Some(kept) = self
            .store
            .idempotency
            .get_answer(app, rpc, request_id, now)
            .await?
            && let Ok(m) = M::decode(kept.response.as_slice())
        {
            return Ok(m);
        }
        let answer = call.await.map_err(IdempotencyError::Call)?;
        let window = i64::try_from(self.window.as_millis()).unwrap_or(i64::MAX / 2);
        self.store
            .idempotency
            .put_answer(
                app,
                rpc,
                request_id,
                &IdempotentAnswer {
                    response: answer.encode_to_vec(),
                    expire_ms: now_ms() + window,
                },
            )
            .await?;
        Ok(answer)
    }

    /// Removes expired answers, a bounded number per call; returns how many went.
    pub async fn sweep(&self, limit: usize) -> Result<usize, StoreError> {
        self.store.idempotency.sweep_answers(now_ms(), limit).await
    }
}
