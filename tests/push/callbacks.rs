//! Webhook callbacks end to end: a real server posts every delivery outcome to a real HTTP receiver with the
//! Easemob's JSON body and both signatures, durably (a SIGKILL loses nothing), in order per device, with the
//! pause rule, dead letters and their redelivery, and the rule's status filter.
//!
//! The recorded delivery events (EventService.SubscribeEvents, already tested in `events.rs`) are the
//! reference a posted body is compared with, field for field.

use std::{
    collections::{BTreeSet, HashMap},
    time::{Duration, Instant},
};

use axum::http::Method;
use pushgate::proto::v1::{
    CallbackRule, ChatType, DeleteCallbackRuleRequest, DeliveryEvent, FailedCallback,
    FailedCallbackIds, ListCallbackRulesRequest, ListFailedCallbacksRequest,
    ListFailedCallbacksResponse, PutCallbackRuleRequest, RedeliverCallbacksRequest,
    RedeliverCallbacksResponse, SubscribeEventsRequest, app_service_client::AppServiceClient,
    event_service_client::EventServiceClient, redeliver_callbacks_request::Selection,
    subscribe_events_response::Item,
};
use serde_json::{Map, Value};

use crate::{
    common::push::*,
    common::webhook_receiver::{PATH, Received, Receiver, dedup_positions, now_ms},
};

/// The secret of every rule in these tests.
const SECRET: &str = "whsec_callback-tests";
/// How long any single wait for the server may take before the test fails.
const WAIT: Duration = Duration::from_secs(20);
/// Tolerance for timings on a loaded 2-core machine.
const SLACK_MS: u64 = 300;

/// The body keys present in every callback.
const ALWAYS: [&str; 9] = [
    "appkey",
    "callId",
    "chat_type",
    "msg_id",
    "security",
    "status",
    "step",
    "target",
    "timestamp",
];

fn keys(body: &Value) -> BTreeSet<String> {
    body.as_object()
        .expect("a JSON object")
        .keys()
        .cloned()
        .collect()
}

/// The always-present keys and `extra`.
fn expected_keys(extra: &[&str]) -> BTreeSet<String> {
    ALWAYS.iter().chain(extra).map(|k| k.to_string()).collect()
}

/// An enabled rule posting every status to `url`.
fn rule(name: &str, url: &str) -> CallbackRule {
    CallbackRule {
        name: name.into(),
        url: url.into(),
        secret: SECRET.into(),
        enabled: true,
        ..Default::default()
    }
}

/// AppService takes the admin token and names the app.
async fn apps(env: &Env) -> AppServiceClient<Channel> {
    AppServiceClient::new(env.server.channel().await)
}

async fn put_rule(env: &Env, rule: CallbackRule) {
    let name = rule.name.clone();
    apps(env)
        .await
        .put_callback_rule(authed(
            PutCallbackRuleRequest {
                app: env.app.name.clone(),
                rule: Some(rule),
            },
            &env.server.admin_token,
        ))
        .await
        .unwrap_or_else(|e| panic!("put rule {name}: {e:?}"));
}

async fn list_rules(env: &Env) -> Vec<CallbackRule> {
    apps(env)
        .await
        .list_callback_rules(authed(
            ListCallbackRulesRequest {
                app: env.app.name.clone(),
            },
            &env.server.admin_token,
        ))
        .await
        .expect("list callback rules")
        .into_inner()
        .rules
}

/// EventService takes the app's token.
fn event_service(env: &Env) -> EventServiceClient<Channel> {
    EventServiceClient::new(env.push_channel())
}

async fn list_failed(
    env: &Env,
    rule_name: &str,
    page_size: i32,
    page_token: &str,
) -> Result<ListFailedCallbacksResponse, Status> {
    event_service(env)
        .list_failed_callbacks(authed(
            ListFailedCallbacksRequest {
                rule_name: rule_name.into(),
                page_size,
                page_token: page_token.into(),
            },
            &env.app.token,
        ))
        .await
        .map(|r| r.into_inner())
}

/// The first page (at most 100) of the failed callbacks of `rule_name` ("" = every rule).
async fn failed_now(env: &Env, rule_name: &str) -> Vec<FailedCallback> {
    list_failed(env, rule_name, 100, "")
        .await
        .expect("list failed callbacks")
        .failed_callbacks
}

fn failed_ids(failed: &[FailedCallback]) -> Vec<String> {
    failed.iter().map(|f| f.id.clone()).collect()
}

/// Waits until the failed callbacks of `rule_name` satisfy `done`, and returns them.
async fn wait_failed(
    env: &Env,
    rule_name: &str,
    what: &str,
    done: impl Fn(&[FailedCallback]) -> bool,
) -> Vec<FailedCallback> {
    let deadline = Instant::now() + WAIT;
    loop {
        let failed = failed_now(env, rule_name).await;
        if done(&failed) {
            return failed;
        }
        assert!(
            Instant::now() < deadline,
            "waited {WAIT:?} for failed callbacks of {rule_name:?}: {what}; listed: {:?}",
            failed_ids(&failed)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn redeliver(
    env: &Env,
    selection: Option<Selection>,
) -> Result<RedeliverCallbacksResponse, Status> {
    event_service(env)
        .redeliver_callbacks(authed(
            RedeliverCallbacksRequest { selection },
            &env.app.token,
        ))
        .await
        .map(|r| r.into_inner())
}

fn ids(ids: &[&str]) -> Option<Selection> {
    Some(Selection::Ids(FailedCallbackIds {
        ids: ids.iter().map(|i| i.to_string()).collect(),
    }))
}

/// The first `n` delivery events the app recorded, oldest first (at most 10 s).
async fn recorded_events(env: &Env, n: usize) -> Vec<DeliveryEvent> {
    let mut stream = event_service(env)
        .subscribe_events(authed(
            SubscribeEventsRequest {
                since: Some(0),
                ..Default::default()
            },
            &env.app.token,
        ))
        .await
        .expect("subscribe to events")
        .into_inner();
    let mut events = Vec::new();
    while events.len() < n {
        let item = tokio::time::timeout(Duration::from_secs(10), stream.message())
            .await
            .unwrap_or_else(|_| panic!("only {} of {n} events within 10 s", events.len()))
            .expect("the event stream is healthy")
            .expect("the event stream goes on");
        if let Some(Item::Event(e)) = item.item {
            events.push(e);
        }
    }
    events
}

fn timestamp_ms(t: &Option<prost_types::Timestamp>) -> u64 {
    let t = t.as_ref().expect("a timestamp");
    (t.seconds as u64) * 1000 + (t.nanos as u64) / 1_000_000
}

fn status_text(status: i32) -> &'static str {
    match DeliveryStatus::try_from(status) {
        Ok(DeliveryStatus::Success) => "success",
        Ok(DeliveryStatus::Fail) => "fail",
        Ok(DeliveryStatus::Error) => "error",
        other => panic!("an event with status {other:?}"),
    }
}

/// The body the contract gives for `event` posted to a rule with `secret`: the always-present fields, every
/// other field only when the event has a value, `data` and `payload` as parsed JSON.
fn expected_body(event: &DeliveryEvent, secret: &str) -> Value {
    let timestamp = timestamp_ms(&event.timestamp);
    let chat_type = if event.chat_type == ChatType::Group as i32 {
        "groupchat"
    } else {
        "chat"
    };
    let security = hex::encode(<md5::Md5 as md5::Digest>::digest(format!(
        "{}{secret}{timestamp}",
        event.call_id
    )));
    let mut body = Map::new();
    for (key, value) in [
        ("callId", event.call_id.as_str()),
        ("appkey", &event.appkey),
        ("chat_type", chat_type),
        ("msg_id", &event.msg_id),
        ("status", status_text(event.status)),
        ("step", &event.step),
        ("target", &event.target),
        ("security", &security),
    ] {
        body.insert(key.into(), Value::String(value.into()));
    }
    body.insert("timestamp".into(), Value::from(timestamp));
    for (key, value) in [
        ("channel", &event.channel),
        ("device_id", &event.device_id),
        ("device_token", &event.device_token),
        ("notifier_name", &event.notifier_name),
        ("e_message", &event.e_message),
        ("from", &event.from),
        ("group_id", &event.group_id),
        ("detail", &event.detail),
        ("task_id", &event.task_id),
    ] {
        if !value.is_empty() {
            body.insert(key.into(), Value::String(value.clone()));
        }
    }
    if !event.data.is_empty() {
        // The vendor's answer parsed when it is JSON, as text otherwise.
        let data = serde_json::from_str(&event.data).unwrap_or(Value::String(event.data.clone()));
        body.insert("data".into(), data);
    }
    if !event.payload.is_empty() {
        let payload: Value = serde_json::from_str(&event.payload).expect("payload is JSON");
        assert!(payload.is_object(), "payload is an object: {payload}");
        body.insert("payload".into(), payload);
    }
    Value::Object(body)
}

/// Checks one posted callback against the recorded event at its position: headers, both signatures and the
/// body, field for field (key set included).
fn assert_posts(request: &Received, rule_name: &str, event: &DeliveryEvent) {
    assert_eq!(request.method, Method::POST, "{}", request.summary());
    assert_eq!(request.path, PATH, "{}", request.summary());
    let content_type = request.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "Content-Type {content_type:?}"
    );
    assert_eq!(request.rule(), rule_name, "X-Pushgate-Rule");
    assert_eq!(request.position(), event.position, "X-Pushgate-Position");
    request.verify(SECRET);
    assert_eq!(
        request.json(),
        expected_body(event, SECRET),
        "the body of the callback at position {}",
        event.position
    );
}

/// The recorded events by position.
fn by_position(events: &[DeliveryEvent]) -> HashMap<u64, &DeliveryEvent> {
    events.iter().map(|e| (e.position, e)).collect()
}

fn positions(events: &[DeliveryEvent]) -> Vec<u64> {
    events.iter().map(|e| e.position).collect()
}

// ---- a. success ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_success_is_posted_with_the_seed_fields_and_both_signatures() {
    let mut env = Env::start().await;
    let receiver = Receiver::start().await;
    put_rule(&env, rule("hooks", &receiver.url)).await;
    let token = env.bind_new("ann", "ann-phone", APNS).await;
    let sent = env
        .send_sync("ann", Strategy::Unspecified, hello())
        .await
        .unwrap();
    assert_eq!(status(of(&sent, "ann-phone")), DeliveryStatus::Success);

    let requests = receiver.wait_for(1, WAIT).await;
    let request = &requests[0];
    let body = request.json();
    assert_eq!(
        keys(&body),
        expected_keys(&[
            "channel",
            "data",
            "device_id",
            "device_token",
            "notifier_name",
            "payload"
        ]),
        "a success carries the device's fields, no detail and no e_message: {body}"
    );
    let call_id = format!("{}_{}", env.app.name, sent.message_id);
    assert_eq!(body["callId"], call_id.as_str());
    assert_eq!(body["appkey"], env.app.name.as_str());
    assert_eq!(body["chat_type"], "chat");
    assert_eq!(body["msg_id"], sent.message_id.as_str());
    assert_eq!(body["status"], "success");
    assert_eq!(body["step"], "push");
    assert_eq!(body["target"], "ann");
    assert_eq!(body["channel"], "APNS");
    assert_eq!(body["device_id"], "ann-phone");
    assert_eq!(body["device_token"], token.as_str());
    assert_eq!(body["notifier_name"], APNS);
    assert!(
        body["data"].is_object(),
        "data is the vendor's answer as an object: {body}"
    );
    let payload = &body["payload"];
    assert_eq!(
        keys(payload),
        ["content", "ext", "sub_title", "title"]
            .map(String::from)
            .into(),
        "payload: {payload}"
    );
    assert_eq!(
        (&payload["title"], &payload["content"]),
        (&"Hello".into(), &"World".into())
    );
    // A JSON number of milliseconds around now (the same machine's clock).
    let timestamp = body["timestamp"]
        .as_u64()
        .unwrap_or_else(|| panic!("timestamp is a whole JSON number: {body}"));
    assert!(
        timestamp <= request.wall_ms + SLACK_MS
            && request.wall_ms.saturating_sub(timestamp) < 60_000,
        "timestamp {timestamp} ms, posted at {} ms",
        request.wall_ms
    );
    assert!(request.header("x-pushgate-rule").is_some());
    assert!(request.header("x-pushgate-position").is_some());

    let events = recorded_events(&env, 1).await;
    assert_posts(request, "hooks", &events[0]);
}

// ---- b. Easemob's failure examples ----

/// Sends `hello()` to `user` and returns the answer, its one callback and the recorded event.
async fn send_and_receive(
    env: &mut Env,
    receiver: &Receiver,
    user: &str,
) -> (SendSyncResponse, Received, DeliveryEvent) {
    let sent = env
        .send_sync(user, Strategy::Unspecified, hello())
        .await
        .unwrap();
    assert_eq!(sent.results.len(), 1, "{sent:?}");
    let request = receiver.wait_for(1, WAIT).await.remove(0);
    let event = recorded_events(env, 1).await.remove(0);
    (sent, request, event)
}

/// Checks that `request` is the `fail` callback of `sent` to `user` with `detail`: the always-present keys
/// plus `detail`, `payload` and `extra`, and exactly the recorded event's fields.
fn assert_failure(
    env: &Env,
    sent: &SendSyncResponse,
    request: &Received,
    event: &DeliveryEvent,
    (user, detail): (&str, &str),
    extra: &[&str],
) -> Value {
    let body = request.json();
    assert_eq!(body["status"], "fail", "{body}");
    assert_eq!(body["detail"], detail, "{body}");
    assert_eq!(body["target"], user, "{body}");
    assert_eq!(body["msg_id"], sent.message_id.as_str(), "{body}");
    assert_eq!(
        body["callId"],
        format!("{}_{}", env.app.name, sent.message_id).as_str()
    );
    assert_eq!(body["step"], "push");
    assert_eq!(body["chat_type"], "chat");
    let mut wanted = vec!["detail", "payload"];
    wanted.extend(extra);
    assert_eq!(keys(&body), expected_keys(&wanted), "{detail}: {body}");
    assert_posts(request, "hooks", event);
    body
}

/// A server with a receiver and one rule posting everything to it.
async fn env_with_rule(settings: &[(&str, &str)]) -> (Env, Receiver) {
    let env = Env::start_with(settings).await;
    let receiver = Receiver::start().await;
    put_rule(&env, rule("hooks", &receiver.url)).await;
    (env, receiver)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_push_binding_is_posted_as_the_seed_example() {
    let (mut env, receiver) = env_with_rule(&[]).await;
    // Known (bound once, then unbound, and in a label) but with nothing to push to, as in vendors.rs.
    env.known_without_devices("bob", "bob-phone").await;
    // No device was reached: no channel, device or vendor fields.
    let (sent, request, event) = send_and_receive(&mut env, &receiver, "bob").await;
    assert_failure(
        &env,
        &sent,
        &request,
        &event,
        ("bob", "no push binding"),
        &[],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_user_exist_is_posted_as_the_seed_example() {
    let (mut env, receiver) = env_with_rule(&[]).await;
    let (sent, request, event) = send_and_receive(&mut env, &receiver, "ghost").await;
    // No device was reached: no channel, device or vendor fields.
    assert_failure(
        &env,
        &sent,
        &request,
        &event,
        ("ghost", "no user exist"),
        &[],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_notifier_exist_is_posted_as_the_seed_example() {
    let (mut env, receiver) = env_with_rule(&[]).await;
    let token = env.bind_new("dave", "dave-phone", OPPO).await;
    env.notifiers
        .delete_notifier(authed(
            pushgate::proto::v1::DeleteNotifierRequest { name: OPPO.into() },
            &env.app.token,
        ))
        .await
        .unwrap();
    // The binding names the device and the (deleted) notifier; no vendor was called, so no data.
    let (sent, request, event) = send_and_receive(&mut env, &receiver, "dave").await;
    let body = assert_failure(
        &env,
        &sent,
        &request,
        &event,
        ("dave", "no notifier exist"),
        &["channel", "device_id", "device_token", "notifier_name"],
    );
    assert_eq!(body["notifier_name"], OPPO);
    assert_eq!(body["device_id"], "dave-phone");
    assert_eq!(body["device_token"], token.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_push_token_fail_is_posted_as_the_seed_example() {
    let (mut env, receiver) = env_with_rule(&[]).await;
    // As in Easemob's documentation: vivo refuses the auth request's signature (a wrong app secret).
    let mut wrong = env.ready_made(VIVO);
    wrong.name = "vivo-wrong".into();
    if let Some(pushgate::proto::v1::notifier::Credentials::Vivo(c)) = wrong.credentials.as_mut() {
        c.app_secret = "not-the-secret".into();
    }
    env.create_notifier(wrong).await;
    let token = env.bind_new("fay", "fay-phone", "vivo-wrong").await;
    let (sent, request, event) = send_and_receive(&mut env, &receiver, "fay").await;
    // The device's fields, and `data`: vivo's answer to the auth call, recorded with the outcome.
    let body = assert_failure(
        &env,
        &sent,
        &request,
        &event,
        ("fay", "get push token fail"),
        &[
            "channel",
            "data",
            "device_id",
            "device_token",
            "notifier_name",
        ],
    );
    // As in Easemob's example, `data` is vivo's answer itself, an object with its `result` (10206: the sign
    // made with the wrong secret does not verify).
    assert!(body["data"].is_object(), "{body}");
    assert_eq!(body["data"]["result"], 10206, "{body}");
    assert!(body["data"]["desc"].is_string(), "{body}");
    assert_eq!(body["channel"], "VIVO");
    assert_eq!(body["notifier_name"], "vivo-wrong");
    assert_eq!(body["device_id"], "fay-phone");
    assert_eq!(body["device_token"], token.as_str());
}

// ---- c. crash safety ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_between_outcome_and_delivery_loses_no_callback() {
    let (mut env, receiver) = env_with_rule(&[
        ("PUSHGATE_CALLBACKS_FIRST_BACKOFF", "100ms"),
        ("PUSHGATE_CALLBACKS_MAX_BACKOFF", "300ms"),
    ])
    .await;
    receiver.set_status(503);
    env.bind_new("kim", "kim-apns", APNS).await;
    env.bind_new("kim", "kim-fcm", FCM).await;
    let mut sent = Vec::new();
    for _ in 0..3 {
        let r = env
            .send_sync("kim", Strategy::Unspecified, hello())
            .await
            .unwrap();
        assert_eq!(r.results.len(), 2, "{r:?}");
        sent.push(r.message_id);
    }
    // One outcome without a device as well.
    sent.push(
        env.send_sync("nobody-kim", Strategy::Unspecified, hello())
            .await
            .unwrap()
            .message_id,
    );
    // The outbox is mid-retry (nothing acknowledged) when the server dies.
    receiver.wait_for(1, WAIT).await;
    env.server = env.server.kill_and_restart().await;
    receiver.set_status(200);

    // SendSync answered for all 4 pushes, so their 7 outcomes are durable.
    let events = recorded_events(&env, 7).await;
    let mut msg_ids: Vec<String> = events.iter().map(|e| e.msg_id.clone()).collect();
    msg_ids.dedup();
    assert_eq!(msg_ids, sent, "the recorded outcomes, in send order");
    let requests = receiver
        .wait_delivered("hooks", &positions(&events), WAIT)
        .await;
    let events = by_position(&events);
    for request in requests.iter().filter(|r| r.delivered()) {
        let event = events
            .get(&request.position())
            .unwrap_or_else(|| panic!("a callback for no outcome: {}", request.summary()));
        assert_posts(request, "hooks", event);
    }
}

// ---- d. an endpoint that is down for a while ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_down_for_a_while_gets_everything_later_in_order_per_device() {
    let (mut env, receiver) = env_with_rule(&[
        ("PUSHGATE_CALLBACKS_FIRST_BACKOFF", "100ms"),
        ("PUSHGATE_CALLBACKS_MAX_BACKOFF", "500ms"),
    ])
    .await;
    receiver.set_status(503);
    let down_since = Instant::now();
    let devices = ["dan-apns", "dan-fcm", "eve-huawei"];
    env.bind_new("dan", devices[0], APNS).await;
    env.bind_new("dan", devices[1], FCM).await;
    env.bind_new("eve", devices[2], HUAWEI).await;
    for _ in 0..4 {
        for user in ["dan", "eve"] {
            let r = env
                .send_sync(user, Strategy::Unspecified, hello())
                .await
                .unwrap();
            assert!(
                r.results
                    .iter()
                    .all(|r| status(r) == DeliveryStatus::Success)
            );
        }
    }
    receiver.wait_for(1, WAIT).await;
    // The scenario itself: the endpoint stays down about 2 s, several retries of each device at these
    // backoffs, before it comes back.
    tokio::time::sleep(
        (down_since + Duration::from_secs(2)).saturating_duration_since(Instant::now()),
    )
    .await;
    receiver.set_status(200);

    let events = recorded_events(&env, 12).await;
    let requests = receiver
        .wait_delivered("hooks", &positions(&events), WAIT)
        .await;
    assert!(
        requests.iter().any(|r| !r.delivered()),
        "the endpoint was down while pushgate tried"
    );
    let events_by_position = by_position(&events);
    for request in requests.iter().filter(|r| r.delivered()) {
        assert_posts(request, "hooks", events_by_position[&request.position()]);
    }
    for device in devices {
        let expected: Vec<u64> = events
            .iter()
            .filter(|e| e.device_id == device)
            .map(|e| e.position)
            .collect();
        assert_eq!(expected.len(), 4, "{device}: 4 outcomes");
        let of_device: Vec<&Received> = requests
            .iter()
            .filter(|r| r.json()["device_id"] == device)
            .collect();
        // Every outcome arrived, in position order (repeats of a position removed).
        let delivered = dedup_positions(of_device.iter().copied().filter(|r| r.delivered()));
        assert_eq!(delivered, expected, "{device}: delivered positions");
        // A later callback waits while an earlier one is retried: no request for a position is made before
        // every earlier position of the device was answered 2xx.
        let mut acknowledged = BTreeSet::new();
        for request in &of_device {
            let p = request.position();
            let pending: Vec<u64> = expected
                .iter()
                .copied()
                .filter(|e| *e < p && !acknowledged.contains(e))
                .collect();
            assert!(
                pending.is_empty(),
                "{device}: position {p} was posted while {pending:?} were not delivered yet"
            );
            if request.delivered() {
                acknowledged.insert(p);
            }
        }
    }
}

// ---- e. the pause rule ----

/// Waits until the rule `name` shows a `paused_until` later than `after_ms`; returns it and when it was seen
/// (both ms since the epoch).
async fn wait_paused(env: &Env, name: &str, after_ms: u64) -> (u64, u64) {
    let deadline = Instant::now() + WAIT;
    loop {
        let rules = list_rules(env).await;
        let rule = rules
            .iter()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("no rule {name}"));
        if let Some(until) = rule.paused_until.map(|t| timestamp_ms(&Some(t)))
            && until > after_ms
        {
            return (until, now_ms());
        }
        assert!(
            Instant::now() < deadline,
            "rule {name} not paused (past {after_ms} ms) within {WAIT:?}: {rule:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sleeps until the wall clock reads `ms` (ms since the epoch).
async fn sleep_until_wall(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms.saturating_sub(now_ms()))).await;
}

/// Requests that arrived within `[from_ms, to_ms]` (wall clock).
fn arrived_between(requests: &[Received], from_ms: u64, to_ms: u64) -> Vec<String> {
    requests
        .iter()
        .filter(|r| (from_ms..=to_ms).contains(&r.wall_ms))
        .map(|r| format!("at {} ms: {}", r.wall_ms, r.summary()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_endpoint_pauses_its_rule_and_nothing_is_dropped() {
    let (mut env, receiver) = env_with_rule(&[
        ("PUSHGATE_CALLBACKS_PAUSE_AFTER_FAILURES", "5"),
        ("PUSHGATE_CALLBACKS_PAUSE_WINDOW", "10s"),
        ("PUSHGATE_CALLBACKS_PAUSE_FIRST", "2s"),
        ("PUSHGATE_CALLBACKS_PAUSE_STEP", "1s"),
        ("PUSHGATE_CALLBACKS_FIRST_BACKOFF", "50ms"),
        ("PUSHGATE_CALLBACKS_MAX_BACKOFF", "100ms"),
    ])
    .await;
    receiver.set_status(500);
    env.bind_new("pat", "pat-apns", APNS).await;
    env.bind_new("pat", "pat-fcm", FCM).await;
    env.bind_new("pat", "pat-oppo", OPPO).await;
    env.send_sync("pat", Strategy::Unspecified, hello())
        .await
        .unwrap();
    let events = recorded_events(&env, 3).await;

    // Five failed attempts pause the rule for pause_first = 2 s from the fifth failure on.
    let fifth = receiver.wait_for(5, WAIT).await[4].wall_ms;
    let (until, seen) = wait_paused(&env, "hooks", 0).await;
    assert!(
        until + SLACK_MS >= fifth + 2000 && until <= seen + 2000 + SLACK_MS,
        "paused until {until} ms: 2 s after the fifth failure ({fifth} ms), seen at {seen} ms"
    );
    // No request well inside the pause.
    sleep_until_wall(until - SLACK_MS).await;
    let during = arrived_between(
        &receiver.requests(),
        until - 2000 + SLACK_MS,
        until - SLACK_MS,
    );
    assert!(during.is_empty(), "requests during the pause: {during:#?}");

    // After it, requests resume; still failing, the rule pauses again, one pause_step longer (3 s).
    receiver
        .wait_until("a request after the pause", WAIT, |r| {
            r.iter().any(|r| r.wall_ms + SLACK_MS >= until)
        })
        .await;
    let (until2, seen2) = wait_paused(&env, "hooks", until).await;
    assert!(
        until2 + SLACK_MS >= until + 3000 && until2 <= seen2 + 3000 + SLACK_MS,
        "second pause until {until2} ms: 3 s, after the first ended ({until} ms), seen at {seen2} ms"
    );
    // The endpoint recovers during the second pause: every callback waited and arrives after it.
    receiver.set_status(200);
    let requests = receiver
        .wait_delivered("hooks", &positions(&events), WAIT)
        .await;
    let during = arrived_between(&requests, until2 - 3000 + SLACK_MS, until2 - SLACK_MS);
    assert!(
        during.is_empty(),
        "requests during the second pause: {during:#?}"
    );
    let events_by_position = by_position(&events);
    for request in requests.iter().filter(|r| r.delivered()) {
        assert!(
            request.wall_ms + SLACK_MS >= until2,
            "{}",
            request.summary()
        );
        assert_posts(request, "hooks", events_by_position[&request.position()]);
    }
    let rule = list_rules(&env).await.remove(0);
    assert_eq!(
        rule.paused_until, None,
        "paused_until is set only while the rule is paused"
    );
}

// ---- f. dead letters and redelivery ----

/// The recorded event without the webhook-only `security` field.
fn without_security(event: &DeliveryEvent) -> DeliveryEvent {
    DeliveryEvent {
        security: String::new(),
        ..event.clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_up_callbacks_are_listed_and_redelivered() {
    let (mut env, receiver) = env_with_rule(&[
        ("PUSHGATE_CALLBACKS_RETRY_FOR", "1s"),
        ("PUSHGATE_CALLBACKS_FIRST_BACKOFF", "100ms"),
    ])
    .await;
    receiver.set_status(500);
    env.bind_new("dl", "dl-phone", FCM).await;
    // Three independent outcomes (one device, two users without any), so each is retried on its own.
    for user in ["dl", "gone-b", "gone-c"] {
        env.send_sync(user, Strategy::Unspecified, hello())
            .await
            .unwrap();
    }
    let events = recorded_events(&env, 3).await;
    let expected_ids: Vec<String> = events
        .iter()
        .map(|e| format!("hooks/{}", e.position))
        .collect();

    let failed = wait_failed(&env, "hooks", "all 3 given up", |f| f.len() == 3).await;
    assert_eq!(failed_ids(&failed), expected_ids, "oldest event first");
    let requests = receiver.requests();
    for (f, event) in failed.iter().zip(&events) {
        assert_eq!(f.rule_name, "hooks");
        assert_eq!(
            without_security(f.event.as_ref().expect("the event")),
            without_security(event),
            "{}: the event it carried",
            f.id
        );
        let posted = requests
            .iter()
            .filter(|r| r.position() == event.position)
            .count();
        assert!(f.attempts >= 2, "{}: retried before giving up: {f:?}", f.id);
        assert_eq!(f.attempts as usize, posted, "{}: attempts made", f.id);
        assert_eq!(f.last_http_status, 500, "{}", f.id);
        assert!(
            f.last_error.contains("test receiver"),
            "{}: last_error starts with the answer's body: {:?}",
            f.id,
            f.last_error
        );
        let first = timestamp_ms(&f.first_attempt_time);
        let last = timestamp_ms(&f.last_attempt_time);
        assert!(
            timestamp_ms(&event.timestamp) <= first && first <= last,
            "{}: outcome, first and last attempt in order: {f:?}",
            f.id
        );
    }
    assert_eq!(
        failed_ids(&failed_now(&env, "").await),
        expected_ids,
        "no rule_name: every rule"
    );

    // Page by page, one at a time, to the end.
    let mut paged = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = list_failed(&env, "hooks", 1, &token).await.unwrap();
        pages += 1;
        assert_eq!(page.failed_callbacks.len(), 1, "page {pages}");
        paged.extend(failed_ids(&page.failed_callbacks));
        if page.next_page_token.is_empty() {
            break;
        }
        assert!(pages < 3, "a token after the last entry: {page:?}");
        token = page.next_page_token;
    }
    assert_eq!(paged, expected_ids);

    // Redelivered while the endpoint still fails: it leaves the list, gets a fresh budget, and comes back.
    let first_id = expected_ids[0].as_str();
    let r = redeliver(&env, ids(&[first_id])).await.unwrap();
    assert_eq!((r.queued_count, r.unknown_ids.len()), (1, 0), "{r:?}");
    assert_eq!(
        failed_ids(&failed_now(&env, "hooks").await),
        expected_ids[1..],
        "a redelivered callback leaves the failed list"
    );
    let before = timestamp_ms(&failed[0].last_attempt_time);
    let back = wait_failed(&env, "hooks", "the redelivered one back", |f| {
        f.iter()
            .any(|f| f.id == first_id && timestamp_ms(&f.last_attempt_time) > before)
    })
    .await;
    assert_eq!(failed_ids(&back), expected_ids, "oldest event first again");

    // The endpoint recovers. Redelivery by ids; unknown ids are named.
    receiver.set_status(200);
    let r = redeliver(&env, ids(&[first_id, "hooks/999999", "other/1"]))
        .await
        .unwrap();
    assert_eq!(r.queued_count, 1, "{r:?}");
    assert_eq!(r.unknown_ids, ["hooks/999999", "other/1"]);
    let again = redeliver(&env, ids(&[first_id])).await.unwrap();
    assert_eq!(
        (again.queued_count, again.unknown_ids.as_slice()),
        (0, [first_id.to_string()].as_slice()),
        "an already redelivered id is unknown"
    );
    assert_eq!(
        failed_ids(&failed_now(&env, "hooks").await),
        expected_ids[1..]
    );
    receiver
        .wait_delivered("hooks", &[events[0].position], WAIT)
        .await;

    // Redelivery of a whole rule.
    let r = redeliver(&env, Some(Selection::RuleName("hooks".into())))
        .await
        .unwrap();
    assert_eq!((r.queued_count, r.unknown_ids.len()), (2, 0), "{r:?}");
    let page = list_failed(&env, "", 0, "").await.unwrap();
    assert!(
        page.failed_callbacks.is_empty() && page.next_page_token.is_empty(),
        "{page:?}"
    );
    let requests = receiver
        .wait_delivered("hooks", &positions(&events), WAIT)
        .await;
    let events_by_position = by_position(&events);
    for request in requests.iter().filter(|r| r.delivered()) {
        assert_posts(request, "hooks", events_by_position[&request.position()]);
    }
    assert!(
        failed_now(&env, "").await.is_empty(),
        "delivered, not failed"
    );

    // Deleting the rule removes its failed callbacks.
    receiver.set_status(500);
    env.send_sync("gone-d", Strategy::Unspecified, hello())
        .await
        .unwrap();
    wait_failed(&env, "hooks", "the new one given up", |f| f.len() == 1).await;
    apps(&env)
        .await
        .delete_callback_rule(authed(
            DeleteCallbackRuleRequest {
                app: env.app.name.clone(),
                name: "hooks".into(),
            },
            &env.server.admin_token,
        ))
        .await
        .unwrap();
    assert!(failed_now(&env, "").await.is_empty());
    let e = list_failed(&env, "hooks", 0, "").await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "{e:?}");
    let e = redeliver(&env, Some(Selection::RuleName("hooks".into())))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "{e:?}");
}

// ---- g. filters and bad input ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_post_only_their_statuses_and_only_while_enabled() {
    let mut env = Env::start().await;
    let receiver = Receiver::start().await;
    env.bind_new("fil", "fil-phone", FCM).await;
    let ignored = with_options(PushOptions {
        ignore_notification: true,
        ..Default::default()
    });
    // Recorded before any rule exists: no rule posts it.
    env.send_sync("fil", Strategy::Unspecified, hello())
        .await
        .unwrap();
    put_rule(&env, rule("all", &receiver.url)).await;
    put_rule(
        &env,
        CallbackRule {
            statuses: vec![DeliveryStatus::Fail as i32],
            ..rule("fails", &receiver.url)
        },
    )
    .await;
    put_rule(
        &env,
        CallbackRule {
            enabled: false,
            ..rule("off", &receiver.url)
        },
    )
    .await;
    // A success, then a fail, of the same device.
    env.send_sync("fil", Strategy::Unspecified, hello())
        .await
        .unwrap();
    env.send_sync("fil", Strategy::Unspecified, ignored.clone())
        .await
        .unwrap();
    // Enabled again (an empty secret keeps the stored one): only what is recorded from now on is posted.
    put_rule(
        &env,
        CallbackRule {
            secret: String::new(),
            ..rule("off", &receiver.url)
        },
    )
    .await;
    env.send_sync("fil", Strategy::Unspecified, ignored)
        .await
        .unwrap();

    let events = recorded_events(&env, 4).await;
    let p: Vec<u64> = positions(&events);
    let statuses: Vec<&str> = events.iter().map(|e| status_text(e.status)).collect();
    assert_eq!(statuses, ["success", "success", "fail", "fail"]);
    assert!(events.iter().all(|e| e.device_id == "fil-phone"));
    receiver.wait_delivered("all", &p[1..], WAIT).await;
    receiver.wait_delivered("fails", &p[2..], WAIT).await;
    let requests = receiver.wait_delivered("off", &p[3..], WAIT).await;
    // One device's callbacks arrive in position order, so once each rule's last one is in, anything it
    // would (wrongly) post of the earlier outcomes would have come before it.
    let events_by_position = by_position(&events);
    for (name, expected) in [("all", &p[1..]), ("fails", &p[2..]), ("off", &p[3..])] {
        let of_rule: Vec<&Received> = requests.iter().filter(|r| r.rule() == name).collect();
        assert_eq!(dedup_positions(of_rule.iter().copied()), expected, "{name}");
        for request in of_rule {
            assert_posts(request, name, events_by_position[&request.position()]);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_callback_calls_refuse_bad_input() {
    let env = Env::start().await;
    put_rule(&env, rule("hooks", "http://127.0.0.1:9/cb")).await;
    for page_size in [101, -1] {
        let e = list_failed(&env, "", page_size, "").await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "page_size {page_size}");
        assert_eq!(violated_fields(&e), ["page_size"], "page_size {page_size}");
    }
    for page_size in [0, 1, 100] {
        let page = list_failed(&env, "hooks", page_size, "").await.unwrap();
        assert!(page.failed_callbacks.is_empty() && page.next_page_token.is_empty());
    }
    let e = list_failed(&env, "no-such-rule", 0, "").await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "{e:?}");

    let e = redeliver(&env, None).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "no selection: {e:?}");
    let e = redeliver(&env, ids(&[])).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "no ids: {e:?}");
    let many: Vec<String> = (0..101).map(|i| format!("hooks/{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let e = redeliver(&env, ids(&many)).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "101 ids: {e:?}");
    let r = redeliver(&env, ids(&many[..100])).await.unwrap();
    assert_eq!(r.queued_count, 0);
    assert_eq!(r.unknown_ids, many[..100], "100 ids naming nothing");
    let e = redeliver(&env, Some(Selection::RuleName("no-such-rule".into())))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "{e:?}");
    let r = redeliver(&env, Some(Selection::RuleName("hooks".into())))
        .await
        .unwrap();
    assert_eq!((r.queued_count, r.unknown_ids.len()), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_secrets_are_sealed_at_rest_and_still_sign_after_a_restart() {
    let (mut env, receiver) = env_with_rule(&[]).await;
    let secret = "s3cret-that-must-not-be-on-disk-7f3a";
    put_rule(
        &env,
        CallbackRule {
            secret: secret.into(),
            ..rule("hooks", &receiver.url)
        },
    )
    .await;
    env.server = env.server.restart().await;
    env.push = PushServiceClient::new(env.server.channel().await);
    let listed = list_rules(&env).await;
    assert!(listed[0].has_secret && listed[0].secret.is_empty());

    // The restarted server opens the sealed secret: Easemob's md5 and the HMAC use it.
    env.send_sync("no-such-user", Strategy::VendorOnly, hello())
        .await
        .unwrap();
    let got = receiver.wait_for(1, Duration::from_secs(20)).await;
    got[0].verify(secret);

    // Stopped: nothing the server stores (files, database values) holds the secret in clear.
    let status = env.server.terminate();
    assert!(status.success());
    for (place, bytes) in env.server.stored_bytes() {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{place} holds the callback secret in clear"
        );
    }
}
