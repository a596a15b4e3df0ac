//! The 16 failure reasons of Easemob's callback and the status class of each outcome.

use crate::{
    dispatch::Outcome,
    proto::v1::{DeliveryStatus, FailureReason},
};

/// Why a push did not reach a device: one of Easemob's 16 reasons, with its status class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Failure {
    /// The user has no device to push to.
    NoPushBinding,
    /// A stored binding lacks its token or notifier.
    IllegalBinding,
    /// Nothing is recorded for the user.
    NoUserExist,
    /// The notifier's vendor quota is used up.
    NotifierOutOfLimit,
    /// The notifier is disabled.
    NotifierDisabled,
    /// The notifier is banned.
    NotifierIsBan,
    /// The binding names a notifier that does not exist.
    NoNotifierExist,
    /// The vendor refused the notifier's credentials.
    InvalidNotifier,
    /// The message asked not to be pushed.
    MessageIgnorePush,
    /// The message breaks a limit of pushgate or the vendor.
    InvalidMessage,
    /// The push waited too long before it could be sent.
    ExpireMessage,
    /// Do-not-disturb held the push back.
    UserIgnorePush,
    /// The message's device filter excludes the device.
    IgnorePushDeviceId,
    /// A VoIP push that the notifier or message cannot carry.
    InvalidVoip,
    /// The vendor's token endpoint failed.
    GetPushTokenFail,
    /// The vendor took the request and reported a failure.
    PushYetButFail,
}

impl Failure {
    /// Every reason, in the order of the proto enum.
    pub const ALL: [Failure; 16] = [
        Failure::NoPushBinding,
        Failure::IllegalBinding,
        Failure::NoUserExist,
        Failure::NotifierOutOfLimit,
        Failure::NotifierDisabled,
        Failure::NotifierIsBan,
        Failure::NoNotifierExist,
        Failure::InvalidNotifier,
        Failure::MessageIgnorePush,
        Failure::InvalidMessage,
        Failure::ExpireMessage,
        Failure::UserIgnorePush,
        Failure::IgnorePushDeviceId,
        Failure::InvalidVoip,
        Failure::GetPushTokenFail,
        Failure::PushYetButFail,
    ];

    /// Easemob's exact string (`desc` of results, `detail` of callbacks).
    pub fn as_str(self) -> &'static str {
        match self {
            Failure::NoPushBinding => "no push binding",
            Failure::IllegalBinding => "illegal binding",
            Failure::NoUserExist => "no user exist",
            Failure::NotifierOutOfLimit => "notifier out of limit",
            Failure::NotifierDisabled => "notifier disabled",
            Failure::NotifierIsBan => "notifier is ban",
            Failure::NoNotifierExist => "no notifier exist",
            Failure::InvalidNotifier => "invalid notifier",
            Failure::MessageIgnorePush => "message ignore push",
            Failure::InvalidMessage => "invalid message",
            Failure::ExpireMessage => "expire message",
            Failure::UserIgnorePush => "user ignore push",
            Failure::IgnorePushDeviceId => "ignore push device id",
            Failure::InvalidVoip => "invalid VOIP notification",
            Failure::GetPushTokenFail => "get push token fail",
            Failure::PushYetButFail => "push yet but fail",
        }
    }

    /// The proto enum value.
    pub fn proto(self) -> FailureReason {
        match self {
            Failure::NoPushBinding => FailureReason::NoPushBinding,
            Failure::IllegalBinding => FailureReason::IllegalBinding,
            Failure::NoUserExist => FailureReason::NoUserExist,
            Failure::NotifierOutOfLimit => FailureReason::NotifierOutOfLimit,
            Failure::NotifierDisabled => FailureReason::NotifierDisabled,
            Failure::NotifierIsBan => FailureReason::NotifierIsBan,
            Failure::NoNotifierExist => FailureReason::NoNotifierExist,
            Failure::InvalidNotifier => FailureReason::InvalidNotifier,
            Failure::MessageIgnorePush => FailureReason::MessageIgnorePush,
            Failure::InvalidMessage => FailureReason::InvalidMessage,
            Failure::ExpireMessage => FailureReason::ExpireMessage,
            Failure::UserIgnorePush => FailureReason::UserIgnorePush,
            Failure::IgnorePushDeviceId => FailureReason::IgnorePushDeviceId,
            Failure::InvalidVoip => FailureReason::InvalidVoipNotification,
            Failure::GetPushTokenFail => FailureReason::GetPushTokenFail,
            Failure::PushYetButFail => FailureReason::PushYetButFail,
        }
    }
}

/// How a vendor outcome is reported: its status class, and the failure reason unless it succeeded.
pub fn classify(outcome: &Outcome) -> (DeliveryStatus, Option<Failure>) {
    use DeliveryStatus::{Error, Fail, Success};
    match outcome {
        Outcome::Delivered { .. } => (Success, None),
        // The vendor took the request and said the token is bad: a failure on the device's side.
        Outcome::InvalidToken { .. } | Outcome::Rejected { .. } => {
            (Fail, Some(Failure::PushYetButFail))
        }
        Outcome::AuthFailed {
            at_token_endpoint: true,
            ..
        } => (Fail, Some(Failure::GetPushTokenFail)),
        Outcome::AuthFailed { .. } => (Fail, Some(Failure::InvalidNotifier)),
        Outcome::QuotaExceeded { .. } => (Fail, Some(Failure::NotifierOutOfLimit)),
        Outcome::InvalidMessage { .. } => (Fail, Some(Failure::InvalidMessage)),
        Outcome::InvalidVoip { .. } => (Fail, Some(Failure::InvalidVoip)),
        Outcome::Expired { .. } => (Fail, Some(Failure::ExpireMessage)),
        // Server-side trouble that outlasted the retries: an error, not the device's fault.
        Outcome::TokenUnavailable { .. } => (Error, Some(Failure::GetPushTokenFail)),
        Outcome::RateLimited { .. } | Outcome::Retryable { .. } => {
            (Error, Some(Failure::PushYetButFail))
        }
    }
}

/// The failure text of `outcome` for `error_message` (server-side errors) or the log; empty on success.
pub fn outcome_text(outcome: &Outcome) -> &str {
    match outcome {
        Outcome::Delivered { .. } => "",
        Outcome::InvalidToken { reason }
        | Outcome::AuthFailed { reason, .. }
        | Outcome::RateLimited { reason, .. }
        | Outcome::QuotaExceeded { reason, .. }
        | Outcome::Retryable { reason, .. }
        | Outcome::TokenUnavailable { reason }
        | Outcome::Expired { reason }
        | Outcome::Rejected { reason }
        | Outcome::InvalidMessage { reason }
        | Outcome::InvalidVoip { reason } => reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_proto_values_follow_the_seed() {
        let strings: std::collections::HashSet<&str> =
            Failure::ALL.iter().map(|f| f.as_str()).collect();
        assert_eq!(strings.len(), 16);
        for (i, f) in Failure::ALL.iter().enumerate() {
            assert_eq!(f.proto() as usize, i + 1, "{f:?}");
        }
        assert_eq!(Failure::InvalidVoip.as_str(), "invalid VOIP notification");
    }

    #[test]
    fn every_outcome_has_its_class() {
        let cases = [
            (
                Outcome::Delivered {
                    message_id: "m".into(),
                },
                DeliveryStatus::Success,
                None,
            ),
            (
                Outcome::InvalidToken { reason: "x".into() },
                DeliveryStatus::Fail,
                Some(Failure::PushYetButFail),
            ),
            (
                Outcome::AuthFailed {
                    reason: "x".into(),
                    at_token_endpoint: true,
                },
                DeliveryStatus::Fail,
                Some(Failure::GetPushTokenFail),
            ),
            (
                Outcome::AuthFailed {
                    reason: "x".into(),
                    at_token_endpoint: false,
                },
                DeliveryStatus::Fail,
                Some(Failure::InvalidNotifier),
            ),
            (
                Outcome::QuotaExceeded {
                    reason: "x".into(),
                    retry_after: None,
                },
                DeliveryStatus::Fail,
                Some(Failure::NotifierOutOfLimit),
            ),
            (
                Outcome::RateLimited {
                    reason: "x".into(),
                    retry_after: None,
                },
                DeliveryStatus::Error,
                Some(Failure::PushYetButFail),
            ),
            (
                Outcome::retryable("x"),
                DeliveryStatus::Error,
                Some(Failure::PushYetButFail),
            ),
            (
                Outcome::TokenUnavailable { reason: "x".into() },
                DeliveryStatus::Error,
                Some(Failure::GetPushTokenFail),
            ),
            (
                Outcome::Expired { reason: "x".into() },
                DeliveryStatus::Fail,
                Some(Failure::ExpireMessage),
            ),
            (
                Outcome::Rejected { reason: "x".into() },
                DeliveryStatus::Fail,
                Some(Failure::PushYetButFail),
            ),
            (
                Outcome::InvalidMessage { reason: "x".into() },
                DeliveryStatus::Fail,
                Some(Failure::InvalidMessage),
            ),
            (
                Outcome::InvalidVoip { reason: "x".into() },
                DeliveryStatus::Fail,
                Some(Failure::InvalidVoip),
            ),
        ];
        for (outcome, status, failure) in cases {
            assert_eq!(classify(&outcome), (status, failure), "{outcome:?}");
        }
    }
}
