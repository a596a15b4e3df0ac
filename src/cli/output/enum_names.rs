//! The names people read for the API's enums: lower-case words, Easemob's spelling where its callbacks have
//! one, and the number for a value this build does not know.

use pushgate::proto::v1::{
    DeliveryChannel, DeliveryStatus, FailureReason, LabelMatch, Strategy, TaskKind, TaskState,
    Vendor,
};

use super::name_of;

/// Name of an enum value the server sent, or its number when this build does not know it (a newer server).
macro_rules! enum_names {
    ($(#[$doc:meta] $fn:ident: $ty:ty, |$v:ident| $human:expr;)*) => {$(
        #[$doc]
        pub fn $fn(value: i32) -> String {
            name_of(value, |$v: $ty| $human)
        }
    )*};
}

enum_names! {
    /// A task state for people: `running`, `completed`, ...
    state_name: TaskState, |s| match s {
        TaskState::Unspecified => "unspecified",
        TaskState::Scheduled => "scheduled",
        TaskState::Running => "running",
        TaskState::Completed => "completed",
        TaskState::Cancelled => "cancelled",
        TaskState::Failed => "failed",
    };
    /// A task kind for people: `broadcast`, `label`, `list`.
    kind_name: TaskKind, |k| match k {
        TaskKind::Unspecified => "unspecified",
        TaskKind::Broadcast => "broadcast",
        TaskKind::Label => "label",
        TaskKind::List => "list",
    };
    /// A strategy for people, with the Easemob number it stands for.
    strategy_name: Strategy, |s| match s {
        Strategy::Unspecified => "default (vendor-only, Easemob 2)",
        Strategy::VendorFirst => "vendor-first (Easemob 0)",
        Strategy::ChannelOnly => "channel-only (Easemob 1)",
        Strategy::VendorOnly => "vendor-only (Easemob 2)",
        Strategy::ChannelFirst => "channel-first (Easemob 3)",
        Strategy::ChannelOnlineOnly => "channel-online-only (Easemob 4)",
    };
    /// How labels combine, for people: `any`, `all`.
    label_match_name: LabelMatch, |m| match m {
        LabelMatch::Unspecified | LabelMatch::Any => "any",
        LabelMatch::All => "all",
    };
    /// A delivery channel for people: `vendor`, `own`, and `none` for a push that reached no channel.
    channel_name: DeliveryChannel, |c| match c {
        DeliveryChannel::Unspecified => "none",
        DeliveryChannel::Vendor => "vendor",
        DeliveryChannel::Own => "own",
    };
    /// A delivery status as Easemob's callback spells it: `success`, `fail`, `error`.
    status_name: DeliveryStatus, |s| match s {
        DeliveryStatus::Unspecified => "unspecified",
        DeliveryStatus::Success => "success",
        DeliveryStatus::Fail => "fail",
        DeliveryStatus::Error => "error",
    };
    /// A failure reason as Easemob's callback spells it: `no push binding`, ...
    reason_name: FailureReason, |r| match r {
        FailureReason::Unspecified => "unspecified",
        FailureReason::NoPushBinding => "no push binding",
        FailureReason::IllegalBinding => "illegal binding",
        FailureReason::NoUserExist => "no user exist",
        FailureReason::NotifierOutOfLimit => "notifier out of limit",
        FailureReason::NotifierDisabled => "notifier disabled",
        FailureReason::NotifierIsBan => "notifier is ban",
        FailureReason::NoNotifierExist => "no notifier exist",
        FailureReason::InvalidNotifier => "invalid notifier",
        FailureReason::MessageIgnorePush => "message ignore push",
        FailureReason::InvalidMessage => "invalid message",
        FailureReason::ExpireMessage => "expire message",
        FailureReason::UserIgnorePush => "user ignore push",
        FailureReason::IgnorePushDeviceId => "ignore push device id",
        FailureReason::InvalidVoipNotification => "invalid VOIP notification",
        FailureReason::GetPushTokenFail => "get push token fail",
        FailureReason::PushYetButFail => "push yet but fail",
    };
    /// A vendor for people: `APNs`, `FCM`, `Huawei`, ...
    vendor_name: Vendor, |v| match v {
        Vendor::Unspecified => "unspecified",
        Vendor::Apns => "APNs",
        Vendor::Fcm => "FCM",
        Vendor::Huawei => "Huawei",
        Vendor::Honor => "Honor",
        Vendor::Xiaomi => "Xiaomi",
        Vendor::Oppo => "OPPO",
        Vendor::Vivo => "vivo",
        Vendor::Meizu => "Meizu",
    };
}
