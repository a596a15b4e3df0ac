//! [`AppRepository`](crate::store::AppRepository): apps are unique by name, listed in name order, and deleted
//! with everything they own.

use crate::{
    proto::v1::{DeliveryEvent, Notifier, StoredMessage},
    store::{
        Admission, AppRecord, Begun, BindingRecord, CallbackRuleRecord, IdempotentAnswer,
        InboxEntry, LabelRecord, NotifierRecord, QueueClaim, QueueKey, QueuedPush, Store,
        StoreError, TaskLimits, TaskRecord, TemplateRecord,
    },
};

fn rule(name: &str) -> CallbackRuleRecord {
    CallbackRuleRecord {
        name: name.into(),
        url: "http://x".into(),
        ..Default::default()
    }
}

fn app(name: &str) -> AppRecord {
    AppRecord {
        name: name.into(),
        ..Default::default()
    }
}

fn names(apps: &[AppRecord]) -> Vec<&str> {
    apps.iter().map(|a| a.name.as_str()).collect()
}

async fn apps_are_isolated_and_deleted_whole(s: Store) {
    s.apps.create_app(app("o#a")).await.unwrap();
    s.apps.create_app(app("o#ab")).await.unwrap();
    assert!(matches!(
        s.apps.create_app(app("o#a")).await,
        Err(StoreError::AlreadyExists(_))
    ));
    s.callback_rules
        .put_rule("o#a", rule("r"), 4)
        .await
        .unwrap();
    s.callback_rules
        .put_rule("o#ab", rule("r"), 4)
        .await
        .unwrap();
    s.callback_rules
        .put_rule("o#ab", rule("s"), 4)
        .await
        .unwrap();
    assert_eq!(s.callback_rules.list_rules("o#a").await.unwrap().len(), 1);
    assert_eq!(s.callback_rules.list_rules("o#ab").await.unwrap().len(), 2);
    assert_eq!(s.apps.delete_app("o#a").await.unwrap(), 2);
    assert_eq!(s.callback_rules.list_rules("o#ab").await.unwrap().len(), 2);
    assert!(s.apps.get_app("o#a").await.unwrap().is_none());
    let listed = s.apps.list_apps(None, 10).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, "o#ab");
}

async fn update_of_missing_app_is_not_found(s: Store) {
    assert!(matches!(
        s.apps.update_app(app("o#x")).await,
        Err(StoreError::NotFound(_))
    ));
}

/// An app reads back as it was created, and an update replaces the whole record.
async fn apps_read_back_and_update_in_place(s: Store) {
    let created = AppRecord {
        name: "o#a".into(),
        client_id: "client".into(),
        secret_hash: vec![1, 2, 3],
        secret_id: 7,
        create_time_ms: 10,
        secret_time_ms: 10,
        time_zone: "Europe/Berlin".into(),
    };
    s.apps.create_app(created.clone()).await.unwrap();
    assert_eq!(s.apps.get_app("o#a").await.unwrap(), Some(created.clone()));

    let rotated = AppRecord {
        secret_hash: vec![4, 5, 6],
        secret_id: 8,
        secret_time_ms: 20,
        time_zone: String::new(),
        ..created
    };
    s.apps.update_app(rotated.clone()).await.unwrap();
    assert_eq!(s.apps.get_app("o#a").await.unwrap(), Some(rotated));
    assert_eq!(names(&s.apps.list_apps(None, 10).await.unwrap()), ["o#a"]);
    // An update of a missing app creates nothing.
    assert!(s.apps.update_app(app("o#x")).await.is_err());
    assert!(s.apps.get_app("o#x").await.unwrap().is_none());
}

/// `list_apps` pages in name order: at most `limit`, strictly after `after` (which need not exist).
async fn apps_are_listed_in_name_order_and_paged(s: Store) {
    for name in ["o#c", "o#a", "p#a", "o#b"] {
        s.apps.create_app(app(name)).await.unwrap();
    }
    let all = s.apps.list_apps(None, 10).await.unwrap();
    assert_eq!(names(&all), ["o#a", "o#b", "o#c", "p#a"]);
    let first = s.apps.list_apps(None, 2).await.unwrap();
    assert_eq!(names(&first), ["o#a", "o#b"]);
    let next = s.apps.list_apps(Some("o#b"), 2).await.unwrap();
    assert_eq!(names(&next), ["o#c", "p#a"]);
    let between = s.apps.list_apps(Some("o#bb"), 10).await.unwrap();
    assert_eq!(names(&between), ["o#c", "p#a"]);
    assert!(s.apps.list_apps(Some("p#a"), 10).await.unwrap().is_empty());
    assert!(s.apps.list_apps(None, 0).await.unwrap().is_empty());
}

/// Deleting an app removes every record it owns through every repository, and nothing of another app, even
/// one whose name extends it.
async fn deleting_an_app_removes_what_it_owns_everywhere(s: Store) {
    let queued_a = fill_app(&s, "o#a").await;
    let queued_ab = fill_app(&s, "o#ab").await;
    let removed = s.apps.delete_app("o#a").await.unwrap();
    assert!(removed > 0);
    assert_eq!(
        s.apps.delete_app("o#a").await.unwrap(),
        0,
        "nothing is left"
    );
    assert_app_is_empty(&s, "o#a", &queued_a).await;
    assert_app_is_full(&s, "o#ab", &queued_ab).await;
}

/// One record of every kind for `app`; returns the key of its queued push.
async fn fill_app(s: &Store, app: &str) -> QueueKey {
    s.apps.create_app(self::app(app)).await.unwrap();
    s.callback_rules.put_rule(app, rule("r"), 4).await.unwrap();
    s.labels
        .create_label(
            app,
            LabelRecord {
                name: "l".into(),
                ..Default::default()
            },
            4,
        )
        .await
        .unwrap();
    s.labels
        .add_label_users(app, "l", &["u".into()], 1, 4)
        .await
        .unwrap();
    let notifier = NotifierRecord {
        public: Some(Notifier {
            name: "n".into(),
            vendor: 1,
            ..Default::default()
        }),
        sealed_credentials: vec![1],
    };
    s.notifiers.create_notifier(app, notifier, 4).await.unwrap();
    let binding = BindingRecord {
        user: "u".into(),
        device_id: "d".into(),
        device_token: "t".into(),
        notifier_name: "n".into(),
        ..Default::default()
    };
    s.bindings.bind(app, binding, 4).await.unwrap();
    s.user_settings
        .update_user_settings(app, "u", &|r| r.nickname = "N".into())
        .await
        .unwrap();
    s.templates
        .create_template(
            app,
            TemplateRecord {
                name: "t".into(),
                ..Default::default()
            },
            4,
        )
        .await
        .unwrap();
    let message = StoredMessage {
        id: "m".into(),
        ..Default::default()
    };
    s.messages.put_message(app, &message).await.unwrap();
    let answer = IdempotentAnswer {
        response: vec![1],
        expire_ms: i64::MAX,
    };
    s.idempotency
        .begin_idempotent(app, "Send", "r", 0, 10)
        .await
        .unwrap();
    s.idempotency
        .finish_idempotent(app, "Send", "r", &answer)
        .await
        .unwrap();
    let task = TaskRecord {
        id: "t".into(),
        state: 1,
        ..Default::default()
    };
    let limits = TaskLimits {
        now_ms: 0,
        window_ms: 0,
        max_broadcasts: 10,
        max_running: 10,
    };
    let admitted = s
        .tasks
        .admit_task(app, &limits, &task, &["u".into()], None)
        .await
        .unwrap();
    assert_eq!(admitted, Admission::Admitted);
    s.events
        .append_events(app, vec![DeliveryEvent::default()])
        .await
        .unwrap();
    s.outbox.set_cursor(app, "r", 1).await.unwrap();
    let entry = InboxEntry {
        user: "u".into(),
        device_id: "d".into(),
        message_id: "m".into(),
        purge_at_ms: i64::MAX / 2,
        ..Default::default()
    };
    s.inbox.append(app, &entry, 10).await.unwrap();
    s.inbox
        .record_channel_device(app, "u", "d", 1)
        .await
        .unwrap();
    let queued = QueuedPush {
        app: app.into(),
        user: "u".into(),
        ..Default::default()
    };
    let holder = QueueClaim {
        holder: "p".into(),
        until_ms: 10,
    };
    s.push_queue
        .enqueue(&[queued], &holder)
        .await
        .unwrap()
        .remove(0)
}

async fn assert_app_is_empty(s: &Store, app: &str, queued: &QueueKey) {
    assert!(s.apps.get_app(app).await.unwrap().is_none());
    assert!(s.callback_rules.list_rules(app).await.unwrap().is_empty());
    assert!(
        s.callback_rules
            .all_rules()
            .await
            .unwrap()
            .iter()
            .all(|(a, _)| a != app)
    );
    assert!(s.labels.get_label(app, "l").await.unwrap().is_none());
    assert!(!s.labels.has_user(app, "u").await.unwrap());
    assert!(s.notifiers.get_notifier(app, "n").await.unwrap().is_none());
    assert!(!s.bindings.has_bindings(app, "u").await.unwrap());
    assert!(
        s.bindings
            .app_users(app, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(!s.user_settings.has_user(app, "u").await.unwrap());
    assert!(s.templates.get_template(app, "t").await.unwrap().is_none());
    assert!(s.messages.get_message(app, "m").await.unwrap().is_none());
    assert!(s.push_queue.queued_push(queued).await.unwrap().is_none());
    assert_eq!(
        s.idempotency
            .begin_idempotent(app, "Send", "r", 0, 10)
            .await
            .unwrap(),
        Begun::Claimed
    );
    assert!(s.tasks.get_task(app, "t").await.unwrap().is_none());
    assert!(
        s.tasks
            .list_task_users(app, "t", None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        s.tasks
            .open_tasks()
            .await
            .unwrap()
            .iter()
            .all(|(a, _)| a != app)
    );
    assert!(s.events.events_after(app, 0, 10).await.unwrap().is_empty());
    assert_eq!(s.outbox.cursor(app, "r").await.unwrap(), None);
    assert!(
        s.inbox
            .inbox_page(app, "d", 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(!s.inbox.has_channel_devices(app, "u").await.unwrap());
}

async fn assert_app_is_full(s: &Store, app: &str, queued: &QueueKey) {
    assert!(s.apps.get_app(app).await.unwrap().is_some());
    assert_eq!(s.callback_rules.list_rules(app).await.unwrap().len(), 1);
    assert_eq!(
        s.labels
            .get_label(app, "l")
            .await
            .unwrap()
            .unwrap()
            .user_count,
        1
    );
    assert!(s.notifiers.get_notifier(app, "n").await.unwrap().is_some());
    assert!(s.bindings.has_bindings(app, "u").await.unwrap());
    assert!(s.user_settings.has_user(app, "u").await.unwrap());
    assert!(s.templates.get_template(app, "t").await.unwrap().is_some());
    assert!(s.messages.get_message(app, "m").await.unwrap().is_some());
    assert!(matches!(
        s.idempotency
            .begin_idempotent(app, "Send", "r", 0, 10)
            .await
            .unwrap(),
        Begun::Answered(_)
    ));
    assert!(s.push_queue.queued_push(queued).await.unwrap().is_some());
    assert!(s.tasks.get_task(app, "t").await.unwrap().is_some());
    assert_eq!(
        s.tasks.list_task_users(app, "t", None, 10).await.unwrap(),
        ["u"]
    );
    assert_eq!(s.events.events_after(app, 0, 10).await.unwrap().len(), 1);
    assert_eq!(s.outbox.cursor(app, "r").await.unwrap(), Some(1));
    assert_eq!(s.inbox.inbox_page(app, "d", 0, 10).await.unwrap().len(), 1);
    assert!(s.inbox.has_channel_devices(app, "u").await.unwrap());
}

conformance_tests! {
    apps_are_isolated_and_deleted_whole,
    update_of_missing_app_is_not_found,
    apps_read_back_and_update_in_place,
    apps_are_listed_in_name_order_and_paged,
    deleting_an_app_removes_what_it_owns_everywhere,
}
