//! The OPPO `notification` object of a unicast message, and the `message` / `messages` form fields.
//!
//! Field names are OPPO's snake_case ones (`click_action_type`, `off_line_ttl`...), confirmed from OPPO's
//! "单点推送" page and its Java server SDK's notification model; `action_parameters` is a JSON object given
//! as a string.

use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::dispatch::{
    Outcome, Rendered,
    fields::{ceil_secs, chars, first, limit, object, put},
    tap::{Tap, tap},
};

/// Longest title, in characters (the message contract's OPPO limit).
pub const MAX_TITLE: usize = 32;
/// Longest content, in characters.
pub const MAX_CONTENT: usize = 200;
/// Longest click target (activity or URL), in characters.
pub const MAX_CLICK_TARGET: usize = 500;
/// Longest time OPPO stores a push for an offline device: ten days.
pub const MAX_OFFLINE_TTL: Duration = Duration::from_secs(10 * 24 * 3600);

/// Notifier settings the payload depends on.
pub struct Defaults<'a> {
    /// `channel_id` when the message names none.
    pub channel_id: &'a str,
    /// The tap target when the message names none.
    pub click_action: &'a str,
}

/// A prepared push: the `notification` object every device of the batch gets.
#[derive(Debug, Clone, PartialEq)]
pub struct OppoRequest {
    notification: Map<String, Value>,
}

impl OppoRequest {
    /// The `notification` object.
    pub fn notification(&self) -> &Map<String, Value> {
        &self.notification
    }

    /// One unicast `message` object for registration id `token`.
    pub fn message_for(&self, token: &str) -> Value {
        json!({
            "target_type": 2,
            "target_value": token,
            "notification": Value::Object(self.notification.clone()),
        })
    }

    /// The `messages` form field of `unicast_batch`: one message per token, as a JSON array in text.
    ///
    /// Every message repeats the same notification, so it is serialised once and spliced into each
    /// message: a 1,000-device batch would otherwise clone and serialise the object 1,000 times.
    pub fn messages_for(&self, tokens: &[&str]) -> String {
        let notification = Value::Object(self.notification.clone()).to_string();
        let mut out = String::with_capacity(tokens.len() * (notification.len() + 96) + 2);
        out.push('[');
        for (i, token) in tokens.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(r#"{"target_type":2,"target_value":"#);
            out.push_str(&Value::from(*token).to_string());
            out.push_str(r#","notification":"#);
            out.push_str(&notification);
            out.push('}');
        }
        out.push(']');
        out
    }
}

/// The notification for `message`, or why OPPO would refuse it.
pub fn build(message: &Rendered, defaults: &Defaults<'_>) -> Result<OppoRequest, Outcome> {
    crate::dispatch::checks::not_voip(message)?;
    let m = &message.message;
    let o = m.oppo.clone().unwrap_or_default();
    let title = first(&[&o.title, &m.title]);
    let content = first(&[&o.content, &m.content]);
    limit("OPPO title", title, MAX_TITLE, chars, true)?;
    limit("OPPO content", content, MAX_CONTENT, chars, true)?;

    let mut n = Map::new();
    put(&mut n, "title", title);
    put(&mut n, "sub_title", first(&[&o.sub_title, &m.sub_title]));
    put(&mut n, "content", content);
    if let Some(style) = o.style {
        n.insert("style".into(), json!(style));
    }
    put(&mut n, "app_message_id", &o.app_message_id);

    // Click: the OPPO block's own type and targets win; else the message's tap (or the notifier's).
    let (kind, activity, url) = match o.click_action_type {
        Some(kind) => (
            kind,
            o.click_action_activity.clone(),
            o.click_action_url.clone(),
        ),
        None => match tap(message, defaults.click_action) {
            Tap::Launcher => (0, String::new(), String::new()),
            Tap::Url(u) => (2, String::new(), u.to_owned()),
            // An intent URI opens through type 5 (intent scheme URL); a bare action through type 1.
            Tap::Action(a) if a.starts_with("intent:") => (5, String::new(), a.to_owned()),
            Tap::Action(a) => (1, a.to_owned(), String::new()),
            Tap::Activity(a) => (4, a.to_owned(), String::new()),
        },
    };
    limit(
        "OPPO click_action_activity",
        &activity,
        MAX_CLICK_TARGET,
        chars,
        false,
    )?;
    limit(
        "OPPO click_action_url",
        &url,
        MAX_CLICK_TARGET,
        chars,
        false,
    )?;
    if matches!(kind, 1 | 4) && activity.is_empty() || matches!(kind, 2 | 5) && url.is_empty() {
        return Err(Outcome::InvalidMessage {
            reason: format!("OPPO click_action_type {kind} needs its target"),
        });
    }
    n.insert("click_action_type".into(), json!(kind));
    put(&mut n, "click_action_activity", &activity);
    put(&mut n, "click_action_url", &url);
    let mut parameters = Map::new();
    for (k, v) in m.ext.iter().chain(o.action_parameters.iter()) {
        parameters.insert(k.clone(), Value::String(v.clone()));
    }
    if !parameters.is_empty() {
        n.insert(
            "action_parameters".into(),
            Value::String(Value::Object(parameters).to_string()),
        );
    }

    if let Some(off_line) = o.off_line {
        n.insert("off_line".into(), json!(off_line));
    }
    // An OPPO ttl is the caller's word: over OPPO's maximum it is refused. What is left of the message's
    // ttl is capped at the maximum instead, which keeps it no longer than the caller allowed.
    let ttl = match o.off_line_ttl.as_ref() {
        Some(_) => {
            let ttl = message.ttl(o.off_line_ttl.as_ref()).unwrap_or_default();
            if ttl > MAX_OFFLINE_TTL {
                return Err(Outcome::InvalidMessage {
                    reason: "the OPPO off_line_ttl is over 10 days".into(),
                });
            }
            Some(ttl)
        }
        None => message
            .ttl(None)
            .map(|t| message.remaining(t).min(MAX_OFFLINE_TTL)),
    };
    if let Some(ttl) = ttl {
        n.insert("off_line_ttl".into(), json!(ceil_secs(ttl).max(1)));
    }
    put(&mut n, "time_zone", &o.time_zone);
    put(&mut n, "call_back_url", &o.callback_url);
    put(&mut n, "call_back_parameter", &o.callback_param);
    put(
        &mut n,
        "channel_id",
        first(&[&o.channel_id, defaults.channel_id]),
    );
    put(&mut n, "category", &o.category);
    if let Some(level) = o.notify_level {
        n.insert("notify_level".into(), json!(level));
    }
    if let Some(show) = o.show_ttl.as_ref() {
        let secs = u64::try_from(show.seconds).unwrap_or(0);
        n.insert("show_ttl".into(), json!(secs));
    }
    if let Some(id) = o.notify_id {
        n.insert("notify_id".into(), json!(id));
    }
    if !o.raw_json.is_empty() {
        n.extend(object(&o.raw_json, "oppo.raw_json")?);
    }
    Ok(OppoRequest { notification: n })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::dispatch::testing::{basic, rendered, secs, with_ttl};
    use crate::proto::v1::{ClickAction, MessageConfig, OppoOverride, PushMessage, click_action};

    const NONE: Defaults<'static> = Defaults {
        channel_id: "",
        click_action: "",
    };

    fn notification(message: PushMessage, defaults: &Defaults<'_>) -> Value {
        Value::Object(build(&rendered(message), defaults).unwrap().notification)
    }

    #[test]
    fn base_fields_fill_the_notification() {
        let message = PushMessage {
            sub_title: "sub".into(),
            ext: HashMap::from([("k".to_string(), "v".to_string())]),
            ..basic()
        };
        assert_eq!(
            notification(message, &NONE),
            json!({"title":"Hi","sub_title":"sub","content":"Body","click_action_type":0,
                "action_parameters":"{\"k\":\"v\"}"})
        );
    }

    #[test]
    fn the_oppo_block_wins_and_maps_every_field() {
        let message = PushMessage {
            ext: HashMap::from([("k".to_string(), "base".to_string())]),
            config: Some(MessageConfig {
                click_action: Some(ClickAction {
                    target: Some(click_action::Target::Url("https://base".into())),
                }),
                ..Default::default()
            }),
            oppo: Some(OppoOverride {
                title: "T".into(),
                sub_title: "S".into(),
                content: "C".into(),
                channel_id: "chat".into(),
                category: "IM".into(),
                notify_level: Some(2),
                app_message_id: "a1".into(),
                style: Some(2),
                click_action_type: Some(4),
                click_action_activity: "com.x.Main".into(),
                action_parameters: HashMap::from([("k".to_string(), "oppo".to_string())]),
                off_line: Some(true),
                off_line_ttl: Some(secs(3600)),
                time_zone: "GMT+08:00".into(),
                callback_url: "https://cb".into(),
                callback_param: "p".into(),
                show_ttl: Some(secs(60)),
                notify_id: Some(7),
                raw_json: r#"{"private_msg_template_id":"tpl"}"#.into(),
                ..Default::default()
            }),
            ..basic()
        };
        assert_eq!(
            notification(
                message,
                &Defaults {
                    channel_id: "default",
                    click_action: ""
                }
            ),
            json!({"title":"T","sub_title":"S","content":"C","style":2,"app_message_id":"a1",
                "click_action_type":4,"click_action_activity":"com.x.Main",
                "action_parameters":"{\"k\":\"oppo\"}","off_line":true,"off_line_ttl":3600,
                "time_zone":"GMT+08:00","call_back_url":"https://cb","call_back_parameter":"p",
                "channel_id":"chat","category":"IM","notify_level":2,"show_ttl":60,"notify_id":7,
                "private_msg_template_id":"tpl"})
        );
    }

    #[test]
    fn the_tap_and_the_notifier_defaults_become_click_actions() {
        let with = |target| PushMessage {
            config: Some(MessageConfig {
                click_action: Some(ClickAction {
                    target: Some(target),
                }),
                ..Default::default()
            }),
            ..basic()
        };
        let n = notification(with(click_action::Target::Url("https://u".into())), &NONE);
        assert_eq!(
            (
                n["click_action_type"].clone(),
                n["click_action_url"].clone()
            ),
            (json!(2), json!("https://u"))
        );
        let n = notification(
            with(click_action::Target::Action("com.x.OPEN".into())),
            &NONE,
        );
        assert_eq!(
            (
                n["click_action_type"].clone(),
                n["click_action_activity"].clone()
            ),
            (json!(1), json!("com.x.OPEN"))
        );
        let n = notification(
            with(click_action::Target::Activity("com.x.Main".into())),
            &NONE,
        );
        assert_eq!(
            (
                n["click_action_type"].clone(),
                n["click_action_activity"].clone()
            ),
            (json!(4), json!("com.x.Main"))
        );
        let n = notification(
            basic(),
            &Defaults {
                channel_id: "news",
                click_action: "com.x.MainActivity",
            },
        );
        assert_eq!(n["click_action_type"], json!(4));
        assert_eq!(n["click_action_activity"], json!("com.x.MainActivity"));
        assert_eq!(n["channel_id"], json!("news"));
    }

    #[test]
    fn the_message_ttl_is_sent_as_what_is_left_capped_at_ten_days() {
        let left = notification(with_ttl(600), &NONE)["off_line_ttl"]
            .as_u64()
            .unwrap();
        assert!((599..=600).contains(&left), "{left}");
        assert_eq!(
            notification(with_ttl(30 * 24 * 3600), &NONE)["off_line_ttl"],
            json!(MAX_OFFLINE_TTL.as_secs())
        );
    }

    #[test]
    fn refusals_before_sending() {
        let r = |message: PushMessage| build(&rendered(message), &NONE);
        let invalid =
            |r: Result<OppoRequest, Outcome>| matches!(r, Err(Outcome::InvalidMessage { .. }));
        assert!(invalid(r(PushMessage {
            content: "c".into(),
            ..Default::default()
        })));
        assert!(invalid(r(PushMessage {
            title: "t".into(),
            ..Default::default()
        })));
        assert!(invalid(r(PushMessage {
            title: "t".repeat(MAX_TITLE + 1),
            ..basic()
        })));
        assert!(
            r(PushMessage {
                title: "字".repeat(MAX_TITLE),
                ..basic()
            })
            .is_ok()
        );
        assert!(invalid(r(PushMessage {
            content: "c".repeat(MAX_CONTENT + 1),
            ..basic()
        })));
        let oppo = |o: OppoOverride| PushMessage {
            oppo: Some(o),
            ..basic()
        };
        assert!(invalid(r(oppo(OppoOverride {
            off_line_ttl: Some(secs(11 * 24 * 3600)),
            ..Default::default()
        }))));
        assert!(invalid(r(oppo(OppoOverride {
            click_action_type: Some(2),
            ..Default::default()
        }))));
        assert!(invalid(r(oppo(OppoOverride {
            raw_json: "[1]".into(),
            ..Default::default()
        }))));
    }

    #[test]
    fn unicast_and_batch_messages_target_registration_ids() {
        let request = build(&rendered(basic()), &NONE).unwrap();
        assert_eq!(
            request.message_for("CN_1"),
            json!({"target_type":2,"target_value":"CN_1","notification":{"title":"Hi","content":"Body","click_action_type":0}})
        );
        // The spliced batch text is exactly the array of the unicast messages, escaping included.
        let tokens = ["a", "b\"q", "c"];
        let batch: Value = serde_json::from_str(&request.messages_for(&tokens)).unwrap();
        let expected: Vec<Value> = tokens.iter().map(|t| request.message_for(t)).collect();
        assert_eq!(batch, Value::Array(expected));
        assert_eq!(request.messages_for(&[]), "[]");
    }
}
