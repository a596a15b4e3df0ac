//! Easemob's name for the channel a push went out on: the vendor's (`APNS`, `ANDROID` for FCM, `HUAWEI`, ...),
//! `EASEMOB` for the own channel, empty when nothing was reached. Delivery events, callbacks, the event
//! stream's filter and the metrics all carry it, so it sits on the bottom floor.

use crate::proto::v1::{DeliveryChannel, Vendor};

/// The name of a delivery over `channel`, through `vendor` when it is a vendor's.
pub fn name(channel: DeliveryChannel, vendor: Vendor) -> &'static str {
    match channel {
        DeliveryChannel::Own => "EASEMOB",
        DeliveryChannel::Unspecified => "",
        DeliveryChannel::Vendor => match vendor {
            Vendor::Apns => "APNS",
            Vendor::Fcm => "ANDROID",
            Vendor::Huawei => "HUAWEI",
            Vendor::Honor => "HONOR",
            Vendor::Xiaomi => "XIAOMI",
            Vendor::Oppo => "OPPO",
            Vendor::Vivo => "VIVO",
            Vendor::Meizu => "MEIZU",
            Vendor::Unspecified => "",
        },
    }
}

/// Every name a delivery can carry.
pub const ALL: [&str; 9] = [
    "APNS", "ANDROID", "HUAWEI", "HONOR", "XIAOMI", "OPPO", "VIVO", "MEIZU", "EASEMOB",
];
