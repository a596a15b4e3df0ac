//! An OAuth 2.0 client-credentials grant as Huawei's and Honor's token endpoints run it: registered
//! clients (id, secret, and the app they push for) and the bearer access tokens issued to them.

use std::collections::HashMap;

use super::{
    core::Incoming,
    form,
    tokens::{IssuedTokens, TokenRefusal},
};

/// Most live access tokens kept; past it the expired ones are dropped, then the oldest half.
const MAX_ACCESS_TOKENS: usize = 100_000;

/// A registered OAuth client.
#[derive(Debug, Clone)]
struct Client {
    secret: String,
    app_id: String,
}

/// What an issued access token grants.
#[derive(Debug, Clone)]
pub struct AccessToken {
    /// The app it may push for.
    pub app_id: String,
    /// The client it was issued to.
    pub client_id: String,
}

/// Why a token request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantRefusal {
    /// `grant_type` missing or not `client_credentials`.
    GrantType,
    /// `client_id` or `client_secret` missing.
    Missing,
    /// No client with that id.
    UnknownClient,
    /// The secret does not match.
    BadSecret,
}

/// Clients and the access tokens issued to them.
#[derive(Debug, Default)]
pub struct ClientCredentials {
    clients: HashMap<String, Client>,
    tokens: IssuedTokens<AccessToken>,
}

impl ClientCredentials {
    /// Registers a client allowed to push for `app_id`.
    pub fn register(&mut self, client_id: &str, secret: &str, app_id: &str) {
        self.clients.insert(
            client_id.to_owned(),
            Client {
                secret: secret.to_owned(),
                app_id: app_id.to_owned(),
            },
        );
    }

    /// Runs the grant on a decoded token request form; returns the new token and its record.
    pub fn grant(
        &mut self,
        form: &HashMap<String, String>,
        now_ms: i64,
        lifetime_secs: u64,
        prefix: &str,
    ) -> Result<(String, AccessToken), GrantRefusal> {
        if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
            return Err(GrantRefusal::GrantType);
        }
        let (Some(client_id), Some(secret)) = (
            form.get("client_id").filter(|s| !s.is_empty()),
            form.get("client_secret").filter(|s| !s.is_empty()),
        ) else {
            return Err(GrantRefusal::Missing);
        };
        let client = self
            .clients
            .get(client_id)
            .ok_or(GrantRefusal::UnknownClient)?;
        let matches: bool =
            subtle::ConstantTimeEq::ct_eq(client.secret.as_bytes(), secret.as_bytes()).into();
        if !matches {
            return Err(GrantRefusal::BadSecret);
        }
        let record = AccessToken {
            app_id: client.app_id.clone(),
            client_id: client_id.clone(),
        };
        let token = format!("{prefix}{}", uuid::Uuid::new_v4().simple());
        self.tokens.make_room(MAX_ACCESS_TOKENS, now_ms);
        self.tokens
            .insert(token.clone(), record.clone(), now_ms, lifetime_secs);
        Ok((token, record))
    }

    /// Runs a token request: a POST whose form is the grant.
    pub fn grant_request(
        &mut self,
        request: &Incoming,
        lifetime_secs: u64,
        prefix: &str,
    ) -> Result<(String, AccessToken), GrantRefusal> {
        if request.method != http::Method::POST {
            return Err(GrantRefusal::GrantType);
        }
        let form = form::parse_map(&request.body);
        self.grant(&form, request.at_ms, lifetime_secs, prefix)
    }

    /// The live access token `token`.
    pub fn bearer(&self, token: &str, now_ms: i64) -> Result<&AccessToken, TokenRefusal> {
        self.tokens.check(token, now_ms)
    }

    /// Whether the `Authorization: Bearer …` header `authorization` may push for `app_id`: a missing
    /// header, an unknown token and another app's token are all [`TokenRefusal::Unknown`], as the
    /// vendors answer them alike.
    pub fn authorize(
        &self,
        authorization: Option<&str>,
        app_id: &str,
        now_ms: i64,
    ) -> Result<(), TokenRefusal> {
        let bearer = bearer_of(authorization).ok_or(TokenRefusal::Unknown)?;
        match self.bearer(&bearer, now_ms)? {
            token if token.app_id != app_id => Err(TokenRefusal::Unknown),
            _ => Ok(()),
        }
    }

    /// Expires every access token issued so far.
    pub fn expire_all(&mut self) {
        self.tokens.expire_all();
    }
}

/// The bearer token of an `Authorization: Bearer …` header (scheme case-insensitive).
pub fn bearer_of(header: Option<&str>) -> Option<String> {
    let value = header?;
    let scheme = value.get(..7)?;
    scheme
        .eq_ignore_ascii_case("bearer ")
        .then(|| value[7..].trim().to_owned())
        .filter(|t| !t.is_empty())
}

/// A random secret of 64 hex digits, like the consoles hand out.
pub fn random_secret() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::form::map_of as form;

    #[test]
    fn grants_check_the_secret_and_tokens_expire() {
        let mut cc = ClientCredentials::default();
        cc.register("c1", "s1", "app1");
        let ok = form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "c1"),
            ("client_secret", "s1"),
        ]);
        let (token, record) = cc.grant(&ok, 1_000, 60, "t-").unwrap();
        assert!(token.starts_with("t-"));
        assert_eq!(record.app_id, "app1");
        assert_eq!(cc.bearer(&token, 2_000).unwrap().app_id, "app1");
        assert_eq!(
            cc.bearer(&token, 61_000).unwrap_err(),
            TokenRefusal::Expired
        );
        assert_eq!(cc.bearer("nope", 0).unwrap_err(), TokenRefusal::Unknown);
        let mut bad = ok.clone();
        bad.insert("client_secret".into(), "s2".into());
        assert_eq!(
            cc.grant(&bad, 0, 60, "").unwrap_err(),
            GrantRefusal::BadSecret
        );
        bad.insert("client_id".into(), "c2".into());
        assert_eq!(
            cc.grant(&bad, 0, 60, "").unwrap_err(),
            GrantRefusal::UnknownClient
        );
        bad.insert("grant_type".into(), "password".into());
        assert_eq!(
            cc.grant(&bad, 0, 60, "").unwrap_err(),
            GrantRefusal::GrantType
        );
        let (token, _) = cc.grant(&ok, 1_000, 60, "").unwrap();
        cc.expire_all();
        assert_eq!(cc.bearer(&token, 1_001).unwrap_err(), TokenRefusal::Expired);
        assert_eq!(bearer_of(Some("Bearer abc ")), Some("abc".into()));
        assert_eq!(bearer_of(Some("Basic abc")), None);
    }
}
