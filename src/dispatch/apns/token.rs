//! APNs provider tokens: ES256 JWTs signed with the team's p8 key, reused until they reach the configured age.
//!
//! Apple refuses a token older than an hour (`ExpiredProviderToken`) and throttles a key whose tokens change
//! more often than every 20 minutes (`TooManyProviderTokenUpdates`), so one token is shared by every request
//! of the notifier and signed anew only at `refresh` age, or when Apple refused it.

use std::{sync::Arc, time::Duration};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

use crate::{
    clock::now_ms,
    dispatch::{Cached, CredentialCache, DispatchError},
};

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    iat: i64,
}

/// Signs and caches one notifier's provider token.
pub struct ProviderTokens {
    key: EncodingKey,
    key_id: String,
    team_id: String,
    refresh: Duration,
    cache: CredentialCache<String, String>,
}

impl ProviderTokens {
    /// Tokens from a PKCS#8 PEM ES256 key (`AuthKey_XXXX.p8`), its key id and team id, signed anew at age
    /// `refresh`.
    pub fn new(
        private_key_pem: &str,
        key_id: &str,
        team_id: &str,
        refresh: Duration,
    ) -> Result<Self, DispatchError> {
        let key = EncodingKey::from_ec_pem(private_key_pem.as_bytes())
            .map_err(|e| DispatchError::Credentials(format!("APNs p8 key: {e}")))?;
        Ok(Self {
            key,
            key_id: key_id.to_owned(),
            team_id: team_id.to_owned(),
            refresh,
            cache: CredentialCache::new(),
        })
    }

    /// The current token, signed now if there is none or it has reached its refresh age.
    pub async fn current(&self) -> Result<Arc<Cached<String>>, String> {
        self.cache
            .get(|| async { self.sign().map(|jwt| (jwt, self.refresh)) })
            .await
    }

    /// Drops `used` after Apple refused it, so the next request signs a new one.
    pub fn refused(&self, used: &Cached<String>) {
        self.cache.invalidate(used);
    }

    /// How many tokens were signed (for tests and metrics).
    pub fn signed(&self) -> u64 {
        self.cache.fetches()
    }

    fn sign(&self) -> Result<String, String> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.key_id.clone());
        let claims = Claims {
            iss: &self.team_id,
            iat: now_ms() / 1000,
        };
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| format!("signing the provider token failed: {e}"))
    }
}
