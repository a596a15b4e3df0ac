//! ChannelService over a real server: the stream's shape (replay marker, keepalives), a newer Subscribe
//! aborting the older, bad input, acks of unknown pushes, token scopes and shutdown. Pushes reach inboxes
//! only through the send path, so what needs one is tested in `src/channel` and end to end with PushService.

mod common;

use std::time::{Duration, Instant};

use common::{TestServer, authed, create_app, violated_fields};
use pushgate::proto::v1::{
    AckKind, AckRequest, IssueUserTokenRequest, SubscribeRequest, SubscribeResponse,
    auth_service_client::AuthServiceClient, channel_service_client::ChannelServiceClient,
    subscribe_response::Item,
};
use tonic::{Code, Streaming, transport::Channel};

type Client = ChannelServiceClient<Channel>;

async fn user_token(server: &TestServer, app_token: &str, user: &str) -> String {
    AuthServiceClient::new(server.channel().await)
        .issue_user_token(authed(
            IssueUserTokenRequest {
                user: user.into(),
                ttl: None,
            },
            app_token,
        ))
        .await
        .expect("user token")
        .into_inner()
        .access_token
}

async fn subscribe(
    c: &mut Client,
    token: &str,
    device: &str,
) -> Result<Streaming<SubscribeResponse>, tonic::Status> {
    c.subscribe(authed(
        SubscribeRequest {
            device_id: device.into(),
            since: 0,
        },
        token,
    ))
    .await
    .map(|r| r.into_inner())
}

/// The next item of a stream, failing the test after 10 s.
async fn next_item(s: &mut Streaming<SubscribeResponse>) -> Result<Item, tonic::Status> {
    let item = tokio::time::timeout(Duration::from_secs(10), s.message())
        .await
        .expect("an item within 10 s")?;
    Ok(item.expect("the stream goes on").item.expect("an item"))
}

async fn expect_replay_complete(s: &mut Streaming<SubscribeResponse>, count: u32) {
    match next_item(s).await {
        Ok(Item::ReplayComplete(done)) => assert_eq!(done.replayed_count, count),
        other => panic!("expected the end of the replay, got {other:?}"),
    }
}

fn ack(device: &str, ids: &[&str], kind: AckKind) -> AckRequest {
    AckRequest {
        device_id: device.into(),
        message_ids: ids.iter().map(|s| s.to_string()).collect(),
        kind: kind as i32,
    }
}

#[tokio::test]
async fn an_empty_inbox_completes_then_keepalives_outlast_the_request_timeout() {
    let server = TestServer::start_with(&[
        ("PUSHGATE_CHANNEL_KEEPALIVE_INTERVAL", "200ms"),
        ("PUSHGATE_SERVER_REQUEST_TIMEOUT", "1s"),
    ]);
    let app = create_app(&server, "acme#chat").await;
    let token = user_token(&server, &app.token, "u1").await;
    let mut c = Client::new(server.channel().await);
    let mut s = subscribe(&mut c, &token, "phone-1").await.unwrap();
    expect_replay_complete(&mut s, 0).await;
    let started = Instant::now();
    let mut keepalives = 0;
    // Past the 1 s request timeout: a stream is not a call that times out.
    while started.elapsed() < Duration::from_millis(1_600) {
        match next_item(&mut s).await {
            Ok(Item::Keepalive(k)) => {
                let at = k.server_time.expect("server time");
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_secs() as i64;
                assert!((at.seconds - now).abs() <= 5, "server time {at:?}");
                keepalives += 1;
            }
            other => panic!("expected a keepalive, got {other:?}"),
        }
    }
    // Periodic, not a busy loop; loose at the low end for a loaded machine.
    assert!((3..=10).contains(&keepalives), "{keepalives} keepalives");
}

#[tokio::test]
async fn a_second_subscribe_for_the_device_aborts_the_first() {
    let server = TestServer::start_with(&[("PUSHGATE_CHANNEL_KEEPALIVE_INTERVAL", "200ms")]);
    let app = create_app(&server, "acme#chat").await;
    let token = user_token(&server, &app.token, "u1").await;
    let mut c = Client::new(server.channel().await);
    let mut first = subscribe(&mut c, &token, "phone-1").await.unwrap();
    expect_replay_complete(&mut first, 0).await;
    // Another device of the same user, and the same device id in another app, are streams of their own.
    let mut tablet = subscribe(&mut c, &token, "tablet").await.unwrap();
    expect_replay_complete(&mut tablet, 0).await;
    let other_app = create_app(&server, "acme#mail").await;
    let other_token = user_token(&server, &other_app.token, "u1").await;
    let mut elsewhere = subscribe(&mut c, &other_token, "phone-1").await.unwrap();
    expect_replay_complete(&mut elsewhere, 0).await;

    let mut second = subscribe(&mut c, &token, "phone-1").await.unwrap();
    expect_replay_complete(&mut second, 0).await;
    let err = next_item(&mut first).await.unwrap_err();
    assert_eq!(err.code(), Code::Aborted, "{err:?}");
    assert!(err.message().contains("newer Subscribe"), "{err:?}");
    assert!(
        tokio::time::timeout(Duration::from_secs(10), first.message())
            .await
            .expect("ended")
            .map_or(true, |m| m.is_none()),
        "nothing follows the abort"
    );
    for s in [&mut second, &mut tablet, &mut elsewhere] {
        assert!(
            matches!(next_item(s).await, Ok(Item::Keepalive(_))),
            "the other streams go on"
        );
    }
}

#[tokio::test]
async fn bad_input_is_invalid_argument_with_field_violations() {
    let server = TestServer::start();
    let app = create_app(&server, "acme#chat").await;
    let token = user_token(&server, &app.token, "u1").await;
    let mut c = Client::new(server.channel().await);
    for device in ["", "has space", &"d".repeat(65)] {
        let err = subscribe(&mut c, &token, device).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{device:?}: {err:?}");
        assert_eq!(violated_fields(&err), ["device_id"], "{device:?}");
    }
    let cases: Vec<(AckRequest, Vec<&str>)> = vec![
        (ack("phone-1", &["m1"], AckKind::Unspecified), vec!["kind"]),
        (
            AckRequest {
                kind: 7,
                ..ack("phone-1", &["m1"], AckKind::Delivered)
            },
            vec!["kind"],
        ),
        (
            ack("", &[], AckKind::Unspecified),
            vec!["device_id", "message_ids", "kind"],
        ),
        (
            ack("phone-1", &["m1", ""], AckKind::Clicked),
            vec!["message_ids[1]"],
        ),
        (
            AckRequest {
                message_ids: (0..101).map(|i| format!("m{i}")).collect(),
                ..ack("phone-1", &[], AckKind::Delivered)
            },
            vec!["message_ids"],
        ),
    ];
    for (request, fields) in cases {
        let err = c.ack(authed(request.clone(), &token)).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{request:?}: {err:?}");
        assert_eq!(violated_fields(&err), fields, "{request:?}");
    }
    // Exactly 100 ids is fine.
    let ids: Vec<String> = (0..100).map(|i| format!("m{i}")).collect();
    let done = c
        .ack(authed(
            AckRequest {
                message_ids: ids.clone(),
                ..ack("phone-1", &[], AckKind::Clicked)
            },
            &token,
        ))
        .await
        .unwrap();
    assert_eq!(done.into_inner().unknown_message_ids, ids);
}

#[tokio::test]
async fn acks_of_pushes_never_sent_list_them_as_unknown() {
    let server = TestServer::start();
    let app = create_app(&server, "acme#chat").await;
    let token = user_token(&server, &app.token, "u1").await;
    let mut c = Client::new(server.channel().await);
    let mut s = subscribe(&mut c, &token, "phone-1").await.unwrap();
    expect_replay_complete(&mut s, 0).await;
    for kind in [AckKind::Delivered, AckKind::Clicked] {
        let unknown = c
            .ack(authed(ack("phone-1", &["a", "b", "a"], kind), &token))
            .await
            .unwrap()
            .into_inner()
            .unknown_message_ids;
        assert_eq!(unknown, ["a", "b"], "{kind:?}: each id once");
    }
}

#[tokio::test]
async fn only_user_tokens_open_the_channel() {
    let server = TestServer::start();
    let app = create_app(&server, "acme#chat").await;
    let mut c = Client::new(server.channel().await);
    for token in [app.token.as_str(), server.admin_token.as_str()] {
        let err = subscribe(&mut c, token, "phone-1").await.unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
        let err = c
            .ack(authed(ack("phone-1", &["m"], AckKind::Delivered), token))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    }
    let err = c
        .subscribe(SubscribeRequest {
            device_id: "phone-1".into(),
            since: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
}

#[tokio::test]
async fn shutdown_ends_open_streams_with_unavailable_without_waiting_for_the_grace_period() {
    let server = TestServer::start_with(&[("PUSHGATE_SERVER_SHUTDOWN_GRACE", "20s")]);
    let app = create_app(&server, "acme#chat").await;
    let token = user_token(&server, &app.token, "u1").await;
    let mut c = Client::new(server.channel().await);
    let mut s = subscribe(&mut c, &token, "phone-1").await.unwrap();
    expect_replay_complete(&mut s, 0).await;
    let started = Instant::now();
    let mut server = server;
    // Waited for off the runtime: the server's graceful shutdown needs this client's connection to answer.
    let exited = tokio::task::spawn_blocking(move || {
        let status = server.terminate();
        (status, started.elapsed())
    });
    let err = next_item(&mut s).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    let (status, took) = exited.await.unwrap();
    assert!(status.success(), "{status}");
    assert!(took < Duration::from_secs(10), "shutdown took {took:?}");
}
