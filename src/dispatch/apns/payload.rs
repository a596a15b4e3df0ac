//! The APNs request for a message: `apns-*` headers and the JSON body.
//!
//! Built with serde_json rather than `a2`'s payload types: the custom keys, the `aps_json` merge and the
//! size check work on the JSON object anyway, and a2's builders add nothing for those.

use serde_json::{Map, Value, json};

use crate::{
    dispatch::{
        Outcome, Rendered,
        fields::{first, put, put_list},
    },
    proto::v1::{ApnsInterruptionLevel, ApnsOverride, ApnsPriority, ApnsPushType},
};

/// Largest body Apple accepts for every push type but VoIP.
pub const MAX_PAYLOAD: usize = 4096;
/// Largest VoIP body.
pub const MAX_VOIP_PAYLOAD: usize = 5120;

/// The parts of one APNs request that do not depend on the device.
#[derive(Debug, Clone, PartialEq)]
pub struct ApnsRequest {
    /// `apns-push-type`.
    pub push_type: &'static str,
    /// `apns-priority`, when not Apple's default.
    pub priority: Option<u8>,
    /// `apns-expiration` (Unix seconds, 0 = now or never), when the message has a TTL.
    pub expiration: Option<u64>,
    /// `apns-collapse-id`.
    pub collapse_id: Option<String>,
    /// `apns-id`.
    pub apns_id: String,
    /// `apns-topic`.
    pub topic: String,
    /// The JSON body.
    pub body: String,
}

/// Notifier settings the request depends on.
pub struct Target<'a> {
    /// The bundle id.
    pub topic: &'a str,
    /// Whether the notifier sends VoIP pushes.
    pub voip_notifier: bool,
    /// The notifier's default `aps.category`.
    pub default_category: &'a str,
}

/// The request for `message`, or why APNs would refuse it.
pub fn build(message: &Rendered, target: &Target<'_>) -> Result<ApnsRequest, Outcome> {
    let m = &message.message;
    let o = m.apns.clone().unwrap_or_default();
    let push_type = push_type(&o, target.voip_notifier);
    let voip = push_type == ApnsPushType::Voip;
    if voip != target.voip_notifier {
        return Err(Outcome::InvalidVoip {
            reason: if voip {
                "a VoIP push needs a VoIP notifier (its topic is <bundle>.voip)".into()
            } else {
                "a VoIP notifier sends only VoIP pushes (apns.push_type VOIP)".into()
            },
        });
    }

    let mut aps = Map::new();
    let alert = alert(m, &o);
    let silent = push_type == ApnsPushType::Background;
    if !alert.is_empty() && !silent {
        aps.insert("alert".into(), Value::Object(alert));
    }
    let badge = o.badge.or_else(|| {
        m.config
            .as_ref()
            .and_then(|c| c.badge.as_ref())
            .and_then(|b| b.set_num)
    });
    if let Some(badge) = badge {
        aps.insert("badge".into(), json!(badge));
    }
    put(&mut aps, "sound", &o.sound);
    put(&mut aps, "thread-id", &o.thread_id);
    let category = first(&[&o.category, target.default_category]);
    put(&mut aps, "category", category);
    if o.content_available || silent {
        aps.insert("content-available".into(), json!(1));
    }
    if o.mutable_content {
        aps.insert("mutable-content".into(), json!(1));
    }
    if let Some(level) = interruption_level(o.interruption_level()) {
        aps.insert("interruption-level".into(), json!(level));
    }
    if !o.aps_json.is_empty() {
        match serde_json::from_str::<Value>(&o.aps_json) {
            Ok(Value::Object(extra)) => aps.extend(extra),
            _ => {
                return Err(Outcome::InvalidMessage {
                    reason: "apns.aps_json is not a JSON object".into(),
                });
            }
        }
    }
    if push_type == ApnsPushType::Alert
        && !["alert", "badge", "sound", "content-available"]
            .iter()
            .any(|k| aps.contains_key(*k))
    {
        return Err(Outcome::InvalidMessage {
            reason: "an alert push needs a title, body, badge or sound".into(),
        });
    }

    let mut body = Map::new();
    for (key, value) in m.ext.iter().chain(o.ext.iter()) {
        body.insert(key.clone(), Value::String(value.clone()));
    }
    // `aps` is Apple's; a custom key of that name must not replace it.
    body.insert("aps".into(), Value::Object(aps));
    let body = Value::Object(body).to_string();
    let limit = if voip { MAX_VOIP_PAYLOAD } else { MAX_PAYLOAD };
    if body.len() > limit {
        return Err(Outcome::InvalidMessage {
            reason: format!(
                "the APNs payload is {} bytes, over Apple's {limit}",
                body.len()
            ),
        });
    }

    let priority = match o.priority() {
        ApnsPriority::Unspecified if silent => Some(5),
        ApnsPriority::Unspecified => None,
        p => Some(p as u8),
    };
    let expiration = message.ttl(o.ttl.as_ref()).map(|ttl| {
        if ttl.is_zero() {
            0
        } else {
            message.expires_at_secs(ttl)
        }
    });
    let collapse_id = (!o.collapse_id.is_empty()).then(|| o.collapse_id.clone());
    if collapse_id.as_ref().is_some_and(|c| c.len() > 64) {
        return Err(Outcome::InvalidMessage {
            reason: "apns.collapse_id is longer than 64 bytes".into(),
        });
    }
    let apns_id = if o.apns_id.is_empty() {
        uuid::Uuid::new_v4().to_string()
    } else {
        match uuid::Uuid::parse_str(&o.apns_id) {
            Ok(id) => id.hyphenated().to_string(),
            Err(_) => {
                return Err(Outcome::InvalidMessage {
                    reason: "apns.apns_id is not a UUID".into(),
                });
            }
        }
    };
    Ok(ApnsRequest {
        push_type: push_type_header(push_type),
        priority,
        expiration,
        collapse_id,
        apns_id,
        topic: topic(target.topic, push_type),
        body,
    })
}

/// The push type: the message's, else VoIP for a VoIP notifier, background for a content-available push
/// with nothing to show, alert otherwise.
fn push_type(o: &ApnsOverride, voip_notifier: bool) -> ApnsPushType {
    match o.push_type() {
        ApnsPushType::Unspecified if voip_notifier => ApnsPushType::Voip,
        ApnsPushType::Unspecified if o.content_available && !has_visible_override(o) => {
            ApnsPushType::Background
        }
        ApnsPushType::Unspecified => ApnsPushType::Alert,
        t => t,
    }
}

fn has_visible_override(o: &ApnsOverride) -> bool {
    !(o.title.is_empty() && o.sub_title.is_empty() && o.content.is_empty())
        || o.badge.is_some()
        || !o.sound.is_empty()
}

fn push_type_header(t: ApnsPushType) -> &'static str {
    match t {
        ApnsPushType::Unspecified | ApnsPushType::Alert => "alert",
        ApnsPushType::Background => "background",
        ApnsPushType::Voip => "voip",
        ApnsPushType::Complication => "complication",
        ApnsPushType::Fileprovider => "fileprovider",
        ApnsPushType::Mdm => "mdm",
        ApnsPushType::Liveactivity => "liveactivity",
        ApnsPushType::Location => "location",
        ApnsPushType::Pushtotalk => "pushtotalk",
    }
}

/// The `apns-topic` for a push type: Apple wants the bundle id with a suffix for some of them.
fn topic(bundle: &str, t: ApnsPushType) -> String {
    let suffix = match t {
        ApnsPushType::Voip => ".voip",
        ApnsPushType::Complication => ".complication",
        ApnsPushType::Fileprovider => ".pushkit.fileprovider",
        ApnsPushType::Liveactivity => ".push-type.liveactivity",
        ApnsPushType::Location => ".location-query",
        ApnsPushType::Pushtotalk => ".voip-ptt",
        _ => "",
    };
    if suffix.is_empty() || bundle.ends_with(suffix) {
        bundle.to_owned()
    } else {
        format!("{bundle}{suffix}")
    }
}

fn alert(m: &crate::proto::v1::PushMessage, o: &ApnsOverride) -> Map<String, Value> {
    let mut alert = Map::new();
    put(&mut alert, "title", first(&[&o.title, &m.title]));
    put(&mut alert, "subtitle", first(&[&o.sub_title, &m.sub_title]));
    put(&mut alert, "body", first(&[&o.content, &m.content]));
    put(&mut alert, "title-loc-key", &o.title_loc_key);
    put_list(&mut alert, "title-loc-args", &o.title_loc_args);
    put(&mut alert, "subtitle-loc-key", &o.sub_title_loc_key);
    put_list(&mut alert, "subtitle-loc-args", &o.sub_title_loc_args);
    put(&mut alert, "loc-key", &o.body_loc_key);
    put_list(&mut alert, "loc-args", &o.body_loc_args);
    put(&mut alert, "launch-image", &o.launch_image);
    alert
}

fn interruption_level(level: ApnsInterruptionLevel) -> Option<&'static str> {
    match level {
        ApnsInterruptionLevel::Unspecified => None,
        ApnsInterruptionLevel::Passive => Some("passive"),
        ApnsInterruptionLevel::Active => Some("active"),
        ApnsInterruptionLevel::TimeSensitive => Some("time-sensitive"),
        ApnsInterruptionLevel::Critical => Some("critical"),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::dispatch::testing::secs;
    use crate::proto::v1::{Badge, MessageConfig, PushMessage, PushOptions};

    fn target() -> Target<'static> {
        Target {
            topic: "com.example.app",
            voip_notifier: false,
            default_category: "",
        }
    }

    fn rendered(message: PushMessage) -> Rendered {
        Rendered {
            id: "m1".into(),
            message,
            accepted_ms: 1_700_000_000_000,
        }
    }

    fn body(r: &ApnsRequest) -> Value {
        serde_json::from_str(&r.body).unwrap()
    }

    #[test]
    fn base_fields_land_in_aps_alert_and_custom_keys_beside_it() {
        let message = PushMessage {
            title: "Hi".into(),
            sub_title: "sub".into(),
            content: "Body".into(),
            ext: HashMap::from([("k".to_string(), "v".to_string())]),
            config: Some(MessageConfig {
                badge: Some(Badge {
                    set_num: Some(3),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let r = build(&rendered(message), &target()).unwrap();
        assert_eq!(r.push_type, "alert");
        assert_eq!(r.topic, "com.example.app");
        assert_eq!(r.priority, None);
        assert_eq!(r.expiration, None);
        assert_eq!(
            body(&r),
            json!({"aps":{"alert":{"title":"Hi","subtitle":"sub","body":"Body"},"badge":3},"k":"v"})
        );
        assert!(uuid::Uuid::parse_str(&r.apns_id).is_ok());
    }

    #[test]
    fn the_apns_block_wins_and_sets_every_aps_key() {
        let message = PushMessage {
            title: "base".into(),
            content: "base".into(),
            ext: HashMap::from([("k".to_string(), "base".to_string())]),
            apns: Some(ApnsOverride {
                title: "T".into(),
                content: "B".into(),
                badge: Some(0),
                sound: "default".into(),
                thread_id: "chat-1".into(),
                category: "REPLY".into(),
                mutable_content: true,
                content_available: true,
                interruption_level: ApnsInterruptionLevel::TimeSensitive as i32,
                body_loc_key: "MSG".into(),
                body_loc_args: vec!["a".into()],
                ext: HashMap::from([("k".to_string(), "apns".to_string())]),
                aps_json: r#"{"relevance-score":0.5}"#.into(),
                priority: ApnsPriority::Normal as i32,
                collapse_id: "c1".into(),
                apns_id: "6E2D8F1A-0B7C-4D5E-9F10-111213141516".into(),
                ttl: Some(secs(3600)),
                ..Default::default()
            }),
            ..Default::default()
        };
        let r = build(&rendered(message), &target()).unwrap();
        assert_eq!(
            body(&r),
            json!({"aps":{
                "alert":{"title":"T","body":"B","loc-key":"MSG","loc-args":["a"]},
                "badge":0,"sound":"default","thread-id":"chat-1","category":"REPLY",
                "content-available":1,"mutable-content":1,"interruption-level":"time-sensitive",
                "relevance-score":0.5},
             "k":"apns"})
        );
        assert_eq!(r.priority, Some(5));
        assert_eq!(r.collapse_id.as_deref(), Some("c1"));
        assert_eq!(r.apns_id, "6e2d8f1a-0b7c-4d5e-9f10-111213141516");
        assert_eq!(r.expiration, Some(1_700_000_000 + 3600));
    }

    #[test]
    fn message_ttl_sets_expiration_and_zero_means_now_or_never() {
        let mut message = PushMessage {
            title: "t".into(),
            options: Some(PushOptions {
                ttl: Some(secs(60)),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            build(&rendered(message.clone()), &target())
                .unwrap()
                .expiration,
            Some(1_700_000_060)
        );
        message.options.as_mut().unwrap().ttl = Some(prost_types::Duration::default());
        assert_eq!(
            build(&rendered(message), &target()).unwrap().expiration,
            Some(0)
        );
    }

    #[test]
    fn background_pushes_carry_no_alert_and_priority_five() {
        let message = PushMessage {
            title: "ignored".into(),
            apns: Some(ApnsOverride {
                content_available: true,
                ..Default::default()
            }),
            ..Default::default()
        };
        let r = build(&rendered(message), &target()).unwrap();
        assert_eq!(r.push_type, "background");
        assert_eq!(r.priority, Some(5));
        assert_eq!(body(&r), json!({"aps":{"content-available":1}}));
    }

    #[test]
    fn voip_goes_only_through_a_voip_notifier_to_the_voip_topic() {
        let voip = PushMessage {
            content: "call".into(),
            apns: Some(ApnsOverride {
                push_type: ApnsPushType::Voip as i32,
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(matches!(
            build(&rendered(voip.clone()), &target()),
            Err(Outcome::InvalidVoip { .. })
        ));
        let voip_target = Target {
            voip_notifier: true,
            ..target()
        };
        let r = build(&rendered(voip), &voip_target).unwrap();
        assert_eq!(
            (r.push_type, r.topic.as_str()),
            ("voip", "com.example.app.voip")
        );
        let plain = PushMessage {
            title: "t".into(),
            apns: Some(ApnsOverride {
                push_type: ApnsPushType::Alert as i32,
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(matches!(
            build(&rendered(plain), &voip_target),
            Err(Outcome::InvalidVoip { .. })
        ));
    }

    #[test]
    fn oversize_and_empty_and_malformed_messages_are_refused_locally() {
        let big = PushMessage {
            title: "t".into(),
            content: "x".repeat(MAX_PAYLOAD),
            ..Default::default()
        };
        assert!(matches!(
            build(&rendered(big), &target()),
            Err(Outcome::InvalidMessage { .. })
        ));
        assert!(matches!(
            build(&rendered(PushMessage::default()), &target()),
            Err(Outcome::InvalidMessage { .. })
        ));
        let bad_json = PushMessage {
            title: "t".into(),
            apns: Some(ApnsOverride {
                aps_json: "[1]".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(matches!(
            build(&rendered(bad_json), &target()),
            Err(Outcome::InvalidMessage { .. })
        ));
    }

    #[test]
    fn the_notifier_default_category_applies_when_the_message_names_none() {
        let message = PushMessage {
            title: "t".into(),
            ..Default::default()
        };
        let r = build(
            &rendered(message),
            &Target {
                default_category: "OPEN",
                ..target()
            },
        )
        .unwrap();
        assert_eq!(body(&r)["aps"]["category"], "OPEN");
    }
}
