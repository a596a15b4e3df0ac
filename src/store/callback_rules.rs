//! Callback rules of an app: their records and repository.

use async_trait::async_trait;

use super::StoreError;

/// One callback rule of an app. Times are Unix milliseconds.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CallbackRuleRecord {
    /// Rule name, unique in the app.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Receiver URL.
    #[prost(string, tag = "2")]
    pub url: String,
    /// Signing secret in clear, as rules were stored before secrets were sealed; read only to seal it.
    #[prost(string, tag = "3")]
    pub secret: String,
    /// Whether deliveries are sent.
    #[prost(bool, tag = "4")]
    pub enabled: bool,
    /// `pushgate.v1.DeliveryStatus` values to send; empty means all.
    #[prost(int32, repeated, tag = "5")]
    pub statuses: Vec<i32>,
    /// Creation time.
    #[prost(int64, tag = "6")]
    pub create_time_ms: i64,
    /// Last change.
    #[prost(int64, tag = "7")]
    pub update_time_ms: i64,
    /// The signing secret, encrypted with the server's credentials key (it is needed in clear to compute the
    /// Easemob's md5 `security` field, so it cannot be hashed).
    #[prost(bytes = "vec", tag = "8")]
    pub sealed_secret: Vec<u8>,
}

#[async_trait]
pub trait CallbackRuleRepository: Send + Sync {
    /// Creates or replaces a rule, refusing a new one beyond `max_rules`; returns whether it was created.
    async fn put_rule(
        &self,
        app: &str,
        rule: CallbackRuleRecord,
        max_rules: usize,
    ) -> Result<bool, StoreError>;
    /// One rule.
    async fn get_rule(
        &self,
        app: &str,
        name: &str,
    ) -> Result<Option<CallbackRuleRecord>, StoreError>;
    /// All rules of an app in name order.
    async fn list_rules(&self, app: &str) -> Result<Vec<CallbackRuleRecord>, StoreError>;
    /// Every rule of every app, with its app.
    async fn all_rules(&self) -> Result<Vec<(String, CallbackRuleRecord)>, StoreError>;
    /// Removes a rule; returns whether it existed.
    async fn delete_rule(&self, app: &str, name: &str) -> Result<bool, StoreError>;
}
