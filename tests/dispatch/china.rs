//! The Huawei, Honor, Xiaomi, OPPO, vivo and Meizu dispatchers against their sandbox fakes over real TLS:
//! fields where each vendor expects them, a wrong secret, partial failures, the batch boundary, auth-token
//! expiry, quota and rate answers, and retried transient errors.

use std::collections::{BTreeMap, HashSet};

use pushgate::{
    dispatch::{Lane, Outcome, Rendered},
    proto::v1::{Notifier, PushMessage, notifier::Credentials},
    sandbox::{FaultAction, FaultRule, RecordedRequest, Sandbox, core::FakeCore},
};
use serde_json::Value;

use crate::common::dispatch::*;

#[derive(Debug, Clone, Copy, PartialEq)]
enum V {
    Huawei,
    Honor,
    Xiaomi,
    Oppo,
    Vivo,
    Meizu,
}

const ALL: [V; 6] = [V::Huawei, V::Honor, V::Xiaomi, V::Oppo, V::Vivo, V::Meizu];

impl V {
    fn notifier_name(self) -> &'static str {
        match self {
            V::Huawei => "sandbox-huawei",
            V::Honor => "sandbox-honor",
            V::Xiaomi => "sandbox-xiaomi",
            V::Oppo => "sandbox-oppo",
            V::Vivo => "sandbox-vivo",
            V::Meizu => "sandbox-meizu",
        }
    }

    fn core(self, s: &Sandbox) -> &FakeCore {
        match self {
            V::Huawei => s.huawei().core(),
            V::Honor => s.honor().core(),
            V::Xiaomi => s.xiaomi().core(),
            V::Oppo => s.oppo().core(),
            V::Vivo => s.vivo().core(),
            V::Meizu => s.meizu().core(),
        }
    }

    /// Tokens every fake accepts: letters and digits.
    fn token(self, n: usize) -> String {
        format!("{self:?}{n:08}").to_ascii_lowercase()
    }

    /// Whether one request carries many devices.
    fn batches(self) -> bool {
        self != V::Vivo
    }
}

fn ready(s: &Sandbox, v: V) -> Notifier {
    s.notifiers()
        .into_iter()
        .find(|n| n.name == v.notifier_name())
        .expect("ready-made notifier")
}

fn lane_of(s: &Sandbox, v: V) -> Lane {
    lane(ready(s, v), &config())
}

fn sends(s: &Sandbox, v: V) -> Vec<RecordedRequest> {
    v.core(s)
        .requests()
        .into_iter()
        .filter(|r| !r.token_request)
        .collect()
}

fn devices(v: V, range: std::ops::Range<usize>) -> Vec<pushgate::store::bindings::BindingRecord> {
    bindings(range.map(|n| v.token(n)))
}

fn chat_message() -> Rendered {
    Rendered::now(
        "m-1",
        PushMessage {
            title: "Hello".into(),
            content: "World".into(),
            ext: [("conversation".to_string(), "c42".to_string())].into(),
            ..Default::default()
        },
    )
}

fn form(body: &str) -> BTreeMap<String, String> {
    form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect()
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Title, content, custom data and the device tokens of one recorded send, read where the vendor keeps them.
fn fields(v: V, r: &RecordedRequest) -> (String, String, String, Vec<String>) {
    let text = |x: &Value| x.as_str().unwrap_or_default().to_owned();
    let list = |x: &Value| -> Vec<String> {
        x.as_array()
            .map(|a| a.iter().map(text).collect())
            .unwrap_or_default()
    };
    match v {
        V::Huawei => {
            let b = json(&r.body);
            let m = &b["message"];
            let n = &m["android"]["notification"];
            (
                text(&n["title"]),
                text(&n["body"]),
                text(&m["data"]),
                list(&m["token"]),
            )
        }
        V::Honor => {
            let b = json(&r.body);
            let n = &b["android"]["notification"];
            (
                text(&n["title"]),
                text(&n["body"]),
                text(&b["data"]),
                list(&b["token"]),
            )
        }
        V::Xiaomi => {
            let f = form(&r.body);
            (
                f["title"].clone(),
                f["description"].clone(),
                format!(
                    "conversation={}",
                    f.get("extra.conversation").cloned().unwrap_or_default()
                ),
                f["registration_id"].split(',').map(str::to_owned).collect(),
            )
        }
        V::Oppo => {
            let f = form(&r.body);
            let messages = match f.get("messages") {
                Some(m) => json(m),
                None => Value::Array(vec![json(&f["message"])]),
            };
            let first = &messages[0]["notification"];
            (
                text(&first["title"]),
                text(&first["content"]),
                text(&first["action_parameters"]),
                messages
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|m| text(&m["target_value"]))
                    .collect(),
            )
        }
        V::Vivo => {
            let b = json(&r.body);
            (
                text(&b["title"]),
                text(&b["content"]),
                b["clientCustomMap"].to_string(),
                vec![text(&b["regId"])],
            )
        }
        V::Meizu => {
            let f = form(&r.body);
            let m = json(&f["messageJson"]);
            (
                text(&m["noticeBarInfo"]["title"]),
                text(&m["noticeBarInfo"]["content"]),
                m["clickTypeInfo"]["parameters"].to_string(),
                f["pushIds"].split(',').map(str::to_owned).collect(),
            )
        }
    }
}

fn delivered(r: &pushgate::dispatch::Report) -> bool {
    matches!(&r.outcome, Outcome::Delivered { message_id } if !message_id.is_empty())
}

#[tokio::test]
async fn every_vendor_delivers_with_fields_where_it_expects_them() {
    let s = sandbox().await;
    for v in ALL {
        let reports = lane_of(&s, v)
            .dispatch(&devices(v, 0..2), &chat_message())
            .await;
        let sent = sends(&s, v);
        assert!(
            reports.iter().all(delivered),
            "{v:?}: {reports:?} {:?}",
            sent.first().map(|r| &r.body)
        );
        assert_eq!(sent.len(), if v.batches() { 1 } else { 2 }, "{v:?}");
        let mut tokens = Vec::new();
        for r in &sent {
            let (title, content, data, to) = fields(v, r);
            assert_eq!(
                (title.as_str(), content.as_str()),
                ("Hello", "World"),
                "{v:?}: {}",
                r.body
            );
            assert!(
                data.contains("conversation") && data.contains("c42"),
                "{v:?}: {}",
                r.body
            );
            tokens.extend(to);
        }
        assert_eq!(tokens, vec![v.token(0), v.token(1)], "{v:?}");
    }
}

#[tokio::test]
async fn a_wrong_secret_is_refused_by_the_vendor_and_reported_as_an_auth_failure() {
    let s = sandbox().await;
    for v in ALL {
        let mut notifier = ready(&s, v);
        match notifier.credentials.as_mut().unwrap() {
            Credentials::Huawei(c) => c.client_secret = "wrong".into(),
            Credentials::Honor(c) => c.client_secret = "wrong".into(),
            Credentials::Xiaomi(c) => c.app_secret = "wrong".into(),
            Credentials::Oppo(c) => c.master_secret = "wrong".into(),
            Credentials::Vivo(c) => c.app_secret = "wrong".into(),
            Credentials::Meizu(c) => c.app_secret = "wrong".into(),
            _ => unreachable!(),
        }
        let reports = lane(notifier, &config())
            .dispatch(&devices(v, 0..2), &chat_message())
            .await;
        assert!(
            reports
                .iter()
                .all(|r| matches!(r.outcome, Outcome::AuthFailed { .. })),
            "{v:?}: {reports:?}"
        );
        // Whether the token endpoint refused (Huawei, Honor, OPPO, vivo) or the send did (Xiaomi, Meizu), the
        // vendor's refusal is every device's vendor answer.
        for r in &reports {
            assert_ne!(r.answer.status, 0, "{v:?}: {r:?}");
            json(&r.answer.body);
        }
    }
}

#[tokio::test]
async fn a_partial_failure_reports_exactly_the_bad_tokens() {
    let s = sandbox().await;
    for v in ALL {
        let bad: HashSet<String> = [v.token(1), v.token(3)].into();
        for t in &bad {
            v.core(&s).invalidate_token(t);
        }
        let batch = devices(v, 0..5);
        let reports = lane_of(&s, v).dispatch(&batch, &chat_message()).await;
        for (b, r) in batch.iter().zip(&reports) {
            if bad.contains(&b.device_token) {
                assert!(
                    matches!(r.outcome, Outcome::InvalidToken { .. }),
                    "{v:?} {}: {r:?}",
                    b.device_token
                );
            } else {
                assert!(delivered(r), "{v:?} {}: {r:?}", b.device_token);
            }
            assert_eq!(r.attempts, 1, "{v:?}: nothing is retried");
        }
    }
}

#[tokio::test]
async fn an_empty_token_is_refused_without_asking_the_vendor() {
    let s = sandbox().await;
    for v in ALL {
        let mut batch = devices(v, 0..3);
        batch[1].device_token.clear();
        let reports = lane_of(&s, v).dispatch(&batch, &chat_message()).await;
        assert!(delivered(&reports[0]), "{v:?}: {:?}", reports[0]);
        assert!(
            matches!(reports[1].outcome, Outcome::InvalidToken { .. }),
            "{v:?}: {:?}",
            reports[1]
        );
        assert_eq!(reports[1].attempts, 0, "{v:?}: no request for it");
        assert!(delivered(&reports[2]), "{v:?}: {:?}", reports[2]);
        let sent: Vec<String> = sends(&s, v).iter().flat_map(|r| fields(v, r).3).collect();
        assert!(!sent.iter().any(String::is_empty), "{v:?}: {sent:?}");
        assert_eq!(sent.len(), 2, "{v:?}: {sent:?}");
        // A batch of only empty tokens makes no request at all.
        v.core(&s).clear_requests();
        let empty = bindings([String::new()]);
        let reports = lane_of(&s, v).dispatch(&empty, &chat_message()).await;
        assert!(matches!(reports[0].outcome, Outcome::InvalidToken { .. }));
        assert!(sends(&s, v).is_empty(), "{v:?}");
    }
}

#[tokio::test]
async fn a_thousand_and_one_devices_take_two_requests() {
    let s = sandbox().await;
    for v in ALL.into_iter().filter(|v| v.batches()) {
        let reports = lane_of(&s, v)
            .dispatch(&devices(v, 0..1001), &chat_message())
            .await;
        assert_eq!(
            reports.iter().filter(|r| delivered(r)).count(),
            1001,
            "{v:?}"
        );
        // The two requests run concurrently, so they may be recorded in either order.
        let mut sizes: Vec<usize> = sends(&s, v).iter().map(|r| fields(v, r).3.len()).collect();
        sizes.sort_unstable();
        assert_eq!(sizes, vec![1, 1000], "{v:?}");
    }
}

#[tokio::test]
async fn an_expired_auth_token_is_fetched_again_once() {
    let s = sandbox().await;
    for v in [V::Huawei, V::Honor, V::Oppo, V::Vivo] {
        let lane = lane_of(&s, v);
        let warm = lane.dispatch(&devices(v, 0..1), &chat_message()).await;
        assert!(delivered(&warm[0]), "{v:?}: {warm:?}");
        match v {
            V::Huawei => s.huawei().expire_access_tokens(),
            V::Honor => s.honor().expire_access_tokens(),
            V::Oppo => s.oppo().expire_auth_tokens(),
            _ => s.vivo().expire_auth_tokens(),
        }
        let reports = lane.dispatch(&devices(v, 1..51), &chat_message()).await;
        assert!(reports.iter().all(delivered), "{v:?}: {reports:?}");
        assert_eq!(
            v.core(&s).stats().token_requests,
            2,
            "{v:?}: one at start, one after expiry"
        );
    }
}

#[tokio::test]
async fn a_used_up_daily_quota_rests_the_notifier() {
    let s = sandbox().await;
    for v in [V::Xiaomi, V::Oppo, V::Vivo, V::Meizu] {
        match v {
            V::Xiaomi => s.xiaomi().set_daily_quota(2),
            V::Oppo => s.oppo().set_daily_quota(Some(2)),
            V::Vivo => s.vivo().set_daily_quota(Some(2)),
            _ => s.meizu().set_daily_quota(Some(2)),
        }
        let lane = lane_of(&s, v);
        let first = lane.dispatch(&devices(v, 0..2), &chat_message()).await;
        assert!(first.iter().all(delivered), "{v:?}: {first:?}");
        let over = lane.dispatch(&devices(v, 2..4), &chat_message()).await;
        assert!(
            over.iter().all(|r| matches!(
                r.outcome,
                Outcome::QuotaExceeded {
                    retry_after: Some(_),
                    ..
                }
            )),
            "{v:?}: {over:?}"
        );
        let before = v.core(&s).stats().send_requests;
        let rested = lane.dispatch(&devices(v, 4..6), &chat_message()).await;
        assert!(
            rested
                .iter()
                .all(|r| matches!(r.outcome, Outcome::QuotaExceeded { .. }))
        );
        assert_eq!(
            v.core(&s).stats().send_requests,
            before,
            "{v:?}: no request while resting"
        );
    }
}

/// A request-level fault answering `reason` with `status`, once.
fn once(status: u16, reason: &str) -> FaultRule {
    FaultRule {
        device_token: None,
        action: FaultAction::Error {
            status,
            reason: reason.into(),
            retry_after_secs: None,
        },
        times: Some(1),
    }
}

#[tokio::test]
async fn transient_and_rate_answers_are_retried() {
    let s = sandbox().await;
    let cases = [
        (V::Huawei, once(500, "81000001"), "retryable"),
        (V::Huawei, once(503, ""), "flow control"),
        (V::Honor, once(500, "81000001"), "retryable"),
        (V::Xiaomi, once(503, "unavailable"), "HTTP 503"),
        (V::Oppo, once(200, "-1"), "unavailable"),
        (V::Oppo, once(200, "13"), "rate"),
        (V::Vivo, once(503, "unavailable"), "HTTP 503"),
        (V::Vivo, once(200, "10072"), "too fast"),
        (V::Meizu, once(200, "1003"), "retryable"),
        (V::Meizu, once(200, "110010"), "too fast"),
    ];
    for (n, (v, fault, what)) in cases.into_iter().enumerate() {
        v.core(&s).add_fault(fault);
        let reports = lane_of(&s, v)
            .dispatch(&devices(v, n * 10..n * 10 + 1), &chat_message())
            .await;
        assert!(reports.iter().all(delivered), "{v:?} {what}: {reports:?}");
        assert!(
            reports.iter().all(|r| r.attempts == 2),
            "{v:?} {what}: {reports:?}"
        );
    }
}
