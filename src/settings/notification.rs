//! Notification settings (type and do-not-disturb), at app level and per conversation: the requests'
//! rules and how stored settings read with the defaults filled in.

use super::{SettingsError, UserSettings};
use crate::{
    clock::now_ms,
    proto::v1::{NotificationType, notification_conversation},
    settings::dnd,
    store::{ChatKind, ConversationKey, NotificationRecord},
    tenant::check_user_id,
    validate::Violations,
};

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

impl UserSettings {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        settings::{invalid_fields, test_service},
        store::DailyInterval,
    };

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

    #[tokio::test]
    async fn durations_become_absolute_expiries_and_zero_ends_them() {
        let (_dir, s) = test_service();
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
        let (_dir, s) = test_service();
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
        let (_dir, s) = test_service();
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
}
