//! PostgreSQL implementation of [`OutboxRepository`].
//!
//! A receiver's waiting callbacks (`outbox_waiting`) and its row in `outbox_receivers` (it is held, and when
//! its first callback is due) change together in one transaction, so a receiver is due exactly while it has
//! callbacks waiting. sled relies on one worker per rule writing the rule's records; here several processes
//! may, so every write that changes a receiver's callbacks first locks the receiver's row (an upsert, which
//! also waits for a concurrent first insert, or `FOR UPDATE`) and decides from what it reads after the lock:
//! a park racing a settle either finds the receiver held and queues behind it, or finds it released and makes
//! it due itself. Several receivers are locked in receiver order, so two writers never wait in a cycle.

use std::collections::BTreeMap;

use async_trait::async_trait;
use deadpool_postgres::Transaction;
use prost::Message;

use super::{
    PgStore,
    numbers::{count_out, position_in, position_out, read_after},
    sql::{decode, sql_limit},
};
use crate::{
    proto::v1::FailedCallback,
    store::{Fence, OutboxRepository, PauseRecord, PendingCallback, StoreError},
};

/// A due time as the due index orders it: times before the epoch count as the epoch, as in sled.
pub(super) fn due_at(ms: i64) -> i64 {
    ms.max(0)
}

fn decode_waiting(app: &str, rule: &str, bytes: &[u8]) -> Result<PendingCallback, StoreError> {
    decode(bytes, || format!("outbox_waiting/{app}/{rule}"))
}

/// Makes `receivers` held, each due at its time unless it is held already (then it keeps its due time and
/// the new callbacks queue behind). The no-op update takes the row lock of a held receiver, so this waits
/// for a settle in progress and then sees whether it released the receiver (the row is inserted again) or
/// kept it.
async fn hold(
    tx: &Transaction<'_>,
    app: &str,
    rule: &str,
    receivers: &[String],
    due_ms: &[i64],
) -> Result<(), StoreError> {
    let stmt = tx
        .prepare_cached(
            "INSERT INTO outbox_receivers AS r (app, rule, receiver, due_ms)
             SELECT $1, $2, receiver, due_ms
             FROM unnest($3::text[], $4::bigint[]) AS t(receiver, due_ms) ORDER BY receiver
             ON CONFLICT (app, rule, receiver) DO UPDATE SET due_ms = r.due_ms",
        )
        .await?;
    tx.execute(&stmt, &[&app, &rule, &receivers, &due_ms])
        .await?;
    Ok(())
}

/// Makes `receiver` due at `due_ms`, held or not (sled's `make_due`).
async fn make_due(
    tx: &Transaction<'_>,
    app: &str,
    rule: &str,
    receiver: &str,
    due_ms: i64,
) -> Result<(), StoreError> {
    let stmt = tx
        .prepare_cached(
            "INSERT INTO outbox_receivers (app, rule, receiver, due_ms) VALUES ($1, $2, $3, $4)
             ON CONFLICT (app, rule, receiver) DO UPDATE SET due_ms = excluded.due_ms",
        )
        .await?;
    tx.execute(&stmt, &[&app, &rule, &receiver, &due_at(due_ms)])
        .await?;
    Ok(())
}

/// Whether `fence` (if any) still holds, checked in the write's transaction.
async fn fence_holds(tx: &Transaction<'_>, fence: Option<&Fence>) -> Result<bool, StoreError> {
    match fence {
        Some(fence) => super::leases::fence_holds_in(tx, fence).await,
        None => Ok(true),
    }
}

/// Locks the receiver's row until the transaction ends, so a settle and a reschedule of its callbacks take
/// turns.
async fn lock_receiver(
    tx: &Transaction<'_>,
    app: &str,
    rule: &str,
    receiver: &str,
) -> Result<(), StoreError> {
    let lock = tx
        .prepare_cached(
            "SELECT 1 FROM outbox_receivers
             WHERE app = $1 AND rule = $2 AND receiver = $3 FOR UPDATE",
        )
        .await?;
    tx.execute(&lock, &[&app, &rule, &receiver]).await?;
    Ok(())
}

/// Stores waiting callbacks `(receiver, position) → record`, replacing one stored at the same place.
async fn put_waiting(
    tx: &Transaction<'_>,
    app: &str,
    rule: &str,
    waiting: &BTreeMap<(String, i64), Vec<u8>>,
) -> Result<(), StoreError> {
    let (mut receivers, mut positions, mut records) = (Vec::new(), Vec::new(), Vec::new());
    for ((receiver, position), record) in waiting {
        receivers.push(receiver.as_str());
        positions.push(*position);
        records.push(record.as_slice());
    }
    let stmt = tx
        .prepare_cached(
            "INSERT INTO outbox_waiting (app, rule, receiver, position, record)
             SELECT $1, $2, * FROM unnest($3::text[], $4::bigint[], $5::bytea[])
             ON CONFLICT (app, rule, receiver, position) DO UPDATE SET record = excluded.record",
        )
        .await?;
    tx.execute(&stmt, &[&app, &rule, &receivers, &positions, &records])
        .await?;
    Ok(())
}

/// One waiting callback as `put_waiting` takes it.
fn waiting_row(pending: &PendingCallback) -> Result<((String, i64), Vec<u8>), StoreError> {
    Ok((
        (pending.order_key(), position_in(pending.position())?),
        pending.encode_to_vec(),
    ))
}

/// Each receiver of `parked` once, with the due time of its first callback in `parked`: what it becomes
/// due at when nothing of it waits yet.
fn first_due(parked: &[PendingCallback]) -> (Vec<String>, Vec<i64>) {
    let mut first: BTreeMap<String, i64> = BTreeMap::new();
    for p in parked {
        first
            .entry(p.order_key())
            .or_insert(due_at(p.next_attempt_ms));
    }
    first.into_iter().unzip()
}

impl PgStore {
    /// Releases receivers that are due with nothing waiting (none should be: every write keeps the two
    /// together; as in sled, one would be due forever and spin the worker). Locked first, so the check
    /// sees a park that raced it.
    async fn release_empty(
        &self,
        app: &str,
        rule: &str,
        receivers: &[String],
    ) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let lock = tx
            .prepare_cached(
                "SELECT 1 FROM outbox_receivers
                 WHERE app = $1 AND rule = $2 AND receiver = ANY($3)
                 ORDER BY receiver FOR UPDATE",
            )
            .await?;
        tx.execute(&lock, &[&app, &rule, &receivers]).await?;
        let release = tx
            .prepare_cached(
                "DELETE FROM outbox_receivers r
                 WHERE app = $1 AND rule = $2 AND receiver = ANY($3) AND NOT EXISTS (
                     SELECT 1 FROM outbox_waiting w
                     WHERE w.app = r.app AND w.rule = r.rule AND w.receiver = r.receiver)",
            )
            .await?;
        tx.execute(&release, &[&app, &rule, &receivers]).await?;
        tx.commit().await?;
        Ok(())
    }
}

#[async_trait]
impl OutboxRepository for PgStore {
    async fn cursor(&self, app: &str, rule: &str) -> Result<Option<u64>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT position FROM outbox_cursors WHERE app = $1 AND rule = $2")
            .await?;
        client
            .query_opt(&stmt, &[&app, &rule])
            .await?
            .map(|row| position_out(row.get(0)))
            .transpose()
    }

    /// One transaction: the cursor, the parked callbacks' receivers held (locked, in receiver order), the
    /// callbacks stored.
    async fn advance_fenced(
        &self,
        app: &str,
        rule: &str,
        position: u64,
        parked: Vec<PendingCallback>,
        fence: Option<&Fence>,
    ) -> Result<bool, StoreError> {
        let position = position_in(position)?;
        // By place, the later of two at the same place winning, as sled's inserts in order.
        let waiting = parked
            .iter()
            .map(waiting_row)
            .collect::<Result<BTreeMap<_, _>, _>>()?;
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        if !fence_holds(&tx, fence).await? {
            return Ok(false);
        }
        let cursor = tx
            .prepare_cached(
                "INSERT INTO outbox_cursors (app, rule, position) VALUES ($1, $2, $3)
                 ON CONFLICT (app, rule) DO UPDATE SET position = excluded.position",
            )
            .await?;
        tx.execute(&cursor, &[&app, &rule, &position]).await?;
        if !parked.is_empty() {
            let (receivers, due_ms) = first_due(&parked);
            hold(&tx, app, rule, &receivers, &due_ms).await?;
            put_waiting(&tx, app, rule, &waiting).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn waiting_count(&self, app: &str, rule: &str) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT count(*) FROM outbox_waiting WHERE app = $1 AND rule = $2")
            .await?;
        Ok(count_out(
            client.query_one(&stmt, &[&app, &rule]).await?.get(0),
        ))
    }

    async fn is_held(&self, app: &str, rule: &str, order_key: &str) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM outbox_receivers
                                WHERE app = $1 AND rule = $2 AND receiver = $3)",
            )
            .await?;
        Ok(client
            .query_one(&stmt, &[&app, &rule, &order_key])
            .await?
            .get(0))
    }

    /// The due receivers, earliest first (ties by receiver, as sled's index), each with its first waiting
    /// callback.
    async fn due(
        &self,
        app: &str,
        rule: &str,
        now_ms: i64,
        limit: usize,
    ) -> Result<Vec<PendingCallback>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT r.receiver, w.record
                 FROM (SELECT receiver, due_ms FROM outbox_receivers
                       WHERE app = $1 AND rule = $2 AND due_ms <= $3
                       ORDER BY due_ms, receiver LIMIT $4) r
                 LEFT JOIN LATERAL (
                     SELECT record FROM outbox_waiting w
                     WHERE w.app = $1 AND w.rule = $2 AND w.receiver = r.receiver
                     ORDER BY position LIMIT 1) w ON true
                 ORDER BY r.due_ms, r.receiver",
            )
            .await?;
        let rows = client
            .query(&stmt, &[&app, &rule, &now_ms, &sql_limit(limit)])
            .await?;
        drop(client);
        let mut out = Vec::with_capacity(rows.len());
        let mut empty = Vec::new();
        for row in rows {
            match row.get::<_, Option<&[u8]>>(1) {
                Some(record) => out.push(decode_waiting(app, rule, record)?),
                None => empty.push(row.get::<_, String>(0)),
            }
        }
        if !empty.is_empty() {
            self.release_empty(app, rule, &empty).await?;
        }
        Ok(out)
    }

    async fn next_due_ms(&self, app: &str, rule: &str) -> Result<Option<i64>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT min(due_ms) FROM outbox_receivers WHERE app = $1 AND rule = $2")
            .await?;
        Ok(client.query_one(&stmt, &[&app, &rule]).await?.get(0))
    }

    /// One transaction: the receiver locked, the callback removed (kept as failed when given up on), then
    /// the receiver due at `now_ms` if anything of it still waits, or released.
    async fn settle_fenced(
        &self,
        app: &str,
        rule: &str,
        settled: &PendingCallback,
        failed: Option<FailedCallback>,
        now_ms: i64,
        fence: Option<&Fence>,
    ) -> Result<bool, StoreError> {
        let receiver = settled.order_key();
        let position = position_in(settled.position())?;
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        if !fence_holds(&tx, fence).await? {
            return Ok(false);
        }
        lock_receiver(&tx, app, rule, &receiver).await?;
        // The statement sees the table as it was before its own delete: the callback settled is left out
        // by position.
        let remove = tx
            .prepare_cached(
                "WITH settled AS (
                     DELETE FROM outbox_waiting
                     WHERE app = $1 AND rule = $2 AND receiver = $3 AND position = $4)
                 SELECT EXISTS (SELECT 1 FROM outbox_waiting
                                WHERE app = $1 AND rule = $2 AND receiver = $3 AND position <> $4)",
            )
            .await?;
        let more: bool = tx
            .query_one(&remove, &[&app, &rule, &receiver, &position])
            .await?
            .get(0);
        if let Some(failed) = failed {
            let keep = tx
                .prepare_cached(
                    "INSERT INTO failed_callbacks (app, position, rule, record) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (app, position, rule) DO UPDATE SET record = excluded.record",
                )
                .await?;
            tx.execute(&keep, &[&app, &position, &rule, &failed.encode_to_vec()])
                .await?;
        }
        if more {
            make_due(&tx, app, rule, &receiver, now_ms).await?;
        } else {
            let release = tx
                .prepare_cached(
                    "DELETE FROM outbox_receivers WHERE app = $1 AND rule = $2 AND receiver = $3",
                )
                .await?;
            tx.execute(&release, &[&app, &rule, &receiver]).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// One transaction: the receiver's row locked (as `settle` locks it, so the two take turns), the callback
    /// replaced only if it still waits, and then its receiver due at its `next_attempt_ms`.
    async fn reschedule_fenced(
        &self,
        app: &str,
        rule: &str,
        updated: PendingCallback,
        fence: Option<&Fence>,
    ) -> Result<bool, StoreError> {
        let ((receiver, position), record) = waiting_row(&updated)?;
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        if !fence_holds(&tx, fence).await? {
            return Ok(false);
        }
        lock_receiver(&tx, app, rule, &receiver).await?;
        let replace = tx
            .prepare_cached(
                "UPDATE outbox_waiting SET record = $5
                 WHERE app = $1 AND rule = $2 AND receiver = $3 AND position = $4",
            )
            .await?;
        let still_waiting = tx
            .execute(&replace, &[&app, &rule, &receiver, &position, &record])
            .await?
            > 0;
        if still_waiting {
            make_due(&tx, app, rule, &receiver, updated.next_attempt_ms).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn failed(
        &self,
        app: &str,
        rule: Option<&str>,
        after: Option<(&str, u64)>,
        limit: usize,
    ) -> Result<Vec<FailedCallback>, StoreError> {
        // Strictly after (position, rule), in that order; no id sorts before (-1, '').
        let (after_rule, after_position) = match after {
            Some((r, position)) => match read_after(position) {
                Some(position) => (r, position),
                None => return Ok(Vec::new()),
            },
            None => ("", -1),
        };
        let client = self.client().await?;
        let rows = match rule {
            Some(rule) => {
                let stmt = client
                    .prepare_cached(
                        "SELECT record FROM failed_callbacks
                         WHERE app = $1 AND rule = $2 AND (position, rule) > ($3, $4)
                         ORDER BY position LIMIT $5",
                    )
                    .await?;
                client
                    .query(
                        &stmt,
                        &[&app, &rule, &after_position, &after_rule, &sql_limit(limit)],
                    )
                    .await?
            }
            None => {
                let stmt = client
                    .prepare_cached(
                        "SELECT record FROM failed_callbacks
                         WHERE app = $1 AND (position, rule) > ($2, $3)
                         ORDER BY position, rule LIMIT $4",
                    )
                    .await?;
                client
                    .query(
                        &stmt,
                        &[&app, &after_position, &after_rule, &sql_limit(limit)],
                    )
                    .await?
            }
        };
        rows.iter()
            .map(|row| decode(row.get(0), || format!("failed_callbacks/{app}")))
            .collect()
    }

    /// One transaction: the receiver held (locked first, as `settle` locks it before it writes a failed
    /// callback), then the failed callback taken by a delete, which a concurrent requeue of the same one
    /// waits for and then finds nothing to take; then the callback waiting again.
    async fn requeue_failed(
        &self,
        app: &str,
        rule: &str,
        position: u64,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let position = position_in(position)?;
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let peek = tx
            .prepare_cached(
                "SELECT record FROM failed_callbacks
                 WHERE app = $1 AND position = $2 AND rule = $3",
            )
            .await?;
        let Some(row) = tx.query_opt(&peek, &[&app, &position, &rule]).await? else {
            return Ok(false);
        };
        let failed: FailedCallback = decode(row.get(0), || {
            format!("failed_callbacks/{app}/{position}/{rule}")
        })?;
        let again = PendingCallback {
            event: failed.event,
            budget_from_ms: now_ms,
            next_attempt_ms: now_ms,
            ..Default::default()
        };
        let receiver = again.order_key();
        hold(
            &tx,
            app,
            rule,
            std::slice::from_ref(&receiver),
            &[due_at(now_ms)],
        )
        .await?;
        let take = tx
            .prepare_cached(
                "DELETE FROM failed_callbacks WHERE app = $1 AND position = $2 AND rule = $3",
            )
            .await?;
        if tx.execute(&take, &[&app, &position, &rule]).await? == 0 {
            // Requeued by another caller meanwhile: nothing of this transaction is kept.
            return Ok(false);
        }
        let waiting = BTreeMap::from([((receiver, position), again.encode_to_vec())]);
        put_waiting(&tx, app, rule, &waiting).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn pause(&self, app: &str, rule: &str) -> Result<PauseRecord, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT record FROM outbox_pauses WHERE app = $1 AND rule = $2")
            .await?;
        match client.query_opt(&stmt, &[&app, &rule]).await? {
            Some(row) => decode(row.get(0), || format!("outbox_pauses/{app}/{rule}")),
            None => Ok(PauseRecord::default()),
        }
    }

    async fn set_pause(&self, app: &str, rule: &str, pause: PauseRecord) -> Result<(), StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "INSERT INTO outbox_pauses (app, rule, record) VALUES ($1, $2, $3)
                 ON CONFLICT (app, rule) DO UPDATE SET record = excluded.record",
            )
            .await?;
        client
            .execute(&stmt, &[&app, &rule, &pause.encode_to_vec()])
            .await?;
        Ok(())
    }

    async fn set_cursor(&self, app: &str, rule: &str, position: u64) -> Result<(), StoreError> {
        let position = position_in(position)?;
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "INSERT INTO outbox_cursors (app, rule, position) VALUES ($1, $2, $3)
                 ON CONFLICT (app, rule) DO UPDATE SET position = excluded.position",
            )
            .await?;
        client.execute(&stmt, &[&app, &rule, &position]).await?;
        Ok(())
    }

    async fn forget_cursor(&self, app: &str, rule: &str) -> Result<(), StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("DELETE FROM outbox_cursors WHERE app = $1 AND rule = $2")
            .await?;
        client.execute(&stmt, &[&app, &rule]).await?;
        Ok(())
    }

    /// One statement, so one transaction: every table's rows of the rule.
    async fn remove_rule(&self, app: &str, rule: &str) -> Result<(), StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "WITH cursors AS (DELETE FROM outbox_cursors WHERE app = $1 AND rule = $2),
                      pauses AS (DELETE FROM outbox_pauses WHERE app = $1 AND rule = $2),
                      waiting AS (DELETE FROM outbox_waiting WHERE app = $1 AND rule = $2),
                      receivers AS (DELETE FROM outbox_receivers WHERE app = $1 AND rule = $2)
                 DELETE FROM failed_callbacks WHERE app = $1 AND rule = $2",
            )
            .await?;
        client.execute(&stmt, &[&app, &rule]).await?;
        Ok(())
    }
}
