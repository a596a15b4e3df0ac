//! Records as they are, apart from any backend's layout: what `pushgate store copy` reads out of one backend
//! (`sled/export.rs`) and writes into another (`postgres/import/`).
//!
//! A copy cannot go through the repositories' write methods: those assign positions, ids and times, check
//! limits and count members, where a copy must keep every one of them as it was (task checkpoints and
//! counts, label user counts, inbox positions a client resumes from, the outbox cursors' places in the
//! event log). A [`Record`] therefore carries every key part its backend keys it by beside the stored
//! record, and an importer writes it unchanged.
//!
//! Not everything a backend stores is a kind: its indexes are the target's own business (rebuilt from the
//! records by the target's indexes), and what is only of use to the running server is left behind; the
//! exporter says which of its own structures it leaves out and why (`sled/export.rs`, `NOT_COPIED`).

use crate::{
    proto::v1::{DeliveryEvent, FailedCallback, StoredMessage},
    store::{
        AckCountRecord, AppRecord, BindingRecord, CallbackRuleRecord, ChannelDeviceRecord,
        ConversationKey, InboxEntry, InboxReceipt, LabelRecord, LabelUserRecord,
        NotificationRecord, NotifierRecord, PauseRecord, PendingCallback, QueuedPush, TaskRecord,
        TemplateRecord, UserSettingsRecord,
    },
};

/// One kind of record, in the order a copy takes them. The names are stable: the target records a
/// copy's progress by them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Server-wide values (the admin token's hash).
    Meta,
    /// Apps.
    Apps,
    /// Notifiers.
    Notifiers,
    /// Callback rules.
    CallbackRules,
    /// Push templates.
    Templates,
    /// Stored push messages.
    Messages,
    /// Users' own settings.
    UserSettings,
    /// Users' conversation settings.
    ConversationSettings,
    /// Push labels.
    Labels,
    /// The users of push labels.
    LabelUsers,
    /// Device bindings.
    Bindings,
    /// Tasks, with their checkpoints and counts.
    Tasks,
    /// The users of list tasks.
    TaskUsers,
    /// Accepted asynchronous pushes not yet done.
    QueuedPushes,
    /// Delivery events, with their positions.
    Events,
    /// How far the retention has removed each app's events.
    EventHorizons,
    /// Each callback rule's place in the event log.
    OutboxCursors,
    /// Callback rules' pause state.
    OutboxPauses,
    /// Callbacks waiting to be retried.
    OutboxWaiting,
    /// Receivers with waiting callbacks, and when the first is due.
    OutboxReceivers,
    /// Callbacks given up on.
    FailedCallbacks,
    /// Own-channel inbox entries, with their positions.
    InboxEntries,
    /// How many entries each device's inbox holds.
    InboxCounts,
    /// Own-channel receipts, which acks are checked against.
    InboxReceipts,
    /// Devices that subscribed to the own channel as a user.
    ChannelDevices,
    /// Own-channel ack counters.
    AckCounts,
}

impl Kind {
    /// Every kind, in copy order.
    pub const ALL: &'static [Kind] = &[
        Kind::Meta,
        Kind::Apps,
        Kind::Notifiers,
        Kind::CallbackRules,
        Kind::Templates,
        Kind::Messages,
        Kind::UserSettings,
        Kind::ConversationSettings,
        Kind::Labels,
        Kind::LabelUsers,
        Kind::Bindings,
        Kind::Tasks,
        Kind::TaskUsers,
        Kind::QueuedPushes,
        Kind::Events,
        Kind::EventHorizons,
        Kind::OutboxCursors,
        Kind::OutboxPauses,
        Kind::OutboxWaiting,
        Kind::OutboxReceivers,
        Kind::FailedCallbacks,
        Kind::InboxEntries,
        Kind::InboxCounts,
        Kind::InboxReceipts,
        Kind::ChannelDevices,
        Kind::AckCounts,
    ];

    /// The kind's stable name (progress rows, messages).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Meta => "meta",
            Kind::Apps => "apps",
            Kind::Notifiers => "notifiers",
            Kind::CallbackRules => "callback_rules",
            Kind::Templates => "templates",
            Kind::Messages => "messages",
            Kind::UserSettings => "user_settings",
            Kind::ConversationSettings => "conversation_settings",
            Kind::Labels => "labels",
            Kind::LabelUsers => "label_users",
            Kind::Bindings => "bindings",
            Kind::Tasks => "tasks",
            Kind::TaskUsers => "task_users",
            Kind::QueuedPushes => "queued_pushes",
            Kind::Events => "events",
            Kind::EventHorizons => "event_horizons",
            Kind::OutboxCursors => "outbox_cursors",
            Kind::OutboxPauses => "outbox_pauses",
            Kind::OutboxWaiting => "outbox_waiting",
            Kind::OutboxReceivers => "outbox_receivers",
            Kind::FailedCallbacks => "failed_callbacks",
            Kind::InboxEntries => "inbox_entries",
            Kind::InboxCounts => "inbox_counts",
            Kind::InboxReceipts => "inbox_receipts",
            Kind::ChannelDevices => "channel_devices",
            Kind::AckCounts => "ack_counts",
        }
    }

    /// The kind named `name`.
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.iter().copied().find(|k| k.name() == name)
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One record with the keys its kind is stored under.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// A server-wide value.
    Meta {
        /// Its key.
        key: Vec<u8>,
        /// Its value.
        value: Vec<u8>,
    },
    /// An app (keyed by its name).
    App {
        /// The app's name.
        name: String,
        /// The record.
        record: AppRecord,
    },
    /// A notifier of an app.
    Notifier {
        /// The app.
        app: String,
        /// The notifier's name.
        name: String,
        /// The record.
        record: NotifierRecord,
    },
    /// A callback rule of an app.
    CallbackRule {
        /// The app.
        app: String,
        /// The rule's name.
        name: String,
        /// The record.
        record: CallbackRuleRecord,
    },
    /// A push template of an app.
    Template {
        /// The app.
        app: String,
        /// The template's name.
        name: String,
        /// The record.
        record: TemplateRecord,
    },
    /// A stored push message.
    Message {
        /// The app.
        app: String,
        /// The message's id.
        id: String,
        /// The message.
        record: StoredMessage,
    },
    /// A user's own settings.
    UserSettings {
        /// The app.
        app: String,
        /// The user.
        user: String,
        /// The record.
        record: UserSettingsRecord,
    },
    /// A user's setting for one conversation.
    ConversationSetting {
        /// The app.
        app: String,
        /// The user.
        user: String,
        /// The conversation.
        conversation: ConversationKey,
        /// The record.
        record: NotificationRecord,
    },
    /// A push label, with its user count.
    Label {
        /// The app.
        app: String,
        /// The label's name.
        name: String,
        /// The record.
        record: LabelRecord,
    },
    /// One user's membership of a label.
    LabelUser {
        /// The app.
        app: String,
        /// The label.
        label: String,
        /// The user.
        user: String,
        /// The record.
        record: LabelUserRecord,
    },
    /// A device binding.
    Binding {
        /// The app.
        app: String,
        /// The user.
        user: String,
        /// The device.
        device: String,
        /// The notifier.
        notifier: String,
        /// The record.
        record: BindingRecord,
    },
    /// A task, with its checkpoint and counts.
    Task {
        /// The app.
        app: String,
        /// The task's id.
        id: String,
        /// The record.
        record: TaskRecord,
    },
    /// One user of a list task.
    TaskUser {
        /// The app.
        app: String,
        /// The task's id.
        task: String,
        /// The user.
        user: String,
    },
    /// An accepted push not yet done. Its claim is not copied: the stopped server's claims end when the
    /// next server starts anyway, so the push is free for it to take.
    QueuedPush {
        /// The app.
        app: String,
        /// Its place in acceptance order, across apps.
        seq: u64,
        /// The record.
        record: QueuedPush,
    },
    /// A delivery event, at its position (in the record) in its app's log.
    Event {
        /// The app.
        app: String,
        /// The event.
        record: DeliveryEvent,
    },
    /// The highest position the retention removed from an app's log.
    EventHorizon {
        /// The app.
        app: String,
        /// The position.
        swept_through: u64,
    },
    /// A callback rule's place in its app's event log.
    OutboxCursor {
        /// The app.
        app: String,
        /// The rule.
        rule: String,
        /// The position through which the rule has handled the log.
        position: u64,
    },
    /// A callback rule's pause state.
    OutboxPause {
        /// The app.
        app: String,
        /// The rule.
        rule: String,
        /// The record.
        record: PauseRecord,
    },
    /// A callback waiting behind its receiver's earlier ones, or to be retried.
    OutboxWaiting {
        /// The app.
        app: String,
        /// The rule.
        rule: String,
        /// Its receiver (device, or `@user`).
        receiver: String,
        /// Its event's position.
        position: u64,
        /// The record.
        record: PendingCallback,
    },
    /// A receiver with waiting callbacks.
    OutboxReceiver {
        /// The app.
        app: String,
        /// The rule.
        rule: String,
        /// The receiver.
        receiver: String,
        /// When its first waiting callback is due (ms).
        due_ms: i64,
    },
    /// A callback given up on.
    FailedCallback {
        /// The app.
        app: String,
        /// Its event's position.
        position: u64,
        /// The rule.
        rule: String,
        /// The record.
        record: FailedCallback,
    },
    /// An entry of a device's own-channel inbox.
    InboxEntry {
        /// The app.
        app: String,
        /// The device.
        device: String,
        /// Its position in the device's stream.
        position: u64,
        /// The record.
        record: InboxEntry,
    },
    /// How many entries a device's inbox holds.
    InboxCount {
        /// The app.
        app: String,
        /// The device.
        device: String,
        /// The number of entries.
        entries: u64,
    },
    /// The receipt of one push to one device for one user.
    InboxReceipt {
        /// The app.
        app: String,
        /// The user.
        user: String,
        /// The device.
        device: String,
        /// The push's id.
        message_id: String,
        /// The record.
        record: InboxReceipt,
    },
    /// A device that subscribed as a user.
    ChannelDevice {
        /// The app.
        app: String,
        /// The user.
        user: String,
        /// The device.
        device: String,
        /// The record.
        record: ChannelDeviceRecord,
    },
    /// The ack counters of a message id or a task id.
    AckCount {
        /// The app.
        app: String,
        /// Whose counters.
        of: AckedBy,
        /// The message or task id.
        id: String,
        /// The record.
        record: AckCountRecord,
    },
}

/// Whose ack counters an [`Record::AckCount`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckedBy {
    /// A message id's.
    Message,
    /// A task id's.
    Task,
}

impl Record {
    /// The kind of the record.
    pub fn kind(&self) -> Kind {
        match self {
            Record::Meta { .. } => Kind::Meta,
            Record::App { .. } => Kind::Apps,
            Record::Notifier { .. } => Kind::Notifiers,
            Record::CallbackRule { .. } => Kind::CallbackRules,
            Record::Template { .. } => Kind::Templates,
            Record::Message { .. } => Kind::Messages,
            Record::UserSettings { .. } => Kind::UserSettings,
            Record::ConversationSetting { .. } => Kind::ConversationSettings,
            Record::Label { .. } => Kind::Labels,
            Record::LabelUser { .. } => Kind::LabelUsers,
            Record::Binding { .. } => Kind::Bindings,
            Record::Task { .. } => Kind::Tasks,
            Record::TaskUser { .. } => Kind::TaskUsers,
            Record::QueuedPush { .. } => Kind::QueuedPushes,
            Record::Event { .. } => Kind::Events,
            Record::EventHorizon { .. } => Kind::EventHorizons,
            Record::OutboxCursor { .. } => Kind::OutboxCursors,
            Record::OutboxPause { .. } => Kind::OutboxPauses,
            Record::OutboxWaiting { .. } => Kind::OutboxWaiting,
            Record::OutboxReceiver { .. } => Kind::OutboxReceivers,
            Record::FailedCallback { .. } => Kind::FailedCallbacks,
            Record::InboxEntry { .. } => Kind::InboxEntries,
            Record::InboxCount { .. } => Kind::InboxCounts,
            Record::InboxReceipt { .. } => Kind::InboxReceipts,
            Record::ChannelDevice { .. } => Kind::ChannelDevices,
            Record::AckCount { .. } => Kind::AckCounts,
        }
    }
}

/// A page of one kind's records, in the source's key order.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportPage {
    /// The records.
    pub records: Vec<Record>,
    /// The source's key of the last record taken: the next page starts after it. `None` when the page
    /// took nothing.
    pub last_key: Option<Vec<u8>>,
    /// Whether the kind has nothing after this page.
    pub end: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_round_trip() {
        let mut names: Vec<_> = Kind::ALL.iter().map(|k| k.name()).collect();
        for kind in Kind::ALL {
            assert_eq!(Kind::from_name(kind.name()), Some(*kind));
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Kind::ALL.len());
        assert_eq!(Kind::from_name("nothing"), None);
    }
}
