//! Three replicas on one PostgreSQL database with the sandbox vendors: a task's fan-out is shared by every
//! replica, and survives one that dies.
//!
//! PostgreSQL only: replicas share a database, and a sled store belongs to the one process that opened it
//! (sled locks its directory), so on sled there is never a second replica to share with.

mod common;

use std::{
    collections::{BTreeSet, HashMap},
    time::Duration,
};

use common::webhook_receiver::{Receiver, dedup_positions};
use common::{
    TestServer, authed, cluster, fakes::sandbox_keeping, fresh_database, metric_sum, push::*,
};
use pushgate::proto::v1::{
    AcceptStatus as Accepted, AckKind, CallbackRule, ChannelMessage, CreateBroadcastTaskRequest,
    CreateListTaskRequest, GetTaskRequest, ListTasksRequest, PutCallbackRuleRequest,
    SubscribeEventsRequest, Task, TaskState, app_service_client::AppServiceClient,
    create_broadcast_task_request, create_list_task_request,
    event_service_client::EventServiceClient, subscribe_events_response::Item,
    task_service_client::TaskServiceClient,
};

/// Users, one device each.
const USERS: usize = 10_000;
/// Users per page: a hundred pages, enough for every replica to take part.
const PAGE_USERS: usize = 100;
/// Each vendor request waits this long, so the fan-out lasts seconds, not milliseconds.
const VENDOR_DELAY_MS: u64 = 30;

/// The vendors of the users: one request per device, so that the fakes count each device's pushes. APNs with
/// token authentication refuses a key's provider token changing more often than every 20 minutes: the three
/// replicas sending for one key must share one.
const VENDORS: [&str; 2] = [FCM, APNS];

/// Three replicas (`replica-a` serving the test world, then b and c), `users` users bound through `a`, spread
/// over [`VENDORS`], the vendors slowed down by `delay_ms` a request.
async fn three(lease: &str, users: usize, delay_ms: u64) -> (Env, Vec<TestServer>, String) {
    let url = fresh_database();
    let page = PAGE_USERS.to_string();
    let extra = [
        ("PUSHGATE_TASKS_PAGE_USERS", page.as_str()),
        ("PUSHGATE_TASKS_POLL", "200ms"),
    ];
    let mut servers = cluster::replicas(
        &url,
        &["replica-a", "replica-b", "replica-c"],
        lease,
        &extra,
    )
    .await;
    let a = servers.remove(0);
    let env = Env::around(a, sandbox_keeping(2 * USERS).await).await;
    let jobs: Vec<BindJob> = (0..users)
        .map(|i| {
            let user = format!("user{i:05}");
            let notifier = VENDORS[i % VENDORS.len()];
            let token = token_for(notifier, &user);
            (user.clone(), format!("{user}-d"), notifier, token)
        })
        .collect();
    env.bind_all(&jobs).await;
    for fake in VENDORS.into_iter().filter(|_| delay_ms > 0) {
        env.fake(fake).add_fault(FaultRule {
            device_token: None,
            action: FaultAction::Delay { millis: delay_ms },
            times: None,
        });
    }
    (env, servers, url)
}

/// The task as `server` reads it.
async fn get(server: &TestServer, token: &str, id: &str) -> Task {
    TaskServiceClient::new(server.channel().await)
        .get_task(authed(GetTaskRequest { task_id: id.into() }, token))
        .await
        .expect("the task")
        .into_inner()
        .task
        .unwrap()
}

/// Waits (at most two minutes) until the task ends, reading it through `server`.
async fn until_ended(server: &TestServer, token: &str, id: &str) -> Task {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let task = get(server, token, id).await;
        if ![TaskState::Scheduled as i32, TaskState::Running as i32].contains(&task.state) {
            return task;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the task did not end: {task:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// How many send requests each device token got, over both vendors.
fn sends_per_token(env: &Env) -> HashMap<String, usize> {
    let mut per_token = HashMap::new();
    for fake in VENDORS {
        for sent in env.sends(fake) {
            let token = sent.device_token.expect("a single-device vendor names it");
            *per_token.entry(token).or_default() += 1;
        }
    }
    per_token
}

/// The delivery events (of task `task_id`, or every one) that a SubscribeEvents reader from position 0 on
/// `channel` gets, until it has `n`: device, position, error, task.
async fn events_from_the_start(
    channel: tonic::transport::Channel,
    token: &str,
    task_id: Option<&str>,
    n: usize,
) -> Vec<(String, u64, String, String)> {
    let mut stream = EventServiceClient::new(channel)
        .subscribe_events(authed(
            SubscribeEventsRequest {
                since: Some(0),
                ..Default::default()
            },
            token,
        ))
        .await
        .expect("subscribe")
        .into_inner();
    let mut out = Vec::new();
    while out.len() < n {
        let item = tokio::time::timeout(Duration::from_secs(10), stream.message())
            .await
            .expect("an event within 10 s")
            .expect("the stream goes on")
            .expect("not ended");
        if let Some(Item::Event(e)) = item.item
            && task_id.is_none_or(|t| e.task_id == t)
        {
            out.push((e.device_id, e.position, e.e_message, e.task_id));
        }
    }
    // Nothing more for this task: a repeated event would come right after.
    let more = tokio::time::timeout(Duration::from_secs(1), async {
        while let Ok(Some(item)) = stream.message().await {
            if let Some(Item::Event(e)) = item.item
                && task_id.is_none_or(|t| e.task_id == t)
            {
                return Some(e);
            }
        }
        None
    })
    .await;
    assert!(
        !matches!(more, Ok(Some(_))),
        "an event beyond one per device: {more:?}"
    );
    out
}

/// The devices each replica pushed as part of tasks (`pushgate_task_devices_total`).
async fn task_devices(server: &TestServer) -> f64 {
    metric_sum(server, "pushgate_task_devices_total").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_through_one_replica_is_fanned_out_by_all_three_once() {
    let (env, others, url) = three("10s", USERS, VENDOR_DELAY_MS).await;
    // A reader on a fourth replica, which takes no part in tasks (it looks for them once an hour) and so
    // records none of the events: subscribed before the task starts, it gets them live all the same.
    let reader_replica = {
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            cluster::replica(&url, "replica-d", "10s", &[("PUSHGATE_TASKS_POLL", "1h")])
        })
        .await
        .unwrap()
    };
    let reader = {
        let channel = reader_replica.channel().await;
        let token = env.app.token.clone();
        tokio::spawn(async move { events_from_the_start(channel, &token, None, USERS).await })
    };
    let task = env.broadcast_hello().await.expect("a broadcast");
    // Read through another replica than the one it was created on.
    let ended = until_ended(&others[1], &env.app.token, &task.id).await;
    assert_eq!(ended.state, TaskState::Completed as i32, "{ended:?}");
    // One event per device, in position order, for a reader on any replica.
    let events = reader.await.unwrap();
    assert!(events.iter().all(|(.., task_id)| *task_id == task.id));
    let devices: BTreeSet<&String> = events.iter().map(|(d, ..)| d).collect();
    assert_eq!(devices.len(), USERS);
    assert!(events.windows(2).all(|w| w[0].1 < w[1].1));
    let errors: BTreeSet<&String> = events
        .iter()
        .map(|(_, _, error, _)| error)
        .filter(|e| !e.is_empty())
        .collect();
    let progress = ended.progress.expect("progress");
    assert_eq!(
        (progress.users_total, progress.users_done),
        (USERS as u64, USERS as u64)
    );
    assert_eq!(
        (
            progress.success_count,
            progress.fail_count,
            progress.error_count
        ),
        (USERS as u64, 0, 0),
        "errors: {errors:?}"
    );
    // Every device exactly once, at the vendors.
    let per_token = sends_per_token(&env);
    assert_eq!(per_token.len(), USERS);
    assert!(
        per_token.values().all(|n| *n == 1),
        "a device got two pushes"
    );
    // All three replicas took part, and their parts add up.
    let parts = [
        task_devices(&env.server).await,
        task_devices(&others[0]).await,
        task_devices(&others[1]).await,
    ];
    assert!(parts.iter().all(|n| *n > 0.0), "parts {parts:?}");
    assert_eq!(parts.iter().sum::<f64>(), USERS as f64, "parts {parts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_mid_broadcast_leaves_its_page_to_the_others() {
    let (env, mut others, _) = three("1s", USERS, VENDOR_DELAY_MS).await;
    let task = env.broadcast_hello().await.expect("a broadcast");
    // Kill b once it has pushed a page or more, with pages still to go.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while task_devices(&others[0]).await == 0.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "replica b took no part"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(others.remove(0));
    let during = get(&env.server, &env.app.token, &task.id).await;
    assert_eq!(
        during.state,
        TaskState::Running as i32,
        "b died mid-broadcast"
    );
    let ended = until_ended(&env.server, &env.app.token, &task.id).await;
    assert_eq!(ended.state, TaskState::Completed as i32, "{ended:?}");
    let progress = ended.progress.expect("progress");
    // Counted once: the killed page was never recorded, its taker recorded it.
    assert_eq!(
        (
            progress.users_total,
            progress.users_done,
            progress.success_count
        ),
        (USERS as u64, USERS as u64, USERS as u64)
    );
    // Every device reached; at most the page b held went out twice.
    let per_token = sends_per_token(&env);
    assert_eq!(per_token.len(), USERS);
    let twice = per_token.values().filter(|n| **n > 1).count();
    assert!(
        per_token.values().all(|n| *n <= 2) && twice <= PAGE_USERS,
        "{twice} devices got more than one push"
    );
    let events = events_from_the_start(
        others[0].channel().await,
        &env.app.token,
        Some(&task.id),
        USERS,
    )
    .await;
    let devices: BTreeSet<&String> = events.iter().map(|(d, ..)| d).collect();
    assert_eq!(devices.len(), USERS, "one event per device");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_accepted_by_a_replica_that_dies_are_sent_by_the_others() {
    const ACCEPTED: usize = 200;
    // Each push waits at the vendor for a second: b still holds most of them when it dies.
    let (env, mut others, _) = three("1s", ACCEPTED, 1_000).await;
    let mut through_b = PushServiceClient::new(others[0].channel().await);
    for i in 0..ACCEPTED {
        let accepted = through_b
            .send_async(authed(
                SendAsyncRequest {
                    user: format!("user{i:05}"),
                    message_source: Some(send_async_request::MessageSource::Message(hello())),
                    ..Default::default()
                },
                &env.app.token,
            ))
            .await
            .expect("accepted")
            .into_inner();
        assert_eq!(accepted.target.unwrap().status, Accepted::Accepted as i32);
    }
    drop(others.remove(0));
    let sent_before = sends_per_token(&env).len();
    assert!(sent_before < ACCEPTED, "b died with pushes in hand");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let reached = sends_per_token(&env).len();
        if reached == ACCEPTED {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{reached} of {ACCEPTED} accepted pushes reached their device"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The replica holding the callback rule's lease (its replica id), read from the database.
async fn lease_holder(url: &str, name: &str) -> Option<String> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    client
        .query_opt(
            "SELECT holder FROM leases WHERE name = $1 AND until_ms > 0",
            &[&name],
        )
        .await
        .expect("read the lease")
        .map(|row| row.get(0))
}

/// SendSync of `user` through `server`.
async fn send_through(server: &TestServer, token: &str, user: &str) {
    PushServiceClient::new(server.channel().await)
        .send_sync(authed(
            SendSyncRequest {
                user: user.into(),
                message_source: Some(send_sync_request::MessageSource::Message(hello())),
                ..Default::default()
            },
            token,
        ))
        .await
        .expect("sent");
}

/// Each device's callbacks, by first arrival, in the order the device's events were logged.
fn in_order_per_device(requests: &[common::webhook_receiver::Received]) -> bool {
    let mut last: HashMap<String, u64> = HashMap::new();
    let mut seen = BTreeSet::new();
    for r in requests.iter().filter(|r| r.delivered()) {
        let position = r.position();
        if !seen.insert(position) {
            continue;
        }
        let device = r.json()["device_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if last
            .insert(device, position)
            .is_some_and(|before| before > position)
        {
            return false;
        }
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_replica_delivers_a_callback_rule_and_another_continues_when_it_dies() {
    const USERS: usize = 40;
    let url = fresh_database();
    let mut replicas =
        cluster::replicas(&url, &["replica-a", "replica-b", "replica-c"], "1s", &[]).await;
    let a = replicas.remove(0);
    let env = Env::around(a, sandbox_keeping(1_000).await).await;
    let jobs: Vec<BindJob> = (0..USERS)
        .map(|i| {
            let user = format!("user{i:05}");
            let token = token_for(FCM, &user);
            (user.clone(), format!("{user}-d"), FCM, token)
        })
        .collect();
    env.bind_all(&jobs).await;
    let receiver = Receiver::start().await;
    AppServiceClient::new(env.server.channel().await)
        .put_callback_rule(authed(
            PutCallbackRuleRequest {
                app: env.app.name.clone(),
                rule: Some(CallbackRule {
                    name: "hook".into(),
                    url: receiver.url.clone(),
                    secret: "cluster-secret".into(),
                    enabled: true,
                    ..Default::default()
                }),
            },
            &env.server.admin_token,
        ))
        .await
        .expect("a rule");
    let mut all: Vec<&TestServer> = vec![&env.server];
    all.extend(replicas.iter());
    // Sends through every replica; the one holding the rule's lease posts every event, once.
    for (i, (user, ..)) in jobs.iter().enumerate() {
        send_through(all[i % 3], &env.app.token, user).await;
    }
    let first = receiver
        .wait_until("one callback per event", Duration::from_secs(30), |r| {
            dedup_positions(r.iter().filter(|r| r.delivered())).len() >= USERS
        })
        .await;
    assert_eq!(first.len(), USERS, "each event posted once while all live");
    // And no second deliverer posts them a moment later.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(receiver.requests().len(), USERS, "one deliverer per rule");
    let lease = format!("callback/{}/hook", env.app.name);
    let holder = lease_holder(&url, &lease)
        .await
        .expect("a replica delivers the rule");

    // The deliverer dies; the others go on sending, and one of them takes the rule up from its cursor.
    let mut env = env;
    if holder == "replica-a" {
        env.server.kill();
    } else {
        drop(replicas.remove(if holder == "replica-b" { 0 } else { 1 }));
    }
    let mut survivors: Vec<&TestServer> = replicas.iter().collect();
    if holder != "replica-a" {
        survivors.push(&env.server);
    }
    for (i, (user, ..)) in jobs.iter().enumerate() {
        send_through(survivors[i % survivors.len()], &env.app.token, user).await;
    }
    let every = receiver
        .wait_until(
            "a callback for every event of both rounds",
            Duration::from_secs(60),
            |r| dedup_positions(r.iter().filter(|r| r.delivered())).len() >= 2 * USERS,
        )
        .await;
    let distinct = dedup_positions(every.iter().filter(|r| r.delivered())).len();
    assert_eq!(distinct, 2 * USERS);
    // At most what the dead deliverer had in flight is posted again.
    assert!(
        every.len() - distinct <= USERS,
        "{} repeated callbacks",
        every.len() - distinct
    );
    let next = lease_holder(&url, &lease).await.expect("a deliverer");
    assert_ne!(next, holder);
    assert!(
        in_order_per_device(&every),
        "a device's callbacks out of order"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_stopped_mid_broadcast_hands_its_part_over_at_once() {
    // A lease of a minute: the task can only finish in time if b gives its part back when it stops.
    let (env, mut others, _) = three("60s", USERS, VENDOR_DELAY_MS).await;
    let task = env.broadcast_hello().await.expect("a broadcast");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while task_devices(&others[0]).await == 0.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "replica b took no part"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut b = others.remove(0);
    let stopping = std::time::Instant::now();
    let status = tokio::task::spawn_blocking(move || b.terminate())
        .await
        .unwrap();
    assert!(status.success(), "{status}");
    // The test servers' grace period is the default, 20 s: b is out well within it.
    assert!(
        stopping.elapsed() < Duration::from_secs(15),
        "b took {:?} to stop",
        stopping.elapsed()
    );
    eprintln!("stopped in {:?}", stopping.elapsed());
    let during = get(&env.server, &env.app.token, &task.id).await;
    assert_eq!(
        during.state,
        TaskState::Running as i32,
        "b stopped mid-broadcast"
    );
    let handed_over = std::time::Instant::now();
    let ended = until_ended(&env.server, &env.app.token, &task.id).await;
    assert_eq!(ended.state, TaskState::Completed as i32, "{ended:?}");
    assert!(
        handed_over.elapsed() < Duration::from_secs(45),
        "the rest took {:?}: b's page waited for its lease",
        handed_over.elapsed()
    );
    eprintln!("rest in {:?}", handed_over.elapsed());
    let progress = ended.progress.expect("progress");
    assert_eq!(
        (progress.users_done, progress.success_count),
        (USERS as u64, USERS as u64)
    );
    let per_token = sends_per_token(&env);
    assert_eq!(per_token.len(), USERS, "every device reached");
    assert!(
        per_token.values().filter(|n| **n > 1).count() <= PAGE_USERS,
        "at most b's page in flight went out twice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_request_id_sent_through_two_replicas_at_once_is_sent_once() {
    // A slow vendor, so the two calls overlap.
    let (env, others, _) = three("10s", 4, 500).await;
    let request = || SendSyncRequest {
        user: "user00000".into(),
        message_source: Some(send_sync_request::MessageSource::Message(hello())),
        request_id: "order-7-shipped".into(),
        ..Default::default()
    };
    let (mut through_a, mut through_b) = (
        PushServiceClient::new(env.server.channel().await),
        PushServiceClient::new(others[0].channel().await),
    );
    let (a, b) = tokio::join!(
        through_a.send_sync(authed(request(), &env.app.token)),
        through_b.send_sync(authed(request(), &env.app.token))
    );
    let (a, b) = (
        a.expect("a answers").into_inner(),
        b.expect("b answers").into_inner(),
    );
    assert_eq!(a, b, "both callers get the one answer");
    assert!(!a.message_id.is_empty());
    assert_eq!(sends_per_token(&env).values().sum::<usize>(), 1, "one send");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcasts_created_through_every_replica_at_once_keep_easemobs_limit() {
    let (env, others, _) = three("10s", 4, 0).await;
    let servers: Vec<&TestServer> = std::iter::once(&env.server).chain(others.iter()).collect();
    let mut calls = Vec::new();
    for i in 0..10 {
        let channel = servers[i % servers.len()].channel().await;
        let token = env.app.token.clone();
        calls.push(tokio::spawn(async move {
            TaskServiceClient::new(channel)
                .create_broadcast_task(authed(
                    CreateBroadcastTaskRequest {
                        message_source: Some(
                            create_broadcast_task_request::MessageSource::Message(hello()),
                        ),
                        ..Default::default()
                    },
                    &token,
                ))
                .await
        }));
    }
    let mut created = 0;
    for call in calls {
        match call.await.unwrap() {
            Ok(_) => created += 1,
            Err(e) => assert_eq!(e.code(), tonic::Code::ResourceExhausted, "{e:?}"),
        }
    }
    // tasks.max_created_per_window: 3 per 5 minutes, as Easemob counts them.
    assert_eq!(created, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notifiers_qps_limit_holds_for_the_replicas_together() {
    // The figure.
    const QPS: u32 = 200;
    // 2,000 of the users on FCM: ten seconds at the limit, three and a third if each replica took it whole.
    let (mut env, others, _) = three("10s", 4_000, 0).await;
    env.set_qps_limit(FCM, QPS).await;
    // Every replica counts the three before the first push builds its lane.
    for server in std::iter::once(&env.server).chain(others.iter()) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while common::metric(server, "pushgate_cluster_replicas").await != Some(3.0) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "replicas do not count 3"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let task = env.broadcast_hello().await.expect("a broadcast");
    let ended = until_ended(&env.server, &env.app.token, &task.id).await;
    assert_eq!(ended.state, TaskState::Completed as i32, "{ended:?}");
    let mut at: Vec<i64> = env.sends(FCM).iter().map(|r| r.at_ms).collect();
    at.sort_unstable();
    assert_eq!(at.len(), 2_000);
    let parts = [
        task_devices(&env.server).await,
        task_devices(&others[0]).await,
        task_devices(&others[1]).await,
    ];
    assert!(parts.iter().all(|n| *n > 0.0), "all three sent: {parts:?}");
    // The average over the run, which the limiters' first bursts (a second's worth each) cannot move far:
    // within a quarter above the limit.
    let seconds = (at[at.len() - 1] - at[0]) as f64 / 1000.0;
    let rate = at.len() as f64 / seconds;
    assert!(
        rate <= f64::from(QPS) * 1.25,
        "{rate:.0}/s over {seconds:.1} s against a limit of {QPS}/s"
    );
}

/// A client of the deployment as a caller behind a Service sees it: each call goes to one of the replicas
/// `addrs` lists now; a call answered `UNAVAILABLE`, or whose connection fails, is retried on the next one
/// (as the retry policy README gives callers would), with the same request id. Any other error fails.
async fn call_with_retries<T, F, Fut>(
    addrs: &std::sync::Mutex<Vec<std::net::SocketAddr>>,
    start: usize,
    call: F,
) -> (T, usize)
where
    F: Fn(tonic::transport::Channel) -> Fut,
    Fut: std::future::Future<Output = Result<T, tonic::Status>>,
{
    let mut retries = 0;
    for attempt in start.. {
        let addr = {
            let addrs = addrs.lock().unwrap();
            addrs[attempt % addrs.len()]
        };
        let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(20))
            .connect()
            .await;
        let answer = match channel {
            Ok(channel) => call(channel).await,
            Err(e) => Err(tonic::Status::unavailable(e.to_string())),
        };
        match answer {
            Ok(answer) => return (answer, retries),
            Err(e) if e.code() == tonic::Code::Unavailable && retries < 20 => {
                retries += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("a call failed otherwise than UNAVAILABLE, or kept failing: {e:?}"),
        }
    }
    unreachable!()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_loses_no_accepted_push() {
    const SENDS: usize = 400;
    // A 100 ms vendor: pushes are in hand whenever a replica stops.
    let (mut env, mut others, url) = three("10s", SENDS, 100).await;
    let token = env.app.token.clone();
    let addrs = std::sync::Arc::new(std::sync::Mutex::new(
        std::iter::once(&env.server)
            .chain(others.iter())
            .map(|r| r.addr)
            .collect::<Vec<_>>(),
    ));
    // The client: one send after another, SendAsync and SendSync in turn, each to its own user.
    let client = {
        let (addrs, token) = (addrs.clone(), token.clone());
        tokio::spawn(async move {
            let mut retried = 0;
            for i in 0..SENDS {
                let user = format!("user{i:05}");
                let request_id = format!("rolling-{i}");
                let (_, retries) = call_with_retries(&addrs, i, |channel| {
                    let (user, request_id, token) =
                        (user.clone(), request_id.clone(), token.clone());
                    async move {
                        let mut push = PushServiceClient::new(channel);
                        let message = hello();
                        if i % 2 == 0 {
                            let request = SendAsyncRequest {
                                user,
                                message_source: Some(send_async_request::MessageSource::Message(
                                    message,
                                )),
                                request_id,
                                ..Default::default()
                            };
                            push.send_async(authed(request, &token)).await.map(|_| ())
                        } else {
                            let request = SendSyncRequest {
                                user,
                                message_source: Some(send_sync_request::MessageSource::Message(
                                    message,
                                )),
                                request_id,
                                ..Default::default()
                            };
                            push.send_sync(authed(request, &token)).await.map(|_| ())
                        }
                    }
                })
                .await;
                retried += retries;
            }
            retried
        })
    };
    // The rolling update: a new replica joins, then an old one stops (SIGTERM), three times over.
    for n in 0..3 {
        tokio::time::sleep(Duration::from_millis(700)).await;
        let url = url.clone();
        let new = tokio::task::spawn_blocking(move || {
            cluster::replica(&url, &format!("replica-new-{n}"), "10s", &[])
        })
        .await
        .unwrap();
        let new_addr = new.addr;
        let mut old = match n {
            0 => std::mem::replace(&mut env.server, new),
            _ => std::mem::replace(&mut others[n - 1], new),
        };
        addrs.lock().unwrap().push(new_addr);
        // SIGTERM first; the client learns of it a moment later, as endpoints lag behind a pod's end: calls
        // meanwhile meet a replica that stops, and are retried.
        let old_addr = old.addr;
        let stopping = tokio::task::spawn_blocking(move || old.terminate());
        tokio::time::sleep(Duration::from_millis(500)).await;
        addrs.lock().unwrap().retain(|a| *a != old_addr);
        let status = stopping.await.unwrap();
        assert!(status.success(), "a replica stopped badly: {status}");
    }
    let retried = client
        .await
        .expect("every call succeeded, retried on UNAVAILABLE at most");
    // Every accepted push reaches its device: SendSync answered after sending, SendAsync once a replica
    // took it up.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let reached = sends_per_token(&env).len();
        if reached == SENDS {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{reached} of {SENDS} accepted pushes reached their device ({retried} calls retried)"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_tasks_coming_due_together_take_the_running_slots_across_replicas() {
    // Each task pushes one user through a vendor that takes 1.5 s: they overlap while they run.
    let (env, others, _) = three("10s", 6, 1_500).await;
    let servers: Vec<&TestServer> = std::iter::once(&env.server).chain(others.iter()).collect();
    // Six list tasks, due together in two seconds (created through every replica): a scheduled task does
    // not count against the running slots when it is created, only when it comes due.
    let due = pushgate::clock::timestamp(pushgate::clock::now_ms() + 2_000);
    for i in 0..6 {
        TaskServiceClient::new(servers[i % 3].channel().await)
            .create_list_task(authed(
                CreateListTaskRequest {
                    message_source: Some(create_list_task_request::MessageSource::Message(hello())),
                    users: vec![format!("user{i:05}")],
                    start_time: Some(due),
                    ..Default::default()
                },
                &env.app.token,
            ))
            .await
            .expect("a scheduled list task");
    }
    // Watch the running ones until all six have completed.
    let mut tasks = TaskServiceClient::new(env.server.channel().await);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut most_running = 0;
    loop {
        let listed = tasks
            .list_tasks(authed(
                ListTasksRequest {
                    page_size: 100,
                    ..Default::default()
                },
                &env.app.token,
            ))
            .await
            .expect("tasks")
            .into_inner()
            .tasks;
        let count = |state: TaskState| listed.iter().filter(|t| t.state == state as i32).count();
        most_running = most_running.max(count(TaskState::Running));
        if count(TaskState::Completed) == 6 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{listed:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Easemob's three running label and list tasks per app, for the deployment.
    assert_eq!(most_running, 3);
}

/// SendSync of a push titled `title` to `user` through `server`, with `strategy`.
async fn send_titled(
    server: &TestServer,
    token: &str,
    user: &str,
    strategy: Strategy,
    title: &str,
) -> SendSyncResponse {
    PushServiceClient::new(server.channel().await)
        .send_sync(authed(
            SendSyncRequest {
                user: user.into(),
                strategy: strategy as i32,
                message_source: Some(send_sync_request::MessageSource::Message(PushMessage {
                    title: title.into(),
                    ..hello()
                })),
                ..Default::default()
            },
            token,
        ))
        .await
        .expect("SendSync")
        .into_inner()
}

/// Waits (10 s at most) until `server` holds `n` own-channel streams.
async fn until_streams(server: &TestServer, n: f64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while common::metric(server, "pushgate_channel_streams").await != Some(n) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{n} streams expected"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The own channel across replicas: a device's stream on C gets pushes accepted by A live (and by C itself,
/// in position order however the two interleave); strategy 4 finds it online from A; once C dies the
/// device resubscribes on B and gets every push replayed, acks through B, and is reached live there; a
/// stream on A replaces the one on B; a device gone from every replica counts as offline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_own_channel_reaches_a_device_on_any_replica() {
    let url = fresh_database();
    let extra = [("PUSHGATE_CLUSTER_INTERNAL_LISTEN", "127.0.0.1:0")];
    let mut servers =
        cluster::replicas(&url, &["replica-a", "replica-b", "replica-c"], "1s", &extra).await;
    let a = servers.remove(0);
    let (b, mut c) = (servers.remove(0), servers.remove(0));
    let env = Env::around(a, sandbox_keeping(100).await).await;
    let token = env.app.token.clone();
    let title = |m: &ChannelMessage| m.message.as_ref().unwrap().title.clone();

    let (mut on_c, replayed) = env.subscribe_on(&c, "u", "d", 0).await;
    assert!(replayed.is_empty());
    let r = send_titled(
        &env.server,
        &token,
        "u",
        Strategy::ChannelOnlineOnly,
        "first",
    )
    .await;
    let result = of(&r, "d");
    assert_eq!(status(result), DeliveryStatus::Success, "{result:?}");
    assert!(!result.in_inbox, "handed to the stream on C: {result:?}");
    let first = next_push(&mut on_c).await;
    assert_eq!((title(&first), first.from_inbox), ("first".into(), false));

    // Twenty pushes through A and C at once: each arrives once, in position order.
    let sends = (0..20).map(|i| {
        let (server, token) = (if i % 2 == 0 { &env.server } else { &c }, &token);
        async move {
            let r = send_titled(server, token, "u", Strategy::ChannelOnly, &format!("p{i}")).await;
            r.message_id
        }
    });
    let mut sent: BTreeSet<String> = futures::future::join_all(sends).await.into_iter().collect();
    let mut positions = vec![first.position];
    let mut got = BTreeSet::new();
    while got.len() < 20 {
        let m = next_push(&mut on_c).await;
        assert!(!m.from_inbox);
        assert!(got.insert(m.message_id.clone()), "{} twice", m.message_id);
        positions.push(m.position);
    }
    assert_eq!(got, sent, "every push live, once");
    assert!(positions.is_sorted(), "in position order: {positions:?}");

    // C dies: the device comes back through B and finds every push in its inbox.
    c.kill();
    sent.insert(first.message_id.clone());
    let (mut on_b, replayed) = env.subscribe_on(&b, "u", "d", 0).await;
    let replayed_ids: BTreeSet<String> = replayed.iter().map(|m| m.message_id.clone()).collect();
    assert_eq!(replayed_ids, sent, "the replay on B");
    assert!(replayed.iter().all(|m| m.from_inbox));
    let acked: Vec<String> = sent.iter().cloned().collect();
    assert!(
        env.ack_on(&b, "u", "d", &acked, AckKind::Delivered)
            .await
            .is_empty(),
        "B knows every push C's stream got"
    );

    // A reaches the device on B live, and strategy 4 finds it online there.
    let r = send_titled(
        &env.server,
        &token,
        "u",
        Strategy::ChannelOnlineOnly,
        "on b",
    )
    .await;
    assert!(!of(&r, "d").in_inbox, "{r:?}");
    let on_b_push = next_push(&mut on_b).await;
    assert_eq!(title(&on_b_push), "on b");
    assert!(
        env.ack_on(
            &env.server,
            "u",
            "d",
            &[on_b_push.message_id],
            AckKind::Delivered
        )
        .await
        .is_empty()
    );

    // A newer stream on A ends the one on B; its replay is empty (everything acked).
    let (mut on_a, replayed) = env.subscribe_on(&env.server, "u", "d", 0).await;
    assert!(replayed.is_empty(), "acked through B and A: {replayed:?}");
    let ended = tokio::time::timeout(Duration::from_secs(10), on_b.message())
        .await
        .expect("B's stream ends")
        .expect_err("ended by the server");
    assert_eq!(ended.code(), tonic::Code::Aborted, "{ended:?}");
    until_streams(&b, 0.0).await;
    let r = send_titled(&b, &token, "u", Strategy::ChannelOnlineOnly, "on a").await;
    assert!(!of(&r, "d").in_inbox, "{r:?}");
    assert_eq!(title(&next_push(&mut on_a).await), "on a");

    // Gone from every replica: offline for strategy 4, whichever replica asks.
    drop(on_a);
    until_streams(&env.server, 0.0).await;
    for server in [&env.server, &b] {
        let r = send_titled(server, &token, "u", Strategy::ChannelOnlineOnly, "nobody").await;
        assert_eq!(status(of(&r, "d")), DeliveryStatus::Fail, "{r:?}");
    }
}

/// An app's SendSync rate holds for the replicas together: thirty calls at once spread over three replicas
/// get the app's burst and what the rate adds while they run, where each replica on its own would admit a
/// burst of its own (twelve).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apps_send_sync_rate_holds_for_the_replicas_together() {
    let url = fresh_database();
    let extra = [("PUSHGATE_PUSH_SYNC_PER_SECOND_PER_APP", "4")];
    let mut servers = cluster::replicas(
        &url,
        &["replica-a", "replica-b", "replica-c"],
        "10s",
        &extra,
    )
    .await;
    let a = servers.remove(0);
    let env = Env::around(a, sandbox_keeping(10).await).await;
    let token = env.app.token.clone();
    let through = [&env.server, &servers[0], &servers[1]];
    let started = std::time::Instant::now();
    let calls = (0..30).map(|i| {
        let (server, token) = (through[i % 3], &token);
        async move {
            PushServiceClient::new(server.channel().await)
                .send_sync(authed(
                    SendSyncRequest {
                        user: "nobody".into(),
                        message_source: Some(send_sync_request::MessageSource::Message(hello())),
                        ..Default::default()
                    },
                    token,
                ))
                .await
        }
    });
    let answers = futures::future::join_all(calls).await;
    let elapsed = started.elapsed().as_secs_f64();
    let admitted = answers.iter().filter(|a| a.is_ok()).count();
    for refused in answers.iter().filter_map(|a| a.as_ref().err()) {
        assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    }
    let bound = 4 + (4.0 * elapsed).ceil() as usize;
    assert!(
        (4..=bound).contains(&admitted),
        "{admitted} admitted in {elapsed:.2} s at 4/s with a burst of 4"
    );
}
