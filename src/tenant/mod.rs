//! Tenants (apps), their credentials, and who a caller is.
//!
//! The admin token manages apps; an app's client id and secret buy app tokens; an app token buys user tokens
//! for the own channel. Everything here is storage-agnostic: it talks to the repositories of [`crate::store`].

mod config;
pub use config::AuthConfig;

pub mod app_name;
pub mod secrets;
pub mod tokens;

use std::{path::Path, time::Duration};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::Rng;

pub use app_name::AppName;
use tokens::{Claims, TokenError, TokenKind, TokenSigner};

use crate::{
    clock::now_ms,
    store::{AppRecord, Store, StoreError, meta::ADMIN_TOKEN_HASH},
    validate::Violations,
};

/// File in the data directory that receives a generated admin token.
pub const ADMIN_TOKEN_FILE: &str = "admin-token";
/// File in the data directory that holds a generated token-signing key.
pub const SIGNING_KEY_FILE: &str = "token-signing.key";

/// Who is calling, as established by the auth layer from the bearer token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// The holder of the admin token.
    Admin,
    /// An app token of this app.
    App {
        /// The app.
        app: String,
    },
    /// A user token of this user of this app.
    User {
        /// The app.
        app: String,
        /// The user.
        user: String,
    },
}

/// Why a tenant operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    /// The request breaks a rule.
    #[error("invalid request: {0}")]
    Invalid(Violations),
    /// The credentials or token are wrong, expired or revoked.
    #[error("unauthenticated: {0}")]
    Unauthenticated(String),
    /// The app does not exist.
    #[error("app {0} not found")]
    AppNotFound(String),
    /// The app exists already.
    #[error("app {0} already exists")]
    AppExists(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A key file could not be read or written.
    #[error(transparent)]
    KeyFile(#[from] secrets::KeyFileError),
}

/// A newly created or re-keyed app with its secret, shown once.
#[derive(Debug, Clone)]
pub struct AppWithSecret {
    /// The stored app.
    pub app: AppRecord,
    /// The client secret in clear.
    pub client_secret: String,
}

/// An issued token.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The bearer token.
    pub token: String,
    /// Unix seconds at which it expires.
    pub expires_at: i64,
    /// The app it acts for.
    pub app: String,
}

/// Apps, credentials and tokens.
#[derive(Clone)]
pub struct Tenants {
    store: Store,
    signer: TokenSigner,
    admin_hash: Vec<u8>,
    config: AuthConfig,
}

impl Tenants {
    /// Sets up credentials: the configured admin token and signing key, or ones generated into `data_dir` on
    /// the first start (only the admin token's hash is stored).
    pub async fn init(
        store: Store,
        config: AuthConfig,
        data_dir: &Path,
    ) -> Result<Self, TenantError> {
        let signing_key = match &config.signing_key {
            Some(key) if key.expose().len() >= 32 => key.expose().to_owned(),
            Some(_) => {
                return Err(TenantError::Invalid(Violations::single(
                    "auth.signing_key",
                    "must be at least 32 characters",
                )));
            }
            None => secrets::load_or_create(&data_dir.join(SIGNING_KEY_FILE), "")?.0,
        };
        let admin_hash = match &config.admin_token {
            Some(token) => secrets::hash(token.expose()),
            None => match store.meta.get_meta(ADMIN_TOKEN_HASH).await? {
                Some(hash) => hash,
                None => {
                    let path = data_dir.join(ADMIN_TOKEN_FILE);
                    let token = secrets::generate("pga_");
                    // A leftover file from an older store would hold a token that no longer works.
                    let _ = std::fs::remove_file(&path);
                    secrets::write_private(&path, &token).map_err(|e| secrets::KeyFileError {
                        path: path.display().to_string(),
                        reason: e.to_string(),
                    })?;
                    let hash = secrets::hash(&token);
                    store.meta.put_meta(ADMIN_TOKEN_HASH, hash.clone()).await?;
                    tracing::info!(path = %path.display(), "generated the admin token; it is in this file (mode 0600)");
                    hash
                }
            },
        };
        Ok(Self {
            store,
            signer: TokenSigner::new(signing_key.as_bytes()),
            admin_hash,
            config,
        })
    }

    /// Creates an app with a fresh client id and secret.
    pub async fn create_app(
        &self,
        name: &str,
        time_zone: &str,
    ) -> Result<AppWithSecret, TenantError> {
        let mut v = Violations::new();
        let parsed = AppName::parse(name);
        if let Err(e) = &parsed {
            v.add("name", e.clone());
        }
        v.check("time_zone", check_time_zone(time_zone));
        v.into_result().map_err(TenantError::Invalid)?;
        let name = parsed.map_err(|e| TenantError::Invalid(Violations::single("name", e)))?;
        let now = now_ms();
        let client_secret = secrets::generate("pgs_");
        let app = AppRecord {
            name: name.to_string(),
            client_id: client_id_for(&name),
            secret_hash: secrets::hash(&client_secret),
            secret_id: rand::rng().random(),
            create_time_ms: now,
            secret_time_ms: now,
            time_zone: if time_zone.is_empty() {
                "UTC".to_owned()
            } else {
                time_zone.to_owned()
            },
        };
        self.store
            .apps
            .create_app(app.clone())
            .await
            .map_err(|e| match e {
                StoreError::AlreadyExists(_) => TenantError::AppExists(app.name.clone()),
                e => e.into(),
            })?;
        Ok(AppWithSecret { app, client_secret })
    }

    /// One app.
    pub async fn get_app(&self, name: &str) -> Result<AppRecord, TenantError> {
        let name = parse_name(name, "name")?;
        self.store
            .apps
            .get_app(name.as_str())
            .await?
            .ok_or_else(|| TenantError::AppNotFound(name.to_string()))
    }

    /// Fails with `AppNotFound` unless the app exists (for admin calls that name an app).
    pub async fn require_app(&self, name: &str, field: &str) -> Result<AppName, TenantError> {
        let parsed = parse_name(name, field)?;
        match self.store.apps.get_app(parsed.as_str()).await? {
            Some(_) => Ok(parsed),
            None => Err(TenantError::AppNotFound(parsed.to_string())),
        }
    }

    /// A page of apps after `after`.
    pub async fn list_apps(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AppRecord>, TenantError> {
        Ok(self.store.apps.list_apps(after, limit).await?)
    }

    /// Deletes an app and all it owns; returns the number of records removed.
    pub async fn delete_app(&self, name: &str) -> Result<u64, TenantError> {
        let name = parse_name(name, "name")?;
        match self.store.apps.delete_app(name.as_str()).await? {
            0 => Err(TenantError::AppNotFound(name.to_string())),
            n => Ok(n),
        }
    }

    /// Replaces the app's secret; every token issued before stops working.
    pub async fn rotate_secret(&self, name: &str) -> Result<AppWithSecret, TenantError> {
        let mut app = self.get_app(name).await?;
        let client_secret = secrets::generate("pgs_");
        app.secret_hash = secrets::hash(&client_secret);
        app.secret_id = new_secret_id(app.secret_id);
        app.secret_time_ms = now_ms();
        self.store
            .apps
            .update_app(app.clone())
            .await
            .map_err(|e| match e {
                StoreError::NotFound(_) => TenantError::AppNotFound(app.name.clone()),
                e => e.into(),
            })?;
        Ok(AppWithSecret { app, client_secret })
    }

    /// The longest lifetime an app token may be given (`auth.app_token_max_ttl`).
    pub fn app_token_max_ttl(&self) -> Duration {
        self.config.app_token_max_ttl
    }

    /// Exchanges client credentials for an app token.
    pub async fn issue_app_token(
        &self,
        client_id: &str,
        client_secret: &str,
        ttl: Option<Duration>,
    ) -> Result<IssuedToken, TenantError> {
        let mut v = Violations::new();
        if client_id.is_empty() {
            v.add("client_id", "is required");
        }
        if client_secret.is_empty() {
            v.add("client_secret", "is required");
        }
        let ttl = pick_ttl(
            ttl,
            self.config.app_token_ttl,
            self.config.app_token_max_ttl,
            &mut v,
        );
        v.into_result().map_err(TenantError::Invalid)?;
        let refused = || TenantError::Unauthenticated("unknown client id or wrong secret".into());
        let app_name = app_of_client_id(client_id).ok_or_else(refused)?;
        let app = self
            .store
            .apps
            .get_app(&app_name)
            .await?
            .ok_or_else(refused)?;
        if app.client_id != client_id || !secrets::matches(client_secret, &app.secret_hash) {
            return Err(refused());
        }
        Ok(self.sign(TokenKind::App, &app, "", ttl))
    }

    /// Issues a user token for the own channel, for an app the caller's token belongs to.
    pub async fn issue_user_token(
        &self,
        app: &str,
        user: &str,
        ttl: Option<Duration>,
    ) -> Result<IssuedToken, TenantError> {
        let mut v = Violations::new();
        v.check("user", check_user_id(user));
        let ttl = pick_ttl(
            ttl,
            self.config.user_token_ttl,
            self.config.user_token_max_ttl,
            &mut v,
        );
        v.into_result().map_err(TenantError::Invalid)?;
        let record = self.store.apps.get_app(app).await?.ok_or_else(|| {
            TenantError::Unauthenticated("the token's app no longer exists".into())
        })?;
        Ok(self.sign(TokenKind::User, &record, user, ttl))
    }

    fn sign(&self, kind: TokenKind, app: &AppRecord, user: &str, ttl: Duration) -> IssuedToken {
        let expires_at = now_ms() / 1000 + ttl.as_secs() as i64;
        let claims = Claims {
            kind: Claims::kind_number(kind),
            app: app.name.clone(),
            user: user.to_owned(),
            secret_id: app.secret_id,
            expires_at,
            nonce: rand::rng().random(),
        };
        IssuedToken {
            token: self.signer.sign(&claims),
            expires_at,
            app: app.name.clone(),
        }
    }

    /// Establishes who presents `token`: the admin, an app or a user. Every failure is `Unauthenticated`.
    pub async fn authenticate(&self, token: &str) -> Result<Caller, TenantError> {
        if !tokens::is_signed_token(token) {
            return if secrets::matches(token, &self.admin_hash) {
                Ok(Caller::Admin)
            } else {
                Err(TenantError::Unauthenticated("invalid token".into()))
            };
        }
        let claims = self
            .signer
            .verify(token, now_ms() / 1000)
            .map_err(|e| TenantError::Unauthenticated(e.to_string()))?;
        let app = self.store.apps.get_app(&claims.app).await?;
        match app {
            Some(app) if app.secret_id == claims.secret_id => {}
            _ => {
                return Err(TenantError::Unauthenticated(
                    "token revoked: the app's secret was rotated or the app deleted".into(),
                ));
            }
        }
        match claims.token_kind() {
            Some(TokenKind::App) => Ok(Caller::App { app: claims.app }),
            Some(TokenKind::User) => Ok(Caller::User {
                app: claims.app,
                user: claims.user,
            }),
            None => Err(TenantError::Unauthenticated(
                TokenError::Malformed.to_string(),
            )),
        }
    }
}

/// A random secret id that differs from `old`, so the rotation revokes every token carrying `old`.
fn new_secret_id(old: u64) -> u64 {
    let mut rng = rand::rng();
    loop {
        let id: u64 = rng.random();
        if id != old {
            return id;
        }
    }
}

fn parse_name(name: &str, field: &str) -> Result<AppName, TenantError> {
    AppName::parse(name).map_err(|e| TenantError::Invalid(Violations::single(field, e)))
}

/// Client ids embed the app name (so no global index is needed) plus random bits (so a re-created app gets a
/// new id).
fn client_id_for(name: &AppName) -> String {
    let suffix: u32 = rand::rng().random();
    format!(
        "pgc.{}.{suffix:08x}",
        URL_SAFE_NO_PAD.encode(name.as_str().as_bytes())
    )
}

fn app_of_client_id(client_id: &str) -> Option<String> {
    let mut parts = client_id.split('.');
    let (Some("pgc"), Some(name), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let bytes = URL_SAFE_NO_PAD.decode(name).ok()?;
    String::from_utf8(bytes).ok()
}

fn pick_ttl(
    asked: Option<Duration>,
    default: Duration,
    max: Duration,
    v: &mut Violations,
) -> Duration {
    match asked {
        None => default,
        Some(d) if d.is_zero() => default,
        Some(d) if d > max => {
            v.add(
                "ttl",
                format!("is longer than the allowed maximum of {}s", max.as_secs()),
            );
            default
        }
        Some(d) if d < Duration::from_secs(1) => {
            v.add("ttl", "must be at least one second");
            default
        }
        Some(d) => d,
    }
}

/// Users are 1..64 characters of `[a-zA-Z0-9_.@-]` (Easemob's user name alphabet).
pub fn check_user_id(user: &str) -> Result<(), String> {
    crate::validate::name_chars(
        user,
        64,
        |c| c.is_ascii_alphanumeric() || "_.@-".contains(c),
        "letters, digits, '_', '.', '@' and '-'",
    )
}

/// Accepts what the do-not-disturb evaluation can use: `UTC`, fixed offsets `±HH:MM`, and IANA names known
/// to the bundled time-zone database; empty means UTC.
fn check_time_zone(tz: &str) -> Result<(), String> {
    crate::time_zone::parse_time_zone(tz).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_id_round_trips_the_app_name() {
        let name = AppName::parse("acme#chat").unwrap();
        let id = client_id_for(&name);
        assert_eq!(app_of_client_id(&id).as_deref(), Some("acme#chat"));
        assert_eq!(app_of_client_id("pgc.x"), None);
        assert_eq!(app_of_client_id("junk"), None);
    }

    #[test]
    fn time_zones() {
        for ok in [
            "",
            "UTC",
            "+08:00",
            "-03:30",
            "Asia/Shanghai",
            "America/Argentina/Buenos_Aires",
        ] {
            assert!(check_time_zone(ok).is_ok(), "{ok}");
        }
        for bad in [
            "utc8",
            "+8",
            "+15:00",
            "Asia/",
            "/x",
            "a b/c",
            "Mars/Olympus_Mons",
        ] {
            assert!(check_time_zone(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ttl_rules() {
        let mut v = Violations::new();
        let d = Duration::from_secs(10);
        let max = Duration::from_secs(100);
        assert_eq!(pick_ttl(None, d, max, &mut v), d);
        assert_eq!(pick_ttl(Some(Duration::ZERO), d, max, &mut v), d);
        assert_eq!(
            pick_ttl(Some(Duration::from_secs(50)), d, max, &mut v),
            Duration::from_secs(50)
        );
        assert!(v.list().is_empty());
        pick_ttl(Some(Duration::from_secs(101)), d, max, &mut v);
        assert_eq!(v.list().len(), 1);
    }
}
