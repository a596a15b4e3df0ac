//! What each receiving user sees: templates, the display style and defaults, in Easemob's order.
//!
//! 1. A template renders title and content: the one the message names, else the one the user chose.
//! 2. What no template rendered stays as the message gave it.
//! 3. What is still empty follows the user's display style: for a push about a chat, NICKNAME_AND_CONTENT
//!    shows the sender's name as title and the chat text as content.
//! 4. What is still empty gets the configured default title or content ("You have a new message").
//!
//! Vendor blocks are left alone: each dispatcher reads its block first and these base fields after.

use super::PushConfig;
use crate::{
    proto::v1::{NotificationDisplayStyle, PushMessage, PushOptions},
    settings::template::{RenderContext, render_template},
    store::{PushProfile, TemplateRecord},
    validate::cut_to_width,
};

/// The sender as templates and the display style name it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sender<'a> {
    /// The push nickname stored for `Conversation.from`; empty when none.
    pub nickname: &'a str,
}

/// `message` as `profile`'s user sees it. `named` is the template the message names (already looked up);
/// without one the user's chosen template (in `profile`) applies.
pub fn for_user(
    message: &PushMessage,
    profile: &PushProfile,
    named: Option<&TemplateRecord>,
    sender: Sender<'_>,
    config: &PushConfig,
) -> PushMessage {
    let mut out = message.clone();
    let conversation = message
        .options
        .as_ref()
        .and_then(|o| o.conversation.clone())
        .unwrap_or_default();
    let context = RenderContext {
        from: &conversation.from,
        from_display_name: &conversation.from_display_name,
        from_nickname: sender.nickname,
        text: &conversation.text,
        content: &message.content,
    };
    if let Some(template) = named.or(profile.template.as_ref()) {
        let (title_args, content_args) = message
            .template
            .as_ref()
            .map(|t| (t.title_args.as_slice(), t.content_args.as_slice()))
            .unwrap_or_default();
        let rendered = render_template(template, title_args, content_args, &context);
        if let Some(title) = rendered.title {
            out.title = cut_to_width(&title, config.max_title_width).to_owned();
        }
        if let Some(content) = rendered.content {
            out.content = cut_to_width(&content, config.max_content_width).to_owned();
        }
    }
    let about_a_chat = !conversation.from.is_empty() || !conversation.text.is_empty();
    if about_a_chat
        && profile.user.display_style == NotificationDisplayStyle::NicknameAndContent as i32
    {
        if out.title.is_empty() {
            let name = [
                conversation.from_display_name.as_str(),
                sender.nickname,
                &conversation.from,
            ]
            .into_iter()
            .find(|n| !n.is_empty())
            .unwrap_or_default();
            out.title = cut_to_width(name, config.max_title_width).to_owned();
        }
        if out.content.is_empty() {
            out.content = cut_to_width(&conversation.text, config.max_content_width).to_owned();
        }
    }
    if out.title.is_empty() {
        out.title = config.default_title.clone();
    }
    if out.content.is_empty() {
        out.content = config.default_content.clone();
    }
    out
}

/// The rendered push as the own channel carries it: the own-channel block's texts moved into the base
/// fields, vendor blocks removed, and of the options only the conversation kept.
pub fn for_channel(rendered: &PushMessage) -> PushMessage {
    let own = rendered.own_channel.clone().unwrap_or_default();
    let pick = |own: &str, base: &str| if own.is_empty() { base } else { own }.to_owned();
    PushMessage {
        title: pick(&own.title, &rendered.title),
        sub_title: pick(&own.sub_title, &rendered.sub_title),
        content: pick(&own.content, &rendered.content),
        ext: rendered.ext.clone(),
        config: rendered.config.clone(),
        template: None,
        options: rendered
            .options
            .as_ref()
            .and_then(|o| o.conversation.clone())
            .map(|conversation| PushOptions {
                conversation: Some(conversation),
                ..Default::default()
            }),
        own_channel: rendered.own_channel.clone(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        proto::v1::{ApnsOverride, Conversation, OwnChannelOverride, TemplateRef},
        store::UserSettingsRecord,
    };

    fn config() -> PushConfig {
        PushConfig::default()
    }

    fn chat(text: &str) -> PushOptions {
        PushOptions {
            conversation: Some(Conversation {
                from: "alice".into(),
                text: text.into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn style(style: NotificationDisplayStyle) -> PushProfile {
        PushProfile {
            user: UserSettingsRecord {
                display_style: style as i32,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn template(title: &str, content: &str) -> TemplateRecord {
        TemplateRecord {
            name: "t".into(),
            title_pattern: title.into(),
            content_pattern: content.into(),
            ..Default::default()
        }
    }

    #[test]
    fn given_texts_stay_and_empty_ones_get_the_defaults() {
        let m = PushMessage {
            title: "Hi".into(),
            ..Default::default()
        };
        let out = for_user(
            &m,
            &PushProfile::default(),
            None,
            Sender::default(),
            &config(),
        );
        assert_eq!(out.title, "Hi");
        assert_eq!(out.content, "You have a new message");
    }

    #[test]
    fn the_nickname_style_fills_what_is_empty_for_chats() {
        let m = PushMessage {
            options: Some(chat("lunch?")),
            ..Default::default()
        };
        let profile = style(NotificationDisplayStyle::NicknameAndContent);
        let out = for_user(&m, &profile, None, Sender { nickname: "Alice" }, &config());
        assert_eq!(
            (out.title.as_str(), out.content.as_str()),
            ("Alice", "lunch?")
        );
        let out = for_user(&m, &profile, None, Sender::default(), &config());
        assert_eq!(out.title, "alice", "the user id without a nickname");
        let plain = style(NotificationDisplayStyle::Default);
        let out = for_user(&m, &plain, None, Sender { nickname: "Alice" }, &config());
        assert_eq!(
            (out.title.as_str(), out.content.as_str()),
            ("New message", "You have a new message")
        );
    }

    #[test]
    fn the_named_template_wins_over_the_users_and_the_given_texts() {
        let m = PushMessage {
            title: "given".into(),
            content: "given body".into(),
            template: Some(TemplateRef {
                name: "t".into(),
                title_args: vec!["{$dynamicFrom}".into()],
                content_args: vec!["x".into()],
            }),
            options: Some(chat("hello")),
            ..Default::default()
        };
        let profile = PushProfile {
            template: Some(template("user {0}", "user body")),
            ..Default::default()
        };
        let named = template("from {0}", "");
        let out = for_user(
            &m,
            &profile,
            Some(&named),
            Sender { nickname: "Al" },
            &config(),
        );
        assert_eq!(out.title, "from Al");
        assert_eq!(
            out.content, "given body",
            "an empty pattern leaves the text as given"
        );
        let out = for_user(&m, &profile, None, Sender::default(), &config());
        assert_eq!(
            (out.title.as_str(), out.content.as_str()),
            ("user alice", "user body")
        );
    }

    #[test]
    fn rendered_texts_are_cut_to_the_limits() {
        let m = PushMessage::default();
        let named = template(&"你".repeat(40), &"b".repeat(300));
        let out = for_user(
            &m,
            &PushProfile::default(),
            Some(&named),
            Sender::default(),
            &config(),
        );
        assert_eq!(out.title, "你".repeat(16));
        assert_eq!(out.content.len(), 100);
    }

    #[test]
    fn the_channel_gets_its_own_texts_and_no_vendor_blocks() {
        let m = PushMessage {
            title: "T".into(),
            content: "C".into(),
            own_channel: Some(OwnChannelOverride {
                title: "own".into(),
                ..Default::default()
            }),
            apns: Some(ApnsOverride::default()),
            options: Some(PushOptions {
                force_notification: true,
                ..chat("x")
            }),
            ..Default::default()
        };
        let out = for_channel(&m);
        assert_eq!((out.title.as_str(), out.content.as_str()), ("own", "C"));
        assert!(out.apns.is_none());
        let options = out.options.unwrap();
        assert!(!options.force_notification);
        assert_eq!(options.conversation.unwrap().from, "alice");
    }
}
