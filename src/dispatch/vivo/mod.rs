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

    /// One device in one request: the vendor's answer, or the device's answer when its send could not be made
    /// or answered (a refused grant's carries the token endpoint's answer).
    async fn send_one(
        &self,
        binding: &BindingRecord,
        request: &VivoRequest,
    ) -> Result<Answered, Answered> {
        if binding.device_token.is_empty() {
            return Err(Outcome::InvalidToken {
                reason: "empty vivo regId".into(),
            }
            .into());
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
    use crate::dispatch::{
        VendorAnswer,
        testing::{basic, rendered},
    };

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

    /// A vivo stand-in on localhost whose auth call answers `auth` (status, body) and whose send answers
    /// success; answers the base URL and the sends it took.
    async fn stand_in(
        auth: (u16, &'static str),
    ) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::{Arc, atomic::AtomicUsize};

        use axum::{Router, http::StatusCode, routing::post};

        let sends = Arc::new(AtomicUsize::new(0));
        let app = Router::new()
            .route(
                auth::AUTH_PATH,
                post(move || async move { (StatusCode::from_u16(auth.0).unwrap(), auth.1) }),
            )
            .route(
                SEND_PATH,
                post({
                    let sends = sends.clone();
                    move || async move {
                        sends.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        r#"{"result":0,"desc":"请求成功","taskId":"1"}"#
                    }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (base, sends)
    }

    fn lane_to(base: &str) -> crate::dispatch::Lane {
        let notifier = Notifier {
            send_base_url: base.into(),
            ..Default::default()
        };
        let config = DispatchConfig {
            retry_base_delay: std::time::Duration::from_millis(1),
            ..Default::default()
        };
        let creds = VivoCredentials {
            app_id: "10004".into(),
            app_key: "key".into(),
            app_secret: "wrong".into(),
        };
        let dispatcher = VivoDispatcher::new(&notifier, creds, &config, "").unwrap();
        crate::dispatch::Lane::new(notifier, std::sync::Arc::new(dispatcher), &config)
    }

    fn devices(n: usize) -> Vec<BindingRecord> {
        (0..n)
            .map(|i| BindingRecord {
                device_token: format!("reg{i}"),
                ..Default::default()
            })
            .collect()
    }

    /// As in Easemob's `get push token fail` example: vivo's auth call refuses the sign, and that answer is
    /// every device's vendor answer, though no send was made.
    #[tokio::test]
    async fn a_refused_auth_answer_is_every_devices_vendor_answer() {
        let refusal = r#"{"result":10206,"desc":"sign 不正确"}"#;
        let (base, sends) = stand_in((200, refusal)).await;
        let reports = lane_to(&base)
            .dispatch(&devices(2), &rendered(basic()))
            .await;
        for r in &reports {
            assert!(
                matches!(
                    &r.outcome,
                    Outcome::AuthFailed { at_token_endpoint: true, reason } if reason.contains("10206")
                ),
                "{r:?}"
            );
            assert_eq!(r.answer.status, 200);
            assert_eq!(&*r.answer.body, refusal);
        }
        assert_eq!(sends.load(std::sync::atomic::Ordering::SeqCst), 0);
    }

    /// An auth call failing with server trouble is retried; the devices keep the last answer it gave.
    #[tokio::test]
    async fn an_auth_call_in_trouble_leaves_its_last_answer() {
        let (base, sends) = stand_in((503, "Service Unavailable")).await;
        let reports = lane_to(&base)
            .dispatch(&devices(1), &rendered(basic()))
            .await;
        assert_eq!(
            reports[0].outcome.kind(),
            "token_unavailable",
            "{reports:?}"
        );
        assert!(reports[0].attempts > 1, "{reports:?}");
        assert_eq!(reports[0].answer.status, 503);
        assert_eq!(&*reports[0].answer.body, "Service Unavailable");
        assert_eq!(sends.load(std::sync::atomic::Ordering::SeqCst), 0);
    }

    /// No answer from the auth call (nothing listens): nothing to show, the answer stays empty.
    #[tokio::test]
    async fn an_auth_call_without_an_answer_leaves_the_answer_empty() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let reports = lane_to(&base)
            .dispatch(&devices(1), &rendered(basic()))
            .await;
        assert_eq!(
            reports[0].outcome.kind(),
            "token_unavailable",
            "{reports:?}"
        );
        assert_eq!(reports[0].answer, VendorAnswer::default());
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
