//! Users' push settings: their records and repository.
//!
//! One record per user holds everything set for the user as a whole (push nickname, display style, app-level
//! notification setting, language, chosen template); one record per (user, conversation) holds a
//! conversation-level notification setting. Enum fields hold the numbers of the `pushgate.v1` enums, with 0
//! meaning "never set" so that a missing record and a default record read the same.

use async_trait::async_trait;

use super::{StoreError, TemplateRecord};

/// Everything set for one user of an app as a whole. Times are Unix milliseconds.
#[derive(Clone, PartialEq, prost::Message)]
pub struct UserSettingsRecord {
    /// Push nickname; empty when none is set.
    #[prost(string, tag = "1")]
    pub nickname: String,
    /// `pushgate.v1.NotificationDisplayStyle` number; 0 when never set (the default style).
    #[prost(int32, tag = "2")]
    pub display_style: i32,
    /// App-level notification setting; unset reads as the defaults.
    #[prost(message, optional, tag = "3")]
    pub notification: Option<NotificationRecord>,
    /// Preferred notification language (BCP 47 tag as given); empty when none is set.
    #[prost(string, tag = "4")]
    pub language: String,
    /// Name of the chosen template; empty when none is chosen. May name a deleted template.
    #[prost(string, tag = "5")]
    pub template: String,
    /// Last change.
    #[prost(int64, tag = "6")]
    pub update_time_ms: i64,
}

/// A notification setting, at app level or for one conversation.
#[derive(Clone, PartialEq, prost::Message)]
pub struct NotificationRecord {
    /// `pushgate.v1.NotificationType` number; 0 when never set (ALL at app level, DEFAULT for a conversation).
    #[prost(int32, tag = "1")]
    pub notification_type: i32,
    /// Daily do-not-disturb interval (app level only); unset when none.
    #[prost(message, optional, tag = "2")]
    pub ignore_interval: Option<DailyInterval>,
    /// End of the do-not-disturb period set by a duration; 0 when none was set.
    #[prost(int64, tag = "3")]
    pub ignore_until_ms: i64,
    /// Last change.
    #[prost(int64, tag = "4")]
    pub update_time_ms: i64,
}

/// A daily interval in minutes after local midnight: `start` included, `end` excluded; `end < start` wraps
/// past midnight and `end == start` is the whole day.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct DailyInterval {
    /// First minute of the interval, 0..1440.
    #[prost(uint32, tag = "1")]
    pub start_minute: u32,
    /// First minute after the interval, 0..1440.
    #[prost(uint32, tag = "2")]
    pub end_minute: u32,
}

/// The kind of a conversation a setting applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChatKind {
    /// One-to-one chat; the key is the other user's id.
    User,
    /// Group chat; the key is the group id.
    Group,
}

/// One conversation of a user: the scope of a conversation-level setting.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConversationKey {
    /// One-to-one or group.
    pub kind: ChatKind,
    /// The other user's id or the group id (the user-id alphabet, so never a key separator).
    pub key: String,
}

/// Everything the send path needs about one receiving user, read at once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PushProfile {
    /// The user's own settings (defaults when never set).
    pub user: UserSettingsRecord,
    /// The asked conversation and its setting, when one is stored for it.
    pub conversation: Option<(ConversationKey, NotificationRecord)>,
    /// The chosen template, when one is chosen and still exists.
    pub template: Option<TemplateRecord>,
}

/// A change applied to a stored record; may run more than once when writes race, so it must be pure.
pub type Change<'a, T> = &'a (dyn Fn(&mut T) + Send + Sync);

/// Users' push settings of every app, keyed by app and user.
#[async_trait]
pub trait UserSettingsRepository: Send + Sync {
    /// One user's settings; `None` when nothing was ever set for the user.
    async fn get_user_settings(
        &self,
        app: &str,
        user: &str,
    ) -> Result<Option<UserSettingsRecord>, StoreError>;
    /// Applies `change` to the user's settings (starting from the defaults) atomically; returns the result.
    async fn update_user_settings(
        &self,
        app: &str,
        user: &str,
        change: Change<'_, UserSettingsRecord>,
    ) -> Result<UserSettingsRecord, StoreError>;
    /// Sets the push nicknames of several users (user, nickname) all at once, or none on failure.
    async fn set_nicknames(
        &self,
        app: &str,
        nicknames: &[(String, String)],
        now_ms: i64,
    ) -> Result<(), StoreError>;
    /// One conversation's setting; `None` when none is stored (it follows the app level).
    async fn get_conversation_setting(
        &self,
        app: &str,
        user: &str,
        conversation: &ConversationKey,
    ) -> Result<Option<NotificationRecord>, StoreError>;
    /// Applies `change` to one conversation's setting (starting from the defaults) atomically; returns the
    /// result. A result equal to the defaults as of `now_ms` is removed rather than stored.
    async fn update_conversation_setting(
        &self,
        app: &str,
        user: &str,
        conversation: &ConversationKey,
        now_ms: i64,
        change: Change<'_, NotificationRecord>,
    ) -> Result<NotificationRecord, StoreError>;
    /// What the send path needs about `user`: own settings, the setting of `conversation` if given and
    /// stored, and the chosen template if it exists.
    async fn push_profile(
        &self,
        app: &str,
        user: &str,
        conversation: Option<&ConversationKey>,
    ) -> Result<PushProfile, StoreError>;
    /// Whether any setting is stored for the user.
    async fn has_user(&self, app: &str, user: &str) -> Result<bool, StoreError>;
    /// Removes every setting of the user; returns how many (user records, conversation records) went.
    async fn delete_user(&self, app: &str, user: &str) -> Result<(u64, u64), StoreError>;
}
