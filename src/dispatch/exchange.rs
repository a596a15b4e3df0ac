//! One vendor request and its answer, read whole: every dispatcher sends the same way and reads the same three
//! things back (status, Retry-After, body), so a request that got no answer fails the same way for every
//! vendor too.

use std::time::Duration;

use super::{Answered, Outcome, VendorAnswer};

/// No answer came: a timeout, a reset, a refused connection, or an answer cut off while it was read. Every
/// device of the request gets it as a transient [`Outcome`].
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct NoAnswer(#[from] reqwest::Error);

impl From<NoAnswer> for Outcome {
    fn from(NoAnswer(error): NoAnswer) -> Self {
        let what = if error.is_timeout() {
            "timeout"
        } else if error.is_connect() {
            "connect failed"
        } else {
            "connection failed"
        };
        // The source chain says which (reset by peer, certificate unknown...); keep it for the caller.
        let mut detail = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(s) = source {
            detail.push_str(": ");
            detail.push_str(&s.to_string());
            source = s.source();
        }
        Outcome::retryable(format!("{what}: {detail}"))
    }
}

impl From<NoAnswer> for Answered {
    fn from(error: NoAnswer) -> Self {
        Answered::unanswered(error.into())
    }
}

/// A vendor's answer, read whole.
#[derive(Debug)]
pub(crate) struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// How long the vendor asked us to wait, when it said (Retry-After in seconds).
    pub wait: Option<Duration>,
    /// The body as text.
    pub body: String,
}

impl Reply {
    /// Reads `response` whole.
    pub async fn read(response: reqwest::Response) -> Result<Self, NoAnswer> {
        let status = response.status().as_u16();
        let wait = retry_after(response.headers());
        let body = response.text().await?;
        Ok(Self { status, wait, body })
    }

    /// The raw answer kept with the outcomes it decided.
    pub fn answer(self) -> VendorAnswer {
        VendorAnswer {
            status: self.status,
            body: self.body.into(),
        }
    }

    /// `outcome` with this raw answer.
    pub fn answered(self, outcome: Outcome) -> Answered {
        Answered {
            outcome,
            answer: self.answer(),
        }
    }
}

/// Sends `request` and reads its answer whole.
pub(crate) async fn exchange(request: reqwest::RequestBuilder) -> Result<Reply, NoAnswer> {
    Reply::read(request.send().await?).await
}

/// Parses a Retry-After header given in seconds (the vendors here send no HTTP dates).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}
