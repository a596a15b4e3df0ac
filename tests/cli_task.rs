//! `pushgate task ...` as a user runs it: the real binary against a real server.

mod common;

use std::time::{Duration, Instant};

use common::{
    TestServer, authed,
    cli::{Run, call, pushgate},
    create_app,
};
use pushgate::proto::v1::{
    SetPushNicknameRequest, user_settings_service_client::UserSettingsServiceClient,
};
use serde_json::{Value, json};

/// `pushgate task ARGS --endpoint URL --token TOKEN`.
async fn task(url: &str, token: &str, args: &[&str]) -> Run {
    let mut all = vec!["task"];
    all.extend(args);
    call(url, token, &all).await
}

#[tokio::test]
async fn a_list_task_is_created_watched_and_counted_from_the_command_line() {
    let server = TestServer::start();
    let app = create_app(&server, "acme#cli").await;
    let url = server.url();
    // Known users (a nickname is a record of them) without devices: each push fails `no push binding`.
    let mut settings = UserSettingsServiceClient::new(server.channel().await);
    for user in ["alice", "bob"] {
        settings
            .set_push_nickname(authed(
                SetPushNicknameRequest {
                    user: user.into(),
                    nickname: user.to_uppercase(),
                },
                &app.token,
            ))
            .await
            .expect("set nickname");
    }

    let created = task(
        &url,
        &app.token,
        &[
            "create",
            "list",
            "--user",
            "alice",
            "--user",
            "bob",
            "--title",
            "Hi",
            "--content",
            "Hello",
            "--output",
            "json",
        ],
    )
    .await;
    assert_eq!(created.code(), Some(0), "{}", created.stderr);
    let created = &created.json_lines()[0]["task"];
    assert_eq!(created["kind"], "TASK_KIND_LIST");
    assert_eq!(created["listSize"], 2);
    let id = created["id"].as_str().expect("task id").to_owned();
    assert!(!id.is_empty());

    let watched = task(
        &url,
        &app.token,
        &["watch", &id, "--output", "json", "--interval-ms", "100"],
    )
    .await;
    assert_eq!(watched.code(), Some(0), "{}", watched.stderr);
    let lines = watched.json_lines();
    let (stats, progress) = lines.split_last().expect("at least the stats");
    assert!(!progress.is_empty(), "{}", watched.stdout);
    for item in progress {
        assert!(item["progress"].is_object(), "{item}");
    }
    let last = &progress[progress.len() - 1]["progress"];
    assert_eq!(last["state"], "TASK_STATE_COMPLETED");
    assert_eq!(
        (
            &last["usersTotal"],
            &last["usersDone"],
            &last["successCount"],
            &last["failCount"],
            &last["errorCount"],
        ),
        (&json!(2), &json!(2), &json!(0), &json!(2), &json!(0))
    );
    let stats = &stats["stats"];
    assert_eq!(stats["taskId"], id.as_str());
    assert_eq!(stats["state"], "TASK_STATE_COMPLETED");
    assert_eq!(stats["total"], 2);
    assert_eq!(
        stats["byStatus"],
        json!([{"status": "DELIVERY_STATUS_FAIL", "count": 2}])
    );
    assert_eq!(
        stats["byFailureReason"],
        json!([{"reason": "FAILURE_REASON_NO_PUSH_BINDING", "count": 2}])
    );

    let shown = task(&url, &app.token, &["stats", &id]).await;
    assert_eq!(shown.code(), Some(0), "{}", shown.stderr);
    assert!(
        shown
            .stdout
            .starts_with(&format!("task {id}: completed, 2 pushes recorded")),
        "{}",
        shown.stdout
    );
    let reason_row = shown
        .stdout
        .lines()
        .find(|l| l.starts_with("no push binding"))
        .unwrap_or_else(|| panic!("no reason row in\n{}", shown.stdout));
    assert_eq!(reason_row.split_whitespace().last(), Some("2"));
    // Pushes that reached no channel (the users have no device) are counted on a row of their own.
    let channel_row = shown
        .stdout
        .lines()
        .find(|l| l.starts_with("none "))
        .unwrap_or_else(|| panic!("no channel row for no channel in\n{}", shown.stdout));
    assert_eq!(
        channel_row.split_whitespace().collect::<Vec<_>>(),
        ["none", "2", "0", "2", "0"]
    );

    // The human watch of an ended task: its one item, the summary and the statistics.
    let human = task(&url, &app.token, &["watch", &id]).await;
    assert_eq!(human.code(), Some(0), "{}", human.stderr);
    let summary: Vec<&str> = human
        .stdout
        .lines()
        .nth(1)
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(
        summary[..5],
        ["completed", "2/2", "0", "2", "0"],
        "{}",
        human.stdout
    );
    assert!(
        human.stdout.contains("by failure reason:"),
        "{}",
        human.stdout
    );

    let listed = task(
        &url,
        &app.token,
        &["list", "--state", "completed", "--output", "json"],
    )
    .await;
    assert_eq!(listed.code(), Some(0), "{}", listed.stderr);
    let ids: Vec<Value> = listed.json_lines()[0]["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| t["id"].clone())
        .collect();
    assert_eq!(ids, [json!(id)]);

    // An ended task cannot be cancelled: the server's refusal, and exit 2.
    let cancelled = task(&url, &app.token, &["cancel", &id]).await;
    assert_eq!(cancelled.code(), Some(2), "{}", cancelled.stdout);
    assert!(
        cancelled.stderr.contains("FAILED_PRECONDITION"),
        "{}",
        cancelled.stderr
    );
}

#[test]
fn task_commands_need_an_app_token() {
    let run = pushgate(&["task", "get", "t-1", "--endpoint", "http://127.0.0.1:9"]);
    assert_eq!(run.code(), Some(2));
    assert!(
        run.stderr.contains("an app token is needed"),
        "{}",
        run.stderr
    );
}

#[test]
fn bad_flags_are_refused_before_any_connection() {
    let run = pushgate(&[
        "task",
        "create",
        "broadcast",
        "--token",
        "t",
        "--title",
        "x",
        "--strategy",
        "9",
    ]);
    assert_eq!(run.code(), Some(2));
    assert!(run.stderr.contains("is not a strategy"), "{}", run.stderr);

    // Parsed fine, but a label task takes at most five labels: said before connecting (port 9 is closed).
    let mut args = vec!["task", "--endpoint", "http://127.0.0.1:9", "--token", "t"];
    args.extend(["create", "label", "--title", "x"]);
    for label in ["a", "b", "c", "d", "e", "f"] {
        args.extend(["--label", label]);
    }
    let run = pushgate(&args);
    assert_eq!(run.code(), Some(2));
    assert!(run.stderr.contains("1..5 labels"), "{}", run.stderr);
}

#[test]
fn an_unreachable_server_is_an_error_within_the_timeout() {
    let started = Instant::now();
    let run = pushgate(&[
        "task",
        "watch",
        "t-1",
        "--endpoint",
        "http://127.0.0.1:9",
        "--token",
        "t",
        "--timeout",
        "2",
    ]);
    assert_eq!(run.code(), Some(2));
    assert!(
        run.stderr.contains("cannot reach pushgate"),
        "{}",
        run.stderr
    );
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[test]
fn every_task_subcommand_explains_itself() {
    for args in [
        &["task", "--help"][..],
        &["task", "create", "list", "--help"],
        &["task", "watch", "--help"],
        &["task", "list", "--help"],
    ] {
        let run = pushgate(args);
        assert_eq!(run.code(), Some(0), "{args:?}: {}", run.stderr);
        assert!(
            run.stdout.contains("Usage: pushgate task"),
            "{args:?}: {}",
            run.stdout
        );
    }
}
