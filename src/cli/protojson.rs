//! Protobuf JSON of API messages, written and read through the contract's own descriptor set, so that a
//! response prints, and a request file parses, exactly as other protobuf tools (grpcurl, the generated
//! stubs of other languages) print and parse them.
//!
//! Written with lowerCamelCase names, enum value names, RFC 3339 timestamps, and every field that has no
//! presence even at its default, so that a script finds the keys it expects; 64-bit integers are JSON
//! numbers, as in the rest of the CLI's JSON (see `output/mod.rs`). Read strictly: an unknown field is an
//! error, since in a hand-written file it is a typo that would otherwise be dropped without a word.

use std::sync::LazyLock;

use anyhow::{Context, Result, anyhow};
use prost::{Message, Name};
use prost_reflect::{
    DescriptorPool, DeserializeOptions, DynamicMessage, MessageDescriptor, SerializeOptions,
};
use pushgate::proto::FILE_DESCRIPTOR_SET;
use serde_json::Value;

/// The contract, decoded once. An error here means the binary was built from a broken descriptor set.
static POOL: LazyLock<Result<DescriptorPool, String>> =
    LazyLock::new(|| DescriptorPool::decode(FILE_DESCRIPTOR_SET).map_err(|e| e.to_string()));

fn descriptor<M: Name>() -> Result<MessageDescriptor> {
    let pool = POOL
        .as_ref()
        .map_err(|e| anyhow!("the built-in API description is unreadable: {e}"))?;
    let name = M::full_name();
    pool.get_message_by_name(&name)
        .ok_or_else(|| anyhow!("the built-in API description has no message {name}"))
}

/// `message` as protobuf JSON.
pub fn to_json<M: Message + Name>(message: &M) -> Result<Value> {
    let dynamic = DynamicMessage::decode(descriptor::<M>()?, message.encode_to_vec().as_slice())
        .with_context(|| format!("cannot describe a {} as JSON", M::full_name()))?;
    let options = SerializeOptions::new()
        .stringify_64_bit_integers(false)
        .skip_default_fields(false);
    dynamic
        .serialize_with_options(serde_json::value::Serializer, &options)
        .with_context(|| format!("cannot write a {} as JSON", M::full_name()))
}

/// Parses protobuf JSON text as an `M`; the error names the message type and where the text went wrong.
pub fn from_json<M: Message + Name + Default>(text: &str) -> Result<M> {
    let mut de = serde_json::Deserializer::from_str(text);
    let dynamic =
        DynamicMessage::deserialize_with_options(descriptor::<M>()?, &mut de, &default_read())
            .with_context(|| format!("not a {} in protobuf JSON", M::full_name()))?;
    de.end()
        .with_context(|| format!("text after the {} JSON", M::full_name()))?;
    dynamic
        .transcode_to::<M>()
        .with_context(|| format!("cannot read the {} JSON", M::full_name()))
}

/// Parses a JSON value (one element of a file holding several) as an `M`.
pub fn from_value<M: Message + Name + Default>(value: &Value) -> Result<M> {
    let dynamic =
        DynamicMessage::deserialize_with_options(descriptor::<M>()?, value, &default_read())
            .with_context(|| format!("not a {} in protobuf JSON", M::full_name()))?;
    dynamic
        .transcode_to::<M>()
        .with_context(|| format!("cannot read the {} JSON", M::full_name()))
}

fn default_read() -> DeserializeOptions {
    DeserializeOptions::new().deny_unknown_fields(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pushgate::proto::v1::{
        CreateNotifierRequest, DeleteAppResponse, DeliveryStatus, DeviceResult, FailureReason,
        HuaweiCredentials, Label, Notifier, SendSyncResponse, notifier::Credentials,
    };
    use serde_json::json;

    #[test]
    fn responses_print_with_json_names_enum_names_and_numbers() {
        let r = SendSyncResponse {
            message_id: "m-1".into(),
            results: vec![DeviceResult {
                status: DeliveryStatus::Fail as i32,
                reason: FailureReason::NoPushBinding as i32,
                desc: "no push binding".into(),
                ..Default::default()
            }],
        };
        let v = to_json(&r).unwrap();
        assert_eq!(v["messageId"], "m-1");
        assert_eq!(v["results"][0]["status"], "DELIVERY_STATUS_FAIL");
        assert_eq!(v["results"][0]["reason"], "FAILURE_REASON_NO_PUSH_BINDING");
        // Defaults are written, so a script can read every key.
        assert_eq!(v["results"][0]["deviceId"], "");
        assert_eq!(v["results"][0]["bindingRemoved"], false);
        assert_eq!(
            to_json(&DeleteAppResponse { removed_records: 7 }).unwrap(),
            json!({"removedRecords": 7})
        );
    }

    #[test]
    fn timestamps_are_rfc3339_and_unset_messages_are_left_out() {
        let label = Label {
            name: "vip".into(),
            create_time: Some(prost_types::Timestamp {
                seconds: 1_700_000_000,
                nanos: 0,
            }),
            ..Default::default()
        };
        let v = to_json(&label).unwrap();
        assert_eq!(v["createTime"], "2023-11-14T22:13:20Z");
        assert_eq!(v["userCount"], 0);
        let v = to_json(&Label::default()).unwrap();
        assert!(v.get("createTime").is_none(), "{v}");
    }

    #[test]
    fn a_request_body_reads_back_as_the_message() {
        let text = r#"{"notifier": {"name": "hw", "qpsLimit": 10,
                       "huawei": {"appId": "123", "clientSecret": "s"}}}"#;
        let r: CreateNotifierRequest = from_json(text).unwrap();
        assert_eq!(
            r.notifier,
            Some(Notifier {
                name: "hw".into(),
                qps_limit: 10,
                credentials: Some(Credentials::Huawei(HuaweiCredentials {
                    app_id: "123".into(),
                    client_secret: "s".into(),
                })),
                ..Default::default()
            })
        );
        // The proto field names are accepted too, as protobuf JSON parsers must.
        let r: CreateNotifierRequest =
            from_value(&json!({"notifier": {"name": "x", "qps_limit": 3}})).unwrap();
        assert_eq!(r.notifier.unwrap().qps_limit, 3);
    }

    #[test]
    fn typos_and_wrong_types_are_errors_that_name_the_message() {
        for bad in [
            r#"{"notifer": {}}"#,
            r#"{"notifier": {"qpsLimit": "many"}}"#,
            r#"{"notifier": {}} trailing"#,
            "not json",
        ] {
            let err = format!("{:#}", from_json::<CreateNotifierRequest>(bad).unwrap_err());
            assert!(
                err.contains("pushgate.v1.CreateNotifierRequest"),
                "{bad}: {err}"
            );
        }
    }
}
