//! PostgreSQL implementation of [`PushQueueRepository`].
//!
//! One row per accepted push in `push_queue`, numbered by an identity column in acceptance order; a
//! [`QueueKey`] is that number as 8 big-endian bytes, so keys compare as the numbers do. The claim is two
//! columns of the row (`holder`, NULL when nobody holds it, and `until_ms`), so taking, dropping and
//! checking it are conditional single statements on the row.

use async_trait::async_trait;
use prost::Message;
use tokio_postgres::Row;

use super::PgStore;
use super::sql::{decode, sql_limit};
use crate::store::{PushQueueRepository, QueueClaim, QueueKey, QueuedPush, StoreError};

/// The key of entry `seq`.
fn key_of(seq: i64) -> QueueKey {
    QueueKey::from_bytes(seq.to_be_bytes().to_vec())
}

/// The entry number a key holds; a key this store did not make is refused.
fn seq_of(key: &QueueKey) -> Result<i64, StoreError> {
    <[u8; 8]>::try_from(key.as_bytes())
        .map(i64::from_be_bytes)
        .map_err(|_| {
            StoreError::Backend(format!(
                "{:?} is not a queue key of the PostgreSQL store",
                key.as_bytes()
            ))
        })
}

/// The entry of a row `seq, record`.
fn entry_of(row: &Row) -> Result<(QueueKey, QueuedPush), StoreError> {
    let seq: i64 = row.get(0);
    let push = decode(row.get(1), || format!("push_queue/{seq}"))?;
    Ok((key_of(seq), push))
}

#[async_trait]
impl PushQueueRepository for PgStore {
    /// One statement. The entries are numbered as the rows are inserted, in the order given, so sorting the
    /// numbers returned gives the keys in that order.
    async fn enqueue(
        &self,
        pushes: &[QueuedPush],
        claim: &QueueClaim,
    ) -> Result<Vec<QueueKey>, StoreError> {
        if pushes.is_empty() {
            return Ok(Vec::new());
        }
        let apps: Vec<&str> = pushes.iter().map(|p| p.app.as_str()).collect();
        let records: Vec<Vec<u8>> = pushes.iter().map(Message::encode_to_vec).collect();
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "INSERT INTO push_queue (app, holder, until_ms, record)
                 SELECT entry.app, $3, $4, entry.record
                 FROM unnest($1::text[], $2::bytea[]) WITH ORDINALITY AS entry (app, record, n)
                 ORDER BY entry.n
                 RETURNING seq",
            )
            .await?;
        let rows = client
            .query(
                &statement,
                &[&apps, &records, &claim.holder, &claim.until_ms],
            )
            .await?;
        let mut seqs: Vec<i64> = rows.iter().map(|row| row.get(0)).collect();
        seqs.sort_unstable();
        Ok(seqs.into_iter().map(key_of).collect())
    }

    /// One statement: the free entries are picked in key order and locked with `FOR UPDATE SKIP LOCKED`,
    /// which checks each again once locked (a claim another process committed meanwhile makes it held) and
    /// passes over the ones another claimer has locked now, so each entry goes to one claimer; the claim is
    /// written to the entries picked.
    async fn claim_queued(
        &self,
        after: Option<&QueueKey>,
        limit: usize,
        claim: &QueueClaim,
        now_ms: i64,
    ) -> Result<Vec<(QueueKey, QueuedPush)>, StoreError> {
        let after = after.map(seq_of).transpose()?.unwrap_or(i64::MIN);
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "WITH free AS (
                     SELECT seq FROM push_queue
                     WHERE seq > $1 AND (holder IS NULL OR until_ms <= $2)
                     ORDER BY seq
                     LIMIT $3
                     FOR UPDATE SKIP LOCKED
                 )
                 UPDATE push_queue SET holder = $4, until_ms = $5
                 FROM free
                 WHERE push_queue.seq = free.seq
                 RETURNING push_queue.seq, push_queue.record",
            )
            .await?;
        let rows = client
            .query(
                &statement,
                &[
                    &after,
                    &now_ms,
                    &sql_limit(limit),
                    &claim.holder,
                    &claim.until_ms,
                ],
            )
            .await?;
        let mut claimed = rows.iter().map(entry_of).collect::<Result<Vec<_>, _>>()?;
        claimed.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(claimed)
    }

    async fn queued_push(&self, key: &QueueKey) -> Result<Option<QueuedPush>, StoreError> {
        let seq = seq_of(key)?;
        let client = self.client().await?;
        let statement = client
            .prepare_cached("SELECT seq, record FROM push_queue WHERE seq = $1")
            .await?;
        client
            .query_opt(&statement, &[&seq])
            .await?
            .map(|row| entry_of(&row).map(|(_, push)| push))
            .transpose()
    }

    /// One conditional statement: the claim goes only while `holder` has it.
    async fn release_queued(&self, key: &QueueKey, holder: &str) -> Result<(), StoreError> {
        let seq = seq_of(key)?;
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "UPDATE push_queue SET holder = NULL, until_ms = 0 WHERE seq = $1 AND holder = $2",
            )
            .await?;
        client.execute(&statement, &[&seq, &holder]).await?;
        Ok(())
    }

    /// One conditional statement: the entry goes only while `holder` has it (a claim that ran out is still
    /// its holder's until another claimer writes its own).
    async fn complete_queued(&self, key: &QueueKey, holder: &str) -> Result<bool, StoreError> {
        let seq = seq_of(key)?;
        let client = self.client().await?;
        let statement = client
            .prepare_cached("DELETE FROM push_queue WHERE seq = $1 AND holder = $2")
            .await?;
        Ok(client.execute(&statement, &[&seq, &holder]).await? == 1)
    }

    async fn release_gone_claims(
        &self,
        live: &[String],
        until_latest_ms: i64,
    ) -> Result<usize, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "UPDATE push_queue SET holder = NULL, until_ms = 0
                 WHERE holder IS NOT NULL AND NOT (holder = ANY($1)) AND until_ms <= $2",
            )
            .await?;
        let released = client
            .execute(&statement, &[&live, &until_latest_ms])
            .await?;
        Ok(usize::try_from(released).unwrap_or(usize::MAX))
    }

    async fn queue_len(&self) -> Result<usize, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached("SELECT count(*) FROM push_queue")
            .await?;
        let len: i64 = client.query_one(&statement, &[]).await?.get(0);
        Ok(usize::try_from(len).unwrap_or(usize::MAX))
    }
}
