//! `pushgate send` as a user runs it: the real binary against a real server whose notifiers point at the
//! sandbox vendors, created from the sandbox's own notifiers.json with `pushgate notifier create`.

mod common;

use std::net::Ipv4Addr;

use common::{
    TestApp, TestServer,
    cli::{Run, call, pushgate},
    create_app,
};
use pushgate::sandbox::{Sandbox, SandboxConfig};
use serde_json::Value;

/// A 64-hex-digit APNs device token and an FCM registration token, of the shapes the fakes accept.
const APNS_TOKEN: &str = "8f3c2a1b9d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a";
const FCM_TOKEN: &str = "dev0123456789abcdef:APA91bQwErTyUiOpAsDfGhJkLzXcVbNm0123456789";

struct World {
    sandbox: Sandbox,
    server: TestServer,
    app: TestApp,
    _files: tempfile::TempDir,
}

impl World {
    /// A server, the sandbox vendors, an app with every sandbox notifier (created through the CLI from
    /// the file `pushgate sandbox` writes), and alice with a phone (FCM) and a tablet (APNs).
    async fn start() -> Self {
        let sandbox = Sandbox::start(SandboxConfig {
            host: Ipv4Addr::LOCALHOST.into(),
            ..SandboxConfig::default()
        })
        .await
        .expect("sandbox starts");
        let server = tokio::task::spawn_blocking(TestServer::start)
            .await
            .expect("server starts");
        let app = create_app(&server, "acme#send").await;
        let files = tempfile::tempdir().expect("temp dir");
        let (_, notifiers) = sandbox.write_files(files.path()).expect("sandbox files");
        let world = Self {
            sandbox,
            server,
            app,
            _files: files,
        };
        let created = world
            .run(&[
                "notifier",
                "create",
                "--from-json",
                notifiers.to_str().unwrap(),
            ])
            .await;
        created.ok();
        assert_eq!(created.stdout.lines().count(), 9, "{}", created.stdout);
        assert!(
            created
                .stdout
                .contains("created notifier sandbox-apns-token (APNs)"),
            "{}",
            created.stdout
        );
        for (device, notifier, token) in [
            ("phone", "sandbox-fcm", FCM_TOKEN),
            ("tablet", "sandbox-apns-token", APNS_TOKEN),
        ] {
            world
                .run(&[
                    "device",
                    "bind",
                    "alice",
                    device,
                    "--notifier",
                    notifier,
                    "--device-token",
                    token,
                ])
                .await
                .ok();
        }
        world
    }

    async fn run(&self, args: &[&str]) -> Run {
        call(&self.server.url(), &self.app.token, args).await
    }

    /// The send requests (not OAuth token requests) the FCM fake received.
    fn fcm_sends(&self) -> Vec<String> {
        self.sandbox
            .fcm()
            .core()
            .requests()
            .into_iter()
            .filter(|r| !r.token_request)
            .map(|r| r.body)
            .collect()
    }
}

/// The cells of a table row: columns are two or more spaces apart, and no cell holds two spaces.
fn cells(line: &str) -> Vec<&str> {
    line.split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_prints_one_row_per_device_and_the_responses_as_json() {
    let world = World::start().await;

    let sent = world
        .run(&[
            "send",
            "--user",
            "alice",
            "--title",
            "Hello",
            "--content",
            "World",
        ])
        .await;
    sent.ok();
    assert_eq!(
        cells(sent.stdout.lines().next().unwrap()),
        [
            "USER",
            "DEVICE",
            "STATUS",
            "REASON",
            "CHANNEL",
            "VENDOR",
            "NOTIFIER",
            "VENDOR MESSAGE ID"
        ],
        "{}",
        sent.stdout
    );
    let phone = cells(sent.line("alice  phone"));
    assert_eq!(
        phone[..7],
        [
            "alice",
            "phone",
            "success",
            "-",
            "vendor",
            "FCM",
            "sandbox-fcm"
        ],
        "{}",
        sent.stdout
    );
    let tablet = cells(sent.line("alice  tablet"));
    assert_eq!(
        tablet[..7],
        [
            "alice",
            "tablet",
            "success",
            "-",
            "vendor",
            "APNs",
            "sandbox-apns-token"
        ],
        "{}",
        sent.stdout
    );
    // Both vendors gave the message an id of their own (FCM's message name, APNs' apns-id).
    assert!(phone[7].starts_with("projects/"), "{}", sent.stdout);
    assert_ne!(tablet[7], "-", "{}", sent.stdout);
    assert!(
        sent.line("message ")
            .ends_with("to alice: 2 success, 0 fail, 0 error"),
        "{}",
        sent.stdout
    );
    let fcm = world.fcm_sends();
    assert_eq!(fcm.len(), 1, "{fcm:?}");
    assert!(fcm[0].contains("Hello"), "{}", fcm[0]);

    // Two users, one unknown: a line per user, and exit 1 since not every push succeeded.
    let sent = world
        .run(&[
            "send",
            "--user",
            "alice",
            "--user",
            "nobody",
            "--content",
            "Again",
            "--ext",
            "order=42",
            "--strategy",
            "vendor-only",
            "--output",
            "json",
        ])
        .await;
    sent.expect_code(1);
    let lines = sent.json_lines();
    assert_eq!(lines.len(), 2, "{}", sent.stdout);
    let alice = &lines[0];
    assert_eq!(alice["user"], "alice");
    assert!(!alice["messageId"].as_str().unwrap().is_empty());
    let mut devices: Vec<(&str, &str, &str)> = alice["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["deviceId"].as_str().unwrap(),
                r["status"].as_str().unwrap(),
                r["vendor"].as_str().unwrap(),
            )
        })
        .collect();
    devices.sort();
    assert_eq!(
        devices,
        [
            ("phone", "DELIVERY_STATUS_SUCCESS", "VENDOR_FCM"),
            ("tablet", "DELIVERY_STATUS_SUCCESS", "VENDOR_APNS"),
        ]
    );
    let nobody = &lines[1];
    assert_eq!(nobody["user"], "nobody");
    assert_eq!(nobody["results"].as_array().unwrap().len(), 1);
    assert_eq!(nobody["results"][0]["status"], "DELIVERY_STATUS_FAIL");
    assert_eq!(
        nobody["results"][0]["reason"],
        "FAILURE_REASON_NO_USER_EXIST"
    );
    assert_eq!(nobody["results"][0]["desc"], "no user exist");
    assert_eq!(nobody["results"][0]["deviceId"], Value::from(""));
    let fcm = world.fcm_sends();
    assert_eq!(fcm.len(), 2, "{fcm:?}");
    assert!(
        fcm[1].contains("\"order\"") && fcm[1].contains("\"42\""),
        "{}",
        fcm[1]
    );

    // A refused send is an error naming the user, after the answers before it were printed.
    let refused = world
        .run(&[
            "send", "--user", "alice", "--user", "bad id!", "--title", "x",
        ])
        .await;
    refused.expect_code(2);
    assert!(
        refused.stderr.contains("send to bad id!"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("INVALID_ARGUMENT"),
        "{}",
        refused.stderr
    );
    assert!(
        refused
            .line("message ")
            .ends_with("to alice: 2 success, 0 fail, 0 error"),
        "{}",
        refused.stdout
    );

    // A stored message that does not exist: the server's NOT_FOUND, nothing printed.
    let missing = world
        .run(&["send", "--user", "alice", "--message-id", "no-such-message"])
        .await;
    missing.expect_code(2);
    assert!(missing.stderr.contains("NOT_FOUND"), "{}", missing.stderr);
    assert_eq!(missing.stdout, "");
}

#[test]
fn send_checks_its_flags_before_connecting() {
    // Port 9 is closed: each refusal comes from the flags, not from a failed connection.
    let base = ["--endpoint", "http://127.0.0.1:9", "--token", "t"];
    let cases: [(&[&str], &str); 4] = [
        (&["send", "--title", "x"], "--user"),
        (&["send", "--user", "a"], "required"),
        (
            &[
                "send",
                "--user",
                "a",
                "--user",
                "b",
                "--title",
                "x",
                "--request-id",
                "r1",
            ],
            "--request-id works with one user only",
        ),
        (
            &["send", "--user", "a", "--title", "x", "--strategy", "9"],
            "is not a strategy",
        ),
    ];
    for (args, expected) in cases {
        let mut all = args.to_vec();
        all.extend(base);
        let run = pushgate(&all);
        run.expect_code(2);
        assert!(run.stderr.contains(expected), "{args:?}: {}", run.stderr);
    }
    let run = pushgate(&["send", "--user", "a", "--title", "x"]);
    run.expect_code(2);
    assert!(
        run.stderr.contains("an app token is needed"),
        "{}",
        run.stderr
    );
}
