//! Small pieces the vendor payload builders share: picking the first set value, optional JSON fields, text
//! limits, JSON objects given as text, times and durations as vendors write them.

use std::{collections::HashMap, time::Duration};

use serde_json::{Map, Value, json};

use super::{Outcome, Rendered};

/// The first non-empty candidate, or "".
pub(crate) fn first<'a>(candidates: &[&'a str]) -> &'a str {
    candidates
        .iter()
        .find(|c| !c.is_empty())
        .copied()
        .unwrap_or("")
}

/// Inserts `value` under `key` unless it is empty.
pub(crate) fn put(map: &mut Map<String, Value>, key: &str, value: &str) {
    if !value.is_empty() {
        map.insert(key.into(), Value::String(value.to_owned()));
    }
}

/// Inserts `values` as a JSON array under `key` unless there are none.
pub(crate) fn put_list(map: &mut Map<String, Value>, key: &str, values: &[String]) {
    if !values.is_empty() {
        map.insert(key.into(), json!(values));
    }
}

/// A refusal of the message before any network call.
pub(crate) fn invalid(reason: impl Into<String>) -> Outcome {
    Outcome::InvalidMessage {
        reason: reason.into(),
    }
}

/// The JSON object in `text`, or an `InvalidMessage` naming `field`.
pub(crate) fn object(text: &str, field: &str) -> Result<Map<String, Value>, Outcome> {
    match serde_json::from_str(text) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(invalid(format!("{field} is not a JSON object"))),
    }
}

/// The message's `ext` as a JSON object string (keys sorted), empty when there is none.
pub(crate) fn ext_json(ext: &HashMap<String, String>) -> String {
    if ext.is_empty() {
        return String::new();
    }
    let sorted: std::collections::BTreeMap<_, _> = ext.iter().collect();
    json!(sorted).to_string()
}

/// A timestamp as RFC 3339 text, or an `InvalidMessage` when it is out of range.
pub(crate) fn rfc3339(t: &prost_types::Timestamp) -> Result<String, Outcome> {
    jiff::Timestamp::new(t.seconds, t.nanos)
        .map(|t| t.to_string())
        .map_err(|_| invalid("a timestamp is out of range"))
}

/// A duration as protobuf JSON writes it: seconds with up to nine decimals and an `s`.
pub(crate) fn duration_text(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else {
        let fraction = format!("{:09}", d.subsec_nanos());
        format!("{}.{}s", d.as_secs(), fraction.trim_end_matches('0'))
    }
}

/// The TTL to send in whole seconds (rounded up, so a sub-second remainder is not sent as 0: deliver now or
/// never): the vendor block's as given, else what is left of the message's; over `max` is refused, naming
/// vendor `who`.
pub(crate) fn ttl(
    message: &Rendered,
    vendor: Option<&prost_types::Duration>,
    max: Duration,
    who: &str,
) -> Result<Option<Duration>, Outcome> {
    let ttl = match vendor {
        Some(_) => message.ttl(vendor),
        None => message.ttl(None).map(|t| message.remaining(t)),
    };
    match ttl {
        Some(t) if t > max => Err(invalid(format!(
            "the {who} time-to-live is over {} days",
            max.as_secs() / 86400
        ))),
        Some(t) => Ok(Some(Duration::from_secs(ceil_secs(t)))),
        None => Ok(None),
    }
}

/// Length in characters, each counting 1 (OPPO, Meizu).
pub(crate) fn chars(text: &str) -> usize {
    text.chars().count()
}

/// Length where a CJK character counts 2 and anything else (Latin, emoji) 1, as vivo counts.
pub(crate) fn width(text: &str) -> usize {
    crate::validate::width(text)
}

/// Refuses `text` in `field` when `measure` says it is over `limit`, or empty when `required`.
pub(crate) fn limit(
    field: &str,
    text: &str,
    max: usize,
    measure: fn(&str) -> usize,
    required: bool,
) -> Result<(), Outcome> {
    if required && text.is_empty() {
        return Err(invalid(format!("{field} is required")));
    }
    let len = measure(text);
    if len > max {
        return Err(invalid(format!(
            "{field} is {len} long, over the vendor's {max}"
        )));
    }
    Ok(())
}

/// Whole seconds of `d`, rounded up.
pub(crate) fn ceil_secs(d: std::time::Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cjk_counts_twice_and_emoji_once() {
        assert_eq!(width("ab"), 2);
        assert_eq!(width("你好"), 4);
        assert_eq!(width("😀"), 1);
        assert_eq!(chars("你好"), 2);
    }

    #[test]
    fn durations_are_written_like_protobuf_json() {
        assert_eq!(duration_text(Duration::from_secs(60)), "60s");
        assert_eq!(duration_text(Duration::from_millis(3500)), "3.5s");
        assert_eq!(duration_text(Duration::from_nanos(1)), "0.000000001s");
    }

    #[test]
    fn limits_refuse_long_and_missing_text() {
        assert!(limit("title", "abc", 3, chars, true).is_ok());
        assert!(limit("title", "abcd", 3, chars, true).is_err());
        assert!(limit("title", "", 3, chars, true).is_err());
        assert!(limit("title", "", 3, chars, false).is_ok());
    }
}
