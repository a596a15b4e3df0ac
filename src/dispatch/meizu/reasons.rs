//! Meizu answers → outcomes: the top-level `code` of an answer, and the codes of its `value` map
//! (code → pushIds) for the devices a successful request could not reach.
//!
//! Confirmed from Meizu's official Java server SDK (MEIZUPUSH/JavaSdk): top-level codes in
//! `server/constant/ErrorCode.java`, per-device codes in `server/constant/PushResponseCode.java`, and the
//! `value` map read as `Map<String, List<String>>` in `IFlymePush.pushMessageNoRetry`. Note 110010 means
//! "requests too fast" at the top level but "pushId switched off" (the user disabled the app's pushes) inside
//! `value`; and 110019 (over the app's daily push count) is the quota answer.

use crate::dispatch::{Class, Outcome};

/// What a per-device code means: delivered after all, or a failure of a class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PerDevice {
    Delivered,
    Failed(Class),
}

/// Every top-level code of `ErrorCode` but 200.
const TOP: &[(&str, &str, Class)] = &[
    ("-1", "unknown error", Class::Transient),
    ("1001", "system error", Class::Transient),
    ("1003", "server busy", Class::Transient),
    ("1005", "parameter error", Class::Rejected),
    ("1006", "signature check failed", Class::Auth),
    ("110000", "invalid appId", Class::Auth),
    ("110001", "invalid appKey", Class::Auth),
    ("110002", "pushId not registered", Class::InvalidToken),
    ("110003", "invalid pushId", Class::InvalidToken),
    ("110004", "parameter must not be empty", Class::Rejected),
    ("110009", "app blacklisted", Class::Auth),
    ("110010", "app requests too fast", Class::Rate),
    (
        "110019",
        "over the app's daily push count",
        Class::DailyQuota,
    ),
    ("110031", "invalid packageName", Class::Auth),
    ("110032", "invalid taskId", Class::Rejected),
    ("110033", "invalid appSecret", Class::Auth),
];

/// Every per-device code of `PushResponseCode` but 200.
const PER_DEVICE: &[(&str, &str, PerDevice)] = &[
    (
        "201",
        "no permission, refused by the server",
        PerDevice::Failed(Class::Rejected),
    ),
    (
        "501",
        "push failed (db error)",
        PerDevice::Failed(Class::Transient),
    ),
    (
        "513",
        "push failed (internal error)",
        PerDevice::Failed(Class::Transient),
    ),
    (
        "518",
        "over the configured push rate",
        PerDevice::Failed(Class::Rate),
    ),
    (
        "519",
        "service overloaded",
        PerDevice::Failed(Class::Transient),
    ),
    // The device got the same message a moment ago: folded into it, so it is there.
    (
        "520",
        "folded into the same message sent just before",
        PerDevice::Delivered,
    ),
    (
        "110002",
        "pushId not subscribed",
        PerDevice::Failed(Class::InvalidToken),
    ),
    (
        "110003",
        "invalid pushId",
        PerDevice::Failed(Class::InvalidToken),
    ),
    (
        "110005",
        "alias not subscribed",
        PerDevice::Failed(Class::InvalidToken),
    ),
    // The user switched the app's pushes off; the pushId stays valid for when they switch back on.
    (
        "110010",
        "pushId switched off",
        PerDevice::Failed(Class::Rejected),
    ),
];

fn reason(code: &str, message: &str, name: &str) -> String {
    match (message, name) {
        ("", "") => format!("Meizu code {code}"),
        ("", n) => format!("Meizu code {code}: {n}"),
        (m, _) => format!("Meizu code {code}: {m}"),
    }
}

/// The outcome of a top-level Meizu `code` (not 200) with Meizu's `message`.
pub fn outcome(code: &str, message: &str) -> Outcome {
    let row = TOP.iter().find(|(c, _, _)| *c == code);
    let class = row.map_or(Class::Rejected, |(_, _, c)| *c);
    class.outcome(reason(code, message, row.map_or("", |r| r.1)), None)
}

/// The outcome of a device listed under `code` in the `value` map of an answer with `msg_id`.
pub fn device_outcome(code: &str, msg_id: &str) -> Outcome {
    let row = PER_DEVICE.iter().find(|(c, _, _)| *c == code);
    // A code not known here: refuse this push for the device rather than unbind or retry it blindly.
    match row.map_or(PerDevice::Failed(Class::Rejected), |(_, _, c)| *c) {
        PerDevice::Delivered => Outcome::Delivered {
            message_id: msg_id.to_owned(),
        },
        PerDevice::Failed(class) => class.outcome(reason(code, "", row.map_or("", |r| r.1)), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_top_level_code_maps_as_documented() {
        let expected = [
            ("-1", "retryable"),
            ("1001", "retryable"),
            ("1003", "retryable"),
            ("1005", "rejected"),
            ("1006", "auth_failed"),
            ("110000", "auth_failed"),
            ("110001", "auth_failed"),
            ("110002", "invalid_token"),
            ("110003", "invalid_token"),
            ("110004", "rejected"),
            ("110009", "auth_failed"),
            ("110010", "rate_limited"),
            ("110019", "quota_exceeded"),
            ("110031", "auth_failed"),
            ("110032", "rejected"),
            ("110033", "auth_failed"),
        ];
        assert_eq!(expected.len(), TOP.len(), "a row without a test");
        for (code, want) in expected {
            assert_eq!(outcome(code, "").kind(), want, "{code}");
        }
    }

    #[test]
    fn every_per_device_code_maps_as_documented() {
        let expected = [
            ("201", "rejected"),
            ("501", "retryable"),
            ("513", "retryable"),
            ("518", "rate_limited"),
            ("519", "retryable"),
            ("520", "delivered"),
            ("110002", "invalid_token"),
            ("110003", "invalid_token"),
            ("110005", "invalid_token"),
            ("110010", "rejected"),
        ];
        assert_eq!(expected.len(), PER_DEVICE.len(), "a row without a test");
        for (code, want) in expected {
            assert_eq!(device_outcome(code, "m").kind(), want, "{code}");
        }
    }

    #[test]
    fn unknown_codes_and_reasons() {
        assert_eq!(outcome("9999", "").kind(), "rejected");
        assert_eq!(device_outcome("9999", "m").kind(), "rejected");
        assert_eq!(
            outcome("1006", "签名认证失败"),
            Outcome::AuthFailed {
                reason: "Meizu code 1006: 签名认证失败".into(),
                at_token_endpoint: false
            }
        );
        assert!(outcome("110019", "").retry_after().is_some());
    }
}
