//! TaskService end to end: a broadcast whose counts add up, the limits, scheduled starts, cancellation,
//! watchers, and a crash in the middle of a fan-out.

use std::{collections::HashMap, time::Duration};

use pushgate::proto::v1::{
    CancelTaskRequest, CreateBroadcastTaskRequest, CreateListTaskRequest, GetTaskRequest,
    GetTaskStatsRequest, ListTasksRequest, Strategy, Task, TaskProgress, TaskState, TaskStats,
    TemplateRef, WatchTaskRequest, create_broadcast_task_request, create_list_task_request,
    task_service_client::TaskServiceClient,
};
use tonic_types::StatusExt;

use crate::common::push::*;

fn tasks(env: &Env) -> TaskServiceClient<Channel> {
    TaskServiceClient::new(env.push_channel())
}

async fn list_task(
    env: &Env,
    users: &[String],
    start: Option<prost_types::Timestamp>,
) -> Result<Task, Status> {
    create_list_task(
        env,
        CreateListTaskRequest {
            users: users.to_vec(),
            start_time: start,
            ..Default::default()
        },
    )
    .await
}

/// Creates a list task of `request` with the message `hello()`.
async fn create_list_task(env: &Env, request: CreateListTaskRequest) -> Result<Task, Status> {
    tasks(env)
        .create_list_task(authed(
            CreateListTaskRequest {
                message_source: Some(create_list_task_request::MessageSource::Message(hello())),
                ..request
            },
            &env.app.token,
        ))
        .await
        .map(|r| r.into_inner().task.unwrap())
}

/// Makes `notifier`'s fake answer every request `millis` late.
fn delay(env: &Env, notifier: &str, millis: u64) {
    env.fake(notifier).add_fault(FaultRule {
        device_token: None,
        action: FaultAction::Delay { millis },
        times: None,
    });
}

async fn get(env: &Env, id: &str) -> Task {
    tasks(env)
        .get_task(authed(
            GetTaskRequest { task_id: id.into() },
            &env.app.token,
        ))
        .await
        .unwrap()
        .into_inner()
        .task
        .unwrap()
}

async fn stats(env: &Env, id: &str) -> TaskStats {
    tasks(env)
        .get_task_stats(authed(
            GetTaskStatsRequest { task_id: id.into() },
            &env.app.token,
        ))
        .await
        .unwrap()
        .into_inner()
        .stats
        .unwrap()
}

/// Every progress item of a WatchTask stream, to its end.
async fn watch(env: &Env, id: &str, interval_ms: i32) -> Vec<TaskProgress> {
    let mut stream = tasks(env)
        .watch_task(authed(
            WatchTaskRequest {
                task_id: id.into(),
                min_interval: Some(prost_types::Duration {
                    seconds: 0,
                    nanos: interval_ms * 1_000_000,
                }),
            },
            &env.app.token,
        ))
        .await
        .unwrap()
        .into_inner();
    let mut items = Vec::new();
    while let Some(item) = tokio::time::timeout(Duration::from_secs(120), stream.message())
        .await
        .expect("progress within 2 minutes")
        .unwrap()
    {
        items.push(item.progress.unwrap());
    }
    items
}

fn state(t: &Task) -> TaskState {
    TaskState::try_from(t.state).unwrap()
}

/// Binds `n` users with one device each, spread over one notifier per vendor, many at a time.
async fn bind_many(env: &Env, n: usize) -> HashMap<String, usize> {
    let mut per_notifier = HashMap::new();
    let jobs: Vec<BindJob> = (0..n)
        .map(|i| {
            let user = format!("user{i:05}");
            let notifier = ONE_PER_VENDOR[i % ONE_PER_VENDOR.len()];
            let token = token_for(notifier, &user);
            (user.clone(), format!("{user}-d"), notifier, token)
        })
        .collect();
    for (_, _, notifier, _) in &jobs {
        *per_notifier.entry(notifier.to_string()).or_default() += 1;
    }
    env.bind_all(&jobs).await;
    per_notifier
}

/// Binds `per_user` devices of each of `users` through `notifier`, many at a time, and returns their tokens
/// in user order, then device order.
async fn bind_devices(
    env: &Env,
    notifier: &'static str,
    users: &[String],
    per_user: usize,
) -> Vec<String> {
    let jobs: Vec<BindJob> = users
        .iter()
        .flat_map(|user| {
            (0..per_user).map(move |d| {
                let device = format!("{user}-d{d}");
                let token = token_for(notifier, &device);
                (user.clone(), device, notifier, token)
            })
        })
        .collect();
    env.bind_all(&jobs).await;
    jobs.into_iter().map(|(_, _, _, token)| token).collect()
}

/// The (users done, success count) pairs a watch showed while a one-page task ran and some of its users
/// were not done yet.
fn counts_within_the_page(items: &[TaskProgress]) -> Vec<(u64, u64)> {
    items
        .iter()
        .filter(|p| p.state == TaskState::Running as i32 && p.users_done < p.users_total)
        .map(|p| (p.users_done, p.success_count))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_to_ten_thousand_devices_adds_up_exactly() {
    let env = Env::start().await;
    for fake in ONE_PER_VENDOR {
        env.fake(fake).set_recording(false);
    }
    let per_notifier = bind_many(&env, 10_000).await;
    let task = env.broadcast_hello().await.unwrap();
    let progress = watch(&env, &task.id, 200).await;
    let last = progress.last().unwrap();
    assert_eq!(last.state, TaskState::Completed as i32, "{last:?}");
    assert_eq!((last.users_total, last.users_done), (10_000, 10_000));
    assert_eq!(
        (last.success_count, last.fail_count, last.error_count),
        (10_000, 0, 0)
    );
    let s = stats(&env, &task.id).await;
    assert_eq!(s.total, 10_000);
    assert_eq!(s.by_vendor.iter().map(|v| v.total).sum::<u64>(), 10_000);
    for v in &s.by_vendor {
        assert_eq!(v.success_count, v.total);
        assert_eq!(v.total, 1_250, "{v:?}");
    }
    assert_eq!(per_notifier.values().sum::<usize>(), 10_000);
    // Every vendor got exactly its devices, the batch vendors in one request per page.
    for notifier in ONE_PER_VENDOR {
        let stats = env.fake(notifier).stats();
        assert_eq!(
            stats.accepted_sends as usize + stats.rejected_sends as usize,
            stats.send_requests as usize
        );
        match notifier {
            APNS | FCM | VIVO => assert_eq!(stats.send_requests, 1_250, "{notifier}"),
            _ => assert_eq!(
                stats.send_requests, 10,
                "{notifier}: one request per page of 1,000 users"
            ),
        }
    }
    let t = get(&env, &task.id).await;
    assert_eq!(state(&t), TaskState::Completed);
    assert!(t.run_time.is_some() && t.end_time.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_and_creation_limits_refuse_with_quota_failures() {
    let mut env = Env::start().await;
    // Three list tasks held up by a slow vendor fill the running slots.
    let mut slow = Vec::new();
    for i in 0..4 {
        let user = format!("slow{i}");
        let token = env.bind_new(&user, &format!("{user}-phone"), HUAWEI).await;
        env.fake(HUAWEI).add_fault(FaultRule {
            device_token: Some(token),
            action: FaultAction::Delay { millis: 3_000 },
            times: Some(1),
        });
        slow.push(user);
    }
    let mut running = Vec::new();
    for user in &slow[..3] {
        running.push(
            list_task(&env, std::slice::from_ref(user), None)
                .await
                .unwrap(),
        );
    }
    let e = list_task(&env, &slow[3..], None).await.unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
    let quota = e.get_details_quota_failure().expect("QuotaFailure");
    assert_eq!(quota.violations[0].subject, "running label and list tasks");
    // A slot frees when one completes.
    let done = watch(&env, &running[0].id, 200).await;
    assert_eq!(done.last().unwrap().state, TaskState::Completed as i32);
    tokio::time::sleep(Duration::from_millis(300)).await;
    list_task(&env, &slow[3..], None)
        .await
        .expect("a freed slot");

    // Broadcasts count from creation: a fourth within the window is refused, saying when a slot frees.
    for _ in 0..3 {
        env.broadcast_hello().await.unwrap();
    }
    let e = env.broadcast_hello().await.unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted);
    let quota = e.get_details_quota_failure().expect("QuotaFailure");
    assert_eq!(
        quota.violations[0].subject,
        "broadcast tasks created per window"
    );
    let retry = e.get_details_retry_info().expect("RetryInfo");
    let wait = retry.retry_delay.expect("a delay");
    assert!(
        wait > Duration::from_secs(200) && wait <= Duration::from_secs(300),
        "{wait:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_tasks_start_on_time_and_cancel_stops_them() {
    let mut env = Env::start().await;
    env.bind_new("sched", "phone", MEIZU).await;
    let in_two_seconds = prost_types::Timestamp {
        seconds: (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 2) as i64,
        nanos: 0,
    };
    let scheduled = list_task(&env, &["sched".into()], Some(in_two_seconds))
        .await
        .unwrap();
    assert_eq!(state(&scheduled), TaskState::Scheduled);
    let never = list_task(
        &env,
        &["sched".into()],
        Some(prost_types::Timestamp {
            seconds: in_two_seconds.seconds + 3600,
            nanos: 0,
        }),
    )
    .await
    .unwrap();
    let cancelled = tasks(&env)
        .cancel_task(authed(
            CancelTaskRequest {
                task_id: never.id.clone(),
            },
            &env.app.token,
        ))
        .await
        .unwrap()
        .into_inner()
        .task
        .unwrap();
    assert_eq!(state(&cancelled), TaskState::Cancelled);
    let e = tasks(&env)
        .cancel_task(authed(
            CancelTaskRequest {
                task_id: never.id.clone(),
            },
            &env.app.token,
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert!(env.sends(MEIZU).is_empty(), "nothing before the start time");
    let progress = watch(&env, &scheduled.id, 200).await;
    assert_eq!(progress.last().unwrap().state, TaskState::Completed as i32);
    let t = get(&env, &scheduled.id).await;
    assert!(
        t.run_time.unwrap().seconds >= in_two_seconds.seconds,
        "{t:?}"
    );
    assert_eq!(env.sends(MEIZU).len(), 1);

    // A running task stops within a second of its cancellation.
    let users: Vec<String> = (0..3).map(|i| format!("c{i}")).collect();
    for user in &users {
        let token = env.bind_new(user, &format!("{user}-phone"), XIAOMI).await;
        env.fake(XIAOMI).add_fault(FaultRule {
            device_token: Some(token),
            action: FaultAction::Delay { millis: 5_000 },
            times: None,
        });
    }
    let task = list_task(&env, &users, None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(state(&get(&env, &task.id).await), TaskState::Running);
    let asked = std::time::Instant::now();
    let cancelled = tasks(&env)
        .cancel_task(authed(
            CancelTaskRequest {
                task_id: task.id.clone(),
            },
            &env.app.token,
        ))
        .await
        .unwrap()
        .into_inner()
        .task
        .unwrap();
    assert_eq!(state(&cancelled), TaskState::Cancelled);
    let items = watch(&env, &task.id, 100).await;
    assert_eq!(items.len(), 1, "an ended task yields one item");
    assert!(asked.elapsed() < Duration::from_secs(1));
    env.fake(XIAOMI).clear_faults();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchers_see_monotonic_counts_and_the_final_state() {
    let mut env = Env::start_with(&[("PUSHGATE_TASKS_PAGE_USERS", "50")]).await;
    let users: Vec<String> = (0..400).map(|i| format!("w{i:03}")).collect();
    for user in &users {
        env.bind_new(user, &format!("{user}-phone"), OPPO).await;
    }
    // Each page of 50 takes a little while, so watchers see it run.
    delay(&env, OPPO, 150);
    let task = list_task(&env, &users, None).await.unwrap();
    let (a, b) = tokio::join!(watch(&env, &task.id, 100), watch(&env, &task.id, 250));
    for items in [&a, &b] {
        assert!(items.len() >= 2, "{items:?}");
        for pair in items.windows(2) {
            assert!(pair[1].users_done >= pair[0].users_done);
            assert!(pair[1].success_count >= pair[0].success_count);
        }
        let last = items.last().unwrap();
        assert_eq!(last.state, TaskState::Completed as i32);
        assert_eq!(
            (last.users_total, last.users_done, last.success_count),
            (400, 400, 400)
        );
        assert!(
            items[..items.len() - 1]
                .iter()
                .all(|p| p.state != TaskState::Completed as i32)
        );
    }
    // A late watcher gets the final counts at once.
    let late = watch(&env, &task.id, 100).await;
    assert_eq!(late.len(), 1);
    assert_eq!(late[0].users_done, 400);
    env.fake(OPPO).clear_faults();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchers_see_a_page_s_outcomes_before_its_checkpoint() {
    let mut env = Env::start().await;
    let users: Vec<String> = (0..10).map(|i| format!("p{i}")).collect();
    // One page (the default is 1,000 users): five devices on FCM, which answers at once, and five on OPPO,
    // which answers after 1.5 s. A vendor's outcomes count as soon as it has answered.
    for (i, user) in users.iter().enumerate() {
        let notifier = if i < 5 { FCM } else { OPPO };
        env.bind_new(user, &format!("{user}-phone"), notifier).await;
    }
    delay(&env, OPPO, 1500);
    let task = list_task(&env, &users, None).await.unwrap();
    let items = watch(&env, &task.id, 100).await;
    for pair in items.windows(2) {
        assert!(pair[1].users_done >= pair[0].users_done, "{items:?}");
        assert!(pair[1].success_count >= pair[0].success_count, "{items:?}");
    }
    assert!(
        items.iter().any(|p| p.state == TaskState::Running as i32
            && p.users_done == 5
            && p.success_count == 5),
        "no item showed the page's first five outcomes before its checkpoint: {items:?}"
    );
    let last = items.last().unwrap();
    assert_eq!(last.state, TaskState::Completed as i32);
    assert_eq!(
        (last.users_done, last.success_count, last.fail_count),
        (10, 10, 0)
    );
    env.fake(OPPO).clear_faults();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vendor_failure_that_falls_back_to_the_channel_never_shows_as_a_failure() {
    let mut env = Env::start().await;
    let users: Vec<String> = (0..6).map(|i| format!("f{i}")).collect();
    // Strategy 0 (vendor first): three FCM devices with tokens FCM refuses, whose pushes then go to the own
    // channel's inbox and succeed there; three OPPO devices that keep the page in flight for 1.5 s after
    // FCM's refusals came back.
    for (i, user) in users.iter().enumerate() {
        if i < 3 {
            let token = env.bind_new(user, &format!("{user}-phone"), FCM).await;
            env.fake(FCM).invalidate_token(&token);
        } else {
            env.bind_new(user, &format!("{user}-phone"), OPPO).await;
        }
    }
    delay(&env, OPPO, 1500);
    let task = create_list_task(
        &env,
        CreateListTaskRequest {
            users: users.clone(),
            strategy: Strategy::VendorFirst as i32,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let items = watch(&env, &task.id, 100).await;
    assert!(items.len() >= 5, "{items:?}");
    assert!(
        items
            .iter()
            .all(|p| p.fail_count == 0 && p.error_count == 0),
        "a refusal the fallback replaced was shown: {items:?}"
    );
    let last = items.last().unwrap();
    assert_eq!(last.state, TaskState::Completed as i32);
    assert_eq!((last.users_done, last.success_count), (6, 6));
    env.fake(OPPO).clear_faults();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_vendor_s_devices_count_one_by_one_within_a_page() {
    const N: u64 = 60;
    let mut env = Env::start().await;
    // One page of 60 users on FCM, which takes one device a request, at 20 requests a second: a burst of 20,
    // then two seconds for the other 40. Each device counts once FCM has answered for it; under strategy 0
    // too, where only a failure waits for the fallback's decision.
    env.set_qps_limit(FCM, 20).await;
    for (run, strategy) in [Strategy::Unspecified, Strategy::VendorFirst]
        .into_iter()
        .enumerate()
    {
        let users: Vec<String> = (0..N).map(|i| format!("q{run}-{i:02}")).collect();
        bind_devices(&env, FCM, &users, 1).await;
        let task = create_list_task(
            &env,
            CreateListTaskRequest {
                users: users.clone(),
                strategy: strategy as i32,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let items = watch(&env, &task.id, 100).await;
        for pair in items.windows(2) {
            assert!(pair[1].success_count >= pair[0].success_count, "{items:?}");
            assert!(pair[1].users_done >= pair[0].users_done, "{items:?}");
        }
        let within = counts_within_the_page(&items);
        let mut moving: Vec<u64> = within.iter().map(|&(_, s)| s).collect();
        moving.retain(|&s| s > 0 && s < N);
        moving.dedup();
        assert!(
            moving.len() >= 3,
            "{strategy:?}: the page's count did not follow FCM's answers while it ran: {items:?}"
        );
        // One device each: a user is done when its device is, so the bar moves with the count.
        for &(users, success) in &within {
            assert_eq!(users, success, "{strategy:?}: {items:?}");
        }
        let last = items.last().unwrap();
        assert_eq!(last.state, TaskState::Completed as i32);
        assert_eq!(
            (last.users_done, last.success_count, last.fail_count),
            (N, N, 0),
            "{strategy:?}"
        );
        assert_eq!(env.sends(FCM).len(), N as usize * (run + 1));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_vendor_s_devices_count_a_request_at_a_time_within_a_page() {
    let env = Env::start().await;
    // One page of 600 users with two Huawei devices each: 1,200 devices, which Huawei takes in two requests
    // (at most 1,000 tokens each). The second request, which holds the last user's devices, answers 2 s late;
    // the first one's 1,000 devices count as soon as it has answered.
    let users: Vec<String> = (0..600).map(|i| format!("h{i:03}")).collect();
    let tokens = bind_devices(&env, HUAWEI, &users, 2).await;
    env.fake(HUAWEI).add_fault(FaultRule {
        device_token: tokens.last().cloned(),
        action: FaultAction::Delay { millis: 2_000 },
        times: Some(1),
    });
    let task = list_task(&env, &users, None).await.unwrap();
    let items = watch(&env, &task.id, 100).await;
    for pair in items.windows(2) {
        assert!(pair[1].success_count >= pair[0].success_count, "{items:?}");
    }
    let before: Vec<u64> = counts_within_the_page(&items)
        .iter()
        .map(|&(_, s)| s)
        .collect();
    assert!(
        before.iter().all(|&s| s == 0 || s == 1_000),
        "a request's devices counted apart: {before:?}"
    );
    assert!(
        before.contains(&1_000),
        "the first request's devices did not count before the second answered: {items:?}"
    );
    // The first request held the first 500 users' two devices each: those users are done.
    assert!(
        counts_within_the_page(&items).contains(&(500, 1_000)),
        "{items:?}"
    );
    let last = items.last().unwrap();
    assert_eq!(last.state, TaskState::Completed as i32);
    assert_eq!(
        (last.users_done, last.success_count, last.fail_count),
        (600, 1_200, 0)
    );
    assert_eq!(env.sends(HUAWEI).len(), 2, "one request per 1,000 tokens");
    env.fake(HUAWEI).clear_faults();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_mid_task_resumes_at_its_checkpoint_and_repeats_at_most_one_page() {
    const PAGE: usize = 50;
    let page = PAGE.to_string();
    let mut env = Env::start_with(&[("PUSHGATE_TASKS_PAGE_USERS", page.as_str())]).await;
    let users: Vec<String> = (0..1_000).map(|i| format!("k{i:04}")).collect();
    let mut tokens = HashMap::new();
    for user in &users {
        tokens.insert(
            env.bind_new(user, &format!("{user}-phone"), XIAOMI).await,
            user.clone(),
        );
    }
    delay(&env, XIAOMI, 200);
    let task = list_task(&env, &users, None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let before = get(&env, &task.id).await.progress.unwrap();
    assert!(
        before.users_done > 0 && before.users_done < 1_000,
        "{before:?}"
    );
    env.server = env.server.kill_and_restart().await;
    env.fake(XIAOMI).clear_faults();
    let done = watch(&env, &task.id, 200).await;
    let last = done.last().unwrap();
    assert_eq!(last.state, TaskState::Completed as i32, "{last:?}");
    // Every device got the push at least once; repeats are confined to one page.
    let mut received: HashMap<String, usize> = HashMap::new();
    for send in env.sends(XIAOMI) {
        let form: HashMap<String, String> = form_urlencoded::parse(send.body.as_bytes())
            .into_owned()
            .collect();
        for token in form["registration_id"].split(',') {
            *received.entry(token.to_owned()).or_default() += 1;
        }
    }
    for token in tokens.keys() {
        assert!(
            received.get(token).copied().unwrap_or(0) >= 1,
            "{} never got it",
            tokens[token]
        );
    }
    let repeated: Vec<(&String, usize)> = received
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(t, n)| (&tokens[t], *n))
        .collect();
    assert!(
        repeated.len() <= PAGE,
        "{} users got it more than once",
        repeated.len()
    );
    assert!(repeated.iter().all(|(_, n)| *n == 2), "{repeated:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn label_tasks_reach_the_users_of_their_labels_and_hold_them_while_open() {
    use pushgate::proto::v1::{
        AddLabelUsersRequest, CreateLabelRequest, CreateLabelTaskRequest, DeleteLabelRequest,
        LabelMatch, create_label_task_request, label_service_client::LabelServiceClient,
    };
    let mut env = Env::start().await;
    let mut labels = LabelServiceClient::new(env.push_channel());
    let token = env.app.token.clone();
    for (label, users) in [("red", vec!["a", "b"]), ("blue", vec!["b", "c"])] {
        labels
            .create_label(authed(
                CreateLabelRequest {
                    name: label.into(),
                    description: String::new(),
                },
                &token,
            ))
            .await
            .unwrap();
        labels
            .add_label_users(authed(
                AddLabelUsersRequest {
                    label: label.into(),
                    users: users.iter().map(|u| u.to_string()).collect(),
                },
                &token,
            ))
            .await
            .unwrap();
    }
    for user in ["a", "b", "c"] {
        env.bind_new(user, &format!("{user}-phone"), HONOR).await;
    }
    let create = |matching: LabelMatch| CreateLabelTaskRequest {
        message_source: Some(create_label_task_request::MessageSource::Message(hello())),
        labels: vec!["red".into(), "blue".into()],
        label_match: matching as i32,
        ..Default::default()
    };
    let mut client = tasks(&env);
    let any = client
        .create_label_task(authed(create(LabelMatch::Any), &token))
        .await
        .unwrap()
        .into_inner()
        .task
        .unwrap();
    let done = watch(&env, &any.id, 100).await;
    assert_eq!(done.last().unwrap().users_done, 3, "a, b and c");
    let all = client
        .create_label_task(authed(create(LabelMatch::All), &token))
        .await
        .unwrap()
        .into_inner()
        .task
        .unwrap();
    let done = watch(&env, &all.id, 100).await;
    assert_eq!(done.last().unwrap().users_done, 1, "only b is in both");

    // While a label task is open, its labels cannot be deleted.
    let later = prost_types::Timestamp {
        seconds: (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 3600) as i64,
        nanos: 0,
    };
    let scheduled = client
        .create_label_task(authed(
            CreateLabelTaskRequest {
                start_time: Some(later),
                ..create(LabelMatch::Any)
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner()
        .task
        .unwrap();
    let e = labels
        .delete_label(authed(DeleteLabelRequest { name: "red".into() }, &token))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    client
        .cancel_task(authed(
            CancelTaskRequest {
                task_id: scheduled.id,
            },
            &token,
        ))
        .await
        .unwrap();
    labels
        .delete_label(authed(DeleteLabelRequest { name: "red".into() }, &token))
        .await
        .unwrap();
    let e = client
        .create_label_task(authed(create(LabelMatch::Any), &token))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "an unknown label");
}

/// A task is checked like a send before anything is stored: an unknown stored message or a template the
/// app does not have is NOT_FOUND, and no task (nor message) is created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_naming_an_unknown_message_or_template_is_refused_and_creates_nothing() {
    let env = Env::start().await;
    let e = tasks(&env)
        .create_list_task(authed(
            CreateListTaskRequest {
                users: vec!["ok".into()],
                message_source: Some(create_list_task_request::MessageSource::MessageId(
                    "nope".into(),
                )),
                ..Default::default()
            },
            &env.app.token,
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "{e:?}");
    assert!(e.message().contains("nope"), "{e:?}");

    let templated = PushMessage {
        template: Some(TemplateRef {
            name: "missing".into(),
            ..Default::default()
        }),
        ..hello()
    };
    let e = tasks(&env)
        .create_broadcast_task(authed(
            CreateBroadcastTaskRequest {
                message_source: Some(create_broadcast_task_request::MessageSource::Message(
                    templated,
                )),
                ..Default::default()
            },
            &env.app.token,
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "{e:?}");
    assert!(e.message().contains("missing"), "{e:?}");

    let listed = tasks(&env)
        .list_tasks(authed(ListTasksRequest::default(), &env.app.token))
        .await
        .unwrap()
        .into_inner();
    assert!(listed.tasks.is_empty(), "{listed:?}");
    assert_eq!(env.all_sends(), 0);
}
