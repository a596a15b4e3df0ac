//! Writing [`Record`]s into PostgreSQL as they are, for `pushgate store copy`: the other half of
//! `sled/export.rs` (the copy itself is `store/copy/`).
//!
//! Records are written beside the columns the repositories read them by, the same way each repository's
//! own writes fill them (one place per kind: [`table`] and [`row`]), but without the repositories' rules:
//! positions, times, counts and checkpoints are kept as they are.
//!
//! A copy writes on one connection of its own, outside the server's pool, which holds a session advisory
//! lock for as long as it lives, so that two copies into one database cannot interleave. Each batch is one
//! transaction: one multi-row upsert of the batch's records (one array per column, `unnest`ed: one statement
//! and one round trip whatever the batch's size) and the kind's row of `pushgate_copy_progress`, so the
//! recorded progress is exactly what committed, and a copy interrupted at any point resumes after its last
//! committed batch. The upserts make a record written twice harmless.
//!
//! Here: the target's connection and what a copy asks of it ([`CopyTarget`], [`KindProgress`]). Beside it,
//! `tables.rs` says where each kind goes, `rows.rs` turns a record into its row's values and `upsert.rs`
//! writes a batch of rows as one statement.

mod rows;
mod tables;
#[cfg(test)]
mod tests;
mod upsert;

use std::{collections::HashMap, future::Future, time::Duration};

use tokio_postgres::{Client, Statement, types::ToSql};

use super::{connect_one, migrate, migrations::known_schema_version};
use crate::store::{
    PostgresConfig, StoreError,
    portable::{Kind, Record},
};
use rows::row;
use tables::table;
use upsert::{Column, upsert_sql};

/// Key of the session lock a copy holds on its target ("pgcopy"); neither the migrations' lock nor the
/// two-key app locks share it.
const COPY_LOCK: i64 = 0x7067_636f_7079;

/// `round_trip` within `wait` (the target's `statement_timeout` and `connect_timeout` together): the server
/// ends a statement that runs too long, but not a wait for an answer that never comes back (a network gone
/// silent, a frozen host), which TCP notices only after hours. The copy fails as unavailable instead, and a
/// rerun resumes after its last committed batch (a batch whose commit went unanswered committed with its
/// progress, or not at all).
async fn within<T, E>(
    wait: Duration,
    round_trip: impl Future<Output = Result<T, E>>,
) -> Result<T, StoreError>
where
    StoreError: From<E>,
{
    match tokio::time::timeout(wait, round_trip).await {
        Ok(done) => Ok(done?),
        Err(_) => Err(StoreError::Unavailable(format!(
            "no answer from the database within {} ms",
            wait.as_millis()
        ))),
    }
}

/// The sequences that number records, each with the highest number the copied records hold of it (NULL
/// when none): [`CopyTarget::finish`] sets each past its number. The highest may be 0 (sled's first id
/// numbers a queued push, and a rule enabled before any event has its cursor at 0), below where a sequence
/// can be set and where it starts anyway.
const SEQUENCES: &[(&str, &str)] = &[
    (
        "pg_get_serial_sequence('push_queue', 'seq')",
        "SELECT max(seq) FROM push_queue",
    ),
    // Event positions: what the log holds and what refers to a place in it (the retention's horizons, the
    // rules' cursors, waiting and failed callbacks), so that appends continue above every one: a cursor
    // past the last retained event still sees the next one.
    (
        "'event_positions'",
        "SELECT max(p) FROM (
             SELECT max(position) AS p FROM events
             UNION ALL SELECT max(swept_through) FROM event_heads
             UNION ALL SELECT max(position) FROM outbox_cursors
             UNION ALL SELECT max(position) FROM outbox_waiting
             UNION ALL SELECT max(position) FROM failed_callbacks) AS copied",
    ),
    // Inbox positions: a device's client resumes after the last one it saw, so new ones continue above.
    (
        "'inbox_positions'",
        "SELECT max(p) FROM (
             SELECT max(position) AS p FROM inbox_entries
             UNION ALL SELECT max(position) FROM inbox_receipts) AS copied",
    ),
];

/// A stored count as the traits give it out.
fn count_out(count: i64) -> u64 {
    u64::try_from(count).unwrap_or(0)
}

/// What the target holds of one kind's copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindProgress {
    /// The kind.
    pub kind: Kind,
    /// The store the copy reads (the canonical path of a sled data directory).
    pub source: String,
    /// The source's key of the last record copied; `None` before the first batch.
    pub after_key: Option<Vec<u8>>,
    /// How many records of the kind were written.
    pub copied: u64,
    /// Whether the kind was copied to its end.
    pub done: bool,
}

/// A PostgreSQL database being filled by a copy, on a connection of its own that holds the copy's lock.
pub struct CopyTarget {
    client: Client,
    /// How long any one round trip may take ([`within`]).
    wait: Duration,
    statements: HashMap<Kind, Statement>,
}

impl CopyTarget {
    /// Connects to the database `config` names and takes the copy's lock, changing nothing in it: refused
    /// while another copy holds the lock, or when its schema is newer than this binary knows. The schema is
    /// brought up to date by [`begin`](Self::begin), once the copy has found the database fit for it.
    pub async fn connect(config: &PostgresConfig) -> Result<Self, StoreError> {
        let wait = config.statement_timeout + config.connect_timeout;
        let client = connect_one(config).await?;
        let locked: bool = within(
            wait,
            client.query_one("SELECT pg_try_advisory_lock($1)", &[&COPY_LOCK]),
        )
        .await?
        .get(0);
        if !locked {
            return Err(StoreError::Backend(
                "another `pushgate store copy` is writing into this database".into(),
            ));
        }
        within(wait, known_schema_version(&client)).await?;
        Ok(Self {
            client,
            wait,
            statements: HashMap::new(),
        })
    }

    /// The progress recorded for each kind, in kind order; empty when no copy was begun here.
    pub async fn progress(&self) -> Result<Vec<KindProgress>, StoreError> {
        if self.existing(&["pushgate_copy_progress"]).await?.is_empty() {
            return Ok(Vec::new());
        }
        let rows = within(
            self.wait,
            self.client.query(
                "SELECT kind, source, after_key, copied, done FROM pushgate_copy_progress",
                &[],
            ),
        )
        .await?;
        let mut out = rows
            .iter()
            .map(|row| {
                let name: &str = row.get(0);
                let kind = Kind::from_name(name).ok_or_else(|| {
                    StoreError::Backend(format!(
                        "the copy into this database was begun by another pushgate version (it copies \
                         {name}, which this one does not know): finish it with that version, or start \
                         over with --restart"
                    ))
                })?;
                Ok(KindProgress {
                    kind,
                    source: row.get(1),
                    after_key: row.get(2),
                    copied: count_out(row.get(3)),
                    done: row.get(4),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        out.sort_by_key(|p| p.kind);
        Ok(out)
    }

    /// The tables of `names` that the database has (a schema of an older version lacks some).
    async fn existing(&self, names: &[&str]) -> Result<Vec<String>, StoreError> {
        let rows = within(
            self.wait,
            self.client.query(
                "SELECT name FROM unnest($1::text[]) AS name WHERE to_regclass(name) IS NOT NULL",
                &[&names],
            ),
        )
        .await?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    /// The kinds of which the database holds records.
    pub async fn occupied(&self) -> Result<Vec<Kind>, StoreError> {
        let names: Vec<&str> = Kind::ALL.iter().map(|k| table(*k).name).collect();
        let existing = self.existing(&names).await?;
        let mut out = Vec::new();
        for (kind, name) in Kind::ALL.iter().zip(names) {
            if !existing.iter().any(|e| e == name) {
                continue;
            }
            let sql = format!("SELECT EXISTS (SELECT 1 FROM {name})");
            let row = within(self.wait, self.client.query_one(&sql, &[])).await?;
            if row.get::<_, bool>(0) {
                out.push(*kind);
            }
        }
        Ok(out)
    }

    /// What a database that pushgate never migrated holds (its tables, views and sequences outside
    /// PostgreSQL's own schemas and extensions, by qualified name), which a copy must not write beside:
    /// empty when the database is pushgate's or holds nothing.
    pub async fn foreign_tables(&self) -> Result<Vec<String>, StoreError> {
        if within(self.wait, known_schema_version(&self.client))
            .await?
            .is_some()
        {
            return Ok(Vec::new());
        }
        let rows = within(
            self.wait,
            self.client.query(
                "SELECT format('%I.%I', n.nspname, c.relname)
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
                   AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
                   AND NOT EXISTS (
                       SELECT 1 FROM pg_depend d
                       WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
                 ORDER BY 1",
                &[],
            ),
        )
        .await?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    /// Brings the schema up to date and records that a copy from `source` begins (or goes on): a progress
    /// row for every kind that has none. The first change a copy makes to the database, once it has found
    /// it empty or holding its own earlier copy.
    pub async fn begin(&mut self, source: &str) -> Result<(), StoreError> {
        within(self.wait, migrate(&mut self.client)).await?;
        let names: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
        within(
            self.wait,
            self.client.execute(
                "INSERT INTO pushgate_copy_progress (kind, source)
                 SELECT unnest($1::text[]), $2
                 ON CONFLICT (kind) DO NOTHING",
                &[&names, &source],
            ),
        )
        .await?;
        Ok(())
    }

    /// Forgets an earlier copy, with every record of every kind a copy writes, in one transaction: what
    /// `--restart` does before it begins again.
    pub async fn clear(&mut self) -> Result<(), StoreError> {
        let tables: Vec<&str> = Kind::ALL.iter().map(|k| table(*k).name).collect();
        let wait = self.wait;
        let tx = within(wait, self.client.transaction()).await?;
        within(wait, tx.execute("DELETE FROM pushgate_copy_progress", &[])).await?;
        within(
            wait,
            tx.batch_execute(&format!("TRUNCATE {}", tables.join(", "))),
        )
        .await?;
        within(wait, tx.commit()).await?;
        Ok(())
    }

    /// Writes one batch of `kind`'s records and moves its progress past them, in one transaction:
    /// `last_key` is the source's key of the last one, `end` whether the kind ends with it.
    pub async fn import(
        &mut self,
        kind: Kind,
        records: &[Record],
        last_key: Option<&[u8]>,
        end: bool,
    ) -> Result<(), StoreError> {
        let t = table(kind);
        let mut columns: Vec<Column> = t
            .columns
            .iter()
            .map(|(_, of)| Column::new(*of, records.len()))
            .collect();
        for record in records {
            if record.kind() != kind {
                return Err(StoreError::Backend(format!(
                    "a {} record in a batch of {kind}",
                    record.kind()
                )));
            }
            for (column, value) in columns.iter_mut().zip(row(record)?) {
                column.push(value)?;
            }
        }
        let statement = match self.statements.get(&kind) {
            Some(statement) => statement.clone(),
            None => {
                let statement = within(self.wait, self.client.prepare(&upsert_sql(&t))).await?;
                self.statements.insert(kind, statement.clone());
                statement
            }
        };
        let copied = i64::try_from(records.len()).unwrap_or(i64::MAX);
        let wait = self.wait;
        let tx = within(wait, self.client.transaction()).await?;
        if !records.is_empty() {
            let params: Vec<&(dyn ToSql + Sync)> = columns.iter().map(Column::param).collect();
            within(wait, tx.execute(&statement, &params)).await?;
        }
        let moved = within(
            wait,
            tx.execute(
                "UPDATE pushgate_copy_progress
                 SET after_key = coalesce($2, after_key), copied = copied + $3, done = $4,
                     updated_at = now()
                 WHERE kind = $1",
                &[&kind.name(), &last_key, &copied, &end],
            ),
        )
        .await?;
        if moved != 1 {
            return Err(StoreError::Backend(format!(
                "no progress row for {kind}: the copy was not begun"
            )));
        }
        within(wait, tx.commit()).await?;
        Ok(())
    }

    /// Once every kind is copied: makes the numbers the database hands out continue above the copied
    /// ones (queue numbers, event and inbox positions), never lowering them.
    pub async fn finish(&mut self) -> Result<(), StoreError> {
        let wait = self.wait;
        let tx = within(wait, self.client.transaction()).await?;
        for (sequence, highest) in SEQUENCES {
            let sql = format!(
                "SELECT setval(s, greatest(m, coalesce(pg_sequence_last_value(s), 0)))
                 FROM (SELECT {sequence}::regclass AS s, ({highest}) AS m) AS copied
                 WHERE m > 0"
            );
            within(wait, tx.execute(&sql, &[])).await?;
        }
        within(wait, tx.commit()).await?;
        Ok(())
    }

    /// How many records of `kind` the database holds.
    pub async fn count(&self, kind: Kind) -> Result<u64, StoreError> {
        let sql = format!("SELECT count(*) FROM {}", table(kind).name);
        let row = within(self.wait, self.client.query_one(&sql, &[])).await?;
        Ok(count_out(row.get(0)))
    }
}
