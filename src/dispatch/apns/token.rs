//! APNs provider tokens: ES256 JWTs signed with the team's p8 key, reused until they reach the configured age.
//!
//! Apple refuses a token older than an hour (`ExpiredProviderToken`) and throttles a key whose tokens change
//! more often than every 20 minutes (`TooManyProviderTokenUpdates`), so one token is shared by every request
//! of the notifier and signed anew only at `refresh` age, or when Apple refused it.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

use super::shared_token::{SignedToken, TokenShare};
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
    /// The replicas' shared token of this key, when there is a store to share it through.
    share: Option<TokenShare>,
    /// The last token Apple refused: not to be taken from the share again.
    refused: Mutex<Option<String>>,
}

impl ProviderTokens {
    /// Tokens from a PKCS#8 PEM ES256 key (`AuthKey_XXXX.p8`), its key id and team id, signed anew at age
    /// `refresh`.
    pub fn new(
        private_key_pem: &str,
        key_id: &str,
        team_id: &str,
        refresh: Duration,
        share: Option<TokenShare>,
    ) -> Result<Self, DispatchError> {
        let key = EncodingKey::from_ec_pem(private_key_pem.as_bytes())
            .map_err(|e| DispatchError::Credentials(format!("APNs p8 key: {e}")))?;
        Ok(Self {
            key,
            key_id: key_id.to_owned(),
            team_id: team_id.to_owned(),
            refresh,
            cache: CredentialCache::new(),
            share,
            refused: Mutex::new(None),
        })
    }

    /// The current token, signed now if there is none or it has reached its refresh age.
    pub async fn current(&self) -> Result<Arc<Cached<String>>, String> {
        self.cache
            .get(|| async {
                let Some(share) = &self.share else {
                    return self.sign().map(|t| (t.jwt, self.refresh));
                };
                let refused = self
                    .refused
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone();
                let key = format!("{}/{}", self.team_id, self.key_id);
                let token = share
                    .current(&key, self.refresh, refused.as_deref(), || self.sign())
                    .await?;
                // Kept here for what is left of its refresh age (it may have been signed elsewhere).
                let age = u64::try_from(now_ms() / 1000 - token.iat).unwrap_or(0);
                let left = self.refresh.saturating_sub(Duration::from_secs(age));
                Ok((token.jwt, left.max(Duration::from_secs(1))))
            })
            .await
    }

    /// Drops `used` after Apple refused it, so the next request signs a new one (and does not take it from
    /// the other replicas again).
    pub fn refused(&self, used: &Cached<String>) {
        *self.refused.lock().unwrap_or_else(|p| p.into_inner()) = Some(used.value.clone());
        self.cache.invalidate(used);
    }

    /// How many tokens were signed (for tests and metrics).
    pub fn signed(&self) -> u64 {
        self.cache.fetches()
    }

    fn sign(&self) -> Result<SignedToken, String> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.key_id.clone());
        let iat = now_ms() / 1000;
        let claims = Claims {
            iss: &self.team_id,
            iat,
        };
        let jwt = jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| format!("signing the provider token failed: {e}"))?;
        Ok(SignedToken { jwt, iat })
    }
}
