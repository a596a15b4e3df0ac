//! Some of every kind written through a store's repositories, as a server would have: what a copy must carry
//! over, and what `view.rs` reads back on either side.

use super::{APPS, FAR, ROOMY, user};
use crate::{
    clock::timestamp,
    proto::v1::{
        DeliveryEvent, FailedCallback, Notifier, PushMessage, StoredMessage, TaskKind, TaskState,
    },
    store::{
        AppRecord, BindingRecord, CallbackRuleRecord, ChatKind, ConversationKey, InboxEntry,
        LabelRecord, NotificationRecord, NotifierRecord, PauseRecord, PendingCallback, QueueClaim,
        QueuedPush, Store, TaskRecord, TemplateRecord, meta::ADMIN_TOKEN_HASH, outbox::failed_id,
    },
};

/// Writes some of every kind into `s` through its repositories: `users` users per app with bindings,
/// settings and label memberships, and an app's worth of everything else.
pub(super) async fn populate(s: &Store, users: usize) {
    s.meta
        .put_meta(ADMIN_TOKEN_HASH, vec![7; 32])
        .await
        .unwrap();
    for (i, app) in APPS.iter().enumerate() {
        s.apps
            .create_app(AppRecord {
                name: (*app).into(),
                client_id: format!("client-{i}"),
                secret_hash: vec![1, 2, 3],
                secret_id: 42 + i as u64,
                create_time_ms: 1_000,
                secret_time_ms: 2_000,
                time_zone: "Asia/Shanghai".into(),
            })
            .await
            .unwrap();
        for name in ["apns", "fcm"] {
            s.notifiers
                .create_notifier(
                    app,
                    NotifierRecord {
                        public: Some(Notifier {
                            name: name.into(),
                            vendor: if name == "apns" { 1 } else { 2 },
                            ..Default::default()
                        }),
                        sealed_credentials: vec![9; 16],
                    },
                    10,
                )
                .await
                .unwrap();
        }
        s.callback_rules
            .put_rule(
                app,
                CallbackRuleRecord {
                    name: "hook".into(),
                    url: "https://example.com/hook".into(),
                    enabled: true,
                    statuses: vec![1, 2],
                    create_time_ms: 5,
                    update_time_ms: 6,
                    sealed_secret: vec![4; 8],
                    ..Default::default()
                },
                10,
            )
            .await
            .unwrap();
        s.templates
            .create_template(
                app,
                TemplateRecord {
                    name: "t1".into(),
                    title_pattern: "{0} says".into(),
                    content_pattern: "{1}".into(),
                    create_time_ms: 7,
                    update_time_ms: 8,
                },
                10,
            )
            .await
            .unwrap();
        s.messages
            .put_message(
                app,
                &StoredMessage {
                    id: "m1".into(),
                    message: Some(PushMessage {
                        title: "Hello".into(),
                        content: "there".into(),
                        ..Default::default()
                    }),
                    create_time: Some(timestamp(9_000)),
                },
            )
            .await
            .unwrap();
        for name in ["l1", "l2"] {
            s.labels
                .create_label(
                    app,
                    LabelRecord {
                        name: name.into(),
                        description: format!("label {name}"),
                        create_time_ms: 10,
                        user_count: 0,
                    },
                    10,
                )
                .await
                .unwrap();
        }
        let everyone: Vec<String> = (0..users).map(user).collect();
        s.labels
            .add_label_users(app, "l1", &everyone, 11, 100_000)
            .await
            .unwrap();
        s.labels
            .add_label_users(app, "l2", &everyone[..users / 2], 12, 100_000)
            .await
            .unwrap();
        for (n, who) in everyone.iter().enumerate() {
            s.bindings
                .bind(
                    app,
                    BindingRecord {
                        user: who.clone(),
                        device_id: format!("d{n:03}"),
                        device_token: format!("token-{app}-{n}"),
                        notifier_name: if n % 2 == 0 { "apns" } else { "fcm" }.into(),
                        vendor: if n % 2 == 0 { 1 } else { 2 },
                        create_time_ms: 13 + n as i64,
                        update_time_ms: 14 + n as i64,
                    },
                    10,
                )
                .await
                .unwrap();
            s.user_settings
                .update_user_settings(app, who, &|r| {
                    r.nickname = "nick".into();
                    r.template = "t1".into();
                    r.update_time_ms = 15;
                })
                .await
                .unwrap();
        }
        for kind in [ChatKind::User, ChatKind::Group] {
            s.user_settings
                .update_conversation_setting(
                    app,
                    &user(0),
                    &ConversationKey {
                        kind,
                        key: "peer".into(),
                    },
                    0,
                    &|r: &mut NotificationRecord| {
                        r.notification_type = 2;
                        r.ignore_until_ms = 99_000;
                    },
                )
                .await
                .unwrap();
        }
        // A finished list task, with its checkpoint and counts, and a scheduled one.
        let finished = TaskRecord {
            id: "t-finished".into(),
            kind: TaskKind::List as i32,
            state: TaskState::Running as i32,
            message_id: "m1".into(),
            list_size: 3,
            create_ms: 20,
            start_ms: 21,
            ..Default::default()
        };
        s.tasks
            .admit_task(app, &ROOMY, &finished, &everyone[..users.min(3)], None)
            .await
            .unwrap();
        s.tasks
            .update_task(app, "t-finished", &|t| {
                let mut t = t.clone();
                t.state = TaskState::Completed as i32;
                t.run_ms = 22;
                t.end_ms = 23;
                t.checkpoint = user(2);
                t.started_fan_out = true;
                t.users_total = 3;
                t.users_done = 3;
                t.counts.insert("s:1".into(), 2);
                t.counts.insert("s:2".into(), 1);
                Some(t)
            })
            .await
            .unwrap();
        let scheduled = TaskRecord {
            id: "t-scheduled".into(),
            kind: TaskKind::Label as i32,
            state: TaskState::Scheduled as i32,
            message_id: "m1".into(),
            labels: vec!["l1".into()],
            create_ms: 24,
            start_ms: 4_000_000_000_000,
            ..Default::default()
        };
        s.tasks
            .admit_task(app, &ROOMY, &scheduled, &[], None)
            .await
            .unwrap();
        let queued: Vec<QueuedPush> = (0..3)
            .map(|n| QueuedPush {
                app: (*app).into(),
                user: user(n),
                message_id: format!("q{n}"),
                strategy: 2,
                message: Some(PushMessage::default()),
                accepted_ms: 30 + n as i64,
            })
            .collect();
        // The event log: an old append, swept by the retention (which leaves its horizon), then a recent
        // one, whose callbacks rule "hook" has handled: two of device d000 and one of user u001 waiting,
        // d000's first then given up on (failed), and the rule paused.
        let event = |n: usize, at_ms: i64, device: &str| DeliveryEvent {
            target: user(n),
            device_id: device.into(),
            msg_id: "m1".into(),
            data: format!("event {n}"),
            timestamp: Some(timestamp(at_ms)),
            ..Default::default()
        };
        s.events
            .append_events(app, vec![event(0, 1_000, "d000"), event(1, 1_000, "d001")])
            .await
            .unwrap();
        s.events.sweep_events(500_000, 100).await.unwrap();
        let recent = s
            .events
            .append_events(
                app,
                vec![
                    event(0, 1_000_000_000, "d000"),
                    event(0, 1_000_000_001, "d000"),
                    event(1, 1_000_000_002, ""),
                ],
            )
            .await
            .unwrap();
        let waiting = |e: &DeliveryEvent, next_attempt_ms: i64| PendingCallback {
            event: Some(e.clone()),
            attempts: 1,
            first_attempt_ms: 5,
            last_attempt_ms: 6,
            last_http_status: 503,
            last_error: "unavailable".into(),
            budget_from_ms: 4,
            next_attempt_ms,
        };
        s.outbox
            .advance(
                app,
                "hook",
                recent[2].position,
                vec![
                    waiting(&recent[0], 100),
                    waiting(&recent[1], 200),
                    waiting(&recent[2], 300),
                ],
            )
            .await
            .unwrap();
        s.outbox
            .settle(
                app,
                "hook",
                &waiting(&recent[0], 100),
                Some(FailedCallback {
                    id: failed_id("hook", recent[0].position),
                    rule_name: "hook".into(),
                    event: Some(recent[0].clone()),
                    attempts: 3,
                    last_http_status: 503,
                    last_error: "unavailable".into(),
                    ..Default::default()
                }),
                150,
            )
            .await
            .unwrap();
        s.outbox
            .set_pause(
                app,
                "hook",
                PauseRecord {
                    paused_until_ms: 7_000,
                    pause_starts_ms: vec![1_000, 2_000],
                },
            )
            .await
            .unwrap();
        // The own channel: three pushes in d000's inbox for u000, the first acked (clicked), which
        // leaves its receipt and counts it for its message and its task; d000 subscribed as u000.
        for n in 0..3 {
            s.inbox
                .append(
                    app,
                    &InboxEntry {
                        user: user(0),
                        device_id: "d000".into(),
                        message_id: format!("p{n}"),
                        message: Some(PushMessage {
                            title: format!("push {n}"),
                            ..Default::default()
                        }),
                        send_time_ms: 40 + n as i64,
                        expire_ms: Some(FAR),
                        purge_at_ms: FAR,
                        task_id: if n == 0 {
                            "t-finished".into()
                        } else {
                            String::new()
                        },
                        position: 0,
                    },
                    10,
                )
                .await
                .unwrap();
        }
        s.inbox
            .ack(app, &user(0), "d000", &["p0".into()], true, 50)
            .await
            .unwrap();
        s.inbox
            .record_channel_device(app, &user(0), "d000", 60)
            .await
            .unwrap();
        s.push_queue
            .enqueue(
                &queued,
                &QueueClaim {
                    holder: "old-server".into(),
                    until_ms: i64::MAX,
                },
            )
            .await
            .unwrap();
    }
}
