//! Notifiers (push certificates): their records and repository.

use async_trait::async_trait;

use super::StoreError;

/// One notifier of an app. Times are Unix milliseconds.
///
/// `public` is the API message with every secret field cleared and the output-only fields filled, so reads
/// never touch secrets; `sealed_credentials` holds the full credentials, encrypted (see `notifier::sealing`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct NotifierRecord {
    /// What callers may see.
    #[prost(message, optional, tag = "1")]
    pub public: Option<crate::proto::v1::Notifier>,
    /// The credentials with their secrets, encrypted and bound to the app and notifier name.
    #[prost(bytes = "vec", tag = "2")]
    pub sealed_credentials: Vec<u8>,
}

impl NotifierRecord {
    /// The notifier's name.
    pub fn name(&self) -> &str {
        self.public.as_ref().map_or("", |p| p.name.as_str())
    }

    /// The notifier's vendor number (`pushgate.v1.Vendor`).
    pub fn vendor(&self) -> i32 {
        self.public.as_ref().map_or(0, |p| p.vendor)
    }
}

/// Notifiers of an app.
#[async_trait]
pub trait NotifierRepository: Send + Sync {
    /// Stores a new notifier; `AlreadyExists` when the name is taken, `LimitReached` beyond `max_per_app`.
    async fn create_notifier(
        &self,
        app: &str,
        notifier: NotifierRecord,
        max_per_app: usize,
    ) -> Result<(), StoreError>;
    /// One notifier by name.
    async fn get_notifier(
        &self,
        app: &str,
        name: &str,
    ) -> Result<Option<NotifierRecord>, StoreError>;
    /// Up to `limit` notifiers in name order after `after`, only of `vendor` unless it is 0.
    async fn list_notifiers(
        &self,
        app: &str,
        after: Option<&str>,
        limit: usize,
        vendor: i32,
    ) -> Result<Vec<NotifierRecord>, StoreError>;
    /// Replaces an existing notifier; `NotFound` when it is gone.
    async fn update_notifier(&self, app: &str, notifier: NotifierRecord) -> Result<(), StoreError>;
    /// Removes a notifier; returns whether it existed.
    async fn delete_notifier(&self, app: &str, name: &str) -> Result<bool, StoreError>;
}
