//! The per-kind descriptions agree with each other without a database: every kind's row fills its table's
//! columns with their types, numbers past a bigint are refused, and a batch is the upsert it should be. What
//! a copy writes is checked against a real database in `store/copy/`.

use super::*;
use crate::store::portable::AckedBy;

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
