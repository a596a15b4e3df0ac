//! Google's OAuth 2.0 token endpoint for service accounts (the JWT bearer grant), and the access tokens
//! it issues.
//!
//! The assertion must be RS256, signed by a registered service-account key (`kid` = `private_key_id`),
//! with `iss` = the account's `client_email`, `aud` = the token URI, a `scope`, and `exp` at most an hour
//! after `iat`.

use std::collections::{HashMap, HashSet};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::error::OAuthError;
use crate::sandbox::tokens::{IssuedTokens, TokenRefusal};

/// The grant type of the service-account flow.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// The scope FCM sends need (or the all-of-cloud scope).
pub const FCM_SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
const CLOUD_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// Longest assertion lifetime Google accepts.
const MAX_ASSERTION_SECS: i64 = 3600;
/// Clock skew tolerated on `iat`.
const SKEW_SECS: i64 = 300;
/// Most live access tokens kept; past it the expired ones are dropped, then the oldest.
const MAX_ACCESS_TOKENS: usize = 100_000;

/// A registered service account key.
struct Account {
    client_email: String,
    project_id: String,
    decoding: DecodingKey,
}

/// What an issued access token grants.
#[derive(Debug, Clone)]
pub struct AccessToken {
    /// The project of the service account it was issued to.
    pub project_id: String,
    /// Whether its scopes cover FCM.
    pub fcm_scope: bool,
}

/// Service accounts and the access tokens issued to them.
#[derive(Default)]
pub struct OAuth {
    accounts: HashMap<String, Account>,
    tokens: IssuedTokens<AccessToken>,
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    #[serde(default)]
    scope: String,
    aud: serde_json::Value,
    iat: i64,
    exp: i64,
}

/// A granted exchange.
#[derive(Debug)]
pub struct Grant {
    /// The access token.
    pub access_token: String,
    /// The key that signed the assertion.
    pub key_id: String,
}

impl OAuth {
    /// Registers a service account key.
    pub fn register(
        &mut self,
        key_id: &str,
        client_email: &str,
        project_id: &str,
        public_key_pem: &str,
    ) -> Result<(), jsonwebtoken::errors::Error> {
        let decoding = DecodingKey::from_rsa_pem(public_key_pem.as_bytes())?;
        self.accounts.insert(
            key_id.to_owned(),
            Account {
                client_email: client_email.to_owned(),
                project_id: project_id.to_owned(),
                decoding,
            },
        );
        Ok(())
    }

    /// Exchanges an assertion for an access token living `lifetime_secs`.
    pub fn exchange(
        &mut self,
        assertion: &str,
        token_uri: &str,
        now_ms: i64,
        lifetime_secs: u64,
    ) -> Result<Grant, OAuthError> {
        let bad_signature = || OAuthError::grant("Invalid JWT Signature.");
        let header = jsonwebtoken::decode_header(assertion).map_err(|_| bad_signature())?;
        if header.alg != Algorithm::RS256 {
            return Err(bad_signature());
        }
        // Google finds the key by `kid`; without one it tries the accounts' keys in turn.
        let candidates: Vec<&String> = match &header.kid {
            Some(kid) => self.accounts.keys().filter(|k| *k == kid).collect(),
            None => self.accounts.keys().collect(),
        };
        let mut validation = Validation::new(Algorithm::RS256);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims = HashSet::new();
        let (key_id, claims) = candidates
            .into_iter()
            .find_map(|kid| {
                let account = &self.accounts[kid];
                jsonwebtoken::decode::<Claims>(assertion, &account.decoding, &validation)
                    .ok()
                    .map(|data| (kid.clone(), data.claims))
            })
            .ok_or_else(bad_signature)?;
        let account = &self.accounts[&key_id];
        if claims.iss != account.client_email {
            return Err(OAuthError::grant("Invalid email or User ID"));
        }
        let audience_ok = match &claims.aud {
            serde_json::Value::String(aud) => aud == token_uri,
            serde_json::Value::Array(auds) => auds.iter().any(|a| a.as_str() == Some(token_uri)),
            _ => false,
        };
        if !audience_ok {
            return Err(OAuthError::grant(format!(
                "Invalid JWT: Failed audience check. The expected audience is {token_uri}."
            )));
        }
        let now = now_ms / 1000;
        if claims.exp <= claims.iat
            || claims.exp - claims.iat > MAX_ASSERTION_SECS
            || claims.exp < now
            || claims.iat > now + SKEW_SECS
        {
            return Err(OAuthError::grant(
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.",
            ));
        }
        if claims.scope.trim().is_empty() {
            return Err(OAuthError {
                error: "invalid_scope",
                description: "Invalid OAuth scope or ID token audience provided.".into(),
            });
        }
        let fcm_scope = claims
            .scope
            .split_whitespace()
            .any(|s| s == FCM_SCOPE || s == CLOUD_SCOPE);
        let access_token = format!("ya29.sandbox-{}", uuid::Uuid::new_v4().simple());
        let project_id = account.project_id.clone();
        self.tokens.make_room(MAX_ACCESS_TOKENS, now_ms);
        self.tokens.insert(
            access_token.clone(),
            AccessToken {
                project_id,
                fcm_scope,
            },
            now_ms,
            lifetime_secs,
        );
        Ok(Grant {
            access_token,
            key_id,
        })
    }

    /// The live access token `token`.
    pub fn access_token(&self, token: &str, now_ms: i64) -> Result<&AccessToken, TokenRefusal> {
        self.tokens.check(token, now_ms)
    }

    /// Expires every access token issued so far.
    pub fn expire_all(&mut self) {
        self.tokens.expire_all();
    }
}
