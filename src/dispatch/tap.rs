//! What a tap on a notification opens, read once for every vendor: the message's `config.click_action`, else
//! the notifier's `default_click_action` (an activity or an intent action, by one rule), else the app's
//! launcher page. Each vendor then writes the target its own way.

use super::Rendered;
use crate::proto::v1::click_action;

/// What a tap opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tap<'a> {
    /// Nothing said: the app's launcher page.
    Launcher,
    /// A web page.
    Url(&'a str),
    /// An app page by intent action or intent URI.
    Action(&'a str),
    /// An app page by activity class (or package/activity path).
    Activity(&'a str),
}

/// The message's tap target, else the notifier's `default_click_action` read by [`default_is_activity`],
/// else the launcher.
pub(crate) fn tap<'a>(message: &'a Rendered, default_click_action: &'a str) -> Tap<'a> {
    let target = message
        .message
        .config
        .as_ref()
        .and_then(|c| c.click_action.as_ref())
        .and_then(|c| c.target.as_ref());
    match target {
        Some(click_action::Target::Url(u)) if !u.is_empty() => Tap::Url(u),
        Some(click_action::Target::Action(a)) if !a.is_empty() => Tap::Action(a),
        Some(click_action::Target::Activity(a)) if !a.is_empty() => Tap::Activity(a),
        _ if default_click_action.is_empty() => Tap::Launcher,
        _ if default_is_activity(default_click_action) => Tap::Activity(default_click_action),
        _ => Tap::Action(default_click_action),
    }
}

/// Whether a notifier's `default_click_action` names an activity rather than an intent action or intent URI.
/// One rule for every vendor: an activity holds a `/` (`pkg/.Cls`) or its last segment is a CamelCase class
/// name (`com.x.ChatActivity`); an intent action is written in capitals (`com.x.OPEN_CHAT`,
/// `android.intent.action.VIEW`) or lower case, and an intent URI is passed on as it is.
pub(crate) fn default_is_activity(text: &str) -> bool {
    let last = text.rsplit(['.', '/']).next().unwrap_or("");
    let class_name =
        last.chars().next().is_some_and(char::is_uppercase) && last.chars().any(char::is_lowercase);
    !is_intent_uri(text) && (text.contains('/') || class_name)
}

/// Whether `text` is an Android intent URI (`intent:#Intent;...;end` or its `#Intent;...` form).
pub(crate) fn is_intent_uri(text: &str) -> bool {
    text.starts_with("intent:") || text.starts_with("#Intent")
}

/// An intent URI opening `activity` (`package/class` or a class of the app).
pub(crate) fn activity_intent(activity: &str, package: &str) -> String {
    if activity.contains('/') || package.is_empty() {
        format!("intent:#Intent;component={activity};end")
    } else {
        format!("intent:#Intent;component={package}/{activity};end")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::v1::{ClickAction, MessageConfig, PushMessage};

    fn with_tap(target: Option<click_action::Target>) -> Rendered {
        Rendered::now(
            "m",
            PushMessage {
                config: Some(MessageConfig {
                    click_action: Some(ClickAction { target }),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )
    }

    #[test]
    fn the_message_tap_wins_over_the_notifier_default() {
        let m = with_tap(Some(click_action::Target::Url("https://x".into())));
        assert_eq!(tap(&m, "com.a.Main"), Tap::Url("https://x"));
        let m = with_tap(None);
        assert_eq!(tap(&m, ""), Tap::Launcher);
        assert_eq!(
            tap(&m, "com.a.MainActivity"),
            Tap::Activity("com.a.MainActivity")
        );
        assert_eq!(tap(&m, "com.a.open_chat"), Tap::Action("com.a.open_chat"));
        assert_eq!(
            tap(&m, "intent:#Intent;action=x;end"),
            Tap::Action("intent:#Intent;action=x;end")
        );
        // An intent action in capitals is an action, not a class (the rule Huawei and Xiaomi use too).
        assert_eq!(tap(&m, "com.a.OPEN_CHAT"), Tap::Action("com.a.OPEN_CHAT"));
        assert_eq!(
            tap(&m, "com.a/.ChatActivity"),
            Tap::Activity("com.a/.ChatActivity")
        );
    }

    #[test]
    fn default_click_actions_are_read_by_one_rule() {
        for activity in [
            "com.a.MainActivity",
            "com.a/.Main",
            "com.a/com.a.Main",
            "Main",
        ] {
            assert!(default_is_activity(activity), "{activity}");
        }
        for action in [
            "com.a.OPEN_CHAT",
            "android.intent.action.VIEW",
            "com.a.open",
            "intent:#Intent;component=com.a/.Main;end",
            "#Intent;action=x;end",
            "OPEN",
        ] {
            assert!(!default_is_activity(action), "{action}");
        }
    }
}
