//! The Huawei Push Kit `messages:send` body for a message.
//!
//! Field names and limits confirmed from Huawei's "Sending Downlink Messages" API reference and the official
//! `HMS-Core/hms-push-serverdemo-*` SDKs: `message.android.notification` carries `title`, `body`, `image`,
//! `channel_id`, `click_action{type 1|2|3,intent,action,url}`, `badge{add_num,set_num,class}`, `notify_id`,
//! `importance`…; `android.ttl` is a `"86400s"` string of at most 15 days; `message.data` is a string; the
//! message (without tokens) is at most 4096 bytes; one request carries 1..1000 `token`s. The parts Honor's
//! body shares are in `shared_with_honor.rs`.

use std::time::Duration;

use serde_json::{Map, Value, json};

use super::shared_with_honor::{Content, badge, buttons, click, importance, sealed};
use crate::{
    dispatch::{
        Outcome, Rendered,
        fields::{duration_text, first, invalid, put, put_list, rfc3339, ttl},
        tap::tap,
    },
    proto::v1::AndroidPriority,
};

/// Largest message Huawei accepts, tokens excluded, in bytes.
pub const MAX_PAYLOAD: usize = 4096;
/// Longest time Huawei stores a push: 15 days.
pub const MAX_TTL: Duration = Duration::from_secs(15 * 24 * 3600);
/// Most tokens in one request.
pub const MAX_TOKENS: usize = 1000;

/// Notifier settings the body depends on.
pub struct Defaults<'a> {
    /// `android.notification.channel_id` when the message names none.
    pub channel_id: &'a str,
    /// What a tap opens when the message says nothing.
    pub click_action: &'a str,
}

/// A prepared send: the `message` object without its tokens, and `validate_only`.
#[derive(Debug, Clone, PartialEq)]
pub struct HuaweiRequest {
    message: Map<String, Value>,
    validate_only: bool,
}

impl HuaweiRequest {
    /// The request body for `tokens`.
    pub fn body_for(&self, tokens: &[&str]) -> String {
        let mut message = self.message.clone();
        message.insert("token".into(), json!(tokens));
        json!({"validate_only": self.validate_only, "message": message}).to_string()
    }
}

/// The request for `message`, or why Huawei would refuse it.
pub fn build(message: &Rendered, defaults: &Defaults<'_>) -> Result<HuaweiRequest, Outcome> {
    crate::dispatch::checks::not_voip(message)?;
    let m = &message.message;
    let o = m.huawei.clone().unwrap_or_default();
    let Content {
        title,
        body,
        data,
        notify,
    } = Content::of(m, [&o.title, &o.content, &o.data], "a Huawei")?;

    let mut out = Map::new();
    put(&mut out, "data", &data);
    let mut android = Map::new();
    if let Some(c) = o.collapse_key {
        if !(-1..=100).contains(&c) {
            return Err(invalid("huawei.collapse_key must be -1..100"));
        }
        android.insert("collapse_key".into(), json!(c));
    }
    match o.urgency() {
        AndroidPriority::High => {
            android.insert("urgency".into(), json!("HIGH"));
        }
        AndroidPriority::Normal => {
            android.insert("urgency".into(), json!("NORMAL"));
        }
        AndroidPriority::Unspecified => {}
    }
    put(&mut android, "category", &o.category);
    if let Some(ttl) = ttl(message, o.ttl.as_ref(), MAX_TTL, "Huawei")? {
        android.insert("ttl".into(), json!(duration_text(ttl)));
    }
    put(&mut android, "bi_tag", &o.bi_tag);
    put(&mut android, "receipt_id", &o.receipt_id);
    if o.test_message {
        android.insert("target_user_type".into(), json!(1));
    }

    if notify {
        let mut n = Map::new();
        put(&mut n, "title", title);
        put(&mut n, "body", body);
        put(&mut n, "image", &o.image);
        put(&mut n, "icon", &o.icon);
        put(&mut n, "color", &o.color);
        put(&mut n, "sound", &o.sound);
        if let Some(v) = o.default_sound {
            n.insert("default_sound".into(), json!(v));
        }
        put(&mut n, "tag", &o.tag);
        n.insert(
            "click_action".into(),
            click(o.click_action.as_ref(), tap(message, defaults.click_action))?,
        );
        put(&mut n, "title_loc_key", &o.title_loc_key);
        put_list(&mut n, "title_loc_args", &o.title_loc_args);
        put(&mut n, "body_loc_key", &o.body_loc_key);
        put_list(&mut n, "body_loc_args", &o.body_loc_args);
        put(
            &mut n,
            "channel_id",
            first(&[&o.channel_id, defaults.channel_id]),
        );
        put(&mut n, "notify_summary", &o.notify_summary);
        if let Some(s) = o.style {
            n.insert("style".into(), json!(s));
        }
        put(&mut n, "big_title", &o.big_title);
        put(&mut n, "big_body", &o.big_body);
        put_list(&mut n, "inbox_content", &o.inbox_content);
        if let Some(d) = o.auto_clear.as_ref() {
            let ms = d.seconds.saturating_mul(1000) + i64::from(d.nanos / 1_000_000);
            n.insert("auto_clear".into(), json!(ms));
        }
        if let Some(id) = o.notify_id {
            n.insert("notify_id".into(), json!(id));
        }
        put(&mut n, "group", &o.group);
        if let Some(b) = badge(
            o.badge.as_ref(),
            m.config.as_ref().and_then(|c| c.badge.as_ref()),
            ("add_num", "set_num", "class"),
        )? {
            n.insert("badge".into(), b);
        }
        if let Some(v) = o.auto_cancel {
            n.insert("auto_cancel".into(), json!(v));
        }
        if let Some(when) = o.when.as_ref() {
            n.insert("when".into(), json!(rfc3339(when)?));
        }
        if let Some(v) = o.use_default_vibrate {
            n.insert("use_default_vibrate".into(), json!(v));
        }
        if let Some(v) = o.use_default_light {
            n.insert("use_default_light".into(), json!(v));
        }
        put(&mut n, "visibility", &o.visibility);
        if let Some(v) = o.foreground_show {
            n.insert("foreground_show".into(), json!(v));
        }
        if let Some(i) = importance(o.importance(), true) {
            n.insert("importance".into(), json!(i));
        }
        if !o.buttons.is_empty() {
            n.insert(
                "buttons".into(),
                buttons(&o.buttons, ("action_type", "intent_type"))?,
            );
        }
        android.insert("notification".into(), Value::Object(n));
    }
    Ok(HuaweiRequest {
        message: sealed(out, android, &o.raw_json, "Huawei", MAX_PAYLOAD)?,
        validate_only: o.validate_only,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::dispatch::testing::{basic, rendered, secs};
    use crate::proto::v1::{
        ApnsOverride, ApnsPushType, Badge, ClickAction, HuaweiOverride, MessageConfig,
        NotificationButton, NotificationImportance, PushMessage, PushOptions, VendorBadge,
        VendorClickAction, click_action,
    };

    fn none() -> Defaults<'static> {
        Defaults {
            channel_id: "",
            click_action: "",
        }
    }

    fn body(message: PushMessage, defaults: &Defaults<'_>) -> Value {
        let r = build(&rendered(message), defaults).unwrap();
        serde_json::from_str(&r.body_for(&["t1", "t2"])).unwrap()
    }

    #[test]
    fn base_fields_map_into_android_notification_and_data() {
        let message = PushMessage {
            ext: HashMap::from([("k".to_string(), "v".to_string())]),
            ..basic()
        };
        assert_eq!(
            body(message, &none()),
            json!({"validate_only":false,"message":{
                "data":"{\"k\":\"v\"}",
                "android":{"notification":{"title":"Hi","body":"Body","click_action":{"type":3}}},
                "token":["t1","t2"]}})
        );
    }

    #[test]
    fn the_huawei_block_wins_and_fills_every_field() {
        let message = PushMessage {
            config: Some(MessageConfig {
                click_action: Some(ClickAction {
                    target: Some(click_action::Target::Url("https://base".into())),
                }),
                badge: Some(Badge {
                    add_num: Some(1),
                    set_num: None,
                    activity: "com.x.Main".into(),
                }),
            }),
            ext: HashMap::from([("k".to_string(), "base".to_string())]),
            huawei: Some(HuaweiOverride {
                title: "T".into(),
                content: "B".into(),
                image: "https://img".into(),
                data: "payload".into(),
                collapse_key: Some(-1),
                urgency: AndroidPriority::High as i32,
                category: "IM".into(),
                ttl: Some(secs(3600)),
                bi_tag: "bi".into(),
                receipt_id: "r1".into(),
                test_message: true,
                importance: NotificationImportance::Normal as i32,
                channel_id: "chat".into(),
                tag: "tg".into(),
                click_action: Some(VendorClickAction {
                    r#type: Some(1),
                    intent: "intent:#Intent;component=a/.B;end".into(),
                    ..Default::default()
                }),
                notify_id: Some(7),
                badge: Some(VendorBadge {
                    add_num: Some(2),
                    set_num: Some(5),
                    badge_class: "com.x.Other".into(),
                }),
                auto_clear: Some(prost_types::Duration {
                    seconds: 2,
                    nanos: 500_000_000,
                }),
                foreground_show: Some(false),
                buttons: vec![NotificationButton {
                    name: "Open".into(),
                    action_type: 0,
                    ..Default::default()
                }],
                validate_only: true,
                raw_json: r#"{"review":[{"reviewer":"x"}]}"#.into(),
                ..Default::default()
            }),
            ..basic()
        };
        let b = body(message, &none());
        assert_eq!(b["validate_only"], json!(true));
        let msg = &b["message"];
        assert_eq!(msg["data"], json!("payload"));
        assert_eq!(msg["review"], json!([{"reviewer":"x"}]));
        assert_eq!(msg["token"], json!(["t1", "t2"]));
        assert_eq!(
            msg["android"]["notification"],
            json!({"title":"T","body":"B","image":"https://img","tag":"tg",
                "click_action":{"type":1,"intent":"intent:#Intent;component=a/.B;end"},
                "channel_id":"chat","auto_clear":2500,"notify_id":7,
                "badge":{"set_num":5,"class":"com.x.Other"},"foreground_show":false,
                "importance":"NORMAL","buttons":[{"name":"Open","action_type":0}]})
        );
        assert_eq!(msg["android"]["collapse_key"], json!(-1));
        assert_eq!(msg["android"]["ttl"], json!("3600s"));
        assert_eq!(msg["android"]["receipt_id"], json!("r1"));
    }

    #[test]
    fn typed_android_fields() {
        let message = PushMessage {
            huawei: Some(HuaweiOverride {
                collapse_key: Some(3),
                urgency: AndroidPriority::Normal as i32,
                category: "IM".into(),
                ttl: Some(secs(90)),
                bi_tag: "bi".into(),
                test_message: true,
                importance: NotificationImportance::Low as i32,
                channel_id: "chat".into(),
                notify_id: Some(7),
                badge: Some(VendorBadge {
                    add_num: Some(2),
                    set_num: Some(5),
                    badge_class: "com.x.Main".into(),
                }),
                ..Default::default()
            }),
            ..basic()
        };
        let b = body(message, &none());
        let a = &b["message"]["android"];
        assert_eq!(a["collapse_key"], json!(3));
        assert_eq!(a["urgency"], json!("NORMAL"));
        assert_eq!(a["category"], json!("IM"));
        assert_eq!(a["ttl"], json!("90s"));
        assert_eq!(a["bi_tag"], json!("bi"));
        assert_eq!(a["target_user_type"], json!(1));
        let n = &a["notification"];
        assert_eq!(n["importance"], json!("LOW"));
        assert_eq!(n["channel_id"], json!("chat"));
        assert_eq!(n["notify_id"], json!(7));
        assert_eq!(n["badge"], json!({"set_num":5,"class":"com.x.Main"}));
    }

    #[test]
    fn click_actions_from_the_message_and_the_notifier() {
        let with = |target: click_action::Target, d: &Defaults<'_>| {
            let message = PushMessage {
                config: Some(MessageConfig {
                    click_action: Some(ClickAction {
                        target: Some(target),
                    }),
                    badge: None,
                }),
                ..basic()
            };
            body(message, d)["message"]["android"]["notification"]["click_action"].clone()
        };
        assert_eq!(
            with(click_action::Target::Url("https://e.com".into()), &none()),
            json!({"type":2,"url":"https://e.com"})
        );
        assert_eq!(
            with(click_action::Target::Action("com.x.OPEN".into()), &none()),
            json!({"type":1,"action":"com.x.OPEN"})
        );
        assert_eq!(
            with(
                click_action::Target::Activity("com.x/.ChatActivity".into()),
                &none()
            ),
            json!({"type":1,"intent":"intent:#Intent;component=com.x/.ChatActivity;end"})
        );
        let defaults = Defaults {
            channel_id: "news",
            click_action: "com.x.OPEN_CHAT",
        };
        let n = &body(basic(), &defaults)["message"]["android"]["notification"];
        assert_eq!(
            n["click_action"],
            json!({"type":1,"action":"com.x.OPEN_CHAT"})
        );
        assert_eq!(n["channel_id"], json!("news"));
        let plain_http = PushMessage {
            config: Some(MessageConfig {
                click_action: Some(ClickAction {
                    target: Some(click_action::Target::Url("http://e.com".into())),
                }),
                badge: None,
            }),
            ..basic()
        };
        assert!(build(&rendered(plain_http), &none()).is_err());
    }

    #[test]
    fn config_badge_is_used_when_the_block_has_none() {
        let message = PushMessage {
            config: Some(MessageConfig {
                click_action: None,
                badge: Some(Badge {
                    add_num: Some(1),
                    set_num: None,
                    activity: "com.x.Main".into(),
                }),
            }),
            ..basic()
        };
        assert_eq!(
            body(message, &none())["message"]["android"]["notification"]["badge"],
            json!({"add_num":1,"class":"com.x.Main"})
        );
        let classless = PushMessage {
            config: Some(MessageConfig {
                click_action: None,
                badge: Some(Badge {
                    add_num: Some(1),
                    ..Default::default()
                }),
            }),
            ..basic()
        };
        assert!(build(&rendered(classless), &none()).is_err());
    }

    #[test]
    fn message_ttl_is_what_is_left_of_it() {
        let message = PushMessage {
            options: Some(PushOptions {
                ttl: Some(secs(600)),
                ..Default::default()
            }),
            ..basic()
        };
        let ttl = body(message, &none())["message"]["android"]["ttl"].clone();
        assert!(ttl == json!("600s") || ttl == json!("599s"), "{ttl}");
    }

    #[test]
    fn data_only_messages_carry_no_notification() {
        let message = PushMessage {
            ext: HashMap::from([("a".to_string(), "1".to_string())]),
            ..Default::default()
        };
        let b = body(message, &none());
        assert_eq!(b["message"]["data"], json!("{\"a\":\"1\"}"));
        assert!(b["message"].get("android").is_none());
    }

    #[test]
    fn refusals_before_sending() {
        let r = |m: PushMessage| build(&rendered(m), &none());
        assert!(matches!(
            r(PushMessage::default()),
            Err(Outcome::InvalidMessage { .. })
        ));
        let title_only = PushMessage {
            title: "t".into(),
            ..Default::default()
        };
        assert!(matches!(r(title_only), Err(Outcome::InvalidMessage { .. })));
        let big = PushMessage {
            content: "x".repeat(MAX_PAYLOAD),
            ..basic()
        };
        assert!(matches!(r(big), Err(Outcome::InvalidMessage { .. })));
        let long_ttl = PushMessage {
            huawei: Some(HuaweiOverride {
                ttl: Some(secs(16 * 86400)),
                ..Default::default()
            }),
            ..basic()
        };
        assert!(matches!(r(long_ttl), Err(Outcome::InvalidMessage { .. })));
        let voip = PushMessage {
            apns: Some(ApnsOverride {
                push_type: ApnsPushType::Voip as i32,
                ..Default::default()
            }),
            ..basic()
        };
        assert!(matches!(r(voip), Err(Outcome::InvalidVoip { .. })));
        let bad_raw = PushMessage {
            huawei: Some(HuaweiOverride {
                raw_json: "[1]".into(),
                ..Default::default()
            }),
            ..basic()
        };
        assert!(matches!(r(bad_raw), Err(Outcome::InvalidMessage { .. })));
    }

    #[test]
    fn the_size_limit_excludes_tokens() {
        let r = build(&rendered(basic()), &none()).unwrap();
        let tokens: Vec<String> = (0..MAX_TOKENS).map(|i| format!("token-{i:0>60}")).collect();
        let refs: Vec<&str> = tokens.iter().map(String::as_str).collect();
        assert!(r.body_for(&refs).len() > MAX_PAYLOAD);
    }
}
