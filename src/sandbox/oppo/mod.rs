//! The OPPO Push fake: `POST /server/v1/auth` and the notification unicast and batch-unicast endpoints.
//!
//! Checked as OPPO documents them (OPPO open platform "调用地址，公共参数和返回码", "单点推送", and the
//! official `opush-server-sdk`): form-encoded requests, `sign = hex(sha256(app_key + timestamp +
//! master_secret))` with a millisecond timestamp within ten minutes, auth tokens living 24 hours sent as the
//! `auth_token` form field, `message`/`messages` JSON strings (at most 1000 messages a batch) with
//! snake_case notification fields (the camelCase spellings OPPO's newer pages show are accepted too), and
//! answers `{"code", "message", "data"}` with OPPO's return codes. The checks of the `message` objects are
//! in `message.rs`.

mod message;

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use axum::{Router, extract::Request, response::Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use message::{check_message, field, invalid, missing, well_formed};

use super::{
    cnkit::{self, AuthTokens, DailyQuota},
    core::{FakeCore, FaultOutcome, Incoming, json_response, retry_after},
    fault::lock,
    form,
    handle::{Fake, VendorState},
    tls::reset_response,
    tokens::TokenRefusal,
};

/// The auth path.
pub const AUTH_PATH: &str = "/server/v1/auth";
/// The single-message notification path.
pub const UNICAST_PATH: &str = "/server/v1/message/notification/unicast";
/// The batch notification path.
pub const UNICAST_BATCH_PATH: &str = "/server/v1/message/notification/unicast_batch";
/// Most messages in one batch request.
pub const MAX_BATCH: usize = 1000;
/// Longest notification title, in characters (official SDK's check).
pub const MAX_TITLE: usize = 50;
/// Longest notification content, in characters.
pub const MAX_CONTENT: usize = 200;
/// Longest offline time-to-live, seconds (ten days).
pub const MAX_OFF_LINE_TTL: i64 = 864_000;

/// OPPO return codes the fake answers.
pub mod code {
    /// Service in flow control.
    pub const FLOW_CONTROL: i64 = -2;
    /// Service currently unavailable.
    pub const UNAVAILABLE: i64 = -1;
    /// Success.
    pub const SUCCESS: i64 = 0;
    /// Invalid (unknown or expired) auth token.
    pub const INVALID_AUTH_TOKEN: i64 = 11;
    /// Wrong HTTP method.
    pub const HTTP_ACTION_NOT_ALLOWED: i64 = 12;
    /// App call limit (frequency included).
    pub const APP_CALL_LIMITED: i64 = 13;
    /// Unknown app key.
    pub const INVALID_APP_KEY: i64 = 14;
    /// No app key.
    pub const MISSING_APP_KEY: i64 = 15;
    /// Signature does not verify.
    pub const INVALID_SIGNATURE: i64 = 16;
    /// No signature.
    pub const MISSING_SIGNATURE: i64 = 17;
    /// No timestamp.
    pub const MISSING_TIMESTAMP: i64 = 18;
    /// Timestamp not a number or outside the window.
    pub const INVALID_TIMESTAMP: i64 = 19;
    /// Unknown method (path).
    pub const INVALID_METHOD: i64 = 20;
    /// No auth token.
    pub const MISSING_AUTH_TOKEN: i64 = 29;
    /// Daily message limit reached.
    pub const DAILY_LIMIT: i64 = 33;
    /// A required argument is missing.
    pub const MISSING_ARGUMENTS: i64 = 40;
    /// An argument is invalid.
    pub const INVALID_ARGUMENTS: i64 = 41;
    /// App call frequency limit.
    pub const FREQUENCY_LIMIT: i64 = 55;
    /// Registration id malformed or not registered.
    pub const INVALID_REGISTRATION_ID: i64 = 10000;
}

/// OPPO's English description of a return code.
pub fn describe(code: i64) -> &'static str {
    match code {
        -2 => "Service in Flow Control",
        -1 => "Service Currently Unavailable",
        0 => "Success",
        11 => "Invalid AuthToken",
        12 => "Http Action Not Allowed",
        13 => "App Call Limited",
        14 => "Invalid App Key",
        15 => "Missing App Key",
        16 => "Invalid Signature",
        17 => "Missing Signature",
        18 => "Missing Timestamp",
        19 => "Invalid Timestamp",
        20 => "Invalid Method",
        28 => "App Disabled",
        29 => "Missing Auth Token",
        30 => "Api Permission Denied",
        33 => "The number of messages exceeds the daily limit",
        40 => "Missing Required Arguments",
        41 => "Invalid Arguments",
        55 => "App Call Frequency Limit",
        10000 => "Invalid Registration_id",
        _ => "Error",
    }
}

/// Minted OPPO app credentials (what `OppoCredentials` takes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OppoApp {
    /// `app_key`.
    pub app_key: String,
    /// `master_secret`.
    pub master_secret: String,
}

#[derive(Default)]
struct Inner {
    apps: HashMap<String, String>,
    tokens: AuthTokens,
    quota: DailyQuota,
}

/// What the OPPO handlers share.
pub struct OppoState {
    core: Arc<FakeCore>,
    inner: Mutex<Inner>,
    lifetime_secs: AtomicU64,
}

/// Handle on the running OPPO fake; dereferences to its [`FakeCore`].
pub type OppoFake = Fake<OppoState>;

impl VendorState for OppoState {
    fn core(&self) -> &Arc<FakeCore> {
        &self.core
    }
}

impl Fake<OppoState> {
    /// A fake over `core`; returns it and its router.
    pub(crate) fn new(core: Arc<FakeCore>) -> (Self, Router) {
        Self::serve(
            OppoState {
                core,
                inner: Mutex::new(Inner::default()),
                lifetime_secs: AtomicU64::new(cnkit::AUTH_TOKEN_SECS),
            },
            handle,
        )
    }

    /// Registers a new app and returns its `app_key` and `master_secret`.
    pub fn mint_app(&self) -> OppoApp {
        let app = OppoApp {
            app_key: cnkit::random_hex(32),
            master_secret: cnkit::random_hex(32),
        };
        lock(&self.state.inner)
            .apps
            .insert(app.app_key.clone(), app.master_secret.clone());
        app
    }

    /// Every auth token issued so far answers code 11.
    pub fn expire_auth_tokens(&self) {
        lock(&self.state.inner).tokens.expire_all();
    }

    /// Messages accepted per UTC day before code 33 (`None`: unlimited, the default); resets today's count.
    pub fn set_daily_quota(&self, limit: Option<u64>) {
        lock(&self.state.inner).quota.set(limit);
    }

    /// Lifetime of the auth tokens issued from now on (default 24 h).
    pub fn set_auth_token_lifetime(&self, secs: u64) {
        self.state.lifetime_secs.store(secs, Ordering::Relaxed);
    }
}

impl cnkit::ControlledFake for OppoFake {
    fn mint_app_json(&self) -> Value {
        serde_json::to_value(self.mint_app()).unwrap_or_default()
    }

    fn set_daily_quota(&self, limit: Option<u64>) {
        OppoFake::set_daily_quota(self, limit);
    }
}

/// An OPPO answer body.
fn body(code: i64, message: &str, data: Option<Value>) -> String {
    let mut out = json!({"code": code, "message": message});
    if let Some(data) = data {
        out["data"] = data;
    }
    out.to_string()
}

fn error_body(code: i64) -> String {
    body(code, describe(code), None)
}

async fn handle(state: Arc<OppoState>, request: Request) -> Response {
    let Some((request, _)) = Incoming::read(request).await else {
        return reset_response();
    };
    match request.uri.path() {
        AUTH_PATH => auth(&state, &request),
        UNICAST_PATH => send(&state, &request, false).await,
        UNICAST_BATCH_PATH => send(&state, &request, true).await,
        _ => {
            let text = error_body(code::INVALID_METHOD);
            state.core.record(&request, None, 404, &text, false);
            json_response(404, &text, &[])
        }
    }
}

fn auth(state: &OppoState, request: &Incoming) -> Response {
    let result = check_auth(state, request);
    let text = match &result {
        Ok((app_key, token)) => {
            state.core.recorder.count_token(Some(app_key));
            body(
                code::SUCCESS,
                "Success",
                Some(json!({"auth_token": token, "create_time": request.at_ms})),
            )
        }
        Err(code) => {
            state.core.recorder.count_token(None);
            error_body(*code)
        }
    };
    state.core.record(request, None, 200, &text, true);
    json_response(200, &text, &[])
}

fn check_auth(state: &OppoState, request: &Incoming) -> Result<(String, String), i64> {
    if request.method != http::Method::POST {
        return Err(code::HTTP_ACTION_NOT_ALLOWED);
    }
    let form = form::parse_pairs(&request.body);
    let app_key = form::get(&form, "app_key")
        .filter(|v| !v.is_empty())
        .ok_or(code::MISSING_APP_KEY)?;
    let sign = form::get(&form, "sign")
        .filter(|v| !v.is_empty())
        .ok_or(code::MISSING_SIGNATURE)?;
    let timestamp = form::get(&form, "timestamp")
        .filter(|v| !v.is_empty())
        .ok_or(code::MISSING_TIMESTAMP)?;
    let ts: i64 = timestamp.parse().map_err(|_| code::INVALID_TIMESTAMP)?;
    if (request.at_ms - ts).abs() > cnkit::TIMESTAMP_WINDOW_MS {
        return Err(code::INVALID_TIMESTAMP);
    }
    let mut inner = lock(&state.inner);
    let secret = inner
        .apps
        .get(app_key)
        .cloned()
        .ok_or(code::INVALID_APP_KEY)?;
    let expected = cnkit::sha256_hex(&format!("{app_key}{timestamp}{secret}"));
    if !expected.eq_ignore_ascii_case(sign) {
        return Err(code::INVALID_SIGNATURE);
    }
    let token = inner.tokens.issue(
        app_key,
        request.at_ms,
        state.lifetime_secs.load(Ordering::Relaxed),
    );
    Ok((app_key.to_owned(), token))
}

fn message_id() -> String {
    format!("sandbox-1-1-{}", cnkit::random_hex(24))
}

/// The outcome of one target.
enum Target {
    Ok,
    Failed(i64),
}

async fn send(state: &OppoState, request: &Incoming, batch: bool) -> Response {
    let form = form::parse_pairs(&request.body);
    let single_target = (!batch)
        .then(|| form::get(&form, "message"))
        .flatten()
        .and_then(|m| serde_json::from_str::<Value>(m).ok())
        .and_then(|m| {
            field(&m, "target_value", "targetValue").and_then(|v| v.as_str().map(str::to_owned))
        });
    let (status, text, retry_after_secs) = match state.core.apply_faults(None).await {
        FaultOutcome::Reset => return state.core.reset_send(request, single_target),
        FaultOutcome::Error {
            status,
            reason,
            retry_after_secs,
        } => match reason.trim().parse::<i64>() {
            Ok(c) => (status, error_body(c), retry_after_secs),
            Err(_) => {
                return cnkit::http_fault(
                    &state.core,
                    request,
                    single_target,
                    status,
                    retry_after_secs,
                );
            }
        },
        FaultOutcome::Proceed => match answer(state, request, &form, batch).await {
            Some(text) => (200, text, None),
            None => return state.core.reset_send(request, single_target),
        },
    };
    let ok = status == 200
        && serde_json::from_str::<Value>(&text).is_ok_and(|v| v["code"] == code::SUCCESS);
    state.core.answer_send(
        request,
        single_target,
        status,
        &text,
        &retry_after(retry_after_secs),
        ok,
    )
}

/// The answer body to a send request, or `None` to reset the stream.
async fn answer(
    state: &OppoState,
    request: &Incoming,
    form: &[(String, String)],
    batch: bool,
) -> Option<String> {
    if request.method != http::Method::POST {
        return Some(error_body(code::HTTP_ACTION_NOT_ALLOWED));
    }
    let Some(token) = form::get(form, "auth_token").filter(|t| !t.is_empty()) else {
        return Some(error_body(code::MISSING_AUTH_TOKEN));
    };
    if let Err(TokenRefusal::Unknown | TokenRefusal::Expired) =
        lock(&state.inner).tokens.check(token, request.at_ms)
    {
        return Some(error_body(code::INVALID_AUTH_TOKEN));
    }
    let messages: Vec<Value> = if batch {
        let Some(raw) = form::get(form, "messages").filter(|m| !m.is_empty()) else {
            return Some(body(code::MISSING_ARGUMENTS, &missing("messages").1, None));
        };
        match serde_json::from_str::<Value>(raw) {
            Ok(Value::Array(list)) if list.is_empty() => {
                return Some(body(code::MISSING_ARGUMENTS, &missing("messages").1, None));
            }
            Ok(Value::Array(list)) if list.len() > MAX_BATCH => {
                let r = invalid(&format!("messages holds more than {MAX_BATCH} messages"));
                return Some(body(r.0, &r.1, None));
            }
            Ok(Value::Array(list)) => list,
            _ => {
                let r = invalid("messages must be a JSON array");
                return Some(body(r.0, &r.1, None));
            }
        }
    } else {
        let Some(raw) = form::get(form, "message").filter(|m| !m.is_empty()) else {
            return Some(body(code::MISSING_ARGUMENTS, &missing("message").1, None));
        };
        match serde_json::from_str::<Value>(raw) {
            Ok(m) => vec![m],
            Err(_) => {
                let r = invalid("message must be a JSON object");
                return Some(body(r.0, &r.1, None));
            }
        }
    };
    let mut targets = Vec::with_capacity(messages.len());
    for (i, m) in messages.iter().enumerate() {
        match check_message(m) {
            Ok(t) => targets.push(t),
            Err((c, text)) => {
                let text = if batch {
                    format!("{text} (messages[{i}])")
                } else {
                    text
                };
                return Some(body(c, &text, None));
            }
        }
    }
    let mut outcomes = Vec::with_capacity(targets.len());
    for target in &targets {
        let outcome = match state.core.apply_token_faults(target).await {
            FaultOutcome::Reset => return None,
            FaultOutcome::Error { reason, .. } => Target::Failed(
                reason
                    .trim()
                    .parse()
                    .unwrap_or(code::INVALID_REGISTRATION_ID),
            ),
            FaultOutcome::Proceed if !well_formed(target) || state.core.is_invalidated(target) => {
                Target::Failed(code::INVALID_REGISTRATION_ID)
            }
            FaultOutcome::Proceed => Target::Ok,
        };
        outcomes.push(outcome);
    }
    let deliverable = outcomes.iter().filter(|o| matches!(o, Target::Ok)).count() as u64;
    if deliverable > 0 && !lock(&state.inner).quota.take(deliverable, request.at_ms) {
        return Some(error_body(code::DAILY_LIMIT));
    }
    if !batch {
        return Some(match outcomes[0] {
            Target::Ok => body(
                code::SUCCESS,
                "Success",
                Some(json!({ "messageId": message_id() })),
            ),
            Target::Failed(c) => error_body(c),
        });
    }
    let data: Vec<Value> = targets
        .iter()
        .zip(&outcomes)
        .map(|(target, outcome)| {
            let mut entry = json!({"messageId": message_id(), "registrationId": target});
            if let Target::Failed(c) = outcome {
                entry["errorCode"] = json!(c);
                entry["errorMessage"] = json!(describe(*c));
            }
            entry
        })
        .collect();
    Some(body(code::SUCCESS, "Success", Some(Value::Array(data))))
}
