//! Device bindings: which device token of which user is reached through which notifier.

use async_trait::async_trait;

use super::StoreError;

/// One binding. Times are Unix milliseconds.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct BindingRecord {
    /// The user.
    #[prost(string, tag = "1")]
    pub user: String,
    /// The caller's device id.
    #[prost(string, tag = "2")]
    pub device_id: String,
    /// The vendor's token for the device.
    #[prost(string, tag = "3")]
    pub device_token: String,
    /// The notifier that pushes to the token.
    #[prost(string, tag = "4")]
    pub notifier_name: String,
    /// `pushgate.v1.Vendor` of the notifier when bound.
    #[prost(int32, tag = "5")]
    pub vendor: i32,
    /// When first bound for this user.
    #[prost(int64, tag = "6")]
    pub create_time_ms: i64,
    /// When the token last changed.
    #[prost(int64, tag = "7")]
    pub update_time_ms: i64,
}

/// What a bind did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindEffect {
    /// A new binding; the device was not another user's.
    Bound,
    /// The binding existed with another token.
    Updated,
    /// The device was another user's; it moved.
    Moved {
        /// The user it was taken from.
        previous_user: String,
    },
    /// The same token was bound already.
    Unchanged,
}

/// The result of a bind: its effect and every binding it removed on the way.
#[derive(Debug, Clone)]
pub struct BindOutcome {
    /// What happened to the requested binding.
    pub effect: BindEffect,
    /// Bindings removed: the device's bindings under its previous user, and a binding elsewhere that held the
    /// same token under the same notifier.
    pub removed: Vec<BindingRecord>,
}

/// Where a page of bindings ends, to continue after it: opaque to the services (the API hands it to clients
/// as a page token); only the backend that made it reads its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingCursor(Vec<u8>);

impl BindingCursor {
    /// A cursor from a backend's own encoding (or a page token a client gave back).
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The cursor's encoding.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// Device bindings of an app.
#[async_trait]
pub trait BindingRepository: Send + Sync {
    /// Binds `binding` (keyed by user, device, notifier), moving the device from another user, replacing a
    /// different token and removing the same token bound elsewhere under the same notifier. A new binding
    /// beyond `max_per_user` is `LimitReached` and changes nothing.
    async fn bind(
        &self,
        app: &str,
        binding: BindingRecord,
        max_per_user: usize,
    ) -> Result<BindOutcome, StoreError>;
    /// Removes the device's binding under `notifier` (all of its bindings when `None`) if the device is
    /// `user`'s; returns what was removed.
    async fn unbind(
        &self,
        app: &str,
        user: &str,
        device_id: &str,
        notifier: Option<&str>,
    ) -> Result<Vec<BindingRecord>, StoreError>;
    /// Up to `limit` of a user's bindings (by device, then notifier) after `after`.
    async fn user_bindings(
        &self,
        app: &str,
        user: &str,
        after: Option<&BindingCursor>,
        limit: usize,
    ) -> Result<(Vec<BindingRecord>, Option<BindingCursor>), StoreError>;
    /// Up to `limit` bindings of the whole app (by user, device, notifier) after `after`: broadcast pages.
    async fn app_bindings(
        &self,
        app: &str,
        after: Option<&BindingCursor>,
        limit: usize,
    ) -> Result<(Vec<BindingRecord>, Option<BindingCursor>), StoreError>;
    /// Up to `limit` bindings of one notifier after `after`.
    async fn notifier_bindings(
        &self,
        app: &str,
        notifier: &str,
        after: Option<&BindingCursor>,
        limit: usize,
    ) -> Result<(Vec<BindingRecord>, Option<BindingCursor>), StoreError>;
    /// Up to `limit` distinct users with bindings, in user id order, after user `after`: a broadcast's pages.
    async fn app_users(
        &self,
        app: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError>;
    /// Removes every binding of a user; returns how many.
    async fn delete_user_bindings(&self, app: &str, user: &str) -> Result<u64, StoreError>;
    /// Whether the user has any binding.
    async fn has_bindings(&self, app: &str, user: &str) -> Result<bool, StoreError>;
}
