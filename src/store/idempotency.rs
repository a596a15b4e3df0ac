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

/// What [`IdempotencyRepository::begin_idempotent`] found for a request id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begun {
    /// Nobody answered or holds the request id: the caller holds it now, until it finishes or abandons it
    /// or its claim ends, and runs the call.
    Claimed,
    /// The first call's answer, still counting.
    Answered(IdempotentAnswer),
    /// Another call holds the request id until `until_ms` (Unix milliseconds): ask again after a while.
    Running {
        /// When that claim ends unless its holder finishes first.
        until_ms: i64,
    },
}

/// Idempotent answers, keyed by app, RPC and request id.
///
/// Two calls with one request id must send once, and both callers must get the same answer, whichever
/// process each reaches: `begin_idempotent` is the single atomic step that decides who runs the call. A
/// clustered backend must make it atomic across processes (an insert that fails on a live row, or a row
/// lock), and a claim must end by itself (`claim_until_ms`) so that a process that dies mid-call does not
/// hold the request id for ever.
#[async_trait]
pub trait IdempotencyRepository: Send + Sync {
    /// Claims the request id for a call that ends by `claim_until_ms`, unless an answer that has not expired
    /// at `now_ms` is kept (returned) or another unexpired claim holds it. An answer or claim counts while
    /// its end is later than `now_ms`.
    async fn begin_idempotent(
        &self,
        app: &str,
        rpc: &str,
        request_id: &str,
        now_ms: i64,
        claim_until_ms: i64,
    ) -> Result<Begun, StoreError>;
    /// Keeps `answer` for the request id (the claimed call succeeded), ending the claim. It replaces what is
    /// there: should the caller's claim have run out and another call have claimed the id meanwhile, the
    /// later finisher's answer is the one kept.
    async fn finish_idempotent(
        &self,
        app: &str,
        rpc: &str,
        request_id: &str,
        answer: &IdempotentAnswer,
    ) -> Result<(), StoreError>;
    /// Ends the claim without an answer (the call failed; a retry runs it again).
    async fn abandon_idempotent(
        &self,
        app: &str,
        rpc: &str,
        request_id: &str,
    ) -> Result<(), StoreError>;
    /// Removes up to `limit` answers and claims that ended at `now_ms` (their end not later than it);
    /// returns how many went.
    async fn sweep_answers(&self, now_ms: i64, limit: usize) -> Result<usize, StoreError>;
}
