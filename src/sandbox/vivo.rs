//! The vivo Push fake: `POST /message/auth` and the single send `POST /message/send`.
//!
//! Checked as vivo's server API document (PUSH-UPS-API, v2.9.x) describes: JSON bodies, `sign =
//! lowercase hex md5(appId + appKey + timestamp + appSecret)` with a millisecond timestamp within ten
//! minutes, auth tokens living one day sent in the `authToken` header, the send body's `appId` compared with
//! the token's app (`10094`), title at most 40 and content at most 100 "English characters" (a Chinese
//! character counts two), `timeToLive` 900 s..7 days, and answers `{"result", "desc", ...}`.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use axum::{Router, extract::Request, response::Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{
    cnkit::{self, AuthTokens, DailyQuota},
    core::{FakeCore, FaultOutcome, Incoming, json_response, retry_after},
    fault::lock,
    handle::{Fake, VendorState},
    tls::reset_response,
};

/// The auth path.
pub const AUTH_PATH: &str = "/message/auth";
/// The single-send path.
pub const SEND_PATH: &str = "/message/send";
/// Longest title, in vivo's weighted characters.
pub const MAX_TITLE: usize = 40;
/// Longest content, in vivo's weighted characters.
pub const MAX_CONTENT: usize = 100;
/// Longest `requestId`.
pub const MAX_REQUEST_ID: usize = 64;
/// Shortest `timeToLive`, seconds.
pub const MIN_TTL: i64 = 900;
/// Longest `timeToLive`, seconds (seven days).
pub const MAX_TTL: i64 = 7 * 24 * 3600;
/// Most `requestId`s remembered per app for the uniqueness check.
const MAX_REQUEST_IDS: usize = 100_000;

/// vivo result codes the fake answers. Those marked unverified are the fake's choice where the public
/// copies of vivo's document did not show the code.
pub mod code {
    /// Success.
    pub const SUCCESS: i64 = 0;
    /// Auth failure on a send: authToken missing, unknown or expired.
    pub const AUTH_FAILED: i64 = 10000;
    /// Daily send quota exceeded.
    pub const DAILY_QUOTA: i64 = 10070;
    /// Sending too fast.
    pub const TOO_FAST: i64 = 10072;
    /// The body's appId differs from the auth token's.
    pub const APP_ID_MISMATCH: i64 = 10094;
    /// Auth: appId empty.
    pub const APP_ID_EMPTY: i64 = 10200;
    /// Auth: appKey empty.
    pub const APP_KEY_EMPTY: i64 = 10201;
    /// Auth: appKey does not belong to the app (unverified).
    pub const APP_KEY_INVALID: i64 = 10202;
    /// Auth: timestamp empty (unverified).
    pub const TIMESTAMP_EMPTY: i64 = 10203;
    /// Auth: sign empty (unverified).
    pub const SIGN_EMPTY: i64 = 10204;
    /// Auth: no such appId (unverified).
    pub const APP_ID_UNKNOWN: i64 = 10205;
    /// Auth: sign does not verify (unverified).
    pub const SIGN_INVALID: i64 = 10206;
    /// Auth: timestamp not within ten minutes (unverified).
    pub const TIMESTAMP_INVALID: i64 = 10207;
    /// regId and alias both empty (unverified).
    pub const TARGET_EMPTY: i64 = 10050;
    /// notifyType not 1..4 (unverified).
    pub const NOTIFY_TYPE: i64 = 10051;
    /// title empty or too long (unverified).
    pub const TITLE: i64 = 10052;
    /// content empty or too long (unverified).
    pub const CONTENT: i64 = 10053;
    /// timeToLive out of range (unverified).
    pub const TTL: i64 = 10054;
    /// skipType not 1..4 (unverified).
    pub const SKIP_TYPE: i64 = 10055;
    /// skipContent missing or too long (unverified).
    pub const SKIP_CONTENT: i64 = 10056;
    /// requestId empty or too long (unverified).
    pub const REQUEST_ID: i64 = 10057;
    /// requestId already used (unverified).
    pub const REQUEST_ID_DUPLICATE: i64 = 10058;
    /// Body not JSON, or another field of the wrong type or range (unverified).
    pub const INVALID_PARAMETER: i64 = 10059;
    /// regId malformed.
    pub const INVALID_REG_ID: i64 = 10302;
}

/// vivo's description of a result code.
pub fn describe(code: i64) -> &'static str {
    match code {
        0 => "请求成功",
        10000 => "权限认证失败",
        10070 => "发送总量超出限制",
        10072 => "发送频率过快",
        10094 => "appId与鉴权信息不一致",
        10200 => "appId 不能为空",
        10201 => "appKey 不能为空",
        10202 => "appKey 不合法",
        10203 => "timestamp 不能为空",
        10204 => "sign 不能为空",
        10205 => "appId 不存在",
        10206 => "sign 不合法",
        10207 => "timestamp 不合法",
        10050 => "regId和alias不能都为空",
        10051 => "notifyType 不合法",
        10052 => "title 不合法",
        10053 => "content 不合法",
        10054 => "timeToLive 不合法",
        10055 => "skipType 不合法",
        10056 => "skipContent 不合法",
        10057 => "requestId 不合法",
        10058 => "requestId 重复",
        10059 => "参数不合法",
        10252 => "批量发送消息体超出限制",
        10254 => "全量发送超过次数限制",
        10302 => "regId 不合法",
        _ => "系统错误",
    }
}

/// Minted vivo app credentials (what `VivoCredentials` takes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VivoApp {
    /// `appId` (numeric, as vivo's).
    pub app_id: String,
    /// `appKey`.
    pub app_key: String,
    /// `appSecret`.
    pub app_secret: String,
}

#[derive(Default)]
struct Inner {
    apps: HashMap<String, VivoApp>,
    next_app: u64,
    tokens: AuthTokens,
    quota: DailyQuota,
    request_ids: HashMap<String, HashSet<String>>,
}

/// What the vivo handlers share.
pub struct VivoState {
    core: Arc<FakeCore>,
    inner: Mutex<Inner>,
    lifetime_secs: AtomicU64,
}

/// Handle on the running vivo fake; dereferences to its [`FakeCore`].
pub type VivoFake = Fake<VivoState>;

impl VendorState for VivoState {
    fn core(&self) -> &Arc<FakeCore> {
        &self.core
    }
}

impl Fake<VivoState> {
    /// A fake over `core`; returns it and its router.
    pub(crate) fn new(core: Arc<FakeCore>) -> (Self, Router) {
        Self::serve(
            VivoState {
                core,
                inner: Mutex::new(Inner {
                    next_app: 100_001,
                    ..Inner::default()
                }),
                lifetime_secs: AtomicU64::new(cnkit::AUTH_TOKEN_SECS),
            },
            handle,
        )
    }

    /// Registers a new app and returns its `appId`, `appKey` and `appSecret`.
    pub fn mint_app(&self) -> VivoApp {
        let mut inner = lock(&self.state.inner);
        let app = VivoApp {
            app_id: inner.next_app.to_string(),
            app_key: uuid::Uuid::new_v4().to_string(),
            app_secret: uuid::Uuid::new_v4().to_string(),
        };
        inner.next_app += 1;
        inner.apps.insert(app.app_id.clone(), app.clone());
        app
    }

    /// Every auth token issued so far answers `10000`.
    pub fn expire_auth_tokens(&self) {
        lock(&self.state.inner).tokens.expire_all();
    }

    /// Sends accepted per UTC day before `10070` (`None`: unlimited, the default); resets today's count.
    pub fn set_daily_quota(&self, limit: Option<u64>) {
        lock(&self.state.inner).quota.set(limit);
    }

    /// Lifetime of the auth tokens issued from now on (default one day).
    pub fn set_auth_token_lifetime(&self, secs: u64) {
        self.state.lifetime_secs.store(secs, Ordering::Relaxed);
    }
}

impl cnkit::ControlledFake for VivoFake {
    fn mint_app_json(&self) -> Value {
        serde_json::to_value(self.mint_app()).unwrap_or_default()
    }

    fn set_daily_quota(&self, limit: Option<u64>) {
        VivoFake::set_daily_quota(self, limit);
    }
}

fn error_body(code: i64) -> String {
    json!({"result": code, "desc": describe(code)}).to_string()
}

/// A JSON value as text: strings as they are, numbers in decimal.
fn as_text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
    .filter(|s| !s.is_empty())
}

async fn handle(state: Arc<VivoState>, request: Request) -> Response {
    let Some((request, _)) = Incoming::read(request).await else {
        return reset_response();
    };
    match request.uri.path() {
        AUTH_PATH => auth(&state, &request),
        SEND_PATH => send(&state, &request).await,
        _ => {
            let text = "Not Found";
            state.core.record(&request, None, 404, text, false);
            json_response(404, &json!({"error": text}).to_string(), &[])
        }
    }
}

fn auth(state: &VivoState, request: &Incoming) -> Response {
    let (status, text) = match check_auth(state, request) {
        Ok((app_id, token)) => {
            state.core.recorder.count_token(Some(&app_id));
            (
                200,
                json!({"result": 0, "desc": describe(0), "authToken": token}).to_string(),
            )
        }
        Err(405) => {
            state.core.recorder.count_token(None);
            (405, json!({"error": "Method Not Allowed"}).to_string())
        }
        Err(code) => {
            state.core.recorder.count_token(None);
            (200, error_body(code))
        }
    };
    state.core.record(request, None, status, &text, true);
    json_response(status, &text, &[])
}

fn check_auth(state: &VivoState, request: &Incoming) -> Result<(String, String), i64> {
    if request.method != http::Method::POST {
        return Err(405);
    }
    let body: Value = serde_json::from_slice(&request.body).map_err(|_| code::INVALID_PARAMETER)?;
    let app_id = as_text(body.get("appId")).ok_or(code::APP_ID_EMPTY)?;
    let app_key = as_text(body.get("appKey")).ok_or(code::APP_KEY_EMPTY)?;
    let timestamp = as_text(body.get("timestamp")).ok_or(code::TIMESTAMP_EMPTY)?;
    let sign = as_text(body.get("sign")).ok_or(code::SIGN_EMPTY)?;
    let mut inner = lock(&state.inner);
    let app = inner
        .apps
        .get(&app_id)
        .cloned()
        .ok_or(code::APP_ID_UNKNOWN)?;
    if app.app_key != app_key {
        return Err(code::APP_KEY_INVALID);
    }
    let ts: i64 = timestamp.parse().map_err(|_| code::TIMESTAMP_INVALID)?;
    if (request.at_ms - ts).abs() > cnkit::TIMESTAMP_WINDOW_MS {
        return Err(code::TIMESTAMP_INVALID);
    }
    let expected = cnkit::md5_hex(&format!("{app_id}{app_key}{timestamp}{}", app.app_secret));
    // vivo asks for lowercase hex and compares it as such.
    if expected != sign {
        return Err(code::SIGN_INVALID);
    }
    let token = inner.tokens.issue(
        &app_id,
        request.at_ms,
        state.lifetime_secs.load(Ordering::Relaxed),
    );
    Ok((app_id, token))
}

/// vivo's length of a title or content: a Chinese (non-ASCII) character counts two, an emoji one.
pub fn weighted_len(s: &str) -> usize {
    s.chars()
        .map(|c| match c as u32 {
            0..=0x7f => 1,
            0x10000.. => 1,
            _ => 2,
        })
        .sum()
}

/// Whether `id` looks like a vivo regId (word characters, at most 64).
fn well_formed(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn int(value: Option<&Value>) -> Option<i64> {
    let value = value?;
    value
        .as_i64()
        .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
}

/// A checked send body: its target and request id.
struct Checked {
    reg_id: String,
    request_id: String,
}

fn check_send(body: &Value) -> Result<Checked, i64> {
    if !body.is_object() {
        return Err(code::INVALID_PARAMETER);
    }
    let reg_id = match body.get("regId") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::String(_)) | Some(Value::Null) | None => {
            // Alias sends are not served by the fake: a regId is required.
            return Err(code::TARGET_EMPTY);
        }
        Some(_) => return Err(code::INVALID_REG_ID),
    };
    match int(body.get("notifyType")) {
        Some(1..=4) => {}
        _ => return Err(code::NOTIFY_TYPE),
    }
    for (name, max, c) in [
        ("title", MAX_TITLE, code::TITLE),
        ("content", MAX_CONTENT, code::CONTENT),
    ] {
        match body.get(name) {
            Some(Value::String(s)) if !s.trim().is_empty() && weighted_len(s) <= max => {}
            _ => return Err(c),
        }
    }
    match body.get("timeToLive") {
        None | Some(Value::Null) => {}
        v => match int(v) {
            Some(t) if (MIN_TTL..=MAX_TTL).contains(&t) => {}
            _ => return Err(code::TTL),
        },
    }
    let skip_type = match int(body.get("skipType")) {
        Some(t @ 1..=4) => t,
        _ => return Err(code::SKIP_TYPE),
    };
    match (skip_type, body.get("skipContent")) {
        (1, None | Some(Value::Null)) => {}
        (1, Some(Value::String(_))) => {}
        (2, Some(Value::String(s))) if !s.is_empty() && s.chars().count() <= 1000 => {}
        (3 | 4, Some(Value::String(s))) if !s.is_empty() && s.chars().count() <= 1024 => {}
        _ => return Err(code::SKIP_CONTENT),
    }
    let request_id = match body.get("requestId") {
        Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= MAX_REQUEST_ID => s.clone(),
        _ => return Err(code::REQUEST_ID),
    };
    match body.get("classification") {
        None | Some(Value::Null) => {}
        v => {
            if !matches!(int(v), Some(0 | 1)) {
                return Err(code::INVALID_PARAMETER);
            }
        }
    }
    match body.get("pushMode") {
        None | Some(Value::Null) => {}
        v => {
            if !matches!(int(v), Some(0 | 1)) {
                return Err(code::INVALID_PARAMETER);
            }
        }
    }
    if let Some(category) = body.get("category").filter(|v| !v.is_null())
        && !category.is_string()
    {
        return Err(code::INVALID_PARAMETER);
    }
    match body.get("clientCustomMap") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) if map.values().all(Value::is_string) => {}
        _ => return Err(code::INVALID_PARAMETER),
    }
    match body.get("extra") {
        None | Some(Value::Null) => {}
        Some(Value::Object(extra)) => {
            let callback = extra.get("callback").and_then(Value::as_str);
            let param = extra.get("callback.param").and_then(Value::as_str);
            if callback.is_some_and(|c| c.chars().count() > 128)
                || param.is_some_and(|p| p.chars().count() > 64)
            {
                return Err(code::INVALID_PARAMETER);
            }
        }
        Some(_) => return Err(code::INVALID_PARAMETER),
    }
    Ok(Checked { reg_id, request_id })
}

async fn send(state: &VivoState, request: &Incoming) -> Response {
    let parsed: Option<Value> = serde_json::from_slice(&request.body).ok();
    let reg_id = parsed
        .as_ref()
        .and_then(|b| b.get("regId"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let (status, text, retry_after_secs) = match state.core.apply_faults(None).await {
        FaultOutcome::Reset => return state.core.reset_send(request, reg_id),
        FaultOutcome::Error {
            status,
            reason,
            retry_after_secs,
        } => match reason.trim().parse::<i64>() {
            Ok(c) => (status, error_body(c), retry_after_secs),
            Err(_) => {
                return cnkit::http_fault(&state.core, request, reg_id, status, retry_after_secs);
            }
        },
        FaultOutcome::Proceed => match answer(state, request, parsed.as_ref()).await {
            Some((status, text)) => (status, text, None),
            None => return state.core.reset_send(request, reg_id),
        },
    };
    let ok = status == 200
        && serde_json::from_str::<Value>(&text)
            .is_ok_and(|v| v["result"] == 0 && v.get("invalidUser").is_none());
    let headers = retry_after(retry_after_secs);
    state
        .core
        .answer_send(request, reg_id, status, &text, &headers, ok)
}

/// The status and body answering a send, or `None` to reset the stream.
async fn answer(
    state: &VivoState,
    request: &Incoming,
    body: Option<&Value>,
) -> Option<(u16, String)> {
    if request.method != http::Method::POST {
        return Some((405, json!({"error": "Method Not Allowed"}).to_string()));
    }
    let Some(token) = request.header("authtoken").filter(|t| !t.is_empty()) else {
        return Some((200, error_body(code::AUTH_FAILED)));
    };
    let app_id = match lock(&state.inner).tokens.check(token, request.at_ms) {
        Ok(app) => app,
        Err(_) => return Some((200, error_body(code::AUTH_FAILED))),
    };
    let Some(body) = body else {
        return Some((200, error_body(code::INVALID_PARAMETER)));
    };
    if let Some(given) = as_text(body.get("appId"))
        && given != app_id
    {
        return Some((200, error_body(code::APP_ID_MISMATCH)));
    }
    let checked = match check_send(body) {
        Ok(c) => c,
        Err(c) => return Some((200, error_body(c))),
    };
    let mut invalid_status = None;
    match state.core.apply_token_faults(&checked.reg_id).await {
        FaultOutcome::Reset => return None,
        FaultOutcome::Error { status, reason, .. } => match reason.trim().parse::<i64>() {
            Ok(s @ 1..=4) => invalid_status = Some(s),
            Ok(c) => return Some((status, error_body(c))),
            Err(_) => return Some((200, error_body(code::INVALID_REG_ID))),
        },
        FaultOutcome::Proceed => {}
    }
    if !well_formed(&checked.reg_id) {
        return Some((200, error_body(code::INVALID_REG_ID)));
    }
    if invalid_status.is_none() && state.core.is_invalidated(&checked.reg_id) {
        invalid_status = Some(1);
    }
    {
        let mut inner = lock(&state.inner);
        let ids = inner.request_ids.entry(app_id.clone()).or_default();
        if ids.contains(&checked.request_id) {
            return Some((200, error_body(code::REQUEST_ID_DUPLICATE)));
        }
        if invalid_status.is_none() && !inner.quota.take(1, request.at_ms) {
            return Some((200, error_body(code::DAILY_QUOTA)));
        }
        let ids = inner.request_ids.entry(app_id).or_default();
        if ids.len() >= MAX_REQUEST_IDS {
            ids.clear();
        }
        ids.insert(checked.request_id);
    }
    let mut out = json!({"result": 0, "desc": describe(0), "taskId": task_id()});
    if let Some(status) = invalid_status {
        out["invalidUser"] = json!({"userid": checked.reg_id, "status": status});
    }
    Some((200, out.to_string()))
}

fn task_id() -> String {
    let n = u64::from_str_radix(&cnkit::random_hex(15), 16).unwrap_or(1);
    (n % 900_000_000_000_000_000 + 100_000_000_000_000_000).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send_body() -> Value {
        json!({"appId": "1", "regId": "abc_123", "notifyType": 1, "title": "t", "content": "c",
            "skipType": 1, "requestId": "r1", "timeToLive": 900, "classification": 1,
            "clientCustomMap": {"k": "v"}})
    }

    #[test]
    fn sends_are_checked_like_vivo() {
        assert!(check_send(&send_body()).is_ok());
        assert_eq!(weighted_len("你好ab"), 6);
        let with = |key: &str, value: Value| {
            let mut b = send_body();
            b[key] = value;
            check_send(&b).err()
        };
        assert_eq!(with("notifyType", json!(5)), Some(code::NOTIFY_TYPE));
        assert_eq!(with("title", json!("t".repeat(41))), Some(code::TITLE));
        assert_eq!(with("title", json!("你".repeat(20))), None);
        assert_eq!(with("title", json!("你".repeat(21))), Some(code::TITLE));
        assert_eq!(with("content", json!("c".repeat(101))), Some(code::CONTENT));
        assert_eq!(with("timeToLive", json!(899)), Some(code::TTL));
        assert_eq!(with("timeToLive", json!(MAX_TTL + 1)), Some(code::TTL));
        assert_eq!(with("skipType", json!(2)), Some(code::SKIP_CONTENT));
        assert_eq!(
            with("requestId", json!("r".repeat(65))),
            Some(code::REQUEST_ID)
        );
        assert_eq!(
            with("classification", json!(2)),
            Some(code::INVALID_PARAMETER)
        );
    }
}
