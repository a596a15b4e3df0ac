//! Honor Push: `POST {base}/api/v1/{appId}/sendMessage` with up to 1000 tokens per request, authorised with an
//! OAuth client-credentials access token and a `timestamp` header (Unix milliseconds).
//!
//! Endpoints and headers confirmed from Honor's "发送下行消息" guide: token
//! `https://iam.developer.hihonor.com/auth/realms/developer/protocol/openid-connect/token` (form
//! `grant_type=client_credentials&client_id&client_secret`), send
//! `https://push-api.cloud.hihonor.com/api/v1/{APPID}/sendMessage` with `Content-Type: application/json;
//! charset=UTF-8`, `Authorization: Bearer <token>`, `timestamp: <ms>`.

mod payload;
mod reasons;

use async_trait::async_trait;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde::Deserialize;

pub use payload::{Defaults, HonorRequest, MAX_PAYLOAD, MAX_TOKENS, MAX_TTL, build};
pub use reasons::outcome;

use super::{
    Answered, DispatchConfig, DispatchError, Dispatcher, Outcome, Rendered, Tokens,
    batch::{per_token, shared},
    endpoint,
    exchange::exchange,
    huawei::ClientCredentials,
    notifier_client,
};
use crate::{
    clock::now_ms,
    proto::v1::{HonorCredentials, Notifier, Vendor},
    store::bindings::BindingRecord,
};

/// Honor's push host.
pub const DEFAULT_SEND_URL: &str = "https://push-api.cloud.hihonor.com";
/// Honor's identity host.
pub const DEFAULT_TOKEN_URL: &str = "https://iam.developer.hihonor.com";
/// The token path under the identity host (a Keycloak realm).
pub const TOKEN_PATH: &str = "/auth/realms/developer/protocol/openid-connect/token";

/// The Honor dispatcher of one notifier.
pub struct HonorDispatcher {
    http: reqwest::Client,
    send_url: String,
    tokens: Tokens<ClientCredentials>,
    default_click_action: String,
}

/// Honor's answer body.
#[derive(Deserialize, Default, Debug)]
pub(crate) struct Answer {
    #[serde(default)]
    code: serde_json::Value,
    #[serde(default)]
    message: String,
    #[serde(default)]
    data: Option<Data>,
}

#[derive(Deserialize, Default, Debug)]
struct Data {
    #[serde(default, rename = "requestId")]
    request_id: String,
    #[serde(default, rename = "failTokens")]
    fail_tokens: Vec<String>,
    #[serde(default, rename = "expireTokens")]
    expire_tokens: Vec<String>,
}

impl Answer {
    /// The code, whether Honor wrote it as a number or a string; 0 when absent.
    fn code(&self) -> i64 {
        match &self.code {
            serde_json::Value::Number(n) => n.as_i64().unwrap_or(0),
            serde_json::Value::String(s) => s.trim().parse().unwrap_or(0),
            _ => 0,
        }
    }
}

impl HonorDispatcher {
    /// A dispatcher for `notifier` with its opened `credentials`.
    pub fn new(
        notifier: &Notifier,
        credentials: HonorCredentials,
        config: &DispatchConfig,
        global_ca_pem: &str,
    ) -> Result<Self, DispatchError> {
        DispatchError::require(
            &[
                &credentials.app_id,
                &credentials.client_id,
                &credentials.client_secret,
            ],
            "Honor app id, client id and client secret",
        )?;
        let http = notifier_client(notifier, config, global_ca_pem)?;
        Ok(Self {
            send_url: endpoint(
                &notifier.send_base_url,
                DEFAULT_SEND_URL,
                &format!("/api/v1/{}/sendMessage", credentials.app_id),
            ),
            tokens: Tokens::new(ClientCredentials::new(
                endpoint(&notifier.token_base_url, DEFAULT_TOKEN_URL, TOKEN_PATH),
                &credentials.client_id,
                &credentials.client_secret,
                http.clone(),
            )),
            http,
            default_click_action: notifier.default_click_action.clone(),
        })
    }

    /// The send endpoint.
    pub fn send_url(&self) -> &str {
        &self.send_url
    }

    /// The token endpoint.
    pub fn token_url(&self) -> &str {
        self.tokens.url()
    }

    /// OAuth grants requested so far.
    pub fn grants(&self) -> u64 {
        self.tokens.fetches()
    }

    fn defaults(&self) -> Defaults<'_> {
        Defaults {
            click_action: &self.default_click_action,
        }
    }
}

#[async_trait]
impl Dispatcher for HonorDispatcher {
    fn vendor(&self) -> Vendor {
        Vendor::Honor
    }

    fn max_batch(&self) -> usize {
        MAX_TOKENS
    }

    fn check(&self, message: &Rendered) -> Result<(), Outcome> {
        build(message, &self.defaults()).map(|_| ())
    }

    async fn send(&self, batch: &[&BindingRecord], message: &Rendered) -> Vec<Answered> {
        let request = build(message, &self.defaults());
        per_token(
            batch,
            &request,
            "empty Honor push token",
            |request, tokens| async move {
                let access = self.tokens.current().await?;
                let reply = exchange(
                    self.http
                        .post(&self.send_url)
                        .header(AUTHORIZATION, format!("Bearer {}", access.value))
                        .header(CONTENT_TYPE, "application/json; charset=UTF-8")
                        .header("timestamp", now_ms().to_string())
                        .body(request.body_for(&tokens)),
                )
                .await?;
                let answer: Answer = serde_json::from_str(&reply.body).unwrap_or_default();
                if reasons::access_token_refused(reply.status, answer.code()) {
                    self.tokens.refused(&access);
                }
                let per_token = resolve(reply.status, &answer, &tokens, reply.wait);
                Ok(shared(per_token, reply.answer()))
            },
        )
        .await
    }
}

/// One outcome per token: a success or partial success resolves each token against `expireTokens` (unbind)
/// and `failTokens` (not delivered, kept bound: Honor does not say why); any other code is the whole
/// request's outcome.
pub(crate) fn resolve(
    status: u16,
    answer: &Answer,
    tokens: &[&str],
    wait: Option<std::time::Duration>,
) -> Vec<Outcome> {
    let code = answer.code();
    let ok = (200..300).contains(&status) && matches!(code, reasons::SUCCESS | reasons::PARTIAL);
    if !ok {
        let o = outcome(status, code, &answer.message, wait);
        return tokens.iter().map(|_| o.clone()).collect();
    }
    let data = answer.data.as_ref();
    let request_id = data.map(|d| d.request_id.clone()).unwrap_or_default();
    tokens
        .iter()
        .map(|t| {
            let listed =
                |list: Option<&Vec<String>>| list.is_some_and(|l| l.iter().any(|x| x == t));
            if listed(data.map(|d| &d.expire_tokens)) {
                Outcome::InvalidToken {
                    reason: "Honor: expired token".into(),
                }
            } else if listed(data.map(|d| &d.fail_tokens)) {
                Outcome::Rejected {
                    reason: format!("Honor: token failed ({})", answer.message),
                }
            } else {
                Outcome::Delivered {
                    message_id: request_id.clone(),
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Answer {
        serde_json::from_str(body).unwrap()
    }

    fn kinds(outcomes: &[Outcome]) -> Vec<&'static str> {
        outcomes.iter().map(Outcome::kind).collect()
    }

    #[test]
    fn success_and_per_token_failures() {
        let a = parse(
            r#"{"code":200,"message":"success","data":{"sendResult":true,"requestId":"r9",
                "failTokens":["b"],"expireTokens":["c"]}}"#,
        );
        let out = resolve(200, &a, &["a", "b", "c"], None);
        assert_eq!(kinds(&out), ["delivered", "rejected", "invalid_token"]);
        assert_eq!(
            out[0],
            Outcome::Delivered {
                message_id: "r9".into()
            }
        );
    }

    #[test]
    fn string_codes_and_whole_request_errors() {
        let out = resolve(
            200,
            &parse(r#"{"code":"80300007","message":"invalid"}"#),
            &["a"],
            None,
        );
        assert_eq!(kinds(&out), ["invalid_token"]);
        let out = resolve(
            401,
            &parse(r#"{"code":80200003,"message":"expired"}"#),
            &["a"],
            None,
        );
        assert_eq!(kinds(&out), ["auth_failed"]);
        let out = resolve(503, &Answer::default(), &["a", "b"], None);
        assert_eq!(kinds(&out), ["rate_limited", "rate_limited"]);
    }

    #[test]
    fn endpoints_default_to_honor_and_follow_overrides() {
        let config = DispatchConfig::default();
        let creds = HonorCredentials {
            app_id: "104".into(),
            client_id: "cid".into(),
            client_secret: "s".into(),
        };
        let d = HonorDispatcher::new(&Notifier::default(), creds.clone(), &config, "").unwrap();
        assert_eq!(
            d.send_url(),
            "https://push-api.cloud.hihonor.com/api/v1/104/sendMessage"
        );
        assert_eq!(
            d.token_url(),
            "https://iam.developer.hihonor.com/auth/realms/developer/protocol/openid-connect/token"
        );
        assert_eq!(d.max_batch(), 1000);
        let notifier = Notifier {
            send_base_url: "http://127.0.0.1:9/honor".into(),
            token_base_url: "http://127.0.0.1:9/iam".into(),
            ..Default::default()
        };
        let d = HonorDispatcher::new(&notifier, creds, &config, "").unwrap();
        assert_eq!(
            d.send_url(),
            "http://127.0.0.1:9/honor/api/v1/104/sendMessage"
        );
        assert!(
            d.token_url()
                .starts_with("http://127.0.0.1:9/iam/auth/realms/")
        );
    }
}
