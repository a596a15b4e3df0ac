//! The Meizu `messageJson` of a notification-bar push.
//!
//! Structure confirmed from Meizu's official Java server SDK (MEIZUPUSH/JavaSdk, `vo/VarnishedMessageJson`,
//! `NoticeBarInfo`, `NoticeExpandInfo`, `ClickTypeInfo`, `PushTimeInfo`, `AdvanceInfo`, `NotificationType`):
//! `clickTypeInfo.parameters` is a JSON object, `pushTimeInfo.offLine` a boolean with `validTime` in hours
//! (1..72, default 24), display dates `yyyy-MM-dd HH:mm:ss`.

use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::dispatch::{
    Outcome, Rendered,
    fields::{ceil_secs, chars, first, limit, object, put},
    tap::{Tap, tap},
};

/// Longest title, in characters.
pub const MAX_TITLE: usize = 32;
/// Longest content, in characters.
pub const MAX_CONTENT: usize = 100;
/// Longest time Meizu stores a push, in hours.
pub const MAX_VALID_HOURS: u64 = 72;
/// Longest click target (url, activity, custom attribute).
pub const MAX_CLICK_TARGET: usize = 1000;

/// The `messageJson` for `message`, or why Meizu would refuse it. `default_click_action` is the notifier's.
pub fn build(message: &Rendered, default_click_action: &str) -> Result<String, Outcome> {
    crate::dispatch::checks::not_voip(message)?;
    let m = &message.message;
    let o = m.meizu.clone().unwrap_or_default();
    let title = first(&[&o.title, &m.title]);
    let content = first(&[&o.content, &m.content]);
    limit("Meizu title", title, MAX_TITLE, chars, true)?;
    limit("Meizu content", content, MAX_CONTENT, chars, true)?;
    let mut out = Map::new();
    out.insert(
        "noticeBarInfo".into(),
        json!({"noticeBarType": 0, "title": title, "content": content}),
    );
    if o.notice_expand_type.is_some() || !o.notice_expand_content.is_empty() {
        let kind = o.notice_expand_type.unwrap_or(1);
        if kind == 1 && o.notice_expand_content.is_empty() {
            return Err(Outcome::InvalidMessage {
                reason: "Meizu expand type 1 needs notice_expand_content".into(),
            });
        }
        out.insert(
            "noticeExpandInfo".into(),
            json!({"noticeExpandType": kind, "noticeExpandContent": o.notice_expand_content}),
        );
    }

    let mut click = Map::new();
    let (kind, url, activity, custom) = match o.click_type {
        Some(kind) => (
            kind,
            o.url.clone(),
            o.activity.clone(),
            o.custom_attribute.clone(),
        ),
        None => match tap(message, default_click_action) {
            Tap::Launcher => (0, String::new(), String::new(), String::new()),
            Tap::Url(u) => (2, u.to_owned(), String::new(), String::new()),
            Tap::Action(a) | Tap::Activity(a) => (1, String::new(), a.to_owned(), String::new()),
        },
    };
    for (field, value) in [
        ("url", &url),
        ("activity", &activity),
        ("customAttribute", &custom),
    ] {
        limit(
            &format!("Meizu {field}"),
            value,
            MAX_CLICK_TARGET,
            chars,
            false,
        )?;
    }
    let missing = match kind {
        1 => activity.is_empty(),
        2 => url.is_empty(),
        3 => custom.is_empty(),
        _ => false,
    };
    if missing {
        return Err(Outcome::InvalidMessage {
            reason: format!("Meizu clickType {kind} needs its target"),
        });
    }
    click.insert("clickType".into(), json!(kind));
    put(&mut click, "url", &url);
    put(&mut click, "activity", &activity);
    put(&mut click, "customAttribute", &custom);
    let mut parameters = Map::new();
    for (k, v) in m.ext.iter().chain(o.parameters.iter()) {
        parameters.insert(k.clone(), Value::String(v.clone()));
    }
    if !parameters.is_empty() {
        click.insert("parameters".into(), Value::Object(parameters));
    }
    out.insert("clickTypeInfo".into(), Value::Object(click));

    let off_line = o.off_line.unwrap_or(true);
    let mut time = Map::new();
    time.insert("offLine".into(), flag(off_line));
    if off_line {
        let hours = match o.valid_time.as_ref() {
            Some(_) => {
                let hours = hours_up(message.ttl(o.valid_time.as_ref()).unwrap_or_default());
                if hours > MAX_VALID_HOURS {
                    return Err(Outcome::InvalidMessage {
                        reason: "the Meizu valid_time is over 72 hours".into(),
                    });
                }
                hours
            }
            None => message
                .ttl(None)
                .map_or(24, |t| hours_up(message.remaining(t)).min(MAX_VALID_HOURS)),
        };
        time.insert("validTime".into(), json!(hours.max(1)));
    }
    out.insert("pushTimeInfo".into(), Value::Object(time));

    let mut advance = Map::new();
    if let Some(v) = o.suspend {
        advance.insert("suspend".into(), flag(v));
    }
    if let Some(v) = o.clear_notice_bar {
        advance.insert("clearNoticeBar".into(), flag(v));
    }
    if o.fix_display {
        advance.insert("fixDisplay".into(), flag(true));
        let (Some(start), Some(end)) = (
            o.fix_start_display_time.as_ref(),
            o.fix_end_display_time.as_ref(),
        ) else {
            return Err(Outcome::InvalidMessage {
                reason: "Meizu fix_display needs its start and end times".into(),
            });
        };
        advance.insert(
            "fixStartDisplayDate".into(),
            json!(china_time(start.seconds)),
        );
        advance.insert("fixEndDisplayDate".into(), json!(china_time(end.seconds)));
    }
    let mut kinds = Map::new();
    for (name, value) in [
        ("vibrate", o.vibrate),
        ("lights", o.lights),
        ("sound", o.sound),
    ] {
        if let Some(v) = value {
            kinds.insert(name.into(), flag(v));
        }
    }
    if !kinds.is_empty() {
        advance.insert("notificationType".into(), Value::Object(kinds));
    }
    put(&mut advance, "notifyKey", &o.notify_key);
    if !advance.is_empty() {
        out.insert("advanceInfo".into(), Value::Object(advance));
    }

    limit("Meizu extra.callback", &o.callback_url, 128, chars, false)?;
    limit(
        "Meizu extra.callback.param",
        &o.callback_param,
        64,
        chars,
        false,
    )?;
    if !o.callback_url.is_empty() {
        let mut extra = Map::new();
        put(&mut extra, "callback", &o.callback_url);
        put(&mut extra, "callback.param", &o.callback_param);
        if let Some(kind) = o.callback_type {
            extra.insert("callback.type".into(), json!(kind.to_string()));
        }
        out.insert("extra".into(), Value::Object(extra));
    }
    if !o.raw_json.is_empty() {
        out.extend(object(&o.raw_json, "meizu.raw_json")?);
    }
    Ok(Value::Object(out).to_string())
}

fn hours_up(d: Duration) -> u64 {
    ceil_secs(d).div_ceil(3600)
}

/// Unix `seconds` as Meizu writes dates: `yyyy-MM-dd HH:mm:ss` in China's time.
fn china_time(seconds: i64) -> String {
    let Ok(ts) = jiff::Timestamp::from_second(seconds) else {
        return String::new();
    };
    match jiff::tz::db().get(crate::dispatch::quota::CHINA) {
        Ok(tz) => tz.to_datetime(ts).strftime("%Y-%m-%d %H:%M:%S").to_string(),
        Err(_) => String::new(),
    }
}

/// Meizu's switches are the integers 0 and 1 in its API document ("Int ... 0 否 1 是"), not JSON booleans;
/// the server refuses `true` with 1005.
fn flag(on: bool) -> Value {
    json!(u8::from(on))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::dispatch::testing::{basic, secs, with_ttl};
    use crate::proto::v1::{ClickAction, MeizuOverride, MessageConfig, PushMessage, click_action};

    fn json_of(message: PushMessage, default_click: &str) -> Value {
        serde_json::from_str(&build(&Rendered::now("m", message), default_click).unwrap()).unwrap()
    }

    #[test]
    fn base_fields_fill_the_message_json() {
        let message = PushMessage {
            ext: HashMap::from([("k".to_string(), "v".to_string())]),
            ..basic()
        };
        assert_eq!(
            json_of(message, ""),
            json!({"noticeBarInfo":{"noticeBarType":0,"title":"Hi","content":"Body"},
                "clickTypeInfo":{"clickType":0,"parameters":{"k":"v"}},
                "pushTimeInfo":{"offLine":1,"validTime":24}})
        );
    }

    #[test]
    fn the_meizu_block_wins_and_maps_every_field() {
        let message = PushMessage {
            ext: HashMap::from([("k".to_string(), "base".to_string())]),
            meizu: Some(MeizuOverride {
                title: "T".into(),
                content: "C".into(),
                notice_expand_type: Some(1),
                notice_expand_content: "more".into(),
                click_type: Some(2),
                url: "https://x".into(),
                parameters: HashMap::from([("k".to_string(), "meizu".to_string())]),
                off_line: Some(true),
                valid_time: Some(secs(3601)),
                suspend: Some(true),
                clear_notice_bar: Some(false),
                fix_display: true,
                // 2026-01-01 00:00:00 and 08:00:00 in China.
                fix_start_display_time: Some(prost_types::Timestamp {
                    seconds: 1_767_196_800,
                    nanos: 0,
                }),
                fix_end_display_time: Some(prost_types::Timestamp {
                    seconds: 1_767_225_600,
                    nanos: 0,
                }),
                vibrate: Some(true),
                lights: Some(false),
                sound: Some(true),
                notify_key: "chat-1".into(),
                callback_url: "https://cb".into(),
                callback_param: "p".into(),
                callback_type: Some(3),
                raw_json: r#"{"vipInfo":{}}"#.into(),
                ..Default::default()
            }),
            ..basic()
        };
        assert_eq!(
            json_of(message, ""),
            json!({"noticeBarInfo":{"noticeBarType":0,"title":"T","content":"C"},
                "noticeExpandInfo":{"noticeExpandType":1,"noticeExpandContent":"more"},
                "clickTypeInfo":{"clickType":2,"url":"https://x","parameters":{"k":"meizu"}},
                "pushTimeInfo":{"offLine":1,"validTime":2},
                "advanceInfo":{"suspend":1,"clearNoticeBar":0,"fixDisplay":1,
                    "fixStartDisplayDate":"2026-01-01 00:00:00","fixEndDisplayDate":"2026-01-01 08:00:00",
                    "notificationType":{"vibrate":1,"lights":0,"sound":1},"notifyKey":"chat-1"},
                "extra":{"callback":"https://cb","callback.param":"p","callback.type":"3"},
                "vipInfo":{}})
        );
    }

    #[test]
    fn taps_and_defaults_become_click_types() {
        let message = PushMessage {
            config: Some(MessageConfig {
                click_action: Some(ClickAction {
                    target: Some(click_action::Target::Activity("com.x.Main".into())),
                }),
                ..Default::default()
            }),
            ..basic()
        };
        assert_eq!(
            json_of(message, "")["clickTypeInfo"],
            json!({"clickType":1,"activity":"com.x.Main"})
        );
        assert_eq!(
            json_of(basic(), "com.x.MainActivity")["clickTypeInfo"],
            json!({"clickType":1,"activity":"com.x.MainActivity"})
        );
    }

    #[test]
    fn message_ttl_becomes_valid_hours_within_1_to_72() {
        assert_eq!(
            json_of(with_ttl(60), "")["pushTimeInfo"]["validTime"],
            json!(1)
        );
        assert_eq!(
            json_of(with_ttl(5 * 3600), "")["pushTimeInfo"]["validTime"],
            json!(5)
        );
        assert_eq!(
            json_of(with_ttl(30 * 24 * 3600), "")["pushTimeInfo"]["validTime"],
            json!(72)
        );
    }

    #[test]
    fn refusals_before_sending() {
        let r = |message: PushMessage| build(&Rendered::now("m", message), "");
        let invalid = |r: Result<String, Outcome>| matches!(r, Err(Outcome::InvalidMessage { .. }));
        assert!(invalid(r(PushMessage {
            title: "t".repeat(33),
            ..basic()
        })));
        assert!(invalid(r(PushMessage {
            content: "c".repeat(101),
            ..basic()
        })));
        assert!(invalid(r(PushMessage {
            content: "c".into(),
            ..Default::default()
        })));
        let meizu = |o: MeizuOverride| PushMessage {
            meizu: Some(o),
            ..basic()
        };
        assert!(invalid(r(meizu(MeizuOverride {
            valid_time: Some(secs(73 * 3600)),
            ..Default::default()
        }))));
        assert!(invalid(r(meizu(MeizuOverride {
            click_type: Some(1),
            ..Default::default()
        }))));
        assert!(invalid(r(meizu(MeizuOverride {
            fix_display: true,
            ..Default::default()
        }))));
        assert!(invalid(r(meizu(MeizuOverride {
            raw_json: "x".into(),
            ..Default::default()
        }))));
    }
}
