//! The Honor Push `sendMessage` body for a message.
//!
//! Shape confirmed from Honor's "发送下行消息" guide (developer.hihonor.com, reproduced in Honor's own posts on
//! oschina/infoq, 2023-11): `{"android":{"notification":{"title","body","clickAction":{"type":3}}},
//! "token":[…]}` for a notification, `{"data":"…","token":[…]}` for pass-through data. Honor writes its keys
//! in camelCase (`clickAction`, `bigTitle`, `notifyId`, `badge{addNum,setNum,badgeClass}`, `biTag`,
//! `targetUserType`). The 4096-byte body limit and the 1000-token limit follow Huawei's, from which Honor's
//! API derives (unverified against Honor's own reference, which could not be reached).

use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::dispatch::{
    Outcome, Rendered,
    fields::{duration_text, invalid, put, rfc3339, ttl},
    huawei::shared_with_honor::{Content, badge, buttons, click, importance, sealed},
    tap::tap,
};

/// Largest body Honor accepts, tokens excluded, in bytes.
pub const MAX_PAYLOAD: usize = 4096;
/// Longest time Honor stores a push: 15 days.
pub const MAX_TTL: Duration = Duration::from_secs(15 * 24 * 3600);
/// Most tokens in one request.
pub const MAX_TOKENS: usize = 1000;

/// Notifier settings the body depends on.
pub struct Defaults<'a> {
    /// What a tap opens when the message says nothing.
    pub click_action: &'a str,
}

/// A prepared send: the body without its tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct HonorRequest {
    body: Map<String, Value>,
}

impl HonorRequest {
    /// The request body for `tokens`.
    pub fn body_for(&self, tokens: &[&str]) -> String {
        let mut body = self.body.clone();
        body.insert("token".into(), json!(tokens));
        Value::Object(body).to_string()
    }
}

/// The request for `message`, or why Honor would refuse it.
pub fn build(message: &Rendered, defaults: &Defaults<'_>) -> Result<HonorRequest, Outcome> {
    crate::dispatch::checks::not_voip(message)?;
    let m = &message.message;
    let o = m.honor.clone().unwrap_or_default();
    let Content {
        title,
        body,
        data,
        notify,
    } = Content::of(m, [&o.title, &o.content, &o.data], "an Honor")?;
    let mut out = Map::new();
    put(&mut out, "data", &data);
    let mut android = Map::new();
    if let Some(ttl) = ttl(message, o.ttl.as_ref(), MAX_TTL, "Honor")? {
        android.insert("ttl".into(), json!(duration_text(ttl)));
    }
    put(&mut android, "biTag", &o.bi_tag);
    if o.test_message {
        android.insert("targetUserType".into(), json!(1));
    }
    if notify {
        let mut n = Map::new();
        put(&mut n, "title", title);
        put(&mut n, "body", body);
        put(&mut n, "image", &o.image);
        n.insert(
            "clickAction".into(),
            click(o.click_action.as_ref(), tap(message, defaults.click_action))?,
        );
        if let Some(s) = o.style {
            if s == 1 && (o.big_title.is_empty() || o.big_body.is_empty()) {
                return Err(invalid("Honor style 1 needs big_title and big_body"));
            }
            n.insert("style".into(), json!(s));
        }
        put(&mut n, "bigTitle", &o.big_title);
        put(&mut n, "bigBody", &o.big_body);
        if let Some(i) = importance(o.importance(), false) {
            n.insert("importance".into(), json!(i));
        }
        if let Some(b) = badge(
            o.badge.as_ref(),
            m.config.as_ref().and_then(|c| c.badge.as_ref()),
            ("addNum", "setNum", "badgeClass"),
        )? {
            n.insert("badge".into(), b);
        }
        if let Some(id) = o.notify_id {
            n.insert("notifyId".into(), json!(id));
        }
        if let Some(when) = o.when.as_ref() {
            n.insert("when".into(), json!(rfc3339(when)?));
        }
        if !o.buttons.is_empty() {
            n.insert(
                "buttons".into(),
                buttons(&o.buttons, ("actionType", "intentType"))?,
            );
        }
        android.insert("notification".into(), Value::Object(n));
    }
    Ok(HonorRequest {
        body: sealed(out, android, &o.raw_json, "Honor", MAX_PAYLOAD)?,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::dispatch::testing::{basic, rendered, secs};
    use crate::proto::v1::{
        Badge, ClickAction, HonorOverride, MessageConfig, NotificationImportance, PushMessage,
        VendorBadge, VendorClickAction, click_action,
    };

    fn body(message: PushMessage, default_click: &str) -> Value {
        let r = build(
            &rendered(message),
            &Defaults {
                click_action: default_click,
            },
        )
        .unwrap();
        serde_json::from_str(&r.body_for(&["t1"])).unwrap()
    }

    #[test]
    fn base_fields_match_honors_documented_shape() {
        assert_eq!(
            body(basic(), ""),
            json!({"android":{"notification":{"title":"Hi","body":"Body","clickAction":{"type":3}}},
                "token":["t1"]})
        );
        let data_only = PushMessage {
            ext: HashMap::from([("param1".to_string(), "value1".to_string())]),
            ..Default::default()
        };
        assert_eq!(
            body(data_only, ""),
            json!({"data":"{\"param1\":\"value1\"}","token":["t1"]})
        );
    }

    #[test]
    fn the_honor_block_wins_and_uses_camel_case_keys() {
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
            honor: Some(HonorOverride {
                title: "T".into(),
                content: "B".into(),
                image: "https://img".into(),
                data: "d".into(),
                ttl: Some(secs(60)),
                bi_tag: "bi".into(),
                test_message: true,
                importance: NotificationImportance::High as i32,
                style: Some(1),
                big_title: "BT".into(),
                big_body: "BB".into(),
                click_action: Some(VendorClickAction {
                    r#type: Some(2),
                    url: "https://honor".into(),
                    ..Default::default()
                }),
                badge: Some(VendorBadge {
                    add_num: Some(3),
                    set_num: None,
                    badge_class: String::new(),
                }),
                notify_id: Some(9),
                raw_json: r#"{"extra":1}"#.into(),
                ..Default::default()
            }),
            ..basic()
        };
        assert_eq!(
            body(message, "OPEN"),
            json!({"data":"d","extra":1,"token":["t1"],"android":{"ttl":"60s","biTag":"bi","targetUserType":1,
                "notification":{"title":"T","body":"B","image":"https://img",
                    "clickAction":{"type":2,"url":"https://honor"},"style":1,"bigTitle":"BT","bigBody":"BB",
                    "importance":"NORMAL","badge":{"addNum":3,"badgeClass":"com.x.Main"},"notifyId":9}}})
        );
    }

    #[test]
    fn notifier_default_click_action() {
        assert_eq!(
            body(basic(), "com.x.OPEN")["android"]["notification"]["clickAction"],
            json!({"type":1,"action":"com.x.OPEN"})
        );
    }

    #[test]
    fn refusals_before_sending() {
        let r = |m: PushMessage| build(&rendered(m), &Defaults { click_action: "" });
        assert!(r(PushMessage::default()).is_err());
        let big = PushMessage {
            content: "x".repeat(MAX_PAYLOAD),
            ..basic()
        };
        assert!(matches!(r(big), Err(Outcome::InvalidMessage { .. })));
        let style_without_text = PushMessage {
            honor: Some(HonorOverride {
                style: Some(1),
                ..Default::default()
            }),
            ..basic()
        };
        assert!(r(style_without_text).is_err());
    }
}
