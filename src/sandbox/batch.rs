//! What the batch vendors (Huawei, Honor, Xiaomi) share: judging each device token of a multi-token send
//! (malformed, invalidated through the control API, or hit by a token-scoped fault rule).

use serde_json::Value;

use super::core::{FakeCore, FaultOutcome};

/// The device tokens of a JSON send body, read leniently (for counting and recording before any
/// checking): the strings in the array at JSON pointer `pointer` (`/token`, `/message/token`).
pub fn tokens_at(body: &[u8], pointer: &str) -> Vec<String> {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.pointer(pointer)?.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|t| t.as_str().map(str::to_owned))
        .collect()
}

/// Counts a batch send of `tokens`; returns the device token its record names (when it names exactly
/// one).
pub fn count(core: &FakeCore, tokens: &[String]) -> Option<String> {
    core.recorder.count_batch(tokens.len());
    match tokens {
        [one] => Some(one.clone()),
        _ => None,
    }
}

/// What became of one device token of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Accepted for delivery.
    Deliver,
    /// Not a token the vendor could have issued.
    Malformed,
    /// Invalidated through [`FakeCore::invalidate_token`]: the app was uninstalled, the token expired.
    Invalidated,
    /// A token-scoped fault rule made it fail with this vendor reason (may be empty).
    Fault(String),
}

/// The verdict on every token, in request order; `None` when a fault rule asked for a reset.
///
/// Token-scoped rules are applied once per token (so `times` counts tokens); a delay rule delays the
/// whole request. Request-level rules must already have been applied by the caller.
pub async fn judge(
    core: &FakeCore,
    tokens: &[String],
    well_formed: impl Fn(&str) -> bool,
) -> Option<Vec<(String, Verdict)>> {
    let mut out = Vec::with_capacity(tokens.len());
    for token in tokens {
        let verdict = if !well_formed(token) {
            Verdict::Malformed
        } else {
            match core.apply_token_faults(token).await {
                FaultOutcome::Reset => return None,
                FaultOutcome::Error { reason, .. } => Verdict::Fault(reason),
                FaultOutcome::Proceed if core.is_invalidated(token) => Verdict::Invalidated,
                FaultOutcome::Proceed => Verdict::Deliver,
            }
        };
        out.push((token.clone(), verdict));
    }
    Some(out)
}

/// The tokens of `verdicts` for which `pick` holds.
pub fn tokens_where(
    verdicts: &[(String, Verdict)],
    pick: impl Fn(&Verdict) -> bool,
) -> Vec<String> {
    verdicts
        .iter()
        .filter(|(_, v)| pick(v))
        .map(|(t, _)| t.clone())
        .collect()
}

/// A request id like the vendors' (digits: time in ms and a random tail).
pub fn request_id(at_ms: i64) -> String {
    format!("{at_ms}{:07}", rand::random::<u32>() % 10_000_000)
}
