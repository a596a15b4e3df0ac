//! Huawei Push Kit answers → outcomes: the `code` of the body when it has one, else the HTTP status.
//!
//! Codes confirmed from Huawei's "Downlink message response codes" reference (Push Kit server API; the same
//! table appears in the HarmonyOS Push Kit REST reference: 400/401/404/500/502/503 HTTP codes, 503 = traffic
//! control) and Huawei's own troubleshooting article on the most common codes (80200001 OAuth error, 80200003
//! OAuth token expired, 80300007 invalid tokens, 80300010 token count 1..1000, 80100016 sensitive content).

use std::time::Duration;

use crate::dispatch::{Class, Outcome};

/// Success.
pub const SUCCESS: &str = "80000000";
/// Some tokens failed: `msg` is a JSON string with `illegal_tokens`.
pub const PARTIAL: &str = "80100000";
/// Every token of the request is invalid.
pub const ALL_TOKENS_INVALID: &str = "80300007";

/// Every documented Huawei error code and its class.
const TABLE: &[(&str, Class)] = &[
    // Some request parameters are incorrect.
    ("80100001", Class::Rejected),
    // The collapse_key / TTL / message structure is incorrect.
    ("80100003", Class::Rejected),
    // The TTL is earlier than the current time.
    ("80100004", Class::Rejected),
    // The message contains sensitive information.
    ("80100016", Class::Rejected),
    // OAuth authentication error (missing token, or a token of another app).
    ("80200001", Class::Auth),
    // OAuth token expired: fetch a new one and try once more.
    ("80200003", Class::Auth),
    // The app has no permission to send to these tokens (push not enabled, wrong app id).
    ("80300002", Class::Auth),
    (ALL_TOKENS_INVALID, Class::InvalidToken),
    // The message body is too large.
    ("80300008", Class::Rejected),
    // The number of tokens is not 1..1000.
    ("80300010", Class::Rejected),
    // No permission to send high-priority (urgency HIGH) messages.
    ("80300011", Class::Rejected),
    // Internal error of the OAuth service behind the push server.
    ("80600003", Class::Transient),
    // System internal error.
    ("81000001", Class::Transient),
];

/// The class of `code` (the body's code, empty when absent) with HTTP `status`.
fn class(status: u16, code: &str) -> Class {
    if let Some((_, c)) = TABLE.iter().find(|(k, _)| *k == code) {
        return *c;
    }
    match status {
        401 | 403 => Class::Auth,
        // Huawei's flow control is a 503; 429 in case a proxy in front says it.
        503 | 429 => Class::Rate,
        500..=599 => Class::Transient,
        _ => Class::Rejected,
    }
}

/// The outcome of a Huawei error answer: HTTP `status`, the body's `code` and `msg`, and `Retry-After`.
pub fn outcome(status: u16, code: &str, msg: &str, retry_after: Option<Duration>) -> Outcome {
    let reason = match (code, msg) {
        ("", "") => format!("HTTP {status}"),
        ("", m) => format!("HTTP {status}: {m}"),
        (c, "") => c.to_owned(),
        (c, m) => format!("{c}: {m}"),
    };
    class(status, code).outcome(reason, retry_after)
}

/// Whether the refusal means our access token is bad or old, so a new one may pass.
pub fn access_token_refused(status: u16, code: &str) -> bool {
    matches!(code, "80200001" | "80200003") || (code.is_empty() && status == 401)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(status: u16, code: &str) -> &'static str {
        outcome(status, code, "m", None).kind()
    }

    #[test]
    fn every_row_of_the_table_maps_as_documented() {
        let expected = [
            ("80100001", 400, "rejected"),
            ("80100003", 400, "rejected"),
            ("80100004", 400, "rejected"),
            ("80100016", 400, "rejected"),
            ("80200001", 401, "auth_failed"),
            ("80200003", 401, "auth_failed"),
            ("80300002", 403, "auth_failed"),
            ("80300007", 400, "invalid_token"),
            ("80300008", 400, "rejected"),
            ("80300010", 400, "rejected"),
            ("80300011", 400, "rejected"),
            ("80600003", 500, "retryable"),
            ("81000001", 500, "retryable"),
        ];
        assert_eq!(expected.len(), TABLE.len(), "a row without a test");
        for (code, status, want) in expected {
            assert_eq!(kind(status, code), want, "{code}");
            // The code decides, whatever the HTTP status.
            assert_eq!(kind(200, code), want, "{code} under HTTP 200");
        }
    }

    #[test]
    fn http_statuses_without_a_code() {
        assert_eq!(kind(503, ""), "rate_limited");
        assert_eq!(kind(500, ""), "retryable");
        assert_eq!(kind(502, ""), "retryable");
        assert_eq!(kind(401, ""), "auth_failed");
        assert_eq!(kind(404, ""), "rejected");
        assert_eq!(kind(400, "89999999"), "rejected");
    }

    #[test]
    fn flow_control_carries_retry_after() {
        assert_eq!(
            outcome(503, "", "", Some(Duration::from_secs(2))),
            Outcome::RateLimited {
                reason: "HTTP 503".into(),
                retry_after: Some(Duration::from_secs(2))
            }
        );
    }

    #[test]
    fn only_token_refusals_renew_the_access_token() {
        assert!(access_token_refused(401, "80200003"));
        assert!(access_token_refused(401, "80200001"));
        assert!(access_token_refused(401, ""));
        assert!(!access_token_refused(403, "80300002"));
        assert!(!access_token_refused(200, "80300007"));
    }
}
