//! EventService: every outcome recorded as a delivery event with Easemob's fields, streamed live, filtered,
//! and resumable from a position.

use std::time::Duration;

use pushgate::proto::v1::{
    DeliveryEvent, SubscribeEventsRequest, SubscribeEventsResponse,
    event_service_client::EventServiceClient, subscribe_events_response::Item,
};

use crate::common::push::*;

type Events = tonic::Streaming<SubscribeEventsResponse>;

async fn subscribe(env: &Env, request: SubscribeEventsRequest) -> Result<Events, Status> {
    EventServiceClient::new(env.push_channel())
        .subscribe_events(authed(request, &env.app.token))
        .await
        .map(|r| r.into_inner())
}

/// The next `n` events (heartbeats skipped), failing after 10 s.
async fn take(stream: &mut Events, n: usize) -> Vec<DeliveryEvent> {
    let mut out = Vec::new();
    while out.len() < n {
        let item = tokio::time::timeout(Duration::from_secs(10), stream.message())
            .await
            .expect("an event within 10 s")
            .unwrap()
            .expect("the stream goes on");
        if let Some(Item::Event(e)) = item.item {
            out.push(e);
        }
    }
    out
}

fn from_start() -> SubscribeEventsRequest {
    SubscribeEventsRequest {
        since: Some(0),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_outcome_is_an_event_with_the_seed_fields_streamed_and_resumable() {
    let mut env = Env::start().await;
    let token = env.bind_new("eve", "phone", FCM).await;
    let sent = env
        .send_sync("eve", Strategy::Unspecified, hello())
        .await
        .unwrap();
    let unknown = env
        .send_sync("ghost", Strategy::Unspecified, hello())
        .await
        .unwrap();

    let mut all = subscribe(&env, from_start()).await.unwrap();
    let events = take(&mut all, 2).await;
    let ok = &events[0];
    assert_eq!(ok.call_id, format!("{}_{}", env.app.name, sent.message_id));
    assert_eq!(ok.appkey, env.app.name);
    assert_eq!(
        (ok.channel.as_str(), ok.step.as_str(), ok.target.as_str()),
        ("ANDROID", "push", "eve")
    );
    assert_eq!(ok.status, DeliveryStatus::Success as i32);
    assert_eq!(
        (ok.device_id.as_str(), ok.device_token.as_str()),
        ("phone", token.as_str())
    );
    assert_eq!(ok.notifier_name, FCM);
    assert!(
        ok.data.contains("projects/"),
        "the vendor's answer: {}",
        ok.data
    );
    let payload: serde_json::Value = serde_json::from_str(&ok.payload).unwrap();
    assert_eq!(payload["title"], "Hello");
    assert!(ok.detail.is_empty());
    let failed = &events[1];
    assert_eq!(failed.msg_id, unknown.message_id);
    assert_eq!(failed.detail, "no user exist");
    assert_eq!(failed.status, DeliveryStatus::Fail as i32);
    assert!(failed.position > ok.position);

    // Live: the next outcome arrives on the open stream.
    let again = env
        .send_sync("eve", Strategy::Unspecified, hello())
        .await
        .unwrap();
    let live = take(&mut all, 1).await;
    assert_eq!(live[0].msg_id, again.message_id);

    // Resuming after a position replays exactly what came after it.
    let mut resumed = subscribe(
        &env,
        SubscribeEventsRequest {
            since: Some(ok.position),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let after: Vec<String> = take(&mut resumed, 2)
        .await
        .into_iter()
        .map(|e| e.msg_id)
        .collect();
    assert_eq!(
        after,
        [unknown.message_id.clone(), again.message_id.clone()]
    );

    // Filters: failures only, and one channel only.
    let mut fails = subscribe(
        &env,
        SubscribeEventsRequest {
            since: Some(0),
            statuses: vec![DeliveryStatus::Fail as i32],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(take(&mut fails, 1).await[0].msg_id, unknown.message_id);
    let e = subscribe(
        &env,
        SubscribeEventsRequest {
            channels: vec!["GCM".into()],
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(violated_fields(&e), ["channels"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fallback_records_the_vendor_attempt_and_the_channel_outcome() {
    let mut env = Env::start().await;
    let token = env.bind_new("fb", "phone", XIAOMI).await;
    env.fake(XIAOMI).invalidate_token(&token);
    let r = env
        .send_sync("fb", Strategy::VendorFirst, hello())
        .await
        .unwrap();
    assert_eq!(
        r.results.len(),
        1,
        "one result per device: the last attempt"
    );
    let mut stream = subscribe(&env, from_start()).await.unwrap();
    let events = take(&mut stream, 2).await;
    assert_eq!(events[0].channel, "XIAOMI");
    assert_eq!(events[0].detail, "push yet but fail");
    assert_eq!(events[1].channel, "EASEMOB");
    assert_eq!(events[1].status, DeliveryStatus::Success as i32);
    assert!(events.iter().all(|e| e.msg_id == r.message_id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_streams_get_heartbeats_with_their_position() {
    let mut env = Env::start_with(&[("PUSHGATE_EVENTS_HEARTBEAT_INTERVAL", "300ms")]).await;
    env.send_sync("nobody", Strategy::Unspecified, hello())
        .await
        .unwrap();
    let mut stream = subscribe(&env, from_start()).await.unwrap();
    let first = take(&mut stream, 1).await;
    let item = tokio::time::timeout(Duration::from_secs(5), stream.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    match item.item {
        Some(Item::Heartbeat(h)) => assert_eq!(h.position, first[0].position),
        other => panic!("expected a heartbeat, got {other:?}"),
    }
}
