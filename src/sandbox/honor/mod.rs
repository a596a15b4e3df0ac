//! The Honor Push fake: Honor's IAM token endpoint (a Keycloak realm,
//! `POST /auth/realms/developer/protocol/openid-connect/token`, client credentials) and
//! `POST /api/v1/{appId}/sendMessage` with `Authorization: Bearer` and a `timestamp` (ms) header, on one
//! port.
//!
//! Sources: Honor's "发送下行消息" guide (token request, send URL, the `timestamp` header, the notification
//! and data body samples `{"android":{"notification":{title,body,clickAction{type}}},"token":[...]}`) and
//! its answer shape `{"code":200,"message","data":{"sendResult","requestId","failTokens","expireTokens"}}`.
//! The token endpoint's answers are Keycloak's (the path is Keycloak's). NOT confirmed from an Honor
//! source, and so modelled on Huawei Push Kit (Honor Push grew out of it): the business error codes (ints
//! here: `80100001` bad parameter or missing `timestamp`, `80100003` illegal payload, `80200001` auth,
//! `80200003` expired access token, `80300008` message over 4096 bytes, `80300010` token list empty or
//! over 1000, `81000001` internal), the HTTP statuses paired with them, and the body limits.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicU64, Ordering},
};

use axum::{Router, extract::Request, response::Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::{
    batch::{self, Verdict},
    client_credentials::{ClientCredentials, GrantRefusal, random_secret},
    core::{FakeCore, FaultOutcome, Incoming, json_response, retry_after},
    fault::lock,
    handle::{Fake, VendorState},
    tls::reset_response,
    tokens::TokenRefusal,
};

/// Path of the token endpoint.
pub const TOKEN_PATH: &str = "/auth/realms/developer/protocol/openid-connect/token";
/// Default `expires_in` of issued access tokens.
pub const DEFAULT_ACCESS_TOKEN_SECS: u64 = 3600;
/// Most tokens in one request (unverified; Huawei's figure).
pub const MAX_TOKENS: usize = 1000;
/// Largest message, tokens excluded, in bytes of compact JSON (unverified; Huawei's figure).
pub const MAX_MESSAGE_BYTES: usize = 4096;
/// Longest token accepted as well formed.
const MAX_TOKEN_LEN: usize = 512;

/// Honor's answer codes (the `code` field, a number).
pub mod code {
    /// Sent (possibly with failed or expired tokens listed in `data`).
    pub const SUCCESS: i64 = 200;
    /// A request parameter is wrong (missing `timestamp` header, broken target).
    pub const PARAMETER_ERROR: i64 = 80100001;
    /// The message structure is wrong.
    pub const ILLEGAL_PAYLOAD: i64 = 80100003;
    /// Authentication error: no, unknown, or another app's access token.
    pub const AUTH_ERROR: i64 = 80200001;
    /// The access token expired.
    pub const TOKEN_EXPIRED: i64 = 80200003;
    /// The message (tokens excluded) is too large.
    pub const MESSAGE_TOO_BIG: i64 = 80300008;
    /// The token list is empty or too long.
    pub const TOO_MANY_TOKENS: i64 = 80300010;
    /// Internal error (retry).
    pub const INTERNAL: i64 = 81000001;
}

fn message_for(code: i64) -> &'static str {
    match code {
        code::SUCCESS => "success",
        code::PARAMETER_ERROR => "request parameter error",
        code::ILLEGAL_PAYLOAD => "illegal payload",
        code::AUTH_ERROR => "authentication error",
        code::TOKEN_EXPIRED => "access token expired",
        code::MESSAGE_TOO_BIG => "the message body size exceeds the limit",
        code::TOO_MANY_TOKENS => "the number of tokens exceeds the limit",
        code::INTERNAL => "system internal error",
        _ => "error",
    }
}

fn status_for(code: i64) -> u16 {
    match code {
        code::SUCCESS => 200,
        code::AUTH_ERROR | code::TOKEN_EXPIRED => 401,
        code::INTERNAL => 500,
        _ => 400,
    }
}

/// A minted Honor app: what the Honor developer console shows for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HonorApp {
    /// The app id (in the send path).
    pub app_id: String,
    /// The OAuth client id.
    pub client_id: String,
    /// The OAuth client secret.
    pub client_secret: String,
}

/// What the Honor handlers share.
pub struct HonorState {
    core: Arc<FakeCore>,
    oauth: Mutex<ClientCredentials>,
    lifetime_secs: AtomicU64,
}

/// Handle on the running Honor fake. Dereferences to the shared [`FakeCore`].
pub type HonorFake = Fake<HonorState>;

impl VendorState for HonorState {
    fn core(&self) -> &Arc<FakeCore> {
        &self.core
    }
}

impl Fake<HonorState> {
    /// A fake over `core`; returns it and its router.
    pub(crate) fn new(core: Arc<FakeCore>) -> (Self, Router) {
        Self::serve(
            HonorState {
                core,
                oauth: Mutex::new(ClientCredentials::default()),
                lifetime_secs: AtomicU64::new(DEFAULT_ACCESS_TOKEN_SECS),
            },
            handle,
        )
    }

    /// `https://host:port/auth/realms/developer/protocol/openid-connect/token`.
    pub fn token_url(&self) -> String {
        format!("{}{TOKEN_PATH}", self.state.core.base_url())
    }

    /// `https://host:port/api/v1/{app_id}/sendMessage`.
    pub fn send_url(&self, app_id: &str) -> String {
        format!("{}/api/v1/{app_id}/sendMessage", self.state.core.base_url())
    }

    /// Registers a new app with its OAuth client and returns the credentials.
    pub fn mint_app(&self) -> HonorApp {
        let app = HonorApp {
            app_id: format!("1{:09}", rand::random::<u32>() % 1_000_000_000),
            client_id: uuid::Uuid::new_v4().simple().to_string(),
            client_secret: random_secret(),
        };
        lock(&self.state.oauth).register(&app.client_id, &app.client_secret, &app.app_id);
        app
    }

    /// Every access token issued so far answers `80200003`.
    pub fn expire_access_tokens(&self) {
        lock(&self.state.oauth).expire_all();
    }

    /// `expires_in` of the access tokens issued from now on.
    pub fn set_access_token_lifetime(&self, secs: u64) {
        self.state.lifetime_secs.store(secs, Ordering::Relaxed);
    }
}

/// One answer of the send endpoint.
struct Answer {
    status: u16,
    code: i64,
    message: String,
    data: Value,
    retry_after_secs: Option<u64>,
}

impl Answer {
    fn error(code: i64, message: impl Into<String>) -> Self {
        Self {
            status: status_for(code),
            code,
            message: message.into(),
            data: Value::Null,
            retry_after_secs: None,
        }
    }
}

/// Whether `token` could be an Honor push token.
pub fn well_formed(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= MAX_TOKEN_LEN
        && token.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'+' | b'/' | b'=')
        })
}

async fn handle(state: Arc<HonorState>, request: Request) -> Response {
    let Some((request, _)) = Incoming::read(request).await else {
        return reset_response();
    };
    if request.uri.path() == TOKEN_PATH {
        return token(&state, &request);
    }
    let tokens = batch::tokens_at(&request.body, "/token");
    let device_token = batch::count(&state.core, &tokens);
    let request_id = batch::request_id(request.at_ms);
    let answer = match state.core.apply_faults(None).await {
        FaultOutcome::Reset => None,
        FaultOutcome::Error {
            status,
            reason,
            retry_after_secs,
        } => {
            let code = reason.parse::<i64>().unwrap_or(match status {
                401 | 403 => code::AUTH_ERROR,
                s if s >= 500 => code::INTERNAL,
                _ => code::PARAMETER_ERROR,
            });
            Some(Answer {
                status,
                code,
                message: message_for(code).to_owned(),
                data: Value::Null,
                retry_after_secs,
            })
        }
        FaultOutcome::Proceed => send(&state, &request, &request_id).await,
    };
    let Some(answer) = answer else {
        return state.core.reset_send(&request, device_token);
    };
    let body =
        json!({"code": answer.code, "message": answer.message, "data": answer.data}).to_string();
    state.core.answer_send(
        &request,
        device_token,
        answer.status,
        &body,
        &retry_after(answer.retry_after_secs),
        answer.status == 200 && answer.code == code::SUCCESS,
    )
}

/// `POST /api/v1/{appId}/sendMessage`; `None` when a token-scoped fault asks for a reset.
async fn send(state: &HonorState, request: &Incoming, request_id: &str) -> Option<Answer> {
    let app_id = request.path_between("/api/v1/", "/sendMessage");
    let Some(app_id) = app_id else {
        return Some(Answer {
            status: 404,
            ..Answer::error(404, "Not Found")
        });
    };
    if request.method != http::Method::POST {
        return Some(Answer {
            status: 405,
            ..Answer::error(code::PARAMETER_ERROR, "request method not supported")
        });
    }
    let authorized =
        lock(&state.oauth).authorize(request.header("authorization"), app_id, request.at_ms);
    match authorized {
        Err(TokenRefusal::Expired) => {
            return Some(Answer::error(
                code::TOKEN_EXPIRED,
                message_for(code::TOKEN_EXPIRED),
            ));
        }
        Err(TokenRefusal::Unknown) => {
            return Some(Answer::error(
                code::AUTH_ERROR,
                message_for(code::AUTH_ERROR),
            ));
        }
        Ok(()) => {}
    }
    let timestamp_ok = request
        .header("timestamp")
        .and_then(|t| t.trim().parse::<i64>().ok())
        .is_some_and(|t| t > 0);
    if !timestamp_ok {
        return Some(Answer::error(
            code::PARAMETER_ERROR,
            "the timestamp header (Unix ms) is missing or invalid",
        ));
    }
    let tokens = match check(&request.body) {
        Ok(tokens) => tokens,
        Err(answer) => return Some(answer),
    };
    let verdicts = batch::judge(&state.core, &tokens, well_formed).await?;
    let expired = batch::tokens_where(&verdicts, |v| match v {
        Verdict::Invalidated => true,
        Verdict::Fault(reason) => reason.to_ascii_lowercase().contains("expire"),
        _ => false,
    });
    let failed = batch::tokens_where(&verdicts, |v| match v {
        Verdict::Malformed => true,
        Verdict::Fault(reason) => !reason.to_ascii_lowercase().contains("expire"),
        _ => false,
    });
    let delivered = tokens.len() - expired.len() - failed.len();
    Some(Answer {
        status: 200,
        code: code::SUCCESS,
        message: message_for(code::SUCCESS).into(),
        data: json!({
            "sendResult": delivered > 0,
            "requestId": request_id,
            "failTokens": failed,
            "expireTokens": expired,
        }),
        retry_after_secs: None,
    })
}

fn illegal(msg: impl Into<String>) -> Answer {
    Answer::error(
        code::ILLEGAL_PAYLOAD,
        format!("illegal payload, {}", msg.into()),
    )
}

fn string_at(object: &Map<String, Value>, name: &str) -> Result<Option<String>, Answer> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(illegal(format!("{name} must be a string"))),
    }
}

fn object_at<'a>(
    object: &'a Map<String, Value>,
    name: &str,
) -> Result<Option<&'a Map<String, Value>>, Answer> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(_) => Err(illegal(format!("{name} must be an object"))),
    }
}

/// Checks a send body; returns its tokens.
fn check(body: &[u8]) -> Result<Vec<String>, Answer> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| illegal(format!("the body is not JSON: {e}")))?;
    let Some(message) = value.as_object() else {
        return Err(illegal("the body must be a JSON object"));
    };
    let Some(list) = message.get("token").and_then(Value::as_array) else {
        return Err(Answer::error(
            code::PARAMETER_ERROR,
            "token must be an array of push tokens",
        ));
    };
    if list.is_empty() || list.len() > MAX_TOKENS {
        return Err(Answer::error(
            code::TOO_MANY_TOKENS,
            format!(
                "the number of tokens must be 1 to {MAX_TOKENS}, got {}",
                list.len()
            ),
        ));
    }
    let mut tokens = Vec::with_capacity(list.len());
    for t in list {
        let Some(t) = t.as_str() else {
            return Err(Answer::error(
                code::PARAMETER_ERROR,
                "token must be an array of push tokens",
            ));
        };
        tokens.push(t.to_owned());
    }
    let mut sized = message.clone();
    sized.remove("token");
    let size = Value::Object(sized).to_string().len();
    if size > MAX_MESSAGE_BYTES {
        return Err(Answer::error(
            code::MESSAGE_TOO_BIG,
            format!("the message body size exceeds the limit ({size} > {MAX_MESSAGE_BYTES} bytes)"),
        ));
    }
    let data = string_at(message, "data")?;
    let (mut title, mut body_text) = (None, None);
    let top = object_at(message, "notification")?;
    if let Some(n) = top {
        title = string_at(n, "title")?;
        body_text = string_at(n, "body")?;
    }
    let mut android_notification = None;
    if let Some(android) = object_at(message, "android")? {
        string_at(android, "ttl")?;
        string_at(android, "biTag")?;
        string_at(android, "data")?;
        if let Some(n) = object_at(android, "notification")? {
            if let Some(t) = string_at(n, "title")? {
                title = Some(t);
            }
            if let Some(b) = string_at(n, "body")? {
                body_text = Some(b);
            }
            let Some(click) = object_at(n, "clickAction")? else {
                return Err(illegal("clickAction must not be null"));
            };
            let has = |name: &str| {
                click
                    .get(name)
                    .and_then(Value::as_str)
                    .is_some_and(|s| !s.is_empty())
            };
            match click.get("type").and_then(Value::as_i64) {
                Some(1) if !has("intent") && !has("action") => {
                    return Err(illegal(
                        "intent or action must be set when clickAction.type is 1",
                    ));
                }
                Some(2) if !has("url") => {
                    return Err(illegal("url must be set when clickAction.type is 2"));
                }
                Some(1..=3) => {}
                _ => return Err(illegal("clickAction.type must be 1, 2 or 3")),
            }
            android_notification = Some(n);
        }
    }
    if top.is_some() || android_notification.is_some() {
        if title.as_deref().is_none_or(str::is_empty) {
            return Err(illegal("title must not be empty"));
        }
        if body_text.as_deref().is_none_or(str::is_empty) {
            return Err(illegal("body must not be empty"));
        }
    } else if data.is_none() {
        return Err(illegal("the message must carry data or a notification"));
    }
    Ok(tokens)
}

/// `POST /auth/realms/developer/protocol/openid-connect/token`, answered as Keycloak does.
fn token(state: &HonorState, request: &Incoming) -> Response {
    let result = lock(&state.oauth).grant_request(
        request,
        state.lifetime_secs.load(Ordering::Relaxed),
        "eyJhbGciOiJSUzI1NiJ9.sandbox-",
    );
    let (status, body, key) = match result {
        Ok((access_token, record)) => (
            200,
            json!({
                "access_token": access_token,
                "expires_in": state.lifetime_secs.load(Ordering::Relaxed),
                "refresh_expires_in": 0,
                "token_type": "Bearer",
                "not-before-policy": 0,
                "scope": "profile email",
            })
            .to_string(),
            Some(record.client_id),
        ),
        Err(refusal) => {
            let (status, error, description) = match refusal {
                GrantRefusal::BadSecret => (
                    401,
                    "unauthorized_client",
                    "Invalid client or Invalid client credentials",
                ),
                GrantRefusal::UnknownClient => (
                    401,
                    "invalid_client",
                    "Invalid client or Invalid client credentials",
                ),
                GrantRefusal::Missing => (401, "invalid_client", "Missing parameter: client_id"),
                GrantRefusal::GrantType => {
                    (400, "unsupported_grant_type", "Unsupported grant_type")
                }
            };
            (
                status,
                json!({"error": error, "error_description": description}).to_string(),
                None,
            )
        }
    };
    state.core.recorder.count_token(key.as_deref());
    state.core.record(request, None, status, &body, true);
    json_response(status, &body, &[("cache-control", "no-store".into())])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code_of(body: &str) -> i64 {
        check(body.as_bytes())
            .err()
            .map(|a| a.code)
            .unwrap_or(code::SUCCESS)
    }

    #[test]
    fn bodies_are_checked() {
        assert_eq!(
            code_of(
                r#"{"android":{"notification":{"title":"t","body":"b","clickAction":{"type":3}}},"token":["a"]}"#
            ),
            code::SUCCESS
        );
        assert_eq!(code_of(r#"{"data":"{}","token":["a"]}"#), code::SUCCESS);
        assert_eq!(code_of(r#"{"data":"{}"}"#), code::PARAMETER_ERROR);
        assert_eq!(
            code_of(r#"{"data":"{}","token":[]}"#),
            code::TOO_MANY_TOKENS
        );
        assert_eq!(
            code_of(r#"{"android":{"notification":{"title":"t","body":"b"}},"token":["a"]}"#),
            code::ILLEGAL_PAYLOAD
        );
        assert_eq!(code_of(r#"{"token":["a"]}"#), code::ILLEGAL_PAYLOAD);
        let big = "x".repeat(MAX_MESSAGE_BYTES);
        assert_eq!(
            code_of(&format!(r#"{{"data":"{big}","token":["a"]}}"#)),
            code::MESSAGE_TOO_BIG
        );
    }
}
