//! The FCM HTTP v1 `messages:send` body for a message.

use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::{
    dispatch::{
        Outcome, Rendered,
        fields::{duration_text, first, object, put, put_list},
    },
    proto::v1::{AndroidPriority, FcmMessageType, click_action},
};

/// Largest notification + data FCM accepts, in bytes.
pub const MAX_PAYLOAD: usize = 4096;
/// Longest time FCM stores a push: four weeks.
pub const MAX_TTL: Duration = Duration::from_secs(28 * 24 * 3600);

/// Notifier settings the body depends on.
pub struct Defaults<'a> {
    /// `android.notification.channel_id` when the message names none.
    pub channel_id: &'a str,
    /// `android.notification.click_action` when the message names none.
    pub click_action: &'a str,
}

/// A prepared send: the `message` object without its token, and `validate_only`.
#[derive(Debug, Clone, PartialEq)]
pub struct FcmRequest {
    message: Map<String, Value>,
    validate_only: bool,
}

impl FcmRequest {
    /// The request body for one device token.
    pub fn body_for(&self, token: &str) -> String {
        let mut message = self.message.clone();
        message.insert("token".into(), Value::String(token.to_owned()));
        let mut body = Map::new();
        if self.validate_only {
            body.insert("validate_only".into(), Value::Bool(true));
        }
        body.insert("message".into(), Value::Object(message));
        Value::Object(body).to_string()
    }
}

/// The request for `message`, or why FCM would refuse it.
pub fn build(message: &Rendered, defaults: &Defaults<'_>) -> Result<FcmRequest, Outcome> {
    let m = &message.message;
    crate::dispatch::checks::not_voip(message)?;
    let o = m.fcm.clone().unwrap_or_default();
    let (with_notification, with_data) = match o.r#type() {
        FcmMessageType::Data => (false, true),
        FcmMessageType::Notification => (true, false),
        FcmMessageType::Unspecified | FcmMessageType::Both => (true, true),
    };

    let mut out = Map::new();
    let mut notification = Map::new();
    if with_notification {
        put(&mut notification, "title", first(&[&o.title, &m.title]));
        put(&mut notification, "body", first(&[&o.content, &m.content]));
        put(&mut notification, "image", &o.image);
    }
    let mut data = Map::new();
    if with_data {
        for (k, v) in m.ext.iter().chain(o.data.iter()) {
            data.insert(k.clone(), Value::String(v.clone()));
        }
    }
    if notification.is_empty() && data.is_empty() {
        return Err(Outcome::InvalidMessage {
            reason: "an FCM push needs a title, a body or data".into(),
        });
    }
    let size = Value::Object(notification.clone()).to_string().len()
        + Value::Object(data.clone()).to_string().len();
    if size > MAX_PAYLOAD {
        return Err(Outcome::InvalidMessage {
            reason: format!("the FCM payload is {size} bytes, over Google's {MAX_PAYLOAD}"),
        });
    }
    if !notification.is_empty() {
        out.insert("notification".into(), Value::Object(notification));
    }
    if !data.is_empty() {
        out.insert("data".into(), Value::Object(data));
    }

    let mut android = Map::new();
    put(&mut android, "collapse_key", &o.collapse_key);
    match o.priority() {
        AndroidPriority::Normal => {
            android.insert("priority".into(), json!("NORMAL"));
        }
        AndroidPriority::High => {
            android.insert("priority".into(), json!("HIGH"));
        }
        AndroidPriority::Unspecified => {}
    }
    let ttl = match o.ttl.as_ref() {
        Some(_) => message.ttl(o.ttl.as_ref()),
        None => message.ttl(None).map(|t| message.remaining(t)),
    };
    if let Some(ttl) = ttl {
        if ttl > MAX_TTL {
            return Err(Outcome::InvalidMessage {
                reason: "the FCM time-to-live is over 28 days".into(),
            });
        }
        android.insert("ttl".into(), Value::String(duration_text(ttl)));
    }
    put(
        &mut android,
        "restricted_package_name",
        &o.restricted_package_name,
    );
    if o.direct_boot_ok {
        android.insert("direct_boot_ok".into(), json!(true));
    }
    if with_notification {
        let tap = m
            .config
            .as_ref()
            .and_then(|c| c.click_action.as_ref())
            .and_then(|c| match &c.target {
                Some(click_action::Target::Action(a)) => Some(a.as_str()),
                _ => None,
            })
            .unwrap_or("");
        let mut n = Map::new();
        put(
            &mut n,
            "channel_id",
            first(&[&o.channel_id, defaults.channel_id]),
        );
        put(&mut n, "icon", &o.icon);
        put(&mut n, "color", &o.color);
        put(&mut n, "sound", &o.sound);
        put(&mut n, "tag", &o.tag);
        put(
            &mut n,
            "click_action",
            first(&[&o.click_action, tap, defaults.click_action]),
        );
        put(&mut n, "title_loc_key", &o.title_loc_key);
        put_list(&mut n, "title_loc_args", &o.title_loc_args);
        put(&mut n, "body_loc_key", &o.body_loc_key);
        put_list(&mut n, "body_loc_args", &o.body_loc_args);
        if !n.is_empty() {
            android.insert("notification".into(), Value::Object(n));
        }
    }
    if !android.is_empty() {
        out.insert("android".into(), Value::Object(android));
    }

    let mut apns = Map::new();
    if !o.apns_headers.is_empty() {
        apns.insert("headers".into(), json!(o.apns_headers));
    }
    if !o.apns_payload_json.is_empty() {
        apns.insert(
            "payload".into(),
            Value::Object(object(&o.apns_payload_json, "fcm.apns_payload_json")?),
        );
    }
    if !apns.is_empty() {
        out.insert("apns".into(), Value::Object(apns));
    }
    if !o.raw_json.is_empty() {
        out.extend(object(&o.raw_json, "fcm.raw_json")?);
    }
    Ok(FcmRequest {
        message: out,
        validate_only: o.validate_only,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::dispatch::testing::secs;
    use crate::proto::v1::{
        ApnsOverride, ApnsPushType, ClickAction, FcmOverride, MessageConfig, PushMessage,
        PushOptions,
    };

    fn defaults() -> Defaults<'static> {
        Defaults {
            channel_id: "",
            click_action: "",
        }
    }

    fn body(message: PushMessage, defaults: &Defaults<'_>) -> Value {
        let r = build(
            &Rendered {
                id: "m".into(),
                message,
                accepted_ms: crate::clock::now_ms(),
            },
            defaults,
        )
        .unwrap();
        serde_json::from_str(&r.body_for("tok")).unwrap()
    }

    #[test]
    fn base_fields_become_notification_and_data() {
        let message = PushMessage {
            title: "Hi".into(),
            content: "Body".into(),
            ext: HashMap::from([("k".to_string(), "v".to_string())]),
            ..Default::default()
        };
        assert_eq!(
            body(message, &defaults()),
            json!({"message":{"token":"tok","notification":{"title":"Hi","body":"Body"},"data":{"k":"v"}}})
        );
    }

    #[test]
    fn the_fcm_block_wins_and_fills_android_apns_and_raw_fields() {
        let message = PushMessage {
            title: "base".into(),
            content: "base".into(),
            ext: HashMap::from([("k".to_string(), "base".to_string())]),
            config: Some(MessageConfig {
                click_action: Some(ClickAction {
                    target: Some(click_action::Target::Action("OPEN_CHAT".into())),
                }),
                ..Default::default()
            }),
            fcm: Some(FcmOverride {
                title: "T".into(),
                content: "B".into(),
                image: "https://img".into(),
                data: HashMap::from([("k".to_string(), "fcm".to_string())]),
                collapse_key: "c".into(),
                priority: AndroidPriority::High as i32,
                ttl: Some(prost_types::Duration {
                    seconds: 3,
                    nanos: 500_000_000,
                }),
                restricted_package_name: "com.example".into(),
                channel_id: "chat".into(),
                sound: "default".into(),
                tag: "t1".into(),
                body_loc_key: "K".into(),
                body_loc_args: vec!["a".into()],
                apns_headers: HashMap::from([("apns-priority".to_string(), "5".to_string())]),
                apns_payload_json: r#"{"aps":{"badge":1}}"#.into(),
                raw_json: r#"{"fcm_options":{"analytics_label":"x"}}"#.into(),
                validate_only: true,
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            body(message, &defaults()),
            json!({"validate_only":true,"message":{
                "token":"tok",
                "notification":{"title":"T","body":"B","image":"https://img"},
                "data":{"k":"fcm"},
                "android":{"collapse_key":"c","priority":"HIGH","ttl":"3.5s",
                    "restricted_package_name":"com.example",
                    "notification":{"channel_id":"chat","sound":"default","tag":"t1",
                        "click_action":"OPEN_CHAT","body_loc_key":"K","body_loc_args":["a"]}},
                "apns":{"headers":{"apns-priority":"5"},"payload":{"aps":{"badge":1}}},
                "fcm_options":{"analytics_label":"x"}}})
        );
    }

    #[test]
    fn data_only_messages_carry_no_notification() {
        let message = PushMessage {
            title: "t".into(),
            ext: HashMap::from([("k".to_string(), "v".to_string())]),
            fcm: Some(FcmOverride {
                r#type: FcmMessageType::Data as i32,
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            body(message, &defaults()),
            json!({"message":{"token":"tok","data":{"k":"v"}}})
        );
    }

    #[test]
    fn notifier_defaults_fill_channel_and_click_action() {
        let message = PushMessage {
            title: "t".into(),
            ..Default::default()
        };
        let b = body(
            message,
            &Defaults {
                channel_id: "news",
                click_action: "OPEN",
            },
        );
        assert_eq!(
            b["message"]["android"]["notification"],
            json!({"channel_id":"news","click_action":"OPEN"})
        );
    }

    #[test]
    fn message_ttl_is_sent_as_what_is_left_of_it() {
        let message = PushMessage {
            title: "t".into(),
            options: Some(PushOptions {
                ttl: Some(secs(600)),
                ..Default::default()
            }),
            ..Default::default()
        };
        let ttl = body(message, &defaults())["message"]["android"]["ttl"]
            .as_str()
            .unwrap()
            .trim_end_matches('s')
            .parse::<f64>()
            .unwrap();
        assert!((599.0..=600.0).contains(&ttl), "{ttl}");
    }

    #[test]
    fn refusals_before_sending() {
        let r = |message: PushMessage| {
            build(
                &Rendered {
                    id: "m".into(),
                    message,
                    accepted_ms: 0,
                },
                &defaults(),
            )
        };
        assert!(matches!(
            r(PushMessage::default()),
            Err(Outcome::InvalidMessage { .. })
        ));
        let big = PushMessage {
            title: "t".into(),
            content: "x".repeat(MAX_PAYLOAD),
            ..Default::default()
        };
        assert!(matches!(r(big), Err(Outcome::InvalidMessage { .. })));
        let voip = PushMessage {
            title: "t".into(),
            apns: Some(ApnsOverride {
                push_type: ApnsPushType::Voip as i32,
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(matches!(r(voip), Err(Outcome::InvalidVoip { .. })));
        let bad_raw = PushMessage {
            title: "t".into(),
            fcm: Some(FcmOverride {
                raw_json: "nope".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(matches!(r(bad_raw), Err(Outcome::InvalidMessage { .. })));
    }
}
