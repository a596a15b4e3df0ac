//! Apps (tenants): their records and repository.

use async_trait::async_trait;

use super::StoreError;

/// One app (tenant). Times are Unix milliseconds.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AppRecord {
    /// `org#app`.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Public client id for `IssueToken`.
    #[prost(string, tag = "2")]
    pub client_id: String,
    /// SHA-256 of the client secret; the secret itself is never stored.
    #[prost(bytes = "vec", tag = "3")]
    pub secret_hash: Vec<u8>,
    /// Random id of the current secret; tokens carry it, so a rotation revokes every older token.
    #[prost(uint64, tag = "4")]
    pub secret_id: u64,
    /// Creation time.
    #[prost(int64, tag = "5")]
    pub create_time_ms: i64,
    /// Time the current secret was set.
    #[prost(int64, tag = "6")]
    pub secret_time_ms: i64,
    /// Time zone for do-not-disturb intervals.
    #[prost(string, tag = "7")]
    pub time_zone: String,
}

#[async_trait]
pub trait AppRepository: Send + Sync {
    /// Stores a new app; `AlreadyExists` when the name is taken.
    async fn create_app(&self, app: AppRecord) -> Result<(), StoreError>;
    /// One app by name.
    async fn get_app(&self, name: &str) -> Result<Option<AppRecord>, StoreError>;
    /// Up to `limit` apps in name order, starting after `after`.
    async fn list_apps(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AppRecord>, StoreError>;
    /// Replaces an existing app; `NotFound` when it is gone.
    async fn update_app(&self, app: AppRecord) -> Result<(), StoreError>;
    /// Removes the app and every record it owns, in every repository; returns how many records went,
    /// counted as the backend stores them (sled counts its index entries too): at least one per record the
    /// repositories return, a figure for the operator that differs between backends.
    async fn delete_app(&self, name: &str) -> Result<u64, StoreError>;
}
