//! Acks: a device says a push was delivered or clicked. Delivered pushes leave the inbox; both kinds are
//! counted once per device (a repeated ack changes nothing), per message id and per task id.

use super::{Channel, ChannelError, check_device_id};
use crate::{clock::now_ms, validate::Violations};

/// Most message ids one Ack may name.
pub const MAX_ACK_IDS: usize = 100;

/// What a device acknowledges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckKind {
    /// The device received the push.
    Delivered,
    /// The user tapped the notification; implies delivered.
    Clicked,
}

impl Channel {
    /// Records an ack by `user`'s device of the pushes `message_ids`; returns the ids that name no unexpired
    /// push to this device and user. `kind` `None` (unspecified) is invalid. Nothing changes when the
    /// request is invalid.
    pub async fn ack(
        &self,
        app: &str,
        user: &str,
        device_id: &str,
        message_ids: &[String],
        kind: Option<AckKind>,
    ) -> Result<Vec<String>, ChannelError> {
        let mut v = Violations::new();
        v.check("device_id", check_device_id(device_id));
        match message_ids.len() {
            0 => v.add("message_ids", "at least one id is required"),
            n if n > MAX_ACK_IDS => v.add(
                "message_ids",
                format!("{n} ids; at most {MAX_ACK_IDS} per call are allowed"),
            ),
            _ => {}
        }
        for (i, id) in message_ids.iter().enumerate() {
            if id.is_empty() {
                v.add(format!("message_ids[{i}]"), "is required");
            }
        }
        if kind.is_none() {
            v.add(
                "kind",
                "is required: ACK_KIND_DELIVERED or ACK_KIND_CLICKED",
            );
        }
        v.into_result().map_err(ChannelError::Invalid)?;
        // An id named twice is acked once and, if unknown, reported once.
        let mut unique: Vec<String> = Vec::with_capacity(message_ids.len());
        for id in message_ids {
            if !unique.contains(id) {
                unique.push(id.clone());
            }
        }
        let clicked = kind == Some(AckKind::Clicked);
        Ok(self
            .inner
            .store
            .inbox
            .ack(app, user, device_id, &unique, clicked, now_ms())
            .await?)
    }
}
