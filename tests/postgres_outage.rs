//! The database going away under a running server, and coming back: calls answer UNAVAILABLE meanwhile
//! (never a panic, never OK for a write that did not commit), the server reconnects by itself, and nothing it
//! acknowledged is lost: every accepted async push and every user of a running task is sent.
//!
//! PostgreSQL only: the test stops and starts the database server, which sled, living inside the server's own
//! process, does not have. The server process going away is tested on both backends (`push/sends.rs`,
//! `push/tasks.rs`). The test starts a PostgreSQL server of its own, as stopping the binary's shared one would
//! break the tests running beside it.

mod common;

use std::{
    collections::{HashMap, HashSet},
    path::Path,
    sync::{Arc, Mutex},
    time::Duration,
};

use common::push::*;
use pushgate::{
    proto::v1::{
        CreateListTaskRequest, GetTaskRequest, Task, TaskState, create_list_task_request,
        task_service_client::TaskServiceClient,
    },
    store::postgres::throwaway::Throwaway,
};

/// Users of the task, on the Xiaomi fake (one request per page of users).
const TASK_USERS: usize = 200;
/// Users of the task per page: 20 pages.
const PAGE_USERS: &str = "10";
/// How long the database is away.
const OUTAGE: Duration = Duration::from_secs(3);

/// What one SendAsync call answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Before,
    During,
    After,
}

/// The answers of the SendAsync calls, by the phase in which they were made: (user, code).
type Answers = Arc<Mutex<Vec<(Phase, String, Code)>>>;

fn tasks(env: &Env) -> TaskServiceClient<Channel> {
    TaskServiceClient::new(env.push_channel())
}

async fn get_task(env: &Env, id: &str) -> Result<Task, Status> {
    tasks(env)
        .get_task(authed(
            GetTaskRequest { task_id: id.into() },
            &env.app.token,
        ))
        .await
        .map(|r| r.into_inner().task.unwrap())
}

/// SendAsync to `a0000`, `a0001`, … one after another every 20 ms, each answer recorded under the phase
/// `phase` shows when the call was made, until `phase` says stop (`None`).
fn send_async_loop(
    env: &Env,
    phase: Arc<Mutex<Option<Phase>>>,
    answers: Answers,
) -> tokio::task::JoinHandle<()> {
    let mut push = PushServiceClient::new(env.push_channel());
    let token = env.app.token.clone();
    tokio::spawn(async move {
        for i in 0..1_000 {
            let Some(now) = *phase.lock().unwrap() else {
                return;
            };
            let user = format!("a{i:04}");
            let call = push.send_async(authed(
                SendAsyncRequest {
                    user: user.clone(),
                    message_source: Some(send_async_request::MessageSource::Message(hello())),
                    ..Default::default()
                },
                &token,
            ));
            let code = match tokio::time::timeout(Duration::from_secs(30), call).await {
                Ok(Ok(_)) => Code::Ok,
                Ok(Err(status)) => status.code(),
                Err(_) => panic!("SendAsync for {user} had no answer within 30 s"),
            };
            answers.lock().unwrap().push((now, user, code));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
}

/// Runs `f` on the test's database server off the runtime (pg_ctl waits).
async fn on_server(pg: &Arc<Throwaway>, f: fn(&Throwaway) -> Result<(), String>) {
    let pg = pg.clone();
    tokio::task::spawn_blocking(move || f(&pg))
        .await
        .unwrap()
        .expect("pg_ctl");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_answers_unavailable_and_loses_nothing_acknowledged() {
    let pg = tokio::task::spawn_blocking(|| {
        Throwaway::start(Path::new(env!("CARGO_TARGET_TMPDIR")), false)
    })
    .await
    .unwrap()
    .expect("start a PostgreSQL server of the test's own");
    let pg = Arc::new(pg);
    let url = pg.create_database("outage").await.expect("create database");
    let env = Env::start_with(&[
        ("PUSHGATE_STORE_BACKEND", "postgres"),
        ("PUSHGATE_STORE_POSTGRES_URL", url.as_str()),
        ("PUSHGATE_TASKS_PAGE_USERS", PAGE_USERS),
    ])
    .await;

    // The async sends' users, one FCM device each, and the task's users, one Xiaomi device each.
    let device = |user: String, notifier: &'static str| -> BindJob {
        let token = token_for(notifier, &user);
        // A device belongs to one user: each user's is its own.
        (user.clone(), format!("{user}-phone"), notifier, token)
    };
    let async_jobs: Vec<BindJob> = (0..1_000)
        .map(|i| device(format!("a{i:04}"), FCM))
        .collect();
    let task_users: Vec<String> = (0..TASK_USERS).map(|i| format!("t{i:04}")).collect();
    let task_jobs: Vec<BindJob> = task_users
        .iter()
        .map(|u| device(u.clone(), XIAOMI))
        .collect();
    env.bind_all(&async_jobs).await;
    env.bind_all(&task_jobs).await;
    let async_tokens: HashMap<String, String> = async_jobs
        .into_iter()
        .map(|(user, _, _, token)| (user, token))
        .collect();
    let task_tokens: HashSet<String> = task_jobs.into_iter().map(|j| j.3).collect();
    // Each page of the task takes at least 300 ms: 20 pages outlast the outage.
    env.fake(XIAOMI).add_fault(FaultRule {
        device_token: None,
        action: FaultAction::Delay { millis: 300 },
        times: None,
    });
    let task = tasks(&env)
        .create_list_task(authed(
            CreateListTaskRequest {
                users: task_users.clone(),
                message_source: Some(create_list_task_request::MessageSource::Message(hello())),
                ..Default::default()
            },
            &env.app.token,
        ))
        .await
        .expect("create the task")
        .into_inner()
        .task
        .unwrap();

    let phase = Arc::new(Mutex::new(Some(Phase::Before)));
    let answers: Answers = Arc::default();
    let sending = send_async_loop(&env, phase.clone(), answers.clone());
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let before = get_task(&env, &task.id).await.unwrap().progress.unwrap();
    assert!(
        before.users_done < TASK_USERS as u64,
        "the task is still running when the database goes: {before:?}"
    );

    // Calls from here on may meet the database stopping.
    *phase.lock().unwrap() = Some(Phase::During);
    on_server(&pg, |pg| pg.stop().map_err(|e| e.to_string())).await;
    tokio::time::sleep(OUTAGE / 2).await;
    let read = get_task(&env, &task.id).await;
    assert_eq!(
        read.as_ref().map_err(Status::code).err(),
        Some(Code::Unavailable),
        "GetTask while the database is away: {read:?}"
    );
    tokio::time::sleep(OUTAGE / 2).await;
    // Calls made up to now count as made during the outage; the ones from here on, after it.
    *phase.lock().unwrap() = Some(Phase::After);
    on_server(&pg, |pg| pg.start_again().map_err(|e| e.to_string())).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    *phase.lock().unwrap() = None;
    sending.await.unwrap();

    let answers = answers.lock().unwrap().clone();
    let codes = |p: Phase| -> Vec<Code> {
        answers
            .iter()
            .filter(|(at, _, _)| *at == p)
            .map(|(_, _, c)| *c)
            .collect()
    };
    assert!(
        codes(Phase::Before).iter().all(|c| *c == Code::Ok) && !codes(Phase::Before).is_empty(),
        "before the outage: {:?}",
        codes(Phase::Before)
    );
    let during = codes(Phase::During);
    assert!(
        during.contains(&Code::Unavailable),
        "during the outage: {during:?}"
    );
    assert!(
        during
            .iter()
            .all(|c| matches!(c, Code::Ok | Code::Unavailable)),
        "during the outage, only OK (committed before the stop) or UNAVAILABLE: {during:?}"
    );
    // Reconnected by itself: the calls made after the database came back succeed, from some point on.
    let after = codes(Phase::After);
    assert!(
        after
            .iter()
            .all(|c| matches!(c, Code::Ok | Code::Unavailable)),
        "{after:?}"
    );
    assert!(
        after.last() == Some(&Code::Ok),
        "after the outage: {after:?}"
    );

    // Nothing acknowledged is lost: every accepted push reaches its device.
    env.fake(XIAOMI).clear_faults();
    let accepted: Vec<&String> = answers
        .iter()
        .filter(|(_, _, c)| *c == Code::Ok)
        .map(|(_, user, _)| user)
        .collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let missing = loop {
        let sent: HashSet<String> = env
            .sends(FCM)
            .into_iter()
            .filter_map(|s| s.device_token)
            .collect();
        let missing: Vec<&&String> = accepted
            .iter()
            .filter(|user| !sent.contains(&async_tokens[user.as_str()]))
            .collect();
        if missing.is_empty() || tokio::time::Instant::now() > deadline {
            break missing.len();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        missing,
        0,
        "of {} accepted async pushes, {missing} were never sent",
        accepted.len()
    );

    // The task went on where it was and reached every user.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let task = loop {
        let task = get_task(&env, &task.id)
            .await
            .expect("GetTask after the outage");
        if task.state != TaskState::Running as i32 && task.state != TaskState::Scheduled as i32 {
            break task;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the task did not end: {task:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(task.state, TaskState::Completed as i32, "{task:?}");
    let progress = task.progress.unwrap();
    assert_eq!(
        (progress.users_done, progress.users_total),
        (TASK_USERS as u64, TASK_USERS as u64),
        "counted once each"
    );
    let mut reached = HashSet::new();
    for send in env.sends(XIAOMI) {
        let form: HashMap<String, String> = form_urlencoded::parse(send.body.as_bytes())
            .into_owned()
            .collect();
        reached.extend(form["registration_id"].split(',').map(str::to_owned));
    }
    let unreached = task_tokens.difference(&reached).count();
    assert_eq!(unreached, 0, "task users never sent to");
}
