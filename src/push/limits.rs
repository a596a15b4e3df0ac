//! The rules a message must keep before anything is sent: Easemob's text limits (configurable) and the
//! bounds of the options. Breaking one is INVALID_ARGUMENT naming the field; vendor-specific limits are
//! checked per notifier at dispatch (`invalid message` for that device).

use std::time::Duration;

use super::PushConfig;
use crate::{
    proto::v1::{Badge, ChatType, PushMessage},
    tenant::check_user_id,
    validate::{Violations, max_width},
};

/// Shortest allowed time to live.
pub const MIN_TTL: Duration = Duration::from_secs(1);
/// Longest allowed time to live.
pub const MAX_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
/// Most template arguments per pattern.
pub const MAX_TEMPLATE_ARGS: usize = 100;
/// Most mentioned users.
pub const MAX_AT_USERS: usize = 1000;
/// Most entries of each device-filter list.
pub const MAX_FILTER_ENTRIES: usize = 100;

/// Every rule `message` breaks, with field paths under `prefix` (e.g. `message`).
pub fn check_message(message: &PushMessage, config: &PushConfig, prefix: &str, v: &mut Violations) {
    let field = |name: &str| format!("{prefix}.{name}");
    v.check(
        &field("title"),
        max_width(&message.title, config.max_title_width),
    );
    v.check(
        &field("sub_title"),
        max_width(&message.sub_title, config.max_sub_title_width),
    );
    v.check(
        &field("content"),
        max_width(&message.content, config.max_content_width),
    );
    if message.ext.len() > config.max_ext_entries {
        v.add(
            field("ext"),
            format!(
                "has {} entries; at most {} are allowed",
                message.ext.len(),
                config.max_ext_entries
            ),
        );
    }
    let ext_chars: usize = message
        .ext
        .iter()
        .map(|(k, val)| k.chars().count() + val.chars().count())
        .sum();
    if ext_chars > config.max_ext_chars {
        v.add(
            field("ext"),
            format!(
                "holds {ext_chars} characters over its keys and values; at most {} are allowed",
                config.max_ext_chars
            ),
        );
    }
    if message.ext.keys().any(String::is_empty) {
        v.add(field("ext"), "keys must not be empty");
    }
    if let Some(badge) = message.config.as_ref().and_then(|c| c.badge.as_ref()) {
        check_badge(badge, &field("config.badge"), v);
    }
    if let Some(t) = &message.template {
        if t.name.is_empty() {
            v.add(
                field("template.name"),
                "is required when a template is given",
            );
        }
        for (name, args) in [
            ("title_args", &t.title_args),
            ("content_args", &t.content_args),
        ] {
            if args.len() > MAX_TEMPLATE_ARGS {
                v.add(
                    field(&format!("template.{name}")),
                    format!(
                        "has {} entries; at most {MAX_TEMPLATE_ARGS} are allowed",
                        args.len()
                    ),
                );
            }
        }
    }
    if let Some(o) = &message.options {
        if let Some(ttl) = o.ttl {
            match Duration::try_from(ttl) {
                Ok(d) if (MIN_TTL..=MAX_TTL).contains(&d) => {}
                _ => v.add(field("options.ttl"), "must be between 1 second and 30 days"),
            }
        }
        if o.at_users.len() > MAX_AT_USERS {
            v.add(
                field("options.at_users"),
                format!(
                    "has {} entries; at most {MAX_AT_USERS} are allowed",
                    o.at_users.len()
                ),
            );
        }
        if let Some(bad) = o.at_users.iter().find(|u| check_user_id(u).is_err()) {
            v.add(
                field("options.at_users"),
                format!("{bad:?} is not a user id"),
            );
        }
        if let Some(f) = &o.filter {
            for (name, list) in [
                ("accept_device_ids", &f.accept_device_ids),
                ("ignore_device_ids", &f.ignore_device_ids),
                ("accept_notifier_names", &f.accept_notifier_names),
                ("ignore_notifier_names", &f.ignore_notifier_names),
            ] {
                if list.len() > MAX_FILTER_ENTRIES {
                    v.add(
                        field(&format!("options.filter.{name}")),
                        format!(
                            "has {} entries; at most {MAX_FILTER_ENTRIES} are allowed",
                            list.len()
                        ),
                    );
                }
            }
        }
        if let Some(c) = &o.conversation {
            if c.chat_type == ChatType::Group as i32 && c.group_id.is_empty() {
                v.add(
                    field("options.conversation.group_id"),
                    "is required for a group chat",
                );
            }
            if ChatType::try_from(c.chat_type).is_err() {
                v.add(
                    field("options.conversation.chat_type"),
                    "is not a chat type",
                );
            }
            if !c.from.is_empty() && check_user_id(&c.from).is_err() {
                v.add(field("options.conversation.from"), "is not a user id");
            }
        }
    }
}

fn check_badge(badge: &Badge, field: &str, v: &mut Violations) {
    if let Some(n) = badge.add_num
        && !(1..=99).contains(&n)
    {
        v.add(format!("{field}.add_num"), "must be between 1 and 99");
    }
    if let Some(n) = badge.set_num
        && !(0..=99).contains(&n)
    {
        v.add(format!("{field}.set_num"), "must be between 0 and 99");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::v1::{Conversation, PushOptions, TemplateRef};

    fn fields(message: &PushMessage) -> Vec<String> {
        let mut v = Violations::new();
        check_message(message, &PushConfig::default(), "message", &mut v);
        v.list().iter().map(|f| f.field.clone()).collect()
    }

    #[test]
    fn easemob_text_limits_count_cjk_twice() {
        let ok = PushMessage {
            title: "你".repeat(16),
            sub_title: "a".repeat(10),
            content: "b".repeat(100),
            ..Default::default()
        };
        assert!(fields(&ok).is_empty());
        let long = PushMessage {
            title: "你".repeat(16) + "a",
            sub_title: "你".repeat(6),
            content: "b".repeat(101),
            ..Default::default()
        };
        assert_eq!(
            fields(&long),
            ["message.title", "message.sub_title", "message.content"]
        );
    }

    #[test]
    fn ext_entries_and_characters_are_bounded() {
        let many = PushMessage {
            ext: (0..11).map(|i| (format!("k{i}"), "v".into())).collect(),
            ..Default::default()
        };
        assert_eq!(fields(&many), ["message.ext"]);
        let big = PushMessage {
            ext: [("k".to_string(), "v".repeat(1024))].into(),
            ..Default::default()
        };
        assert_eq!(fields(&big), ["message.ext"]);
        let fits = PushMessage {
            ext: [("k".to_string(), "v".repeat(1023))].into(),
            ..Default::default()
        };
        assert!(fields(&fits).is_empty());
    }

    #[test]
    fn options_are_bounded() {
        let m = PushMessage {
            template: Some(TemplateRef {
                name: String::new(),
                title_args: vec!["a".into(); 101],
                content_args: vec![],
            }),
            options: Some(PushOptions {
                ttl: Some(prost_types::Duration {
                    seconds: 0,
                    nanos: 0,
                }),
                at_users: vec!["bad user".into()],
                conversation: Some(Conversation {
                    chat_type: ChatType::Group as i32,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            fields(&m),
            [
                "message.template.name",
                "message.template.title_args",
                "message.options.ttl",
                "message.options.at_users",
                "message.options.conversation.group_id",
            ]
        );
    }
}
