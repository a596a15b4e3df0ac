//! OAuth 2.0 client-credentials access tokens, as Huawei Push Kit and Honor Push both use them: a form
//! `grant_type=client_credentials&client_id=…&client_secret=…` posted to the vendor's token endpoint, answered
//! with `{access_token, expires_in, token_type}`.
//!
//! Confirmed from Huawei's Push Kit server guide ("Obtaining an access token", `POST
//! https://oauth-login.cloud.huawei.com/oauth2/v3/token`, `expires_in` 3600) and Honor's "发送下行消息" guide
//! (`POST https://iam.developer.hihonor.com/auth/realms/developer/protocol/openid-connect/token`, same form). A
//! refusal is an HTTP 4xx with `{"error", "error_description"}` (Huawei also sends `sub_error`).

use std::time::Duration;

use serde::Deserialize;

use crate::dispatch::{GrantError, TokenEndpoint, credential::token_answer};

#[derive(Deserialize)]
struct Grant {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct Refusal {
    #[serde(default)]
    error: serde_json::Value,
    #[serde(default)]
    error_description: String,
}

/// How a client-credentials token endpoint is asked: the form with the client's id and secret.
pub struct ClientCredentials {
    url: String,
    client_id: String,
    client_secret: String,
    http: reqwest::Client,
}

impl ClientCredentials {
    /// Asks the token endpoint `url` over `http` for tokens of `client_id`/`client_secret`.
    pub fn new(url: String, client_id: &str, client_secret: &str, http: reqwest::Client) -> Self {
        Self {
            url,
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            http,
        }
    }

    /// The form posted to the token endpoint.
    pub fn form(&self) -> [(&'static str, &str); 3] {
        [
            ("grant_type", "client_credentials"),
            ("client_id", &self.client_id),
            ("client_secret", &self.client_secret),
        ]
    }
}

impl TokenEndpoint for ClientCredentials {
    fn url(&self) -> &str {
        &self.url
    }

    async fn fetch(&self) -> Result<(String, Duration), GrantError> {
        let request = self.http.post(&self.url).form(&self.form());
        token_answer(request, "token endpoint", "token endpoint answer")
            .await?
            .read(grant)
    }
}

/// The token endpoint's answer `body` with HTTP `status` → the token and how long to use it, or why not.
pub(crate) fn grant(status: u16, body: &str) -> Result<(String, Duration), GrantError> {
    if !(200..300).contains(&status) {
        let words = serde_json::from_str::<Refusal>(body)
            .map(|r| {
                let error = match r.error {
                    serde_json::Value::String(s) => s,
                    serde_json::Value::Null => String::new(),
                    other => other.to_string(),
                };
                format!("{error}: {}", r.error_description)
            })
            .unwrap_or_else(|_| body.chars().take(300).collect());
        // Unreachable or overloaded is worth another try; a refused secret is not.
        return Err(GrantError::new(
            format!("token endpoint answered {status}: {words}"),
            status >= 500 || status == 429,
        ));
    }
    let grant: Grant = serde_json::from_str(body).map_err(|e| {
        GrantError::new(format!("token endpoint answer is not a grant: {e}"), false)
    })?;
    if grant.access_token.is_empty() {
        return Err(GrantError::new(
            "token endpoint answered an empty access_token",
            false,
        ));
    }
    let expires_in = grant.expires_in.unwrap_or(3600);
    // Renew early so no request leaves with a token that dies on the way (five minutes on an hour's token).
    let margin = if expires_in > 600 {
        300
    } else {
        expires_in / 2
    };
    Ok((grant.access_token, Duration::from_secs(expires_in - margin)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http() -> reqwest::Client {
        crate::dispatch::client(crate::dispatch::ClientOptions {
            extra_ca_pems: &[],
            identity: None,
            http2_only: false,
            connect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(1),
            egress: None,
        })
        .unwrap()
    }

    #[test]
    fn the_form_is_client_credentials() {
        let c = ClientCredentials::new(
            "https://x/oauth2/v3/token".into(),
            "10086",
            "s3cret",
            http(),
        );
        assert_eq!(
            c.form(),
            [
                ("grant_type", "client_credentials"),
                ("client_id", "10086"),
                ("client_secret", "s3cret")
            ]
        );
        let request = http().post(c.url()).form(&c.form()).build().unwrap();
        assert_eq!(
            std::str::from_utf8(request.body().unwrap().as_bytes().unwrap()).unwrap(),
            "grant_type=client_credentials&client_id=10086&client_secret=s3cret"
        );
    }

    #[test]
    fn a_grant_is_cached_for_its_lifetime_minus_a_margin() {
        let (token, life) = grant(
            200,
            r#"{"access_token":"CF1","expires_in":3600,"token_type":"Bearer"}"#,
        )
        .unwrap();
        assert_eq!(token, "CF1");
        assert_eq!(life, Duration::from_secs(3300));
        let (_, short) = grant(200, r#"{"access_token":"t","expires_in":60}"#).unwrap();
        assert_eq!(short, Duration::from_secs(30));
    }

    #[test]
    fn refusals_are_final_and_server_trouble_is_transient() {
        let refused = grant(
            400,
            r#"{"error":1101,"error_description":"invalid client_secret"}"#,
        )
        .unwrap_err();
        assert!(!refused.transient);
        assert!(
            refused.reason.contains("invalid client_secret"),
            "{}",
            refused.reason
        );
        let keycloak = grant(
            401,
            r#"{"error":"invalid_client","error_description":"Invalid client credentials"}"#,
        )
        .unwrap_err();
        assert!(!keycloak.transient);
        assert!(grant(503, "busy").unwrap_err().transient);
        assert!(grant(502, "").unwrap_err().transient);
        assert!(!grant(200, "not json").unwrap_err().transient);
    }
}
