//! Firebase Cloud Messaging over the HTTP v1 API: `POST {base}/v1/projects/{project}/messages:send`, one
//! device per request, authorised with an OAuth access token from the notifier's service account.

mod oauth;
mod payload;
mod reasons;

use async_trait::async_trait;
use reqwest::header::AUTHORIZATION;
use serde::Deserialize;

pub use oauth::{AccessTokens, SCOPE, ServiceAccount};
pub use payload::{Defaults, FcmRequest, MAX_PAYLOAD, MAX_TTL, build};
pub use reasons::outcome;

use super::{
    Answered, DispatchConfig, DispatchError, Dispatcher, Outcome, Rendered, batch::one_by_one,
    endpoint, exchange::exchange, notifier_client,
};
use crate::{
    proto::v1::{FcmCredentials, Notifier, Vendor},
    store::bindings::BindingRecord,
};

/// Google's FCM host.
pub const DEFAULT_URL: &str = "https://fcm.googleapis.com";

/// The FCM dispatcher of one notifier.
pub struct FcmDispatcher {
    http: reqwest::Client,
    send_url: String,
    tokens: AccessTokens,
    default_channel_id: String,
    default_click_action: String,
}

#[derive(Deserialize)]
struct Sent {
    #[serde(default)]
    name: String,
}

#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    error: ErrorStatus,
}

#[derive(Deserialize, Default)]
struct ErrorStatus {
    #[serde(default)]
    message: String,
    #[serde(default)]
    details: Vec<ErrorDetail>,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(rename = "@type", default)]
    kind: String,
    #[serde(rename = "errorCode", default)]
    error_code: String,
}

impl FcmDispatcher {
    /// A dispatcher for `notifier` with its opened `credentials`.
    pub fn new(
        notifier: &Notifier,
        credentials: FcmCredentials,
        config: &DispatchConfig,
        global_ca_pem: &str,
    ) -> Result<Self, DispatchError> {
        let http = notifier_client(notifier, config, global_ca_pem)?;
        let tokens = AccessTokens::new(ServiceAccount::new(
            &credentials.service_account_json,
            &notifier.token_base_url,
            http.clone(),
        )?);
        if credentials.project_id.is_empty() {
            return Err(DispatchError::Credentials("FCM project id is empty".into()));
        }
        Ok(Self {
            send_url: endpoint(
                &notifier.send_base_url,
                DEFAULT_URL,
                &format!("/v1/projects/{}/messages:send", credentials.project_id),
            ),
            http,
            tokens,
            default_channel_id: notifier.default_channel_id.clone(),
            default_click_action: notifier.default_click_action.clone(),
        })
    }

    /// OAuth grants requested so far.
    pub fn grants(&self) -> u64 {
        self.tokens.fetches()
    }

    fn defaults(&self) -> Defaults<'_> {
        Defaults {
            channel_id: &self.default_channel_id,
            click_action: &self.default_click_action,
        }
    }

    /// One device in one request: the vendor's answer, or the device's answer when its send could not be made
    /// or answered (a refused grant's carries the token endpoint's answer).
    async fn send_one(
        &self,
        binding: &BindingRecord,
        request: &FcmRequest,
    ) -> Result<Answered, Answered> {
        if binding.device_token.is_empty() {
            return Err(Outcome::InvalidToken {
                reason: "empty FCM registration token".into(),
            }
            .into());
        }
        let access = self.tokens.current().await?;
        let reply = exchange(
            self.http
                .post(&self.send_url)
                .header(AUTHORIZATION, format!("Bearer {}", access.value))
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(request.body_for(&binding.device_token)),
        )
        .await?;
        let status = reply.status;
        if (200..300).contains(&status) {
            let name = serde_json::from_str::<Sent>(&reply.body)
                .map(|s| s.name)
                .unwrap_or_default();
            return Ok(reply.answered(Outcome::Delivered { message_id: name }));
        }
        let error = serde_json::from_str::<ErrorBody>(&reply.body)
            .unwrap_or_default()
            .error;
        let code = error
            .details
            .iter()
            .find(|d| d.kind.ends_with("google.firebase.fcm.v1.FcmError"))
            .map(|d| d.error_code.as_str())
            .unwrap_or("");
        if reasons::access_token_refused(status, code) {
            self.tokens.refused(&access);
        }
        let outcome = outcome(status, code, &error.message, reply.wait);
        Ok(reply.answered(outcome))
    }
}

#[async_trait]
impl Dispatcher for FcmDispatcher {
    fn vendor(&self) -> Vendor {
        Vendor::Fcm
    }

    fn max_batch(&self) -> usize {
        1
    }

    fn check(&self, message: &Rendered) -> Result<(), Outcome> {
        build(message, &self.defaults()).map(|_| ())
    }

    async fn send(&self, batch: &[&BindingRecord], message: &Rendered) -> Vec<Answered> {
        let request = build(message, &self.defaults());
        one_by_one(batch, &request, |request, binding| {
            self.send_one(binding, request)
        })
        .await
    }
}
