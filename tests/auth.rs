//! Tokens, scopes, tenant isolation and bad input, over a real gRPC connection to a real server.

mod common;

use std::time::Duration;

use common::{TestServer, authed, call_empty, create_app, issue_token, violated_fields};
use pushgate::proto::v1::{
    CallbackRule, CreateAppRequest, DeleteAppRequest, DeleteCallbackRuleRequest, DeliveryStatus,
    GetAppRequest, IssueTokenRequest, IssueUserTokenRequest, ListAppsRequest,
    ListCallbackRulesRequest, ListFailedCallbacksRequest, PutCallbackRuleRequest,
    RotateAppSecretRequest, app_service_client::AppServiceClient,
    auth_service_client::AuthServiceClient, event_service_client::EventServiceClient,
};
use tonic::{Code, Request};
use tonic_types::StatusExt;

fn list_apps() -> ListAppsRequest {
    ListAppsRequest {
        page_size: 0,
        page_token: String::new(),
    }
}

fn user_token_request(user: &str) -> IssueUserTokenRequest {
    IssueUserTokenRequest {
        user: user.into(),
        ttl: None,
    }
}

#[tokio::test]
async fn missing_and_bad_tokens_are_unauthenticated() {
    let server = TestServer::start();
    let mut apps = AppServiceClient::new(server.channel().await);

    let none = apps.list_apps(Request::new(list_apps())).await.unwrap_err();
    assert_eq!(none.code(), Code::Unauthenticated, "{none:?}");

    for bad in [
        "garbage",
        "pga_not-the-admin-token",
        "pg1.AAAA.AAAA",
        "Basic abc",
    ] {
        let err = apps.list_apps(authed(list_apps(), bad)).await.unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated, "token {bad:?}: {err:?}");
    }
    // The real admin token works, so the refusals above were about the tokens.
    apps.list_apps(authed(list_apps(), &server.admin_token))
        .await
        .unwrap();
}

#[tokio::test]
async fn client_credentials_are_checked() {
    let server = TestServer::start();
    let app = create_app(&server, "acme#chat").await;
    let channel = server.channel().await;
    let wrong_secret = issue_token(&channel, &app.client_id, "pgs_wrong")
        .await
        .unwrap_err();
    assert_eq!(wrong_secret.code(), Code::Unauthenticated);
    let unknown_id = issue_token(&channel, "pgc.bm9uZSNzdWNo.00000000", &app.client_secret)
        .await
        .unwrap_err();
    assert_eq!(unknown_id.code(), Code::Unauthenticated);
    let missing = issue_token(&channel, "", "").await.unwrap_err();
    assert_eq!(missing.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&missing), ["client_id", "client_secret"]);
}

#[tokio::test]
async fn expired_app_token_is_unauthenticated() {
    let server = TestServer::start();
    let app = create_app(&server, "acme#chat").await;
    let channel = server.channel().await;
    let short = AuthServiceClient::new(channel.clone())
        .issue_token(IssueTokenRequest {
            client_id: app.client_id.clone(),
            client_secret: app.client_secret.clone(),
            ttl: Some(prost_types::Duration {
                seconds: 1,
                nanos: 0,
            }),
        })
        .await
        .unwrap()
        .into_inner()
        .access_token;
    let mut auth = AuthServiceClient::new(channel);
    auth.issue_user_token(authed(user_token_request("u1"), &short))
        .await
        .expect("fresh token works");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let err = auth
        .issue_user_token(authed(user_token_request("u1"), &short))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    assert!(err.message().contains("expired"), "{}", err.message());
}

#[tokio::test]
async fn rotation_revokes_old_secret_and_tokens() {
    let server = TestServer::start();
    let app = create_app(&server, "acme#chat").await;
    let channel = server.channel().await;
    let mut auth = AuthServiceClient::new(channel.clone());
    let user_token = auth
        .issue_user_token(authed(user_token_request("u1"), &app.token))
        .await
        .unwrap()
        .into_inner()
        .access_token;

    let rotated = AppServiceClient::new(channel.clone())
        .rotate_app_secret(authed(
            RotateAppSecretRequest {
                name: app.name.clone(),
            },
            &server.admin_token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_ne!(rotated.client_secret, app.client_secret);

    let old_token = auth
        .issue_user_token(authed(user_token_request("u1"), &app.token))
        .await
        .unwrap_err();
    assert_eq!(old_token.code(), Code::Unauthenticated);
    assert!(
        old_token.message().contains("revoked"),
        "{}",
        old_token.message()
    );
    let old_secret = issue_token(&channel, &app.client_id, &app.client_secret)
        .await
        .unwrap_err();
    assert_eq!(old_secret.code(), Code::Unauthenticated);

    // The user token issued before the rotation is revoked too: on the own channel it no longer
    // authenticates (the channel itself answers later, so any other code means the token passed).
    let err = call_empty(
        &channel,
        Some(&user_token),
        "/pushgate.v1.ChannelService/Ack",
    )
    .await;
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");

    let new_token = issue_token(&channel, &app.client_id, &rotated.client_secret)
        .await
        .unwrap();
    auth.issue_user_token(authed(user_token_request("u1"), &new_token))
        .await
        .expect("token from the new secret works");
}

#[tokio::test]
async fn deleted_app_tokens_stop_working() {
    let server = TestServer::start();
    let app = create_app(&server, "acme#chat").await;
    let channel = server.channel().await;
    let removed = AppServiceClient::new(channel.clone())
        .delete_app(authed(
            DeleteAppRequest {
                name: app.name.clone(),
            },
            &server.admin_token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(removed.removed_records, 1);
    let err = AuthServiceClient::new(channel)
        .issue_user_token(authed(user_token_request("u1"), &app.token))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn tokens_used_outside_their_scope_are_permission_denied() {
    let server = TestServer::start();
    let app = create_app(&server, "acme#chat").await;
    let channel = server.channel().await;
    let mut apps = AppServiceClient::new(channel.clone());
    let mut auth = AuthServiceClient::new(channel.clone());
    let user_token = auth
        .issue_user_token(authed(user_token_request("u1"), &app.token))
        .await
        .unwrap()
        .into_inner()
        .access_token;

    // App and user tokens on the admin service.
    for token in [&app.token, &user_token] {
        let err = apps
            .list_apps(authed(list_apps(), token))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    }
    // Admin and user tokens on an app-token method.
    for token in [&server.admin_token, &user_token] {
        let err = auth
            .issue_user_token(authed(user_token_request("u1"), token))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    }
    // An app token on the own channel, which takes user tokens only.
    let err = call_empty(
        &channel,
        Some(&app.token),
        "/pushgate.v1.ChannelService/Ack",
    )
    .await;
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
}

#[tokio::test]
async fn services_answer_past_the_auth_layer() {
    let server = TestServer::start();
    let app = create_app(&server, "acme#chat").await;
    let channel = server.channel().await;
    // Failed callbacks are implemented: with the app's token, an app with none lists an empty page.
    let listed = EventServiceClient::new(channel.clone())
        .list_failed_callbacks(authed(ListFailedCallbacksRequest::default(), &app.token))
        .await
        .expect("ListFailedCallbacks with the app token")
        .into_inner();
    assert!(listed.failed_callbacks.is_empty(), "{listed:?}");
    assert!(listed.next_page_token.is_empty(), "{listed:?}");
    for method in [
        "/pushgate.v1.EventService/ListFailedCallbacks",
        "/pushgate.v1.EventService/RedeliverCallbacks",
    ] {
        // Without a token the auth layer answers first.
        let err = call_empty(&channel, None, method).await;
        assert_eq!(err.code(), Code::Unauthenticated, "{method}: {err:?}");
    }
    // The send path and redelivery are implemented: past the auth layer, an empty request is bad input.
    for method in [
        "/pushgate.v1.PushService/SendSync",
        "/pushgate.v1.PushService/SendAsync",
        "/pushgate.v1.PushService/SendBatch",
        "/pushgate.v1.PushService/GetMessage",
        "/pushgate.v1.TaskService/GetTask",
        "/pushgate.v1.TaskService/CreateListTask",
        // No selection of failed callbacks.
        "/pushgate.v1.EventService/RedeliverCallbacks",
    ] {
        let err = call_empty(&channel, Some(&app.token), method).await;
        assert_eq!(err.code(), Code::InvalidArgument, "{method}: {err:?}");
    }
    // The own channel is implemented: past the auth layer, an empty Ack is bad input, not UNIMPLEMENTED.
    let user_token = AuthServiceClient::new(channel.clone())
        .issue_user_token(authed(user_token_request("u1"), &app.token))
        .await
        .unwrap()
        .into_inner()
        .access_token;
    for method in [
        "/pushgate.v1.ChannelService/Ack",
        "/pushgate.v1.ChannelService/Subscribe",
    ] {
        let err = call_empty(&channel, Some(&user_token), method).await;
        assert_eq!(err.code(), Code::InvalidArgument, "{method}: {err:?}");
        assert_eq!(violated_fields(&err)[0], "device_id", "{method}");
    }
}

fn rule(name: &str, url: &str) -> CallbackRule {
    CallbackRule {
        name: name.into(),
        url: url.into(),
        secret: "s3cret".into(),
        enabled: true,
        statuses: vec![DeliveryStatus::Fail as i32],
        ..Default::default()
    }
}

async fn put_rule(
    apps: &mut AppServiceClient<tonic::transport::Channel>,
    admin: &str,
    app: &str,
    rule: CallbackRule,
) -> Result<pushgate::proto::v1::PutCallbackRuleResponse, tonic::Status> {
    apps.put_callback_rule(authed(
        PutCallbackRuleRequest {
            app: app.into(),
            rule: Some(rule),
        },
        admin,
    ))
    .await
    .map(|r| r.into_inner())
}

async fn rules_of(
    apps: &mut AppServiceClient<tonic::transport::Channel>,
    admin: &str,
    app: &str,
) -> Vec<CallbackRule> {
    apps.list_callback_rules(authed(ListCallbackRulesRequest { app: app.into() }, admin))
        .await
        .unwrap()
        .into_inner()
        .rules
}

#[tokio::test]
async fn apps_with_same_named_records_never_see_each_other() {
    let server = TestServer::start();
    create_app(&server, "acme#chat").await;
    // A name that extends the first one, so a sloppy prefix scan would mix them up.
    create_app(&server, "acme#chat2").await;
    let admin = server.admin_token.clone();
    let mut apps = AppServiceClient::new(server.channel().await);

    let a = put_rule(
        &mut apps,
        &admin,
        "acme#chat",
        rule("hooks", "https://a.example/cb"),
    )
    .await
    .unwrap();
    assert!(a.created);
    let b = put_rule(
        &mut apps,
        &admin,
        "acme#chat2",
        rule("hooks", "https://b.example/cb"),
    )
    .await
    .unwrap();
    assert!(b.created, "the same rule name in another app is a new rule");

    let a_rules = rules_of(&mut apps, &admin, "acme#chat").await;
    let b_rules = rules_of(&mut apps, &admin, "acme#chat2").await;
    assert_eq!(a_rules.len(), 1);
    assert_eq!(a_rules[0].url, "https://a.example/cb");
    assert_eq!(b_rules.len(), 1);
    assert_eq!(b_rules[0].url, "https://b.example/cb");
    // Secrets never come back.
    assert!(a_rules[0].secret.is_empty() && a_rules[0].has_secret);

    apps.delete_callback_rule(authed(
        DeleteCallbackRuleRequest {
            app: "acme#chat".into(),
            name: "hooks".into(),
        },
        &admin,
    ))
    .await
    .unwrap();
    assert!(rules_of(&mut apps, &admin, "acme#chat").await.is_empty());
    assert_eq!(rules_of(&mut apps, &admin, "acme#chat2").await.len(), 1);

    // Deleting an app removes its records only.
    put_rule(
        &mut apps,
        &admin,
        "acme#chat",
        rule("hooks", "https://a.example/cb"),
    )
    .await
    .unwrap();
    apps.delete_app(authed(
        DeleteAppRequest {
            name: "acme#chat".into(),
        },
        &admin,
    ))
    .await
    .unwrap();
    assert_eq!(rules_of(&mut apps, &admin, "acme#chat2").await.len(), 1);
    let gone = apps
        .list_callback_rules(authed(
            ListCallbackRulesRequest {
                app: "acme#chat".into(),
            },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
}

#[tokio::test]
async fn bad_input_is_refused_with_field_violations_and_writes_nothing() {
    let server = TestServer::start();
    let admin = server.admin_token.clone();
    let mut apps = AppServiceClient::new(server.channel().await);

    let long = format!("acme#{}", "a".repeat(65));
    for (name, time_zone, fields) in [
        ("", "", vec!["name"]),
        ("acme", "", vec!["name"]),
        ("acme#", "", vec!["name"]),
        ("acme#ch at", "", vec!["name"]),
        (long.as_str(), "", vec!["name"]),
        ("acme#chat", "Mars/Base One", vec!["time_zone"]),
        ("bad", "+99:00", vec!["name", "time_zone"]),
    ] {
        let err = apps
            .create_app(authed(
                CreateAppRequest {
                    name: name.into(),
                    time_zone: time_zone.into(),
                },
                &admin,
            ))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{name:?}");
        assert_eq!(violated_fields(&err), fields, "{name:?} / {time_zone:?}");
    }
    let listed = apps
        .list_apps(authed(list_apps(), &admin))
        .await
        .unwrap()
        .into_inner();
    assert!(listed.apps.is_empty(), "a refused create wrote something");

    let err = apps
        .list_apps(authed(
            ListAppsRequest {
                page_size: 101,
                page_token: String::new(),
            },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&err), ["page_size"]);

    create_app(&server, "acme#chat").await;
    let dup = apps
        .create_app(authed(
            CreateAppRequest {
                name: "acme#chat".into(),
                time_zone: String::new(),
            },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(dup.code(), Code::AlreadyExists);

    let missing = apps
        .get_app(authed(
            GetAppRequest {
                name: "acme#none".into(),
            },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);

    // Callback rules: every bad field named, nothing stored.
    let bad = CallbackRule {
        name: "has space".into(),
        url: "ftp://x".into(),
        secret: String::new(),
        statuses: vec![0, 42],
        ..Default::default()
    };
    let err = put_rule(&mut apps, &admin, "acme#chat", bad)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(
        violated_fields(&err),
        [
            "rule.name",
            "rule.url",
            "rule.secret",
            "rule.statuses[0]",
            "rule.statuses[1]"
        ]
    );
    assert!(rules_of(&mut apps, &admin, "acme#chat").await.is_empty());

    // The fifth rule is over the per-app limit.
    for i in 0..4 {
        put_rule(
            &mut apps,
            &admin,
            "acme#chat",
            rule(&format!("r{i}"), "http://127.0.0.1:9/cb"),
        )
        .await
        .unwrap();
    }
    let err = put_rule(
        &mut apps,
        &admin,
        "acme#chat",
        rule("r4", "http://127.0.0.1:9/cb"),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
    assert!(
        err.get_details_quota_failure().is_some(),
        "quota details expected"
    );
    assert_eq!(rules_of(&mut apps, &admin, "acme#chat").await.len(), 4);

    // A bad user name for a user token.
    let app = create_app(&server, "acme#other").await;
    let err = AuthServiceClient::new(server.channel().await)
        .issue_user_token(authed(user_token_request("no spaces please"), &app.token))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&err), ["user"]);
}

#[tokio::test]
async fn apps_are_listed_page_by_page_to_the_end() {
    let server = TestServer::start();
    for i in 0..5 {
        create_app(&server, &format!("org#app{i}")).await;
    }
    let mut apps = AppServiceClient::new(server.channel().await);
    let mut seen = Vec::new();
    let mut page_token = String::new();
    let mut pages = 0;
    loop {
        let page = apps
            .list_apps(authed(
                ListAppsRequest {
                    page_size: 2,
                    page_token,
                },
                &server.admin_token,
            ))
            .await
            .unwrap()
            .into_inner();
        pages += 1;
        seen.extend(page.apps.into_iter().map(|a| a.name));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(pages, 3);
    assert_eq!(
        seen,
        ["org#app0", "org#app1", "org#app2", "org#app3", "org#app4"]
    );
}
