//! One webhook POST: the body, its signature headers, a bounded wait, and what the answer means.

use std::time::Duration;

use super::body::{POSITION_HEADER, RULE_HEADER, SIGNATURE_HEADER, body, signature};
use crate::{
    clock::now_ms,
    dispatch::{ClientOptions, DispatchError, client},
    proto::v1::DeliveryEvent,
};

/// Most characters of an answer's body kept as a failed attempt's error.
const ERROR_EXCERPT: usize = 200;

/// What one POST came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// A 2xx answer.
    Delivered,
    /// Any other answer, or none.
    Failed {
        /// The HTTP status; 0 when no answer came (connect error, timeout).
        http_status: u16,
        /// What went wrong: the transport error, or the start of the answer's body.
        error: String,
    },
}

/// Posts callbacks, sharing pooled connections across rules.
#[derive(Clone)]
pub struct Poster {
    http: reqwest::Client,
}

impl Poster {
    /// A poster whose requests take at most `request_timeout`, trusting the public web roots and
    /// `extra_ca_pem` (the server-wide extra CAs).
    pub fn new(request_timeout: Duration, extra_ca_pem: &str) -> Result<Self, DispatchError> {
        Ok(Self {
            http: client(ClientOptions {
                extra_ca_pems: &[extra_ca_pem],
                identity: None,
                http2_only: false,
                connect_timeout: request_timeout.min(Duration::from_secs(5)),
                request_timeout,
                egress: None,
            })?,
        })
    }

    /// POSTs `event` to `url` for the rule `rule` signed with `secret`.
    pub async fn post(
        &self,
        url: &str,
        rule: &str,
        secret: &str,
        event: &DeliveryEvent,
    ) -> Attempt {
        let body = body(event, secret);
        let signed = signature(secret, now_ms(), &body);
        let request = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signed)
            .header(RULE_HEADER, rule)
            .header(POSITION_HEADER, event.position.to_string())
            .body(body);
        let answer = match request.send().await {
            Ok(answer) => answer,
            Err(e) => {
                return Attempt::Failed {
                    http_status: 0,
                    error: transport_error(&e),
                };
            }
        };
        let status = answer.status();
        if status.is_success() {
            return Attempt::Delivered;
        }
        // The body is read within the same timeout; a receiver that stalls here still only costs the timeout.
        let text = answer.text().await.unwrap_or_default();
        let excerpt: String = text.chars().take(ERROR_EXCERPT).collect();
        Attempt::Failed {
            http_status: status.as_u16(),
            error: if excerpt.is_empty() {
                format!("HTTP {}", status.as_u16())
            } else {
                format!("HTTP {}: {excerpt}", status.as_u16())
            },
        }
    }
}

/// A transport error with its causes, which reqwest keeps in its source chain.
fn transport_error(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        "timed out".to_owned()
    } else {
        e.to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
