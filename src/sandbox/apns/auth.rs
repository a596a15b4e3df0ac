//! APNs provider authentication: JWT provider tokens signed with registered .p8 keys, and TLS client
//! certificates. Follows Apple's rules: ES256 with `kid`, `iss` = team, `iat` at most an hour old, and a
//! new token per key no more often than every 20 minutes.

use std::collections::{HashMap, HashSet};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

/// A provider token older than this is `ExpiredProviderToken`.
pub const TOKEN_MAX_AGE_SECS: i64 = 60 * 60;
/// A new provider token sooner than this after the previous new one is `TooManyProviderTokenUpdates`.
pub const TOKEN_REFRESH_MIN_SECS: i64 = 20 * 60;
/// Clock skew tolerated for an `iat` in the future.
const FUTURE_SKEW_SECS: i64 = 60;
/// Provider tokens remembered per key (the current one and a few before it).
const TOKENS_PER_KEY: usize = 16;

/// An APNs refusal: HTTP status and Apple's reason string.
pub type Refusal = (u16, &'static str);

/// A registered signing key.
struct Key {
    team_id: String,
    decoding: DecodingKey,
}

/// The provider tokens seen for one key.
#[derive(Default)]
struct KeyTokens {
    /// `iat` of each token seen, and whether it was expired by `expire_all`.
    seen: HashMap<i64, bool>,
    /// When (Unix s) the last new token was first seen; `None` lets the next new token in at once.
    last_new_secs: Option<i64>,
    /// Tokens issued before this (Unix s) and never seen are expired too.
    expired_before_secs: i64,
}

/// Tokens whose signature was verified, remembered so that a token reused on every request (as Apple asks)
/// is verified once; bounded by clearing when full.
const VERIFIED_MAX: usize = 1024;

/// Registered keys, teams' topics and provider-token history.
#[derive(Default)]
pub struct ProviderAuth {
    keys: HashMap<String, Key>,
    team_topics: HashMap<String, HashSet<String>>,
    tokens: HashMap<String, KeyTokens>,
    /// JWT text → (kid, claims) of tokens whose signature checked out.
    verified: HashMap<String, (String, Claims)>,
}

#[derive(Deserialize, Clone)]
struct Claims {
    iss: String,
    iat: i64,
}

/// Who a provider token authenticated: the key and the topics of its team.
#[derive(Debug)]
pub struct TokenAuthorized {
    /// The key id (`kid`).
    pub key_id: String,
    /// Whether this is the first time the token was seen (a "token update").
    pub new_token: bool,
    /// Bundle ids the key's team may push to.
    pub topics: HashSet<String>,
}

impl ProviderAuth {
    /// Registers a key (public key PEM) of `team_id`, allowed to push to `topic`.
    pub fn register(
        &mut self,
        key_id: &str,
        team_id: &str,
        public_key_pem: &str,
        topic: &str,
    ) -> Result<(), jsonwebtoken::errors::Error> {
        let decoding = DecodingKey::from_ec_pem(public_key_pem.as_bytes())?;
        self.keys.insert(
            key_id.to_owned(),
            Key {
                team_id: team_id.to_owned(),
                decoding,
            },
        );
        self.team_topics
            .entry(team_id.to_owned())
            .or_default()
            .insert(topic.to_owned());
        Ok(())
    }

    /// Checks a bearer provider token at `now_secs`.
    pub fn check(&mut self, jwt: &str, now_secs: i64) -> Result<TokenAuthorized, Refusal> {
        const INVALID: Refusal = (403, "InvalidProviderToken");
        const EXPIRED: Refusal = (403, "ExpiredProviderToken");
        let (key_id, claims) = match self.verified.get(jwt) {
            Some(known) => known.clone(),
            None => {
                let verified = self.verify(jwt).ok_or(INVALID)?;
                if self.verified.len() >= VERIFIED_MAX {
                    self.verified.clear();
                }
                self.verified.insert(jwt.to_owned(), verified.clone());
                verified
            }
        };
        let key = self.keys.get(&key_id).ok_or(INVALID)?;
        if claims.iss != key.team_id {
            return Err(INVALID);
        }
        if claims.iat > now_secs + FUTURE_SKEW_SECS {
            return Err(INVALID);
        }
        if now_secs - claims.iat > TOKEN_MAX_AGE_SECS {
            return Err(EXPIRED);
        }
        let topics = self
            .team_topics
            .get(&key.team_id)
            .cloned()
            .unwrap_or_default();
        let history = self.tokens.entry(key_id.clone()).or_default();
        let new_token = match history.seen.get(&claims.iat) {
            Some(true) => return Err(EXPIRED),
            Some(false) => false,
            None if claims.iat < history.expired_before_secs => return Err(EXPIRED),
            None => {
                if let Some(last) = history.last_new_secs
                    && now_secs - last < TOKEN_REFRESH_MIN_SECS
                {
                    return Err((429, "TooManyProviderTokenUpdates"));
                }
                if history.seen.len() >= TOKENS_PER_KEY
                    && let Some(oldest) = history.seen.keys().min().copied()
                {
                    history.seen.remove(&oldest);
                }
                history.seen.insert(claims.iat, false);
                history.last_new_secs = Some(now_secs);
                true
            }
        };
        Ok(TokenAuthorized {
            key_id,
            new_token,
            topics,
        })
    }

    /// The key id and claims of `jwt` when it is an ES256 token whose signature matches a registered key.
    fn verify(&self, jwt: &str) -> Option<(String, Claims)> {
        let header = jsonwebtoken::decode_header(jwt).ok()?;
        if header.alg != Algorithm::ES256 {
            return None;
        }
        let key_id = header.kid?;
        let key = self.keys.get(&key_id)?;
        let mut validation = Validation::new(Algorithm::ES256);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims = HashSet::new();
        let claims = jsonwebtoken::decode::<Claims>(jwt, &key.decoding, &validation)
            .ok()?
            .claims;
        Some((key_id, claims))
    }

    /// Expires every provider token issued so far and lets each key sign a new one at once.
    pub fn expire_all(&mut self, now_secs: i64) {
        for history in self.tokens.values_mut() {
            for expired in history.seen.values_mut() {
                *expired = true;
            }
            history.last_new_secs = None;
            history.expired_before_secs = now_secs;
        }
        for key_id in self.keys.keys() {
            self.tokens
                .entry(key_id.clone())
                .or_default()
                .expired_before_secs = now_secs;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};

    fn setup() -> (ProviderAuth, EncodingKey) {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut auth = ProviderAuth::default();
        auth.register("KEY0000001", "TEAM000001", &key.public_key_pem(), "com.x")
            .unwrap();
        let encoding = EncodingKey::from_ec_pem(key.serialize_pem().as_bytes()).unwrap();
        (auth, encoding)
    }

    fn jwt(key: &EncodingKey, kid: &str, iss: &str, iat: i64) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(kid.into());
        jsonwebtoken::encode(&header, &serde_json::json!({"iss": iss, "iat": iat}), key).unwrap()
    }

    #[test]
    fn provider_token_rules() {
        let (mut auth, key) = setup();
        let now = 1_000_000;
        let first = jwt(&key, "KEY0000001", "TEAM000001", now);
        let ok = auth.check(&first, now).unwrap();
        assert!(ok.new_token && ok.topics.contains("com.x"));
        assert!(!auth.check(&first, now + 10).unwrap().new_token);
        let early = jwt(&key, "KEY0000001", "TEAM000001", now + 60);
        assert_eq!(
            auth.check(&early, now + 60).unwrap_err(),
            (429, "TooManyProviderTokenUpdates")
        );
        let later = jwt(&key, "KEY0000001", "TEAM000001", now + 1300);
        assert!(auth.check(&later, now + 1300).unwrap().new_token);
        assert_eq!(
            auth.check(&later, now + 1300 + 3601).unwrap_err().1,
            "ExpiredProviderToken"
        );
        for bad in [
            jwt(&key, "KEY0000009", "TEAM000001", now),
            jwt(&key, "KEY0000001", "TEAM000009", now),
            "not.a.jwt".to_owned(),
        ] {
            assert_eq!(auth.check(&bad, now).unwrap_err().1, "InvalidProviderToken");
        }
        auth.expire_all(now + 1400);
        assert_eq!(
            auth.check(&later, now + 1400).unwrap_err().1,
            "ExpiredProviderToken"
        );
        let fresh = jwt(&key, "KEY0000001", "TEAM000001", now + 1400);
        assert!(auth.check(&fresh, now + 1400).unwrap().new_token);
    }
}
