//! Messages the unit tests of every vendor's payload start from, so each test says only what it changes.

use crate::{
    dispatch::Rendered,
    proto::v1::{PushMessage, PushOptions},
};

/// A plain notification: title "Hi", body "Body", nothing else.
pub(crate) fn basic() -> PushMessage {
    PushMessage {
        title: "Hi".into(),
        content: "Body".into(),
        ..Default::default()
    }
}

/// `message` accepted now under id "m".
pub(crate) fn rendered(message: PushMessage) -> Rendered {
    Rendered::now("m", message)
}

/// `seconds` as a protobuf duration.
pub(crate) fn secs(seconds: i64) -> prost_types::Duration {
    prost_types::Duration { seconds, nanos: 0 }
}

/// [`basic`] with a message TTL of `seconds`.
pub(crate) fn with_ttl(seconds: i64) -> PushMessage {
    PushMessage {
        options: Some(PushOptions {
            ttl: Some(secs(seconds)),
            ..Default::default()
        }),
        ..basic()
    }
}
