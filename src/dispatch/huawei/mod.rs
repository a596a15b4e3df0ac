//! Huawei Push Kit: `POST {base}/v1/{appId}/messages:send` with up to 1000 tokens per request, authorised with
//! an OAuth client-credentials access token (`client_id` = app id, `client_secret` = app secret).

pub(crate) mod oauth;
pub(crate) mod payload;
pub(crate) mod reasons;
pub(crate) mod shared_with_honor;

use std::collections::HashSet;

use async_trait::async_trait;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde::Deserialize;

pub use oauth::ClientCredentials;
pub use payload::{Defaults, HuaweiRequest, MAX_PAYLOAD, MAX_TOKENS, MAX_TTL, build};
pub use reasons::outcome;

use super::{
    Answered, DispatchConfig, DispatchError, Dispatcher, Outcome, Rendered, Tokens,
    batch::{per_token, shared},
    endpoint,
    exchange::exchange,
    notifier_client,
};
use crate::{
    proto::v1::{HuaweiCredentials, Notifier, Vendor},
    store::bindings::BindingRecord,
};

/// Huawei's push host.
pub const DEFAULT_SEND_URL: &str = "https://push-api.cloud.huawei.com";
/// Huawei's OAuth host.
pub const DEFAULT_TOKEN_URL: &str = "https://oauth-login.cloud.huawei.com";
/// The token path under the OAuth host.
pub const TOKEN_PATH: &str = "/oauth2/v3/token";

/// The Huawei dispatcher of one notifier.
pub struct HuaweiDispatcher {
    http: reqwest::Client,
    send_url: String,
    tokens: Tokens<ClientCredentials>,
    default_channel_id: String,
    default_click_action: String,
}

/// Huawei's answer body.
#[derive(Deserialize, Default, Debug)]
pub(crate) struct Answer {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub msg: String,
    #[serde(default, rename = "requestId")]
    pub request_id: String,
}

impl HuaweiDispatcher {
    /// A dispatcher for `notifier` with its opened `credentials`.
    pub fn new(
        notifier: &Notifier,
        credentials: HuaweiCredentials,
        config: &DispatchConfig,
        global_ca_pem: &str,
    ) -> Result<Self, DispatchError> {
        DispatchError::require(
            &[&credentials.app_id, &credentials.client_secret],
            "Huawei app id and secret",
        )?;
        let http = notifier_client(notifier, config, global_ca_pem)?;
        Ok(Self {
            send_url: endpoint(
                &notifier.send_base_url,
                DEFAULT_SEND_URL,
                &format!("/v1/{}/messages:send", credentials.app_id),
            ),
            tokens: Tokens::new(ClientCredentials::new(
                endpoint(&notifier.token_base_url, DEFAULT_TOKEN_URL, TOKEN_PATH),
                &credentials.app_id,
                &credentials.client_secret,
                http.clone(),
            )),
            http,
            default_channel_id: notifier.default_channel_id.clone(),
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
            channel_id: &self.default_channel_id,
            click_action: &self.default_click_action,
        }
    }
}

#[async_trait]
impl Dispatcher for HuaweiDispatcher {
    fn vendor(&self) -> Vendor {
        Vendor::Huawei
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
            "empty Huawei push token",
            |request, tokens| async move {
                let access = self.tokens.current().await?;
                let reply = exchange(
                    self.http
                        .post(&self.send_url)
                        .header(AUTHORIZATION, format!("Bearer {}", access.value))
                        .header(CONTENT_TYPE, "application/json; charset=UTF-8")
                        .body(request.body_for(&tokens)),
                )
                .await?;
                let answer: Answer = serde_json::from_str(&reply.body).unwrap_or_default();
                if reasons::access_token_refused(reply.status, &answer.code) {
                    self.tokens.refused(&access);
                }
                let per_token = resolve(reply.status, &answer, &tokens, reply.wait);
                Ok(shared(per_token, reply.answer()))
            },
        )
        .await
    }
}

/// One outcome per token of a Huawei answer: success, a partial failure naming the illegal tokens, all
/// tokens invalid, or an error for the whole request.
pub(crate) fn resolve(
    status: u16,
    answer: &Answer,
    tokens: &[&str],
    wait: Option<std::time::Duration>,
) -> Vec<Outcome> {
    let delivered = || Outcome::Delivered {
        message_id: answer.request_id.clone(),
    };
    match answer.code.as_str() {
        reasons::SUCCESS if (200..300).contains(&status) => {
            tokens.iter().map(|_| delivered()).collect()
        }
        reasons::PARTIAL => {
            let bad = illegal_tokens(&answer.msg);
            tokens
                .iter()
                .map(|t| {
                    if bad.contains(*t) {
                        Outcome::InvalidToken {
                            reason: format!("{}: illegal token", reasons::PARTIAL),
                        }
                    } else {
                        delivered()
                    }
                })
                .collect()
        }
        code => {
            let o = outcome(status, code, &answer.msg, wait);
            tokens.iter().map(|_| o.clone()).collect()
        }
    }
}

/// The `illegal_tokens` named in an 80100000 answer's `msg`, itself a JSON string such as
/// `{"success":1,"failure":1,"illegal_tokens":["t2"]}`. Newer answers group them by cause under
/// `illegalTokens` (`{"noPushTypeRight":["t2"]}`); both are read.
pub(crate) fn illegal_tokens(msg: &str) -> HashSet<String> {
    let Ok(serde_json::Value::Object(m)) = serde_json::from_str::<serde_json::Value>(msg) else {
        return HashSet::new();
    };
    let mut out = HashSet::new();
    let mut take = |v: &serde_json::Value| {
        if let Some(list) = v.as_array() {
            out.extend(list.iter().filter_map(|t| t.as_str().map(str::to_owned)));
        }
    };
    for key in ["illegal_tokens", "illegalTokens"] {
        match m.get(key) {
            Some(v @ serde_json::Value::Array(_)) => take(v),
            Some(serde_json::Value::Object(groups)) => groups.values().for_each(&mut take),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(code: &str, msg: &str) -> Answer {
        Answer {
            code: code.into(),
            msg: msg.into(),
            request_id: "req-1".into(),
        }
    }

    fn kinds(outcomes: &[Outcome]) -> Vec<&'static str> {
        outcomes.iter().map(Outcome::kind).collect()
    }

    #[test]
    fn success_delivers_every_token_with_the_request_id() {
        let out = resolve(200, &answer("80000000", "Success"), &["a", "b"], None);
        assert_eq!(
            out,
            vec![
                Outcome::Delivered {
                    message_id: "req-1".into()
                };
                2
            ]
        );
    }

    #[test]
    fn partial_failure_invalidates_exactly_the_illegal_tokens() {
        let msg = r#"{"success":2,"failure":1,"illegal_tokens":["b"]}"#;
        let out = resolve(200, &answer("80100000", msg), &["a", "b", "c"], None);
        assert_eq!(kinds(&out), ["delivered", "invalid_token", "delivered"]);
        let grouped = r#"{"failure":1,"illegalTokens":{"noPushTypeRight":["c"]}}"#;
        let out = resolve(200, &answer("80100000", grouped), &["a", "c"], None);
        assert_eq!(kinds(&out), ["delivered", "invalid_token"]);
    }

    #[test]
    fn all_tokens_invalid_and_whole_request_errors() {
        let out = resolve(
            400,
            &answer("80300007", "All the tokens are invalid"),
            &["a", "b"],
            None,
        );
        assert_eq!(kinds(&out), ["invalid_token", "invalid_token"]);
        let out = resolve(
            401,
            &answer("80200003", "Oauth token expired"),
            &["a"],
            None,
        );
        assert_eq!(kinds(&out), ["auth_failed"]);
        let out = resolve(503, &Answer::default(), &["a"], None);
        assert_eq!(kinds(&out), ["rate_limited"]);
        let out = resolve(500, &answer("81000001", "internal"), &["a"], None);
        assert_eq!(kinds(&out), ["retryable"]);
    }

    #[test]
    fn endpoints_default_to_huawei_and_follow_overrides() {
        let config = DispatchConfig::default();
        let creds = HuaweiCredentials {
            app_id: "10086".into(),
            client_secret: "s".into(),
        };
        let d = HuaweiDispatcher::new(&Notifier::default(), creds.clone(), &config, "").unwrap();
        assert_eq!(
            d.send_url(),
            "https://push-api.cloud.huawei.com/v1/10086/messages:send"
        );
        assert_eq!(
            d.token_url(),
            "https://oauth-login.cloud.huawei.com/oauth2/v3/token"
        );
        assert_eq!(d.max_batch(), 1000);
        let notifier = Notifier {
            send_base_url: "http://127.0.0.1:9/hw/".into(),
            token_base_url: "http://127.0.0.1:9/hwauth".into(),
            ..Default::default()
        };
        let d = HuaweiDispatcher::new(&notifier, creds, &config, "").unwrap();
        assert_eq!(d.send_url(), "http://127.0.0.1:9/hw/v1/10086/messages:send");
        assert_eq!(d.token_url(), "http://127.0.0.1:9/hwauth/oauth2/v3/token");
    }

    /// Through the lane against a stand-in HTTP server on localhost: the first access token is answered
    /// 80200003 (expired), so the dispatcher drops it, the lane tries once more with a new grant, and the
    /// partial answer unbinds exactly the illegal token.
    #[tokio::test]
    async fn an_expired_token_is_renewed_once_and_partial_failures_resolve_per_device() {
        use std::sync::{
            Arc,
            atomic::{AtomicUsize, Ordering},
        };

        use axum::{Router, http::HeaderMap, routing::post};

        let grants = Arc::new(AtomicUsize::new(0));
        let sends = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let app = Router::new()
            .route(
                "/oauth2/v3/token",
                post({
                    let grants = grants.clone();
                    move |form: String| async move {
                        assert_eq!(
                            form,
                            "grant_type=client_credentials&client_id=10086&client_secret=s3cret"
                        );
                        let n = grants.fetch_add(1, Ordering::SeqCst) + 1;
                        format!(r#"{{"access_token":"tok-{n}","expires_in":3600,"token_type":"Bearer"}}"#)
                    }
                }),
            )
            .route(
                "/v1/10086/messages:send",
                post({
                    let sends = sends.clone();
                    move |headers: HeaderMap, body: String| async move {
                        let auth = headers
                            .get("authorization")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_owned();
                        sends.lock().unwrap().push(body);
                        if auth == "Bearer tok-1" {
                            (
                                axum::http::StatusCode::UNAUTHORIZED,
                                r#"{"code":"80200003","msg":"Oauth token expired","requestId":"r0"}"#
                                    .to_owned(),
                            )
                        } else {
                            let msg = r#"{"success":2,"failure":1,"illegal_tokens":["bad"]}"#;
                            (
                                axum::http::StatusCode::OK,
                                serde_json::json!({"code":"80100000","msg":msg,"requestId":"r1"})
                                    .to_string(),
                            )
                        }
                    }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });

        let notifier = Notifier {
            send_base_url: base.clone(),
            token_base_url: base,
            ..Default::default()
        };
        let config = DispatchConfig {
            retry_base_delay: std::time::Duration::from_millis(1),
            ..Default::default()
        };
        let dispatcher = Arc::new(
            HuaweiDispatcher::new(
                &notifier,
                HuaweiCredentials {
                    app_id: "10086".into(),
                    client_secret: "s3cret".into(),
                },
                &config,
                "",
            )
            .unwrap(),
        );
        let lane = crate::dispatch::Lane::new(notifier, dispatcher.clone(), &config);
        let bindings: Vec<BindingRecord> = ["good", "bad", "good2"]
            .iter()
            .map(|t| BindingRecord {
                device_token: (*t).into(),
                ..Default::default()
            })
            .collect();
        let message = Rendered::now(
            "m1",
            crate::proto::v1::PushMessage {
                title: "Hi".into(),
                content: "Body".into(),
                ..Default::default()
            },
        );
        let reports = lane.dispatch(&bindings, &message).await;
        let kinds: Vec<_> = reports.iter().map(|r| r.outcome.kind()).collect();
        assert_eq!(kinds, ["delivered", "invalid_token", "delivered"]);
        assert_eq!(
            reports[0].outcome,
            Outcome::Delivered {
                message_id: "r1".into()
            }
        );
        assert!(reports.iter().all(|r| r.attempts == 2));
        assert_eq!(dispatcher.grants(), 2);
        assert_eq!(grants.load(Ordering::SeqCst), 2);
        let sends = sends.lock().unwrap();
        assert_eq!(
            sends.len(),
            2,
            "one request per attempt for the whole batch"
        );
        let sent: serde_json::Value = serde_json::from_str(&sends[1]).unwrap();
        assert_eq!(
            sent["message"]["token"],
            serde_json::json!(["good", "bad", "good2"])
        );
    }

    /// Huawei's OAuth endpoint refuses the client secret: every device of the batch fails at the token
    /// endpoint with that refusal as its vendor answer, shared with the devices rather than lost, and no send
    /// is made.
    #[tokio::test]
    async fn a_refused_grant_is_every_devices_vendor_answer() {
        use std::sync::{
            Arc,
            atomic::{AtomicUsize, Ordering},
        };

        use axum::{Router, http::StatusCode, routing::post};

        let refusal =
            r#"{"sub_error":20003,"error_description":"invalid client_secret","error":1101}"#;
        let sends = Arc::new(AtomicUsize::new(0));
        let app = Router::new()
            .route(
                "/oauth2/v3/token",
                post(move || async move { (StatusCode::BAD_REQUEST, refusal) }),
            )
            .route(
                "/v1/10086/messages:send",
                post({
                    let sends = sends.clone();
                    move || async move {
                        sends.fetch_add(1, Ordering::SeqCst);
                        r#"{"code":"80000000","msg":"Success","requestId":"r1"}"#
                    }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let notifier = Notifier {
            send_base_url: base.clone(),
            token_base_url: base,
            ..Default::default()
        };
        let config = DispatchConfig::default();
        let dispatcher = HuaweiDispatcher::new(
            &notifier,
            HuaweiCredentials {
                app_id: "10086".into(),
                client_secret: "wrong".into(),
            },
            &config,
            "",
        )
        .unwrap();
        let lane = crate::dispatch::Lane::new(notifier, Arc::new(dispatcher), &config);
        let bindings: Vec<BindingRecord> = ["t1", "t2", "t3"]
            .iter()
            .map(|t| BindingRecord {
                device_token: (*t).into(),
                ..Default::default()
            })
            .collect();
        let message = crate::dispatch::testing::rendered(crate::dispatch::testing::basic());
        let reports = lane.dispatch(&bindings, &message).await;
        assert_eq!(reports.len(), 3);
        for r in &reports {
            assert!(
                matches!(
                    &r.outcome,
                    Outcome::AuthFailed { at_token_endpoint: true, reason }
                        if reason.contains("invalid client_secret")
                ),
                "{r:?}"
            );
            assert_eq!(r.answer.status, 400);
            assert_eq!(&*r.answer.body, refusal);
            assert_eq!(r.attempts, 1, "a refused secret is not tried again");
        }
        // One answer for the batch, not a copy per device.
        assert!(Arc::ptr_eq(
            &reports[0].answer.body,
            &reports[2].answer.body
        ));
        assert_eq!(sends.load(Ordering::SeqCst), 0);
    }
}
