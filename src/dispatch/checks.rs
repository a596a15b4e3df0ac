//! Payload checks every non-APNs dispatcher shares.

use super::{Outcome, Rendered};
use crate::proto::v1::ApnsPushType;

/// Refuses a VoIP push: only APNs notifiers carry VoIP (PushKit) pushes.
pub fn not_voip(message: &Rendered) -> Result<(), Outcome> {
    let voip = message
        .message
        .apns
        .as_ref()
        .is_some_and(|a| a.push_type() == ApnsPushType::Voip);
    if voip {
        return Err(Outcome::InvalidVoip {
            reason: "VoIP pushes go through APNs notifiers only".into(),
        });
    }
    Ok(())
}
