//! vivo Push: `POST {base}/message/send`, one device per request, authorised by the `authToken` header
//! fetched from `/message/auth` on the same host (or the notifier's `token_base_url`).
//!
//! vivo also has a list push (`/message/saveListPayload` then `/message/pushToList` with the saved taskId and
//! `regIds`); its existence is confirmed from vivo's server API document (v2.9.2, the over-quota notes name
//! both calls), but its per-request limit and the shape of its invalid-device answer could not be confirmed
//! from a vivo source, so this dispatcher sends one device per request.

mod auth;
mod payload;
mod reasons;

use async_trait::async_trait;
use serde::Deserialize;

pub use auth::{AuthTokens, sign};
pub use payload::{VivoRequest, build, request_id};
pub use reasons::outcome;

use super::{
    Answered, DispatchConfig, DispatchError, Dispatcher, Outcome, Rendered, auth_endpoint,
    batch::one_by_one, endpoint, exchange::exchange, notifier_client,
};
use crate::{
    proto::v1::{Notifier, Vendor, VivoCredentials},
    store::bindings::BindingRecord,
};

/// vivo's host (auth and send).
pub const DEFAULT_URL: &str = "https://api-push.vivo.com.cn";
/// Path of a single push.
pub const SEND_PATH: &str = "/message/send";

/// The vivo dispatcher of one notifier.
pub struct VivoDispatcher {
    http: reqwest::Client,
    send_url: String,
    app_id: String,
    tokens: AuthTokens,
    default_click_action: String,
}

#[derive(Deserialize, Default)]
struct Answer {
    #[serde(default)]
    result: i64,
    #[serde(default)]
    desc: String,
    #[serde(rename = "taskId", default)]
    task_id: Option<serde_json::Value>,
    #[serde(rename = "invalidUser", default)]
    invalid_user: Option<InvalidUser>,
}

#[derive(Deserialize)]
struct InvalidUser {
    #[serde(default)]
    userid: String,
    #[serde(default)]
    status: i64,
}

/// The outcome of vivo's answer (`status`, `body`) to one send, and whether it refused the auth token.
pub fn answer(status: u16, body: &str) -> (Outcome, bool) {
    let Ok(a) = serde_json::from_str::<Answer>(body) else {
        return (
            Outcome::retryable(format!("vivo answered HTTP {status} without a JSON body")),
            false,
        );
    };
    if status >= 500 {
        return (
            Outcome::retryable(format!("vivo answered HTTP {status}")),
            false,
        );
    }
    if a.result != 0 {
        return (
            reasons::outcome(a.result, &a.desc),
            reasons::token_refused(a.result),
        );
    }
    if let Some(user) = a.invalid_user {
        return (reasons::invalid_user(user.status, &user.userid), false);
    }
    let message_id = match a.task_id {
        Some(serde_json::Value::String(s)) => s,
        Some(serde_json::Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    (Outcome::Delivered { message_id }, false)
}

impl VivoDispatcher {
    /// A dispatcher for `notifier` with its opened `credentials`.
    pub fn new(
        notifier: &Notifier,
        credentials: VivoCredentials,
        config: &DispatchConfig,
        global_ca_pem: &str,
    ) -> Result<Self, DispatchError> {
        DispatchError::require(
            &[
                &credentials.app_id,
                &credentials.app_key,
                &credentials.app_secret,
            ],
            "vivo app id, app key and app secret",
        )?;
        let http = notifier_client(notifier, config, global_ca_pem)?;
        // vivo's auth call lives on the send host unless the notifier points it elsewhere.
        let auth_url = auth_endpoint(notifier, DEFAULT_URL, auth::AUTH_PATH);
        Ok(Self {
            send_url: endpoint(&notifier.send_base_url, DEFAULT_URL, SEND_PATH),
            tokens: AuthTokens::new(auth::Auth::new(
                auth_url,
                credentials.app_id.clone(),
                credentials.app_key,
                credentials.app_secret,
                http.clone(),
            )),
            app_id: credentials.app_id,
            http,
            default_click_action: notifier.default_click_action.clone(),
        })
    }

    /// Auth token fetches started so far.
    pub fn auth_fetches(&self) -> u64 {
        self.tokens.fetches()
    }

    /// One device in one request: the vendor's answer, or the device's outcome when none could be had.
    async fn send_one(
        &self,
        binding: &BindingRecord,
        request: &VivoRequest,
    ) -> Result<Answered, Outcome> {
        if binding.device_token.is_empty() {
            return Err(Outcome::InvalidToken {
                reason: "empty vivo regId".into(),
            });
        }
        let token = self.tokens.current().await?;
        let reply = exchange(
            self.http
                .post(&self.send_url)
                .header("authToken", token.value.as_str())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(
                    request
                        .body_for(&self.app_id, &binding.device_token)
                        .to_string(),
                ),
        )
        .await?;
        let (outcome, token_refused) = answer(reply.status, &reply.body);
        if token_refused {
            self.tokens.refused(&token);
        }
        Ok(reply.answered(outcome))
    }
}

#[async_trait]
impl Dispatcher for VivoDispatcher {
    fn vendor(&self) -> Vendor {
        Vendor::Vivo
    }

    fn max_batch(&self) -> usize {
        1
    }

    fn check(&self, message: &Rendered) -> Result<(), Outcome> {
        build(message, &self.default_click_action).map(|_| ())
    }

    async fn send(&self, batch: &[&BindingRecord], message: &Rendered) -> Vec<Answered> {
        let request = build(message, &self.default_click_action);
        one_by_one(batch, &request, |request, binding| {
            self.send_one(binding, request)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_map_to_outcomes() {
        assert_eq!(
            answer(200, r#"{"result":0,"desc":"请求成功","taskId":"12139732"}"#),
            (
                Outcome::Delivered {
                    message_id: "12139732".into()
                },
                false
            )
        );
        let (o, refused) = answer(
            200,
            r#"{"result":0,"desc":"请求成功","taskId":"1","invalidUser":{"userid":"reg","status":1}}"#,
        );
        assert_eq!((o.kind(), refused), ("invalid_token", false));
        let (o, refused) = answer(200, r#"{"result":10000,"desc":"authToken失效"}"#);
        assert_eq!((o.kind(), refused), ("auth_failed", true));
        assert_eq!(
            answer(200, r#"{"result":10070,"desc":"发送总量超出限制"}"#)
                .0
                .kind(),
            "quota_exceeded"
        );
        assert_eq!(
            answer(200, r#"{"result":10302,"desc":"regId不合法"}"#)
                .0
                .kind(),
            "invalid_token"
        );
        assert_eq!(answer(500, "Internet server error!").0.kind(), "retryable");
    }

    #[test]
    fn endpoints_default_to_vivo_and_follow_the_overrides() {
        let config = DispatchConfig::default();
        let creds = VivoCredentials {
            app_id: "1".into(),
            app_key: "k".into(),
            app_secret: "s".into(),
        };
        let d = VivoDispatcher::new(&Notifier::default(), creds.clone(), &config, "").unwrap();
        assert_eq!(d.send_url, "https://api-push.vivo.com.cn/message/send");
        assert_eq!(d.tokens.url(), "https://api-push.vivo.com.cn/message/auth");
        let notifier = Notifier {
            send_base_url: "https://127.0.0.1:9/vivo".into(),
            ..Default::default()
        };
        let d = VivoDispatcher::new(&notifier, creds.clone(), &config, "").unwrap();
        assert_eq!(d.tokens.url(), "https://127.0.0.1:9/vivo/message/auth");
        let notifier = Notifier {
            send_base_url: "https://127.0.0.1:9/vivo".into(),
            token_base_url: "https://127.0.0.1:10/auth".into(),
            ..Default::default()
        };
        let d = VivoDispatcher::new(&notifier, creds, &config, "").unwrap();
        assert_eq!(d.tokens.url(), "https://127.0.0.1:10/auth/message/auth");
        assert_eq!(d.max_batch(), 1);
        assert!(
            VivoDispatcher::new(
                &Notifier::default(),
                VivoCredentials::default(),
                &config,
                ""
            )
            .is_err()
        );
    }
}
