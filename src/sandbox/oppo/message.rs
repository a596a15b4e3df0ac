//! The checks of a send's `message` objects, as OPPO documents them ("单点推送" and the official
//! `opush-server-sdk`): the target, and the notification's fields with their lengths and ranges, under the
//! snake_case names or OPPO's newer camelCase spellings. A refusal is OPPO's return code with its message.

use serde_json::Value;

use super::{MAX_CONTENT, MAX_OFF_LINE_TTL, MAX_TITLE, code, describe};
use crate::sandbox::cnkit::chars;

/// One field of a JSON object under its snake_case name or OPPO's camelCase spelling.
pub(super) fn field<'a>(object: &'a Value, snake: &str, camel: &str) -> Option<&'a Value> {
    object
        .get(snake)
        .or_else(|| object.get(camel))
        .filter(|v| !v.is_null())
}

/// An integer given as a JSON number or a numeric string (fastjson coerces both).
fn int(value: &Value) -> Option<i64> {
    value
        .as_i64()
        .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
}

/// A refused request: OPPO's return code and its message.
pub(super) type Refusal = (i64, String);

pub(super) fn missing(what: &str) -> Refusal {
    (
        code::MISSING_ARGUMENTS,
        format!("{}: {what}", describe(code::MISSING_ARGUMENTS)),
    )
}

pub(super) fn invalid(what: &str) -> Refusal {
    (
        code::INVALID_ARGUMENTS,
        format!("{}: {what}", describe(code::INVALID_ARGUMENTS)),
    )
}

fn text<'a>(object: &'a Value, snake: &str, camel: &str) -> Result<Option<&'a str>, Refusal> {
    match field(object, snake, camel) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(invalid(&format!("{snake} must be a string"))),
    }
}

fn limited(object: &Value, snake: &str, camel: &str, max: usize) -> Result<(), Refusal> {
    if let Some(s) = text(object, snake, camel)?
        && chars(s) > max
    {
        return Err(invalid(&format!("{snake} is longer than {max} characters")));
    }
    Ok(())
}

fn int_in(
    object: &Value,
    snake: &str,
    camel: &str,
    range: std::ops::RangeInclusive<i64>,
) -> Result<Option<i64>, Refusal> {
    match field(object, snake, camel) {
        None => Ok(None),
        Some(v) => match int(v) {
            Some(n) if range.contains(&n) => Ok(Some(n)),
            _ => Err(invalid(&format!(
                "{snake} must be an integer in {}..={}",
                range.start(),
                range.end()
            ))),
        },
    }
}

/// Checks one `message` object; returns its registration id.
pub(super) fn check_message(message: &Value) -> Result<String, Refusal> {
    if !message.is_object() {
        return Err(invalid("message must be a JSON object"));
    }
    let target_type = field(message, "target_type", "targetType").ok_or(missing("target_type"))?;
    if int(target_type) != Some(2) {
        return Err(invalid("target_type must be 2 (registration_id)"));
    }
    let target = match field(message, "target_value", "targetValue") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::String(_)) | None => return Err(missing("target_value")),
        Some(_) => return Err(invalid("target_value must be a string")),
    };
    let notification =
        field(message, "notification", "notification").ok_or(missing("notification"))?;
    // The official SDK sends the notification as an object; a JSON string of one is read too.
    let parsed;
    let notification = match notification {
        Value::String(s) => {
            parsed = serde_json::from_str::<Value>(s).map_err(|_| invalid("notification"))?;
            &parsed
        }
        other => other,
    };
    check_notification(notification)?;
    Ok(target)
}

fn check_notification(n: &Value) -> Result<(), Refusal> {
    if !n.is_object() {
        return Err(invalid("notification must be a JSON object"));
    }
    for (name, max) in [("title", MAX_TITLE), ("content", MAX_CONTENT)] {
        match text(n, name, name)? {
            None | Some("") => return Err(missing(&format!("notification.{name}"))),
            Some(s) if chars(s) > max => {
                return Err(invalid(&format!(
                    "notification.{name} is longer than {max} characters"
                )));
            }
            Some(_) => {}
        }
    }
    limited(n, "sub_title", "subTitle", 10)?;
    limited(n, "click_action_activity", "clickActionActivity", 500)?;
    limited(n, "click_action_url", "clickActionUrl", 2000)?;
    limited(n, "call_back_parameter", "callBackParameter", 50)?;
    limited(n, "channel_id", "channelId", 200)?;
    limited(n, "app_message_id", "appMessageId", 64)?;
    match int_in(n, "click_action_type", "clickActionType", 0..=5)? {
        Some(3) => return Err(invalid("click_action_type must be 0, 1, 2, 4 or 5")),
        Some(1 | 4) if text(n, "click_action_activity", "clickActionActivity")?.is_none() => {
            return Err(missing("notification.click_action_activity"));
        }
        Some(2 | 5) if text(n, "click_action_url", "clickActionUrl")?.is_none() => {
            return Err(missing("notification.click_action_url"));
        }
        _ => {}
    }
    if let Some(params) = text(n, "action_parameters", "actionParameters")?
        && !serde_json::from_str::<Value>(params).is_ok_and(|v| v.is_object())
    {
        return Err(invalid("action_parameters must be a JSON object string"));
    }
    if let Some(off_line) = field(n, "off_line", "offLine")
        && !off_line.is_boolean()
    {
        return Err(invalid("off_line must be a boolean"));
    }
    int_in(n, "off_line_ttl", "offLineTtl", 1..=MAX_OFF_LINE_TTL)?;
    int_in(n, "show_ttl", "showTtl", 21_600..=172_800)?;
    int_in(n, "notify_id", "notifyId", 0..=i32::MAX as i64)?;
    int_in(n, "style", "style", 1..=3)?;
    Ok(())
}

/// Whether `id` looks like an OPPO registration id (`CN_…`, `OPPO_CN_…` or bare, word characters).
pub(super) fn well_formed(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn message(notification: Value) -> Value {
        json!({"target_type": 2, "target_value": "CN_abc", "notification": notification})
    }

    #[test]
    fn notifications_are_checked_like_oppo() {
        let ok = json!({"title": "t", "content": "c", "click_action_type": 4,
            "click_action_activity": "com.x.Main", "off_line_ttl": 3600, "channel_id": "ch"});
        assert_eq!(check_message(&message(ok)).unwrap(), "CN_abc");
        let camel = json!({"title": "t", "content": "c", "clickActionType": 2, "clickActionUrl": "https://x"});
        assert!(check_message(&message(camel)).is_ok());
        for (n, code) in [
            (json!({"content": "c"}), 40),
            (json!({"title": "t".repeat(51), "content": "c"}), 41),
            (json!({"title": "t", "content": "c".repeat(201)}), 41),
            (
                json!({"title": "t", "content": "c", "click_action_type": 1}),
                40,
            ),
            (
                json!({"title": "t", "content": "c", "click_action_type": 3}),
                41,
            ),
            (
                json!({"title": "t", "content": "c", "off_line_ttl": 864_001}),
                41,
            ),
            (
                json!({"title": "t", "content": "c", "action_parameters": "[1]"}),
                41,
            ),
        ] {
            assert_eq!(
                check_message(&message(n.clone())).unwrap_err().0,
                code,
                "{n}"
            );
        }
        assert_eq!(
            check_message(&json!({"target_type": 5, "target_value": "a", "notification": {}}))
                .unwrap_err()
                .0,
            41
        );
        assert!(well_formed("OPPO_CN_0123abcd"));
        assert!(!well_formed("bad id"));
    }
}
