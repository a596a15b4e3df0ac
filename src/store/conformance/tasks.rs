//! [`TaskRepository`](crate::store::TaskRepository): admitting tasks within the app's limits with their list
//! users and message, atomic updates, listing in id order (ids sort newest first), the open tasks of every
//! app, and removing ended ones.

use crate::{
    clock::timestamp,
    proto::v1::{DeliveryEvent, PushMessage, StoredMessage, TaskKind, TaskState},
    store::{Admission, PageRecord, Store, TaskLimits, TaskRecord},
};

/// Limits that admit anything: for tests of what happens once a task is stored.
const ROOMY: TaskLimits = TaskLimits {
    now_ms: 0,
    window_ms: 0,
    max_broadcasts: usize::MAX,
    max_running: usize::MAX,
};

/// Admits `task` of `app` with `users` under limits that leave room.
async fn create(s: &Store, app: &str, task: &TaskRecord, users: &[String]) {
    let admitted = s.tasks.admit_task(app, &ROOMY, task, users, None).await;
    assert_eq!(admitted.unwrap(), Admission::Admitted, "{}", task.id);
}

fn task(id: &str, state: TaskState) -> TaskRecord {
    TaskRecord {
        id: id.into(),
        kind: TaskKind::List as i32,
        state: state as i32,
        message_id: format!("msg-{id}"),
        ..Default::default()
    }
}

fn ended(id: &str, state: TaskState, end_ms: i64) -> TaskRecord {
    TaskRecord {
        end_ms,
        ..task(id, state)
    }
}

fn users(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| n.to_string()).collect()
}

fn ids(tasks: &[TaskRecord]) -> Vec<&str> {
    tasks.iter().map(|t| t.id.as_str()).collect()
}

/// A task reads back whole, with its users, and only in its app.
async fn tasks_read_back_with_their_users(s: Store) {
    let tasks = &s.tasks;
    let mut created = task("t1", TaskState::Scheduled);
    created.labels = users(&["vip", "beta"]);
    created.label_match = 2;
    created.list_size = 3;
    created.create_ms = 10;
    created.start_ms = 20;
    created.counts.insert("s:1".into(), 4);
    create(&s, "o#a", &created, &users(&["u2", "u1", "u3"])).await;
    assert_eq!(tasks.get_task("o#a", "t1").await.unwrap(), Some(created));
    assert!(tasks.get_task("o#a", "t2").await.unwrap().is_none());
    assert!(tasks.get_task("o#ab", "t1").await.unwrap().is_none());
    assert_eq!(
        tasks.list_task_users("o#a", "t1", None, 10).await.unwrap(),
        ["u1", "u2", "u3"]
    );
    assert!(
        tasks
            .list_task_users("o#ab", "t1", None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // A task without users (a label or broadcast task) has none listed.
    create(&s, "o#a", &task("t2", TaskState::Scheduled), &[]).await;
    assert!(
        tasks
            .list_task_users("o#a", "t2", None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// A list task's users page in user id order after `after`; a task whose id extends another's keeps its own.
async fn task_users_page_in_user_order(s: Store) {
    let tasks = &s.tasks;
    let many: Vec<String> = (0..25).map(|i| format!("u{i:02}")).collect();
    create(&s, "o#a", &task("t1", TaskState::Scheduled), &many).await;
    create(
        &s,
        "o#a",
        &task("t10", TaskState::Scheduled),
        &users(&["x"]),
    )
    .await;
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = tasks
            .list_task_users("o#a", "t1", after.as_deref(), 10)
            .await
            .unwrap();
        assert!(page.len() <= 10);
        if page.is_empty() {
            break;
        }
        after = page.last().cloned();
        seen.extend(page);
    }
    assert_eq!(seen, many);
    assert_eq!(
        tasks
            .list_task_users("o#a", "t1", Some("u23"), 10)
            .await
            .unwrap(),
        ["u24"]
    );
    assert_eq!(
        tasks
            .list_task_users("o#a", "t1", Some("u05x"), 2)
            .await
            .unwrap(),
        ["u06", "u07"]
    );
    assert_eq!(
        tasks.list_task_users("o#a", "t10", None, 10).await.unwrap(),
        ["x"]
    );
}

/// `update_task` applies the change and returns the result; a declined change leaves the record and returns
/// it as it is; a missing task is `None` and is not created.
async fn updates_apply_decline_or_miss(s: Store) {
    let tasks = &s.tasks;
    create(&s, "o#a", &task("t1", TaskState::Scheduled), &[]).await;
    let running = tasks
        .update_task("o#a", "t1", &|t| {
            Some(TaskRecord {
                state: TaskState::Running as i32,
                run_ms: 5,
                ..t.clone()
            })
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (running.state, running.run_ms),
        (TaskState::Running as i32, 5)
    );
    assert_eq!(
        tasks.get_task("o#a", "t1").await.unwrap(),
        Some(running.clone())
    );
    let declined = tasks.update_task("o#a", "t1", &|_| None).await.unwrap();
    assert_eq!(declined, Some(running.clone()));
    assert_eq!(tasks.get_task("o#a", "t1").await.unwrap(), Some(running));
    let missing = tasks
        .update_task("o#a", "nope", &|t| Some(t.clone()))
        .await
        .unwrap();
    assert!(missing.is_none());
    assert!(tasks.get_task("o#a", "nope").await.unwrap().is_none());
    assert!(
        tasks
            .update_task("o#ab", "t1", &|t| Some(t.clone()))
            .await
            .unwrap()
            .is_none()
    );
}

/// Concurrent updates of one task each apply to the result of the others: no counter is lost.
async fn concurrent_updates_are_not_lost(s: Store) {
    create(&s, "o#a", &task("t1", TaskState::Running), &[]).await;
    let writers = (0..4).map(|w| {
        let s = s.clone();
        tokio::spawn(async move {
            for _ in 0..25 {
                s.tasks
                    .update_task("o#a", "t1", &|t| {
                        let mut next = t.clone();
                        next.users_done += 1;
                        *next.counts.entry(format!("s:{w}")).or_default() += 1;
                        Some(next)
                    })
                    .await
                    .unwrap();
            }
        })
    });
    for writer in writers.collect::<Vec<_>>() {
        writer.await.unwrap();
    }
    let t = s.tasks.get_task("o#a", "t1").await.unwrap().unwrap();
    assert_eq!(t.users_done, 100);
    assert_eq!(t.counts.values().copied().collect::<Vec<_>>(), [25; 4]);
}

/// `list_tasks` lists one app's tasks in id order (the ids sort newest first), at most `limit`, strictly
/// after `after`.
async fn tasks_are_listed_in_id_order_and_paged(s: Store) {
    let tasks = &s.tasks;
    // Ids as the service makes them: a later creation sorts first.
    for (id, create_ms) in [("t3", 100), ("t1", 300), ("t2", 200), ("t4", 50)] {
        let t = TaskRecord {
            create_ms,
            ..task(id, TaskState::Scheduled)
        };
        create(&s, "o#a", &t, &[]).await;
    }
    create(&s, "o#ab", &task("t0", TaskState::Scheduled), &[]).await;
    let all = tasks.list_tasks("o#a", None, 10).await.unwrap();
    assert_eq!(ids(&all), ["t1", "t2", "t3", "t4"]);
    assert!(all.windows(2).all(|w| w[0].create_ms > w[1].create_ms));
    assert_eq!(
        ids(&tasks.list_tasks("o#a", None, 2).await.unwrap()),
        ["t1", "t2"]
    );
    assert_eq!(
        ids(&tasks.list_tasks("o#a", Some("t2"), 10).await.unwrap()),
        ["t3", "t4"]
    );
    assert!(
        tasks
            .list_tasks("o#a", Some("t4"), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        ids(&tasks.list_tasks("o#ab", None, 10).await.unwrap()),
        ["t0"]
    );
    assert!(tasks.list_tasks("o#b", None, 10).await.unwrap().is_empty());
}

/// `open_tasks` is every app's tasks that have not ended (scheduled or running), each with its app.
async fn open_tasks_are_every_apps_unended_tasks(s: Store) {
    let tasks = &s.tasks;
    for (app, t) in [
        ("o#a", task("t1", TaskState::Scheduled)),
        ("o#a", task("t2", TaskState::Running)),
        ("o#a", ended("t3", TaskState::Completed, 10)),
        ("o#b", ended("t4", TaskState::Cancelled, 10)),
        ("o#b", ended("t5", TaskState::Failed, 10)),
        ("o#b", task("t6", TaskState::Running)),
    ] {
        create(&s, app, &t, &[]).await;
    }
    let mut open: Vec<(String, String)> = tasks
        .open_tasks()
        .await
        .unwrap()
        .into_iter()
        .map(|(app, t)| (app, t.id))
        .collect();
    open.sort();
    let expected = [("o#a", "t1"), ("o#a", "t2"), ("o#b", "t6")];
    assert_eq!(open, expected.map(|(a, t)| (a.to_owned(), t.to_owned())));

    // A task that ends leaves the open ones.
    tasks
        .update_task("o#b", "t6", &|t| {
            Some(ended(&t.id, TaskState::Completed, 20))
        })
        .await
        .unwrap();
    let open = tasks.open_tasks().await.unwrap();
    assert_eq!(open.len(), 2);
    assert!(open.iter().all(|(app, _)| app == "o#a"));
}

/// `delete_ended_tasks` removes tasks that ended before the time, of every app, with their users, at most
/// `limit` a call; open tasks and tasks that ended later stay.
async fn ended_tasks_are_removed_in_batches(s: Store) {
    let tasks = &s.tasks;
    for (app, t) in [
        ("o#a", ended("t1", TaskState::Completed, 100)),
        ("o#a", ended("t2", TaskState::Cancelled, 150)),
        ("o#b", ended("t3", TaskState::Failed, 199)),
        ("o#a", ended("t4", TaskState::Completed, 200)),
        ("o#a", task("t5", TaskState::Running)),
        ("o#a", task("t6", TaskState::Scheduled)),
    ] {
        create(&s, app, &t, &users(&["u1", "u2"])).await;
    }
    assert_eq!(
        tasks.delete_ended_tasks(100, 10).await.unwrap(),
        0,
        "strictly before"
    );
    assert_eq!(tasks.delete_ended_tasks(200, 2).await.unwrap(), 2);
    assert_eq!(tasks.delete_ended_tasks(200, 2).await.unwrap(), 1);
    assert_eq!(tasks.delete_ended_tasks(200, 2).await.unwrap(), 0);
    for (app, id) in [("o#a", "t1"), ("o#a", "t2"), ("o#b", "t3")] {
        assert!(tasks.get_task(app, id).await.unwrap().is_none(), "{id}");
        assert!(
            tasks
                .list_task_users(app, id, None, 10)
                .await
                .unwrap()
                .is_empty(),
            "{id}'s users"
        );
    }
    assert_eq!(
        ids(&tasks.list_tasks("o#a", None, 10).await.unwrap()),
        ["t4", "t5", "t6"]
    );
    assert_eq!(
        tasks.list_task_users("o#a", "t4", None, 10).await.unwrap(),
        ["u1", "u2"]
    );
    assert_eq!(tasks.delete_ended_tasks(i64::MAX, 10).await.unwrap(), 1);
    assert_eq!(
        ids(&tasks.list_tasks("o#a", None, 10).await.unwrap()),
        ["t5", "t6"]
    );
}

/// A task created at `create_ms`, with an id that sorts newest first as the service makes them.
fn created_at(kind: TaskKind, create_ms: i64, start_ms: i64) -> TaskRecord {
    let inverted = (1u64 << 48) - 1 - u64::try_from(create_ms).unwrap();
    TaskRecord {
        id: format!("t{inverted:012x}"),
        kind: kind as i32,
        state: TaskState::Scheduled as i32,
        create_ms,
        start_ms,
        ..Default::default()
    }
}

fn limits(now_ms: i64, max_broadcasts: usize, max_running: usize) -> TaskLimits {
    TaskLimits {
        now_ms,
        window_ms: 1_000,
        max_broadcasts,
        max_running,
    }
}

/// An admitted task is stored with its users and its message; a refused one writes nothing at all.
async fn admission_stores_task_users_and_message_or_nothing(s: Store) {
    let tasks = &s.tasks;
    let message = StoredMessage {
        id: "msg-1".into(),
        message: Some(PushMessage::default()),
        create_time: Some(timestamp(10)),
    };
    let first = created_at(TaskKind::List, 10, 10);
    let admitted = tasks
        .admit_task(
            "o#a",
            &limits(10, 5, 1),
            &first,
            &users(&["u1"]),
            Some(&message),
        )
        .await
        .unwrap();
    assert_eq!(admitted, Admission::Admitted);
    assert_eq!(
        tasks.get_task("o#a", &first.id).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        tasks
            .list_task_users("o#a", &first.id, None, 10)
            .await
            .unwrap(),
        ["u1"]
    );
    assert_eq!(
        s.messages.get_message("o#a", "msg-1").await.unwrap(),
        Some(message)
    );

    let second = created_at(TaskKind::List, 20, 20);
    let other = StoredMessage {
        id: "msg-2".into(),
        ..Default::default()
    };
    let refused = tasks
        .admit_task(
            "o#a",
            &limits(20, 5, 1),
            &second,
            &users(&["u2"]),
            Some(&other),
        )
        .await
        .unwrap();
    assert_eq!(refused, Admission::TooManyRunning);
    assert!(tasks.get_task("o#a", &second.id).await.unwrap().is_none());
    assert!(
        tasks
            .list_task_users("o#a", &second.id, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        s.messages
            .get_message("o#a", "msg-2")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        ids(&tasks.list_tasks("o#a", None, 10).await.unwrap()),
        [first.id.as_str()]
    );
}

/// Label and list tasks that are due and have not ended count against `max_running`, of this app only;
/// ended ones, broadcasts and tasks scheduled for later do not, and a new task scheduled for later is not
/// checked.
async fn running_label_and_list_tasks_are_limited(s: Store) {
    let tasks = &s.tasks;
    let now = 10_000;
    let admit = |app: &'static str, task: TaskRecord, max_running| async move {
        tasks
            .admit_task(app, &limits(now, 100, max_running), &task, &[], None)
            .await
            .unwrap()
    };
    // Due: one running, one scheduled whose start has come.
    let mut running = created_at(TaskKind::Label, 1_000, 1_000);
    running.state = TaskState::Running as i32;
    assert_eq!(admit("o#a", running, 2).await, Admission::Admitted);
    assert_eq!(
        admit("o#a", created_at(TaskKind::List, 2_000, now), 2).await,
        Admission::Admitted
    );
    assert_eq!(
        admit("o#a", created_at(TaskKind::List, 3_000, now), 2).await,
        Admission::TooManyRunning
    );
    // Neither a broadcast nor a task due later counts, nor another app's tasks.
    assert_eq!(
        admit("o#a", created_at(TaskKind::Broadcast, 4_000, now), 2).await,
        Admission::Admitted
    );
    assert_eq!(
        admit("o#a", created_at(TaskKind::List, 5_000, now + 1), 2).await,
        Admission::Admitted,
        "a task for later is not checked"
    );
    assert_eq!(
        admit("o#ab", created_at(TaskKind::List, 5_500, now), 2).await,
        Admission::Admitted
    );
    assert_eq!(
        admit("o#a", created_at(TaskKind::Label, 6_000, now), 3).await,
        Admission::Admitted
    );
    assert_eq!(
        admit("o#a", created_at(TaskKind::Label, 7_000, now), 3).await,
        Admission::TooManyRunning
    );
    // An ended task frees its slot.
    let listed = tasks.list_tasks("o#a", None, 10).await.unwrap();
    let oldest = listed.last().unwrap();
    assert_eq!(oldest.create_ms, 1_000);
    tasks
        .update_task("o#a", &oldest.id, &|t| {
            Some(ended(&t.id, TaskState::Completed, now))
        })
        .await
        .unwrap();
    assert_eq!(
        admit("o#a", created_at(TaskKind::Label, 8_000, now), 3).await,
        Admission::Admitted
    );
}

/// Broadcasts created less than `window_ms` before now count against `max_broadcasts`, of this app only; a
/// refusal says when the oldest of them leaves the window.
async fn broadcasts_are_limited_per_window(s: Store) {
    let tasks = &s.tasks;
    let admit = |app: &'static str, task: TaskRecord, now_ms| async move {
        tasks
            .admit_task(app, &limits(now_ms, 2, 0), &task, &[], None)
            .await
            .unwrap()
    };
    // Out of the window by the time of the next admissions.
    assert_eq!(
        admit("o#a", created_at(TaskKind::Broadcast, 100, 100), 100).await,
        Admission::Admitted
    );
    assert_eq!(
        admit("o#a", created_at(TaskKind::Broadcast, 1_200, 1_200), 1_200).await,
        Admission::Admitted
    );
    assert_eq!(
        admit("o#a", created_at(TaskKind::Broadcast, 1_500, 1_500), 1_500).await,
        Admission::Admitted
    );
    // A label task is not a broadcast.
    assert_eq!(
        admit("o#a", created_at(TaskKind::Label, 1_550, 5_000), 1_550).await,
        Admission::Admitted
    );
    assert_eq!(
        admit("o#a", created_at(TaskKind::Broadcast, 1_600, 1_600), 1_600).await,
        Admission::TooManyBroadcasts { frees_ms: 2_200 }
    );
    assert_eq!(
        admit("o#ab", created_at(TaskKind::Broadcast, 1_600, 1_600), 1_600).await,
        Admission::Admitted,
        "another app has its own window"
    );
    // Once the broadcast of 1 200 has left the window there is room again.
    assert_eq!(
        admit("o#a", created_at(TaskKind::Broadcast, 2_300, 2_300), 2_300).await,
        Admission::Admitted
    );
    assert_eq!(tasks.list_tasks("o#a", None, 10).await.unwrap().len(), 5);
}

/// Admissions racing for the last slots: exactly as many win as there are slots.
async fn concurrent_admissions_do_not_overrun_the_limit(s: Store) {
    let contenders = (0..8).map(|i| {
        let s = s.clone();
        tokio::spawn(async move {
            let task = created_at(TaskKind::List, 1_000 + i, 0);
            s.tasks
                .admit_task("o#a", &limits(2_000, 100, 3), &task, &[], None)
                .await
                .unwrap()
        })
    });
    let mut admitted = 0;
    for contender in contenders.collect::<Vec<_>>() {
        if contender.await.unwrap() == Admission::Admitted {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 3);
    assert_eq!(s.tasks.list_tasks("o#a", None, 10).await.unwrap().len(), 3);
}

/// A page is recorded whole: the task's change and the page's events in one call, the events positioned
/// after every earlier event of the app; a declined change and a missing task record nothing, events
/// included.
async fn a_page_records_its_checkpoint_and_events_together(s: Store) {
    create(&s, "o#a", &task("t1", TaskState::Running), &[]).await;
    let earlier = s
        .events
        .append_events("o#a", vec![DeliveryEvent::default()])
        .await
        .unwrap();
    let page: Vec<DeliveryEvent> = (0..3)
        .map(|i| DeliveryEvent {
            device_id: format!("d{i}"),
            msg_id: "msg-t1".into(),
            ..Default::default()
        })
        .collect();
    let recorded = s
        .tasks
        .record_page(
            "o#a",
            "t1",
            &|t| {
                Some(TaskRecord {
                    checkpoint: "u9".into(),
                    started_fan_out: true,
                    users_done: t.users_done + 3,
                    ..t.clone()
                })
            },
            page.clone(),
        )
        .await
        .unwrap();
    let PageRecord::Recorded(after, stored) = recorded else {
        panic!("the page is recorded: {recorded:?}");
    };
    assert_eq!((after.checkpoint.as_str(), after.users_done), ("u9", 3));
    assert_eq!(s.tasks.get_task("o#a", "t1").await.unwrap().unwrap(), after);
    assert_eq!(stored.len(), 3);
    assert!(stored[0].position > earlier[0].position);
    assert!(stored.windows(2).all(|w| w[0].position < w[1].position));
    let logged = s
        .events
        .events_after("o#a", earlier[0].position, 10)
        .await
        .unwrap();
    assert_eq!(logged, stored);

    let declined = s
        .tasks
        .record_page("o#a", "t1", &|_| None, page)
        .await
        .unwrap();
    assert_eq!(declined, PageRecord::Declined(after.clone()));
    let missing = s
        .tasks
        .record_page(
            "o#a",
            "nope",
            &|t| Some(t.clone()),
            vec![DeliveryEvent::default()],
        )
        .await
        .unwrap();
    assert_eq!(missing, PageRecord::Missing);
    assert_eq!(s.tasks.get_task("o#a", "t1").await.unwrap().unwrap(), after);
    let last = s.events.last_event_position("o#a").await.unwrap();
    assert_eq!(
        last,
        Some(stored[2].position),
        "nothing logged for a declined page or a missing task"
    );
}

conformance_tests! {
    a_page_records_its_checkpoint_and_events_together,
    tasks_read_back_with_their_users,
    task_users_page_in_user_order,
    updates_apply_decline_or_miss,
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    concurrent_updates_are_not_lost,
    tasks_are_listed_in_id_order_and_paged,
    open_tasks_are_every_apps_unended_tasks,
    ended_tasks_are_removed_in_batches,
    admission_stores_task_users_and_message_or_nothing,
    running_label_and_list_tasks_are_limited,
    broadcasts_are_limited_per_window,
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    concurrent_admissions_do_not_overrun_the_limit,
}
