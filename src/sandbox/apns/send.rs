//! `POST /3/device/{token}`: checks a notification request the way APNs does and answers in Apple's shape
//! (success: 200, `apns-id`, empty body; failure: `{"reason": ...}`, plus `timestamp` on 410).

use std::sync::Arc;

use axum::{extract::Request, response::Response};

use super::ApnsState;
use crate::sandbox::{
    core::{FaultOutcome, Incoming, json_response, retry_after},
    tls::{ConnInfo, reset_response},
};

/// Largest payload for every push type but VoIP.
pub const MAX_PAYLOAD: usize = 4096;
/// Largest VoIP payload.
pub const MAX_VOIP_PAYLOAD: usize = 5120;
/// Longest `apns-collapse-id`, in bytes.
pub const MAX_COLLAPSE_ID: usize = 64;
/// Longest device token accepted, in hex digits (Apple's are 64 today; they may grow).
const MAX_DEVICE_TOKEN_HEX: usize = 200;

/// The `apns-push-type` values and the suffix each needs on the app's bundle id in `apns-topic`
/// (`None`: any topic, as MDM topics are certificate UIDs).
const PUSH_TYPES: &[(&str, Option<&str>)] = &[
    ("alert", Some("")),
    ("background", Some("")),
    ("voip", Some(".voip")),
    ("complication", Some(".complication")),
    ("fileprovider", Some(".pushkit.fileprovider")),
    ("mdm", None),
    ("liveactivity", Some(".push-type.liveactivity")),
    ("location", Some(".location-query")),
    ("pushtotalk", Some(".voip-ptt")),
    ("widgets", Some(".push-type.widgets")),
];

/// Headers that APNs refuses to see twice.
const SINGLE_HEADERS: &[&str] = &[
    "authorization",
    "apns-id",
    "apns-topic",
    "apns-push-type",
    "apns-priority",
    "apns-expiration",
    "apns-collapse-id",
];

/// Answers one request to the APNs fake.
pub async fn handle(state: Arc<ApnsState>, request: Request) -> Response {
    let Some((request, extensions)) = Incoming::read(request).await else {
        return reset_response();
    };
    let conn = extensions.get::<ConnInfo>().cloned().unwrap_or_default();
    let device_token = request
        .uri
        .path()
        .strip_prefix("/3/device/")
        .map(str::to_owned);
    let apns_id = request
        .header("apns-id")
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());

    let outcome = match state.core.apply_faults(device_token.as_deref()).await {
        FaultOutcome::Reset => return state.core.reset_send(&request, device_token),
        FaultOutcome::Error {
            status,
            reason,
            retry_after_secs,
        } => Err(Refused {
            status,
            reason,
            retry_after_secs,
        }),
        FaultOutcome::Proceed => check(&state, &request, &conn, device_token.as_deref()),
    };

    let (status, body, mut headers) = match outcome {
        Ok(()) => (200, String::new(), vec![]),
        Err(refused) => {
            let mut body = serde_json::json!({ "reason": refused.reason });
            if refused.status == 410 {
                body["timestamp"] = serde_json::json!(crate::clock::now_ms());
            }
            (
                refused.status,
                body.to_string(),
                retry_after(refused.retry_after_secs),
            )
        }
    };
    headers.push(("apns-id", apns_id));
    state.core.recorder.count_send(status == 200);
    state
        .core
        .record(&request, device_token, status, &body, false);
    if status == 200 {
        let mut response = json_response(200, "", &headers);
        response.headers_mut().remove(http::header::CONTENT_TYPE);
        response
    } else {
        json_response(status, &body, &headers)
    }
}

/// An APNs error answer.
struct Refused {
    status: u16,
    reason: String,
    retry_after_secs: Option<u64>,
}

impl From<(u16, &'static str)> for Refused {
    fn from((status, reason): (u16, &'static str)) -> Self {
        Self {
            status,
            reason: reason.to_owned(),
            retry_after_secs: None,
        }
    }
}

fn refuse(status: u16, reason: &'static str) -> Result<(), Refused> {
    Err((status, reason).into())
}

/// Apple's checks, in the order that makes the most specific reason win.
fn check(
    state: &ApnsState,
    request: &Incoming,
    conn: &ConnInfo,
    device_token: Option<&str>,
) -> Result<(), Refused> {
    if request.method != http::Method::POST {
        return refuse(405, "MethodNotAllowed");
    }
    let Some(device_token) = device_token else {
        return refuse(404, "BadPath");
    };
    if device_token.is_empty() {
        return refuse(400, "MissingDeviceToken");
    }
    if SINGLE_HEADERS
        .iter()
        .any(|name| request.headers.get_all(*name).iter().count() > 1)
    {
        return refuse(400, "DuplicateHeaders");
    }

    // Authentication: a bearer provider token wins; otherwise the connection's client certificate.
    let allowed_topics = match request.header("authorization") {
        Some(value) => {
            let jwt = value
                .get(..7)
                .filter(|scheme| scheme.eq_ignore_ascii_case("bearer "))
                .map(|_| value[7..].trim())
                .ok_or((403, "InvalidProviderToken"))?;
            let now_secs = request.at_ms / 1000;
            let authorized = state.check_provider_token(jwt, now_secs)?;
            if authorized.new_token {
                state.core.recorder.count_token(Some(&authorized.key_id));
            }
            authorized.topics.into_iter().collect::<Vec<_>>()
        }
        None => match (&conn.client_uid, conn.client_certificate) {
            (Some(uid), true) => vec![uid.clone()],
            (None, true) => return refuse(403, "BadCertificate"),
            _ => return refuse(403, "MissingProviderToken"),
        },
    };

    if !is_device_token(device_token) {
        return refuse(400, "BadDeviceToken");
    }
    if let Some(id) = request.header("apns-id")
        && !is_canonical_uuid(id)
    {
        return refuse(400, "BadMessageId");
    }
    let push_type = request.header("apns-push-type").unwrap_or("alert");
    let Some((_, suffix)) = PUSH_TYPES.iter().find(|(name, _)| *name == push_type) else {
        return refuse(400, "InvalidPushType");
    };
    let topic = match request.header("apns-topic") {
        Some(topic) => topic.to_owned(),
        // A certificate names its own topic; with a provider token the topic is required.
        None if request.header("authorization").is_none() => {
            let base = allowed_topics.first().cloned().unwrap_or_default();
            format!("{base}{}", suffix.unwrap_or(""))
        }
        None => return refuse(400, "MissingTopic"),
    };
    if !is_topic(&topic) {
        return refuse(400, "BadTopic");
    }
    let allowed = match suffix {
        None => true,
        Some(suffix) => topic
            .strip_suffix(suffix)
            .is_some_and(|base| allowed_topics.iter().any(|t| t == base)),
    };
    if !allowed {
        return refuse(400, "TopicDisallowed");
    }
    let priority = request.header("apns-priority").unwrap_or("10");
    if !matches!(priority, "10" | "5" | "1") || (push_type == "background" && priority == "10") {
        return refuse(400, "BadPriority");
    }
    if let Some(expiration) = request.header("apns-expiration")
        && (expiration.is_empty() || !expiration.bytes().all(|b| b.is_ascii_digit()))
    {
        return refuse(400, "BadExpirationDate");
    }
    if request
        .headers
        .get("apns-collapse-id")
        .is_some_and(|id| id.len() > MAX_COLLAPSE_ID)
    {
        return refuse(400, "BadCollapseId");
    }
    let limit = if push_type == "voip" {
        MAX_VOIP_PAYLOAD
    } else {
        MAX_PAYLOAD
    };
    if request.body.len() > limit {
        return refuse(413, "PayloadTooLarge");
    }
    if request.body.iter().all(u8::is_ascii_whitespace) {
        return refuse(400, "PayloadEmpty");
    }
    let payload: serde_json::Value =
        serde_json::from_slice(&request.body).map_err(|_| Refused::from((400, "BadPayload")))?;
    if !payload.get("aps").is_some_and(|aps| aps.is_object()) {
        return refuse(400, "BadPayload");
    }
    if state.core.is_invalidated(device_token) {
        return refuse(410, "Unregistered");
    }
    Ok(())
}

/// A device token as Apple issues them: an even number of hex digits.
fn is_device_token(token: &str) -> bool {
    token.len().is_multiple_of(2)
        && token.len() <= MAX_DEVICE_TOKEN_HEX
        && token.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `8-4-4-4-12` hex digits.
fn is_canonical_uuid(id: &str) -> bool {
    id.len() == 36
        && id.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// A bundle id (plus push-type suffix): letters, digits, `.`, `-`, `_`; at most 255 characters.
fn is_topic(topic: &str) -> bool {
    !topic.is_empty()
        && topic.len() <= 255
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert!(is_device_token(&"ab".repeat(32)));
        assert!(!is_device_token("abc"));
        assert!(!is_device_token("zz"));
        assert!(is_canonical_uuid("123e4567-e89b-12d3-a456-4266554400a0"));
        assert!(!is_canonical_uuid("123e4567e89b12d3a4564266554400a0"));
        assert!(is_topic("com.example.app.voip"));
        assert!(!is_topic("com example"));
    }
}
