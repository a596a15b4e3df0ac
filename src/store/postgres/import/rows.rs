//! A record as the values of its table's row, in the column order of `tables.rs`: the key parts it was
//! stored under, the columns the repositories read it by (filled as each repository's own writes fill them),
//! and the prost message the repositories store.

use prost::Message;

use super::super::{
    events::timestamp_ms as event_time_ms, outbox::due_at, settings::kind_number,
    tasks::ended as task_ended,
};
use crate::store::{
    StoreError,
    portable::{AckedBy, Record},
};

/// One value of a row.
pub(super) enum Value {
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
pub(super) fn row(record: &Record) -> Result<Vec<Value>, StoreError> {
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
