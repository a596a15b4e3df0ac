//! Xiaomi MiPush answers → outcomes, by the body's numeric `code`.
//!
//! `0` success and `21301` (authentication failed: bad `Authorization: key=`) are from Xiaomi's server API
//! reference. `20301` (no valid target: every registration id of the request is invalid) and `200001`
//! (the app's daily push quota is used up) were marked unverified; Xiaomi's own error-code page could not be
//! reached from here, but both are handled with exactly these meanings by production MiPush integrations
//! (e.g. one that drops every regid of the request on 20301 and stops sending for the day on 200001), which
//! is what is implemented. `10002`/`10003`/`10027`/`10037` are treated as transient there too (server busy,
//! system timeouts, too frequent); HTTP 5xx is retried.

use std::time::Duration;

use crate::dispatch::{Class, Outcome};

/// Success.
pub const SUCCESS: i64 = 0;

/// Every known Xiaomi error code.
const TABLE: &[(i64, Class)] = &[
    (21301, Class::Auth),
    (20301, Class::InvalidToken),
    // The quota resets at midnight in China: the lane rests the notifier until then.
    (200001, Class::DailyQuota),
    (10002, Class::Transient),
    (10003, Class::Transient),
    (10027, Class::Rate),
    (10037, Class::Rate),
];

/// The outcome of a Xiaomi error answer: HTTP `status`, `code` (`None` when the body had none), and words.
pub fn outcome(
    status: u16,
    code: Option<i64>,
    words: &str,
    retry_after: Option<Duration>,
) -> Outcome {
    let reason = match (code, words) {
        (None, "") => format!("HTTP {status}"),
        (None, w) => format!("HTTP {status}: {w}"),
        (Some(c), "") => c.to_string(),
        (Some(c), w) => format!("{c}: {w}"),
    };
    let class = code
        .and_then(|c| TABLE.iter().find(|(k, _)| *k == c).map(|(_, class)| *class))
        .unwrap_or(match status {
            401 | 403 => Class::Auth,
            429 => Class::Rate,
            500..=599 => Class::Transient,
            _ => Class::Rejected,
        });
    class.outcome(reason, retry_after)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(status: u16, code: Option<i64>) -> &'static str {
        outcome(status, code, "words", None).kind()
    }

    #[test]
    fn every_row_of_the_table_maps_as_documented() {
        let expected = [
            (21301, "auth_failed"),
            (20301, "invalid_token"),
            (200001, "quota_exceeded"),
            (10002, "retryable"),
            (10003, "retryable"),
            (10027, "rate_limited"),
            (10037, "rate_limited"),
        ];
        assert_eq!(expected.len(), TABLE.len(), "a row without a test");
        for (code, want) in expected {
            assert_eq!(kind(200, Some(code)), want, "{code}");
        }
    }

    #[test]
    fn the_daily_quota_rests_until_midnight_in_china() {
        let Outcome::QuotaExceeded { retry_after, .. } = outcome(200, Some(200001), "limit", None)
        else {
            panic!("not a quota outcome");
        };
        let left = retry_after.unwrap();
        assert!(left > Duration::ZERO && left <= Duration::from_secs(24 * 3600));
    }

    #[test]
    fn unknown_codes_and_bare_statuses() {
        assert_eq!(kind(200, Some(22000)), "rejected");
        assert_eq!(kind(503, None), "retryable");
        assert_eq!(kind(401, None), "auth_failed");
        assert_eq!(kind(429, None), "rate_limited");
        assert_eq!(kind(400, None), "rejected");
    }
}
