//! The admin commands as a user runs them: `pushgate app`, `token`, `notifier`, `device` and `label`, the
//! real binary against a real server, each group through a create, list and delete round trip.

mod common;

use common::{
    TestServer,
    cli::{Run, call, pushgate, pushgate_in},
    create_app,
};
use serde_json::{Value, json};

/// The string values of `key` in each object of the array `v`.
fn names(v: &Value, key: &str) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|item| item[key].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// The words of a line, whatever the padding between them.
fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// A CreateNotifier body for a Huawei notifier; nothing calls the vendor until a push.
const HUAWEI_BODY: &str = r#"{"notifier": {"name": "hw", "description": "Huawei phones", "huawei": {"appId": "10086", "clientSecret": "hw-secret"}}}"#;

/// Creates notifier `hw` through the CLI.
async fn create_huawei(url: &str, token: &str) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hw.json");
    std::fs::write(&file, HUAWEI_BODY).unwrap();
    call(
        url,
        token,
        &["notifier", "create", "--from-json", file.to_str().unwrap()],
    )
    .await
}

#[tokio::test]
async fn apps_callback_rules_and_tokens_round_trip() {
    let server = TestServer::start();
    let (url, admin) = (server.url(), server.admin_token.clone());
    let app = async |args: &[&str]| {
        let mut all = vec!["app"];
        all.extend(args);
        call(&url, &admin, &all).await
    };

    let created = app(&[
        "create",
        "acme#cli",
        "--time-zone",
        "Asia/Shanghai",
        "--output",
        "json",
    ])
    .await;
    let created = created.ok().json();
    assert_eq!(created["app"]["name"], "acme#cli");
    assert_eq!(created["app"]["timeZone"], "Asia/Shanghai");
    let client_id = created["app"]["clientId"].as_str().unwrap().to_owned();
    let secret = created["clientSecret"].as_str().unwrap().to_owned();
    assert!(!secret.is_empty());

    let shown = app(&["get", "acme#cli"]).await;
    assert_eq!(
        words(shown.ok().line("time zone:")),
        ["time", "zone:", "Asia/Shanghai"],
        "{}",
        shown.stdout
    );

    // Without --token, the admin token file of ./pushgate-data is read, as in the quick start.
    let cwd = tempfile::tempdir().unwrap();
    std::fs::create_dir(cwd.path().join("pushgate-data")).unwrap();
    std::fs::write(cwd.path().join("pushgate-data/admin-token"), &admin).unwrap();
    let listed = pushgate_in(cwd.path(), &["app", "list", "--endpoint", &url]);
    let row = listed.ok().line("acme#cli");
    assert!(row.contains(&client_id), "{}", listed.stdout);
    assert!(row.contains("Asia/Shanghai"), "{}", listed.stdout);

    // A callback rule: created, listed without its secret, replaced, deleted.
    let put = app(&[
        "callback-rule",
        "put",
        "acme#cli",
        "hooks",
        "--url",
        "http://127.0.0.1:9/cb",
        "--secret",
        "s3cret",
        "--status",
        "fail,error",
    ])
    .await;
    assert!(
        put.ok().stdout.starts_with("created the callback rule\n"),
        "{}",
        put.stdout
    );
    let rules = app(&["rule", "list", "acme#cli", "--output", "json"]).await;
    let rules = rules.ok().json();
    assert_eq!(names(&rules["rules"], "name"), ["hooks"]);
    let rule = &rules["rules"][0];
    assert_eq!(rule["url"], "http://127.0.0.1:9/cb");
    assert_eq!(
        rule["statuses"],
        json!(["DELIVERY_STATUS_FAIL", "DELIVERY_STATUS_ERROR"])
    );
    assert_eq!(
        (&rule["hasSecret"], &rule["secret"], &rule["enabled"]),
        (&json!(true), &json!(""), &json!(true))
    );
    let replaced = app(&[
        "rule",
        "put",
        "acme#cli",
        "hooks",
        "--url",
        "http://127.0.0.1:9/cb2",
        "--disabled",
        "--output",
        "json",
    ])
    .await;
    let replaced = replaced.ok().json();
    assert_eq!(replaced["created"], false);
    assert_eq!(replaced["rule"]["enabled"], false);
    assert_eq!(replaced["rule"]["hasSecret"], true, "the secret was kept");
    app(&["rule", "delete", "acme#cli", "hooks"]).await.ok();
    let rules = app(&["rule", "list", "acme#cli", "--output", "json"]).await;
    assert_eq!(rules.ok().json(), json!({"rules": []}));

    // Tokens: the credentials for an app token, the app token for a user token.
    let issued = pushgate(&[
        "token",
        "issue",
        "--client-id",
        &client_id,
        "--client-secret",
        &secret,
        "--endpoint",
        &url,
    ]);
    let app_token = issued.ok().stdout.trim().to_owned();
    assert!(!app_token.is_empty() && !app_token.contains('\n'));
    assert!(
        issued.stderr.contains("app acme#cli token expires at"),
        "{}",
        issued.stderr
    );
    let user = call(
        &url,
        &app_token,
        &["token", "user", "alice", "--ttl", "600", "--output", "json"],
    )
    .await;
    let user = user.ok().json();
    assert_eq!(user["user"], "alice");
    assert!(!user["accessToken"].as_str().unwrap().is_empty());

    // Rotating the secret ends the tokens issued before it.
    let rotated = app(&["rotate-secret", "acme#cli", "--output", "json"]).await;
    let rotated = rotated.ok().json();
    assert_ne!(rotated["clientSecret"], Value::from(secret.as_str()));
    let refused = call(&url, &app_token, &["label", "list"]).await;
    refused.expect_code(2);
    assert!(
        refused.stderr.contains("UNAUTHENTICATED"),
        "{}",
        refused.stderr
    );

    let deleted = app(&["delete", "acme#cli"]).await;
    assert!(
        deleted.ok().stdout.starts_with("deleted app acme#cli ("),
        "{}",
        deleted.stdout
    );
    let apps = app(&["list", "--output", "json"]).await;
    assert_eq!(apps.ok().json(), json!({"apps": [], "nextPageToken": ""}));
    let gone = app(&["get", "acme#cli"]).await;
    gone.expect_code(2);
    assert!(gone.stderr.contains("NOT_FOUND"), "{}", gone.stderr);
}

#[tokio::test]
async fn notifiers_are_created_from_json_listed_updated_and_deleted() {
    let server = TestServer::start();
    let app = create_app(&server, "acme#notifiers").await;
    let (url, token) = (server.url(), app.token.as_str());

    let created = create_huawei(&url, token).await;
    assert_eq!(created.ok().stdout, "created notifier hw (Huawei)\n");

    let listed = call(&url, token, &["notifier", "list", "--output", "json"]).await;
    let listed = listed.ok().json();
    assert_eq!(names(&listed["notifiers"], "name"), ["hw"]);
    let hw = &listed["notifiers"][0];
    assert_eq!(hw["vendor"], "VENDOR_HUAWEI");
    assert_eq!(hw["state"], "NOTIFIER_STATE_ENABLED");
    // Secrets go in and never come out.
    assert_eq!(hw["huawei"], json!({"appId": "10086", "clientSecret": ""}));
    assert!(!listed.to_string().contains("hw-secret"));

    let table = call(&url, token, &["notifier", "list"]).await;
    let row = table.ok().line("hw ");
    assert!(
        row.contains("Huawei") && row.contains("enabled") && row.contains("Huawei phones"),
        "{}",
        table.stdout
    );
    let apns_only = call(&url, token, &["notifier", "list", "--vendor", "apns"]).await;
    assert_eq!(apns_only.ok().stdout.lines().count(), 1, "only the header");

    let updated = call(
        &url,
        token,
        &[
            "notifier",
            "update",
            "hw",
            "--state",
            "disabled",
            "--qps-limit",
            "50",
        ],
    )
    .await;
    assert_eq!(
        words(updated.ok().line("state:")),
        ["state:", "disabled"],
        "{}",
        updated.stdout
    );
    let shown = call(&url, token, &["notifier", "get", "hw", "--output", "json"]).await;
    let shown = shown.ok().json();
    assert_eq!(shown["notifier"]["state"], "NOTIFIER_STATE_DISABLED");
    assert_eq!(shown["notifier"]["qpsLimit"], 50);
    assert_eq!(shown["notifier"]["description"], "Huawei phones", "kept");
    let human = call(&url, token, &["notifier", "get", "hw"]).await;
    assert_eq!(
        words(human.ok().line("credentials:")),
        ["credentials:", "appId=10086"],
        "{}",
        human.stdout
    );

    // A second create of the same name: the server's refusal.
    let again = create_huawei(&url, token).await;
    again.expect_code(2);
    assert!(again.stderr.contains("ALREADY_EXISTS"), "{}", again.stderr);
    assert!(again.stderr.contains("notifier hw"), "{}", again.stderr);

    call(&url, token, &["notifier", "delete", "hw"]).await.ok();
    let listed = call(&url, token, &["notifier", "list", "--output", "json"]).await;
    assert_eq!(
        listed.ok().json(),
        json!({"notifiers": [], "nextPageToken": ""})
    );
}

#[test]
fn a_bad_notifier_file_is_refused_before_connecting() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("typo.json");
    std::fs::write(&file, r#"{"notifier": {"name": "x", "huawai": {}}}"#).unwrap();
    let run = pushgate(&[
        "notifier",
        "create",
        "--from-json",
        file.to_str().unwrap(),
        "--endpoint",
        "http://127.0.0.1:9",
        "--token",
        "t",
    ]);
    run.expect_code(2);
    assert!(run.stderr.contains("body 1 of 1"), "{}", run.stderr);
    assert!(run.stderr.contains("huawai"), "{}", run.stderr);
}

#[tokio::test]
async fn devices_are_bound_moved_listed_and_unbound() {
    let server = TestServer::start();
    let app = create_app(&server, "acme#devices").await;
    let (url, token) = (server.url(), app.token.as_str());
    create_huawei(&url, token).await.ok();
    let bind = async |user: &str| {
        call(
            &url,
            token,
            &[
                "device",
                "bind",
                user,
                "phone",
                "--notifier",
                "hw",
                "--device-token",
                "tok-1",
                "--output",
                "json",
            ],
        )
        .await
    };

    let bound = bind("alice").await;
    assert_eq!(bound.ok().json()["outcome"], "BIND_DEVICE_OUTCOME_BOUND");
    let listed = call(&url, token, &["device", "list", "alice"]).await;
    let row = listed.ok().line("alice");
    assert!(
        row.contains("phone")
            && row.contains("hw")
            && row.contains("Huawei")
            && row.contains("tok-1"),
        "{}",
        listed.stdout
    );

    // The same device bound for bob moves it away from alice.
    let moved = bind("bob").await;
    let moved = moved.ok().json();
    assert_eq!(moved["outcome"], "BIND_DEVICE_OUTCOME_MOVED");
    assert_eq!(moved["previousUser"], "alice");
    let alice = call(
        &url,
        token,
        &["device", "list", "alice", "--output", "json"],
    )
    .await;
    assert_eq!(alice.ok().json()["bindings"], json!([]));
    let bob = call(&url, token, &["device", "list", "bob", "--output", "json"]).await;
    assert_eq!(names(&bob.ok().json()["bindings"], "deviceId"), ["phone"]);

    let unbound = call(&url, token, &["device", "unbind", "bob", "phone"]).await;
    assert!(
        unbound
            .ok()
            .stdout
            .starts_with("removed bob/phone through hw\n"),
        "{}",
        unbound.stdout
    );
    let bob = call(&url, token, &["device", "list", "bob", "--output", "json"]).await;
    assert_eq!(bob.ok().json()["bindings"], json!([]));
    let again = call(&url, token, &["device", "unbind", "bob", "phone"]).await;
    assert!(again.ok().stdout.starts_with("nothing to remove\n"));

    bind("carol").await.ok();
    let deleted = call(
        &url,
        token,
        &["device", "delete-user", "carol", "--output", "json"],
    )
    .await;
    assert_eq!(deleted.ok().json()["removedBindings"], 1);
}

#[tokio::test]
async fn labels_gain_and_lose_users_and_are_deleted() {
    let server = TestServer::start();
    let app = create_app(&server, "acme#labels").await;
    let (url, token) = (server.url(), app.token.as_str());

    call(
        &url,
        token,
        &["label", "create", "vip", "--description", "Big spenders"],
    )
    .await
    .ok();
    // Four users in calls of two, one of them refused by name.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users.txt");
    std::fs::write(&file, "carol\nnot a user!\n").unwrap();
    let added = call(
        &url,
        token,
        &[
            "label",
            "add-users",
            "vip",
            "--user",
            "alice",
            "--user",
            "bob",
            "--users-file",
            file.to_str().unwrap(),
            "--per-call",
            "2",
        ],
    )
    .await;
    assert_eq!(
        added.ok().stdout,
        "3 users added to label vip\nrefused not a user!: invalid user id\n"
    );
    let users = call(&url, token, &["label", "users", "vip", "--output", "json"]).await;
    assert_eq!(
        names(&users.ok().json()["users"], "user"),
        ["alice", "bob", "carol"]
    );
    let labels = call(&url, token, &["label", "list"]).await;
    let row = labels.ok().line("vip");
    assert!(
        row.contains(" 3 ") && row.contains("Big spenders"),
        "{}",
        labels.stdout
    );

    let removed = call(
        &url,
        token,
        &["label", "remove-users", "vip", "--user", "bob"],
    )
    .await;
    assert_eq!(removed.ok().stdout, "1 user removed from label vip\n");
    // Users that were no members are not reported as removed.
    let again = call(
        &url,
        token,
        &[
            "label",
            "remove-users",
            "vip",
            "--user",
            "bob",
            "--user",
            "dave",
        ],
    )
    .await;
    assert_eq!(
        again.ok().stdout,
        "0 users removed from label vip; 2 users were not members\n"
    );
    let again = call(
        &url,
        token,
        &[
            "label",
            "remove-users",
            "vip",
            "--user",
            "bob",
            "--output",
            "json",
        ],
    )
    .await;
    assert_eq!(
        again.ok().json(),
        json!({"success": ["bob"], "fail": {}, "removed": 0})
    );
    let shown = call(&url, token, &["label", "get", "vip", "--output", "json"]).await;
    assert_eq!(shown.ok().json()["label"]["userCount"], 2);

    let deleted = call(&url, token, &["label", "delete", "vip"]).await;
    assert_eq!(deleted.ok().stdout, "deleted label vip (2 memberships)\n");
    let labels = call(&url, token, &["label", "list", "--output", "json"]).await;
    assert_eq!(
        labels.ok().json(),
        json!({"labels": [], "nextPageToken": ""})
    );
    let gone = call(&url, token, &["label", "users", "vip"]).await;
    gone.expect_code(2);
    assert!(gone.stderr.contains("NOT_FOUND"), "{}", gone.stderr);
}

#[test]
fn every_command_explains_itself() {
    let commands: &[&[&str]] = &[
        &[],
        &["send"],
        &["task"],
        &["app"],
        &["app", "create"],
        &["app", "get"],
        &["app", "list"],
        &["app", "delete"],
        &["app", "rotate-secret"],
        &["app", "callback-rule"],
        &["app", "callback-rule", "put"],
        &["app", "callback-rule", "list"],
        &["app", "callback-rule", "delete"],
        &["token"],
        &["token", "issue"],
        &["token", "user"],
        &["notifier"],
        &["notifier", "create"],
        &["notifier", "get"],
        &["notifier", "list"],
        &["notifier", "update"],
        &["notifier", "delete"],
        &["device"],
        &["device", "bind"],
        &["device", "unbind"],
        &["device", "list"],
        &["device", "delete-user"],
        &["label"],
        &["label", "create"],
        &["label", "get"],
        &["label", "list"],
        &["label", "delete"],
        &["label", "add-users"],
        &["label", "remove-users"],
        &["label", "users"],
    ];
    for command in commands {
        let mut args = command.to_vec();
        args.push("--help");
        let run = pushgate(&args);
        run.ok();
        let usage = format!("Usage: pushgate {}", command.join(" "));
        assert!(
            run.stdout.contains(usage.trim_end()),
            "{args:?}: {}",
            run.stdout
        );
        if !command.is_empty() {
            assert!(run.stdout.contains("--output"), "{args:?}: {}", run.stdout);
            assert!(
                run.stdout.contains("--endpoint"),
                "{args:?}: {}",
                run.stdout
            );
        }
    }
}
