//! Fault rules: answers a fake gives instead of (or before) its normal one, so that clients can be tested
//! against vendor errors, slowness and broken streams on demand.

use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// Most rules a fake holds at once; adding more drops the oldest, so a runaway test cannot grow memory.
pub const MAX_FAULT_RULES: usize = 1_000;

/// One fault: which send requests it hits, what it does, and how often.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRule {
    /// Only requests for this device token; `None` hits every send request.
    #[serde(default)]
    pub device_token: Option<String>,
    /// What the fake does instead of answering normally.
    pub action: FaultAction,
    /// How many matching requests it hits before it is spent; `None` lasts until cleared.
    #[serde(default)]
    pub times: Option<u32>,
}

/// What a fault does to a matching request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FaultAction {
    /// Answer with this HTTP status and vendor reason, in the vendor's own error shape, optionally with a
    /// `Retry-After` header.
    Error {
        /// The HTTP status.
        status: u16,
        /// The vendor's reason (APNs `reason`, FCM `errorCode`).
        reason: String,
        /// Seconds for the `Retry-After` header.
        #[serde(default)]
        retry_after_secs: Option<u64>,
    },
    /// Wait this long, then answer normally.
    Delay {
        /// Milliseconds to wait.
        millis: u64,
    },
    /// Reset the stream (HTTP/2) or close the connection (HTTP/1.1) without answering.
    Reset,
}

/// The fault rules of one fake, first match wins.
#[derive(Debug, Default)]
pub struct Faults {
    rules: Mutex<Vec<(FaultRule, Option<u32>)>>,
}

impl Faults {
    /// Adds a rule after the existing ones.
    pub fn add(&self, rule: FaultRule) {
        let mut rules = lock(&self.rules);
        if rules.len() >= MAX_FAULT_RULES {
            rules.remove(0);
        }
        let remaining = rule.times;
        rules.push((rule, remaining));
    }

    /// Removes every rule.
    pub fn clear(&self) {
        lock(&self.rules).clear();
    }

    /// The rules still in force, with how many hits each has left.
    pub fn list(&self) -> Vec<FaultRule> {
        lock(&self.rules)
            .iter()
            .map(|(rule, remaining)| FaultRule {
                times: *remaining,
                ..rule.clone()
            })
            .collect()
    }

    /// The action of the first rule matching `device_token`, spending one of its hits.
    pub fn take(&self, device_token: Option<&str>) -> Option<FaultAction> {
        let mut rules = lock(&self.rules);
        let index = rules
            .iter()
            .position(|(rule, _)| match &rule.device_token {
                None => true,
                Some(wanted) => device_token == Some(wanted.as_str()),
            })?;
        let action = rules[index].0.action.clone();
        if let Some(remaining) = &mut rules[index].1 {
            *remaining = remaining.saturating_sub(1);
            if *remaining == 0 {
                rules.remove(index);
            }
        }
        Some(action)
    }
}

impl Faults {
    /// The action of the first rule naming exactly `device_token` (rules naming no token are skipped),
    /// spending one of its hits: for per-token failures inside a multi-token request.
    pub fn take_scoped(&self, device_token: &str) -> Option<FaultAction> {
        let mut rules = lock(&self.rules);
        let index = rules
            .iter()
            .position(|(rule, _)| rule.device_token.as_deref() == Some(device_token))?;
        let action = rules[index].0.action.clone();
        if let Some(remaining) = &mut rules[index].1 {
            *remaining = remaining.saturating_sub(1);
            if *remaining == 0 {
                rules.remove(index);
            }
        }
        Some(action)
    }
}

/// Locks a mutex, carrying on past a poisoned one: the data are counters and lists that stay consistent
/// even if a holder panicked.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(status: u16) -> FaultAction {
        FaultAction::Error {
            status,
            reason: "x".into(),
            retry_after_secs: None,
        }
    }

    #[test]
    fn rules_match_by_token_and_wear_out() {
        let faults = Faults::default();
        faults.add(FaultRule {
            device_token: Some("aa".into()),
            action: error(500),
            times: Some(2),
        });
        assert_eq!(faults.take(Some("bb")), None);
        assert_eq!(faults.take(Some("aa")), Some(error(500)));
        assert_eq!(faults.list()[0].times, Some(1));
        assert_eq!(faults.take(Some("aa")), Some(error(500)));
        assert_eq!(faults.take(Some("aa")), None);
        faults.add(FaultRule {
            device_token: None,
            action: FaultAction::Reset,
            times: None,
        });
        for _ in 0..5 {
            assert_eq!(faults.take(None), Some(FaultAction::Reset));
        }
        faults.clear();
        assert_eq!(faults.take(Some("aa")), None);
    }

    #[test]
    fn actions_read_from_json() {
        let rule: FaultRule = serde_json::from_str(
            r#"{"device_token":"ab","action":{"type":"error","status":429,"reason":"TooManyRequests","retry_after_secs":3},"times":1}"#,
        )
        .unwrap();
        assert_eq!(rule.times, Some(1));
        assert!(matches!(
            rule.action,
            FaultAction::Error { status: 429, .. }
        ));
        let rule: FaultRule =
            serde_json::from_str(r#"{"action":{"type":"delay","millis":5}}"#).unwrap();
        assert_eq!(rule.action, FaultAction::Delay { millis: 5 });
    }
}
