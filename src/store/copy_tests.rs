//! `store::copy` end to end, from a sled store to a throwaway PostgreSQL database: what each backend answers
//! through the repositories is the same after a copy (and after an interrupted one resumed), and a copy
//! refuses what it cannot do right.

use std::{sync::Arc, time::Duration};

use prost::Message;

use super::{
    AckSubject, AppRecord, Backend, BindingRecord, CallbackRuleRecord, ChatKind, ConversationKey,
    InboxEntry, LabelRecord, NotificationRecord, NotifierRecord, PauseRecord, PendingCallback,
    PostgresConfig, QueueClaim, QueuedPush, SledStore, Store, StoreConfig, TaskLimits, TaskRecord,
    TemplateRecord,
    conformance::postgres_database,
    copy::{CopyError, CopyOptions, copy},
    meta::ADMIN_TOKEN_HASH,
    outbox::failed_id,
    portable::Kind,
    postgres::CopyTarget,
};
use crate::{
    clock::timestamp,
    proto::v1::{
        DeliveryEvent, FailedCallback, Notifier, PushMessage, StoredMessage, TaskKind, TaskState,
    },
};

const APPS: [&str; 2] = ["o#a", "o#b"];

/// A time far ahead (ms), for what must not expire during a test.
const FAR: i64 = 9_000_000_000_000;

const ROOMY: TaskLimits = TaskLimits {
    now_ms: 0,
    window_ms: 0,
    max_broadcasts: usize::MAX,
    max_running: usize::MAX,
};

fn user(n: usize) -> String {
    format!("u{n:03}")
}

/// Writes some of every kind into `s` through its repositories: `users` users per app with bindings,
/// settings and label memberships, and an app's worth of everything else.
async fn populate(s: &Store, users: usize) {
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

/// Everything the repositories answer about what [`populate`] wrote, as text; cursors and queue keys, which
/// are each backend's own, left out.
async fn view(s: &Store, users: usize) -> Vec<String> {
    let mut out = vec![
        format!("{:?}", s.apps.list_apps(None, 100).await.unwrap()),
        format!("{:?}", s.meta.get_meta(ADMIN_TOKEN_HASH).await.unwrap()),
        format!("{:?}", s.callback_rules.all_rules().await.unwrap()),
        format!("{:?}", s.tasks.open_tasks().await.unwrap()),
    ];
    for app in APPS {
        out.push(format!(
            "{:?}",
            s.notifiers.list_notifiers(app, None, 100, 0).await.unwrap()
        ));
        out.push(format!(
            "{:?}",
            s.templates.get_template(app, "t1").await.unwrap()
        ));
        out.push(format!(
            "{:?}",
            s.messages.get_message(app, "m1").await.unwrap()
        ));
        out.push(format!(
            "{:?}",
            s.labels.list_labels(app, None, 100).await.unwrap()
        ));
        for label in ["l1", "l2"] {
            out.push(format!(
                "{:?}",
                s.labels
                    .list_label_users(app, label, None, 100_000)
                    .await
                    .unwrap()
            ));
        }
        out.push(format!(
            "{:?}",
            s.labels
                .users_of_labels(app, &["l1".into(), "l2".into()], None, 100_000)
                .await
                .unwrap()
        ));
        let (bindings, more) = s.bindings.app_bindings(app, None, 100_000).await.unwrap();
        out.push(format!("{bindings:?} {}", more.is_some()));
        let (bindings, _) = s
            .bindings
            .notifier_bindings(app, "fcm", None, 100_000)
            .await
            .unwrap();
        out.push(format!("{bindings:?}"));
        out.push(format!(
            "{:?}",
            s.bindings.app_users(app, None, 100_000).await.unwrap()
        ));
        for n in 0..users {
            let who = user(n);
            out.push(format!(
                "{:?} {:?}",
                s.user_settings.get_user_settings(app, &who).await.unwrap(),
                s.labels.labels_of_user(app, &who).await.unwrap(),
            ));
        }
        let peer = ConversationKey {
            kind: ChatKind::Group,
            key: "peer".into(),
        };
        out.push(format!(
            "{:?}",
            s.user_settings
                .push_profile(app, &user(0), Some(&peer))
                .await
                .unwrap()
        ));
        out.push(format!(
            "{:?}",
            s.tasks.list_tasks(app, None, 100).await.unwrap()
        ));
        out.push(format!(
            "{:?}",
            s.tasks
                .list_task_users(app, "t-finished", None, 100)
                .await
                .unwrap()
        ));
    }
    for app in APPS {
        let e = &s.events;
        out.push(format!(
            "{:?} {:?} {:?} {:?}",
            e.events_after(app, 0, 100).await.unwrap(),
            e.first_event_position(app).await.unwrap(),
            e.last_event_position(app).await.unwrap(),
            e.swept_through(app).await.unwrap(),
        ));
        let o = &s.outbox;
        out.push(format!(
            "{:?} {} {} {} {:?} {:?} {:?} {:?}",
            o.cursor(app, "hook").await.unwrap(),
            o.waiting_count(app, "hook").await.unwrap(),
            o.is_held(app, "hook", "d000").await.unwrap(),
            o.is_held(app, "hook", "@u001").await.unwrap(),
            o.due(app, "hook", i64::MAX, 100).await.unwrap(),
            o.next_due_ms(app, "hook").await.unwrap(),
            o.failed(app, None, None, 100).await.unwrap(),
            o.pause(app, "hook").await.unwrap(),
        ));
        let i = &s.inbox;
        out.push(format!(
            "{:?} {:?} {:?} {:?}",
            i.inbox_page(app, "d000", 0, 100).await.unwrap(),
            i.ack_counts(app, AckSubject::Message("p0")).await.unwrap(),
            i.ack_counts(app, AckSubject::Task("t-finished"))
                .await
                .unwrap(),
            i.channel_devices(app, &user(0)).await.unwrap(),
        ));
    }
    out.push(format!("{}", s.push_queue.queue_len().await.unwrap()));
    // Every queued push, in order, as a server that starts finds them: it forgets the claims of the run
    // before it (which a copy leaves behind), then claims.
    s.push_queue.forget_claims().await.unwrap();
    let claim = QueueClaim {
        holder: "new-server".into(),
        until_ms: 2,
    };
    let claimed = s.push_queue.claim_queued(None, 100, &claim, 1).await;
    out.push(format!(
        "{:?}",
        claimed
            .unwrap()
            .into_iter()
            .map(|(_, push)| push)
            .collect::<Vec<_>>()
    ));
    out
}

/// Fails with the first line where `copied` and `source` differ (the views are long).
fn assert_same(copied: &[String], source: &[String]) {
    for (i, (c, s)) in copied.iter().zip(source).enumerate() {
        assert_eq!(c, s, "line {i} of the view differs");
    }
    assert_eq!(copied.len(), source.len());
}

/// The stopped server's view of a sled store, which [`view`] then reads through the repositories.
fn sled_store(dir: &std::path::Path) -> Store {
    super::sled_for_tests(dir)
}

async fn postgres_store(url: &str) -> Store {
    let mut config = StoreConfig {
        backend: Backend::Postgres,
        ..StoreConfig::default()
    };
    config.postgres.url = Some(crate::secret::Secret::new(url));
    super::open(&config).await.expect("open PostgreSQL")
}

fn pg_config(url: &str) -> PostgresConfig {
    PostgresConfig {
        url: Some(crate::secret::Secret::new(url)),
        ..PostgresConfig::default()
    }
}

async fn target(url: &str) -> CopyTarget {
    CopyTarget::connect(&pg_config(url)).await.expect("connect")
}

/// A sled store in a new directory, populated and closed again.
async fn populated(users: usize) -> (tempfile::TempDir, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let store = sled_store(dir.path());
    populate(&store, users).await;
    let before = view(&store, users).await;
    store.flush().await.unwrap();
    drop(store);
    (dir, before)
}

fn source_name(dir: &tempfile::TempDir) -> String {
    dir.path().display().to_string()
}

fn open_source(dir: &tempfile::TempDir) -> Arc<SledStore> {
    Arc::new(SledStore::open_to_copy(dir.path()).expect("open the source"))
}

#[tokio::test]
async fn a_copy_answers_as_the_source_did() {
    let users = 5;
    let (dir, before) = populated(users).await;
    let url = postgres_database().await;
    let mut to = target(&url).await;
    let report = copy(
        open_source(&dir),
        &source_name(&dir),
        &mut to,
        &CopyOptions {
            batch_size: 4,
            ..CopyOptions::default()
        },
        &mut (),
    )
    .await
    .expect("copy");
    assert!(!report.resumed);
    assert!(report.counts.iter().all(|c| c.agrees()));
    let count = |kind: Kind| {
        report
            .counts
            .iter()
            .find(|c| c.kind == kind)
            .map(|c| c.in_target)
    };
    assert_eq!(count(Kind::Bindings), Some(2 * users as u64));
    assert_eq!(
        count(Kind::LabelUsers),
        Some(2 * (users + users / 2) as u64)
    );
    assert_eq!(count(Kind::QueuedPushes), Some(6));
    // Per app: the recent append's three events, past the swept one's horizon; d000's second callback
    // and u001's waiting, d000's first failed; two pushes left in the inbox of the three with receipts,
    // counters of the acked one's message and task.
    assert_eq!(count(Kind::Events), Some(6));
    assert_eq!(count(Kind::EventHorizons), Some(2));
    assert_eq!(count(Kind::OutboxWaiting), Some(4));
    assert_eq!(count(Kind::OutboxReceivers), Some(4));
    assert_eq!(count(Kind::FailedCallbacks), Some(2));
    assert_eq!(count(Kind::InboxEntries), Some(4));
    assert_eq!(count(Kind::InboxReceipts), Some(6));
    assert_eq!(count(Kind::AckCounts), Some(4));
    assert_eq!(count(Kind::ChannelDevices), Some(2));
    drop(to);

    let pg = postgres_store(&url).await;
    assert_same(&view(&pg, users).await, &before);

    // What the target numbers next continues above what was copied: a new queued push comes after them.
    let claim = QueueClaim {
        holder: "h".into(),
        until_ms: 10,
    };
    let copied = pg
        .push_queue
        .claim_queued(None, 100, &claim, 5)
        .await
        .unwrap();
    let fresh = pg
        .push_queue
        .enqueue(&[QueuedPush::default()], &claim)
        .await
        .unwrap();
    assert!(copied.iter().all(|(key, _)| *key < fresh[0]));
    // So do event positions, above every copied one, and inbox positions.
    let last = pg.events.last_event_position("o#b").await.unwrap().unwrap();
    let appended = pg
        .events
        .append_events("o#a", vec![DeliveryEvent::default()])
        .await
        .unwrap();
    assert!(appended[0].position > last);
    let copied_inbox = pg.inbox.inbox_page("o#a", "d000", 0, 100).await.unwrap();
    let next = pg
        .inbox
        .append(
            "o#a",
            &InboxEntry {
                user: user(0),
                device_id: "d000".into(),
                message_id: "after".into(),
                purge_at_ms: FAR,
                ..Default::default()
            },
            10,
        )
        .await
        .unwrap();
    assert!(!next.duplicate);
    assert!(copied_inbox.iter().all(|e| e.position < next.position));
    // A push known before the copy is still known: acking it again counts nothing twice.
    let unknown = pg
        .inbox
        .ack(
            "o#a",
            &user(0),
            "d000",
            &["p0".into(), "p1".into()],
            true,
            70,
        )
        .await
        .unwrap();
    assert!(unknown.is_empty());
    let counts = pg
        .inbox
        .ack_counts("o#a", AckSubject::Message("p0"))
        .await
        .unwrap();
    assert_eq!((counts.delivered, counts.clicked), (1, 1));
}

/// Returns once the copy into `url` has committed at least `records` records (its progress says so),
/// failing the test after a minute.
async fn until_copied(url: &str, records: i64) {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let copied: i64 = client
            .query_one(
                "SELECT coalesce(sum(copied), 0)::bigint FROM pushgate_copy_progress",
                &[],
            )
            .await
            .expect("read the progress")
            .get(0);
        if copied >= records {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no progress in a minute"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn an_interrupted_copy_resumes_after_its_last_batch() {
    let users = 40;
    let (dir, before) = populated(users).await;
    let url = postgres_database().await;
    let slow = CopyOptions {
        batch_size: 3,
        pause_between_batches: Duration::from_millis(5),
        ..CopyOptions::default()
    };
    // Stopped part-way, once a few batches committed: the future dropped mid-copy, its connection with
    // it (a batch in flight rolls back).
    {
        let mut to = target(&url).await;
        let (name, mut quiet) = (source_name(&dir), ());
        tokio::select! {
            done = copy(open_source(&dir), &name, &mut to, &slow, &mut quiet) => {
                panic!("the copy ended before it was stopped: {:?}", done.map(|r| r.counts.len()));
            }
            () = until_copied(&url, 12) => {}
        }
    }
    let to = target(&url).await;
    let progress = to.progress().await.unwrap();
    let copied: u64 = progress.iter().map(|p| p.copied).sum();
    assert!(copied > 0, "some batches committed");
    assert!(progress.iter().any(|p| !p.done), "some kinds are left");
    for p in &progress {
        assert_eq!(to.count(p.kind).await.unwrap(), p.copied, "{}", p.kind);
    }
    drop(to);

    let mut to = target(&url).await;
    let report = copy(
        open_source(&dir),
        &source_name(&dir),
        &mut to,
        &CopyOptions::default(),
        &mut (),
    )
    .await
    .expect("resume");
    assert!(report.resumed);
    drop(to);
    assert_same(&view(&postgres_store(&url).await, users).await, &before);
}

#[tokio::test]
async fn a_source_changed_between_runs_fails_the_counts() {
    let (dir, _) = populated(3).await;
    let url = postgres_database().await;
    let mut to = target(&url).await;
    copy(
        open_source(&dir),
        &source_name(&dir),
        &mut to,
        &CopyOptions::default(),
        &mut (),
    )
    .await
    .unwrap();
    drop(to);
    // A server ran on sled again after the copy: its new app is not in PostgreSQL.
    {
        let store = sled_store(dir.path());
        store
            .apps
            .create_app(AppRecord {
                name: "o#new".into(),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let mut to = target(&url).await;
    let err = copy(
        open_source(&dir),
        &source_name(&dir),
        &mut to,
        &CopyOptions::default(),
        &mut (),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, CopyError::Mismatch(what) if what.contains("apps: 3, 2, 2")),
        "{err}"
    );
    // Started over, the copy takes the source as it is now.
    let report = copy(
        open_source(&dir),
        &source_name(&dir),
        &mut to,
        &CopyOptions {
            restart: true,
            ..CopyOptions::default()
        },
        &mut (),
    )
    .await
    .unwrap();
    assert!(!report.resumed);
    let apps = report.counts.iter().find(|c| c.kind == Kind::Apps).unwrap();
    assert_eq!(apps.in_target, 3);
}

#[tokio::test]
async fn a_database_with_other_records_or_another_copy_is_refused() {
    let (dir, _) = populated(1).await;
    let (other, _) = populated(1).await;
    let url = postgres_database().await;
    // Records no copy wrote: refused, with --restart too.
    postgres_store(&url)
        .await
        .apps
        .create_app(AppRecord {
            name: "o#live".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    for restart in [false, true] {
        let mut to = target(&url).await;
        let err = copy(
            open_source(&dir),
            &source_name(&dir),
            &mut to,
            &CopyOptions {
                restart,
                ..CopyOptions::default()
            },
            &mut (),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&err, CopyError::NotEmpty { kinds } if kinds == "apps"),
            "{err}"
        );
    }

    // A copy of another directory: refused, unless started over.
    let url = postgres_database().await;
    let mut to = target(&url).await;
    copy(
        open_source(&dir),
        &source_name(&dir),
        &mut to,
        &CopyOptions::default(),
        &mut (),
    )
    .await
    .unwrap();
    let err = copy(
        open_source(&other),
        &source_name(&other),
        &mut to,
        &CopyOptions::default(),
        &mut (),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, CopyError::OtherSource { .. }), "{err}");
    copy(
        open_source(&other),
        &source_name(&other),
        &mut to,
        &CopyOptions {
            restart: true,
            ..CopyOptions::default()
        },
        &mut (),
    )
    .await
    .unwrap();

    // Two copies into one database at once: the second is refused while the first holds the lock.
    let second = CopyTarget::connect(&pg_config(&url)).await;
    assert!(
        matches!(&second, Err(e) if e.to_string().contains("another `pushgate store copy`")),
        "{:?}",
        second.err()
    );
}

#[tokio::test]
async fn a_source_in_use_or_with_unknown_records_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let missing = SledStore::open_to_copy(&dir.path().join("nothing"));
    assert!(matches!(&missing, Err(e) if e.to_string().contains("holds no sled store")));
    assert!(!dir.path().join("nothing").exists(), "nothing was created");

    let open = sled_store(dir.path());
    let in_use = SledStore::open_to_copy(dir.path());
    assert!(
        matches!(&in_use, Err(e) if e.to_string().contains("in use by another process")),
        "{:?}",
        in_use.err()
    );
    drop(open);

    // A tree this version does not know, as a newer one might have left.
    {
        let db = sled::open(dir.path().join("db")).unwrap();
        db.open_tree("mystery")
            .unwrap()
            .insert(b"k", AppRecord::default().encode_to_vec())
            .unwrap();
        db.flush().unwrap();
    }
    let source = open_source(&dir);
    let url = postgres_database().await;
    let mut to = target(&url).await;
    let err = copy(
        source,
        &source_name(&dir),
        &mut to,
        &CopyOptions::default(),
        &mut (),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, CopyError::Unknown { trees } if trees == "mystery (1)"),
        "{err}"
    );
}
