//! The outcome of one push to one device, as the send path records it.

use std::sync::Arc;

use super::Failure;
use crate::proto::v1::{DeliveryChannel, DeliveryStatus, DeviceResult, Vendor};

/// What happened to one device (or, for a user without devices, to the user).
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceOutcome {
    /// The device; empty when the user has none.
    pub device_id: String,
    /// The vendor token pushed to; empty for the own channel.
    pub device_token: String,
    /// The binding's notifier; empty for the own channel.
    pub notifier_name: String,
    /// The notifier's vendor.
    pub vendor: Vendor,
    /// Vendor or own channel.
    pub channel: DeliveryChannel,
    /// Success, fail or error.
    pub status: DeliveryStatus,
    /// Why it failed; `None` on success.
    pub failure: Option<Failure>,
    /// The vendor's id for the message.
    pub vendor_message_id: String,
    /// The vendor's answer as it came (shared by the devices of one batch request).
    pub vendor_response: Arc<str>,
    /// Text of the error behind an ERROR status or a failure.
    pub error_message: String,
    /// The vendor called the token invalid and the binding was removed.
    pub binding_removed: bool,
    /// Kept in the own-channel inbox for an offline device.
    pub in_inbox: bool,
}

impl DeviceOutcome {
    /// A failure decided before any delivery was tried.
    pub fn failed(device_id: &str, failure: Failure, error_message: impl Into<String>) -> Self {
        Self {
            device_id: device_id.to_owned(),
            device_token: String::new(),
            notifier_name: String::new(),
            vendor: Vendor::Unspecified,
            channel: DeliveryChannel::Unspecified,
            status: DeliveryStatus::Fail,
            failure: Some(failure),
            vendor_message_id: String::new(),
            vendor_response: Arc::from(""),
            error_message: error_message.into(),
            binding_removed: false,
            in_inbox: false,
        }
    }

    /// The same outcome attributed to the vendor binding `(notifier, vendor, token)`.
    pub fn via(mut self, notifier: &str, vendor: Vendor, token: &str) -> Self {
        self.notifier_name = notifier.to_owned();
        self.vendor = vendor;
        self.device_token = token.to_owned();
        self.channel = DeliveryChannel::Vendor;
        self
    }

    /// The same outcome with another status class.
    pub fn with_status(mut self, status: DeliveryStatus) -> Self {
        self.status = status;
        self
    }

    /// Whether the push reached the device's vendor or channel.
    pub fn succeeded(&self) -> bool {
        self.status == DeliveryStatus::Success
    }

    /// The API form.
    pub fn to_proto(&self) -> DeviceResult {
        DeviceResult {
            status: self.status as i32,
            reason: self.failure.map_or(0, |f| f.proto() as i32),
            desc: self
                .failure
                .map(|f| f.as_str().to_owned())
                .unwrap_or_default(),
            delivery_channel: self.channel as i32,
            vendor: self.vendor as i32,
            notifier_name: self.notifier_name.clone(),
            device_id: self.device_id.clone(),
            vendor_message_id: self.vendor_message_id.clone(),
            vendor_response: self.vendor_response.to_string(),
            error_message: self.error_message.clone(),
            binding_removed: self.binding_removed,
            in_inbox: self.in_inbox,
        }
    }
}
