//! OAuth access tokens for FCM from a service-account key: a JWT bearer grant to the key's `token_uri`.
//!
//! `gcp_auth` and `yup-oauth2` honour `token_uri` but bring their own HTTP clients, which cannot trust an
//! extra CA per notifier, and their own caches, which we could not tell to drop a token FCM refused; so the
//! grant is made here with `jsonwebtoken` over the notifier's client, cached with single-flight refresh.

use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};

use crate::{
    clock::now_ms,
    dispatch::{DispatchError, GrantError, TokenEndpoint, Tokens, credential::token_answer},
};

/// The OAuth scope FCM sends need.
pub const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
/// Longest assertion Google accepts: an hour.
const ASSERTION_LIFETIME_SECS: i64 = 3600;

#[derive(Deserialize)]
struct KeyFile {
    client_email: String,
    private_key: String,
    #[serde(default)]
    private_key_id: String,
    token_uri: String,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
}

#[derive(Deserialize)]
struct Grant {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct GrantRefusal {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

/// One notifier's access tokens.
pub type AccessTokens = Tokens<ServiceAccount>;

/// How Google's token endpoint is asked: a JWT bearer grant signed with the service account's key.
pub struct ServiceAccount {
    client_email: String,
    key: EncodingKey,
    key_id: String,
    audience: String,
    url: String,
    http: reqwest::Client,
}

impl ServiceAccount {
    /// The service account in `key_json`, asking over `http` the key's `token_uri`, or the same path under
    /// `base_override` when set.
    pub fn new(
        key_json: &str,
        base_override: &str,
        http: reqwest::Client,
    ) -> Result<Self, DispatchError> {
        let file: KeyFile = serde_json::from_str(key_json)
            .map_err(|e| DispatchError::Credentials(format!("service account JSON: {e}")))?;
        let key = EncodingKey::from_rsa_pem(file.private_key.as_bytes())
            .map_err(|e| DispatchError::Credentials(format!("service account key: {e}")))?;
        let url = if base_override.is_empty() {
            file.token_uri.clone()
        } else {
            let uri: http::Uri = file.token_uri.parse().map_err(|e| {
                DispatchError::Credentials(format!("service account token_uri: {e}"))
            })?;
            let path = uri.path_and_query().map_or("/", |p| p.as_str());
            format!("{}{}", base_override.trim_end_matches('/'), path)
        };
        Ok(Self {
            client_email: file.client_email,
            key,
            key_id: file.private_key_id,
            // Google checks the audience against its own token URI, which the key file names.
            audience: file.token_uri,
            url,
            http,
        })
    }
}

impl TokenEndpoint for ServiceAccount {
    fn url(&self) -> &str {
        &self.url
    }

    async fn fetch(&self) -> Result<(String, Duration), GrantError> {
        let iat = now_ms() / 1000;
        let mut header = Header::new(Algorithm::RS256);
        if !self.key_id.is_empty() {
            header.kid = Some(self.key_id.clone());
        }
        let claims = Claims {
            iss: &self.client_email,
            scope: SCOPE,
            aud: &self.audience,
            iat,
            exp: iat + ASSERTION_LIFETIME_SECS,
        };
        let assertion = jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| GrantError::new(format!("signing the assertion failed: {e}"), false))?;
        let request = self.http.post(&self.url).form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", assertion.as_str()),
        ]);
        token_answer(request, "token endpoint", "token endpoint answer")
            .await?
            .read(grant)
    }
}

/// Google's answer `body` with HTTP `status` → the access token and how long to use it, or why not.
fn grant(status: u16, body: &str) -> Result<(String, Duration), GrantError> {
    if !(200..300).contains(&status) {
        let words = serde_json::from_str::<GrantRefusal>(body)
            .map(|r| format!("{}: {}", r.error, r.error_description))
            .unwrap_or_else(|_| body.to_owned());
        return Err(GrantError::new(
            format!("token endpoint answered {status}: {words}"),
            (500..600).contains(&status) || status == 429,
        ));
    }
    let grant: Grant = serde_json::from_str(body).map_err(|e| {
        GrantError::new(format!("token endpoint answer is not a grant: {e}"), false)
    })?;
    let expires_in = grant.expires_in.unwrap_or(3600);
    // Renew a minute early so no request goes out with a token that dies on the way.
    let margin = if expires_in > 120 { 60 } else { expires_in / 2 };
    Ok((grant.access_token, Duration::from_secs(expires_in - margin)))
}
