//! The FCM v1 `messages:send` request body, checked the way Google's JSON mapping of the proto does:
//! unknown fields and wrongly typed values are `INVALID_ARGUMENT`, lowerCamelCase and snake_case field
//! names are both accepted, `data` values must be strings, durations are `"3.5s"` strings, enums are their
//! names (or numbers).

use serde_json::Value;

use super::error::{ApiError, bad_request, fcm_error};

/// Largest message (everything but its target), in bytes of compact JSON.
pub const MAX_MESSAGE_BYTES: usize = 4096;
/// Longest registration token accepted.
const MAX_TOKEN_LEN: usize = 4096;

/// The type of one field.
enum Kind {
    Str,
    Bool,
    Int,
    /// `map<string, string>`.
    StrMap,
    /// `repeated string`.
    StrList,
    /// `google.protobuf.Struct`: any JSON object.
    Struct,
    /// `google.protobuf.Duration`.
    Duration,
    /// `repeated google.protobuf.Duration`.
    DurationList,
    /// An enum: its proto type name and value names.
    Enum(&'static str, &'static [&'static str]),
    Object(&'static [(&'static str, Kind)]),
}

const FCM_OPTIONS: &[(&str, Kind)] = &[("analytics_label", Kind::Str)];
const NOTIFICATION: &[(&str, Kind)] = &[
    ("title", Kind::Str),
    ("body", Kind::Str),
    ("image", Kind::Str),
];
const ANDROID_NOTIFICATION: &[(&str, Kind)] = &[
    ("title", Kind::Str),
    ("body", Kind::Str),
    ("icon", Kind::Str),
    ("color", Kind::Str),
    ("sound", Kind::Str),
    ("tag", Kind::Str),
    ("click_action", Kind::Str),
    ("body_loc_key", Kind::Str),
    ("body_loc_args", Kind::StrList),
    ("title_loc_key", Kind::Str),
    ("title_loc_args", Kind::StrList),
    ("channel_id", Kind::Str),
    ("ticker", Kind::Str),
    ("sticky", Kind::Bool),
    ("event_time", Kind::Str),
    ("local_only", Kind::Bool),
    (
        "notification_priority",
        Kind::Enum(
            "google.firebase.fcm.v1.AndroidNotification.NotificationPriority",
            &[
                "PRIORITY_UNSPECIFIED",
                "PRIORITY_MIN",
                "PRIORITY_LOW",
                "PRIORITY_DEFAULT",
                "PRIORITY_HIGH",
                "PRIORITY_MAX",
            ],
        ),
    ),
    ("default_sound", Kind::Bool),
    ("default_vibrate_timings", Kind::Bool),
    ("default_light_settings", Kind::Bool),
    ("vibrate_timings", Kind::DurationList),
    (
        "visibility",
        Kind::Enum(
            "google.firebase.fcm.v1.AndroidNotification.Visibility",
            &["VISIBILITY_UNSPECIFIED", "PRIVATE", "PUBLIC", "SECRET"],
        ),
    ),
    ("notification_count", Kind::Int),
    ("light_settings", Kind::Struct),
    ("image", Kind::Str),
    ("bypass_proxy_notification", Kind::Bool),
    (
        "proxy",
        Kind::Enum(
            "google.firebase.fcm.v1.AndroidNotification.Proxy",
            &["PROXY_UNSPECIFIED", "ALLOW", "DENY", "IF_PRIORITY_LOWERED"],
        ),
    ),
];
const ANDROID: &[(&str, Kind)] = &[
    ("collapse_key", Kind::Str),
    (
        "priority",
        Kind::Enum(
            "google.firebase.fcm.v1.AndroidMessagePriority",
            &["NORMAL", "HIGH"],
        ),
    ),
    ("ttl", Kind::Duration),
    ("restricted_package_name", Kind::Str),
    ("data", Kind::StrMap),
    ("notification", Kind::Object(ANDROID_NOTIFICATION)),
    ("fcm_options", Kind::Object(FCM_OPTIONS)),
    ("direct_boot_ok", Kind::Bool),
    ("bandwidth_constrained_ok", Kind::Bool),
    ("restricted_satellite_ok", Kind::Bool),
];
const APNS_FCM_OPTIONS: &[(&str, Kind)] = &[("analytics_label", Kind::Str), ("image", Kind::Str)];
const APNS: &[(&str, Kind)] = &[
    ("headers", Kind::StrMap),
    ("payload", Kind::Struct),
    ("fcm_options", Kind::Object(APNS_FCM_OPTIONS)),
    ("live_activity_token", Kind::Str),
];
const WEBPUSH_FCM_OPTIONS: &[(&str, Kind)] = &[("link", Kind::Str), ("analytics_label", Kind::Str)];
const WEBPUSH: &[(&str, Kind)] = &[
    ("headers", Kind::StrMap),
    ("data", Kind::StrMap),
    ("notification", Kind::Struct),
    ("fcm_options", Kind::Object(WEBPUSH_FCM_OPTIONS)),
];
const MESSAGE: &[(&str, Kind)] = &[
    ("name", Kind::Str),
    ("data", Kind::StrMap),
    ("notification", Kind::Object(NOTIFICATION)),
    ("android", Kind::Object(ANDROID)),
    ("webpush", Kind::Object(WEBPUSH)),
    ("apns", Kind::Object(APNS)),
    ("fcm_options", Kind::Object(FCM_OPTIONS)),
    ("token", Kind::Str),
    ("topic", Kind::Str),
    ("condition", Kind::Str),
];
const REQUEST: &[(&str, Kind)] = &[
    ("validate_only", Kind::Bool),
    ("message", Kind::Object(MESSAGE)),
];

/// Whom a valid message goes to.
#[derive(Debug, PartialEq)]
pub enum Target {
    /// One device.
    Token(String),
    /// A topic or condition: no device token to check.
    Other,
}

/// A checked send request.
#[derive(Debug)]
pub struct SendRequest {
    /// `validate_only`.
    pub validate_only: bool,
    /// The target.
    pub target: Target,
}

/// The device token of a body, read leniently (for matching fault rules before any checking).
pub fn token_of(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    value
        .get("message")?
        .get("token")?
        .as_str()
        .map(str::to_owned)
}

/// Checks a send request body.
pub fn parse(body: &[u8]) -> Result<SendRequest, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_json(
            "",
            format!("Invalid JSON payload received. Unexpected token. ({e})"),
        )
    })?;
    walk(&value, &Kind::Object(REQUEST), "", "")?;
    let validate_only = field(&value, "validate_only")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let message = field(&value, "message").cloned().unwrap_or(Value::Null);
    let set = |name: &str| {
        field(&message, name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let targets: Vec<(&str, String)> = ["token", "topic", "condition"]
        .into_iter()
        .filter_map(|name| set(name).map(|v| (name, v)))
        .collect();
    let target = match targets.as_slice() {
        [] => {
            let text = "Recipient of the message is not set.";
            return Err(ApiError::new(400, text)
                .with(bad_request("message", text))
                .with(fcm_error("INVALID_ARGUMENT")));
        }
        [("token", token)] => {
            if !is_registration_token(token) {
                return Err(ApiError::new(
                    400,
                    "The registration token is not a valid FCM registration token",
                )
                .with(fcm_error("INVALID_ARGUMENT")));
            }
            Target::Token(token.clone())
        }
        [("topic", topic)] if !is_topic(topic) => {
            let text = "Invalid topic name.";
            return Err(ApiError::new(400, text)
                .with(bad_request("message.topic", text))
                .with(fcm_error("INVALID_ARGUMENT")));
        }
        [_] => Target::Other,
        [_, (second, _), ..] => {
            return Err(ApiError::bad_json(
                "message",
                format!(
                    "Invalid value at 'message' (oneof), oneof field 'target' is already set. Cannot set '{second}'"
                ),
            ));
        }
    };
    let mut sized = message.clone();
    if let Value::Object(map) = &mut sized {
        map.retain(|k, _| !matches!(snake(k).as_str(), "token" | "topic" | "condition"));
    }
    if sized.to_string().len() > MAX_MESSAGE_BYTES {
        return Err(ApiError::new(400, "Request contains an invalid argument."));
    }
    Ok(SendRequest {
        validate_only,
        target,
    })
}

/// A field of an object by its proto name, whether the JSON spells it snake_case or lowerCamelCase.
fn field<'a>(value: &'a Value, name: &str) -> Option<&'a Value> {
    value
        .as_object()?
        .iter()
        .find(|(k, _)| snake(k) == name)
        .map(|(_, v)| v)
}

/// `lowerCamelCase` → `snake_case` (snake_case passes through).
fn snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

fn invalid(path: &str, type_name: &str, value: &Value) -> ApiError {
    ApiError::bad_json(
        path,
        format!("Invalid value at '{path}' ({type_name}), {value}"),
    )
}

fn walk(value: &Value, kind: &Kind, path: &str, parent: &str) -> Result<(), ApiError> {
    match kind {
        Kind::Str => value
            .is_string()
            .then_some(())
            .ok_or_else(|| invalid(path, "TYPE_STRING", value)),
        Kind::Bool => value
            .is_boolean()
            .then_some(())
            .ok_or_else(|| invalid(path, "TYPE_BOOL", value)),
        Kind::Int => {
            let ok = value.is_i64() || value.as_str().is_some_and(|s| s.parse::<i32>().is_ok());
            ok.then_some(())
                .ok_or_else(|| invalid(path, "TYPE_INT32", value))
        }
        Kind::Struct => value
            .is_object()
            .then_some(())
            .ok_or_else(|| invalid(path, "type.googleapis.com/google.protobuf.Struct", value)),
        Kind::Duration => is_duration(value)
            .then_some(())
            .ok_or_else(|| invalid(path, "type.googleapis.com/google.protobuf.Duration", value)),
        Kind::Enum(type_name, names) => {
            let ok = match value {
                Value::String(s) => names.contains(&s.as_str()),
                Value::Number(n) => n.as_u64().is_some_and(|n| (n as usize) < names.len()),
                _ => false,
            };
            ok.then_some(())
                .ok_or_else(|| invalid(path, &format!("type.googleapis.com/{type_name}"), value))
        }
        Kind::StrMap => {
            let Some(map) = value.as_object() else {
                return Err(invalid(path, "TYPE_MESSAGE", value));
            };
            for (i, (_, v)) in map.iter().enumerate() {
                if !v.is_string() {
                    return Err(invalid(&format!("{path}[{i}].value"), "TYPE_STRING", v));
                }
            }
            Ok(())
        }
        Kind::StrList | Kind::DurationList => {
            let Some(items) = value.as_array() else {
                return Err(ApiError::bad_json(
                    path,
                    format!("Invalid value at '{path}', expected a list: {value}"),
                ));
            };
            let item = if matches!(kind, Kind::StrList) {
                Kind::Str
            } else {
                Kind::Duration
            };
            for (i, v) in items.iter().enumerate() {
                walk(v, &item, &format!("{path}[{i}]"), path)?;
            }
            Ok(())
        }
        Kind::Object(fields) => {
            let Some(map) = value.as_object() else {
                return Err(ApiError::bad_json(
                    path,
                    format!(
                        "Invalid JSON payload received. Unknown name \"{}\" at '{parent}': Proto field is not repeating, cannot start list.",
                        path.rsplit('.').next().unwrap_or(path)
                    ),
                ));
            };
            for (name, v) in map {
                let Some((proto, kind)) = fields.iter().find(|(f, _)| *f == snake(name)) else {
                    let at = if path.is_empty() { "" } else { path };
                    return Err(ApiError::bad_json(
                        at,
                        format!(
                            "Invalid JSON payload received. Unknown name \"{name}\" at '{at}': Cannot find field."
                        ),
                    ));
                };
                if v.is_null() {
                    continue;
                }
                walk(v, kind, &join(path, proto), path)?;
            }
            Ok(())
        }
    }
}

/// A proto3 JSON duration: `"3.5s"`, `"86400s"`.
fn is_duration(value: &Value) -> bool {
    let Some(text) = value.as_str().and_then(|s| s.strip_suffix('s')) else {
        return false;
    };
    let text = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.len() <= 9
        && fraction.bytes().all(|b| b.is_ascii_digit())
        && !(text.ends_with('.'))
}

/// A registration token as FCM issues them: letters, digits and `-_:` (the instance id, a colon, and a
/// base64url blob); the sandbox does not insist on their real length.
fn is_registration_token(token: &str) -> bool {
    token.len() <= MAX_TOKEN_LEN
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b':'))
}

fn is_topic(topic: &str) -> bool {
    let name = topic.strip_prefix("/topics/").unwrap_or(topic);
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'%'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(body: &str) -> ApiError {
        parse(body.as_bytes()).unwrap_err()
    }

    #[test]
    fn good_messages_pass_in_either_spelling() {
        let ok = parse(
            br#"{"validateOnly":true,"message":{"token":"abc:APA91b-x_y","data":{"k":"v"},
            "notification":{"title":"t","body":"b"},
            "android":{"priority":"HIGH","ttl":"3.5s","collapse_key":"c","notification":{"channelId":"x"}},
            "apns":{"headers":{"apns-priority":"10"},"payload":{"aps":{}}}}}"#,
        )
        .unwrap();
        assert!(ok.validate_only);
        assert_eq!(ok.target, Target::Token("abc:APA91b-x_y".into()));
    }

    #[test]
    fn bad_messages_are_invalid_argument() {
        let e = err(r#"{"message":{"token":"t","bogus":1}}"#);
        assert!(
            e.message.contains("Unknown name \"bogus\" at 'message'"),
            "{}",
            e.message
        );
        let e = err(r#"{"message":{"token":"t","data":{"n":1}}}"#);
        assert!(e.message.contains("message.data[0].value"), "{}", e.message);
        let e = err(r#"{"message":{"token":"t","android":{"ttl":"10"}}}"#);
        assert!(e.message.contains("message.android.ttl"), "{}", e.message);
        let e = err(r#"{"message":{"token":"t","android":{"priority":"URGENT"}}}"#);
        assert!(
            e.message.contains("message.android.priority"),
            "{}",
            e.message
        );
        assert_eq!(
            err(r#"{"message":{}}"#).message,
            "Recipient of the message is not set."
        );
        assert!(
            err(r#"{"message":{"token":"t","topic":"x"}}"#)
                .message
                .contains("oneof")
        );
        assert_eq!(
            err(r#"{"message":{"token":"not a token!"}}"#).message,
            "The registration token is not a valid FCM registration token"
        );
        let big = "x".repeat(MAX_MESSAGE_BYTES);
        assert_eq!(
            err(&format!(
                r#"{{"message":{{"token":"t","data":{{"k":"{big}"}}}}}}"#
            ))
            .status,
            400
        );
        assert_eq!(err("{").status, 400);
    }
}
