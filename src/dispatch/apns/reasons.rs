//! APNs answers → outcomes: Apple's status codes and `reason` strings, one row each.

use std::time::Duration;

use crate::dispatch::{Class, Outcome};

/// Every documented APNs error: status, reason, class. The reasons Apple says never to retry
/// (BadDeviceToken, DeviceTokenNotForTopic, Forbidden, ExpiredToken, Unregistered, PayloadTooLarge) are the
/// invalid-token and rejected rows.
const TABLE: &[(u16, &str, Class)] = &[
    (400, "BadCollapseId", Class::Rejected),
    (400, "BadDeviceToken", Class::InvalidToken),
    (400, "BadExpirationDate", Class::Rejected),
    (400, "BadMessageId", Class::Rejected),
    (400, "BadPriority", Class::Rejected),
    (400, "BadTopic", Class::Rejected),
    (400, "DeviceTokenNotForTopic", Class::InvalidToken),
    (400, "DuplicateHeaders", Class::Rejected),
    // The connection sat idle too long; the same request on a fresh one succeeds.
    (400, "IdleTimeout", Class::Transient),
    (400, "InvalidPushType", Class::Rejected),
    (400, "MissingDeviceToken", Class::Rejected),
    (400, "MissingTopic", Class::Rejected),
    (400, "PayloadEmpty", Class::Rejected),
    (400, "TopicDisallowed", Class::Rejected),
    (403, "BadCertificate", Class::Auth),
    (403, "BadCertificateEnvironment", Class::Auth),
    (403, "ExpiredProviderToken", Class::Auth),
    (403, "Forbidden", Class::Rejected),
    (403, "InvalidProviderToken", Class::Auth),
    (403, "MissingProviderToken", Class::Auth),
    (404, "BadPath", Class::Rejected),
    (405, "MethodNotAllowed", Class::Rejected),
    (410, "ExpiredToken", Class::InvalidToken),
    (410, "Unregistered", Class::InvalidToken),
    (413, "PayloadTooLarge", Class::Rejected),
    (429, "TooManyProviderTokenUpdates", Class::Rate),
    (429, "TooManyRequests", Class::Rate),
    (500, "InternalServerError", Class::Transient),
    (503, "ServiceUnavailable", Class::Transient),
    (503, "Shutdown", Class::Transient),
];

/// The outcome of an APNs error answer with `status` and `reason` (empty when the body had none), the
/// `Retry-After` header given if any.
pub fn outcome(status: u16, reason: &str, retry_after: Option<Duration>) -> Outcome {
    let class = TABLE
        .iter()
        .find(|(s, r, _)| *s == status && *r == reason)
        .map(|(_, _, c)| *c)
        // Undocumented answers: by status alone, erring towards retrying server trouble only.
        .unwrap_or(match status {
            403 => Class::Auth,
            410 => Class::InvalidToken,
            429 => Class::Rate,
            500..=599 => Class::Transient,
            _ => Class::Rejected,
        });
    let reason = if reason.is_empty() {
        format!("HTTP {status}")
    } else {
        reason.to_owned()
    };
    class.outcome(reason, retry_after)
}

/// Whether a refusal means the provider token itself is bad or old, so a newly signed one may pass.
pub fn provider_token_refused(reason: &str) -> bool {
    matches!(reason, "ExpiredProviderToken" | "InvalidProviderToken")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(status: u16, reason: &str) -> &'static str {
        outcome(status, reason, None).kind()
    }

    #[test]
    fn every_row_of_the_table_maps_as_documented() {
        let expected = [
            (400, "BadCollapseId", "rejected"),
            (400, "BadDeviceToken", "invalid_token"),
            (400, "BadExpirationDate", "rejected"),
            (400, "BadMessageId", "rejected"),
            (400, "BadPriority", "rejected"),
            (400, "BadTopic", "rejected"),
            (400, "DeviceTokenNotForTopic", "invalid_token"),
            (400, "DuplicateHeaders", "rejected"),
            (400, "IdleTimeout", "retryable"),
            (400, "InvalidPushType", "rejected"),
            (400, "MissingDeviceToken", "rejected"),
            (400, "MissingTopic", "rejected"),
            (400, "PayloadEmpty", "rejected"),
            (400, "TopicDisallowed", "rejected"),
            (403, "BadCertificate", "auth_failed"),
            (403, "BadCertificateEnvironment", "auth_failed"),
            (403, "ExpiredProviderToken", "auth_failed"),
            (403, "Forbidden", "rejected"),
            (403, "InvalidProviderToken", "auth_failed"),
            (403, "MissingProviderToken", "auth_failed"),
            (404, "BadPath", "rejected"),
            (405, "MethodNotAllowed", "rejected"),
            (410, "ExpiredToken", "invalid_token"),
            (410, "Unregistered", "invalid_token"),
            (413, "PayloadTooLarge", "rejected"),
            (429, "TooManyProviderTokenUpdates", "rate_limited"),
            (429, "TooManyRequests", "rate_limited"),
            (500, "InternalServerError", "retryable"),
            (503, "ServiceUnavailable", "retryable"),
            (503, "Shutdown", "retryable"),
        ];
        assert_eq!(expected.len(), TABLE.len(), "a row without a test");
        for (status, reason, want) in expected {
            assert_eq!(kind(status, reason), want, "{status} {reason}");
        }
    }

    #[test]
    fn never_retried_reasons_are_not_retryable() {
        for (status, reason) in [
            (400, "BadDeviceToken"),
            (400, "DeviceTokenNotForTopic"),
            (403, "Forbidden"),
            (410, "ExpiredToken"),
            (410, "Unregistered"),
            (413, "PayloadTooLarge"),
        ] {
            assert!(!outcome(status, reason, None).is_retryable(), "{reason}");
        }
    }

    #[test]
    fn unknown_answers_fall_back_on_the_status() {
        assert_eq!(kind(502, ""), "retryable");
        assert_eq!(kind(400, "SomethingNew"), "rejected");
        assert_eq!(kind(403, "SomethingNew"), "auth_failed");
        assert_eq!(
            outcome(500, "", None),
            Outcome::Retryable {
                reason: "HTTP 500".into(),
                retry_after: None
            }
        );
    }

    #[test]
    fn retry_after_is_carried() {
        assert_eq!(
            outcome(429, "TooManyRequests", Some(Duration::from_secs(3))).retry_after(),
            Some(Duration::from_secs(3))
        );
    }

    #[test]
    fn only_token_refusals_warrant_a_new_provider_token() {
        assert!(provider_token_refused("ExpiredProviderToken"));
        assert!(provider_token_refused("InvalidProviderToken"));
        assert!(!provider_token_refused("BadCertificate"));
        assert!(!provider_token_refused("MissingProviderToken"));
    }
}
