//! What the OPPO, vivo and Meizu fakes share: registered apps, issued auth tokens, a daily quota,
//! digests, and the control routes that mint apps and set quotas.

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::post,
};
use md5::Digest as _;
use serde::Deserialize;
use serde_json::json;

use super::{
    core::{FakeCore, Incoming, json_response, retry_after},
    tokens::{IssuedTokens, TokenRefusal},
};

/// How long the auth tokens OPPO and vivo issue live: one day, as both vendors document.
pub const AUTH_TOKEN_SECS: u64 = 24 * 3600;
/// How far a signed timestamp may be from the fake's clock: ten minutes, as OPPO and vivo document.
pub const TIMESTAMP_WINDOW_MS: i64 = 10 * 60 * 1000;
/// Most live auth tokens kept; past it the oldest half is dropped.
const MAX_AUTH_TOKENS: usize = 100_000;
const DAY_MS: i64 = 24 * 3600 * 1000;

/// Auth tokens issued to apps (by app id or key).
#[derive(Debug, Default)]
pub struct AuthTokens {
    tokens: IssuedTokens<String>,
}

impl AuthTokens {
    /// Issues a token for `app` living `lifetime_secs`.
    pub fn issue(&mut self, app: &str, now_ms: i64, lifetime_secs: u64) -> String {
        self.tokens.drop_older_half_at(MAX_AUTH_TOKENS);
        let token = uuid::Uuid::new_v4().simple().to_string();
        self.tokens
            .insert(token.clone(), app.to_owned(), now_ms, lifetime_secs);
        token
    }

    /// The app a live token was issued to.
    pub fn check(&self, token: &str, now_ms: i64) -> Result<String, TokenRefusal> {
        self.tokens.check(token, now_ms).cloned()
    }

    /// Expires every token issued so far.
    pub fn expire_all(&mut self) {
        self.tokens.expire_all();
    }
}

/// A per-fake daily message quota (UTC days); `None` is unlimited.
#[derive(Debug, Default)]
pub struct DailyQuota {
    limit: Option<u64>,
    day: i64,
    used: u64,
}

impl DailyQuota {
    /// Sets the limit (messages a day) and forgets what was used today.
    pub fn set(&mut self, limit: Option<u64>) {
        self.limit = limit;
        self.used = 0;
    }

    /// Takes `n` messages from today's quota; false (and nothing taken) when they do not fit.
    pub fn take(&mut self, n: u64, now_ms: i64) -> bool {
        let day = now_ms.div_euclid(DAY_MS);
        if day != self.day {
            self.day = day;
            self.used = 0;
        }
        match self.limit {
            Some(limit) if self.used.saturating_add(n) > limit => false,
            _ => {
                self.used = self.used.saturating_add(n);
                true
            }
        }
    }
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(text: &str) -> String {
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

/// Lowercase hex MD5.
pub fn md5_hex(text: &str) -> String {
    hex::encode(md5::Md5::digest(text.as_bytes()))
}

/// A random lowercase hex string of `len` characters (at most 32).
pub fn random_hex(len: usize) -> String {
    let s = uuid::Uuid::new_v4().simple().to_string();
    s[..len.min(s.len())].to_owned()
}

/// Characters in `s` (Unicode scalar values).
pub fn chars(s: &str) -> usize {
    s.chars().count()
}

/// A fake whose apps can be minted and whose daily quota can be set from the control API.
pub trait ControlledFake: Send + Sync + 'static {
    /// Registers a new app; returns its credentials as JSON.
    fn mint_app_json(&self) -> serde_json::Value;
    /// Sets the daily message quota (`None` = unlimited).
    fn set_daily_quota(&self, limit: Option<u64>);
}

#[derive(Deserialize)]
struct QuotaBody {
    #[serde(default)]
    limit: Option<u64>,
}

/// `POST /{vendor}/apps` (mint an app) and `POST /{vendor}/daily-quota` (`{"limit": n | null}`).
pub fn control_router<F: ControlledFake>(vendor: &str, fake: F) -> Router {
    let fake = std::sync::Arc::new(fake);
    Router::new()
        .route(
            &format!("/{vendor}/apps"),
            post(|State(f): State<std::sync::Arc<F>>| async move {
                Json(f.mint_app_json()).into_response()
            }),
        )
        .route(
            &format!("/{vendor}/daily-quota"),
            post(
                |State(f): State<std::sync::Arc<F>>, Json(body): Json<QuotaBody>| async move {
                    f.set_daily_quota(body.limit);
                    (StatusCode::OK, Json(json!({ "limit": body.limit }))).into_response()
                },
            ),
        )
        .with_state(fake)
}

/// Ends a send hit by an HTTP-level fault (a status that is not the vendor's business answer): counts it
/// as refused, records it with an empty body, and answers a plain JSON error.
pub fn http_fault(
    core: &FakeCore,
    request: &Incoming,
    device_token: Option<String>,
    status: u16,
    retry_after_secs: Option<u64>,
) -> Response {
    core.recorder.count_send(false);
    core.record(request, device_token, status, "", false);
    let reason = http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error");
    json_response(
        status,
        &json!({"status": status, "error": reason}).to_string(),
        &retry_after(retry_after_secs),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_quota_and_tokens() {
        assert_eq!(md5_hex("abc"), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let mut quota = DailyQuota::default();
        assert!(quota.take(1_000, 0));
        quota.set(Some(2));
        assert!(quota.take(2, 0));
        assert!(!quota.take(1, 0));
        assert!(quota.take(1, DAY_MS));
        let mut tokens = AuthTokens::default();
        let t = tokens.issue("app", 0, 10);
        assert_eq!(tokens.check(&t, 5_000), Ok("app".into()));
        assert_eq!(tokens.check(&t, 10_000), Err(TokenRefusal::Expired));
        assert_eq!(tokens.check("x", 0), Err(TokenRefusal::Unknown));
    }
}
