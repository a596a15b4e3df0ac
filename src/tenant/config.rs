//! The `[auth]` section of the configuration: the admin token, token signing and token lifetimes.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// Admin token, token signing and token lifetimes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// The admin token for `AppService`. When unset, the first start generates one and writes it to
    /// `<data_dir>/admin-token` (mode 0600); only its hash is stored.
    pub admin_token: Option<Secret>,
    /// Key that signs app and user tokens (at least 32 characters). When unset, a random key is generated once
    /// into `<data_dir>/token-signing.key` (mode 0600). Changing it invalidates every issued token.
    pub signing_key: Option<Secret>,
    /// Lifetime of an app token when the caller asks for none.
    #[serde(with = "humantime_serde")]
    pub app_token_ttl: Duration,
    /// Longest app token lifetime a caller may ask for.
    #[serde(with = "humantime_serde")]
    pub app_token_max_ttl: Duration,
    /// Lifetime of a user (own channel) token when the caller asks for none.
    #[serde(with = "humantime_serde")]
    pub user_token_ttl: Duration,
    /// Longest user token lifetime a caller may ask for.
    #[serde(with = "humantime_serde")]
    pub user_token_max_ttl: Duration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            admin_token: None,
            signing_key: None,
            app_token_ttl: Duration::from_secs(24 * 3600),
            app_token_max_ttl: Duration::from_secs(30 * 24 * 3600),
            user_token_ttl: Duration::from_secs(3600),
            user_token_max_ttl: Duration::from_secs(24 * 3600),
        }
    }
}
