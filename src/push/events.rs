//! The delivery event of one outcome: Easemob's callback record (`callId`, `channel`, `status`, `detail`...)
//! with typed additions.

use serde_json::json;

use super::{DeviceOutcome, UserPush};
use crate::{
    clock::timestamp,
    delivery_channel,
    proto::v1::{ChatType, DeliveryEvent, DeliveryStatus, PushMessage},
};

/// Easemob's channel name of an outcome (see [`delivery_channel::name`]).
pub fn channel_name(outcome: &DeviceOutcome) -> &'static str {
    delivery_channel::name(outcome.channel, outcome.vendor)
}

/// What the events of one push share: worked out once per push, not once per device.
pub struct PushEvents {
    /// The event of no outcome yet: the push's fields filled in.
    common: DeliveryEvent,
}

impl PushEvents {
    /// The shared fields of `push`, whose rendered message was `rendered`.
    pub fn new(push: &UserPush, rendered: &PushMessage) -> Self {
        let conversation = push
            .message
            .options
            .as_ref()
            .and_then(|o| o.conversation.clone())
            .unwrap_or_default();
        let chat_type = match ChatType::try_from(conversation.chat_type) {
            Ok(ChatType::Group) => ChatType::Group,
            Ok(ChatType::User) => ChatType::User,
            _ => ChatType::Unspecified,
        };
        let common = DeliveryEvent {
            call_id: format!("{}_{}", push.app, push.message_id),
            appkey: push.app.clone(),
            chat_type: chat_type as i32,
            msg_id: push.message_id.clone(),
            step: "push".into(),
            target: push.user.clone(),
            from: conversation.from,
            group_id: if chat_type == ChatType::Group {
                conversation.group_id
            } else {
                String::new()
            },
            payload: json!({
                "title": rendered.title,
                "sub_title": rendered.sub_title,
                "content": rendered.content,
                "ext": rendered.ext,
            })
            .to_string(),
            task_id: push.task_id.clone(),
            ..Default::default()
        };
        Self { common }
    }

    /// The event of `outcome`, recorded at `now_ms`. Its position is given when the log stores it.
    pub fn of(&self, outcome: &DeviceOutcome, now_ms: i64) -> DeliveryEvent {
        DeliveryEvent {
            channel: channel_name(outcome).to_owned(),
            vendor: outcome.vendor as i32,
            delivery_channel: outcome.channel as i32,
            data: outcome.vendor_response.to_string(),
            device_id: outcome.device_id.clone(),
            device_token: outcome.device_token.clone(),
            notifier_name: outcome.notifier_name.clone(),
            status: outcome.status as i32,
            timestamp: Some(timestamp(now_ms)),
            e_message: if outcome.status == DeliveryStatus::Error {
                outcome.error_message.clone()
            } else {
                String::new()
            },
            detail: outcome
                .failure
                .map(|f| f.as_str().to_owned())
                .unwrap_or_default(),
            reason: outcome.failure.map_or(0, |f| f.proto() as i32),
            ..self.common.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        proto::v1::{Conversation, PushOptions, Strategy, Vendor},
        push::Failure,
    };

    fn push() -> UserPush {
        UserPush {
            app: "acme#chat".into(),
            user: "bob".into(),
            strategy: Strategy::Unspecified,
            message: std::sync::Arc::new(PushMessage {
                options: Some(PushOptions {
                    conversation: Some(Conversation {
                        chat_type: ChatType::Group as i32,
                        from: "alice".into(),
                        group_id: "g1".into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            message_id: "m1".into(),
            accepted_ms: 0,
            task_id: "t1".into(),
        }
    }

    #[test]
    fn an_event_carries_the_seed_fields() {
        let rendered = PushMessage {
            title: "T".into(),
            content: "C".into(),
            ..Default::default()
        };
        let failed = DeviceOutcome::failed("d1", Failure::NoPushBinding, "");
        let events = PushEvents::new(&push(), &rendered);
        let e = events.of(&failed, 1_700_000_000_123);
        assert_eq!(e.call_id, "acme#chat_m1");
        assert_eq!(
            (e.appkey.as_str(), e.target.as_str(), e.step.as_str()),
            ("acme#chat", "bob", "push")
        );
        assert_eq!(e.channel, "");
        assert_eq!(e.detail, "no push binding");
        assert_eq!(e.status, DeliveryStatus::Fail as i32);
        assert_eq!((e.from.as_str(), e.group_id.as_str()), ("alice", "g1"));
        assert_eq!(e.chat_type, ChatType::Group as i32);
        assert_eq!(e.task_id, "t1");
        assert!(e.e_message.is_empty(), "only errors carry one");
        let payload: serde_json::Value = serde_json::from_str(&e.payload).unwrap();
        assert_eq!(payload["title"], "T");
        let err = DeviceOutcome::failed("d1", Failure::PushYetButFail, "timeout")
            .with_status(DeliveryStatus::Error)
            .via("n", Vendor::Fcm, "tok");
        let e = events.of(&err, 0);
        assert_eq!(
            (e.channel.as_str(), e.e_message.as_str()),
            ("ANDROID", "timeout")
        );
        assert_eq!(e.device_token, "tok");
    }
}
