//! Persistent state behind repository traits, with sled as the embedded implementation.
//!
//! The rest of the crate sees the traits (and [`Store`], which bundles one implementation of each), never
//! sled, so a clustered backend can be added without touching the services. Keys are built in [`keys`] only.

pub mod keys;
pub mod records;
mod sled_store;

use std::sync::Arc;

use async_trait::async_trait;

pub use records::{AppRecord, CallbackRuleRecord};
pub use sled_store::SledStore;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The embedded database failed (I/O, corruption).
    #[error("storage failure: {0}")]
    Backend(String),
    /// A stored value could not be decoded (written by an incompatible version, or corrupt).
    #[error("stored record {key} cannot be decoded: {reason}")]
    Corrupt {
        /// The record's key, lossily printed.
        key: String,
        /// The decode error.
        reason: String,
    },
    /// A record that must be new exists already.
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// The record to change does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// A per-app count limit would be exceeded.
    #[error("at most {limit} {what} per app")]
    LimitReached {
        /// What is counted.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
}

/// Apps (tenants) and the removal of everything an app owns.
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
    /// Removes the app and every record it owns in every tree; returns how many records went.
    async fn delete_app(&self, name: &str) -> Result<u64, StoreError>;
}

/// Callback rules of an app.
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
    /// Removes a rule; returns whether it existed.
    async fn delete_rule(&self, app: &str, name: &str) -> Result<bool, StoreError>;
}

/// Server-wide values that belong to no app.
#[async_trait]
pub trait MetaRepository: Send + Sync {
    /// A value by key (keys come from [`keys`]).
    async fn get_meta(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Sets a value.
    async fn put_meta(&self, key: &[u8], value: Vec<u8>) -> Result<(), StoreError>;
}

/// One implementation of every repository, shared by the services.
#[derive(Clone)]
pub struct Store {
    /// Apps.
    pub apps: Arc<dyn AppRepository>,
    /// Callback rules.
    pub callback_rules: Arc<dyn CallbackRuleRepository>,
    /// Server-wide values.
    pub meta: Arc<dyn MetaRepository>,
    flush: Arc<dyn Flush>,
}

/// Makes written state durable; called at shutdown.
#[async_trait]
pub trait Flush: Send + Sync {
    /// Writes everything buffered to disk.
    async fn flush(&self) -> Result<(), StoreError>;
}

impl Store {
    /// Opens (or creates) the embedded sled store in `dir`.
    pub fn open_sled(dir: &std::path::Path) -> Result<Self, StoreError> {
        let sled = Arc::new(SledStore::open(dir)?);
        Ok(Self {
            apps: sled.clone(),
            callback_rules: sled.clone(),
            meta: sled.clone(),
            flush: sled,
        })
    }

    /// Writes everything buffered to disk.
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.flush.flush().await
    }
}
