//! Users' push settings and the app's push templates: validation and the rules of `UserSettingsService`,
//! plus the pure functions the send path calls ([`dnd::held_back`], [`template::render_template`],
//! [`parse_time_zone`]).
//!
//! Every request is checked whole before anything is written: a bad request answers with every violated
//! field and changes nothing.

pub mod dnd;
pub mod template;
mod time_zone;

pub use time_zone::{AppTimeZone, parse_time_zone};

use crate::{
    config::SettingsConfig,
    proto::v1::{NotificationDisplayStyle, NotificationType, notification_conversation},
    store::{ChatKind, ConversationKey, NotificationRecord, Store, StoreError, TemplateRecord},
    tenant::{check_user_id, now_ms},
    validate::{Violations, max_chars, name_chars},
};

/// Longest template name.
const MAX_TEMPLATE_NAME: usize = 64;
/// Shortest and longest language tag.
const LANGUAGE_CHARS: std::ops::RangeInclusive<usize> = 2..=35;

/// Why a settings operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The request breaks a field rule.
    #[error("invalid request: {0}")]
    Invalid(Violations),
    /// No template of this name.
    #[error("template {0} not found")]
    TemplateNotFound(String),
    /// A template of this name exists already.
    #[error("template {0} already exists")]
    TemplateExists(String),
    /// The app has its maximum number of templates.
    #[error("an app may have at most {limit} templates")]
    TooManyTemplates {
        /// The limit.
        limit: usize,
    },
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for SettingsError {
    fn from(e: StoreError) -> Self {
        SettingsError::Store(e)
    }
}

impl From<Violations> for SettingsError {
    fn from(v: Violations) -> Self {
        SettingsError::Invalid(v)
    }
}

/// A conversation as a request names it.
#[derive(Debug, Clone, Default)]
pub struct ConversationInput {
    /// `NotificationConversation.ChatType` number.
    pub chat_type: i32,
    /// The other user's id or the group id.
    pub key: String,
}

/// The fields of `SetNotificationSetting`; `None` keeps the stored value.
#[derive(Debug, Clone, Default)]
pub struct NotificationChange {
    /// `NotificationType` number.
    pub notification_type: Option<i32>,
    /// `HH:MM-HH:MM`, or empty to clear.
    pub ignore_interval: Option<String>,
    /// Do not disturb for this long from now; zero ends a running period.
    pub ignore_duration: Option<prost_types::Duration>,
}

/// A notification setting with the defaults filled in, as callers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationView {
    /// The type (never UNSPECIFIED; DEFAULT only for a conversation).
    pub notification_type: NotificationType,
    /// `HH:MM-HH:MM`, or empty.
    pub ignore_interval: String,
    /// When the running do-not-disturb period ends; `None` when none runs.
    pub ignore_until_ms: Option<i64>,
}

/// Users' push settings and push templates over the store.
#[derive(Clone)]
pub struct UserSettings {
    store: Store,
    limits: SettingsConfig,
}

impl UserSettings {
    /// Settings kept in `store`, within `limits`.
    pub fn new(store: Store, limits: SettingsConfig) -> Self {
        Self { store, limits }
    }

    /// Sets (or, with an empty name, clears) one user's push nickname; returns it as stored.
    pub async fn set_nickname(
        &self,
        app: &str,
        user: &str,
        nickname: &str,
    ) -> Result<String, SettingsError> {
        let mut v = Violations::new();
        v.check("user", check_user_id(user));
        v.check("nickname", self.check_nickname(nickname));
        v.into_result()?;
        let now = now_ms();
        let stored = self
            .store
            .user_settings
            .update_user_settings(app, user, &|r| {
                r.nickname = nickname.to_owned();
                r.update_time_ms = now;
            })
            .await?;
        Ok(stored.nickname)
    }

    /// Sets several users' push nicknames, all or none; returns them in request order.
    pub async fn set_nicknames(
        &self,
        app: &str,
        entries: Vec<(String, String)>,
    ) -> Result<Vec<(String, String)>, SettingsError> {
        let mut v = Violations::new();
        let max = self.limits.max_nicknames_per_call;
        if entries.is_empty() || entries.len() > max {
            v.add(
                "nicknames",
                format!("has {} entries; 1 to {max} are allowed", entries.len()),
            );
        }
        let mut seen = std::collections::HashSet::new();
        for (i, (user, nickname)) in entries.iter().enumerate() {
            v.check(&format!("nicknames[{i}].user"), check_user_id(user));
            if !seen.insert(user.as_str()) {
                v.add(
                    format!("nicknames[{i}].user"),
                    format!("{user} is listed more than once"),
                );
            }
            v.check(
                &format!("nicknames[{i}].nickname"),
                self.check_nickname(nickname),
            );
        }
        v.into_result()?;
        self.store
            .user_settings
            .set_nicknames(app, &entries, now_ms())
            .await?;
        Ok(entries)
    }

    /// Sets one user's display style (`NotificationDisplayStyle` number; UNSPECIFIED resets it); returns it.
    pub async fn set_display_style(
        &self,
        app: &str,
        user: &str,
        style: i32,
    ) -> Result<NotificationDisplayStyle, SettingsError> {
        let mut v = Violations::new();
        v.check("user", check_user_id(user));
        let style = match NotificationDisplayStyle::try_from(style) {
            Ok(NotificationDisplayStyle::Unspecified) => NotificationDisplayStyle::Default,
            Ok(style) => style,
            Err(_) => {
                v.add(
                    "display_style",
                    format!("{style} is not a display style (DEFAULT or NICKNAME_AND_CONTENT)"),
                );
                NotificationDisplayStyle::Default
            }
        };
        v.into_result()?;
        let now = now_ms();
        self.store
            .user_settings
            .update_user_settings(app, user, &|r| {
                r.display_style = style as i32;
                r.update_time_ms = now;
            })
            .await?;
        Ok(style)
    }

    /// Changes the given fields of a user's app-level (no `conversation`) or conversation-level setting;
    /// returns the conversation and the resulting setting.
    pub async fn set_notification(
        &self,
        app: &str,
        user: &str,
        conversation: Option<ConversationInput>,
        change: NotificationChange,
    ) -> Result<(Option<ConversationKey>, NotificationView), SettingsError> {
        let mut v = Violations::new();
        v.check("user", check_user_id(user));
        let conversation = conversation.map(|c| check_conversation(&c, &mut v));
        let app_level = conversation.is_none();
        let now = now_ms();
        let new_type = change
            .notification_type
            .and_then(|t| check_type(t, app_level, &mut v));
        let new_interval = match change.ignore_interval {
            None => None,
            Some(_) if !app_level => {
                v.add(
                    "ignore_interval",
                    "applies at app level only; leave it out when naming a conversation",
                );
                None
            }
            Some(s) if s.is_empty() => Some(None),
            Some(s) => match dnd::parse_interval(&s) {
                Ok(interval) => Some(Some(interval)),
                Err(e) => {
                    v.add("ignore_interval", e);
                    None
                }
            },
        };
        let new_until = change
            .ignore_duration
            .and_then(|d| self.check_duration(d, now, &mut v));
        v.into_result()?;
        let conversation = conversation.flatten();
        let nothing_to_change = new_type.is_none() && new_interval.is_none() && new_until.is_none();
        if nothing_to_change {
            let view = self
                .read_notification(app, user, conversation.as_ref(), now)
                .await?;
            return Ok((conversation, view));
        }
        let apply = |r: &mut NotificationRecord| {
            if let Some(t) = new_type {
                // A conversation's DEFAULT is stored as "not set", so resetting one removes its record.
                r.notification_type = match t {
                    NotificationType::Default => 0,
                    t => t as i32,
                };
            }
            if let Some(interval) = new_interval {
                r.ignore_interval = interval;
            }
            if let Some(until) = new_until {
                r.ignore_until_ms = until;
            }
            r.update_time_ms = now;
        };
        let record = match &conversation {
            None => self
                .store
                .user_settings
                .update_user_settings(app, user, &|r| {
                    apply(r.notification.get_or_insert_with(Default::default));
                    r.update_time_ms = now;
                })
                .await?
                .notification
                .unwrap_or_default(),
            Some(c) => {
                self.store
                    .user_settings
                    .update_conversation_setting(app, user, c, now, &apply)
                    .await?
            }
        };
        let view = view_of(Some(&record), conversation.is_none(), now);
        Ok((conversation, view))
    }

    /// A user's app-level or conversation-level setting with the defaults filled in.
    pub async fn get_notification(
        &self,
        app: &str,
        user: &str,
        conversation: Option<ConversationInput>,
    ) -> Result<(Option<ConversationKey>, NotificationView), SettingsError> {
        let mut v = Violations::new();
        v.check("user", check_user_id(user));
        let conversation = conversation.map(|c| check_conversation(&c, &mut v));
        v.into_result()?;
        let conversation = conversation.flatten();
        let view = self
            .read_notification(app, user, conversation.as_ref(), now_ms())
            .await?;
        Ok((conversation, view))
    }

    async fn read_notification(
        &self,
        app: &str,
        user: &str,
        conversation: Option<&ConversationKey>,
        now: i64,
    ) -> Result<NotificationView, SettingsError> {
        let repo = &self.store.user_settings;
        let record = match conversation {
            None => repo
                .get_user_settings(app, user)
                .await?
                .and_then(|r| r.notification),
            Some(c) => repo.get_conversation_setting(app, user, c).await?,
        };
        Ok(view_of(record.as_ref(), conversation.is_none(), now))
    }

    /// Sets (or, with an empty tag, clears) a user's preferred language; returns it as stored.
    pub async fn set_language(
        &self,
        app: &str,
        user: &str,
        language: &str,
    ) -> Result<String, SettingsError> {
        let mut v = Violations::new();
        v.check("user", check_user_id(user));
        v.check("language", check_language(language));
        v.into_result()?;
        let now = now_ms();
        let stored = self
            .store
            .user_settings
            .update_user_settings(app, user, &|r| {
                r.language = language.to_owned();
                r.update_time_ms = now;
            })
            .await?;
        Ok(stored.language)
    }

    /// A user's preferred language; empty when none is set.
    pub async fn get_language(&self, app: &str, user: &str) -> Result<String, SettingsError> {
        only("user", check_user_id(user))?;
        Ok(self
            .store
            .user_settings
            .get_user_settings(app, user)
            .await?
            .map(|r| r.language)
            .unwrap_or_default())
    }

    /// Creates a template; at least one pattern must be non-empty.
    pub async fn create_template(
        &self,
        app: &str,
        name: &str,
        title_pattern: &str,
        content_pattern: &str,
    ) -> Result<TemplateRecord, SettingsError> {
        let mut v = Violations::new();
        v.check("name", check_template_name(name));
        v.check("title_pattern", self.check_pattern(title_pattern));
        v.check("content_pattern", self.check_pattern(content_pattern));
        if title_pattern.is_empty() && content_pattern.is_empty() {
            for field in ["title_pattern", "content_pattern"] {
                v.add(
                    field,
                    "one of title_pattern and content_pattern must be non-empty",
                );
            }
        }
        v.into_result()?;
        let now = now_ms();
        let template = TemplateRecord {
            name: name.to_owned(),
            title_pattern: title_pattern.to_owned(),
            content_pattern: content_pattern.to_owned(),
            create_time_ms: now,
            update_time_ms: now,
        };
        self.store
            .templates
            .create_template(app, template.clone(), self.limits.max_templates_per_app)
            .await
            .map_err(|e| match e {
                StoreError::AlreadyExists(_) => SettingsError::TemplateExists(name.to_owned()),
                StoreError::LimitReached { limit, .. } => SettingsError::TooManyTemplates { limit },
                e => e.into(),
            })?;
        Ok(template)
    }

    /// One template.
    pub async fn get_template(
        &self,
        app: &str,
        name: &str,
    ) -> Result<TemplateRecord, SettingsError> {
        only("name", check_template_name(name))?;
        self.store
            .templates
            .get_template(app, name)
            .await?
            .ok_or_else(|| SettingsError::TemplateNotFound(name.to_owned()))
    }

    /// Replaces the given patterns of a template; the result must keep one pattern non-empty.
    pub async fn update_template(
        &self,
        app: &str,
        name: &str,
        title_pattern: Option<String>,
        content_pattern: Option<String>,
    ) -> Result<TemplateRecord, SettingsError> {
        let mut v = Violations::new();
        v.check("name", check_template_name(name));
        if let Some(p) = &title_pattern {
            v.check("title_pattern", self.check_pattern(p));
        }
        if let Some(p) = &content_pattern {
            v.check("content_pattern", self.check_pattern(p));
        }
        if title_pattern.is_none() && content_pattern.is_none() {
            v.add(
                "title_pattern",
                "give title_pattern, content_pattern or both",
            );
        }
        v.into_result()?;
        let now = now_ms();
        let updated = self
            .store
            .templates
            .update_template(app, name, &|current| {
                let mut next = current.clone();
                if let Some(p) = &title_pattern {
                    next.title_pattern = p.clone();
                }
                if let Some(p) = &content_pattern {
                    next.content_pattern = p.clone();
                }
                next.update_time_ms = now;
                // Declined when both would be empty; checked here so that it holds against racing updates.
                (!(next.title_pattern.is_empty() && next.content_pattern.is_empty()))
                    .then_some(next)
            })
            .await
            .map_err(|e| match e {
                StoreError::NotFound(_) => SettingsError::TemplateNotFound(name.to_owned()),
                e => e.into(),
            })?;
        updated.ok_or_else(|| {
            let field = if content_pattern.is_some() {
                "content_pattern"
            } else {
                "title_pattern"
            };
            SettingsError::Invalid(Violations::single(
                field,
                "would leave both patterns empty; one of them must be non-empty",
            ))
        })
    }

    /// Deletes a template. Users who chose it keep the choice, which counts again if the name is re-created.
    pub async fn delete_template(&self, app: &str, name: &str) -> Result<(), SettingsError> {
        only("name", check_template_name(name))?;
        if self.store.templates.delete_template(app, name).await? {
            Ok(())
        } else {
            Err(SettingsError::TemplateNotFound(name.to_owned()))
        }
    }

    /// Sets (or, with an empty name, clears) the template a user's notifications are rendered in.
    pub async fn set_user_template(
        &self,
        app: &str,
        user: &str,
        template: &str,
    ) -> Result<String, SettingsError> {
        let mut v = Violations::new();
        v.check("user", check_user_id(user));
        if !template.is_empty() {
            v.check("template_name", check_template_name(template));
        }
        v.into_result()?;
        if !template.is_empty()
            && self
                .store
                .templates
                .get_template(app, template)
                .await?
                .is_none()
        {
            return Err(SettingsError::TemplateNotFound(template.to_owned()));
        }
        let now = now_ms();
        let stored = self
            .store
            .user_settings
            .update_user_settings(app, user, &|r| {
                r.template = template.to_owned();
                r.update_time_ms = now;
            })
            .await?;
        Ok(stored.template)
    }

    /// The template a user chose; empty when none is chosen or it has been deleted since.
    pub async fn get_user_template(&self, app: &str, user: &str) -> Result<String, SettingsError> {
        only("user", check_user_id(user))?;
        let chosen = self
            .store
            .user_settings
            .get_user_settings(app, user)
            .await?
            .map(|r| r.template)
            .unwrap_or_default();
        if chosen.is_empty()
            || self
                .store
                .templates
                .get_template(app, &chosen)
                .await?
                .is_none()
        {
            return Ok(String::new());
        }
        Ok(chosen)
    }

    fn check_nickname(&self, nickname: &str) -> Result<(), String> {
        max_chars(nickname, self.limits.max_nickname_chars)?;
        no_control_chars(nickname)
    }

    fn check_pattern(&self, pattern: &str) -> Result<(), String> {
        max_chars(pattern, self.limits.max_pattern_chars)?;
        no_control_chars(pattern)?;
        template::check_pattern(pattern)
    }

    /// The end of a do-not-disturb period of `d` from `now` (0 for zero), or a violation.
    fn check_duration(
        &self,
        d: prost_types::Duration,
        now: i64,
        v: &mut Violations,
    ) -> Option<i64> {
        let max = self.limits.max_ignore_duration;
        let field = "ignore_duration";
        let std = match std::time::Duration::try_from(d) {
            Ok(std) => std,
            Err(_) => {
                v.add(field, "must not be negative");
                return None;
            }
        };
        if std > max {
            v.add(
                field,
                format!(
                    "is {} ms; at most {} ms are allowed",
                    std.as_millis(),
                    max.as_millis()
                ),
            );
            return None;
        }
        if std.subsec_nanos() % 1_000_000 != 0 {
            v.add(field, "must be whole milliseconds");
            return None;
        }
        // Bounded by `max` above, so the milliseconds fit an i64 and the sum does not overflow in practice;
        // saturate anyway rather than trust the configuration.
        let ms = i64::try_from(std.as_millis()).unwrap_or(i64::MAX);
        Some(if ms == 0 { 0 } else { now.saturating_add(ms) })
    }
}

/// The conversation of a request, or violations under `conversation.*`.
fn check_conversation(c: &ConversationInput, v: &mut Violations) -> Option<ConversationKey> {
    let kind = match notification_conversation::ChatType::try_from(c.chat_type) {
        Ok(notification_conversation::ChatType::User) => Some(ChatKind::User),
        Ok(notification_conversation::ChatType::Group) => Some(ChatKind::Group),
        _ => {
            v.add(
                "conversation.chat_type",
                "is required: CHAT_TYPE_USER or CHAT_TYPE_GROUP",
            );
            None
        }
    };
    let key_ok = match check_user_id(&c.key) {
        Ok(()) => true,
        Err(e) => {
            v.add("conversation.key", e);
            false
        }
    };
    kind.filter(|_| key_ok).map(|kind| ConversationKey {
        kind,
        key: c.key.clone(),
    })
}

/// A requested type, or a violation: UNSPECIFIED and unknown numbers anywhere, DEFAULT at app level.
fn check_type(t: i32, app_level: bool, v: &mut Violations) -> Option<NotificationType> {
    match NotificationType::try_from(t) {
        Ok(NotificationType::Unspecified) | Err(_) => {
            v.add(
                "type",
                format!("{t} is not a notification type (DEFAULT, ALL, AT or NONE); leave it out to keep the stored one"),
            );
            None
        }
        Ok(NotificationType::Default) if app_level => {
            v.add(
                "type",
                "DEFAULT applies to conversations only; the app level is ALL, AT or NONE",
            );
            None
        }
        Ok(t) => Some(t),
    }
}

/// A stored setting as callers see it at `now`.
fn view_of(record: Option<&NotificationRecord>, app_level: bool, now: i64) -> NotificationView {
    let default_type = if app_level {
        NotificationType::All
    } else {
        NotificationType::Default
    };
    let notification_type = match record.map(|r| NotificationType::try_from(r.notification_type)) {
        Some(Ok(NotificationType::Unspecified)) | Some(Err(_)) | None => default_type,
        Some(Ok(t)) => t,
    };
    NotificationView {
        notification_type,
        ignore_interval: record
            .and_then(|r| r.ignore_interval)
            .map(dnd::format_interval)
            .unwrap_or_default(),
        ignore_until_ms: record
            .map(|r| r.ignore_until_ms)
            .filter(|until| *until > now),
    }
}

/// Template names are 1..64 characters of `[a-zA-Z0-9]`.
fn check_template_name(name: &str) -> Result<(), String> {
    name_chars(
        name,
        MAX_TEMPLATE_NAME,
        |c| c.is_ascii_alphanumeric(),
        "letters and digits",
    )
}

/// Language tags are empty (none) or 2..35 characters of `[a-zA-Z0-9-]`.
fn check_language(language: &str) -> Result<(), String> {
    if language.is_empty() {
        return Ok(());
    }
    name_chars(
        language,
        *LANGUAGE_CHARS.end(),
        |c| c.is_ascii_alphanumeric() || c == '-',
        "letters, digits and '-'",
    )?;
    if language.chars().count() < *LANGUAGE_CHARS.start() {
        return Err(format!(
            "is too short for a language tag; at least {} characters",
            LANGUAGE_CHARS.start()
        ));
    }
    Ok(())
}

/// A request with one field to check.
fn only(field: &str, result: Result<(), String>) -> Result<(), SettingsError> {
    result.map_err(|e| SettingsError::Invalid(Violations::single(field, e)))
}

fn no_control_chars(value: &str) -> Result<(), String> {
    match value.chars().find(|c| c.is_control()) {
        Some(c) => Err(format!("contains the control character {c:?}")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::DailyInterval;

    fn service() -> (tempfile::TempDir, UserSettings) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open_sled(dir.path()).expect("open store");
        (dir, UserSettings::new(store, SettingsConfig::default()))
    }

    fn invalid_fields(e: SettingsError) -> Vec<String> {
        match e {
            SettingsError::Invalid(v) => v.list().iter().map(|f| f.field.clone()).collect(),
            e => panic!("expected invalid, got {e:?}"),
        }
    }

    #[test]
    fn views_fill_defaults_and_hide_ended_periods() {
        let app = view_of(None, true, 0);
        assert_eq!(app.notification_type, NotificationType::All);
        assert_eq!(
            view_of(None, false, 0).notification_type,
            NotificationType::Default
        );
        let record = NotificationRecord {
            notification_type: NotificationType::At as i32,
            ignore_interval: Some(DailyInterval {
                start_minute: 22 * 60,
                end_minute: 7 * 60,
            }),
            ignore_until_ms: 1_000,
            update_time_ms: 0,
        };
        let running = view_of(Some(&record), true, 999);
        assert_eq!(running.ignore_interval, "22:00-07:00");
        assert_eq!(running.ignore_until_ms, Some(1_000));
        assert_eq!(view_of(Some(&record), true, 1_000).ignore_until_ms, None);
    }

    #[test]
    fn language_tags() {
        for ok in ["", "en", "zh-Hans", "sr-Latn-RS", &"a".repeat(35)] {
            assert!(check_language(ok).is_ok(), "{ok}");
        }
        for bad in ["e", "en_US", "en US", "中文", &"a".repeat(36)] {
            assert!(check_language(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn durations_become_absolute_expiries_and_zero_ends_them() {
        let (_dir, s) = service();
        let change = |ms: i64| NotificationChange {
            ignore_duration: Some(prost_types::Duration {
                seconds: ms / 1000,
                nanos: (ms % 1000) as i32 * 1_000_000,
            }),
            ..Default::default()
        };
        let before = now_ms();
        let (_, view) = s
            .set_notification("o#a", "u", None, change(90_000))
            .await
            .unwrap();
        let until = view.ignore_until_ms.expect("running");
        assert!(until >= before + 90_000 && until <= now_ms() + 90_000);
        let (_, view) = s
            .set_notification("o#a", "u", None, change(0))
            .await
            .unwrap();
        assert_eq!(view.ignore_until_ms, None);
        let stored = s.store.user_settings.get_user_settings("o#a", "u").await;
        let stored = stored.unwrap().unwrap().notification.unwrap();
        assert_eq!(stored.ignore_until_ms, 0);
    }

    #[tokio::test]
    async fn a_refused_change_writes_nothing() {
        let (_dir, s) = service();
        let bad = NotificationChange {
            notification_type: Some(NotificationType::None as i32),
            ignore_interval: Some("25:00-01:00".into()),
            ..Default::default()
        };
        let err = s.set_notification("o#a", "u", None, bad).await.unwrap_err();
        assert_eq!(invalid_fields(err), ["ignore_interval"]);
        assert!(!s.store.user_settings.has_user("o#a", "u").await.unwrap());
    }

    #[tokio::test]
    async fn a_conversation_reset_to_default_leaves_no_record() {
        let (_dir, s) = service();
        let conversation = || {
            Some(ConversationInput {
                chat_type: notification_conversation::ChatType::Group as i32,
                key: "g1".into(),
            })
        };
        let kind = |t: NotificationType| NotificationChange {
            notification_type: Some(t as i32),
            ..Default::default()
        };
        s.set_notification("o#a", "u", conversation(), kind(NotificationType::None))
            .await
            .unwrap();
        assert!(s.store.user_settings.has_user("o#a", "u").await.unwrap());
        let (key, view) = s
            .set_notification("o#a", "u", conversation(), kind(NotificationType::Default))
            .await
            .unwrap();
        assert_eq!(key.map(|k| k.kind), Some(ChatKind::Group));
        assert_eq!(view.notification_type, NotificationType::Default);
        assert!(!s.store.user_settings.has_user("o#a", "u").await.unwrap());
    }

    #[tokio::test]
    async fn template_updates_keep_one_pattern() {
        let (_dir, s) = service();
        s.create_template("o#a", "t", "title", "").await.unwrap();
        let err = s
            .update_template("o#a", "t", Some(String::new()), None)
            .await
            .unwrap_err();
        assert_eq!(invalid_fields(err), ["title_pattern"]);
        let swapped = s
            .update_template("o#a", "t", Some(String::new()), Some("{$msg}".into()))
            .await
            .unwrap();
        assert_eq!(
            (
                swapped.title_pattern.as_str(),
                swapped.content_pattern.as_str()
            ),
            ("", "{$msg}")
        );
        assert!(matches!(
            s.update_template("o#a", "missing", Some("x".into()), None)
                .await,
            Err(SettingsError::TemplateNotFound(_))
        ));
    }
}
