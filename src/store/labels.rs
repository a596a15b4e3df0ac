//! Push labels of an app and their users: records and repository.
//!
//! Label names and user ids reach the repository validated (see `crate::labels`): neither contains a NUL
//! byte, which a backend's key layout may rely on as a separator (sled's keeps label `a` apart from `ab`).

use async_trait::async_trait;

use super::StoreError;

/// One push label of an app. Times are Unix milliseconds.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LabelRecord {
    /// Name, unique in the app (case-sensitive).
    #[prost(string, tag = "1")]
    pub name: String,
    /// Free text; empty if none.
    #[prost(string, tag = "2")]
    pub description: String,
    /// Creation time.
    #[prost(int64, tag = "3")]
    pub create_time_ms: i64,
    /// How many users the label holds; kept in the same transaction as the memberships, so it is exact.
    #[prost(uint64, tag = "4")]
    pub user_count: u64,
}

/// One user's membership of a label. Times are Unix milliseconds.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LabelUserRecord {
    /// The user.
    #[prost(string, tag = "1")]
    pub user: String,
    /// When the user was first added (adding a member again keeps it).
    #[prost(int64, tag = "2")]
    pub add_time_ms: i64,
}

/// One label in a user's by-user index: the mirror of a [`LabelUserRecord`].
#[derive(Clone, PartialEq, prost::Message)]
pub struct UserLabelRecord {
    /// The label.
    #[prost(string, tag = "1")]
    pub label: String,
    /// When the user was first added to it.
    #[prost(int64, tag = "2")]
    pub add_time_ms: i64,
}

/// Labels and their memberships. Every write that changes a membership updates the label's user count and the
/// by-user index atomically with it.
#[async_trait]
pub trait LabelRepository: Send + Sync {
    /// Stores a new label, refusing it when the app has `max_labels` already (`LimitReached`) or the name is
    /// taken (`AlreadyExists`).
    async fn create_label(
        &self,
        app: &str,
        label: LabelRecord,
        max_labels: usize,
    ) -> Result<(), StoreError>;
    /// One label, with its current user count.
    async fn get_label(&self, app: &str, name: &str) -> Result<Option<LabelRecord>, StoreError>;
    /// Up to `limit` labels of the app in name order, starting after `after`.
    async fn list_labels(
        &self,
        app: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<LabelRecord>, StoreError>;
    /// Removes a label with all its memberships; returns how many memberships went, or `None` when the label
    /// does not exist.
    async fn delete_label(&self, app: &str, name: &str) -> Result<Option<u64>, StoreError>;
    /// Makes `users` members of `label` as of `add_time_ms` (members already keep their first time); returns
    /// how many were new. All or nothing: `NotFound` without the label, `LimitReached` when the new members
    /// would take it past `max_users`.
    async fn add_label_users(
        &self,
        app: &str,
        label: &str,
        users: &[String],
        add_time_ms: i64,
        max_users: usize,
    ) -> Result<u64, StoreError>;
    /// Ends the membership of `users` in `label` (non-members are no-ops); returns how many were members.
    /// `NotFound` without the label.
    async fn remove_label_users(
        &self,
        app: &str,
        label: &str,
        users: &[String],
    ) -> Result<u64, StoreError>;
    /// One user's membership of one label.
    async fn get_label_user(
        &self,
        app: &str,
        label: &str,
        user: &str,
    ) -> Result<Option<LabelUserRecord>, StoreError>;
    /// Up to `limit` memberships of one label in user id order, starting after user `after`.
    async fn list_label_users(
        &self,
        app: &str,
        label: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<LabelUserRecord>, StoreError>;
    /// Up to `limit` distinct users who belong to any of `labels`, in user id order, starting after user
    /// `after`: the pages a label task fans out over, resumable from the last user of a page. Unknown labels
    /// contribute no one.
    async fn users_of_labels(
        &self,
        app: &str,
        labels: &[String],
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError>;
    /// The labels one user belongs to, in name order.
    async fn labels_of_user(&self, app: &str, user: &str) -> Result<Vec<String>, StoreError>;
    /// Removes the user from every label (for deleting a user); returns how many memberships went.
    async fn delete_user(&self, app: &str, user: &str) -> Result<u64, StoreError>;
    /// Whether the user belongs to any label (one of the records that make a user exist).
    async fn has_user(&self, app: &str, user: &str) -> Result<bool, StoreError>;
}
