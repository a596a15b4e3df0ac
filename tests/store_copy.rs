//! `pushgate store copy` end to end: a server on sled, filled through the API and stopped; its store copied
//! into a fresh PostgreSQL database by the binary; a server started on that database with the same data
//! directory (its generated keys) answers as the first one did. And a copy killed part-way resumes and ends
//! with its counts checked.
//!
//! These go from sled to PostgreSQL by nature, so they have no `_pg` twin (see `common::backend`).

mod common;

use std::{
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use common::{cli::pushgate_in, fresh_database, push::*, settings::Settings};
use pushgate::proto::v1::{
    AddLabelUsersRequest, CallbackRule, CreateLabelRequest, CreateListTaskRequest,
    GetNotificationSettingRequest, GetTaskRequest, GetTaskStatsRequest, ListAppsRequest,
    ListCallbackRulesRequest, ListLabelUsersRequest, ListLabelsRequest, ListNotifiersRequest,
    NotificationConversation, NotificationType, PutCallbackRuleRequest,
    SetNotificationSettingRequest, Task, TaskState, WatchTaskRequest,
    app_service_client::AppServiceClient, create_list_task_request,
    label_service_client::LabelServiceClient, notification_conversation::ChatType,
    task_service_client::TaskServiceClient,
    user_settings_service_client::UserSettingsServiceClient,
};

/// Users with a device each.
const USERS: usize = 10;

fn user(n: usize) -> String {
    format!("user{n}")
}

/// What the tests read back by id.
struct Filled {
    /// A stored message.
    message_id: String,
    /// A list task that ran to its end.
    finished: String,
    /// A list task due tomorrow.
    scheduled: String,
}

/// The settings that put a server on the PostgreSQL database at `url`.
fn on_postgres(url: &str) -> [(&'static str, &str); 2] {
    [
        ("PUSHGATE_STORE_BACKEND", "postgres"),
        ("PUSHGATE_STORE_POSTGRES_URL", url),
    ]
}

/// Clients of the server `env` runs now (after a move, on another port).
async fn reconnect(env: &mut Env) {
    let channel = env.server.channel().await;
    env.push = PushServiceClient::new(channel.clone());
    env.devices = DeviceServiceClient::new(channel.clone());
    env.notifiers = NotifierServiceClient::new(channel);
}

async fn labels(env: &Env) -> LabelServiceClient<Channel> {
    LabelServiceClient::new(env.server.channel().await)
}

/// Binds a device for each of `users`, and puts them in label `all`, the first three in `vip` too.
async fn bind_and_label(env: &mut Env, users: usize) {
    for n in 0..users {
        let notifier = if n % 2 == 0 { FCM } else { APNS };
        env.bind_new(&user(n), &format!("phone{n}"), notifier).await;
    }
    let mut labels = labels(env).await;
    for (label, members) in [("all", users), ("vip", 3)] {
        labels
            .create_label(authed(
                CreateLabelRequest {
                    name: label.into(),
                    description: format!("the {label} label"),
                },
                &env.app.token,
            ))
            .await
            .unwrap();
        labels
            .add_label_users(authed(
                AddLabelUsersRequest {
                    label: label.into(),
                    users: (0..members).map(user).collect(),
                },
                &env.app.token,
            ))
            .await
            .unwrap();
    }
}

/// Every progress item of the task until it ends; the task as it ended.
async fn run_to_end(env: &Env, id: &str) -> Task {
    let mut tasks = TaskServiceClient::new(env.push_channel());
    let mut stream = tasks
        .watch_task(authed(
            WatchTaskRequest {
                task_id: id.into(),
                min_interval: None,
            },
            &env.app.token,
        ))
        .await
        .unwrap()
        .into_inner();
    while tokio::time::timeout(Duration::from_secs(60), stream.message())
        .await
        .expect("progress within a minute")
        .unwrap()
        .is_some()
    {}
    tasks
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

fn group(id: &str) -> Option<NotificationConversation> {
    Some(NotificationConversation {
        chat_type: ChatType::Group as i32,
        key: id.into(),
    })
}

/// Fills the app through the API with some of everything a server keeps.
async fn fill(env: &mut Env) -> Filled {
    bind_and_label(env, USERS).await;
    let token = env.app.token.clone();

    let mut settings = Settings::of(&env.server, &env.app).await;
    settings.nickname(&user(0), "Ana").await.unwrap();
    settings.set_language(&user(0), "pt-BR").await.unwrap();
    settings
        .set_notification(SetNotificationSettingRequest {
            user: user(1),
            conversation: group("g1"),
            r#type: Some(NotificationType::None as i32),
            ..Default::default()
        })
        .await
        .unwrap();
    settings
        .create_template("greet", "Hi {0}", "{1}")
        .await
        .unwrap();
    settings.set_user_template(&user(1), "greet").await.unwrap();

    let message_id = env
        .push
        .create_message(authed(
            CreateMessageRequest {
                message: Some(hello()),
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner()
        .message
        .unwrap()
        .id;

    let mut tasks = TaskServiceClient::new(env.push_channel());
    let list_task = |users: Vec<String>, start_time| CreateListTaskRequest {
        message_source: Some(create_list_task_request::MessageSource::MessageId(
            message_id.clone(),
        )),
        users,
        start_time,
        ..Default::default()
    };
    let finished = tasks
        .create_list_task(authed(list_task((0..5).map(user).collect(), None), &token))
        .await
        .unwrap()
        .into_inner()
        .task
        .unwrap()
        .id;
    let ended = run_to_end(env, &finished).await;
    assert_eq!(ended.state, TaskState::Completed as i32, "{ended:?}");
    let tomorrow = prost_types::Timestamp {
        seconds: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
            + 86_400,
        nanos: 0,
    };
    let scheduled = tasks
        .create_list_task(authed(
            list_task(vec![user(7), user(8)], Some(tomorrow)),
            &token,
        ))
        .await
        .unwrap()
        .into_inner()
        .task
        .unwrap()
        .id;

    // Disabled, so that nothing is posted while the test runs.
    AppServiceClient::new(env.server.channel().await)
        .put_callback_rule(authed(
            PutCallbackRuleRequest {
                app: env.app.name.clone(),
                rule: Some(CallbackRule {
                    name: "hook".into(),
                    url: "https://hooks.example.com/pushgate".into(),
                    secret: "s3cret-s3cret".into(),
                    enabled: false,
                    ..Default::default()
                }),
            },
            &env.server.admin_token,
        ))
        .await
        .unwrap();

    // user5's tablet subscribed once and went away: two pushes wait in its inbox.
    env.subscribe_and_leave(&user(5), "tablet").await;
    for i in 0..2 {
        let message = PushMessage {
            title: format!("inbox {i}"),
            ..hello()
        };
        let r = env
            .send_sync(&user(5), Strategy::ChannelOnly, message)
            .await
            .unwrap();
        assert!(of(&r, "tablet").in_inbox);
    }
    Filled {
        message_id,
        finished,
        scheduled,
    }
}

/// What the server answers about the bindings and labels of `users` users.
async fn bindings_and_labels(env: &mut Env, users: usize) -> Vec<String> {
    let token = env.app.token.clone();
    let mut out = Vec::new();
    for n in 0..users {
        out.push(shown(
            env.devices
                .list_bindings(authed(
                    ListBindingsRequest {
                        user: user(n),
                        ..Default::default()
                    },
                    &token,
                ))
                .await,
        ));
    }
    let mut labels = labels(env).await;
    out.push(shown(
        labels
            .list_labels(authed(
                ListLabelsRequest {
                    page_size: 100,
                    ..Default::default()
                },
                &token,
            ))
            .await,
    ));
    for label in ["all", "vip"] {
        out.push(shown(
            labels
                .list_label_users(authed(
                    ListLabelUsersRequest {
                        label: label.into(),
                        page_size: 100,
                        ..Default::default()
                    },
                    &token,
                ))
                .await,
        ));
    }
    out
}

/// Everything the tests compare before and after a move: what the server answers about `filled`.
async fn answers(env: &mut Env, filled: &Filled) -> Vec<String> {
    let token = env.app.token.clone();
    let channel = env.server.channel().await;
    let mut out = bindings_and_labels(env, USERS).await;

    out.push(shown(
        AppServiceClient::new(channel.clone())
            .list_apps(authed(
                ListAppsRequest {
                    page_size: 100,
                    ..Default::default()
                },
                &env.server.admin_token,
            ))
            .await,
    ));
    out.push(shown(
        AppServiceClient::new(channel.clone())
            .list_callback_rules(authed(
                ListCallbackRulesRequest {
                    app: env.app.name.clone(),
                },
                &env.server.admin_token,
            ))
            .await,
    ));
    out.push(shown(
        env.notifiers
            .list_notifiers(authed(
                ListNotifiersRequest {
                    page_size: 100,
                    ..Default::default()
                },
                &token,
            ))
            .await,
    ));

    let mut tasks = TaskServiceClient::new(channel.clone());
    for id in [&filled.finished, &filled.scheduled] {
        out.push(shown(
            tasks
                .get_task(authed(
                    GetTaskRequest {
                        task_id: id.clone(),
                    },
                    &token,
                ))
                .await,
        ));
    }
    out.push(shown(
        tasks
            .get_task_stats(authed(
                GetTaskStatsRequest {
                    task_id: filled.finished.clone(),
                },
                &token,
            ))
            .await,
    ));
    out.push(shown(
        env.push
            .get_message(authed(
                GetMessageRequest {
                    message_id: filled.message_id.clone(),
                },
                &token,
            ))
            .await,
    ));

    let mut settings = Settings::of(&env.server, &env.app).await;
    out.push(settings.language(&user(0)).await.unwrap());
    out.push(format!("{:?}", settings.template("greet").await.unwrap()));
    out.push(settings.user_template(&user(1)).await.unwrap());
    out.push(shown(
        UserSettingsServiceClient::new(channel)
            .get_notification_setting(authed(
                GetNotificationSettingRequest {
                    user: user(1),
                    conversation: group("g1"),
                },
                &token,
            ))
            .await,
    ));

    let (_, replayed) = env.subscribe(&user(5), "tablet", 0).await;
    assert_eq!(replayed.len(), 2, "the inbox holds both pushes");
    out.push(format!("{replayed:?}"));
    out
}

/// An answer as the comparison keeps it.
fn shown<T: std::fmt::Debug>(answer: Result<tonic::Response<T>, Status>) -> String {
    format!("{:?}", answer.unwrap().into_inner())
}

/// Fails with the first answer that differs (the answers are long).
fn assert_same(after: &[String], before: &[String]) {
    for (i, (a, b)) in after.iter().zip(before).enumerate() {
        assert_eq!(a, b, "answer {i} differs after the move");
    }
    assert_eq!(after.len(), before.len());
}

/// `pushgate store copy --from DIR --to URL ARGS…`.
fn copy_args<'a>(dir: &'a str, url: &'a str, more: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["store", "copy", "--from", dir, "--to", url];
    args.extend_from_slice(more);
    args
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_moved_to_postgres_answers_as_before() {
    let mut env = Env::start().await;
    let filled = fill(&mut env).await;
    let before = answers(&mut env, &filled).await;

    let url = fresh_database();
    let copy_url = url.clone();
    env.server = env
        .server
        .move_store(&on_postgres(&url), move |dir| {
            let dir = dir.to_str().unwrap();
            let run = pushgate_in(
                Path::new(dir),
                &copy_args(dir, &copy_url, &["--batch-size", "7"]),
            );
            run.ok();
            assert!(
                run.stdout.contains("every kind's count checked"),
                "{}",
                run.stdout
            );
            let counted = USERS.to_string();
            assert!(
                run.stdout.lines().any(|line| line.split_whitespace().eq([
                    "bindings",
                    counted.as_str(),
                    counted.as_str()
                ])),
                "{}",
                run.stdout
            );
        })
        .await;
    reconnect(&mut env).await;
    assert_same(&answers(&mut env, &filled).await, &before);

    // The app token issued before the move still works (the same keys, the same app secret id), and a new
    // push lands in the inbox after the copied ones.
    let (_, replayed) = env.subscribe(&user(5), "tablet", 0).await;
    let r = env
        .send_sync(&user(5), Strategy::ChannelOnly, hello())
        .await
        .unwrap();
    assert!(of(&r, "tablet").in_inbox);
    let last = replayed.last().unwrap().position;
    let (_, after) = env.subscribe(&user(5), "tablet", last).await;
    assert_eq!(after.len(), 1, "only the new push is after the copied ones");
    assert_eq!(after[0].message_id, r.message_id);
}

/// How many records the copy into `url` has committed, from its progress table (0 before it has one).
fn copied_so_far(url: &str) -> i64 {
    let url = url.to_owned();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .expect("connect");
            tokio::spawn(connection);
            let exists: bool = client
                .query_one(
                    "SELECT to_regclass('pushgate_copy_progress') IS NOT NULL",
                    &[],
                )
                .await
                .expect("look for the progress")
                .get(0);
            if !exists {
                return 0;
            }
            client
                .query_one(
                    "SELECT coalesce(sum(copied), 0)::bigint FROM pushgate_copy_progress",
                    &[],
                )
                .await
                .expect("read the progress")
                .get(0)
        })
    })
    .join()
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_copy_resumes_and_checks_its_counts() {
    let users = 40;
    let mut env = Env::start().await;
    bind_and_label(&mut env, users).await;
    let before = bindings_and_labels(&mut env, users).await;

    let url = fresh_database();
    let copy_url = url.clone();
    env.server = env
        .server
        .move_store(&on_postgres(&url), move |dir| {
            let dir = dir.to_str().unwrap();
            // Batches of one record, slowed down, killed (SIGKILL: no chance to clean up) once some have
            // committed and before the copy could have ended.
            let mut copy = Command::new(env!("CARGO_BIN_EXE_pushgate"))
                .args(copy_args(
                    dir,
                    &copy_url,
                    &["--batch-size", "1", "--pause-after-batch-ms", "20"],
                ))
                .env_clear()
                .env("PATH", std::env::var("PATH").unwrap_or_default())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start the copy");
            let deadline = Instant::now() + Duration::from_secs(60);
            while copied_so_far(&copy_url) < 30 {
                assert!(copy.try_wait().unwrap().is_none(), "the copy ended early");
                assert!(Instant::now() < deadline, "no progress within 60 s");
                std::thread::sleep(Duration::from_millis(20));
            }
            copy.kill().unwrap();
            copy.wait().unwrap();
            let copied = copied_so_far(&copy_url);

            let run = pushgate_in(Path::new(dir), &copy_args(dir, &copy_url, &[]));
            run.ok();
            assert!(
                run.stdout.contains("resuming an earlier copy"),
                "{}",
                run.stdout
            );
            assert!(
                run.stdout
                    .contains(&format!("{copied} records were copied before")),
                "{}",
                run.stdout
            );
            assert!(run.stdout.contains("every kind's count checked"));
        })
        .await;
    reconnect(&mut env).await;
    assert_same(&bindings_and_labels(&mut env, users).await, &before);
}

#[tokio::test]
async fn a_store_in_use_is_not_copied() {
    let env = Env::start().await;
    let url = fresh_database();
    let dir = env.server.dir().to_str().unwrap().to_owned();
    let run = pushgate_in(Path::new(&dir), &copy_args(&dir, &url, &[]));
    run.expect_code(2);
    assert!(
        run.stderr.contains("in use by another process") && run.stderr.contains("stop it first"),
        "{}",
        run.stderr
    );
    assert_eq!(copied_so_far(&url), 0);
}
