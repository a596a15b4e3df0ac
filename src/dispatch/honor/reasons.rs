//! Honor Push answers → outcomes.
//!
//! Honor answers `{"code":200,"message":"…","data":{"sendResult":true,"requestId":"…","failTokens":[…],
//! "expireTokens":[…]}}` (the answer shape as Honor-based server integrations parse it; Honor's "下行消息响应码"
//! page could not be reached from here). Its error codes are taken to be Huawei Push Kit's, which Honor's
//! service was split from: 80200001/80200003 auth, 80300007 all tokens invalid, 80300008 body too large,
//! 80300010 too many tokens, 81000001 internal error. **Unverified** against Honor's own table: a code not
//! listed falls back on the HTTP status, then counts as a refusal of the message (never as a bad token).

use std::time::Duration;

use crate::dispatch::{Class, Outcome};

/// Success (Honor answers a number).
pub const SUCCESS: i64 = 200;
/// Some tokens failed (the data lists which).
pub const PARTIAL: i64 = 80100000;

/// Every Honor error code assumed from Huawei's table, and its class.
const TABLE: &[(i64, Class)] = &[
    (80100001, Class::Rejected),
    (80100003, Class::Rejected),
    (80100004, Class::Rejected),
    (80200001, Class::Auth),
    (80200003, Class::Auth),
    (80300002, Class::Auth),
    (80300007, Class::InvalidToken),
    (80300008, Class::Rejected),
    (80300010, Class::Rejected),
    (81000001, Class::Transient),
];

/// The outcome of an Honor error answer: HTTP `status`, the body's `code` (0 when absent) and `message`.
pub fn outcome(status: u16, code: i64, message: &str, retry_after: Option<Duration>) -> Outcome {
    let class = TABLE
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, c)| *c)
        .unwrap_or(match status {
            401 | 403 => Class::Auth,
            503 | 429 => Class::Rate,
            500..=599 => Class::Transient,
            _ => Class::Rejected,
        });
    let reason = match (code, message) {
        (0, "") => format!("HTTP {status}"),
        (0, m) => format!("HTTP {status}: {m}"),
        (c, "") => c.to_string(),
        (c, m) => format!("{c}: {m}"),
    };
    class.outcome(reason, retry_after)
}

/// Whether the refusal means our access token is bad or old, so a new one may pass.
pub fn access_token_refused(status: u16, code: i64) -> bool {
    matches!(code, 80200001 | 80200003) || (status == 401 && !matches!(code, 80300002))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(status: u16, code: i64) -> &'static str {
        outcome(status, code, "m", None).kind()
    }

    #[test]
    fn every_row_of_the_table_maps_as_documented() {
        let expected = [
            (80100001, "rejected"),
            (80100003, "rejected"),
            (80100004, "rejected"),
            (80200001, "auth_failed"),
            (80200003, "auth_failed"),
            (80300002, "auth_failed"),
            (80300007, "invalid_token"),
            (80300008, "rejected"),
            (80300010, "rejected"),
            (81000001, "retryable"),
        ];
        assert_eq!(expected.len(), TABLE.len(), "a row without a test");
        for (code, want) in expected {
            assert_eq!(kind(200, code), want, "{code}");
        }
    }

    #[test]
    fn http_statuses_without_a_known_code() {
        assert_eq!(kind(503, 0), "rate_limited");
        assert_eq!(kind(500, 0), "retryable");
        assert_eq!(kind(401, 0), "auth_failed");
        assert_eq!(kind(400, 12345), "rejected");
    }

    #[test]
    fn only_token_refusals_renew_the_access_token() {
        assert!(access_token_refused(200, 80200003));
        assert!(access_token_refused(401, 0));
        assert!(!access_token_refused(200, 80300007));
        assert!(!access_token_refused(403, 80300002));
    }
}
