//! Plumbing of the dispatchers that send many devices in one request: bindings without a token are answered
//! without asking the vendor, the vendor's per-token outcomes go back into the bindings' places, and a device
//! the answer does not cover counts as failed transiently.

use super::{Answered, Outcome, VendorAnswer};
use crate::store::bindings::BindingRecord;

/// The tokens to send and, for bindings that have none, their answer already decided.
pub(crate) fn split_empty<'a>(
    batch: &[&'a BindingRecord],
    why: &str,
) -> (Vec<&'a str>, Vec<Option<Answered>>) {
    let mut tokens = Vec::with_capacity(batch.len());
    let answers = batch
        .iter()
        .map(|b| {
            if b.device_token.is_empty() {
                Some(Answered::unanswered(Outcome::InvalidToken {
                    reason: why.into(),
                }))
            } else {
                tokens.push(b.device_token.as_str());
                None
            }
        })
        .collect();
    (tokens, answers)
}

/// Puts the per-token outcomes, in order, into the undecided places of `answers`.
pub(crate) fn fill(answers: &mut [Option<Answered>], per_token: Vec<Outcome>, raw: &VendorAnswer) {
    let mut outcomes = per_token.into_iter();
    for slot in answers.iter_mut().filter(|a| a.is_none()) {
        if let Some(outcome) = outcomes.next() {
            *slot = Some(Answered {
                outcome,
                answer: raw.clone(),
            });
        }
    }
}

/// The answer of a device the vendor's answer did not cover: tried again.
pub(crate) fn lost() -> Answered {
    Answered::unanswered(Outcome::retryable("vendor answer did not cover the device"))
}

/// The answers once every place is filled: a place still empty is [`lost`].
pub(crate) fn settled(answers: Vec<Option<Answered>>) -> Vec<Answered> {
    answers
        .into_iter()
        .map(|a| a.unwrap_or_else(lost))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_tokens_are_refused_without_a_request_and_the_rest_keep_their_order() {
        let bindings: Vec<BindingRecord> = ["x", "", "y"]
            .iter()
            .map(|t| BindingRecord {
                device_token: (*t).into(),
                ..Default::default()
            })
            .collect();
        let refs: Vec<&BindingRecord> = bindings.iter().collect();
        let (tokens, mut answers) = split_empty(&refs, "empty");
        assert_eq!(tokens, ["x", "y"]);
        let raw = VendorAnswer {
            status: 200,
            body: "{}".into(),
        };
        fill(
            &mut answers,
            vec![
                Outcome::Delivered {
                    message_id: "1".into(),
                },
                Outcome::InvalidToken {
                    reason: "bad".into(),
                },
            ],
            &raw,
        );
        let kinds: Vec<_> = answers
            .iter()
            .map(|a| a.as_ref().unwrap().outcome.kind())
            .collect();
        assert_eq!(kinds, ["delivered", "invalid_token", "invalid_token"]);
    }
}
