//! vivo auth tokens: `POST {base}/message/auth`, JSON `{appId, appKey, timestamp, sign}`, answered with
//! `{"result":0,"desc","authToken"}`; a token lives 24 hours and goes in the `authToken` header.
//!
//! Confirmed from vivo's server API document (v2.9.2, "1.1 推送鉴权接口": the token is valid one day, an app
//! may hold several, the auth call is limited to 10 per second) and VENDORS.md (sign = lowercase hex MD5 of
//! appId + appKey + timestamp + appSecret).

use std::time::Duration;

use md5::{Digest, Md5};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    clock::now_ms,
    dispatch::{GrantError, TokenEndpoint, Tokens, credential::token_answer},
};

/// Path of the auth call under the token base URL.
pub const AUTH_PATH: &str = "/message/auth";
/// How long vivo keeps an auth token valid.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// Renewed this long before it expires.
const MARGIN: Duration = Duration::from_secs(10 * 60);

/// The auth request's sign: lowercase hex MD5 of `appId + appKey + timestamp + appSecret`.
pub fn sign(app_id: &str, app_key: &str, timestamp_ms: i64, app_secret: &str) -> String {
    let mut hash = Md5::new();
    hash.update(app_id.as_bytes());
    hash.update(app_key.as_bytes());
    hash.update(timestamp_ms.to_string().as_bytes());
    hash.update(app_secret.as_bytes());
    hex::encode(hash.finalize())
}

/// The auth request's JSON body at `timestamp_ms`.
pub fn body(app_id: &str, app_key: &str, app_secret: &str, timestamp_ms: i64) -> Value {
    json!({
        "appId": app_id,
        "appKey": app_key,
        "timestamp": timestamp_ms,
        "sign": sign(app_id, app_key, timestamp_ms, app_secret),
    })
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    result: i64,
    #[serde(default)]
    desc: String,
    #[serde(rename = "authToken", default)]
    auth_token: String,
}

/// Reads the auth endpoint's answer (`status`, `body`): the token and how long to use it.
pub fn parse(status: u16, body: &str) -> Result<(String, Duration), GrantError> {
    if status >= 500 || status == 429 {
        return Err(GrantError::new(
            format!("vivo auth answered HTTP {status}"),
            true,
        ));
    }
    let answer: Answer = serde_json::from_str(body).map_err(|_| {
        GrantError::new(
            format!("vivo auth answered HTTP {status} without a JSON body"),
            false,
        )
    })?;
    if answer.result == 0 && !answer.auth_token.is_empty() {
        return Ok((answer.auth_token, TOKEN_LIFETIME - MARGIN));
    }
    Err(GrantError::new(
        format!(
            "vivo auth refused: result {}: {}",
            answer.result, answer.desc
        ),
        super::reasons::is_transient(answer.result),
    ))
}

/// One notifier's vivo auth tokens.
pub type AuthTokens = Tokens<Auth>;

/// How vivo's auth endpoint is asked: a signed JSON body with the app's id and key.
pub struct Auth {
    url: String,
    app_id: String,
    app_key: String,
    app_secret: String,
    http: reqwest::Client,
}

impl Auth {
    /// Asks `url` over `http` for tokens of the app.
    pub fn new(
        url: String,
        app_id: String,
        app_key: String,
        app_secret: String,
        http: reqwest::Client,
    ) -> Self {
        Self {
            url,
            app_id,
            app_key,
            app_secret,
            http,
        }
    }
}

impl TokenEndpoint for Auth {
    fn url(&self) -> &str {
        &self.url
    }

    async fn fetch(&self) -> Result<(String, Duration), GrantError> {
        let request = body(&self.app_id, &self.app_key, &self.app_secret, now_ms());
        let request = self
            .http
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(request.to_string());
        token_answer(request, "vivo auth endpoint", "vivo auth answer")
            .await?
            .read(parse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_is_md5_hex_of_id_key_timestamp_secret() {
        // md5("10004" + "key" + "1700000000000" + "secret"), computed independently with md5sum.
        assert_eq!(
            sign("10004", "key", 1_700_000_000_000, "secret"),
            "c8c535379302fced2a2076f8473068db"
        );
    }

    #[test]
    fn the_body_carries_id_key_timestamp_and_sign() {
        let b = body("10004", "key", "secret", 1_700_000_000_000);
        assert_eq!(b["appId"], json!("10004"));
        assert_eq!(b["appKey"], json!("key"));
        assert_eq!(b["timestamp"], json!(1_700_000_000_000_i64));
        assert_eq!(
            b["sign"],
            json!(sign("10004", "key", 1_700_000_000_000, "secret"))
        );
        assert_eq!(b.as_object().unwrap().len(), 4);
    }

    #[test]
    fn grants_refusals_and_trouble() {
        let (token, life) =
            parse(200, r#"{"result":0,"desc":"请求成功","authToken":"tok"}"#).unwrap();
        assert_eq!(token, "tok");
        assert_eq!(life, TOKEN_LIFETIME - MARGIN);
        let refused = parse(200, r#"{"result":10200,"desc":"sign不合法"}"#).unwrap_err();
        assert!(!refused.transient);
        assert!(refused.reason.contains("sign不合法"));
        assert!(parse(503, "").unwrap_err().transient);
    }
}
