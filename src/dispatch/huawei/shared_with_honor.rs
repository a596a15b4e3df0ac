//! The parts of a Huawei message that Honor's message builds the same way (Honor's API derives from Huawei's):
//! what it shows and carries, the `click_action`, badge, importance and buttons objects, and the size check
//! with `raw_json` merged. Kept apart from `payload.rs` so Honor's builder imports them, not Huawei's whole
//! body.

use serde_json::{Map, Value, json};

use crate::{
    dispatch::{
        Outcome,
        fields::{ext_json, first, invalid, object, put},
        tap::{Tap, activity_intent, is_intent_uri},
    },
    proto::v1::{
        Badge, NotificationButton, NotificationImportance, PushMessage, VendorBadge,
        VendorClickAction,
    },
};

/// What a Huawei or Honor message shows and carries (Honor's message mirrors Huawei's): the title, body and
/// data of the vendor block, else of the message (its `ext` as the data).
pub(crate) struct Content<'a> {
    /// The notification's title, empty for a data-only message.
    pub title: &'a str,
    /// The notification's body, empty for a data-only message.
    pub body: &'a str,
    /// `data`, empty when there is none.
    pub data: String,
    /// Whether it shows a notification, else it only carries data.
    pub notify: bool,
}

impl<'a> Content<'a> {
    /// The content of `m` with the vendor block's `[title, content, data]`, or why the vendor would refuse it: a
    /// notification needs both a title and a body, a message without one needs data. `who` names the vendor
    /// with its article ("a Huawei").
    pub(crate) fn of(m: &'a PushMessage, block: [&'a str; 3], who: &str) -> Result<Self, Outcome> {
        let [title, body, data] = block;
        let title = first(&[title, &m.title]);
        let body = first(&[body, &m.content]);
        let data = if data.is_empty() {
            ext_json(&m.ext)
        } else {
            data.to_owned()
        };
        let notify = !title.is_empty() || !body.is_empty();
        if !notify && data.is_empty() {
            return Err(invalid(format!(
                "{who} push needs a title and body, or data"
            )));
        }
        if notify && (title.is_empty() || body.is_empty()) {
            return Err(invalid(format!(
                "{who} notification needs both a title and a body"
            )));
        }
        Ok(Self {
            title,
            body,
            data,
            notify,
        })
    }
}

/// The message of a Huawei or Honor request: `out` with its `android` block (left out when empty) and the
/// vendor block's `raw_json` merged over both, refused when over `max` bytes. `vendor` names the vendor
/// ("Huawei"); its block is the same name in lower case.
pub(crate) fn sealed(
    mut out: Map<String, Value>,
    android: Map<String, Value>,
    raw_json: &str,
    vendor: &str,
    max: usize,
) -> Result<Map<String, Value>, Outcome> {
    if !android.is_empty() {
        out.insert("android".into(), Value::Object(android));
    }
    if !raw_json.is_empty() {
        let field = format!("{}.raw_json", vendor.to_lowercase());
        out.extend(object(raw_json, &field)?);
    }
    let size = Value::Object(out.clone()).to_string().len();
    if size > max {
        return Err(invalid(format!(
            "the {vendor} message is {size} bytes, over {vendor}'s {max}"
        )));
    }
    Ok(out)
}

/// The `click_action` object (Huawei and Honor share its shape): the vendor block's, else where the message
/// (or the notifier) says a tap goes, else type 3 (open the app), which Huawei requires at least.
pub(crate) fn click(vendor: Option<&VendorClickAction>, tap: Tap<'_>) -> Result<Value, Outcome> {
    let mut c = Map::new();
    if let Some(v) = vendor {
        let kind = v.r#type.unwrap_or(if !v.url.is_empty() {
            2
        } else if !v.intent.is_empty() || !v.action.is_empty() {
            1
        } else {
            3
        });
        match kind {
            1 if v.intent.is_empty() && v.action.is_empty() => {
                return Err(invalid("click_action type 1 needs an intent or an action"));
            }
            2 if !v.url.starts_with("https://") => {
                return Err(invalid("click_action type 2 needs an https url"));
            }
            1..=3 => {}
            _ => return Err(invalid("click_action type must be 1, 2 or 3")),
        }
        c.insert("type".into(), json!(kind));
        put(&mut c, "intent", &v.intent);
        put(&mut c, "url", &v.url);
        put(&mut c, "action", &v.action);
        return Ok(Value::Object(c));
    }
    match tap {
        Tap::Url(u) => {
            if !u.starts_with("https://") {
                return Err(invalid(
                    "Huawei and Honor open only https URLs from a notification",
                ));
            }
            c.insert("type".into(), json!(2));
            c.insert("url".into(), json!(u));
        }
        Tap::Action(a) if is_intent_uri(a) => {
            c.insert("type".into(), json!(1));
            c.insert("intent".into(), json!(a));
        }
        Tap::Action(a) => {
            c.insert("type".into(), json!(1));
            c.insert("action".into(), json!(a));
        }
        Tap::Activity(a) => {
            c.insert("type".into(), json!(1));
            c.insert("intent".into(), json!(activity_intent(a, "")));
        }
        Tap::Launcher => {
            c.insert("type".into(), json!(3));
        }
    }
    Ok(Value::Object(c))
}

/// The badge object: the vendor block's wins over `config.badge`; `set_num` wins over `add_num`; the class
/// is required. `keys` are the vendor's names for (add, set, class).
pub(crate) fn badge(
    vendor: Option<&VendorBadge>,
    base: Option<&Badge>,
    keys: (&str, &str, &str),
) -> Result<Option<Value>, Outcome> {
    let (add, set, class) = match (vendor, base) {
        (Some(v), _) => (v.add_num, v.set_num, v.badge_class.as_str()),
        (None, Some(b)) => (b.add_num, b.set_num, b.activity.as_str()),
        (None, None) => return Ok(None),
    };
    let class = if class.is_empty() {
        base.map_or("", |b| b.activity.as_str())
    } else {
        class
    };
    let mut b = Map::new();
    match (add, set) {
        (_, Some(s)) => {
            if !(0..=99).contains(&s) {
                return Err(invalid("badge set_num must be 0..99"));
            }
            b.insert(keys.1.into(), json!(s));
        }
        (Some(a), None) => {
            if !(1..=99).contains(&a) {
                return Err(invalid("badge add_num must be 1..99"));
            }
            b.insert(keys.0.into(), json!(a));
        }
        (None, None) => return Ok(None),
    }
    if class.is_empty() {
        return Err(invalid(
            "a badge change needs the app's entry activity class (badge class)",
        ));
    }
    b.insert(keys.2.into(), json!(class));
    Ok(Some(Value::Object(b)))
}

/// `LOW` / `NORMAL` / `HIGH` (Honor has no HIGH).
pub(crate) fn importance(i: NotificationImportance, high_allowed: bool) -> Option<&'static str> {
    match i {
        NotificationImportance::Low => Some("LOW"),
        NotificationImportance::Normal => Some("NORMAL"),
        NotificationImportance::High if high_allowed => Some("HIGH"),
        NotificationImportance::High => Some("NORMAL"),
        NotificationImportance::Unspecified => None,
    }
}

/// Notification buttons; `keys` are the vendor's names for (action type, intent type).
pub(crate) fn buttons(list: &[NotificationButton], keys: (&str, &str)) -> Result<Value, Outcome> {
    if list.len() > 3 {
        return Err(invalid("at most 3 notification buttons"));
    }
    let mut out = Vec::new();
    for b in list {
        if b.name.is_empty() {
            return Err(invalid("a notification button needs a name"));
        }
        let mut o = Map::new();
        o.insert("name".into(), json!(b.name));
        o.insert(keys.0.into(), json!(b.action_type));
        if b.action_type == 1 {
            o.insert(keys.1.into(), json!(b.intent_type));
        }
        put(&mut o, "intent", &b.intent);
        put(&mut o, "data", &b.data);
        out.push(Value::Object(o));
    }
    Ok(Value::Array(out))
}
