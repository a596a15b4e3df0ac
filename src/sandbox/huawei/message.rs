//! The Push Kit v1 `messages:send` body, checked as Huawei documents it: `{"validate_only", "message":
//! {"data", "notification", "android", "token"|"topic"|"condition", ...}}`.
//!
//! Unknown fields are ignored (Huawei's JSON binding ignores them); wrongly typed or out-of-range known
//! fields are `80100003` (illegal payload), a broken target is `80100001`, a token list that is empty or
//! longer than [`MAX_TOKENS`] is `80300010`, and a message over [`MAX_MESSAGE_BYTES`] (tokens excluded) is
//! `80300008`.

use serde_json::Value;

use super::code;

/// Most tokens in one request.
pub const MAX_TOKENS: usize = 1000;
/// Largest message, tokens excluded, in bytes of compact JSON.
pub const MAX_MESSAGE_BYTES: usize = 4096;
/// Longest token accepted as well formed.
const MAX_TOKEN_LEN: usize = 512;

/// A refusal: the Huawei code and its `msg`.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// `80100001`, `80100003`, `80300008`, `80300010`.
    pub code: &'static str,
    /// The explanation.
    pub msg: String,
}

fn illegal(msg: impl Into<String>) -> Refusal {
    Refusal {
        code: code::ILLEGAL_PAYLOAD,
        msg: format!("Illegal payload, {}", msg.into()),
    }
}

/// Whom a valid message goes to.
#[derive(Debug, PartialEq)]
pub enum Target {
    /// These device tokens.
    Tokens(Vec<String>),
    /// A topic or condition.
    Other,
}

/// A checked send request.
#[derive(Debug)]
pub struct Checked {
    /// `validate_only`.
    pub validate_only: bool,
    /// The target.
    pub target: Target,
}

/// Whether `token` could be a Push Kit token (the sandbox does not insist on their real length).
pub fn well_formed(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= MAX_TOKEN_LEN
        && token.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'+' | b'/' | b'=')
        })
}

/// Checks a send request body.
pub fn check(body: &[u8]) -> Result<Checked, Refusal> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| illegal(format!("the request body is not JSON: {e}")))?;
    let Some(request) = value.as_object() else {
        return Err(illegal("the request body must be a JSON object"));
    };
    let validate_only = match request.get("validate_only") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(illegal("validate_only must be a boolean")),
    };
    let Some(message) = request.get("message").and_then(Value::as_object) else {
        return Err(illegal("message must not be null"));
    };

    let present = |name: &str| message.get(name).is_some_and(|v| !v.is_null());
    let targets = ["token", "topic", "condition"]
        .into_iter()
        .filter(|n| present(n))
        .count();
    if targets != 1 {
        return Err(Refusal {
            code: code::PARAMETER_ERROR,
            msg: "token, topic or condition must be choice one".into(),
        });
    }
    let target = if present("token") {
        let Some(list) = message["token"].as_array() else {
            return Err(illegal("token must be an array of strings"));
        };
        if list.is_empty() || list.len() > MAX_TOKENS {
            return Err(Refusal {
                code: code::TOO_MANY_TOKENS,
                msg: format!(
                    "The number of tokens in the message body must be 1 to {MAX_TOKENS}, got {}",
                    list.len()
                ),
            });
        }
        let mut tokens = Vec::with_capacity(list.len());
        for t in list {
            let Some(t) = t.as_str() else {
                return Err(illegal("token must be an array of strings"));
            };
            tokens.push(t.to_owned());
        }
        Target::Tokens(tokens)
    } else {
        for name in ["topic", "condition"] {
            if let Some(v) = message.get(name).filter(|v| !v.is_null())
                && v.as_str().is_none_or(str::is_empty)
            {
                return Err(Refusal {
                    code: code::PARAMETER_ERROR,
                    msg: format!("{name} must be a non-empty string"),
                });
            }
        }
        Target::Other
    };

    let mut sized = message.clone();
    sized.remove("token");
    let size = Value::Object(sized).to_string().len();
    if size > MAX_MESSAGE_BYTES {
        return Err(Refusal {
            code: code::MESSAGE_TOO_BIG,
            msg: format!(
                "The message body size exceeds the default value ({size} > {MAX_MESSAGE_BYTES} bytes)"
            ),
        });
    }

    check_payload(message)?;
    Ok(Checked {
        validate_only,
        target,
    })
}

fn string_field(
    object: &serde_json::Map<String, Value>,
    name: &str,
    at: &str,
) -> Result<Option<String>, Refusal> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(illegal(format!("{at}{name} must be a string"))),
    }
}

fn object_field<'a>(
    object: &'a serde_json::Map<String, Value>,
    name: &str,
    at: &str,
) -> Result<Option<&'a serde_json::Map<String, Value>>, Refusal> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(_) => Err(illegal(format!("{at}{name} must be an object"))),
    }
}

fn int_field(
    object: &serde_json::Map<String, Value>,
    name: &str,
    at: &str,
    range: std::ops::RangeInclusive<i64>,
) -> Result<Option<i64>, Refusal> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_i64() {
            Some(n) if range.contains(&n) => Ok(Some(n)),
            _ => Err(illegal(format!(
                "{at}{name} must be an integer from {} to {}",
                range.start(),
                range.end()
            ))),
        },
    }
}

/// `"86400s"`, `"3.5s"`, `"86400"`: seconds with up to nine decimals, the `s` optional.
fn is_ttl(text: &str) -> bool {
    let text = text.strip_suffix(['s', 'S']).unwrap_or(text);
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.len() <= 9
        && fraction.bytes().all(|b| b.is_ascii_digit())
        && !text.ends_with('.')
}

fn check_payload(message: &serde_json::Map<String, Value>) -> Result<(), Refusal> {
    let data = string_field(message, "data", "message.")?;
    let notification = object_field(message, "notification", "message.")?;
    let (mut title, mut body) = (None, None);
    if let Some(n) = notification {
        title = string_field(n, "title", "message.notification.")?;
        body = string_field(n, "body", "message.notification.")?;
        string_field(n, "image", "message.notification.")?;
    }
    let mut android_notification = None;
    if let Some(android) = object_field(message, "android", "message.")? {
        let at = "message.android.";
        int_field(android, "collapse_key", at, -1..=100)?;
        if let Some(urgency) = string_field(android, "urgency", at)?
            && !matches!(urgency.as_str(), "HIGH" | "NORMAL")
        {
            return Err(illegal("message.android.urgency must be HIGH or NORMAL"));
        }
        if let Some(ttl) = string_field(android, "ttl", at)?
            && !is_ttl(&ttl)
        {
            return Err(illegal(format!(
                "message.android.ttl {ttl:?} is not a duration like \"86400s\""
            )));
        }
        string_field(android, "category", at)?;
        string_field(android, "bi_tag", at)?;
        string_field(android, "data", at)?;
        if let Some(n) = object_field(android, "notification", at)? {
            let at = "message.android.notification.";
            if let Some(t) = string_field(n, "title", at)? {
                title = Some(t);
            }
            if let Some(b) = string_field(n, "body", at)? {
                body = Some(b);
            }
            string_field(n, "channel_id", at)?;
            string_field(n, "image", at)?;
            let Some(click) = object_field(n, "click_action", at)? else {
                return Err(illegal("click_action must not be null"));
            };
            let kind = int_field(
                click,
                "type",
                "message.android.notification.click_action.",
                1..=4,
            )?;
            let has = |name: &str| {
                click
                    .get(name)
                    .and_then(Value::as_str)
                    .is_some_and(|s| !s.is_empty())
            };
            match kind {
                None => return Err(illegal("click_action.type must not be null")),
                Some(1) if !has("intent") && !has("action") => {
                    return Err(illegal(
                        "intent or action must be set when click_action.type is 1",
                    ));
                }
                Some(2) if !has("url") => {
                    return Err(illegal("url must be set when click_action.type is 2"));
                }
                Some(2) if !click["url"].as_str().unwrap_or("").starts_with("https://") => {
                    return Err(illegal("click_action.url must be an https URL"));
                }
                Some(4) if !has("rich_resource") => {
                    return Err(illegal(
                        "rich_resource must be set when click_action.type is 4",
                    ));
                }
                _ => {}
            }
            if let Some(badge) = object_field(n, "badge", at)? {
                let at = "message.android.notification.badge.";
                int_field(badge, "add_num", at, 1..=99)?;
                int_field(badge, "set_num", at, 0..=99)?;
                string_field(badge, "class", at)?;
            }
            android_notification = Some(n);
        }
    }
    let notifying = notification.is_some() || android_notification.is_some();
    if notifying {
        if title.as_deref().is_none_or(str::is_empty) {
            return Err(illegal("title must not be empty"));
        }
        if body.as_deref().is_none_or(str::is_empty) {
            return Err(illegal("body must not be empty"));
        }
    } else if data.is_none() {
        return Err(illegal("the message must carry data or a notification"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(body: &str) -> Refusal {
        check(body.as_bytes()).unwrap_err()
    }

    #[test]
    fn good_messages_pass() {
        let ok = check(
            br#"{"validate_only":false,"message":{"data":"{}","android":{"urgency":"HIGH","ttl":"86400s",
            "collapse_key":-1,"notification":{"title":"t","body":"b","click_action":{"type":3},
            "badge":{"add_num":1}}},"token":["a1","b2"]}}"#,
        )
        .unwrap();
        assert_eq!(ok.target, Target::Tokens(vec!["a1".into(), "b2".into()]));
        let ok = check(br#"{"message":{"data":"x","topic":"news"}}"#).unwrap();
        assert_eq!(ok.target, Target::Other);
    }

    #[test]
    fn bad_messages_get_huawei_codes() {
        assert_eq!(err("{").code, code::ILLEGAL_PAYLOAD);
        assert_eq!(
            err(r#"{"message":{"data":"x"}}"#).code,
            code::PARAMETER_ERROR
        );
        assert_eq!(
            err(r#"{"message":{"data":"x","token":["a"],"topic":"t"}}"#).code,
            code::PARAMETER_ERROR
        );
        assert_eq!(
            err(r#"{"message":{"data":"x","token":[]}}"#).code,
            code::TOO_MANY_TOKENS
        );
        assert_eq!(
            err(r#"{"message":{"data":1,"token":["a"]}}"#).code,
            code::ILLEGAL_PAYLOAD
        );
        assert_eq!(
            err(
                r#"{"message":{"android":{"notification":{"title":"t","body":"b"}},"token":["a"]}}"#
            )
            .msg,
            "Illegal payload, click_action must not be null"
        );
        assert_eq!(
            err(r#"{"message":{"android":{"urgency":"URGENT"},"data":"x","token":["a"]}}"#).code,
            code::ILLEGAL_PAYLOAD
        );
        assert_eq!(
            err(r#"{"message":{"token":["a"]}}"#).code,
            code::ILLEGAL_PAYLOAD
        );
        let big = "x".repeat(MAX_MESSAGE_BYTES);
        assert_eq!(
            err(&format!(
                r#"{{"message":{{"data":"{big}","token":["a"]}}}}"#
            ))
            .code,
            code::MESSAGE_TOO_BIG
        );
        // Tokens do not count towards the size.
        let many: Vec<String> = (0..MAX_TOKENS).map(|i| format!("\"{i:0>40}\"")).collect();
        assert!(
            check(
                format!(
                    r#"{{"message":{{"data":"x","token":[{}]}}}}"#,
                    many.join(",")
                )
                .as_bytes()
            )
            .is_ok()
        );
        assert!(well_formed("AQAAAAB-x_y.z:1+/="));
        assert!(!well_formed("has space"));
        assert!(!well_formed(""));
    }
}
