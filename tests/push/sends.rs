//! Async and batch sends, stored messages, and idempotent retries.

use std::time::Duration;

use crate::common::push::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_and_batch_sends_are_accepted_at_once_and_delivered_in_the_background() {
    let mut env = Env::start().await;
    for user in ["a1", "a2", "a3"] {
        env.bind_new(user, &format!("{user}-phone"), HUAWEI).await;
    }
    let r = env
        .push
        .send_async(authed(
            SendAsyncRequest {
                user: "a1".into(),
                strategy: Strategy::VendorOnly as i32,
                message_source: Some(send_async_request::MessageSource::Message(hello())),
                request_id: String::new(),
            },
            &env.app.token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(!r.message_id.is_empty());
    let target = r.target.unwrap();
    assert_eq!(
        (target.user.as_str(), target.status),
        ("a1", AcceptStatus::Accepted as i32)
    );
    assert_eq!(target.desc, "success");
    env.wait_for_sends(HUAWEI, 1).await;

    let r = env
        .push
        .send_batch(authed(
            SendBatchRequest {
                users: vec!["a2".into(), "bad user".into(), "a3".into(), "a2".into()],
                strategy: Strategy::Unspecified as i32,
                message_source: Some(send_batch_request::MessageSource::Message(hello())),
                request_id: String::new(),
            },
            &env.app.token,
        ))
        .await
        .unwrap()
        .into_inner();
    let got: Vec<(String, i32, String)> = r
        .targets
        .into_iter()
        .map(|t| (t.user, t.status, t.desc))
        .collect();
    let accepted = AcceptStatus::Accepted as i32;
    let rejected = AcceptStatus::Rejected as i32;
    assert_eq!(
        got,
        [
            ("a2".into(), accepted, "success".into()),
            ("bad user".into(), rejected, "invalid user id".into()),
            ("a3".into(), accepted, "success".into()),
            ("a2".into(), rejected, "duplicate user".into()),
        ]
    );
    // Two more users, one send each (Huawei takes one request per user push here).
    let sends = env.wait_for_sends(HUAWEI, 3).await;
    let mut tokens: Vec<String> = sends
        .iter()
        .filter_map(|s| s.device_token.clone())
        .collect();
    tokens.sort();
    let mut expected: Vec<String> = ["a1", "a2", "a3"]
        .iter()
        .map(|u| token_for(HUAWEI, &format!("{u}/{u}-phone")))
        .collect();
    expected.sort();
    assert_eq!(tokens, expected);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        env.sends(HUAWEI).len(),
        3,
        "each accepted user exactly once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_limits_and_bad_input_change_nothing() {
    let mut env = Env::start().await;
    let e = env
        .push
        .send_batch(authed(
            SendBatchRequest {
                users: (0..101).map(|i| format!("u{i}")).collect(),
                message_source: Some(send_batch_request::MessageSource::Message(hello())),
                ..Default::default()
            },
            &env.app.token,
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&e), ["users"]);
    let e = env
        .push
        .send_async(authed(
            SendAsyncRequest {
                user: "u".into(),
                strategy: 42,
                ..Default::default()
            },
            &env.app.token,
        ))
        .await
        .unwrap_err();
    let mut fields = violated_fields(&e);
    fields.sort();
    assert_eq!(fields, ["message", "strategy"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_messages_are_returned_and_sent_by_id() {
    let mut env = Env::start().await;
    env.bind_new("s", "phone", MEIZU).await;
    let stored = env
        .push
        .create_message(authed(
            CreateMessageRequest {
                message: Some(PushMessage {
                    title: "Stored".into(),
                    content: "Body".into(),
                    ..Default::default()
                }),
            },
            &env.app.token,
        ))
        .await
        .unwrap()
        .into_inner()
        .message
        .unwrap();
    assert!(!stored.id.is_empty());
    assert!(stored.create_time.is_some());
    let got = env
        .push
        .get_message(authed(
            GetMessageRequest {
                message_id: stored.id.clone(),
            },
            &env.app.token,
        ))
        .await
        .unwrap()
        .into_inner()
        .message
        .unwrap();
    assert_eq!(got, stored);
    let e = env
        .push
        .get_message(authed(
            GetMessageRequest {
                message_id: "unknown".into(),
            },
            &env.app.token,
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let e = env
        .push
        .create_message(authed(
            CreateMessageRequest {
                message: Some(PushMessage {
                    title: "x".repeat(33),
                    ..Default::default()
                }),
            },
            &env.app.token,
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&e), ["message.title"]);

    let r = env
        .send_sync_request(SendSyncRequest {
            user: "s".into(),
            message_source: Some(send_sync_request::MessageSource::MessageId(
                stored.id.clone(),
            )),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_ne!(r.message_id, stored.id, "every send gets its own id");
    assert_eq!(status(of(&r, "phone")), DeliveryStatus::Success);
    let sends = env.sends(MEIZU);
    assert_eq!(sends.len(), 1);
    assert!(sends[0].body.contains("Stored"), "{}", sends[0].body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_request_id_answers_the_first_result_and_sends_nothing_again() {
    let mut env = Env::start().await;
    env.bind_new("i", "phone", VIVO).await;
    let request = SendSyncRequest {
        user: "i".into(),
        message_source: Some(send_sync_request::MessageSource::Message(hello())),
        request_id: "order-42".into(),
        ..Default::default()
    };
    let first = env.send_sync_request(request.clone()).await.unwrap();
    let again = env.send_sync_request(request.clone()).await.unwrap();
    assert_eq!(first, again);
    assert_eq!(env.sends(VIVO).len(), 1);
    // Concurrent retries wait for the first answer rather than sending again.
    let mut clients: Vec<_> = (0..4).map(|_| env.push.clone()).collect();
    let concurrent = SendSyncRequest {
        request_id: "order-43".into(),
        ..request.clone()
    };
    let token = env.app.token.clone();
    let answers = futures::future::join_all(clients.iter_mut().map(|c| {
        let (request, token) = (concurrent.clone(), token.clone());
        async move {
            c.send_sync(authed(request, &token))
                .await
                .unwrap()
                .into_inner()
        }
    }))
    .await;
    assert!(answers.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(env.sends(VIVO).len(), 2);
    // The same id for another RPC is another request.
    let r = env
        .push
        .send_async(authed(
            SendAsyncRequest {
                user: "i".into(),
                message_source: Some(send_async_request::MessageSource::Message(hello())),
                request_id: "order-42".into(),
                ..Default::default()
            },
            &env.app.token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_ne!(r.message_id, first.message_id);
    env.wait_for_sends(VIVO, 3).await;
    // And it survives a restart.
    env.server = env.server.restart().await;
    env.push = PushServiceClient::new(env.server.channel().await);
    let after = env.send_sync_request(request).await.unwrap();
    assert_eq!(after, first);
    assert_eq!(env.sends(VIVO).len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_pushes_survive_a_crash_and_are_sent_after_restart() {
    // One slow worker: the second push waits in the queue when the server is killed.
    let mut env = Env::start_with(&[("PUSHGATE_PUSH_ASYNC_WORKERS", "1")]).await;
    let slow = env.bind_new("k1", "p1", XIAOMI).await;
    let waiting = env.bind_new("k2", "p2", XIAOMI).await;
    env.fake(XIAOMI).add_fault(FaultRule {
        device_token: Some(slow.clone()),
        action: FaultAction::Delay { millis: 3_000 },
        times: Some(1),
    });
    for user in ["k1", "k2"] {
        env.push
            .send_async(authed(
                SendAsyncRequest {
                    user: user.into(),
                    message_source: Some(send_async_request::MessageSource::Message(hello())),
                    ..Default::default()
                },
                &env.app.token,
            ))
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        env.sends(XIAOMI).is_empty(),
        "the first is still being answered"
    );
    env.server = env.server.kill_and_restart().await;
    let sends = env.wait_for_sends(XIAOMI, 2).await;
    let tokens: Vec<&str> = sends
        .iter()
        .filter_map(|s| s.device_token.as_deref())
        .collect();
    assert!(tokens.contains(&waiting.as_str()), "{tokens:?}");
    assert!(tokens.contains(&slow.as_str()), "{tokens:?}");
}
