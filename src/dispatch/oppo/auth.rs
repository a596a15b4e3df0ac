//! OPPO auth tokens: `POST {base}/server/v1/auth`, form `app_key`, `timestamp` (ms), `sign`, answered with
//! `{"code":0,"data":{"auth_token","create_time"}}`; a token lives 24 hours.
//!
//! Confirmed from OPPO's server API documentation ("鉴权" and "调用地址，公共参数和返回码": auth_token valid
//! 24 hours, carried in the request body) and the community Go client DeJoker/oppo-push (`token.go`: the sign
//! is the lowercase hex SHA-256 of app_key + timestamp + master_secret).

use std::time::Duration;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::{
    clock::now_ms,
    dispatch::{GrantError, TokenEndpoint, Tokens, credential::token_answer},
};

/// Path of the auth call under the token base URL.
pub const AUTH_PATH: &str = "/server/v1/auth";
/// How long OPPO keeps an auth token valid.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// Renewed this long before it expires, so no push goes out with a token that dies on the way.
const MARGIN: Duration = Duration::from_secs(10 * 60);

/// The auth request's sign: lowercase hex SHA-256 of `app_key + timestamp + master_secret`.
pub fn sign(app_key: &str, timestamp_ms: i64, master_secret: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(app_key.as_bytes());
    hash.update(timestamp_ms.to_string().as_bytes());
    hash.update(master_secret.as_bytes());
    hex::encode(hash.finalize())
}

/// The auth request's form fields at `timestamp_ms`.
pub fn form(app_key: &str, master_secret: &str, timestamp_ms: i64) -> Vec<(&'static str, String)> {
    vec![
        ("app_key", app_key.to_owned()),
        ("timestamp", timestamp_ms.to_string()),
        ("sign", sign(app_key, timestamp_ms, master_secret)),
    ]
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    code: i64,
    #[serde(default)]
    message: String,
    #[serde(default)]
    data: Option<Grant>,
}

#[derive(Deserialize)]
struct Grant {
    #[serde(default)]
    auth_token: String,
    #[serde(default)]
    create_time: Option<i64>,
}

/// Reads the auth endpoint's answer (`status`, `body`) at `now_ms`: the token and how long to use it.
pub fn parse(status: u16, body: &str, now_ms: i64) -> Result<(String, Duration), GrantError> {
    if status >= 500 || status == 429 {
        return Err(GrantError::new(
            format!("OPPO auth answered HTTP {status}"),
            true,
        ));
    }
    let answer: Answer = serde_json::from_str(body).map_err(|_| {
        GrantError::new(
            format!("OPPO auth answered HTTP {status} without a JSON body"),
            status >= 500,
        )
    })?;
    match answer.data {
        Some(grant) if answer.code == 0 && !grant.auth_token.is_empty() => {
            // The token lives 24 h from its creation, which OPPO reports; a token handed out again
            // (OPPO may return the live one) has less left.
            let age = grant
                .create_time
                .map(|t| Duration::from_millis(u64::try_from(now_ms - t).unwrap_or(0)))
                .unwrap_or_default();
            let left = TOKEN_LIFETIME.saturating_sub(age).saturating_sub(MARGIN);
            Ok((grant.auth_token, left.max(Duration::from_secs(60))))
        }
        _ => Err(GrantError::new(
            format!(
                "OPPO auth refused: code {}: {}",
                answer.code, answer.message
            ),
            super::reasons::is_transient(answer.code),
        )),
    }
}

/// One notifier's OPPO auth tokens.
pub type AuthTokens = Tokens<Auth>;

/// How OPPO's auth endpoint is asked: a signed form with the app key.
pub struct Auth {
    url: String,
    app_key: String,
    master_secret: String,
    http: reqwest::Client,
}

impl Auth {
    /// Asks `url` over `http` for tokens of `app_key`.
    pub fn new(url: String, app_key: String, master_secret: String, http: reqwest::Client) -> Self {
        Self {
            url,
            app_key,
            master_secret,
            http,
        }
    }
}

impl TokenEndpoint for Auth {
    fn url(&self) -> &str {
        &self.url
    }

    async fn fetch(&self) -> Result<(String, Duration), GrantError> {
        let now = now_ms();
        let request =
            self.http
                .post(&self.url)
                .form(&form(&self.app_key, &self.master_secret, now));
        token_answer(request, "OPPO auth endpoint", "OPPO auth answer")
            .await?
            .read(|status, body| parse(status, body, now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_is_sha256_hex_of_key_timestamp_secret() {
        // sha256("key" + "1700000000000" + "secret"), computed independently with coreutils sha256sum.
        assert_eq!(
            sign("key", 1_700_000_000_000, "secret"),
            "ee412f504f93d283888979ab4f37e98beb471243575d468a4048c57285abad84"
        );
        assert_eq!(sign("k", 1, "s").len(), 64);
    }

    #[test]
    fn the_form_carries_key_timestamp_and_sign() {
        let f = form("key", "secret", 1_700_000_000_000);
        assert_eq!(f[0], ("app_key", "key".to_string()));
        assert_eq!(f[1], ("timestamp", "1700000000000".to_string()));
        assert_eq!(f[2].0, "sign");
        assert_eq!(f[2].1, sign("key", 1_700_000_000_000, "secret"));
    }

    #[test]
    fn a_grant_is_used_until_shortly_before_24_hours_after_creation() {
        let now = 1_700_000_000_000;
        let (token, life) = parse(
            200,
            &format!(
                r#"{{"code":0,"message":"","data":{{"auth_token":"t1","create_time":{now}}}}}"#
            ),
            now,
        )
        .unwrap();
        assert_eq!(token, "t1");
        assert_eq!(life, TOKEN_LIFETIME - MARGIN);
        // Created an hour ago: an hour less.
        let (_, life) = parse(
            200,
            &format!(
                r#"{{"code":0,"data":{{"auth_token":"t1","create_time":{}}}}}"#,
                now - 3_600_000
            ),
            now,
        )
        .unwrap();
        assert_eq!(life, TOKEN_LIFETIME - MARGIN - Duration::from_secs(3600));
    }

    #[test]
    fn refusals_and_server_trouble_are_told_apart() {
        let refused = parse(200, r#"{"code":16,"message":"Invalid Signature"}"#, 0).unwrap_err();
        assert!(!refused.transient);
        assert!(refused.reason.contains("Invalid Signature"));
        assert!(
            !parse(200, r#"{"code":14,"message":"Invalid App Key"}"#, 0)
                .unwrap_err()
                .transient
        );
        assert!(
            parse(
                200,
                r#"{"code":-1,"message":"Service Currently Unavailable"}"#,
                0
            )
            .unwrap_err()
            .transient
        );
        assert!(
            parse(200, r#"{"code":-2,"message":"Service in Flow Control"}"#, 0)
                .unwrap_err()
                .transient
        );
        assert!(parse(502, "bad gateway", 0).unwrap_err().transient);
    }
}
