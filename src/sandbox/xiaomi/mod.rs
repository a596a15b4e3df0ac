//! The Xiaomi MiPush fake: `POST /v3/message/regid` (`api.xmpush.xiaomi.com`), form-urlencoded, with
//! `Authorization: key=<app secret>`.
//!
//! Sources: Xiaomi's MiPush "服务端 HTTP API" docs and the official Java server SDK's parameter names
//! (`registration_id`, `restricted_package_name`, `payload`, `title`, `description`, `pass_through`,
//! `notify_type`, `time_to_live`, `notify_id`, `extra.*`), answer shape `{"result","code","trace_id",
//! "data":{"id","bad_regids"},"description","reason"}` and `21301` (authentication failed). From a
//! colleague's reading of Xiaomi's error-code table, not re-confirmed here: `20301` (no valid targets),
//! `200001` (daily quota exceeded), `10016` (a required parameter is missing), `10017` (a parameter value
//! is invalid), `10001` (system error); and that business errors come with HTTP 200.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use axum::{Router, extract::Request, response::Response};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{
    batch::{self, Verdict},
    core::{FakeCore, FaultOutcome, Incoming, retry_after},
    fault::lock,
    form,
    handle::{Fake, VendorState},
    tls::reset_response,
};

/// The send path.
pub const SEND_PATH: &str = "/v3/message/regid";
/// Most registration ids in one request.
pub const MAX_REGIDS: usize = 1000;
/// `title` must be shorter than this many characters.
pub const MAX_TITLE_CHARS: usize = 50;
/// `description` must be shorter than this many characters.
pub const MAX_DESCRIPTION_CHARS: usize = 128;
/// Largest `payload`, in bytes.
pub const MAX_PAYLOAD_BYTES: usize = 4096;
/// Longest `time_to_live` (two weeks), in ms.
pub const MAX_TIME_TO_LIVE_MS: u64 = 14 * 24 * 3600 * 1000;
/// Default daily quota of messages (one per registration id delivered) per app: high enough to never
/// bite unless a test lowers it.
pub const DEFAULT_DAILY_QUOTA: u64 = 1_000_000_000;
/// Longest registration id accepted as well formed.
const MAX_REGID_LEN: usize = 256;

/// MiPush answer codes.
pub mod code {
    /// Success.
    pub const OK: i64 = 0;
    /// System error (retry).
    pub const SYSTEM_ERROR: i64 = 10001;
    /// A required parameter is missing.
    pub const MISSING_PARAMETER: i64 = 10016;
    /// A parameter value is invalid.
    pub const INVALID_PARAMETER: i64 = 10017;
    /// No valid targets: every registration id was bad, or none belongs to the package.
    pub const NO_VALID_TARGETS: i64 = 20301;
    /// Authentication failed: missing or wrong app secret.
    pub const AUTH_FAILED: i64 = 21301;
    /// The app's daily quota is used up.
    pub const QUOTA_EXCEEDED: i64 = 200001;
}

fn description_for(code: i64) -> &'static str {
    match code {
        code::OK => "成功",
        code::SYSTEM_ERROR => "系统错误",
        code::MISSING_PARAMETER => "缺失必选参数",
        code::INVALID_PARAMETER => "参数值非法",
        code::NO_VALID_TARGETS => "发送消息失败",
        code::AUTH_FAILED => "认证失败",
        code::QUOTA_EXCEEDED => "超过每日推送配额",
        _ => "错误",
    }
}

/// A minted Xiaomi app: what the MiPush console shows for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct XiaomiApp {
    /// The app secret (`Authorization: key=<secret>`).
    pub app_secret: String,
    /// The Android package name (`restricted_package_name`).
    pub package_name: String,
}

#[derive(Debug, Default)]
struct Usage {
    day: i64,
    used: u64,
}

/// What the Xiaomi handlers share.
pub struct XiaomiState {
    core: Arc<FakeCore>,
    /// Package name and today's usage, by app secret.
    apps: Mutex<HashMap<String, (String, Usage)>>,
    daily_quota: AtomicU64,
}

/// Handle on the running Xiaomi fake. Dereferences to the shared [`FakeCore`].
pub type XiaomiFake = Fake<XiaomiState>;

impl VendorState for XiaomiState {
    fn core(&self) -> &Arc<FakeCore> {
        &self.core
    }
}

impl Fake<XiaomiState> {
    /// A fake over `core`; returns it and its router.
    pub(crate) fn new(core: Arc<FakeCore>) -> (Self, Router) {
        Self::serve(
            XiaomiState {
                core,
                apps: Mutex::new(HashMap::new()),
                daily_quota: AtomicU64::new(DEFAULT_DAILY_QUOTA),
            },
            handle,
        )
    }

    /// `https://host:port/v3/message/regid`.
    pub fn send_url(&self) -> String {
        format!("{}{SEND_PATH}", self.state.core.base_url())
    }

    /// Registers a new app for `package_name` with a random secret and returns its credentials.
    pub fn mint_app(&self, package_name: &str) -> XiaomiApp {
        let secret = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 16]>());
        lock(&self.state.apps).insert(secret.clone(), (package_name.to_owned(), Usage::default()));
        XiaomiApp {
            app_secret: secret,
            package_name: package_name.to_owned(),
        }
    }

    /// Messages (registration ids delivered) each app may send a day (UTC) before `200001`.
    pub fn set_daily_quota(&self, messages: u64) {
        self.state.daily_quota.store(messages, Ordering::Relaxed);
    }

    /// Forgets today's usage of every app.
    pub fn reset_quota_usage(&self) {
        for (_, usage) in lock(&self.state.apps).values_mut() {
            usage.used = 0;
        }
    }
}

/// One answer.
struct Answer {
    status: u16,
    body: serde_json::Value,
    retry_after_secs: Option<u64>,
}

fn trace_id() -> String {
    format!("Xcm{}", &uuid::Uuid::new_v4().simple().to_string()[..19])
}

fn error(code: i64, reason: impl Into<String>) -> Answer {
    Answer {
        status: 200,
        body: json!({
            "result": "error",
            "code": code,
            "description": description_for(code),
            "reason": reason.into(),
            "trace_id": trace_id(),
        }),
        retry_after_secs: None,
    }
}

/// Whether `regid` could be a MiPush registration id (base64-ish; no commas or spaces).
pub fn well_formed(regid: &str) -> bool {
    !regid.is_empty()
        && regid.len() <= MAX_REGID_LEN
        && regid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_'))
}

fn regids_of(form: &HashMap<String, String>) -> Vec<String> {
    form.get("registration_id")
        .map(|ids| {
            ids.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

async fn handle(state: Arc<XiaomiState>, request: Request) -> Response {
    let Some((request, _)) = Incoming::read(request).await else {
        return reset_response();
    };
    let form = form::parse_map(&request.body);
    let regids = regids_of(&form);
    let device_token = batch::count(&state.core, &regids);
    let answer = match state.core.apply_faults(None).await {
        FaultOutcome::Reset => None,
        FaultOutcome::Error {
            status,
            reason,
            retry_after_secs,
        } => {
            let code = reason.parse::<i64>().unwrap_or(if status >= 500 {
                code::SYSTEM_ERROR
            } else {
                code::INVALID_PARAMETER
            });
            let mut answer = error(
                code,
                if reason.is_empty() {
                    "fault".to_owned()
                } else {
                    reason
                },
            );
            answer.status = status;
            answer.retry_after_secs = retry_after_secs;
            Some(answer)
        }
        FaultOutcome::Proceed => send(&state, &request, &form, &regids).await,
    };
    let Some(answer) = answer else {
        return state.core.reset_send(&request, device_token);
    };
    let body = answer.body.to_string();
    let ok = answer.status == 200 && answer.body["result"] == "ok";
    state.core.answer_send(
        &request,
        device_token,
        answer.status,
        &body,
        &retry_after(answer.retry_after_secs),
        ok,
    )
}

/// Checks the message fields other than the targets.
fn check_fields(form: &HashMap<String, String>) -> Result<(), Answer> {
    let get = |name: &str| form.get(name).map(String::as_str);
    let pass_through = match get("pass_through") {
        None | Some("0") => false,
        Some("1") => true,
        Some(other) => {
            return Err(error(
                code::INVALID_PARAMETER,
                format!("pass_through must be 0 or 1, got {other:?}"),
            ));
        }
    };
    if let Some(payload) = get("payload")
        && payload.len() > MAX_PAYLOAD_BYTES
    {
        return Err(error(
            code::INVALID_PARAMETER,
            format!("payload is longer than {MAX_PAYLOAD_BYTES} bytes"),
        ));
    }
    if pass_through {
        if get("payload").is_none_or(str::is_empty) {
            return Err(error(
                code::MISSING_PARAMETER,
                "payload is required for a pass-through message",
            ));
        }
    } else {
        for name in ["title", "description"] {
            if get(name).is_none_or(str::is_empty) {
                return Err(error(
                    code::MISSING_PARAMETER,
                    format!("{name} is required for a notification message"),
                ));
            }
        }
    }
    if let Some(title) = get("title")
        && title.chars().count() >= MAX_TITLE_CHARS
    {
        return Err(error(
            code::INVALID_PARAMETER,
            format!("title must be shorter than {MAX_TITLE_CHARS} characters"),
        ));
    }
    if let Some(description) = get("description")
        && description.chars().count() >= MAX_DESCRIPTION_CHARS
    {
        return Err(error(
            code::INVALID_PARAMETER,
            format!("description must be shorter than {MAX_DESCRIPTION_CHARS} characters"),
        ));
    }
    if let Some(notify_type) = get("notify_type")
        && !notify_type
            .parse::<i64>()
            .is_ok_and(|n| n == -1 || (1..=7).contains(&n))
    {
        return Err(error(
            code::INVALID_PARAMETER,
            format!("notify_type must be -1 or 1..7, got {notify_type:?}"),
        ));
    }
    if let Some(ttl) = get("time_to_live")
        && !ttl.parse::<u64>().is_ok_and(|n| n <= MAX_TIME_TO_LIVE_MS)
    {
        return Err(error(
            code::INVALID_PARAMETER,
            format!("time_to_live must be 0..{MAX_TIME_TO_LIVE_MS} ms, got {ttl:?}"),
        ));
    }
    if let Some(id) = get("notify_id")
        && id.parse::<u32>().is_err()
    {
        return Err(error(
            code::INVALID_PARAMETER,
            format!("notify_id must be a non-negative integer, got {id:?}"),
        ));
    }
    match get("extra.notify_effect") {
        None | Some("1") => {}
        Some("2") if get("extra.intent_uri").is_none_or(str::is_empty) => {
            return Err(error(
                code::MISSING_PARAMETER,
                "extra.intent_uri is required when extra.notify_effect is 2",
            ));
        }
        Some("3") if get("extra.web_uri").is_none_or(str::is_empty) => {
            return Err(error(
                code::MISSING_PARAMETER,
                "extra.web_uri is required when extra.notify_effect is 3",
            ));
        }
        Some("2" | "3") => {}
        Some(other) => {
            return Err(error(
                code::INVALID_PARAMETER,
                format!("extra.notify_effect must be 1, 2 or 3, got {other:?}"),
            ));
        }
    }
    Ok(())
}

/// `POST /v3/message/regid`; `None` when a token-scoped fault asks for a reset.
async fn send(
    state: &XiaomiState,
    request: &Incoming,
    form: &HashMap<String, String>,
    regids: &[String],
) -> Option<Answer> {
    if request.uri.path() != SEND_PATH {
        let mut answer = error(code::INVALID_PARAMETER, "no such API");
        answer.status = 404;
        return Some(answer);
    }
    if request.method != http::Method::POST {
        let mut answer = error(code::INVALID_PARAMETER, "request method not supported");
        answer.status = 405;
        return Some(answer);
    }
    let secret = request
        .header("authorization")
        .and_then(|v| v.trim().strip_prefix("key="))
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let package = secret.and_then(|s| lock(&state.apps).get(s).map(|(p, _)| p.clone()));
    let (Some(secret), Some(package)) = (secret, package) else {
        return Some(error(code::AUTH_FAILED, "Invalid application secret."));
    };
    match form.get("restricted_package_name").map(String::as_str) {
        None | Some("") => {
            return Some(error(
                code::MISSING_PARAMETER,
                "restricted_package_name is required",
            ));
        }
        // Every registration id of this app belongs to its own package: another package has no targets.
        Some(name) if name != package => {
            return Some(error(code::NO_VALID_TARGETS, "No valid targets!"));
        }
        Some(_) => {}
    }
    if regids.is_empty() {
        return Some(error(
            code::MISSING_PARAMETER,
            "registration_id is required",
        ));
    }
    if regids.len() > MAX_REGIDS {
        return Some(error(
            code::INVALID_PARAMETER,
            format!(
                "at most {MAX_REGIDS} registration ids a request, got {}",
                regids.len()
            ),
        ));
    }
    if let Err(answer) = check_fields(form) {
        return Some(answer);
    }
    let verdicts = batch::judge(&state.core, regids, well_formed).await?;
    let bad = batch::tokens_where(&verdicts, |v| *v != Verdict::Deliver);
    let delivered = (regids.len() - bad.len()) as u64;
    if delivered == 0 {
        return Some(error(code::NO_VALID_TARGETS, "No valid targets!"));
    }
    {
        let day = request.at_ms.div_euclid(86_400_000);
        let mut apps = lock(&state.apps);
        let Some((_, usage)) = apps.get_mut(secret) else {
            return Some(error(code::AUTH_FAILED, "Invalid application secret."));
        };
        if usage.day != day {
            *usage = Usage { day, used: 0 };
        }
        if usage.used.saturating_add(delivered) > state.daily_quota.load(Ordering::Relaxed) {
            return Some(error(
                code::QUOTA_EXCEEDED,
                "The daily message quota of this app is used up.",
            ));
        }
        usage.used += delivered;
    }
    let mut data =
        json!({ "id": format!("sdm{}{:06}", request.at_ms, rand::random::<u32>() % 1_000_000) });
    if !bad.is_empty() {
        data["bad_regids"] = json!(bad.join(","));
    }
    Some(Answer {
        status: 200,
        body: json!({
            "result": "ok",
            "code": code::OK,
            "description": description_for(code::OK),
            "info": format!("Received push messages for {delivered} REGID"),
            "trace_id": trace_id(),
            "data": data,
        }),
        retry_after_secs: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::form::map_of as form;

    fn code_of(pairs: &[(&str, &str)]) -> i64 {
        check_fields(&form(pairs))
            .err()
            .map(|a| a.body["code"].as_i64().unwrap())
            .unwrap_or(0)
    }

    #[test]
    fn fields_are_checked() {
        assert_eq!(code_of(&[("title", "t"), ("description", "d")]), 0);
        assert_eq!(code_of(&[("title", "t")]), code::MISSING_PARAMETER);
        assert_eq!(code_of(&[("pass_through", "1"), ("payload", "p")]), 0);
        assert_eq!(code_of(&[("pass_through", "1")]), code::MISSING_PARAMETER);
        assert_eq!(
            code_of(&[("pass_through", "2"), ("payload", "p")]),
            code::INVALID_PARAMETER
        );
        let long = "题".repeat(MAX_TITLE_CHARS);
        assert_eq!(
            code_of(&[("title", &long), ("description", "d")]),
            code::INVALID_PARAMETER
        );
        let ok = "题".repeat(MAX_TITLE_CHARS - 1);
        assert_eq!(code_of(&[("title", &ok), ("description", "d")]), 0);
        assert_eq!(
            code_of(&[("title", "t"), ("description", "d"), ("notify_type", "8")]),
            code::INVALID_PARAMETER
        );
        assert_eq!(
            code_of(&[
                ("title", "t"),
                ("description", "d"),
                ("extra.notify_effect", "3")
            ]),
            code::MISSING_PARAMETER
        );
        assert_eq!(
            code_of(&[("title", "t"), ("description", "d"), ("time_to_live", "-1")]),
            code::INVALID_PARAMETER
        );
        assert!(well_formed("abc+/=_-XYZ0"));
        assert!(!well_formed("a b"));
    }
}
