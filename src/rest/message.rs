//! Easemob's `pushMessage` object as the contract's `PushMessage`. Easemob writes the subtitle both as
//! `subTitle` and `sub_title`; `ext` holds any JSON, and a value that is not a string travels as its JSON
//! text (the contract's `ext` is strings).

use serde::Deserialize;
use serde_json::{Map, Value};

use super::RestError;
use crate::proto::v1::PushMessage;

/// The blocks of Easemob's `pushMessage` that this server does not translate yet: refused by name rather
/// than dropped, so that a caller never believes a vendor option was applied.
const NOT_YET: &[&str] = &[
    "config",
    "easemob",
    "apns",
    "fcm",
    "fcmV1",
    "huawei",
    "honor",
    "xiaomi",
    "oppo",
    "vivo",
    "meizu",
    "harmonyOS",
];

/// `pushMessage` as Easemob documents it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct EasemobMessage {
    #[serde(default)]
    title: String,
    #[serde(default, alias = "sub_title")]
    sub_title: String,
    #[serde(default)]
    content: String,
    #[serde(default)]
    ext: Map<String, Value>,
    /// Everything else: checked against [`NOT_YET`] and refused.
    #[serde(flatten)]
    rest: Map<String, Value>,
}

impl EasemobMessage {
    /// The contract's message; the send path checks its limits as it checks any.
    pub(super) fn into_proto(self, field: &str) -> Result<PushMessage, RestError> {
        if let Some(name) = self.rest.keys().next() {
            let why = if NOT_YET.contains(&name.as_str()) {
                "is not translated by this server yet"
            } else {
                "is not a field of Easemob's pushMessage"
            };
            return Err(RestError::bad_request(format!("{field}.{name}: {why}")));
        }
        let ext = self
            .ext
            .into_iter()
            .map(|(k, v)| match v {
                Value::String(s) => (k, s),
                other => (k, other.to_string()),
            })
            .collect();
        Ok(PushMessage {
            title: self.title,
            sub_title: self.sub_title,
            content: self.content,
            ext,
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<PushMessage, RestError> {
        serde_json::from_str::<EasemobMessage>(json)
            .unwrap()
            .into_proto("pushMessage")
    }

    #[test]
    fn both_spellings_of_the_subtitle_and_any_ext_value() {
        let m = parse(
            r#"{"title":"t","sub_title":"s","content":"c","ext":{"a":"x","n":1,"o":{"k":true}}}"#,
        )
        .unwrap();
        assert_eq!((m.title.as_str(), m.sub_title.as_str()), ("t", "s"));
        assert_eq!(m.ext["a"], "x");
        assert_eq!(m.ext["n"], "1");
        assert_eq!(m.ext["o"], r#"{"k":true}"#);
        assert_eq!(parse(r#"{"subTitle":"s2"}"#).unwrap().sub_title, "s2");
    }

    #[test]
    fn blocks_not_translated_yet_and_unknown_fields_are_refused_by_name() {
        let e = parse(r#"{"title":"t","vivo":{}}"#).unwrap_err();
        assert!(e.description.starts_with("pushMessage.vivo:"), "{e:?}");
        let e = parse(r#"{"title":"t","colour":"red"}"#).unwrap_err();
        assert!(e.description.contains("colour"), "{e:?}");
    }
}
