//! Writing [`Record`]s into PostgreSQL as they are, for `pushgate store copy`: the other half of
//! `sled/export.rs` (the copy itself is `store/copy.rs`).
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

use std::collections::HashMap;

use prost::Message;
use tokio_postgres::{Client, Statement, types::ToSql};

use super::{
    connect_one, events::timestamp_ms as event_time_ms, migrate, outbox::due_at,
    settings::kind_number, tasks::ended as task_ended,
};
use crate::store::{
    PostgresConfig, StoreError,
    portable::{AckedBy, Kind, Record},
};

/// Key of the session lock a copy holds on its target ("pgcopy"); neither the migrations' lock nor the
/// two-key app locks share it.
const COPY_LOCK: i64 = 0x7067_636f_7079;

/// The SQL type of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Type {
    Text,
    BigInt,
    Int,
    Bool,
    Bytes,
}

impl Type {
    fn sql(self) -> &'static str {
        match self {
            Type::Text => "text",
            Type::BigInt => "bigint",
            Type::Int => "integer",
            Type::Bool => "boolean",
            Type::Bytes => "bytea",
        }
    }
}

/// The table a kind is written to: its columns in order, the first `key` of them its primary key;
/// `identity` when the key is an identity column, which the copy writes as it was.
struct Table {
    name: &'static str,
    columns: &'static [(&'static str, Type)],
    key: usize,
    identity: bool,
}

/// Where each kind goes (the schema of `migrations/`).
fn table(kind: Kind) -> Table {
    use Type::*;
    let (name, columns, key): (_, &'static [(&'static str, Type)], _) = match kind {
        Kind::Meta => ("meta", &[("key", Bytes), ("value", Bytes)], 1),
        Kind::Apps => ("apps", &[("app", Text), ("record", Bytes)], 1),
        Kind::Notifiers => (
            "notifiers",
            &[
                ("app", Text),
                ("name", Text),
                ("vendor", Int),
                ("record", Bytes),
            ],
            2,
        ),
        Kind::CallbackRules => (
            "callback_rules",
            &[("app", Text), ("name", Text), ("record", Bytes)],
            2,
        ),
        Kind::Templates => (
            "templates",
            &[("app", Text), ("name", Text), ("record", Bytes)],
            2,
        ),
        Kind::Messages => (
            "messages",
            &[("app", Text), ("id", Text), ("record", Bytes)],
            2,
        ),
        Kind::UserSettings => (
            "user_settings",
            &[
                ("app", Text),
                ("user_id", Text),
                ("template", Text),
                ("record", Bytes),
            ],
            2,
        ),
        Kind::ConversationSettings => (
            "conversation_settings",
            &[
                ("app", Text),
                ("user_id", Text),
                ("kind", Int),
                ("conversation", Text),
                ("record", Bytes),
            ],
            4,
        ),
        Kind::Labels => (
            "labels",
            &[
                ("app", Text),
                ("name", Text),
                ("user_count", BigInt),
                ("record", Bytes),
            ],
            2,
        ),
        Kind::LabelUsers => (
            "label_users",
            &[
                ("app", Text),
                ("label", Text),
                ("user_id", Text),
                ("record", Bytes),
            ],
            3,
        ),
        Kind::Bindings => (
            "bindings",
            &[
                ("app", Text),
                ("user_id", Text),
                ("device_id", Text),
                ("notifier", Text),
                ("token", Text),
                ("record", Bytes),
            ],
            4,
        ),
        Kind::Tasks => (
            "tasks",
            &[
                ("app", Text),
                ("id", Text),
                ("kind", Int),
                ("ended", Bool),
                ("create_ms", BigInt),
                ("start_ms", BigInt),
                ("end_ms", BigInt),
                ("record", Bytes),
            ],
            2,
        ),
        Kind::TaskUsers => (
            "task_users",
            &[("app", Text), ("task", Text), ("user_id", Text)],
            3,
        ),
        // `holder` is left NULL: nobody holds a copied push (see `Record::QueuedPush`).
        Kind::QueuedPushes => (
            "push_queue",
            &[
                ("seq", BigInt),
                ("app", Text),
                ("until_ms", BigInt),
                ("record", Bytes),
            ],
            1,
        ),
        Kind::Events => (
            "events",
            &[
                ("app", Text),
                ("position", BigInt),
                ("recorded_ms", BigInt),
                ("record", Bytes),
            ],
            2,
        ),
        Kind::EventHorizons => (
            "event_heads",
            &[("app", Text), ("swept_through", BigInt)],
            1,
        ),
        Kind::OutboxCursors => (
            "outbox_cursors",
            &[("app", Text), ("rule", Text), ("position", BigInt)],
            2,
        ),
        Kind::OutboxPauses => (
            "outbox_pauses",
            &[("app", Text), ("rule", Text), ("record", Bytes)],
            2,
        ),
        Kind::OutboxWaiting => (
            "outbox_waiting",
            &[
                ("app", Text),
                ("rule", Text),
                ("receiver", Text),
                ("position", BigInt),
                ("record", Bytes),
            ],
            4,
        ),
        Kind::OutboxReceivers => (
            "outbox_receivers",
            &[
                ("app", Text),
                ("rule", Text),
                ("receiver", Text),
                ("due_ms", BigInt),
            ],
            3,
        ),
        Kind::FailedCallbacks => (
            "failed_callbacks",
            &[
                ("app", Text),
                ("position", BigInt),
                ("rule", Text),
                ("record", Bytes),
            ],
            3,
        ),
        Kind::InboxEntries => (
            "inbox_entries",
            &[
                ("app", Text),
                ("device_id", Text),
                ("position", BigInt),
                ("record", Bytes),
            ],
            3,
        ),
        Kind::InboxCounts => (
            "inbox_counts",
            &[("app", Text), ("device_id", Text), ("entries", BigInt)],
            2,
        ),
        Kind::InboxReceipts => (
            "inbox_receipts",
            &[
                ("app", Text),
                ("user_id", Text),
                ("device_id", Text),
                ("message_id", Text),
                ("position", BigInt),
                ("task_id", Text),
                ("purge_at_ms", BigInt),
                ("delivered", Bool),
                ("clicked", Bool),
            ],
            4,
        ),
        Kind::ChannelDevices => (
            "channel_devices",
            &[
                ("app", Text),
                ("user_id", Text),
                ("device_id", Text),
                ("first_subscribe_ms", BigInt),
                ("last_subscribe_ms", BigInt),
            ],
            3,
        ),
        Kind::AckCounts => (
            "ack_counts",
            &[
                ("app", Text),
                ("kind", Text),
                ("id", Text),
                ("delivered", BigInt),
                ("clicked", BigInt),
            ],
            3,
        ),
    };
    Table {
        name,
        columns,
        key,
        identity: kind == Kind::QueuedPushes,
    }
}

/// One value of a row.
enum Value {
    Text(String),
    BigInt(i64),
    Int(i32),
    Bool(bool),
    Bytes(Vec<u8>),
}

/// A number the traits hold as `u64` in a `bigint` column; one past `i64::MAX` cannot be stored.
fn bigint(what: &str, n: u64) -> Result<Value, StoreError> {
    i64::try_from(n)
        .map(Value::BigInt)
        .map_err(|_| StoreError::Backend(format!("{what} {n} exceeds a bigint")))
}

/// A record's row, in its table's column order.
fn row(record: &Record) -> Result<Vec<Value>, StoreError> {
    use Value::*;
    Ok(match record {
        Record::Meta { key, value } => vec![Bytes(key.clone()), Bytes(value.clone())],
        Record::App { name, record } => vec![Text(name.clone()), Bytes(record.encode_to_vec())],
        Record::Notifier { app, name, record } => vec![
            Text(app.clone()),
            Text(name.clone()),
            Int(record.vendor()),
            Bytes(record.encode_to_vec()),
        ],
        Record::CallbackRule { app, name, record } => vec![
            Text(app.clone()),
            Text(name.clone()),
            Bytes(record.encode_to_vec()),
        ],
        Record::Template { app, name, record } => vec![
            Text(app.clone()),
            Text(name.clone()),
            Bytes(record.encode_to_vec()),
        ],
        Record::Message { app, id, record } => vec![
            Text(app.clone()),
            Text(id.clone()),
            Bytes(record.encode_to_vec()),
        ],
        Record::UserSettings { app, user, record } => vec![
            Text(app.clone()),
            Text(user.clone()),
            // As `postgres/settings.rs` keeps it: the chosen template, which `push_profile` joins on.
            Text(record.template.clone()),
            Bytes(record.encode_to_vec()),
        ],
        Record::ConversationSetting {
            app,
            user,
            conversation,
            record,
        } => vec![
            Text(app.clone()),
            Text(user.clone()),
            Int(kind_number(conversation.kind)),
            Text(conversation.key.clone()),
            Bytes(record.encode_to_vec()),
        ],
        // The count as the label had it: the memberships come as they were, so it stays exact.
        Record::Label { app, name, record } => vec![
            Text(app.clone()),
            Text(name.clone()),
            bigint("label user count", record.user_count)?,
            Bytes(record.encode_to_vec()),
        ],
        Record::LabelUser {
            app,
            label,
            user,
            record,
        } => vec![
            Text(app.clone()),
            Text(label.clone()),
            Text(user.clone()),
            Bytes(record.encode_to_vec()),
        ],
        Record::Binding {
            app,
            user,
            device,
            notifier,
            record,
        } => vec![
            Text(app.clone()),
            Text(user.clone()),
            Text(device.clone()),
            Text(notifier.clone()),
            Text(record.device_token.clone()),
            Bytes(record.encode_to_vec()),
        ],
        // The columns `postgres/tasks.rs` selects by, from the record, as its own writes fill them.
        Record::Task { app, id, record } => vec![
            Text(app.clone()),
            Text(id.clone()),
            Int(record.kind),
            Bool(task_ended(record)),
            BigInt(record.create_ms),
            BigInt(record.start_ms),
            BigInt(record.end_ms),
            Bytes(record.encode_to_vec()),
        ],
        Record::TaskUser { app, task, user } => {
            vec![Text(app.clone()), Text(task.clone()), Text(user.clone())]
        }
        Record::QueuedPush { app, seq, record } => vec![
            bigint("queue number", *seq)?,
            Text(app.clone()),
            BigInt(0),
            Bytes(record.encode_to_vec()),
        ],
        // Dated as `postgres/events.rs` dates the events it appends, for the retention.
        Record::Event { app, record } => vec![
            Text(app.clone()),
            bigint("event position", record.position)?,
            BigInt(event_time_ms(record)),
            Bytes(record.encode_to_vec()),
        ],
        Record::EventHorizon { app, swept_through } => {
            vec![Text(app.clone()), bigint("event position", *swept_through)?]
        }
        Record::OutboxCursor {
            app,
            rule,
            position,
        } => vec![
            Text(app.clone()),
            Text(rule.clone()),
            bigint("event position", *position)?,
        ],
        Record::OutboxPause { app, rule, record } => vec![
            Text(app.clone()),
            Text(rule.clone()),
            Bytes(record.encode_to_vec()),
        ],
        Record::OutboxWaiting {
            app,
            rule,
            receiver,
            position,
            record,
        } => vec![
            Text(app.clone()),
            Text(rule.clone()),
            Text(receiver.clone()),
            bigint("event position", *position)?,
            Bytes(record.encode_to_vec()),
        ],
        Record::OutboxReceiver {
            app,
            rule,
            receiver,
            due_ms,
        } => vec![
            Text(app.clone()),
            Text(rule.clone()),
            Text(receiver.clone()),
            BigInt(due_at(*due_ms)),
        ],
        Record::FailedCallback {
            app,
            position,
            rule,
            record,
        } => vec![
            Text(app.clone()),
            bigint("event position", *position)?,
            Text(rule.clone()),
            Bytes(record.encode_to_vec()),
        ],
        Record::InboxEntry {
            app,
            device,
            position,
            record,
        } => vec![
            Text(app.clone()),
            Text(device.clone()),
            bigint("inbox position", *position)?,
            Bytes(record.encode_to_vec()),
        ],
        Record::InboxCount {
            app,
            device,
            entries,
        } => vec![
            Text(app.clone()),
            Text(device.clone()),
            bigint("inbox count", *entries)?,
        ],
        Record::InboxReceipt {
            app,
            user,
            device,
            message_id,
            record,
        } => vec![
            Text(app.clone()),
            Text(user.clone()),
            Text(device.clone()),
            Text(message_id.clone()),
            bigint("inbox position", record.position)?,
            Text(record.task_id.clone()),
            BigInt(record.purge_at_ms),
            Bool(record.delivered),
            Bool(record.clicked),
        ],
        Record::ChannelDevice {
            app,
            user,
            device,
            record,
        } => vec![
            Text(app.clone()),
            Text(user.clone()),
            Text(device.clone()),
            BigInt(record.first_subscribe_ms),
            BigInt(record.last_subscribe_ms),
        ],
        Record::AckCount {
            app,
            of,
            id,
            record,
        } => vec![
            Text(app.clone()),
            // As `postgres/inbox.rs` keys them.
            Text(
                match of {
                    AckedBy::Message => "m",
                    AckedBy::Task => "t",
                }
                .to_owned(),
            ),
            Text(id.clone()),
            bigint("ack count", record.delivered)?,
            bigint("ack count", record.clicked)?,
        ],
    })
}

/// One column of a batch, as the array its `unnest` reads.
enum Column {
    Text(Vec<String>),
    BigInt(Vec<i64>),
    Int(Vec<i32>),
    Bool(Vec<bool>),
    Bytes(Vec<Vec<u8>>),
}

impl Column {
    fn new(of: Type, capacity: usize) -> Self {
        match of {
            Type::Text => Column::Text(Vec::with_capacity(capacity)),
            Type::BigInt => Column::BigInt(Vec::with_capacity(capacity)),
            Type::Int => Column::Int(Vec::with_capacity(capacity)),
            Type::Bool => Column::Bool(Vec::with_capacity(capacity)),
            Type::Bytes => Column::Bytes(Vec::with_capacity(capacity)),
        }
    }

    fn push(&mut self, value: Value) -> Result<(), StoreError> {
        match (self, value) {
            (Column::Text(c), Value::Text(v)) => c.push(v),
            (Column::BigInt(c), Value::BigInt(v)) => c.push(v),
            (Column::Int(c), Value::Int(v)) => c.push(v),
            (Column::Bool(c), Value::Bool(v)) => c.push(v),
            (Column::Bytes(c), Value::Bytes(v)) => c.push(v),
            _ => {
                return Err(StoreError::Backend(
                    "a copied record's value does not fit its column's type".into(),
                ));
            }
        }
        Ok(())
    }

    fn param(&self) -> &(dyn ToSql + Sync) {
        match self {
            Column::Text(c) => c,
            Column::BigInt(c) => c,
            Column::Int(c) => c,
            Column::Bool(c) => c,
            Column::Bytes(c) => c,
        }
    }
}

/// The statement that writes a batch of `t`'s rows: every column an array, unnested together; a row
/// already there gets the new values (a table that is all key is left as it is).
fn upsert_sql(t: &Table) -> String {
    let names: Vec<&str> = t.columns.iter().map(|(name, _)| *name).collect();
    let arrays: Vec<String> = t
        .columns
        .iter()
        .enumerate()
        .map(|(i, (_, of))| format!("${}::{}[]", i + 1, of.sql()))
        .collect();
    let conflict = if t.key == names.len() {
        "DO NOTHING".to_owned()
    } else {
        let sets: Vec<String> = names[t.key..]
            .iter()
            .map(|name| format!("{name} = excluded.{name}"))
            .collect();
        format!("DO UPDATE SET {}", sets.join(", "))
    };
    format!(
        "INSERT INTO {} ({}){} SELECT * FROM unnest({}) ON CONFLICT ({}) {conflict}",
        t.name,
        names.join(", "),
        if t.identity {
            " OVERRIDING SYSTEM VALUE"
        } else {
            ""
        },
        arrays.join(", "),
        names[..t.key].join(", "),
    )
}

/// The sequences that number records, each with the highest number the copied records hold of it (NULL
/// when none): [`CopyTarget::finish`] sets each past its number.
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
    statements: HashMap<Kind, Statement>,
}

impl CopyTarget {
    /// Connects to the database `config` names, brings its schema up to date and takes the copy's lock;
    /// refused while another copy holds it.
    pub async fn connect(config: &PostgresConfig) -> Result<Self, StoreError> {
        let mut client = connect_one(config).await?;
        migrate(&mut client).await?;
        let locked: bool = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&COPY_LOCK])
            .await?
            .get(0);
        if !locked {
            return Err(StoreError::Backend(
                "another `pushgate store copy` is writing into this database".into(),
            ));
        }
        Ok(Self {
            client,
            statements: HashMap::new(),
        })
    }

    /// The progress recorded for each kind, in kind order; empty when no copy was begun here.
    pub async fn progress(&self) -> Result<Vec<KindProgress>, StoreError> {
        let rows = self
            .client
            .query(
                "SELECT kind, source, after_key, copied, done FROM pushgate_copy_progress",
                &[],
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

    /// The kinds of which the database holds records.
    pub async fn occupied(&self) -> Result<Vec<Kind>, StoreError> {
        let mut out = Vec::new();
        for kind in Kind::ALL {
            let sql = format!("SELECT EXISTS (SELECT 1 FROM {})", table(*kind).name);
            if self.client.query_one(&sql, &[]).await?.get::<_, bool>(0) {
                out.push(*kind);
            }
        }
        Ok(out)
    }

    /// Records that a copy from `source` begins (or goes on): a progress row for every kind that has none.
    pub async fn begin(&mut self, source: &str) -> Result<(), StoreError> {
        let names: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
        self.client
            .execute(
                "INSERT INTO pushgate_copy_progress (kind, source)
                 SELECT unnest($1::text[]), $2
                 ON CONFLICT (kind) DO NOTHING",
                &[&names, &source],
            )
            .await?;
        Ok(())
    }

    /// Forgets an earlier copy, with every record of every kind a copy writes, in one transaction: what
    /// `--restart` does before it begins again.
    pub async fn clear(&mut self) -> Result<(), StoreError> {
        let tables: Vec<&str> = Kind::ALL.iter().map(|k| table(*k).name).collect();
        let tx = self.client.transaction().await?;
        tx.execute("DELETE FROM pushgate_copy_progress", &[])
            .await?;
        tx.batch_execute(&format!("TRUNCATE {}", tables.join(", ")))
            .await?;
        tx.commit().await?;
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
                let statement = self.client.prepare(&upsert_sql(&t)).await?;
                self.statements.insert(kind, statement.clone());
                statement
            }
        };
        let copied = i64::try_from(records.len()).unwrap_or(i64::MAX);
        let tx = self.client.transaction().await?;
        if !records.is_empty() {
            let params: Vec<&(dyn ToSql + Sync)> = columns.iter().map(Column::param).collect();
            tx.execute(&statement, &params).await?;
        }
        let moved = tx
            .execute(
                "UPDATE pushgate_copy_progress
                 SET after_key = coalesce($2, after_key), copied = copied + $3, done = $4,
                     updated_at = now()
                 WHERE kind = $1",
                &[&kind.name(), &last_key, &copied, &end],
            )
            .await?;
        if moved != 1 {
            return Err(StoreError::Backend(format!(
                "no progress row for {kind}: the copy was not begun"
            )));
        }
        tx.commit().await?;
        Ok(())
    }

    /// Once every kind is copied: makes the numbers the database hands out continue above the copied
    /// ones (the push queue's numbers), never lowering them.
    pub async fn finish(&mut self) -> Result<(), StoreError> {
        let tx = self.client.transaction().await?;
        for (sequence, highest) in SEQUENCES {
            tx.execute(
                &format!(
                    "SELECT setval(s, greatest(m, coalesce(pg_sequence_last_value(s), 0)))
                     FROM (SELECT {sequence}::regclass AS s, ({highest}) AS m) AS copied
                     WHERE m IS NOT NULL"
                ),
                &[],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// How many records of `kind` the database holds.
    pub async fn count(&self, kind: Kind) -> Result<u64, StoreError> {
        let sql = format!("SELECT count(*) FROM {}", table(kind).name);
        Ok(count_out(self.client.query_one(&sql, &[]).await?.get(0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_fills_every_column_of_its_table_with_its_type() {
        use crate::store::{
            AppRecord, ChatKind, ConversationKey,
            portable::Record::{self, *},
        };
        let samples: Vec<Record> = vec![
            Meta {
                key: b"k".to_vec(),
                value: b"v".to_vec(),
            },
            App {
                name: "o#a".into(),
                record: AppRecord::default(),
            },
            Notifier {
                app: "o#a".into(),
                name: "n".into(),
                record: Default::default(),
            },
            CallbackRule {
                app: "o#a".into(),
                name: "r".into(),
                record: Default::default(),
            },
            Template {
                app: "o#a".into(),
                name: "t".into(),
                record: Default::default(),
            },
            Message {
                app: "o#a".into(),
                id: "m".into(),
                record: Default::default(),
            },
            UserSettings {
                app: "o#a".into(),
                user: "u".into(),
                record: Default::default(),
            },
            ConversationSetting {
                app: "o#a".into(),
                user: "u".into(),
                conversation: ConversationKey {
                    kind: ChatKind::User,
                    key: "v".into(),
                },
                record: Default::default(),
            },
            Label {
                app: "o#a".into(),
                name: "l".into(),
                record: Default::default(),
            },
            LabelUser {
                app: "o#a".into(),
                label: "l".into(),
                user: "u".into(),
                record: Default::default(),
            },
            Binding {
                app: "o#a".into(),
                user: "u".into(),
                device: "d".into(),
                notifier: "n".into(),
                record: Default::default(),
            },
            Task {
                app: "o#a".into(),
                id: "t".into(),
                record: Default::default(),
            },
            TaskUser {
                app: "o#a".into(),
                task: "t".into(),
                user: "u".into(),
            },
            QueuedPush {
                app: "o#a".into(),
                seq: 7,
                record: Default::default(),
            },
            Event {
                app: "o#a".into(),
                record: Default::default(),
            },
            EventHorizon {
                app: "o#a".into(),
                swept_through: 3,
            },
            OutboxCursor {
                app: "o#a".into(),
                rule: "r".into(),
                position: 3,
            },
            OutboxPause {
                app: "o#a".into(),
                rule: "r".into(),
                record: Default::default(),
            },
            OutboxWaiting {
                app: "o#a".into(),
                rule: "r".into(),
                receiver: "d".into(),
                position: 3,
                record: Default::default(),
            },
            OutboxReceiver {
                app: "o#a".into(),
                rule: "r".into(),
                receiver: "d".into(),
                due_ms: -5,
            },
            FailedCallback {
                app: "o#a".into(),
                position: 3,
                rule: "r".into(),
                record: Default::default(),
            },
            InboxEntry {
                app: "o#a".into(),
                device: "d".into(),
                position: 3,
                record: Default::default(),
            },
            InboxCount {
                app: "o#a".into(),
                device: "d".into(),
                entries: 1,
            },
            InboxReceipt {
                app: "o#a".into(),
                user: "u".into(),
                device: "d".into(),
                message_id: "m".into(),
                record: Default::default(),
            },
            ChannelDevice {
                app: "o#a".into(),
                user: "u".into(),
                device: "d".into(),
                record: Default::default(),
            },
            AckCount {
                app: "o#a".into(),
                of: AckedBy::Task,
                id: "t".into(),
                record: Default::default(),
            },
        ];
        let kinds: Vec<Kind> = samples.iter().map(Record::kind).collect();
        assert_eq!(kinds, Kind::ALL, "one sample per kind, in order");
        for sample in &samples {
            let t = table(sample.kind());
            let values = row(sample).unwrap();
            assert_eq!(values.len(), t.columns.len(), "{}", t.name);
            for ((name, of), value) in t.columns.iter().zip(values) {
                assert!(
                    Column::new(*of, 1).push(value).is_ok(),
                    "{}.{name} takes a {}",
                    t.name,
                    of.sql()
                );
            }
            assert!((1..=t.columns.len()).contains(&t.key));
        }
    }

    #[test]
    fn numbers_past_a_bigint_are_refused() {
        let push = Record::QueuedPush {
            app: "o#a".into(),
            seq: u64::MAX,
            record: Default::default(),
        };
        assert!(row(&push).is_err());
    }

    #[test]
    fn a_batch_is_one_upsert_that_keeps_the_key() {
        assert_eq!(
            upsert_sql(&table(Kind::Notifiers)),
            "INSERT INTO notifiers (app, name, vendor, record) \
             SELECT * FROM unnest($1::text[], $2::text[], $3::integer[], $4::bytea[]) \
             ON CONFLICT (app, name) DO UPDATE SET vendor = excluded.vendor, record = excluded.record"
        );
        assert_eq!(
            upsert_sql(&table(Kind::TaskUsers)),
            "INSERT INTO task_users (app, task, user_id) \
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) \
             ON CONFLICT (app, task, user_id) DO NOTHING"
        );
        assert!(upsert_sql(&table(Kind::QueuedPushes)).contains("OVERRIDING SYSTEM VALUE SELECT"));
    }
}
