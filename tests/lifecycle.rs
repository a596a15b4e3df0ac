//! The server as a process: health, reflection, restarts, graceful shutdown, load shedding, TLS and config.

mod common;

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use common::{TestServer, authed, create_app, credentials, issue_token};
use pushgate::proto::v1::{
    BindDeviceRequest, CallbackRule, CreateNotifierRequest, GetAppRequest, GetAppResponse,
    ListCallbackRulesRequest, PutCallbackRuleRequest, app_service_client::AppServiceClient,
    device_service_client::DeviceServiceClient, notifier_service_client::NotifierServiceClient,
};
use tonic::{Code, Request, transport::Channel};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use tonic_reflection::pb::v1::{
    ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
    server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
};
use tonic_types::StatusExt;

#[tokio::test]
async fn health_turns_serving() {
    let server = TestServer::start();
    let mut health = HealthClient::new(server.channel().await);
    for service in ["", "pushgate.v1.AppService", "pushgate.v1.PushService"] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service:?}");
    }
}

#[tokio::test]
async fn reflection_lists_every_service_of_the_contract() {
    let server = TestServer::start();
    let mut reflection = ServerReflectionClient::new(server.channel().await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = reflection
        .server_reflection_info(tokio_stream::once(request))
        .await
        .unwrap()
        .into_inner();
    let response = stream.message().await.unwrap().expect("one response");
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection answer: {response:?}");
    };
    let listed: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for name in pushgate::server::SERVICE_NAMES
        .iter()
        .chain(&["grpc.health.v1.Health"])
    {
        assert!(
            listed.iter().any(|s| s == name),
            "{name} missing from {listed:?}"
        );
    }
}

#[tokio::test]
async fn data_survives_a_restart() {
    let server = TestServer::start();
    let app = create_app(&server, "acme#chat").await;
    let admin = server.admin_token.clone();
    AppServiceClient::new(server.channel().await)
        .put_callback_rule(authed(
            PutCallbackRuleRequest {
                app: app.name.clone(),
                rule: Some(CallbackRule {
                    name: "hooks".into(),
                    url: "https://example.com/cb".into(),
                    secret: "s".into(),
                    enabled: true,
                    ..Default::default()
                }),
            },
            &admin,
        ))
        .await
        .unwrap();

    let server = server.restart().await;
    assert_eq!(
        server.admin_token, admin,
        "the admin token must not change across restarts"
    );
    let channel = server.channel().await;
    let mut apps = AppServiceClient::new(channel.clone());
    let got = apps
        .get_app(authed(
            GetAppRequest {
                name: app.name.clone(),
            },
            &admin,
        ))
        .await
        .expect("the app is still there")
        .into_inner()
        .app
        .unwrap();
    assert_eq!(got.client_id, app.client_id);
    let rules = apps
        .list_callback_rules(authed(
            ListCallbackRulesRequest {
                app: app.name.clone(),
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner()
        .rules;
    assert_eq!(rules.len(), 1);
    // Credentials and tokens from before the restart still work.
    issue_token(&channel, &app.client_id, &app.client_secret)
        .await
        .expect("the secret survives");
    let mut auth = pushgate::proto::v1::auth_service_client::AuthServiceClient::new(channel);
    auth.issue_user_token(authed(
        pushgate::proto::v1::IssueUserTokenRequest {
            user: "u1".into(),
            ttl: None,
        },
        &app.token,
    ))
    .await
    .expect("tokens survive: the signing key is kept");
}

/// A GetApp call whose request message arrives only after `delay`, so the call is in flight on the server
/// for that long (the handler is waiting for its request).
async fn slow_get_app(
    channel: Channel,
    token: String,
    app: String,
    delay: Duration,
) -> Result<GetAppResponse, tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let body = futures::stream::once(async move {
        tokio::time::sleep(delay).await;
        GetAppRequest { name: app }
    });
    grpc.client_streaming(
        authed(body, &token),
        "/pushgate.v1.AppService/GetApp".parse().unwrap(),
        tonic_prost::ProstCodec::<GetAppRequest, GetAppResponse>::default(),
    )
    .await
    .map(|r| r.into_inner())
}

#[tokio::test]
async fn sigterm_lets_in_flight_calls_finish_and_exits_zero() {
    let mut server = TestServer::start();
    let app = create_app(&server, "acme#chat").await;
    let channel = server.channel().await;

    // A health watcher sees the server turn NOT_SERVING when draining starts.
    let mut watch = HealthClient::new(channel.clone())
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        watch.message().await.unwrap().unwrap().status,
        ServingStatus::Serving as i32
    );

    let in_flight = tokio::spawn(slow_get_app(
        channel,
        server.admin_token.clone(),
        app.name.clone(),
        Duration::from_millis(1500),
    ));
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.sigterm();

    let draining = tokio::time::timeout(Duration::from_secs(5), watch.message())
        .await
        .expect("a health update after SIGTERM")
        .unwrap()
        .unwrap();
    assert_eq!(draining.status, ServingStatus::NotServing as i32);
    drop(watch);

    let answer = in_flight
        .await
        .unwrap()
        .expect("the in-flight call completes");
    assert_eq!(answer.app.unwrap().name, "acme#chat");
    let status = tokio::task::spawn_blocking(move || server.wait())
        .await
        .unwrap();
    assert!(status.success(), "exit status {status}");
}

#[tokio::test]
async fn overload_is_shed_with_resource_exhausted_not_queued() {
    let server = TestServer::start_with(&[("PUSHGATE_SERVER_MAX_CONCURRENT_REQUESTS", "1")]);
    let app = create_app(&server, "acme#chat").await;
    let channel = server.channel().await;
    let holder = tokio::spawn(slow_get_app(
        channel.clone(),
        server.admin_token.clone(),
        app.name.clone(),
        Duration::from_millis(1500),
    ));
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut apps = AppServiceClient::new(channel);
    let started = std::time::Instant::now();
    let err = apps
        .get_app(authed(
            GetAppRequest {
                name: app.name.clone(),
            },
            &server.admin_token,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert!(err.get_details_quota_failure().is_some());
    assert!(err.get_details_retry_info().is_some());
    // Answered while the slot is still taken, i.e. refused rather than queued behind the holder.
    assert!(!holder.is_finished(), "the refusal waited for the slot");
    assert!(started.elapsed() < Duration::from_millis(1000));
    // Health checks are never shed: a busy server must not look dead to its orchestrator's probes.
    let health = HealthClient::new(server.channel().await)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health answers while the only slot is taken")
        .into_inner();
    assert_eq!(health.status, ServingStatus::Serving as i32);
    assert!(
        !holder.is_finished(),
        "health was checked while the slot was taken"
    );

    holder.await.unwrap().expect("the holder completes");
    apps.get_app(authed(
        GetAppRequest { name: app.name },
        &server.admin_token,
    ))
    .await
    .expect("with the slot free, calls go through again");
}

#[tokio::test]
async fn tls_serves_clients_that_trust_its_ca() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cert_file = dir.path().join("cert.pem");
    let key_file = dir.path().join("key.pem");
    std::fs::write(&cert_file, cert.cert.pem()).unwrap();
    std::fs::write(&key_file, cert.signing_key.serialize_pem()).unwrap();
    let server = TestServer::start_with(&[
        ("PUSHGATE_SERVER_TLS_CERT_FILE", cert_file.to_str().unwrap()),
        ("PUSHGATE_SERVER_TLS_KEY_FILE", key_file.to_str().unwrap()),
    ]);

    let tls = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(cert.cert.pem()))
        .domain_name("localhost");
    let channel = Channel::from_shared(format!("https://{}", server.addr))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .expect("TLS connection");
    let status = HealthClient::new(channel)
        .check(HealthCheckRequest::default())
        .await
        .unwrap()
        .into_inner()
        .status;
    assert_eq!(status, ServingStatus::Serving as i32);

    // A plaintext client cannot talk to the TLS port.
    let plain = Channel::from_shared(server.url()).unwrap().connect().await;
    if let Ok(plain) = plain {
        let err = HealthClient::new(plain)
            .check(Request::new(HealthCheckRequest::default()))
            .await
            .unwrap_err();
        assert_ne!(err.code(), Code::Ok);
    }
}

#[test]
fn config_print_shows_precedence_and_redacts_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pushgate.toml");
    std::fs::write(
        &file,
        "[server]\nrequest_timeout = \"7s\"\nmax_concurrent_requests = 5\n[auth]\nadmin_token = \"file-secret\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_pushgate"))
        .args(["config", "print", "--config"])
        .arg(&file)
        .env("PUSHGATE_SERVER_MAX_CONCURRENT_REQUESTS", "9")
        .env(
            "PUSHGATE_AUTH_SIGNING_KEY",
            "env-secret-env-secret-env-secret-x",
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let printed: toml::Table = text.parse().unwrap();
    let server = printed["server"].as_table().unwrap();
    assert_eq!(
        server["request_timeout"].as_str(),
        Some("7s"),
        "file beats default"
    );
    assert_eq!(
        server["max_concurrent_requests"].as_integer(),
        Some(9),
        "env beats file"
    );
    assert_eq!(
        server["listen"].as_str(),
        Some("127.0.0.1:50051"),
        "default kept"
    );
    assert!(
        !text.contains("file-secret") && !text.contains("env-secret"),
        "{text}"
    );
    assert_eq!(printed["auth"]["admin_token"].as_str(), Some("[redacted]"));

    let bad = Command::new(env!("CARGO_BIN_EXE_pushgate"))
        .args(["config", "print"])
        .env("PUSHGATE_SERVER_LISTEN", "not an address")
        .output()
        .unwrap();
    assert!(!bad.status.success());
}

#[tokio::test]
async fn generated_admin_token_is_private_and_configured_one_wins() {
    let server = TestServer::start();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(server.dir().join("admin-token"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(server.admin_token.starts_with("pga_"));

    let configured =
        TestServer::start_with(&[("PUSHGATE_AUTH_ADMIN_TOKEN", "pga_my-own-admin-token")]);
    assert!(
        !configured.dir().join("admin-token").exists(),
        "no token file when one is configured"
    );
    let mut apps = AppServiceClient::new(configured.channel().await);
    apps.list_apps(authed(Default::default(), "pga_my-own-admin-token"))
        .await
        .expect("the configured admin token works");
}

/// Every entry under `dir` (itself included) that group or others may access: a directory whose mode is not
/// 0700 or a file with any group or other bit, with its mode.
#[cfg(unix)]
fn open_to_others(dir: &Path) -> Vec<(PathBuf, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        let meta = std::fs::symlink_metadata(&path).expect("metadata");
        let mode = meta.permissions().mode() & 0o777;
        if meta.is_dir() {
            if mode != 0o700 {
                found.push((path.clone(), mode));
            }
            for entry in std::fs::read_dir(&path).expect("read dir") {
                pending.push(entry.expect("dir entry").path());
            }
        } else if mode & 0o077 != 0 {
            found.push((path, mode));
        }
    }
    found
}

/// Writes what the data directory exists for (an app, a notifier, a device binding), then stops the server
/// so that sled has flushed everything it will write.
#[cfg(unix)]
async fn write_and_stop(server: TestServer) -> TestServer {
    let app = create_app(&server, "acme#chat").await;
    let channel = server.channel().await;
    NotifierServiceClient::new(channel.clone())
        .create_notifier(authed(
            CreateNotifierRequest {
                notifier: Some(credentials::notifier("fcm", "fcm")),
            },
            &app.token,
        ))
        .await
        .expect("create notifier");
    DeviceServiceClient::new(channel)
        .bind_device(authed(
            BindDeviceRequest {
                user: "alice".into(),
                device_id: "phone".into(),
                device_token: "dev1:token".into(),
                notifier_name: "fcm".into(),
            },
            &app.token,
        ))
        .await
        .expect("bind device");
    tokio::task::spawn_blocking(move || {
        let mut server = server;
        let status = server.terminate();
        assert!(status.success(), "shutdown failed: {status}");
        server
    })
    .await
    .expect("stop")
}

#[cfg(unix)]
#[tokio::test]
async fn the_data_directory_is_created_private_to_its_owner() {
    let server = TestServer::start_in_data_subdir(|dir| assert!(!dir.exists()));
    let server = write_and_stop(server).await;
    let dir = server.dir();
    // What the server writes there: sled's database on sled; the generated keys on either backend.
    if common::backend() == common::Backend::Sled {
        assert!(dir.join("db").exists(), "sled wrote nothing in {dir:?}");
    }
    assert!(
        dir.join("admin-token").exists(),
        "no generated admin token in {dir:?}"
    );
    let open = open_to_others(dir);
    assert!(
        open.is_empty(),
        "open to others in {dir:?} (mode in octal): {:?}",
        open.iter()
            .map(|(p, m)| format!("{} {m:o}", p.display()))
            .collect::<Vec<_>>()
    );
}

#[cfg(unix)]
#[tokio::test]
async fn an_open_data_directory_is_made_private() {
    use std::os::unix::fs::PermissionsExt;
    // As an older version left it: the directory 0755, a file and a directory in it readable by all.
    let server = TestServer::start_in_data_subdir(|dir| {
        std::fs::create_dir(dir).unwrap();
        std::fs::create_dir(dir.join("old")).unwrap();
        std::fs::write(dir.join("old/conf"), "x").unwrap();
        for (path, mode) in [(dir.to_owned(), 0o755), (dir.join("old"), 0o755)] {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        std::fs::set_permissions(dir.join("old/conf"), std::fs::Permissions::from_mode(0o644))
            .unwrap();
    });
    let server = write_and_stop(server).await;
    let dir = server.dir();
    let open = open_to_others(dir);
    assert!(
        open.is_empty(),
        "still open to others in {dir:?} (mode in octal): {:?}",
        open.iter()
            .map(|(p, m)| format!("{} {m:o}", p.display()))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("old/conf")).unwrap(),
        "x",
        "tightened, not touched otherwise"
    );
}
