//! One notifier's tokens from a vendor's token (auth) endpoint. Every vendor with such an endpoint (Huawei,
//! Honor, FCM, OPPO, vivo) keeps its token the same way: fetched single-flight through a [`CredentialCache`],
//! used until shortly before it expires, dropped when the vendor refuses it. A vendor says only how its
//! endpoint is asked, as a [`TokenEndpoint`].

use std::{future::Future, sync::Arc, time::Duration};

use super::{Cached, CredentialCache, GrantError};

/// How a vendor's token endpoint is asked for a new token.
pub trait TokenEndpoint: Send + Sync {
    /// Where tokens are asked for.
    fn url(&self) -> &str;

    /// Asks for a new token: the token and how long to use it, or why there is none.
    fn fetch(&self) -> impl Future<Output = Result<(String, Duration), GrantError>> + Send;
}

/// The tokens of endpoint `E`, cached.
pub struct Tokens<E> {
    endpoint: E,
    cache: CredentialCache<String, GrantError>,
}

impl<E: TokenEndpoint> Tokens<E> {
    /// No token yet: the first [`Self::current`] asks `endpoint`.
    pub fn new(endpoint: E) -> Self {
        Self {
            endpoint,
            cache: CredentialCache::new(),
        }
    }

    /// Where tokens are asked for.
    pub fn url(&self) -> &str {
        self.endpoint.url()
    }

    /// A live token, fetched now if there is none or it is about to expire.
    pub async fn current(&self) -> Result<Arc<Cached<String>>, GrantError> {
        self.cache.get(|| self.endpoint.fetch()).await
    }

    /// Drops `used` after the vendor refused it, so the next send fetches a new one.
    pub fn refused(&self, used: &Cached<String>) {
        self.cache.invalidate(used);
    }

    /// Fetches started so far.
    pub fn fetches(&self) -> u64 {
        self.cache.fetches()
    }
}
