//! Apple Push Notification service over its HTTP/2 provider API.
//!
//! The `a2` crate hard-wires Apple's hosts and trust roots, so it cannot reach the sandbox, a staging host or a
//! test double; pushes go over our own reqwest HTTP/2 client instead, whose endpoint and trusted CAs come from
//! the notifier. One request per device; throughput comes from concurrent streams on one connection.

mod payload;
mod reasons;
mod shared_token;
mod token;

use async_trait::async_trait;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};

pub use payload::{ApnsRequest, MAX_PAYLOAD, MAX_VOIP_PAYLOAD, Target, build};
pub use reasons::outcome;
pub use shared_token::TokenShare;
pub use token::ProviderTokens;

use super::{
    Answered, ClientIdentity, ClientOptions, DispatchConfig, DispatchError, Dispatcher, Outcome,
    Rendered, VendorAnswer,
    batch::one_by_one,
    client, endpoint,
    exchange::{NoAnswer, Reply},
};
use crate::{
    proto::v1::{
        ApnsCredentials, ApnsEnvironment, Notifier, Vendor, apns_certificate_auth::Format,
        apns_credentials::Auth,
    },
    store::bindings::BindingRecord,
};

/// Apple's production host.
pub const PRODUCTION_URL: &str = "https://api.push.apple.com";
/// Apple's development (sandbox) host.
pub const DEVELOPMENT_URL: &str = "https://api.sandbox.push.apple.com";

/// How requests prove who sends them.
enum Proof {
    /// A provider token in the `authorization` header.
    Token(Box<ProviderTokens>),
    /// The TLS client certificate; nothing in the request.
    Certificate,
}

/// The APNs dispatcher of one notifier.
pub struct ApnsDispatcher {
    http: reqwest::Client,
    base_url: String,
    topic: String,
    voip: bool,
    default_category: String,
    auth: Proof,
}

impl ApnsDispatcher {
    /// A dispatcher for `notifier` with its opened `credentials`.
    pub fn new(
        notifier: &Notifier,
        credentials: ApnsCredentials,
        config: &DispatchConfig,
        global_ca_pem: &str,
        share: Option<TokenShare>,
    ) -> Result<Self, DispatchError> {
        let default_base = match credentials.environment() {
            ApnsEnvironment::Sandbox => DEVELOPMENT_URL,
            _ => PRODUCTION_URL,
        };
        let (auth, identity) = match credentials.auth {
            Some(Auth::Token(t)) => (
                Proof::Token(Box::new(ProviderTokens::new(
                    &t.private_key_pem,
                    &t.key_id,
                    &t.team_id,
                    config.apns_token_refresh,
                    share,
                )?)),
                None,
            ),
            Some(Auth::Certificate(c)) => {
                let identity = match c.format {
                    Some(Format::P12(p)) => ClientIdentity::from_p12(&p.p12, &p.password)?,
                    Some(Format::Pem(p)) => {
                        ClientIdentity::from_pem(&p.certificate_pem, &p.private_key_pem)?
                    }
                    None => return Err(DispatchError::Credentials("no APNs certificate".into())),
                };
                (Proof::Certificate, Some(identity))
            }
            None => return Err(DispatchError::Credentials("no APNs authentication".into())),
        };
        let http = client(ClientOptions {
            extra_ca_pems: &[global_ca_pem, &notifier.extra_ca_certificates_pem],
            identity,
            // Apple speaks HTTP/2 only.
            http2_only: true,
            connect_timeout: config.connect_timeout,
            request_timeout: config.request_timeout,
            egress: Some(config.allowed_endpoints.clone()),
        })?;
        Ok(Self {
            http,
            base_url: endpoint(&notifier.send_base_url, default_base, ""),
            topic: credentials.topic,
            voip: credentials.voip,
            default_category: notifier.default_click_action.clone(),
            auth,
        })
    }

    /// Provider tokens signed so far (0 with certificate auth).
    pub fn tokens_signed(&self) -> u64 {
        match &self.auth {
            Proof::Token(tokens) => tokens.signed(),
            Proof::Certificate => 0,
        }
    }

    fn target(&self) -> Target<'_> {
        Target {
            topic: &self.topic,
            voip_notifier: self.voip,
            default_category: &self.default_category,
        }
    }

    /// One device in one request: the vendor's answer, or the device's unanswered outcome when none could be
    /// had.
    async fn send_one(
        &self,
        binding: &BindingRecord,
        request: &ApnsRequest,
    ) -> Result<Answered, Answered> {
        let token = &binding.device_token;
        // The token goes into the URL path; anything but hex could change the path, and Apple would call it
        // a bad device token anyway.
        if token.is_empty() || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Outcome::InvalidToken {
                reason: "BadDeviceToken (not a hex APNs token)".into(),
            }
            .into());
        }
        let mut builder = self
            .http
            .post(format!("{}/3/device/{}", self.base_url, token))
            .header("apns-push-type", request.push_type)
            .header("apns-topic", &request.topic)
            .header("apns-id", &request.apns_id)
            .header(CONTENT_TYPE, "application/json")
            .body(request.body.clone());
        if let Some(priority) = request.priority {
            builder = builder.header("apns-priority", priority.to_string());
        }
        if let Some(expiration) = request.expiration {
            builder = builder.header("apns-expiration", expiration.to_string());
        }
        if let Some(collapse) = &request.collapse_id {
            builder = builder.header("apns-collapse-id", collapse);
        }
        let mut used_token = None;
        if let Proof::Token(tokens) = &self.auth {
            let jwt = tokens
                .current()
                .await
                .map_err(|reason| Outcome::AuthFailed {
                    reason,
                    at_token_endpoint: true,
                })?;
            builder = builder.header(AUTHORIZATION, format!("bearer {}", jwt.value));
            used_token = Some(jwt);
        }
        let response = builder.send().await.map_err(NoAnswer::from)?;
        // Apple names the accepted push in a header, not in the (empty) body.
        let apns_id = response
            .headers()
            .get("apns-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or(&request.apns_id)
            .to_owned();
        let reply = Reply::read(response).await?;
        let status = reply.status;
        if status == 200 {
            return Ok(Answered {
                outcome: Outcome::Delivered {
                    message_id: apns_id.clone(),
                },
                answer: VendorAnswer {
                    status,
                    body: serde_json::json!({ "apns-id": apns_id }).to_string().into(),
                },
            });
        }
        let reason = serde_json::from_str::<serde_json::Value>(&reply.body)
            .ok()
            .and_then(|v| v.get("reason")?.as_str().map(str::to_owned))
            .unwrap_or_default();
        if let (Proof::Token(tokens), Some(used)) = (&self.auth, &used_token)
            && reasons::provider_token_refused(&reason)
        {
            tokens.refused(used);
        }
        let outcome = outcome(status, &reason, reply.wait);
        Ok(reply.answered(outcome))
    }
}

#[async_trait]
impl Dispatcher for ApnsDispatcher {
    fn vendor(&self) -> Vendor {
        Vendor::Apns
    }

    fn max_batch(&self) -> usize {
        1
    }

    fn check(&self, message: &Rendered) -> Result<(), Outcome> {
        build(message, &self.target()).map(|_| ())
    }

    async fn send(&self, batch: &[&BindingRecord], message: &Rendered) -> Vec<Answered> {
        let request = build(message, &self.target());
        one_by_one(batch, &request, |request, binding| {
            self.send_one(binding, request)
        })
        .await
    }
}

impl std::fmt::Debug for ApnsDispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApnsDispatcher")
            .field("base_url", &self.base_url)
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}
