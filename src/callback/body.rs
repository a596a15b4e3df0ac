//! The webhook request of one delivery event: Easemob's JSON body, its `security` field, and the
//! `X-Pushgate-Signature` header.

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use serde_json::{Map, Value};
use sha2::Sha256;

use crate::proto::v1::{ChatType, DeliveryEvent, DeliveryStatus};

/// The header carrying the HMAC signature.
pub const SIGNATURE_HEADER: &str = "x-pushgate-signature";
/// The header naming the rule.
pub const RULE_HEADER: &str = "x-pushgate-rule";
/// The header carrying the event's position (receivers deduplicate on rule + position).
pub const POSITION_HEADER: &str = "x-pushgate-position";

/// The event's time in ms, the body's `timestamp`.
pub fn timestamp_ms(event: &DeliveryEvent) -> i64 {
    event
        .timestamp
        .map_or(0, |t| t.seconds * 1000 + i64::from(t.nanos) / 1_000_000)
}

/// Easemob's `security`: lowercase hex md5 of callId + secret + timestamp (decimal ms).
pub fn security(call_id: &str, secret: &str, timestamp_ms: i64) -> String {
    let mut md5 = Md5::new();
    md5.update(call_id.as_bytes());
    md5.update(secret.as_bytes());
    md5.update(timestamp_ms.to_string().as_bytes());
    hex::encode(md5.finalize())
}

/// The `X-Pushgate-Signature` value of `body` sent at `sent_ms`: `t=<ms>,v1=<hex HMAC-SHA256(secret,
/// "<ms>." + body)>`. The time is inside the MAC so a receiver can refuse replays of old requests.
pub fn signature(secret: &str, sent_ms: i64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(sent_ms.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={sent_ms},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// Easemob's status string.
fn status_text(status: i32) -> &'static str {
    match DeliveryStatus::try_from(status) {
        Ok(DeliveryStatus::Success) => "success",
        Ok(DeliveryStatus::Error) => "error",
        _ => "fail",
    }
}

/// A JSON text as the object it is, or as a string when it is not JSON (Easemob's `data` is an object).
fn as_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// The JSON body of `event` for a rule with `secret`. Easemob's always-present fields are always there; the
/// others only when they have a value, as in Easemob's examples.
pub fn body(event: &DeliveryEvent, secret: &str) -> Vec<u8> {
    let timestamp = timestamp_ms(event);
    let mut out = Map::new();
    let mut put = |key: &str, value: Value| {
        out.insert(key.to_owned(), value);
    };
    put("callId", event.call_id.clone().into());
    put("appkey", event.appkey.clone().into());
    let chat_type = if event.chat_type == ChatType::Group as i32 {
        "groupchat"
    } else {
        "chat"
    };
    put("chat_type", chat_type.into());
    put("msg_id", event.msg_id.clone().into());
    put("status", status_text(event.status).into());
    put("step", event.step.clone().into());
    put("target", event.target.clone().into());
    put("timestamp", timestamp.into());
    put(
        "security",
        security(&event.call_id, secret, timestamp).into(),
    );
    let optional = [
        ("channel", &event.channel),
        ("device_id", &event.device_id),
        ("device_token", &event.device_token),
        ("notifier_name", &event.notifier_name),
        ("e_message", &event.e_message),
        ("from", &event.from),
        ("group_id", &event.group_id),
        ("detail", &event.detail),
        ("task_id", &event.task_id),
    ];
    for (key, value) in optional {
        if !value.is_empty() {
            put(key, value.clone().into());
        }
    }
    if !event.data.is_empty() {
        put("data", as_json(&event.data));
    }
    if !event.payload.is_empty() {
        put("payload", as_json(&event.payload));
    }
    serde_json::to_vec(&Value::Object(out)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::timestamp;

    fn failed() -> DeliveryEvent {
        DeliveryEvent {
            call_id: "o#a_m1".into(),
            appkey: "o#a".into(),
            msg_id: "m1".into(),
            status: DeliveryStatus::Fail as i32,
            step: "push".into(),
            target: "test1".into(),
            timestamp: Some(timestamp(1_657_187_799_974)),
            detail: "no push binding".into(),
            payload: r#"{"title":"t"}"#.into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_failure_carries_only_the_fields_it_has() {
        let body: Value = serde_json::from_slice(&body(&failed(), "s3cret")).unwrap();
        let mut keys: Vec<&str> = body
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "appkey",
                "callId",
                "chat_type",
                "detail",
                "msg_id",
                "payload",
                "security",
                "status",
                "step",
                "target",
                "timestamp"
            ]
        );
        assert_eq!(body["timestamp"], 1_657_187_799_974_i64);
        assert_eq!(body["status"], "fail");
        assert_eq!(body["chat_type"], "chat");
        assert_eq!(body["payload"]["title"], "t");
        let expected = format!("{:x}", Md5::digest(b"o#a_m1s3cret1657187799974"));
        assert_eq!(body["security"], expected);
    }

    #[test]
    fn data_is_an_object_when_the_vendor_answered_json() {
        let mut e = failed();
        e.data = r#"{"result":10206,"desc":"sign"}"#.into();
        e.chat_type = ChatType::Group as i32;
        e.group_id = "g1".into();
        let body: Value = serde_json::from_slice(&body(&e, "s")).unwrap();
        assert_eq!(body["data"]["result"], 10206);
        assert_eq!(body["chat_type"], "groupchat");
        assert_eq!(body["group_id"], "g1");
        e.data = "HTTP/2 410".into();
        let body: Value = serde_json::from_slice(&super::body(&e, "s")).unwrap();
        assert_eq!(body["data"], "HTTP/2 410");
    }

    #[test]
    fn the_signature_covers_time_and_body() {
        let a = signature("k", 1000, b"{}");
        assert!(a.starts_with("t=1000,v1="));
        assert_ne!(a, signature("k", 1001, b"{}"));
        assert_ne!(a, signature("k", 1000, b"{ }"));
        assert_ne!(a, signature("j", 1000, b"{}"));
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(b"k").unwrap();
        mac.update(b"1000.{}");
        assert_eq!(
            a,
            format!("t=1000,v1={}", hex::encode(mac.finalize().into_bytes()))
        );
    }
}
