//! OPPO Push: notification messages to registration ids through `unicast` (one device) or `unicast_batch`
//! (up to 1000 messages a request), authorised by an auth token fetched from `/server/v1/auth` on the same
//! host (or the notifier's `token_base_url`).

mod auth;
mod payload;
mod reasons;

use std::collections::HashMap;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;

pub use auth::{AuthTokens, sign};
pub use payload::{Defaults, OppoRequest, build};
pub use reasons::outcome;

use super::{
    Answered, DispatchConfig, DispatchError, Dispatcher, Outcome, Rendered, VendorAnswer,
    auth_endpoint,
    batch::{per_token, shared},
    endpoint,
    exchange::exchange,
    notifier_client,
};
use crate::{
    proto::v1::{Notifier, OppoCredentials, Vendor},
    store::bindings::BindingRecord,
};

/// OPPO's mainland host (auth and send).
pub const DEFAULT_URL: &str = "https://api.push.oppomobile.com";
/// Path of a single notification push.
pub const UNICAST_PATH: &str = "/server/v1/message/notification/unicast";
/// Path of a batch of notification pushes.
pub const UNICAST_BATCH_PATH: &str = "/server/v1/message/notification/unicast_batch";
/// Most messages one `unicast_batch` carries (OPPO's "最多1000个").
pub const MAX_BATCH: usize = 1000;

/// The OPPO dispatcher of one notifier.
pub struct OppoDispatcher {
    http: reqwest::Client,
    unicast_url: String,
    batch_url: String,
    tokens: AuthTokens,
    default_channel_id: String,
    default_click_action: String,
}

#[derive(Deserialize, Default)]
struct Answer {
    #[serde(default)]
    code: i64,
    #[serde(default)]
    message: String,
    #[serde(default)]
    data: Value,
}

#[derive(Deserialize)]
struct BatchEntry {
    #[serde(rename = "messageId", default)]
    message_id: String,
    #[serde(rename = "registrationId", default)]
    registration_id: String,
    #[serde(rename = "errorCode", default)]
    error_code: Option<i64>,
    #[serde(rename = "errorMessage", default)]
    error_message: String,
}

/// The outcome per token of an OPPO answer (`status`, `body`) to a request for `tokens`, and whether the
/// answer refused the auth token. `batch` says whether it answered `unicast_batch` (whose `data` lists one
/// entry per message) or `unicast` (whose `data` holds the one `messageId`).
///
/// The batch shape `data: [{messageId, registrationId, errorCode?, errorMessage?}]` is confirmed from OPPO's
/// "单点推送" page (批量单推接口 response example).
pub fn answers(status: u16, body: &str, tokens: &[&str], batch: bool) -> (Vec<Outcome>, bool) {
    let all = |o: Outcome| vec![o; tokens.len()];
    let answer = match serde_json::from_str::<Answer>(body) {
        Ok(a) => a,
        Err(_) if status >= 500 || status == 429 || status == 0 => {
            return (
                all(Outcome::retryable(format!("OPPO answered HTTP {status}"))),
                false,
            );
        }
        Err(_) => {
            return (
                all(Outcome::retryable(format!(
                    "OPPO answered HTTP {status} without a JSON body"
                ))),
                false,
            );
        }
    };
    if answer.code != 0 {
        return (
            all(reasons::outcome(answer.code, &answer.message)),
            reasons::token_refused(answer.code),
        );
    }
    if !batch {
        let id = answer
            .data
            .get("messageId")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        return (all(Outcome::Delivered { message_id: id }), false);
    }
    let entries: Vec<BatchEntry> = serde_json::from_value(answer.data).unwrap_or_default();
    let by_token: HashMap<&str, &BatchEntry> = entries
        .iter()
        .map(|e| (e.registration_id.as_str(), e))
        .collect();
    let outcomes = tokens
        .iter()
        .enumerate()
        .map(|(i, token)| {
            // OPPO answers in request order with the registration id; fall back on the order if an entry
            // lacks the id.
            let entry = by_token
                .get(token)
                .copied()
                .or_else(|| entries.get(i).filter(|e| e.registration_id.is_empty()));
            match entry {
                Some(BatchEntry {
                    error_code: Some(code),
                    error_message,
                    ..
                }) if *code != 0 => reasons::outcome(*code, error_message),
                Some(e) => Outcome::Delivered {
                    message_id: e.message_id.clone(),
                },
                None => Outcome::retryable("OPPO's batch answer did not mention the device"),
            }
        })
        .collect();
    (outcomes, false)
}

/// Each token's part of a successful `unicast_batch` answer: the answer with its `data` narrowed to the
/// token's entry. OPPO's answer lists every device of the batch, and a thousand devices each keeping (and
/// reporting) the whole list would be a thousand copies of it. None when the answer is not a per-device list
/// (an error answer speaks for every device as it is).
fn narrowed(body: &str, tokens: &[&str]) -> Option<Vec<String>> {
    let answer: Answer = serde_json::from_str(body).ok()?;
    let Value::Array(entries) = &answer.data else {
        return None;
    };
    if answer.code != 0 {
        return None;
    }
    let mut by_token: HashMap<&str, &Value> = HashMap::new();
    for entry in entries {
        if let Some(id) = entry.get("registrationId").and_then(Value::as_str) {
            by_token.entry(id).or_insert(entry);
        }
    }
    let parts = tokens
        .iter()
        .enumerate()
        .map(|(i, token)| {
            // The same lookup as `answers`: by registration id, else by place for an entry without one.
            let entry = by_token.get(token).copied().or_else(|| {
                entries.get(i).filter(|e| {
                    e.get("registrationId")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .is_empty()
                })
            });
            let data = entry.map_or(Value::Array(Vec::new()), |e| Value::Array(vec![e.clone()]));
            serde_json::json!({"code": answer.code, "message": answer.message, "data": data})
                .to_string()
        })
        .collect();
    Some(parts)
}

impl OppoDispatcher {
    /// A dispatcher for `notifier` with its opened `credentials`.
    pub fn new(
        notifier: &Notifier,
        credentials: OppoCredentials,
        config: &DispatchConfig,
        global_ca_pem: &str,
    ) -> Result<Self, DispatchError> {
        DispatchError::require(
            &[&credentials.app_key, &credentials.master_secret],
            "OPPO app key and master secret",
        )?;
        let http = notifier_client(notifier, config, global_ca_pem)?;
        // OPPO's auth call lives on the send host unless the notifier points it elsewhere.
        let auth_url = auth_endpoint(notifier, DEFAULT_URL, auth::AUTH_PATH);
        Ok(Self {
            unicast_url: endpoint(&notifier.send_base_url, DEFAULT_URL, UNICAST_PATH),
            batch_url: endpoint(&notifier.send_base_url, DEFAULT_URL, UNICAST_BATCH_PATH),
            tokens: AuthTokens::new(auth::Auth::new(
                auth_url,
                credentials.app_key,
                credentials.master_secret,
                http.clone(),
            )),
            http,
            default_channel_id: notifier.default_channel_id.clone(),
            default_click_action: notifier.default_click_action.clone(),
        })
    }

    /// Auth token fetches started so far.
    pub fn auth_fetches(&self) -> u64 {
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
impl Dispatcher for OppoDispatcher {
    fn vendor(&self) -> Vendor {
        Vendor::Oppo
    }

    fn max_batch(&self) -> usize {
        MAX_BATCH
    }

    fn check(&self, message: &Rendered) -> Result<(), Outcome> {
        build(message, &self.defaults()).map(|_| ())
    }

    async fn send(&self, batch: &[&BindingRecord], message: &Rendered) -> Vec<Answered> {
        let request = build(message, &self.defaults());
        per_token(
            batch,
            &request,
            "empty OPPO registration id",
            |request, tokens| async move {
                let token = self.tokens.current().await?;
                let single = tokens.len() == 1;
                let form = if single {
                    vec![
                        ("auth_token", token.value.clone()),
                        ("message", request.message_for(tokens[0]).to_string()),
                    ]
                } else {
                    vec![
                        ("auth_token", token.value.clone()),
                        ("messages", request.messages_for(&tokens)),
                    ]
                };
                let url = if single {
                    &self.unicast_url
                } else {
                    &self.batch_url
                };
                let reply = exchange(self.http.post(url).form(&form)).await?;
                let (outcomes, token_refused) =
                    answers(reply.status, &reply.body, &tokens, !single);
                if token_refused {
                    self.tokens.refused(&token);
                }
                let parts = if single {
                    None
                } else {
                    narrowed(&reply.body, &tokens)
                };
                let status = reply.status;
                Ok(match parts {
                    Some(parts) => outcomes
                        .into_iter()
                        .zip(parts)
                        .map(|(outcome, body)| Answered {
                            outcome,
                            answer: VendorAnswer {
                                status,
                                body: body.into(),
                            },
                        })
                        .collect(),
                    None => shared(outcomes, reply.answer()),
                })
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_device_keeps_only_its_entry_of_a_batch_answer() {
        let body = r#"{"code":0,"message":"Success","data":[
            {"messageId":"m1","registrationId":"a"},
            {"messageId":"m2","registrationId":"b","errorCode":10000,"errorMessage":"Invalid Registration_id"}]}"#;
        let parts = narrowed(body, &["b", "a", "c"]).unwrap();
        let parsed: Vec<Value> = parts
            .iter()
            .map(|p| serde_json::from_str(p).unwrap())
            .collect();
        assert_eq!(parsed[0]["data"][0]["messageId"], "m2");
        assert_eq!(parsed[0]["data"][0]["errorCode"], 10000);
        assert_eq!(
            parsed[1]["data"],
            serde_json::json!([{"messageId":"m1","registrationId":"a"}])
        );
        assert_eq!(parsed[1]["code"], 0);
        assert_eq!(parsed[1]["message"], "Success");
        assert_eq!(parsed[2]["data"], serde_json::json!([]));
        // An error answer is every device's as it is.
        assert!(narrowed(r#"{"code":11,"message":"Invalid AuthToken"}"#, &["a"]).is_none());
    }

    #[test]
    fn a_batch_answer_is_resolved_per_device() {
        let body = r#"{"code":0,"message":"","data":[
            {"messageId":"m1","registrationId":"a"},
            {"messageId":"m2","registrationId":"b","errorCode":10000,"errorMessage":"Invalid Registration_id"},
            {"messageId":"m3","registrationId":"c"}]}"#;
        let (outcomes, refused) = answers(200, body, &["a", "b", "c", "d"], true);
        assert!(!refused);
        assert_eq!(
            outcomes[0],
            Outcome::Delivered {
                message_id: "m1".into()
            }
        );
        assert_eq!(outcomes[1].kind(), "invalid_token");
        assert_eq!(
            outcomes[2],
            Outcome::Delivered {
                message_id: "m3".into()
            }
        );
        // Not mentioned: tried again rather than assumed delivered.
        assert_eq!(outcomes[3].kind(), "retryable");
    }

    #[test]
    fn a_single_answer_carries_the_message_id() {
        let (outcomes, _) = answers(
            200,
            r#"{"code":0,"message":"","data":{"messageId":"APP-1-1-abc"}}"#,
            &["a"],
            false,
        );
        assert_eq!(
            outcomes,
            vec![Outcome::Delivered {
                message_id: "APP-1-1-abc".into()
            }]
        );
        let (outcomes, _) = answers(200, r#"{"code":10000,"message":"bad id"}"#, &["a"], false);
        assert_eq!(outcomes[0].kind(), "invalid_token");
    }

    #[test]
    fn a_refused_auth_token_is_reported_for_renewal() {
        let (outcomes, refused) = answers(
            200,
            r#"{"code":11,"message":"Invalid AuthToken"}"#,
            &["a", "b"],
            true,
        );
        assert!(refused);
        assert!(outcomes.iter().all(|o| matches!(
            o,
            Outcome::AuthFailed {
                at_token_endpoint: false,
                ..
            }
        )));
    }

    #[test]
    fn request_level_codes_apply_to_every_device() {
        let (outcomes, _) = answers(
            200,
            r#"{"code":33,"message":"daily limit"}"#,
            &["a", "b"],
            true,
        );
        assert!(outcomes.iter().all(|o| o.kind() == "quota_exceeded"));
        let (outcomes, _) = answers(
            200,
            r#"{"code":-2,"message":"Service in Flow Control"}"#,
            &["a"],
            false,
        );
        assert_eq!(outcomes[0].kind(), "rate_limited");
        let (outcomes, _) = answers(502, "<html>", &["a"], false);
        assert_eq!(outcomes[0].kind(), "retryable");
    }

    #[test]
    fn endpoints_default_to_oppo_and_follow_the_overrides() {
        let config = DispatchConfig::default();
        let creds = OppoCredentials {
            app_key: "k".into(),
            master_secret: "s".into(),
        };
        let d = OppoDispatcher::new(&Notifier::default(), creds.clone(), &config, "").unwrap();
        assert_eq!(
            d.unicast_url,
            "https://api.push.oppomobile.com/server/v1/message/notification/unicast"
        );
        assert_eq!(
            d.batch_url,
            "https://api.push.oppomobile.com/server/v1/message/notification/unicast_batch"
        );
        assert_eq!(d.max_batch(), 1000);
        assert_eq!(
            d.tokens.url(),
            "https://api.push.oppomobile.com/server/v1/auth"
        );
        let notifier = Notifier {
            send_base_url: "https://127.0.0.1:9/oppo".into(),
            ..Default::default()
        };
        let d = OppoDispatcher::new(&notifier, creds, &config, "").unwrap();
        assert_eq!(
            d.unicast_url,
            "https://127.0.0.1:9/oppo/server/v1/message/notification/unicast"
        );
        assert_eq!(d.tokens.url(), "https://127.0.0.1:9/oppo/server/v1/auth");
        assert!(
            OppoDispatcher::new(
                &Notifier::default(),
                OppoCredentials::default(),
                &config,
                ""
            )
            .is_err()
        );
    }
}
