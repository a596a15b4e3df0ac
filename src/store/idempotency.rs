//! Answers kept for idempotent requests: a repeat of a request id returns the first answer.

use async_trait::async_trait;

use super::StoreError;

/// The first answer to a request id. Times are Unix milliseconds.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct IdempotentAnswer {
    /// The encoded response message of the first call.
    #[prost(bytes = "vec", tag = "1")]
    pub response: Vec<u8>,
    /// When the answer stops counting.
    #[prost(int64, tag = "2")]
    pub expire_ms: i64,
}

/// Idempotent answers, keyed by app, RPC and request id.
#[async_trait]
pub trait IdempotencyRepository: Send + Sync {
    /// The answer kept for the request id, unless it expired before `now_ms`.
    async fn get_answer(
        &self,
        app: &str,
        rpc: &str,
        request_id: &str,
        now_ms: i64,
    ) -> Result<Option<IdempotentAnswer>, StoreError>;
    /// Keeps `answer` for the request id.
    async fn put_answer(
        &self,
        app: &str,
        rpc: &str,
        request_id: &str,
        answer: &IdempotentAnswer,
    ) -> Result<(), StoreError>;
    /// Removes up to `limit` answers expired before `now_ms`; returns how many went.
    async fn sweep_answers(&self, now_ms: i64, limit: usize) -> Result<usize, StoreError>;
}
