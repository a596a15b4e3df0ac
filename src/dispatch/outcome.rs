//! What happened to one device of a dispatch: the common outcome every vendor's answers map into.

use std::{sync::Arc, time::Duration};

/// The outcome of pushing to one device through a vendor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The vendor accepted the push.
    Delivered {
        /// The vendor's id for the message (APNs `apns-id`, FCM message name...).
        message_id: String,
    },
    /// The vendor says the device token is not (or no longer) valid: unbind the device.
    InvalidToken {
        /// The vendor's reason.
        reason: String,
    },
    /// The vendor refused the notifier's credentials, after one refresh of any cached token.
    AuthFailed {
        /// The vendor's reason.
        reason: String,
        /// True when the vendor's token (OAuth) endpoint refused, false when the send itself was refused.
        at_token_endpoint: bool,
    },
    /// The vendor asks us to slow down.
    RateLimited {
        /// The vendor's reason.
        reason: String,
        /// How long the vendor asked us to wait, when it said.
        retry_after: Option<Duration>,
    },
    /// The notifier's quota for the vendor's window is used up; the notifier pauses until it resets.
    QuotaExceeded {
        /// The vendor's reason.
        reason: String,
        /// When the window resets, when known.
        retry_after: Option<Duration>,
    },
    /// A transient failure (5xx, timeout, reset, circuit open) that was still failing after the retries.
    Retryable {
        /// What failed.
        reason: String,
        /// How long the vendor asked us to wait, when it said.
        retry_after: Option<Duration>,
    },
    /// The vendor's token (auth) endpoint did not answer or failed transiently, so no request could be
    /// signed: worth another try, and reported apart from send failures (`get push token fail`).
    TokenUnavailable {
        /// What failed.
        reason: String,
    },
    /// The push's time to live ran out before it could be delivered (a retry would come too late).
    Expired {
        /// Why.
        reason: String,
    },
    /// The vendor refused the message itself; sending it again would not help.
    Rejected {
        /// The vendor's reason.
        reason: String,
    },
    /// Refused before any network call: the vendor would not accept the message.
    InvalidMessage {
        /// What is wrong with it.
        reason: String,
    },
    /// Refused before any network call: a VoIP push through a notifier that cannot carry one.
    InvalidVoip {
        /// What is wrong with it.
        reason: String,
    },
}

impl Outcome {
    /// A transient failure with no wait requested.
    pub fn retryable(reason: impl Into<String>) -> Self {
        Outcome::Retryable {
            reason: reason.into(),
            retry_after: None,
        }
    }

    /// Whether another attempt may succeed, so the retry loop should make one.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Outcome::Retryable { .. }
                | Outcome::RateLimited { .. }
                | Outcome::TokenUnavailable { .. }
        )
    }

    /// How long the vendor asked us to wait before the next attempt.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Outcome::RateLimited { retry_after, .. }
            | Outcome::QuotaExceeded { retry_after, .. }
            | Outcome::Retryable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// A short stable name of the outcome's kind, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Outcome::Delivered { .. } => "delivered",
            Outcome::InvalidToken { .. } => "invalid_token",
            Outcome::AuthFailed { .. } => "auth_failed",
            Outcome::RateLimited { .. } => "rate_limited",
            Outcome::QuotaExceeded { .. } => "quota_exceeded",
            Outcome::Retryable { .. } => "retryable",
            Outcome::TokenUnavailable { .. } => "token_unavailable",
            Outcome::Expired { .. } => "expired",
            Outcome::Rejected { .. } => "rejected",
            Outcome::InvalidMessage { .. } => "invalid_message",
            Outcome::InvalidVoip { .. } => "invalid_voip",
        }
    }
}

/// What kind of outcome a vendor's error answer is. Each vendor's table in its `reasons.rs` maps the
/// vendor's codes to a class; the class makes the outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// The device token is not (or no longer) valid.
    InvalidToken,
    /// The vendor refused the auth token itself: the dispatcher drops it and the lane tries once more with
    /// a new one.
    TokenRefused,
    /// The vendor refused the notifier's credentials or permissions.
    Auth,
    /// The vendor asks us to slow down.
    Rate,
    /// The notifier's daily quota is used up; it resets at midnight in China (where every vendor with a
    /// daily quota is).
    DailyQuota,
    /// Server trouble: worth another try.
    Transient,
    /// The message itself was refused.
    Rejected,
}

impl Class {
    /// The outcome of this class with the vendor's `reason` and the wait it asked for, if any (a daily
    /// quota always waits until midnight in China).
    pub(crate) fn outcome(self, reason: String, retry_after: Option<Duration>) -> Outcome {
        match self {
            Class::InvalidToken => Outcome::InvalidToken { reason },
            Class::TokenRefused | Class::Auth => Outcome::AuthFailed {
                reason,
                at_token_endpoint: false,
            },
            Class::Rate => Outcome::RateLimited {
                reason,
                retry_after,
            },
            Class::DailyQuota => Outcome::QuotaExceeded {
                reason,
                retry_after: Some(super::quota::until_china_midnight()),
            },
            Class::Transient => Outcome::Retryable {
                reason,
                retry_after,
            },
            Class::Rejected => Outcome::Rejected { reason },
        }
    }
}

/// The vendor's raw answer to the request that decided an outcome, kept for the caller and callbacks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VendorAnswer {
    /// HTTP status, 0 when no answer arrived (timeout, reset, refused before sending).
    pub status: u16,
    /// The answer's body, or for a body-less answer the headers that carry its meaning, as text. Shared:
    /// one answer to a batch of 1,000 devices is one allocation, not 1,000 copies.
    pub body: Arc<str>,
}

/// The final word on one device of a dispatch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// What happened.
    pub outcome: Outcome,
    /// The vendor's answer to the last attempt.
    pub answer: VendorAnswer,
    /// Vendor requests made for this device (0 when refused before sending).
    pub attempts: u32,
}
