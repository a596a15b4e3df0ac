//! The Meizu Flyme Push fake: `POST /garcia/api/server/push/varnished/pushByPushId`.
//!
//! Checked as Meizu's own server SDKs and API notes (`MEIZUPUSH/node-sdk`, `MEIZUPUSH/JavaSdk`) describe:
//! form-encoded `appId`, `pushIds` (at most 1000, comma-separated), `messageJson` and `sign`, where `sign`
//! is the lowercase md5 of every other parameter sorted by name as `k=v` (raw values, no separator)
//! followed by the app secret; notification title 1..32 and content 1..100 characters, `validTime`
//! 1..72 hours. Answers `{"code": "200", "message", "value": {code: [pushIds]}, "msgId"}` with the
//! pushIds that failed grouped by code (`110002` not subscribed or switched off, `110003` illegal).

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
};

use axum::{Router, extract::Request, response::Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{
    cnkit::{self, DailyQuota},
    core::{FakeCore, FaultOutcome, Incoming, json_response, retry_after},
    fault::lock,
    form,
    handle::{Fake, VendorState},
    tls::reset_response,
};

/// The push-by-pushId path.
pub const PUSH_PATH: &str = "/garcia/api/server/push/varnished/pushByPushId";
/// Most pushIds in one request.
pub const MAX_PUSH_IDS: usize = 1000;
/// Longest notification title, characters.
pub const MAX_TITLE: usize = 32;
/// Longest notification content, characters.
pub const MAX_CONTENT: usize = 100;

/// Meizu codes the fake answers.
pub mod code {
    /// Success.
    pub const SUCCESS: &str = "200";
    /// System error (retryable).
    pub const SYSTEM_ERROR: &str = "1001";
    /// Server busy (retryable).
    pub const BUSY: &str = "1003";
    /// Parameter error.
    pub const PARAMETER: &str = "1005";
    /// Signature does not verify.
    pub const SIGN: &str = "1006";
    /// Unknown appId.
    pub const APP_ID: &str = "110000";
    /// Invalid appKey.
    pub const APP_KEY: &str = "110001";
    /// pushId not subscribed (push switched off included): per pushId in `value`.
    pub const NOT_SUBSCRIBED: &str = "110002";
    /// pushId illegal: per pushId in `value`.
    pub const ILLEGAL_PUSH_ID: &str = "110003";
    /// A required parameter is empty.
    pub const EMPTY_PARAMETER: &str = "110004";
    /// Top level: requesting too fast; in `value`: the user switched pushes off.
    pub const TOO_FAST: &str = "110010";
    /// Daily push count exceeded.
    pub const DAILY_LIMIT: &str = "110019";
}

/// Meizu's description of a code.
pub fn describe(code: &str) -> &'static str {
    match code {
        "200" => "",
        "201" => "没有权限，服务器主动拒绝",
        "500" => "其他异常",
        "518" => "推送超过配置的速率",
        "1001" => "系统错误",
        "1003" => "服务器忙",
        "1005" => "参数错误，请参考API文档",
        "1006" => "签名认证失败",
        "110000" => "appId不合法",
        "110001" => "appKey不合法",
        "110002" => "pushId未订阅(包括推送开关关闭的设备)",
        "110003" => "pushId非法",
        "110004" => "参数不能为空",
        "110009" => "应用被加入黑名单",
        "110010" => "请求过于频繁",
        "110019" => "超过该应用的当日推送总数限制",
        _ => "其他异常",
    }
}

/// Minted Meizu app credentials (what `MeizuCredentials` takes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeizuApp {
    /// `appId` (numeric, as Meizu's).
    pub app_id: String,
    /// `appSecret`.
    pub app_secret: String,
}

#[derive(Default)]
struct Inner {
    apps: HashMap<String, String>,
    next_app: u64,
    quota: DailyQuota,
}

/// What the Meizu handlers share.
pub struct MeizuState {
    core: Arc<FakeCore>,
    inner: Mutex<Inner>,
}

/// Handle on the running Meizu fake; dereferences to its [`FakeCore`].
pub type MeizuFake = Fake<MeizuState>;

impl VendorState for MeizuState {
    fn core(&self) -> &Arc<FakeCore> {
        &self.core
    }
}

impl Fake<MeizuState> {
    /// A fake over `core`; returns it and its router.
    pub(crate) fn new(core: Arc<FakeCore>) -> (Self, Router) {
        Self::serve(
            MeizuState {
                core,
                inner: Mutex::new(Inner {
                    next_app: 110_001,
                    ..Inner::default()
                }),
            },
            handle,
        )
    }

    /// Registers a new app and returns its `appId` and `appSecret`.
    pub fn mint_app(&self) -> MeizuApp {
        let mut inner = lock(&self.state.inner);
        let app = MeizuApp {
            app_id: inner.next_app.to_string(),
            app_secret: cnkit::random_hex(32),
        };
        inner.next_app += 1;
        inner
            .apps
            .insert(app.app_id.clone(), app.app_secret.clone());
        app
    }

    /// Pushes (pushIds) accepted per UTC day before `110019` (`None`: unlimited, the default); resets
    /// today's count.
    pub fn set_daily_quota(&self, limit: Option<u64>) {
        lock(&self.state.inner).quota.set(limit);
    }
}

impl cnkit::ControlledFake for MeizuFake {
    fn mint_app_json(&self) -> Value {
        serde_json::to_value(self.mint_app()).unwrap_or_default()
    }

    fn set_daily_quota(&self, limit: Option<u64>) {
        MeizuFake::set_daily_quota(self, limit);
    }
}

/// The sign of a parameter list: md5 over `k=v` sorted by name, then the secret.
pub fn sign(params: &[(&str, &str)], app_secret: &str) -> String {
    let mut sorted: Vec<&(&str, &str)> = params.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut text = String::new();
    for (k, v) in sorted {
        text.push_str(k);
        text.push('=');
        text.push_str(v);
    }
    text.push_str(app_secret);
    cnkit::md5_hex(&text)
}

fn error_body(code: &str) -> String {
    json!({"code": code, "message": describe(code), "value": "", "redirect": ""}).to_string()
}

async fn handle(state: Arc<MeizuState>, request: Request) -> Response {
    let Some((request, _)) = Incoming::read(request).await else {
        return reset_response();
    };
    if request.uri.path() != PUSH_PATH {
        let text = json!({"code": "404", "message": "Not Found", "value": ""}).to_string();
        state.core.record(&request, None, 404, &text, false);
        return json_response(404, &text, &[]);
    }
    let form = form::parse_pairs(&request.body);
    let push_ids: Vec<String> = form::get(&form, "pushIds")
        .map(|ids| {
            ids.split(',')
                .map(|id| id.trim().to_owned())
                .filter(|id| !id.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let device_token = (push_ids.len() == 1).then(|| push_ids[0].clone());
    let (status, text, retry_after_secs) = match state.core.apply_faults(None).await {
        FaultOutcome::Reset => return state.core.reset_send(&request, device_token),
        FaultOutcome::Error {
            status,
            reason,
            retry_after_secs,
        } => {
            if reason.trim().parse::<u64>().is_ok() {
                (status, error_body(reason.trim()), retry_after_secs)
            } else {
                return cnkit::http_fault(
                    &state.core,
                    &request,
                    device_token,
                    status,
                    retry_after_secs,
                );
            }
        }
        FaultOutcome::Proceed => match answer(&state, &request, &form, &push_ids).await {
            Some(text) => (200, text, None),
            None => return state.core.reset_send(&request, device_token),
        },
    };
    let ok = status == 200
        && serde_json::from_str::<Value>(&text).is_ok_and(|v| v["code"] == code::SUCCESS);
    let headers = retry_after(retry_after_secs);
    state
        .core
        .answer_send(&request, device_token, status, &text, &headers, ok)
}

/// The body answering a push, or `None` to reset the stream.
async fn answer(
    state: &MeizuState,
    request: &Incoming,
    form: &[(String, String)],
    push_ids: &[String],
) -> Option<String> {
    if request.method != http::Method::POST {
        return Some(error_body(code::PARAMETER));
    }
    let mut params = Vec::new();
    for name in ["appId", "pushIds", "messageJson", "sign"] {
        match form::get(form, name) {
            Some(v) if !v.trim().is_empty() => params.push((name, v)),
            _ => return Some(error_body(code::EMPTY_PARAMETER)),
        }
    }
    let app_id = params[0].1;
    let Some(secret) = lock(&state.inner).apps.get(app_id).cloned() else {
        return Some(error_body(code::APP_ID));
    };
    // Every parameter sent but the sign itself takes part, as the SDKs sign them.
    let signed: Vec<(&str, &str)> = form
        .iter()
        .filter(|(k, _)| k != "sign")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let given = params[3].1;
    if sign(&signed, &secret) != given {
        return Some(error_body(code::SIGN));
    }
    if push_ids.is_empty() {
        return Some(error_body(code::EMPTY_PARAMETER));
    }
    if push_ids.len() > MAX_PUSH_IDS {
        return Some(error_body(code::PARAMETER));
    }
    let Ok(message) = serde_json::from_str::<Value>(params[2].1) else {
        return Some(error_body(code::PARAMETER));
    };
    if check_message(&message).is_err() {
        return Some(error_body(code::PARAMETER));
    }
    let mut failed: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut deliverable = 0u64;
    for id in push_ids {
        match state.core.apply_token_faults(id).await {
            FaultOutcome::Reset => return None,
            FaultOutcome::Error { reason, .. } => {
                let c = reason.trim();
                let c = if c.is_empty() {
                    code::ILLEGAL_PUSH_ID
                } else {
                    c
                };
                failed.entry(c.to_owned()).or_default().push(id.clone());
            }
            FaultOutcome::Proceed if !well_formed(id) => failed
                .entry(code::ILLEGAL_PUSH_ID.to_owned())
                .or_default()
                .push(id.clone()),
            FaultOutcome::Proceed if state.core.is_invalidated(id) => failed
                .entry(code::NOT_SUBSCRIBED.to_owned())
                .or_default()
                .push(id.clone()),
            FaultOutcome::Proceed => deliverable += 1,
        }
    }
    if deliverable > 0 && !lock(&state.inner).quota.take(deliverable, request.at_ms) {
        return Some(error_body(code::DAILY_LIMIT));
    }
    Some(
        json!({
            "code": code::SUCCESS,
            "message": "",
            "value": failed,
            "redirect": "",
            "msgId": format!("NS{}", cnkit::random_hex(24)),
        })
        .to_string(),
    )
}

/// Whether `id` looks like a Meizu pushId (letters and digits, at most 64).
fn well_formed(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn int(value: Option<&Value>) -> Option<i64> {
    let value = value?;
    value
        .as_i64()
        .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
}

fn flag(object: &Value, name: &str, allowed: &[i64]) -> Result<(), String> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(()),
        v => match int(v) {
            Some(n) if allowed.contains(&n) => Ok(()),
            _ => Err(format!("{name} must be one of {allowed:?}")),
        },
    }
}

fn bounded_text(object: &Value, name: &str, min: usize, max: usize) -> Result<(), String> {
    match object.get(name) {
        Some(Value::String(s)) if (min..=max).contains(&s.chars().count()) => Ok(()),
        _ => Err(format!("{name} must be {min}..{max} characters")),
    }
}

/// Checks a notification `messageJson`.
pub fn check_message(message: &Value) -> Result<(), String> {
    let bar = message
        .get("noticeBarInfo")
        .filter(|v| v.is_object())
        .ok_or("noticeBarInfo is required")?;
    bounded_text(bar, "title", 1, MAX_TITLE)?;
    bounded_text(bar, "content", 1, MAX_CONTENT)?;
    flag(bar, "noticeBarType", &[0, 2])?;
    if let Some(expand) = message.get("noticeExpandInfo").filter(|v| !v.is_null()) {
        flag(expand, "noticeExpandType", &[0, 1])?;
        if int(expand.get("noticeExpandType")) == Some(1) {
            bounded_text(expand, "noticeExpandContent", 1, 1000)?;
        }
    }
    if let Some(click) = message.get("clickTypeInfo").filter(|v| !v.is_null()) {
        flag(click, "clickType", &[0, 1, 2, 3])?;
        let required = match int(click.get("clickType")) {
            Some(1) => Some("activity"),
            Some(2) => Some("url"),
            Some(3) => Some("customAttribute"),
            _ => None,
        };
        if let Some(name) = required {
            match click.get(name) {
                Some(Value::String(s)) if !s.is_empty() && s.len() <= 1000 => {}
                _ => {
                    return Err(format!(
                        "clickTypeInfo.{name} is required (at most 1000 bytes)"
                    ));
                }
            }
        }
        if let Some(p) = click.get("parameters").filter(|v| !v.is_null())
            && !p.is_object()
        {
            return Err("clickTypeInfo.parameters must be a JSON object".into());
        }
    }
    if let Some(time) = message.get("pushTimeInfo").filter(|v| !v.is_null()) {
        flag(time, "offLine", &[0, 1])?;
        let off_line = int(time.get("offLine")).unwrap_or(1);
        match time.get("validTime") {
            None | Some(Value::Null) => {}
            v => {
                if off_line == 1 && !matches!(int(v), Some(1..=72)) {
                    return Err("pushTimeInfo.validTime must be 1..72 hours".into());
                }
            }
        }
    }
    if let Some(advance) = message.get("advanceInfo").filter(|v| !v.is_null()) {
        for name in ["suspend", "clearNoticeBar", "isFixDisplay"] {
            flag(advance, name, &[0, 1])?;
        }
        if let Some(kinds) = advance.get("notificationType").filter(|v| !v.is_null()) {
            for name in ["vibrate", "lights", "sound"] {
                flag(kinds, name, &[0, 1])?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_and_messages_are_checked_like_meizu() {
        // md5("appId=1messageJson={}pushIds=a,bsecret")
        assert_eq!(
            sign(
                &[("pushIds", "a,b"), ("appId", "1"), ("messageJson", "{}")],
                "secret"
            ),
            cnkit::md5_hex("appId=1messageJson={}pushIds=a,bsecret")
        );
        let ok = json!({"noticeBarInfo": {"title": "t", "content": "c"},
            "clickTypeInfo": {"clickType": 1, "activity": "com.x.Main"},
            "pushTimeInfo": {"offLine": 1, "validTime": 24},
            "advanceInfo": {"notificationType": {"vibrate": 1, "lights": 0, "sound": 1}}});
        assert!(check_message(&ok).is_ok());
        for bad in [
            json!({"noticeBarInfo": {"title": "t".repeat(33), "content": "c"}}),
            json!({"noticeBarInfo": {"title": "t", "content": "c".repeat(101)}}),
            json!({"noticeBarInfo": {"title": "", "content": "c"}}),
            json!({"noticeBarInfo": {"title": "t", "content": "c"}, "clickTypeInfo": {"clickType": 2}}),
            json!({"noticeBarInfo": {"title": "t", "content": "c"}, "pushTimeInfo": {"offLine": 1, "validTime": 73}}),
            json!({"title": "t"}),
        ] {
            assert!(check_message(&bad).is_err(), "{bad}");
        }
    }
}
