//! Where each kind of record goes in PostgreSQL: its table, the columns in the order a row fills them, their
//! SQL types, and how many of them make the primary key. One description per kind, read by the upsert
//! (`upsert.rs`), the counts and the clearing of a copy (`mod.rs`); the schema itself is `migrations/`.

use crate::store::portable::Kind;

/// The SQL type of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Type {
    Text,
    BigInt,
    Int,
    Bool,
    Bytes,
}

impl Type {
    pub(super) fn sql(self) -> &'static str {
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
pub(super) struct Table {
    pub(super) name: &'static str,
    pub(super) columns: &'static [(&'static str, Type)],
    pub(super) key: usize,
    pub(super) identity: bool,
}

/// Where each kind goes (the schema of `migrations/`).
pub(super) fn table(kind: Kind) -> Table {
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
