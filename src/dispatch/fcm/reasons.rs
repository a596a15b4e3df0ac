//! FCM HTTP v1 answers → outcomes: the `FcmError.errorCode` when the answer has one, else the HTTP status.

use std::time::Duration;

use crate::dispatch::{Class, Outcome};

/// Every `FcmError.errorCode`: its usual HTTP status (for documentation) and class.
const TABLE: &[(&str, u16, Class)] = &[
    // Decided by the message text instead: see `outcome`.
    ("INVALID_ARGUMENT", 400, Class::Rejected),
    // Wrong project for the token: the notifier is misconfigured, the token itself may be fine, so it is
    // not unbound (Firebase's token-management guide removes tokens only on UNREGISTERED and invalid tokens).
    ("SENDER_ID_MISMATCH", 403, Class::Rejected),
    ("QUOTA_EXCEEDED", 429, Class::Rate),
    ("UNAVAILABLE", 503, Class::Transient),
    ("INTERNAL", 500, Class::Transient),
    // The APNs or web-push credentials uploaded to Firebase were refused.
    ("THIRD_PARTY_AUTH_ERROR", 401, Class::Auth),
    ("UNREGISTERED", 404, Class::InvalidToken),
    ("UNSPECIFIED_ERROR", 500, Class::Transient),
];

/// Google's words for a malformed registration token inside an INVALID_ARGUMENT answer.
fn says_token_invalid(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("registration token") && (m.contains("not a valid") || m.contains("invalid"))
}

/// The outcome of an FCM error answer: `status`, the `FcmError` code if any (empty when absent), Google's
/// `message`, and the `Retry-After` header.
pub fn outcome(
    status: u16,
    error_code: &str,
    message: &str,
    retry_after: Option<Duration>,
) -> Outcome {
    let class = match TABLE.iter().find(|(code, _, _)| *code == error_code) {
        Some(("INVALID_ARGUMENT", _, _)) if says_token_invalid(message) => Class::InvalidToken,
        Some((_, _, class)) => *class,
        None => match status {
            // No FcmError: the OAuth access token was refused or lacks permission.
            401 | 403 => Class::Auth,
            404 if says_token_invalid(message) => Class::InvalidToken,
            429 => Class::Rate,
            500..=599 => Class::Transient,
            _ => Class::Rejected,
        },
    };
    let reason = match (error_code, message) {
        ("", "") => format!("HTTP {status}"),
        ("", m) => m.to_owned(),
        (c, "") => c.to_owned(),
        (c, m) => format!("{c}: {m}"),
    };
    class.outcome(reason, retry_after)
}

/// Whether the refusal means our OAuth access token is bad, so a new one may pass.
pub fn access_token_refused(status: u16, error_code: &str) -> bool {
    error_code.is_empty() && status == 401
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(status: u16, code: &str, message: &str) -> &'static str {
        outcome(status, code, message, None).kind()
    }

    #[test]
    fn every_error_code_maps_as_documented() {
        let expected = [
            ("INVALID_ARGUMENT", 400, "rejected"),
            ("SENDER_ID_MISMATCH", 403, "rejected"),
            ("QUOTA_EXCEEDED", 429, "rate_limited"),
            ("UNAVAILABLE", 503, "retryable"),
            ("INTERNAL", 500, "retryable"),
            ("THIRD_PARTY_AUTH_ERROR", 401, "auth_failed"),
            ("UNREGISTERED", 404, "invalid_token"),
            ("UNSPECIFIED_ERROR", 500, "retryable"),
        ];
        assert_eq!(expected.len(), TABLE.len(), "a row without a test");
        for (code, status, want) in expected {
            assert_eq!(kind(status, code, "something"), want, "{code}");
        }
    }

    #[test]
    fn invalid_argument_is_a_bad_token_only_when_google_says_so() {
        assert_eq!(
            kind(
                400,
                "INVALID_ARGUMENT",
                "The registration token is not a valid FCM registration token"
            ),
            "invalid_token"
        );
        assert_eq!(
            kind(
                400,
                "INVALID_ARGUMENT",
                "Invalid value at 'message.android.ttl'"
            ),
            "rejected"
        );
    }

    #[test]
    fn answers_without_an_error_code_fall_back_on_the_status() {
        assert_eq!(
            kind(401, "", "Request had invalid authentication credentials."),
            "auth_failed"
        );
        assert_eq!(kind(403, "", "Permission denied"), "auth_failed");
        assert_eq!(kind(429, "", ""), "rate_limited");
        assert_eq!(kind(502, "", ""), "retryable");
        assert_eq!(kind(400, "", "bad"), "rejected");
        assert_eq!(kind(404, "", "Requested entity was not found."), "rejected");
    }

    #[test]
    fn only_a_bare_401_renews_the_access_token() {
        assert!(access_token_refused(401, ""));
        assert!(!access_token_refused(401, "THIRD_PARTY_AUTH_ERROR"));
        assert!(!access_token_refused(403, ""));
    }

    #[test]
    fn retry_after_and_reason_are_carried() {
        assert_eq!(
            outcome(
                429,
                "QUOTA_EXCEEDED",
                "slow down",
                Some(Duration::from_secs(9))
            ),
            Outcome::RateLimited {
                reason: "QUOTA_EXCEEDED: slow down".into(),
                retry_after: Some(Duration::from_secs(9))
            }
        );
    }
}
