//! Do-not-disturb: whether a user's settings hold a push back. The send path calls [`held_back`] for every
//! receiving user; a push held back fails with `user ignore push`.
//!
//! The rules, Easemob's:
//! - A forced push (`em_force_notification`) is never held back.
//! - Do-not-disturb periods come before notification types: while the user's app-level period (duration
//!   or daily interval) runs, nothing notifies, whatever any conversation's type says; while a
//!   conversation's period runs, nothing from that conversation notifies. A mention does not pass a period.
//! - Otherwise the type decides: the conversation's when it has one other than DEFAULT, else the app-level
//!   one (ALL when never set). ALL notifies, NONE does not, AT only when the user is mentioned (or all
//!   members are).

use crate::{
    proto::v1::{self, NotificationType},
    store::{ChatKind, ConversationKey, DailyInterval, NotificationRecord, PushProfile},
};

use crate::time_zone::AppTimeZone;

const MINUTES_PER_DAY: u32 = 24 * 60;

/// Why do-not-disturb holds a push back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldReason {
    /// The user's app-level do-not-disturb duration is running.
    AppPeriod,
    /// The current time is inside the user's daily do-not-disturb interval.
    AppInterval,
    /// The conversation's do-not-disturb duration is running.
    ConversationPeriod,
    /// The effective notification type is NONE.
    TypeNone,
    /// The effective notification type is AT and the push does not mention the user.
    NotMentioned,
}

/// What the send path knows about one push to one user.
#[derive(Debug, Clone, Copy)]
pub struct PushContext<'a> {
    /// The conversation the push is about, if any (see [`conversation_of`]).
    pub conversation: Option<&'a ConversationKey>,
    /// The push mentions the user, or all members (see [`is_mentioned`]).
    pub mentioned: bool,
    /// `em_force_notification`: bypass do-not-disturb.
    pub force: bool,
    /// Now, in Unix milliseconds.
    pub now_ms: i64,
}

/// Whether the user's settings hold this push back, and why; `None` lets it through.
///
/// `profile` is the user's settings as read by `UserSettingsRepository::push_profile`; its conversation
/// setting counts only when it is the setting of `push.conversation`.
pub fn held_back(
    profile: &PushProfile,
    zone: &AppTimeZone,
    push: &PushContext<'_>,
) -> Option<HoldReason> {
    if push.force {
        return None;
    }
    let app = profile.user.notification.clone().unwrap_or_default();
    if app.ignore_until_ms > push.now_ms {
        return Some(HoldReason::AppPeriod);
    }
    if let Some(interval) = app.ignore_interval
        && interval_contains(interval, zone.minute_of_day(push.now_ms))
    {
        return Some(HoldReason::AppInterval);
    }
    let conversation = match (&profile.conversation, push.conversation) {
        (Some((key, setting)), Some(asked)) if key == asked => Some(setting),
        _ => None,
    };
    if conversation.is_some_and(|c| c.ignore_until_ms > push.now_ms) {
        return Some(HoldReason::ConversationPeriod);
    }
    let effective = match conversation.map(stored_type) {
        Some(t) if t != NotificationType::Default => t,
        _ => match stored_type(&app) {
            // Never set (or DEFAULT, which the API refuses at app level) means ALL.
            NotificationType::Default => NotificationType::All,
            t => t,
        },
    };
    match effective {
        NotificationType::None => Some(HoldReason::TypeNone),
        NotificationType::At if !push.mentioned => Some(HoldReason::NotMentioned),
        _ => None,
    }
}

/// The stored type, with "never set" and unknown numbers read as DEFAULT (follow the next level).
fn stored_type(r: &NotificationRecord) -> NotificationType {
    match NotificationType::try_from(r.notification_type) {
        Ok(NotificationType::Unspecified) | Err(_) => NotificationType::Default,
        Ok(t) => t,
    }
}

/// Whether minute `m` after local midnight lies in `interval` (start included, end excluded; an end before
/// the start wraps past midnight; equal ends cover the whole day).
pub fn interval_contains(interval: DailyInterval, m: u32) -> bool {
    let DailyInterval {
        start_minute: start,
        end_minute: end,
    } = interval;
    match start.cmp(&end) {
        std::cmp::Ordering::Equal => true,
        std::cmp::Ordering::Less => start <= m && m < end,
        std::cmp::Ordering::Greater => m >= start || m < end,
    }
}

/// Parses `HH:MM-HH:MM` (24-hour, hours 00..23, minutes 00..59).
pub fn parse_interval(value: &str) -> Result<DailyInterval, String> {
    let bad = || format!("{value:?} is not an interval: use HH:MM-HH:MM, for example 22:00-07:00");
    let (start, end) = value.split_once('-').ok_or_else(bad)?;
    Ok(DailyInterval {
        start_minute: parse_clock(start).ok_or_else(bad)?,
        end_minute: parse_clock(end).ok_or_else(bad)?,
    })
}

fn parse_clock(value: &str) -> Option<u32> {
    let b = value.as_bytes();
    if b.len() != 5 || b[2] != b':' || !b[..2].iter().chain(&b[3..]).all(u8::is_ascii_digit) {
        return None;
    }
    let hours: u32 = value[..2].parse().ok()?;
    let minutes: u32 = value[3..].parse().ok()?;
    (hours < 24 && minutes < 60).then_some(hours * 60 + minutes)
}

/// `HH:MM-HH:MM` for an interval (minutes out of range, only possible in a corrupt record, wrap a day).
pub fn format_interval(interval: DailyInterval) -> String {
    let clock = |m: u32| {
        let m = m % MINUTES_PER_DAY;
        format!("{:02}:{:02}", m / 60, m % 60)
    };
    format!(
        "{}-{}",
        clock(interval.start_minute),
        clock(interval.end_minute)
    )
}

/// The receiver's conversation a push is about: for a one-to-one chat the sender, for a group chat the
/// group; `None` for pushes about no chat (or without the id).
pub fn conversation_of(c: &v1::Conversation) -> Option<ConversationKey> {
    let (kind, key) = match v1::ChatType::try_from(c.chat_type) {
        Ok(v1::ChatType::User) => (ChatKind::User, &c.from),
        Ok(v1::ChatType::Group) => (ChatKind::Group, &c.group_id),
        _ => return None,
    };
    (!key.is_empty()).then(|| ConversationKey {
        kind,
        key: key.clone(),
    })
}

/// Whether a push mentions `user`: it mentions all members, or lists the user.
pub fn is_mentioned(user: &str, at_all: bool, at_users: &[String]) -> bool {
    at_all || at_users.iter().any(|u| u == user)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{store::UserSettingsRecord, time_zone::parse_time_zone};

    /// 2024-01-15T00:00:00Z.
    const MIDNIGHT_UTC: i64 = 1_705_276_800_000;
    const MINUTE: i64 = 60_000;
    const HOUR: i64 = 60 * MINUTE;

    const ALL: i32 = NotificationType::All as i32;
    const AT: i32 = NotificationType::At as i32;
    const NONE: i32 = NotificationType::None as i32;
    const DEFAULT: i32 = NotificationType::Default as i32;

    fn group(id: &str) -> ConversationKey {
        ConversationKey {
            kind: ChatKind::Group,
            key: id.into(),
        }
    }

    fn interval(value: &str) -> Option<DailyInterval> {
        Some(parse_interval(value).unwrap())
    }

    fn app_level(setting: NotificationRecord) -> PushProfile {
        PushProfile {
            user: UserSettingsRecord {
                notification: Some(setting),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn with_conversation(
        mut profile: PushProfile,
        key: ConversationKey,
        setting: NotificationRecord,
    ) -> PushProfile {
        profile.conversation = Some((key, setting));
        profile
    }

    fn kind(t: i32) -> NotificationRecord {
        NotificationRecord {
            notification_type: t,
            ..Default::default()
        }
    }

    fn at(now_ms: i64) -> PushContext<'static> {
        PushContext {
            conversation: None,
            mentioned: false,
            force: false,
            now_ms,
        }
    }

    fn check(profile: &PushProfile, push: PushContext<'_>) -> Option<HoldReason> {
        held_back(profile, &AppTimeZone::UTC, &push)
    }

    #[test]
    fn nothing_set_lets_everything_through() {
        assert_eq!(check(&PushProfile::default(), at(MIDNIGHT_UTC)), None);
    }

    #[test]
    fn type_all_none_and_at() {
        assert_eq!(check(&app_level(kind(ALL)), at(MIDNIGHT_UTC)), None);
        assert_eq!(
            check(&app_level(kind(NONE)), at(MIDNIGHT_UTC)),
            Some(HoldReason::TypeNone)
        );
        let mentions_only = app_level(kind(AT));
        assert_eq!(
            check(&mentions_only, at(MIDNIGHT_UTC)),
            Some(HoldReason::NotMentioned)
        );
        let mentioned = PushContext {
            mentioned: true,
            ..at(MIDNIGHT_UTC)
        };
        assert_eq!(check(&mentions_only, mentioned), None);
        // NONE is not passed by a mention.
        assert_eq!(
            check(&app_level(kind(NONE)), mentioned),
            Some(HoldReason::TypeNone)
        );
    }

    #[test]
    fn conversation_type_overrides_and_default_falls_back() {
        let g = group("g1");
        let push = PushContext {
            conversation: Some(&g),
            ..at(MIDNIGHT_UTC)
        };
        // Conversation NONE under app ALL.
        let muted = with_conversation(app_level(kind(ALL)), g.clone(), kind(NONE));
        assert_eq!(check(&muted, push), Some(HoldReason::TypeNone));
        // Conversation ALL under app NONE.
        let open = with_conversation(app_level(kind(NONE)), g.clone(), kind(ALL));
        assert_eq!(check(&open, push), None);
        // Conversation DEFAULT (stored explicitly or never set) follows the app level.
        for conversation_type in [DEFAULT, 0] {
            let follows =
                with_conversation(app_level(kind(AT)), g.clone(), kind(conversation_type));
            assert_eq!(check(&follows, push), Some(HoldReason::NotMentioned));
        }
        // The setting of another conversation does not apply.
        let other = group("g2");
        let elsewhere = PushContext {
            conversation: Some(&other),
            ..push
        };
        assert_eq!(check(&muted, elsewhere), None);
        // Nor does it to a push about no conversation.
        assert_eq!(check(&muted, at(MIDNIGHT_UTC)), None);
    }

    #[test]
    fn intervals_inside_outside_wrapping_and_all_day() {
        let night = app_level(NotificationRecord {
            notification_type: ALL,
            ignore_interval: interval("22:00-07:00"),
            ..Default::default()
        });
        for (time, held) in [
            (23 * HOUR, true),
            (0, true),
            (6 * HOUR + 59 * MINUTE, true),
            (7 * HOUR, false),
            (12 * HOUR, false),
            (21 * HOUR + 59 * MINUTE, false),
            (22 * HOUR, true),
        ] {
            let expected = held.then_some(HoldReason::AppInterval);
            assert_eq!(check(&night, at(MIDNIGHT_UTC + time)), expected, "{time}");
        }
        let lunch = app_level(NotificationRecord {
            ignore_interval: interval("12:00-13:30"),
            ..Default::default()
        });
        assert_eq!(
            check(&lunch, at(MIDNIGHT_UTC + 13 * HOUR)),
            Some(HoldReason::AppInterval)
        );
        assert_eq!(
            check(&lunch, at(MIDNIGHT_UTC + 13 * HOUR + 30 * MINUTE)),
            None
        );
        assert_eq!(check(&lunch, at(MIDNIGHT_UTC + 11 * HOUR)), None);
        let all_day = app_level(NotificationRecord {
            ignore_interval: interval("08:15-08:15"),
            ..Default::default()
        });
        for time in [0, 8 * HOUR + 15 * MINUTE, 20 * HOUR] {
            assert_eq!(
                check(&all_day, at(MIDNIGHT_UTC + time)),
                Some(HoldReason::AppInterval)
            );
        }
    }

    #[test]
    fn periods_hold_until_they_end() {
        let now = MIDNIGHT_UTC;
        let app = app_level(NotificationRecord {
            notification_type: ALL,
            ignore_until_ms: now + 1,
            ..Default::default()
        });
        assert_eq!(check(&app, at(now)), Some(HoldReason::AppPeriod));
        assert_eq!(check(&app, at(now + 1)), None, "the end is excluded");
        let g = group("g");
        let conversation = with_conversation(
            PushProfile::default(),
            g.clone(),
            NotificationRecord {
                ignore_until_ms: now + HOUR,
                ..Default::default()
            },
        );
        let push = PushContext {
            conversation: Some(&g),
            ..at(now)
        };
        assert_eq!(
            check(&conversation, push),
            Some(HoldReason::ConversationPeriod)
        );
        let later = PushContext {
            now_ms: now + HOUR,
            ..push
        };
        assert_eq!(check(&conversation, later), None);
    }

    #[test]
    fn periods_win_over_types_and_mentions() {
        // App-level do-not-disturb holds back even a conversation set to ALL, and a mention.
        let g = group("g");
        let profile = with_conversation(
            app_level(NotificationRecord {
                ignore_interval: interval("00:00-00:00"),
                ..Default::default()
            }),
            g.clone(),
            kind(ALL),
        );
        let push = PushContext {
            conversation: Some(&g),
            mentioned: true,
            ..at(MIDNIGHT_UTC)
        };
        assert_eq!(check(&profile, push), Some(HoldReason::AppInterval));
    }

    #[test]
    fn force_bypasses_everything() {
        let g = group("g");
        let profile = with_conversation(
            app_level(NotificationRecord {
                notification_type: NONE,
                ignore_interval: interval("00:00-00:00"),
                ignore_until_ms: i64::MAX,
                ..Default::default()
            }),
            g.clone(),
            NotificationRecord {
                notification_type: NONE,
                ignore_until_ms: i64::MAX,
                ..Default::default()
            },
        );
        let push = PushContext {
            conversation: Some(&g),
            force: true,
            ..at(MIDNIGHT_UTC)
        };
        assert_eq!(check(&profile, push), None);
        assert!(
            check(
                &profile,
                PushContext {
                    force: false,
                    ..push
                }
            )
            .is_some()
        );
    }

    #[test]
    fn intervals_are_read_in_the_app_time_zone() {
        // 22:00-07:00 local. At 00:00 UTC it is 08:00 in Shanghai (outside) and 20:00 at -04:00 (outside);
        // at 15:00 UTC it is 23:00 in Shanghai (inside) and 11:00 at -04:00 (outside).
        let night = app_level(NotificationRecord {
            ignore_interval: interval("22:00-07:00"),
            ..Default::default()
        });
        let shanghai = parse_time_zone("Asia/Shanghai").unwrap();
        let minus_four = parse_time_zone("-04:00").unwrap();
        let midnight = at(MIDNIGHT_UTC);
        let afternoon = at(MIDNIGHT_UTC + 15 * HOUR);
        assert_eq!(held_back(&night, &shanghai, &midnight), None);
        assert_eq!(
            held_back(&night, &shanghai, &afternoon),
            Some(HoldReason::AppInterval)
        );
        assert_eq!(held_back(&night, &minus_four, &midnight), None);
        assert_eq!(held_back(&night, &minus_four, &afternoon), None);
        // 03:00 UTC is 23:00 at -04:00 (inside) and 03:00 in UTC (inside too), 11:00 in Shanghai (outside).
        let early = at(MIDNIGHT_UTC + 3 * HOUR);
        assert_eq!(
            held_back(&night, &minus_four, &early),
            Some(HoldReason::AppInterval)
        );
        assert_eq!(held_back(&night, &shanghai, &early), None);
        // The fixed offset shifts the interval by hours: 10:00 UTC is 06:00 at -04:00 (inside).
        assert_eq!(
            held_back(&night, &minus_four, &at(MIDNIGHT_UTC + 10 * HOUR)),
            Some(HoldReason::AppInterval)
        );
    }

    #[test]
    fn interval_syntax() {
        assert_eq!(
            parse_interval("22:00-07:30").unwrap(),
            DailyInterval {
                start_minute: 22 * 60,
                end_minute: 7 * 60 + 30
            }
        );
        assert_eq!(
            format_interval(parse_interval("00:05-23:59").unwrap()),
            "00:05-23:59"
        );
        for bad in [
            "",
            "22:00",
            "24:00-01:00",
            "22:60-01:00",
            "2:00-07:00",
            "22:00-07:00-",
            "22.00-07.00",
            "+1:00-07:00",
            " 22:00-07:00",
            "22:00 - 07:00",
        ] {
            assert!(parse_interval(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn conversations_and_mentions_of_a_message() {
        let message = |chat_type: v1::ChatType| v1::Conversation {
            chat_type: chat_type as i32,
            from: "alice".into(),
            group_id: "g1".into(),
            ..Default::default()
        };
        assert_eq!(
            conversation_of(&message(v1::ChatType::User)),
            Some(ConversationKey {
                kind: ChatKind::User,
                key: "alice".into()
            })
        );
        assert_eq!(
            conversation_of(&message(v1::ChatType::Group)),
            Some(group("g1"))
        );
        assert_eq!(conversation_of(&message(v1::ChatType::Unspecified)), None);
        assert!(is_mentioned("bob", true, &[]));
        assert!(is_mentioned("bob", false, &["bob".into()]));
        assert!(!is_mentioned("bob", false, &["bobby".into()]));
    }
}
