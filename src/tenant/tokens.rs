//! App and user tokens: signed, self-describing, checked against the app's current secret id.
//!
//! A token is `pg1.<claims>.<mac>`: the claims prost-encoded in URL-safe base64 and an HMAC-SHA256 over
//! `pg1.<claims>` with the server's signing key. Signed tokens need no token table; revocation comes from the
//! `secret_id` claim, which must equal the app's current one, so rotating the secret (or deleting and
//! re-creating the app) revokes every older token at once.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use prost::Message;
use sha2::Sha256;

/// Version prefix of the token format.
const PREFIX: &str = "pg1.";

/// What a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// An app token: every app-scoped RPC.
    App,
    /// A user token: the own channel of one user.
    User,
}

/// The signed content of a token.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Claims {
    /// 1 = app token, 2 = user token.
    #[prost(uint32, tag = "1")]
    pub kind: u32,
    /// `org#app`.
    #[prost(string, tag = "2")]
    pub app: String,
    /// The user, for user tokens.
    #[prost(string, tag = "3")]
    pub user: String,
    /// The app's secret id when the token was issued.
    #[prost(uint64, tag = "4")]
    pub secret_id: u64,
    /// Unix seconds after which the token is refused.
    #[prost(int64, tag = "5")]
    pub expires_at: i64,
    /// Random bits so two tokens issued in the same second differ.
    #[prost(uint64, tag = "6")]
    pub nonce: u64,
}

impl Claims {
    /// The kind of the token, when known.
    pub fn token_kind(&self) -> Option<TokenKind> {
        match self.kind {
            1 => Some(TokenKind::App),
            2 => Some(TokenKind::User),
            _ => None,
        }
    }

    /// The wire number of a kind.
    pub fn kind_number(kind: TokenKind) -> u32 {
        match kind {
            TokenKind::App => 1,
            TokenKind::User => 2,
        }
    }
}

/// Why a token was refused. Every variant means UNAUTHENTICATED.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a pushgate token at all.
    #[error("malformed token")]
    Malformed,
    /// The signature does not match: forged, or signed with another key.
    #[error("token signature is invalid")]
    BadSignature,
    /// Past its expiry.
    #[error("token expired")]
    Expired,
}

/// Signs and verifies tokens with one key.
#[derive(Clone)]
pub struct TokenSigner {
    key: Vec<u8>,
}

impl TokenSigner {
    /// A signer with `key` (any length; the configured or generated key has at least 256 bits).
    pub fn new(key: &[u8]) -> Self {
        Self { key: key.to_vec() }
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC accepts keys of any length, so this cannot fail.
        <Hmac<Sha256> as Mac>::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!())
    }

    /// Signs `claims` into a token.
    pub fn sign(&self, claims: &Claims) -> String {
        let body = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(claims.encode_to_vec()));
        let mut mac = self.mac();
        mac.update(body.as_bytes());
        let tag = mac.finalize().into_bytes();
        format!("{body}.{}", URL_SAFE_NO_PAD.encode(tag))
    }

    /// Checks the signature and expiry of `token` at `now` (Unix seconds) and returns its claims.
    pub fn verify(&self, token: &str, now: i64) -> Result<Claims, TokenError> {
        if !token.starts_with(PREFIX) {
            return Err(TokenError::Malformed);
        }
        let (body, tag) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| TokenError::Malformed)?;
        let mut mac = self.mac();
        mac.update(body.as_bytes());
        mac.verify_slice(&tag)
            .map_err(|_| TokenError::BadSignature)?;
        let claims_bytes = URL_SAFE_NO_PAD
            .decode(&body[PREFIX.len()..])
            .map_err(|_| TokenError::Malformed)?;
        let claims = Claims::decode(claims_bytes.as_slice()).map_err(|_| TokenError::Malformed)?;
        if claims.expires_at <= now {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

/// Whether `token` looks like a signed app or user token (rather than an admin token).
pub fn is_signed_token(token: &str) -> bool {
    token.starts_with(PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(expires_at: i64) -> Claims {
        Claims {
            kind: 1,
            app: "o#a".into(),
            user: String::new(),
            secret_id: 7,
            expires_at,
            nonce: 1,
        }
    }

    #[test]
    fn round_trip() {
        let s = TokenSigner::new(b"k");
        let t = s.sign(&claims(100));
        assert_eq!(s.verify(&t, 99).unwrap(), claims(100));
    }

    #[test]
    fn expiry_is_exclusive() {
        let s = TokenSigner::new(b"k");
        let t = s.sign(&claims(100));
        assert_eq!(s.verify(&t, 100), Err(TokenError::Expired));
    }

    #[test]
    fn other_key_or_tampering_is_refused() {
        let s = TokenSigner::new(b"k");
        let t = s.sign(&claims(100));
        assert_eq!(
            TokenSigner::new(b"other").verify(&t, 0),
            Err(TokenError::BadSignature)
        );
        // Re-encode the claims with a later expiry but keep the old signature.
        let (_, tag) = t.rsplit_once('.').unwrap();
        let forged_body = format!(
            "{PREFIX}{}",
            URL_SAFE_NO_PAD.encode(claims(10_000).encode_to_vec())
        );
        assert_eq!(
            s.verify(&format!("{forged_body}.{tag}"), 0),
            Err(TokenError::BadSignature)
        );
        assert_eq!(s.verify("pg1.eA.AAAA", 0), Err(TokenError::BadSignature));
        assert_eq!(s.verify("nope", 0), Err(TokenError::Malformed));
        assert_eq!(s.verify("pg1.!!.!!", 0), Err(TokenError::Malformed));
    }
}
