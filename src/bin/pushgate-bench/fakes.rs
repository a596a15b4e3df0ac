//! What the scenarios share about the sandbox vendors: device tokens of each vendor's shape, and the fake
//! behind a vendor.

use pushgate::{
    proto::v1::Vendor,
    sandbox::{FakeCore, Sandbox},
};

/// A device token of the shape the vendor hands out (the fakes check the shape: APNs hex, FCM's long
/// registration tokens).
pub fn token(vendor: Vendor, n: usize) -> String {
    match vendor {
        Vendor::Apns => format!("{n:064x}"),
        Vendor::Fcm => format!("dev{n:016x}:APA91b{}", "x".repeat(140)),
        _ => format!("tok{n:016x}"),
    }
}

/// The fake that answers for `vendor` (its counters and recording switch).
pub fn core(sandbox: &Sandbox, vendor: Vendor) -> &FakeCore {
    match vendor {
        Vendor::Apns => sandbox.apns().core(),
        Vendor::Fcm => sandbox.fcm().core(),
        Vendor::Huawei => sandbox.huawei().core(),
        Vendor::Honor => sandbox.honor().core(),
        Vendor::Xiaomi => sandbox.xiaomi().core(),
        Vendor::Oppo => sandbox.oppo().core(),
        Vendor::Vivo => sandbox.vivo().core(),
        _ => sandbox.meizu().core(),
    }
}
