//! vivo answers → outcomes: the `result` of an answer, and the `invalidUser.status` of a send.
//!
//! Confirmed from vivo's server API document (v2.9.2): 10070 "发送总量超出限制" (daily total), 10252 (list
//! payloads over the daily limit), 10254 (broadcasts over the daily count), 10094 (appId does not match the
//! auth token's app). 10000, 10302 and 10072 come from VENDORS.md and could not be confirmed from a vivo
//! source (see the report); they are mapped as VENDORS.md says.

use crate::dispatch::{Class, Outcome};

/// Every vivo result mapped to something other than a rejection.
const TABLE: &[(i64, &str, Class)] = &[
    (
        10000,
        "authToken invalid or expired (VENDORS.md, unverified)",
        Class::TokenRefused,
    ),
    (10070, "total sends over the daily limit", Class::DailyQuota),
    (
        10072,
        "sending too fast (VENDORS.md, unverified)",
        Class::Rate,
    ),
    (10094, "appId does not match the auth token", Class::Auth),
    (
        10252,
        "list payloads over the daily limit",
        Class::DailyQuota,
    ),
    (10254, "broadcasts over the daily count", Class::DailyQuota),
    (
        10302,
        "regId invalid (VENDORS.md, unverified)",
        Class::InvalidToken,
    ),
];

fn class(result: i64) -> Class {
    TABLE
        .iter()
        .find(|(c, _, _)| *c == result)
        .map(|(_, _, class)| *class)
        // Every other result names a field vivo did not accept.
        .unwrap_or(Class::Rejected)
}

/// Whether a result is worth trying again later.
pub fn is_transient(result: i64) -> bool {
    class(result) == Class::Rate
}

/// Whether a result means the auth token itself was refused, so a new one may pass.
pub fn token_refused(result: i64) -> bool {
    class(result) == Class::TokenRefused
}

/// The outcome of vivo result `result` (non-zero) with vivo's `desc`.
pub fn outcome(result: i64, desc: &str) -> Outcome {
    let name = TABLE
        .iter()
        .find(|(c, _, _)| *c == result)
        .map_or("", |(_, n, _)| *n);
    let reason = match (desc, name) {
        ("", "") => format!("vivo result {result}"),
        ("", n) => format!("vivo result {result}: {n}"),
        (d, _) => format!("vivo result {result}: {d}"),
    };
    class(result).outcome(reason, None)
}

/// The outcome of a send that vivo accepted but flagged in `invalidUser`: status 1 (the regId does not
/// exist) and 2 (the app was uninstalled) unbind the device; other statuses (push switched off, not a test
/// device) refuse this push only.
pub fn invalid_user(status: i64, userid: &str) -> Outcome {
    match status {
        1 | 2 => Outcome::InvalidToken {
            reason: format!("vivo invalidUser status {status} for {userid}"),
        },
        _ => Outcome::Rejected {
            reason: format!("vivo invalidUser status {status} for {userid}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_result_maps_as_documented() {
        let expected = [
            (10000, "auth_failed"),
            (10070, "quota_exceeded"),
            (10072, "rate_limited"),
            (10094, "auth_failed"),
            (10252, "quota_exceeded"),
            (10254, "quota_exceeded"),
            (10302, "invalid_token"),
        ];
        assert_eq!(expected.len(), TABLE.len(), "a row without a test");
        for (result, want) in expected {
            assert_eq!(outcome(result, "").kind(), want, "{result}");
        }
    }

    #[test]
    fn quota_rests_until_midnight_in_china_and_others_are_rejections() {
        assert!(outcome(10070, "").retry_after().is_some());
        assert_eq!(outcome(10055, "title不合法").kind(), "rejected");
        assert!(token_refused(10000) && !token_refused(10302));
        assert!(is_transient(10072) && !is_transient(10070));
    }

    #[test]
    fn invalid_user_statuses() {
        assert_eq!(invalid_user(1, "r").kind(), "invalid_token");
        assert_eq!(invalid_user(2, "r").kind(), "invalid_token");
        assert_eq!(invalid_user(3, "r").kind(), "rejected");
        assert_eq!(invalid_user(4, "r").kind(), "rejected");
    }
}
