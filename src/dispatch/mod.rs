//! Pushing to devices through the vendors.
//!
//! Each vendor has a [`Dispatcher`]: built for one notifier, it turns one batch of bindings and a rendered
//! message into one vendor request and maps the vendor's answer into one [`Outcome`] per binding through a
//! table in its module. Everything the vendors share is written once around it, in the notifier's [`Lane`]:
//! payload checks before any network call, a bound on requests in flight, a token-bucket rate limit, a circuit
//! breaker, quota pauses, timeouts, and retries of the devices whose outcome was transient. [`Dispatch`]
//! keeps one lane per notifier and rebuilds it when the notifier changes.

pub mod apns;
mod batch;
mod breaker;
pub mod checks;
mod config;
mod credential;
mod exchange;
pub mod fcm;
mod fields;
pub mod honor;
mod http;
pub mod huawei;
mod lane;
pub mod meizu;
mod message;
pub mod oppo;
mod outcome;
pub mod quota;
mod registry;
mod retry;
mod tap;
#[cfg(test)]
mod testing;
mod tokens;
pub mod vivo;
pub mod xiaomi;

use async_trait::async_trait;

pub use breaker::{Admission, Breaker, BreakerState};
pub use config::{DispatchConfig, VendorQps};
pub use credential::{Cached, CredentialCache, GrantError};
pub use http::{ClientIdentity, ClientOptions, client, endpoint};
pub(crate) use http::{auth_endpoint, notifier_client};
pub use lane::Lane;
pub use message::Rendered;
pub(crate) use outcome::Class;
pub use outcome::{Outcome, Report, VendorAnswer};
pub use registry::{Dispatch, Sharing, build_lane};
pub use retry::{Next, RetryPolicy};
pub use tokens::{TokenEndpoint, Tokens};

use crate::{notifier::NotifierError, proto::v1::Vendor, store::bindings::BindingRecord};

/// Why a notifier's lane could not be built or found.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// The stored credentials cannot be used (a key that does not parse, a p12 that does not open).
    #[error("unusable credentials: {0}")]
    Credentials(String),
    /// A CA certificate or TLS setting is unusable.
    #[error("TLS settings: {0}")]
    Tls(String),
    /// The notifier is aimed somewhere the operator does not allow (`dispatch.allowed_endpoints`).
    #[error("endpoint not allowed: {0}")]
    Endpoint(String),
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Client(reqwest::Error),
    /// The notifier could not be read.
    #[error(transparent)]
    Notifier(#[from] NotifierError),
    /// A configured file (the global extra CAs) could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl DispatchError {
    /// Refuses credentials with an empty required field: `Credentials("{what} are required")` unless every one
    /// of `fields` is set.
    pub(crate) fn require(fields: &[&str], what: &str) -> Result<(), Self> {
        if fields.iter().any(|f| f.is_empty()) {
            return Err(Self::Credentials(format!("{what} are required")));
        }
        Ok(())
    }
}

/// A vendor's answer for one binding of a request: the outcome and the raw answer it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answered {
    /// What it means.
    pub outcome: Outcome,
    /// What the vendor said.
    pub answer: VendorAnswer,
}

impl Answered {
    /// An outcome decided without a vendor answer (timeout, reset, refused locally).
    pub fn unanswered(outcome: Outcome) -> Self {
        Self {
            outcome,
            answer: VendorAnswer::default(),
        }
    }
}

/// Lets a dispatcher's `?` fail a request with an outcome decided without an answer.
impl From<Outcome> for Answered {
    fn from(outcome: Outcome) -> Self {
        Self::unanswered(outcome)
    }
}

/// One vendor's protocol, bound to one notifier's credentials and endpoints.
#[async_trait]
pub trait Dispatcher: Send + Sync {
    /// The vendor spoken.
    fn vendor(&self) -> Vendor;

    /// Most bindings one vendor request carries.
    fn max_batch(&self) -> usize;

    /// Refuses, before any network call, a message the vendor would refuse: `InvalidMessage` or
    /// `InvalidVoip`.
    fn check(&self, message: &Rendered) -> Result<(), Outcome>;

    /// Sends `message` to `batch` (at most [`Self::max_batch`] bindings, already checked) in one vendor
    /// request, answering one [`Answered`] per binding in order. Credentials are fetched or refreshed as
    /// needed; a credential the vendor refused is invalidated so the lane's next attempt fetches a new one.
    async fn send(&self, batch: &[&BindingRecord], message: &Rendered) -> Vec<Answered>;
}
