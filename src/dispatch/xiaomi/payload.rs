//! The Xiaomi MiPush `/v3/message/regid` form for a message.
//!
//! Fields confirmed from Xiaomi's MiPush server API reference and the official server SDK's message builder:
//! `registration_id` (comma-separated), `restricted_package_name`, `payload`, `title`, `description`,
//! `pass_through` 0|1, `notify_type`, `time_to_live` (ms), `time_to_send` (ms since the epoch), `notify_id`, and
//! flattened `extra.<key>` fields (`extra.channel_id`, `extra.notify_effect` 1|2|3 with `extra.intent_uri` /
//! `extra.web_uri`, `extra.sound_uri`, `extra.ticker`, `extra.notify_foreground`, `extra.jobkey`,
//! `extra.callback`, `extra.callback.param`, `extra.callback.type`, `extra.locale`, `extra.model`,
//! `extra.app_version`, `extra.connpt`, `extra.only_send_once`, `extra.flow_control`). Title under 50 and
//! description under 128 characters (each character counting one), payload at most 4 KB.

use std::time::Duration;

use crate::{
    dispatch::{
        Outcome, Rendered,
        fields::{chars, ext_json, first, invalid, ttl},
        tap::{Tap, activity_intent, is_intent_uri, tap},
    },
    proto::v1::XiaomiNotifyEffect,
};

/// Largest form Xiaomi accepts, registration ids excluded, in bytes.
pub const MAX_PAYLOAD: usize = 4096;
/// Title must be shorter than this many characters.
pub const TITLE_LIMIT: usize = 50;
/// Description must be shorter than this many characters.
pub const DESCRIPTION_LIMIT: usize = 128;
/// Longest time Xiaomi stores a push: two weeks.
pub const MAX_TTL: Duration = Duration::from_secs(14 * 24 * 3600);
/// Most registration ids in one request.
pub const MAX_REGIDS: usize = 1000;

/// Notifier settings the form depends on.
pub struct Defaults<'a> {
    /// `restricted_package_name`, also the package of activity click targets.
    pub package_name: &'a str,
    /// `extra.channel_id` when the message names none.
    pub channel_id: &'a str,
    /// What a tap opens when the message says nothing.
    pub click_action: &'a str,
}

/// A prepared send: every form field but `registration_id`.
#[derive(Debug, Clone, PartialEq)]
pub struct XiaomiRequest {
    fields: Vec<(String, String)>,
}

impl XiaomiRequest {
    /// The form for `regids`, `registration_id` first.
    pub fn form_for(&self, regids: &[&str]) -> Vec<(String, String)> {
        let mut form = Vec::with_capacity(self.fields.len() + 1);
        form.push(("registration_id".to_owned(), regids.join(",")));
        form.extend(self.fields.iter().cloned());
        form
    }

    /// The value of form field `key`, if set.
    pub fn field(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// The request for `message`, or why Xiaomi would refuse it.
pub fn build(message: &Rendered, defaults: &Defaults<'_>) -> Result<XiaomiRequest, Outcome> {
    crate::dispatch::checks::not_voip(message)?;
    let m = &message.message;
    let o = m.xiaomi.clone().unwrap_or_default();
    let mut f: Vec<(String, String)> = Vec::new();
    let mut set = |k: &str, v: String| {
        if !v.is_empty() {
            f.push((k.to_owned(), v));
        }
    };
    let title = first(&[&o.title, &m.title]);
    let description = first(&[&o.content, &m.content]);
    let payload = if o.payload.is_empty() {
        ext_json(&m.ext)
    } else {
        o.payload.clone()
    };
    if o.pass_through {
        if payload.is_empty() {
            return Err(invalid("a Xiaomi pass-through push needs a payload"));
        }
    } else if title.is_empty() || description.is_empty() {
        return Err(invalid(
            "a Xiaomi notification needs a title and a description",
        ));
    }
    if chars(title) >= TITLE_LIMIT {
        return Err(invalid(format!(
            "the Xiaomi title must be under {TITLE_LIMIT} characters"
        )));
    }
    if chars(description) >= DESCRIPTION_LIMIT {
        return Err(invalid(format!(
            "the Xiaomi description must be under {DESCRIPTION_LIMIT} characters"
        )));
    }
    set("restricted_package_name", defaults.package_name.to_owned());
    set("payload", payload);
    set("title", title.to_owned());
    set("description", description.to_owned());
    set(
        "pass_through",
        if o.pass_through { "1" } else { "0" }.to_owned(),
    );
    set("notify_type", o.notify_type.unwrap_or(-1).to_string());
    if let Some(ttl) = ttl(message, o.ttl.as_ref(), MAX_TTL, "Xiaomi")? {
        set("time_to_live", ttl.as_millis().to_string());
    }
    if let Some(at) = o.send_time.as_ref() {
        let ms = at.seconds.saturating_mul(1000) + i64::from(at.nanos / 1_000_000);
        set("time_to_send", ms.to_string());
    }
    if let Some(id) = o.notify_id {
        set("notify_id", id.to_string());
    }

    // Extras: the message's ext first, so every typed field below wins over a same-named key.
    let mut extra: Vec<(String, String)> = Vec::new();
    let mut ext: Vec<_> = m.ext.iter().collect();
    ext.sort();
    for (k, v) in ext {
        extra.push((k.clone(), v.clone()));
    }
    let mut x = |k: &str, v: String| {
        if !v.is_empty() {
            extra.retain(|(key, _)| key != k);
            extra.push((k.to_owned(), v));
        }
    };
    x(
        "channel_id",
        first(&[&o.channel_id, defaults.channel_id]).to_owned(),
    );
    x("sound_uri", o.sound.clone());
    x("ticker", o.ticker.clone());
    if let Some(v) = o.notify_foreground {
        x("notify_foreground", if v { "1" } else { "0" }.to_owned());
    }
    let (effect, intent_uri, web_uri) = click(&o, message, defaults)?;
    x("notify_effect", effect);
    x("intent_uri", intent_uri);
    x("web_uri", web_uri);
    if let Some(v) = o.flow_control {
        x("flow_control", v.to_string());
    }
    x("jobkey", o.job_key.clone());
    x("callback", o.callback_url.clone());
    x("callback.param", o.callback_param.clone());
    if let Some(v) = o.callback_type {
        x("callback.type", v.to_string());
    }
    x("locale", o.locales.join(","));
    x("locale_not_in", o.locales_not_in.join(","));
    x("model", o.models.join(","));
    x("model_not_in", o.models_not_in.join(","));
    x("app_version", o.app_versions.join(","));
    x("app_version_not_in", o.app_versions_not_in.join(","));
    x("connpt", o.connpt.clone());
    if o.only_send_once {
        x("only_send_once", "1".to_owned());
    }
    let mut more: Vec<_> = o.extra.iter().collect();
    more.sort();
    for (k, v) in more {
        x(k, v.clone());
    }
    for (k, v) in extra {
        f.push((format!("extra.{k}"), v));
    }
    let size: usize = f.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
    if size > MAX_PAYLOAD {
        return Err(invalid(format!(
            "the Xiaomi message is {size} bytes, over Xiaomi's {MAX_PAYLOAD}"
        )));
    }
    Ok(XiaomiRequest { fields: f })
}

/// `extra.notify_effect` with its `intent_uri` / `web_uri`: the Xiaomi block's, else the message's tap target,
/// else the notifier default; nothing when none is set (Xiaomi opens the launcher).
fn click(
    o: &crate::proto::v1::XiaomiOverride,
    message: &Rendered,
    defaults: &Defaults<'_>,
) -> Result<(String, String, String), Outcome> {
    let s = |v: &str| v.to_owned();
    match o.notify_effect() {
        XiaomiNotifyEffect::Launcher => return Ok((s("1"), String::new(), String::new())),
        XiaomiNotifyEffect::Activity => {
            if o.intent_uri.is_empty() {
                return Err(invalid("Xiaomi notify_effect 2 needs an intent_uri"));
            }
            return Ok((s("2"), o.intent_uri.clone(), String::new()));
        }
        XiaomiNotifyEffect::Web => {
            if o.web_uri.is_empty() {
                return Err(invalid("Xiaomi notify_effect 3 needs a web_uri"));
            }
            return Ok((s("3"), String::new(), o.web_uri.clone()));
        }
        XiaomiNotifyEffect::Unspecified => {}
    }
    Ok(match tap(message, defaults.click_action) {
        Tap::Url(u) => (s("3"), String::new(), u.to_owned()),
        Tap::Action(a) if is_intent_uri(a) => (s("2"), a.to_owned(), String::new()),
        Tap::Action(a) => (
            s("2"),
            format!("intent:#Intent;action={a};end"),
            String::new(),
        ),
        Tap::Activity(a) => (
            s("2"),
            activity_intent(a, defaults.package_name),
            String::new(),
        ),
        Tap::Launcher => (String::new(), String::new(), String::new()),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::dispatch::testing::{basic, rendered, secs};
    use crate::proto::v1::{
        ClickAction, MessageConfig, PushMessage, PushOptions, XiaomiOverride, click_action,
    };

    fn defaults() -> Defaults<'static> {
        Defaults {
            package_name: "com.x",
            channel_id: "",
            click_action: "",
        }
    }

    fn form(message: PushMessage, d: &Defaults<'_>) -> Vec<(String, String)> {
        build(&rendered(message), d)
            .unwrap()
            .form_for(&["r1", "r2"])
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn base_fields_become_the_form() {
        let message = PushMessage {
            ext: HashMap::from([("k".to_string(), "v".to_string())]),
            ..basic()
        };
        assert_eq!(
            form(message, &defaults()),
            pairs(&[
                ("registration_id", "r1,r2"),
                ("restricted_package_name", "com.x"),
                ("payload", "{\"k\":\"v\"}"),
                ("title", "Hi"),
                ("description", "Body"),
                ("pass_through", "0"),
                ("notify_type", "-1"),
                ("extra.k", "v"),
            ])
        );
    }

    #[test]
    fn the_xiaomi_block_wins_and_fills_extras() {
        let message = PushMessage {
            ext: HashMap::from([("channel_id".to_string(), "from-ext".to_string())]),
            config: Some(MessageConfig {
                click_action: Some(ClickAction {
                    target: Some(click_action::Target::Url("https://base".into())),
                }),
                badge: None,
            }),
            xiaomi: Some(XiaomiOverride {
                title: "T".into(),
                content: "D".into(),
                pass_through: true,
                payload: "p".into(),
                notify_type: Some(3),
                ttl: Some(secs(60)),
                send_time: Some(prost_types::Timestamp {
                    seconds: 1_700_000_000,
                    nanos: 0,
                }),
                notify_id: Some(4),
                channel_id: "chat".into(),
                sound: "android.resource://com.x/raw/ding".into(),
                notify_foreground: Some(false),
                notify_effect: XiaomiNotifyEffect::Web as i32,
                web_uri: "https://mi".into(),
                job_key: "j".into(),
                callback_url: "https://cb".into(),
                callback_param: "cp".into(),
                callback_type: Some(19),
                locales: vec!["zh_CN".into(), "en_US".into()],
                only_send_once: true,
                extra: HashMap::from([("custom".to_string(), "c".to_string())]),
                ..Default::default()
            }),
            ..basic()
        };
        assert_eq!(
            form(message, &defaults()),
            pairs(&[
                ("registration_id", "r1,r2"),
                ("restricted_package_name", "com.x"),
                ("payload", "p"),
                ("title", "T"),
                ("description", "D"),
                ("pass_through", "1"),
                ("notify_type", "3"),
                ("time_to_live", "60000"),
                ("time_to_send", "1700000000000"),
                ("notify_id", "4"),
                ("extra.channel_id", "chat"),
                ("extra.sound_uri", "android.resource://com.x/raw/ding"),
                ("extra.notify_foreground", "0"),
                ("extra.notify_effect", "3"),
                ("extra.web_uri", "https://mi"),
                ("extra.jobkey", "j"),
                ("extra.callback", "https://cb"),
                ("extra.callback.param", "cp"),
                ("extra.callback.type", "19"),
                ("extra.locale", "zh_CN,en_US"),
                ("extra.only_send_once", "1"),
                ("extra.custom", "c"),
            ])
        );
    }

    #[test]
    fn click_targets_and_notifier_defaults() {
        let effect = |target: Option<click_action::Target>, d: &Defaults<'_>| {
            let message = PushMessage {
                config: Some(MessageConfig {
                    click_action: target.map(|t| ClickAction { target: Some(t) }),
                    badge: None,
                }),
                ..basic()
            };
            let r = build(&rendered(message), d).unwrap();
            (
                r.field("extra.notify_effect").map(str::to_owned),
                r.field("extra.intent_uri").map(str::to_owned),
                r.field("extra.web_uri").map(str::to_owned),
                r.field("extra.channel_id").map(str::to_owned),
            )
        };
        let some = |s: &str| Some(s.to_owned());
        assert_eq!(
            effect(
                Some(click_action::Target::Url("https://e".into())),
                &defaults()
            ),
            (some("3"), None, some("https://e"), None)
        );
        assert_eq!(
            effect(
                Some(click_action::Target::Activity(".Chat".into())),
                &defaults()
            ),
            (
                some("2"),
                some("intent:#Intent;component=com.x/.Chat;end"),
                None,
                None
            )
        );
        assert_eq!(
            effect(
                Some(click_action::Target::Action("com.x.OPEN".into())),
                &defaults()
            ),
            (
                some("2"),
                some("intent:#Intent;action=com.x.OPEN;end"),
                None,
                None
            )
        );
        assert_eq!(effect(None, &defaults()), (None, None, None, None));
        let d = Defaults {
            package_name: "com.x",
            channel_id: "news",
            click_action: "com.x.ui.ChatActivity",
        };
        assert_eq!(
            effect(None, &d),
            (
                some("2"),
                some("intent:#Intent;component=com.x/com.x.ui.ChatActivity;end"),
                None,
                some("news")
            )
        );
    }

    #[test]
    fn message_ttl_is_sent_in_milliseconds_of_what_is_left() {
        let message = PushMessage {
            options: Some(PushOptions {
                ttl: Some(secs(600)),
                ..Default::default()
            }),
            ..basic()
        };
        let r = build(&rendered(message), &defaults()).unwrap();
        let ms: u64 = r.field("time_to_live").unwrap().parse().unwrap();
        assert!((599_000..=600_000).contains(&ms), "{ms}");
    }

    #[test]
    fn refusals_before_sending() {
        let r = |m: PushMessage| build(&rendered(m), &defaults());
        assert!(matches!(
            r(PushMessage::default()),
            Err(Outcome::InvalidMessage { .. })
        ));
        let long_title = PushMessage {
            title: "标".repeat(TITLE_LIMIT),
            ..basic()
        };
        assert!(matches!(r(long_title), Err(Outcome::InvalidMessage { .. })));
        let just_under = PushMessage {
            title: "标".repeat(TITLE_LIMIT - 1),
            content: "x".repeat(DESCRIPTION_LIMIT - 1),
            ..Default::default()
        };
        assert!(r(just_under).is_ok());
        let long_description = PushMessage {
            content: "x".repeat(DESCRIPTION_LIMIT),
            ..basic()
        };
        assert!(matches!(
            r(long_description),
            Err(Outcome::InvalidMessage { .. })
        ));
        let big = PushMessage {
            xiaomi: Some(XiaomiOverride {
                payload: "x".repeat(MAX_PAYLOAD),
                ..Default::default()
            }),
            ..basic()
        };
        assert!(matches!(r(big), Err(Outcome::InvalidMessage { .. })));
        let empty_pass_through = PushMessage {
            xiaomi: Some(XiaomiOverride {
                pass_through: true,
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(r(empty_pass_through).is_err());
        let effect_without_uri = PushMessage {
            xiaomi: Some(XiaomiOverride {
                notify_effect: XiaomiNotifyEffect::Activity as i32,
                ..Default::default()
            }),
            ..basic()
        };
        assert!(r(effect_without_uri).is_err());
    }
}
