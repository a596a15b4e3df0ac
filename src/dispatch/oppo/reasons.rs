//! OPPO answers → outcomes: the `code` of an answer, or the `errorCode` of one message of a batch.
//!
//! Confirmed from OPPO's server API documentation ("调用地址，公共参数和返回码": the public codes -2..67,
//! and "单点推送": business code 10000 Invalid Registration_id, also used as a batch message's `errorCode`).

use crate::dispatch::{Class, Outcome};

/// Every documented OPPO code but 0 (success).
const TABLE: &[(i64, &str, Class)] = &[
    (-2, "Service in Flow Control", Class::Rate),
    (-1, "Service Currently Unavailable", Class::Transient),
    (11, "Invalid AuthToken", Class::TokenRefused),
    (12, "Http Action Not Allowed", Class::Rejected),
    (13, "App Call Limited", Class::Rate),
    (14, "Invalid App Key", Class::Auth),
    (15, "Missing App Key", Class::Auth),
    (16, "Invalid Signature", Class::Auth),
    (17, "Missing Signature", Class::Auth),
    (18, "Missing Timestamp", Class::Auth),
    // A clock off by more than OPPO's window; a fresh auth request carries a new timestamp.
    (19, "Invalid Timestamp", Class::Auth),
    (20, "Invalid Method", Class::Rejected),
    (21, "Missing Method", Class::Rejected),
    (22, "Missing Version", Class::Rejected),
    (23, "Invalid Version", Class::Rejected),
    (24, "Unsupported Version", Class::Rejected),
    (25, "Invalid Encoding", Class::Rejected),
    (26, "IP Black List", Class::Auth),
    (27, "Access Denied", Class::Auth),
    (28, "App Disabled", Class::Auth),
    (29, "Missing Auth Token", Class::TokenRefused),
    (30, "Api Permission Denied", Class::Auth),
    (31, "Data Not Exist", Class::Rejected),
    (32, "Data Duplicate", Class::Rejected),
    (
        33,
        "The number of messages exceeds the daily limit",
        Class::DailyQuota,
    ),
    (
        34,
        "The number of upload pictures exceeds the daily limit",
        Class::Rejected,
    ),
    (40, "Missing Required Arguments", Class::Rejected),
    (41, "Invalid Arguments", Class::Rejected),
    (51, "Invalid Picture", Class::Rejected),
    (55, "App Call Frequency Limit", Class::Rate),
    (59, "UseSecondaryAction permission denied", Class::Rejected),
    (
        67,
        "Category error/Private classify channel notify_level invalid",
        Class::Rejected,
    ),
    (10000, "Invalid Registration_id", Class::InvalidToken),
];

fn class(code: i64) -> Class {
    TABLE
        .iter()
        .find(|(c, _, _)| *c == code)
        .map(|(_, _, class)| *class)
        // Business codes (10000..20000) OPPO has not documented are about the target or the message.
        .unwrap_or(Class::Rejected)
}

/// Whether a code is worth trying again later (server trouble, flow control).
pub fn is_transient(code: i64) -> bool {
    matches!(class(code), Class::Transient | Class::Rate)
}

/// Whether a code means the auth token itself was refused, so a new one may pass.
pub fn token_refused(code: i64) -> bool {
    class(code) == Class::TokenRefused
}

/// The outcome of OPPO code `code` with OPPO's `message` (empty when it sent none).
pub fn outcome(code: i64, message: &str) -> Outcome {
    let name = TABLE
        .iter()
        .find(|(c, _, _)| *c == code)
        .map_or("", |(_, n, _)| *n);
    let reason = match (message, name) {
        ("", "") => format!("OPPO code {code}"),
        ("", n) => format!("OPPO code {code}: {n}"),
        (m, _) => format!("OPPO code {code}: {m}"),
    };
    class(code).outcome(reason, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_maps_as_documented() {
        let expected = [
            (-2, "rate_limited"),
            (-1, "retryable"),
            (11, "auth_failed"),
            (12, "rejected"),
            (13, "rate_limited"),
            (14, "auth_failed"),
            (15, "auth_failed"),
            (16, "auth_failed"),
            (17, "auth_failed"),
            (18, "auth_failed"),
            (19, "auth_failed"),
            (20, "rejected"),
            (21, "rejected"),
            (22, "rejected"),
            (23, "rejected"),
            (24, "rejected"),
            (25, "rejected"),
            (26, "auth_failed"),
            (27, "auth_failed"),
            (28, "auth_failed"),
            (29, "auth_failed"),
            (30, "auth_failed"),
            (31, "rejected"),
            (32, "rejected"),
            (33, "quota_exceeded"),
            (34, "rejected"),
            (40, "rejected"),
            (41, "rejected"),
            (51, "rejected"),
            (55, "rate_limited"),
            (59, "rejected"),
            (67, "rejected"),
            (10000, "invalid_token"),
        ];
        assert_eq!(expected.len(), TABLE.len(), "a row without a test");
        for (code, want) in expected {
            assert_eq!(outcome(code, "").kind(), want, "{code}");
        }
    }

    #[test]
    fn the_daily_limit_rests_until_midnight_in_china() {
        let Outcome::QuotaExceeded { retry_after, .. } = outcome(33, "") else {
            panic!("not a quota outcome");
        };
        let left = retry_after.unwrap();
        assert!(
            left > std::time::Duration::ZERO && left <= std::time::Duration::from_secs(24 * 3600)
        );
    }

    #[test]
    fn only_token_refusals_renew_the_token() {
        assert!(token_refused(11));
        assert!(token_refused(29));
        assert!(!token_refused(16));
        assert!(!token_refused(10000));
    }

    #[test]
    fn unknown_codes_are_rejections_and_reasons_keep_oppo_words() {
        assert_eq!(outcome(10099, "").kind(), "rejected");
        assert_eq!(
            outcome(10000, "registration_id格式不正确"),
            Outcome::InvalidToken {
                reason: "OPPO code 10000: registration_id格式不正确".into()
            }
        );
        assert!(is_transient(-2) && is_transient(-1) && !is_transient(41));
    }
}
