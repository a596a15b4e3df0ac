//! How a dispatcher turns the batch the lane hands it into vendor requests, the same for every vendor.
//!
//! The vendor's request is built first; a message the vendor would refuse is every device's outcome, and
//! nothing is sent. Vendors that take many devices a request ([`per_token`]): bindings without a token are
//! answered without asking the vendor, the vendor's per-token outcomes go back into the bindings' places, and a
//! device the answer does not cover counts as failed transiently. Vendors that take one device a request
//! ([`one_by_one`]): the devices go one after another. Either way a request that fails before its send is
//! answered (no credential, no answer, a token refused locally) fails with an [`Answered`]: with the token
//! endpoint's answer when a refused grant had one, else without a vendor answer.

use std::future::Future;

use super::{Answered, Outcome, VendorAnswer};
use crate::store::bindings::BindingRecord;

/// Sends the tokens of `batch` in one `request`: `ask` makes it and answers one outcome per token it was
/// given, in order, each with the vendor's answer (see [`shared`]), or fails with the one answer of every
/// device of the batch when the send could not be answered (`?` on an [`Outcome`], a failed grant or no
/// answer). Bindings without a token are answered `InvalidToken` (`why`) and not sent; with no token left, no
/// request is made.
pub(crate) async fn per_token<'a, 'r, R, F, Fut>(
    batch: &[&'a BindingRecord],
    request: &'r Result<R, Outcome>,
    why: &str,
    ask: F,
) -> Vec<Answered>
where
    F: FnOnce(&'r R, Vec<&'a str>) -> Fut,
    Fut: Future<Output = Result<Vec<Answered>, Answered>>,
{
    let request = match request {
        Ok(r) => r,
        Err(refusal) => return vec![Answered::unanswered(refusal.clone()); batch.len()],
    };
    let (tokens, mut answers) = split_empty(batch, why);
    if tokens.is_empty() {
        return settled(answers);
    }
    match ask(request, tokens).await {
        Ok(per_token) => {
            fill(&mut answers, per_token);
            settled(answers)
        }
        Err(answered) => vec![answered; batch.len()],
    }
}

/// The per-token answers of a vendor answer that speaks for all its tokens at once: each outcome with the
/// same (shared, not copied) answer.
pub(crate) fn shared(outcomes: Vec<Outcome>, raw: VendorAnswer) -> Vec<Answered> {
    outcomes
        .into_iter()
        .map(|outcome| Answered {
            outcome,
            answer: raw.clone(),
        })
        .collect()
}

/// Sends `request` to the devices of `batch` one request each, one after another; a device whose `send` fails
/// (decided before its send was answered) is answered with that failure.
pub(crate) async fn one_by_one<'a, 'r, R, F, Fut>(
    batch: &[&'a BindingRecord],
    request: &'r Result<R, Outcome>,
    mut send: F,
) -> Vec<Answered>
where
    F: FnMut(&'r R, &'a BindingRecord) -> Fut,
    Fut: Future<Output = Result<Answered, Answered>>,
{
    let request = match request {
        Ok(r) => r,
        Err(refusal) => return vec![Answered::unanswered(refusal.clone()); batch.len()],
    };
    let mut answers = Vec::with_capacity(batch.len());
    for binding in batch {
        answers.push(match send(request, binding).await {
            Ok(answered) | Err(answered) => answered,
        });
    }
    answers
}

/// The tokens to send and, for bindings that have none, their answer already decided.
fn split_empty<'a>(
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

/// Puts the per-token answers, in order, into the undecided places of `answers`.
fn fill(answers: &mut [Option<Answered>], per_token: Vec<Answered>) {
    let mut per_token = per_token.into_iter();
    for slot in answers.iter_mut().filter(|a| a.is_none()) {
        if let Some(answered) = per_token.next() {
            *slot = Some(answered);
        }
    }
}

/// The answer of a device the vendor's answer did not cover: tried again.
fn lost() -> Answered {
    Answered::unanswered(Outcome::retryable("vendor answer did not cover the device"))
}

/// The answers once every place is filled: a place still empty is [`lost`].
fn settled(answers: Vec<Option<Answered>>) -> Vec<Answered> {
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
            shared(
                vec![
                    Outcome::Delivered {
                        message_id: "1".into(),
                    },
                    Outcome::InvalidToken {
                        reason: "bad".into(),
                    },
                ],
                raw,
            ),
        );
        let kinds: Vec<_> = answers
            .iter()
            .map(|a| a.as_ref().unwrap().outcome.kind())
            .collect();
        assert_eq!(kinds, ["delivered", "invalid_token", "invalid_token"]);
    }
}
