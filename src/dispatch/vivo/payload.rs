//! The vivo `/message/send` body for a message.
//!
//! Field names and limits confirmed from vivo's server API document (v2.9.2): `notifyType` 1..4, `title` at
//! most 40 and `content` at most 100 where a Chinese character counts 2, `timeToLive` in seconds from 900 to
//! 7 days (a day when absent), `skipType` 1..4 with `skipContent` (a URL for type 2, at most 1000), and
//! `extra.callback` (at most 128) / `extra.callback.param` (at most 64).

use std::time::Duration;

use md5::{Digest, Md5};
use serde_json::{Map, Value, json};

use crate::dispatch::{
    Outcome, Rendered,
    fields::{ceil_secs, first, limit, object, put, width},
    tap::{Tap, tap},
};

/// Longest title (a Chinese character counting 2).
pub const MAX_TITLE: usize = 40;
/// Longest content (a Chinese character counting 2).
pub const MAX_CONTENT: usize = 100;
/// Longest `skipContent` of a URL.
pub const MAX_SKIP_URL: usize = 1000;
/// Longest `skipContent` of an app page or custom value.
pub const MAX_SKIP_CONTENT: usize = 1024;
/// Shortest time vivo stores a push.
pub const MIN_TTL: Duration = Duration::from_secs(900);
/// Longest time vivo stores a push: seven days.
pub const MAX_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// A prepared push: the body without its target and request id.
#[derive(Debug, Clone, PartialEq)]
pub struct VivoRequest {
    body: Map<String, Value>,
    request_id_seed: String,
}

impl VivoRequest {
    /// The body for app `app_id` and device `reg_id`. The `requestId` is derived from the message and the
    /// device, so it is unique per push and the same on a retry (vivo drops a repeated requestId, which keeps
    /// a retried send from showing twice).
    pub fn body_for(&self, app_id: &str, reg_id: &str) -> Value {
        let mut body = self.body.clone();
        body.insert("appId".into(), json!(app_id));
        body.insert("regId".into(), json!(reg_id));
        body.insert(
            "requestId".into(),
            json!(request_id(&self.request_id_seed, reg_id)),
        );
        Value::Object(body)
    }
}

/// A request id at most 64 characters long (32 hex digits) for `seed` sent to `reg_id`.
pub fn request_id(seed: &str, reg_id: &str) -> String {
    let mut hash = Md5::new();
    hash.update(seed.as_bytes());
    hash.update([0]);
    hash.update(reg_id.as_bytes());
    hex::encode(hash.finalize())
}

/// The body for `message`, or why vivo would refuse it. `default_click_action` is the notifier's.
pub fn build(message: &Rendered, default_click_action: &str) -> Result<VivoRequest, Outcome> {
    crate::dispatch::checks::not_voip(message)?;
    let m = &message.message;
    let o = m.vivo.clone().unwrap_or_default();
    let title = first(&[&o.title, &m.title]);
    let content = first(&[&o.content, &m.content]);
    limit("vivo title", title, MAX_TITLE, width, true)?;
    limit("vivo content", content, MAX_CONTENT, width, true)?;

    let mut b = Map::new();
    // notifyType is required; sound and vibration is what a notification does by default elsewhere.
    b.insert("notifyType".into(), json!(o.notify_type.unwrap_or(4)));
    put(&mut b, "title", title);
    put(&mut b, "content", content);

    let ttl = match o.ttl.as_ref() {
        Some(_) => {
            let ttl = message.ttl(o.ttl.as_ref()).unwrap_or_default();
            if ttl > MAX_TTL {
                return Err(Outcome::InvalidMessage {
                    reason: "the vivo ttl is over 7 days".into(),
                });
            }
            Some(ttl)
        }
        None => message.ttl(None).map(|t| message.remaining(t).min(MAX_TTL)),
    };
    if let Some(ttl) = ttl {
        // vivo refuses less than 900 s; storing a short-lived push a little longer beats losing it.
        b.insert("timeToLive".into(), json!(ceil_secs(ttl.max(MIN_TTL))));
    }

    let (skip_type, skip_content) = match o.skip_type {
        Some(kind) => (kind, o.skip_content.clone()),
        None => match tap(message, default_click_action) {
            Tap::Launcher => (1, String::new()),
            Tap::Url(u) => (2, u.to_owned()),
            Tap::Action(a) if a.starts_with("intent:") => (4, a.to_owned()),
            Tap::Action(a) => (4, format!("intent:#Intent;action={a};end")),
            Tap::Activity(a) => (4, format!("intent:#Intent;component={a};end")),
        },
    };
    let max = if skip_type == 2 {
        MAX_SKIP_URL
    } else {
        MAX_SKIP_CONTENT
    };
    limit(
        "vivo skipContent",
        &skip_content,
        max,
        |s| s.chars().count(),
        skip_type != 1,
    )?;
    b.insert("skipType".into(), json!(skip_type));
    put(&mut b, "skipContent", &skip_content);
    if let Some(network) = o.network_type {
        b.insert("networkType".into(), json!(network));
    }
    if let Some(classification) = o.classification {
        b.insert("classification".into(), json!(classification));
    }
    put(&mut b, "category", &o.category);
    let mut custom = Map::new();
    for (k, v) in m.ext.iter().chain(o.client_custom_map.iter()) {
        custom.insert(k.clone(), Value::String(v.clone()));
    }
    if !custom.is_empty() {
        b.insert("clientCustomMap".into(), Value::Object(custom));
    }
    if o.test_push {
        b.insert("pushMode".into(), json!(1));
    }
    limit(
        "vivo extra.callback",
        &o.callback_url,
        128,
        |s| s.chars().count(),
        false,
    )?;
    limit(
        "vivo extra.callback.param",
        &o.callback_param,
        64,
        |s| s.chars().count(),
        false,
    )?;
    if !o.callback_url.is_empty() {
        let mut extra = Map::new();
        put(&mut extra, "callback", &o.callback_url);
        put(&mut extra, "callback.param", &o.callback_param);
        b.insert("extra".into(), Value::Object(extra));
    }
    if let Some(id) = o.notify_id {
        b.insert("notifyId".into(), json!(id));
    }
    put(&mut b, "profileId", &o.profile_id);
    if o.send_online {
        b.insert("sendOnline".into(), json!(true));
    }
    if o.request_id.chars().count() > 64 {
        return Err(Outcome::InvalidMessage {
            reason: "the vivo requestId is over 64 characters".into(),
        });
    }
    if !o.raw_json.is_empty() {
        b.extend(object(&o.raw_json, "vivo.raw_json")?);
    }
    Ok(VivoRequest {
        body: b,
        request_id_seed: first(&[&o.request_id, &message.id]).to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::dispatch::testing::{basic, secs, with_ttl};
    use crate::proto::v1::{ClickAction, MessageConfig, PushMessage, VivoOverride, click_action};

    fn body(message: PushMessage, default_click: &str) -> Value {
        build(&Rendered::now("m1", message), default_click)
            .unwrap()
            .body_for("100", "reg")
    }

    #[test]
    fn base_fields_fill_the_body() {
        let message = PushMessage {
            ext: HashMap::from([("k".to_string(), "v".to_string())]),
            ..basic()
        };
        assert_eq!(
            body(message, ""),
            json!({"appId":"100","regId":"reg","requestId":request_id("m1","reg"),
                "notifyType":4,"title":"Hi","content":"Body","skipType":1,
                "clientCustomMap":{"k":"v"}})
        );
    }

    #[test]
    fn the_vivo_block_wins_and_maps_every_field() {
        let message = PushMessage {
            ext: HashMap::from([("k".to_string(), "base".to_string())]),
            vivo: Some(VivoOverride {
                title: "T".into(),
                content: "C".into(),
                notify_type: Some(2),
                ttl: Some(secs(3600)),
                skip_type: Some(2),
                skip_content: "https://x".into(),
                network_type: Some(1),
                classification: Some(1),
                category: "IM".into(),
                client_custom_map: HashMap::from([("k".to_string(), "vivo".to_string())]),
                request_id: "r-1".into(),
                test_push: true,
                callback_url: "https://cb".into(),
                callback_param: "p".into(),
                notify_id: Some(9),
                profile_id: "acct".into(),
                send_online: true,
                raw_json: r#"{"foregroundShow":false}"#.into(),
            }),
            ..basic()
        };
        assert_eq!(
            body(message, ""),
            json!({"appId":"100","regId":"reg","requestId":request_id("r-1","reg"),
                "notifyType":2,"title":"T","content":"C","timeToLive":3600,"skipType":2,
                "skipContent":"https://x","networkType":1,"classification":1,"category":"IM",
                "clientCustomMap":{"k":"vivo"},"pushMode":1,
                "extra":{"callback":"https://cb","callback.param":"p"},"notifyId":9,
                "profileId":"acct","sendOnline":true,"foregroundShow":false})
        );
    }

    #[test]
    fn taps_become_skip_types() {
        let with = |target| PushMessage {
            config: Some(MessageConfig {
                click_action: Some(ClickAction {
                    target: Some(target),
                }),
                ..Default::default()
            }),
            ..basic()
        };
        let b = body(with(click_action::Target::Url("https://u".into())), "");
        assert_eq!(
            (b["skipType"].clone(), b["skipContent"].clone()),
            (json!(2), json!("https://u"))
        );
        let b = body(with(click_action::Target::Action("com.x.OPEN".into())), "");
        assert_eq!(
            b["skipContent"],
            json!("intent:#Intent;action=com.x.OPEN;end")
        );
        let b = body(
            with(click_action::Target::Activity("com.x/.Main".into())),
            "",
        );
        assert_eq!(
            b["skipContent"],
            json!("intent:#Intent;component=com.x/.Main;end")
        );
        let b = body(basic(), "com.x.MainActivity");
        assert_eq!(b["skipType"], json!(4));
        assert_eq!(
            b["skipContent"],
            json!("intent:#Intent;component=com.x.MainActivity;end")
        );
    }

    #[test]
    fn request_ids_differ_per_device_and_stay_the_same_on_retry() {
        let request = build(&Rendered::now("m1", basic()), "").unwrap();
        let a = request.body_for("1", "a")["requestId"].clone();
        assert_eq!(a, request.body_for("1", "a")["requestId"]);
        assert_ne!(a, request.body_for("1", "b")["requestId"]);
        assert!(a.as_str().unwrap().len() <= 64);
    }

    #[test]
    fn message_ttl_is_kept_within_vivo_bounds() {
        let left = body(with_ttl(3600), "")["timeToLive"].as_u64().unwrap();
        assert!((3599..=3600).contains(&left));
        assert_eq!(body(with_ttl(60), "")["timeToLive"], json!(900));
        assert_eq!(
            body(with_ttl(30 * 24 * 3600), "")["timeToLive"],
            json!(MAX_TTL.as_secs())
        );
    }

    #[test]
    fn refusals_before_sending() {
        let r = |message: PushMessage| build(&Rendered::now("m", message), "");
        let invalid =
            |r: Result<VivoRequest, Outcome>| matches!(r, Err(Outcome::InvalidMessage { .. }));
        // 20 Chinese characters fit, 21 do not.
        assert!(
            r(PushMessage {
                title: "字".repeat(20),
                ..basic()
            })
            .is_ok()
        );
        assert!(invalid(r(PushMessage {
            title: "字".repeat(21),
            ..basic()
        })));
        assert!(invalid(r(PushMessage {
            content: "c".repeat(MAX_CONTENT + 1),
            ..basic()
        })));
        assert!(invalid(r(PushMessage {
            title: "t".into(),
            ..Default::default()
        })));
        let vivo = |o: VivoOverride| PushMessage {
            vivo: Some(o),
            ..basic()
        };
        assert!(invalid(r(vivo(VivoOverride {
            ttl: Some(secs(8 * 24 * 3600)),
            ..Default::default()
        }))));
        assert!(invalid(r(vivo(VivoOverride {
            skip_type: Some(2),
            ..Default::default()
        }))));
        assert!(invalid(r(vivo(VivoOverride {
            request_id: "x".repeat(65),
            ..Default::default()
        }))));
        assert!(invalid(r(vivo(VivoOverride {
            raw_json: "nope".into(),
            ..Default::default()
        }))));
    }
}
