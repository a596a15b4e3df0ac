//! PostgreSQL implementation of [`IdempotencyRepository`].
//!
//! One row per (app, RPC, request id) in `idempotent_answers`: a kept answer (`running` false, `record`
//! the [`IdempotentAnswer`]) or the claim of the call running now (`running` true); either counts while
//! `expire_ms` is later than the caller's now.

use async_trait::async_trait;
use prost::Message;

use super::PgStore;
use super::sql::{decode, sql_limit};
use crate::store::{Begun, IdempotencyRepository, IdempotentAnswer, StoreError};

#[async_trait]
impl IdempotencyRepository for PgStore {
    /// One statement decides: it inserts a claim, or, on the row already there, writes a claim over it
    /// when it has expired and writes it back unchanged when not, taking the row's lock either way (so two
    /// callers queue on it, and the second sees the first's claim). The row comes back as it is now; the
    /// claim is this call's when the row names this transaction in `claimed_by`.
    async fn begin_idempotent(
        &self,
        app: &str,
        rpc: &str,
        request_id: &str,
        now_ms: i64,
        claim_until_ms: i64,
    ) -> Result<Begun, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "INSERT INTO idempotent_answers AS kept
                     (app, rpc, request_id, running, expire_ms, claimed_by, record)
                 VALUES ($1, $2, $3, true, $5, txid_current(), '')
                 ON CONFLICT (app, rpc, request_id) DO UPDATE SET
                     running = CASE WHEN kept.expire_ms <= $4 THEN true ELSE kept.running END,
                     expire_ms = CASE WHEN kept.expire_ms <= $4 THEN $5 ELSE kept.expire_ms END,
                     claimed_by = CASE WHEN kept.expire_ms <= $4 THEN txid_current()
                                       ELSE kept.claimed_by END,
                     record = CASE WHEN kept.expire_ms <= $4 THEN ''::bytea ELSE kept.record END
                 RETURNING claimed_by = txid_current(), running, expire_ms, record",
            )
            .await?;
        let row = client
            .query_one(
                &statement,
                &[&app, &rpc, &request_id, &now_ms, &claim_until_ms],
            )
            .await?;
        if row.get(0) {
            return Ok(Begun::Claimed);
        }
        if row.get(1) {
            return Ok(Begun::Running {
                until_ms: row.get(2),
            });
        }
        let answer: IdempotentAnswer = decode(row.get(3), || {
            format!("idempotent_answers/{app}/{rpc}/{request_id}")
        })?;
        Ok(Begun::Answered(answer))
    }

    async fn finish_idempotent(
        &self,
        app: &str,
        rpc: &str,
        request_id: &str,
        answer: &IdempotentAnswer,
    ) -> Result<(), StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "INSERT INTO idempotent_answers
                     (app, rpc, request_id, running, expire_ms, claimed_by, record)
                 VALUES ($1, $2, $3, false, $4, 0, $5)
                 ON CONFLICT (app, rpc, request_id) DO UPDATE SET
                     running = false, expire_ms = EXCLUDED.expire_ms, record = EXCLUDED.record",
            )
            .await?;
        client
            .execute(
                &statement,
                &[
                    &app,
                    &rpc,
                    &request_id,
                    &answer.expire_ms,
                    &answer.encode_to_vec(),
                ],
            )
            .await?;
        Ok(())
    }

    /// One conditional statement: only a claim goes; an answer kept meanwhile (a claim that ran out, taken
    /// and finished by another call) stays.
    async fn abandon_idempotent(
        &self,
        app: &str,
        rpc: &str,
        request_id: &str,
    ) -> Result<(), StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "DELETE FROM idempotent_answers
                 WHERE app = $1 AND rpc = $2 AND request_id = $3 AND running",
            )
            .await?;
        client
            .execute(&statement, &[&app, &rpc, &request_id])
            .await?;
        Ok(())
    }

    /// One statement; rows a `begin_idempotent` holds now are passed over (`SKIP LOCKED`) for a later sweep.
    async fn sweep_answers(&self, now_ms: i64, limit: usize) -> Result<usize, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "DELETE FROM idempotent_answers
                 WHERE (app, rpc, request_id) IN (
                     SELECT app, rpc, request_id FROM idempotent_answers
                     WHERE expire_ms <= $1
                     LIMIT $2
                     FOR UPDATE SKIP LOCKED
                 )",
            )
            .await?;
        let removed = client
            .execute(&statement, &[&now_ms, &sql_limit(limit)])
            .await?;
        Ok(usize::try_from(removed).unwrap_or(usize::MAX))
    }
}
