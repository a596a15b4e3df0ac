//! Meizu Flyme Push: notification-bar pushes to up to 1000 pushIds a request
//! (`POST {base}/garcia/api/server/push/varnished/pushByPushId`), each request signed with the app secret.
//! Meizu has no token endpoint.

mod payload;
mod reasons;
mod sign;

use std::collections::HashMap;

use async_trait::async_trait;
use serde_json::Value;

pub use payload::build;
pub use reasons::{device_outcome, outcome};
pub use sign::{sign, signed_form};

use super::{
    Answered, DispatchConfig, DispatchError, Dispatcher, Outcome, Rendered,
    batch::{per_token, shared},
    endpoint,
    exchange::exchange,
    notifier_client,
};
use crate::{
    proto::v1::{MeizuCredentials, Notifier, Vendor},
    store::bindings::BindingRecord,
};

/// Meizu's push host.
pub const DEFAULT_URL: &str = "https://server-api-push.meizu.com";
/// Path of a notification-bar push to pushIds.
pub const PUSH_PATH: &str = "/garcia/api/server/push/varnished/pushByPushId";
/// Most pushIds one request carries.
pub const MAX_BATCH: usize = 1000;

/// The Meizu dispatcher of one notifier.
pub struct MeizuDispatcher {
    http: reqwest::Client,
    url: String,
    app_id: String,
    app_secret: String,
    default_click_action: String,
}

/// A code Meizu sends as a string ("200") or a number.
fn code_text(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// The outcome per pushId of Meizu's answer (`status`, `body`) to a push to `push_ids`.
///
/// Shape `{"code":"200","message","value":{code:[pushIds]},"msgId"}` confirmed from the official Java SDK
/// (`IFlymePush.pushMessageNoRetry`): the devices listed under a code in `value` failed with it; every other
/// device of the request was accepted under `msgId`.
pub fn answers(status: u16, body: &str, push_ids: &[&str]) -> Vec<Outcome> {
    let all = |o: Outcome| vec![o; push_ids.len()];
    if status >= 500 || status == 429 {
        return all(Outcome::retryable(format!("Meizu answered HTTP {status}")));
    }
    let Ok(Value::Object(answer)) = serde_json::from_str::<Value>(body) else {
        return all(Outcome::retryable(format!(
            "Meizu answered HTTP {status} without a JSON body"
        )));
    };
    let code = code_text(answer.get("code"));
    let message = answer
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if code != "200" {
        return all(reasons::outcome(&code, message));
    }
    let msg_id = code_text(answer.get("msgId"));
    // `value` is an object, or (as the SDK also accepts) that object as a JSON string.
    let value = match answer.get("value") {
        Some(Value::String(s)) => serde_json::from_str(s).unwrap_or(Value::Null),
        Some(v) => v.clone(),
        None => Value::Null,
    };
    let mut failed: HashMap<String, String> = HashMap::new();
    if let Value::Object(map) = value {
        for (code, ids) in map {
            for id in ids
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                failed.insert(id.to_owned(), code.clone());
            }
        }
    }
    push_ids
        .iter()
        .map(|id| match failed.get(*id) {
            Some(code) => reasons::device_outcome(code, &msg_id),
            None => Outcome::Delivered {
                message_id: msg_id.clone(),
            },
        })
        .collect()
}

impl MeizuDispatcher {
    /// A dispatcher for `notifier` with its opened `credentials`.
    pub fn new(
        notifier: &Notifier,
        credentials: MeizuCredentials,
        config: &DispatchConfig,
        global_ca_pem: &str,
    ) -> Result<Self, DispatchError> {
        DispatchError::require(
            &[&credentials.app_id, &credentials.app_secret],
            "Meizu app id and app secret",
        )?;
        let http = notifier_client(notifier, config, global_ca_pem)?;
        Ok(Self {
            url: endpoint(&notifier.send_base_url, DEFAULT_URL, PUSH_PATH),
            http,
            app_id: credentials.app_id,
            app_secret: credentials.app_secret,
            default_click_action: notifier.default_click_action.clone(),
        })
    }

    /// The signed form of a push of `message_json` to `push_ids`.
    fn form(&self, push_ids: &str, message_json: &str) -> Vec<(String, String)> {
        signed_form(
            &[
                ("appId", &self.app_id),
                ("pushIds", push_ids),
                ("messageJson", message_json),
            ],
            &self.app_secret,
        )
    }
}

#[async_trait]
impl Dispatcher for MeizuDispatcher {
    fn vendor(&self) -> Vendor {
        Vendor::Meizu
    }

    fn max_batch(&self) -> usize {
        MAX_BATCH
    }

    fn check(&self, message: &Rendered) -> Result<(), Outcome> {
        build(message, &self.default_click_action).map(|_| ())
    }

    async fn send(&self, batch: &[&BindingRecord], message: &Rendered) -> Vec<Answered> {
        let message_json = build(message, &self.default_click_action);
        per_token(
            batch,
            &message_json,
            "empty Meizu pushId",
            |message_json, push_ids| async move {
                let form = self.form(&push_ids.join(","), message_json);
                let reply = exchange(self.http.post(&self.url).form(&form)).await?;
                let outcomes = answers(reply.status, &reply.body, &push_ids);
                Ok(shared(outcomes, reply.answer()))
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_value_map_decides_per_device() {
        let body = r#"{"code":"200","message":"","value":{"110003":["b"],"110010":["c"],"110002":["d"]},"msgId":"NS2016"}"#;
        let outcomes = answers(200, body, &["a", "b", "c", "d"]);
        assert_eq!(
            outcomes[0],
            Outcome::Delivered {
                message_id: "NS2016".into()
            }
        );
        assert_eq!(outcomes[1].kind(), "invalid_token");
        // Switched off by the user: not unbound.
        assert_eq!(outcomes[2].kind(), "rejected");
        assert_eq!(outcomes[3].kind(), "invalid_token");
    }

    #[test]
    fn an_empty_value_delivers_everyone() {
        let outcomes = answers(
            200,
            r#"{"code":"200","message":"","value":{},"msgId":"m"}"#,
            &["a", "b"],
        );
        assert!(outcomes.iter().all(|o| o.kind() == "delivered"));
        let outcomes = answers(
            200,
            r#"{"code":200,"value":"{\"110003\":[\"a\"]}","msgId":"m"}"#,
            &["a", "b"],
        );
        assert_eq!(
            (outcomes[0].kind(), outcomes[1].kind()),
            ("invalid_token", "delivered")
        );
    }

    #[test]
    fn top_level_codes_apply_to_every_device() {
        let all = |body: &str| {
            answers(200, body, &["a", "b"])
                .iter()
                .map(Outcome::kind)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            all(r#"{"code":"110010","message":"应用请求频率过快"}"#),
            ["rate_limited"; 2]
        );
        assert_eq!(
            all(r#"{"code":"1006","message":"签名认证失败"}"#),
            ["auth_failed"; 2]
        );
        assert_eq!(
            all(r#"{"code":"110019","message":"超过该应用每天推送次数限制"}"#),
            ["quota_exceeded"; 2]
        );
        assert_eq!(
            all(r#"{"code":"1003","message":"服务器忙"}"#),
            ["retryable"; 2]
        );
        assert_eq!(answers(503, "", &["a"])[0].kind(), "retryable");
    }

    #[test]
    fn requests_carry_app_ids_and_a_sign_over_every_field() {
        let config = DispatchConfig::default();
        let creds = MeizuCredentials {
            app_id: "100".into(),
            app_secret: "secret".into(),
        };
        let d = MeizuDispatcher::new(&Notifier::default(), creds.clone(), &config, "").unwrap();
        assert_eq!(
            d.url,
            "https://server-api-push.meizu.com/garcia/api/server/push/varnished/pushByPushId"
        );
        assert_eq!(d.max_batch(), 1000);
        let form = d.form("p1,p2", r#"{"a":1}"#);
        let names: Vec<&str> = form.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["appId", "pushIds", "messageJson", "sign"]);
        // The same sign as computed independently in sign.rs's test.
        assert_eq!(form[3].1, "c31747e818adaaedc0a9d028329e482f");
        let notifier = Notifier {
            send_base_url: "http://127.0.0.1:9/mz/".into(),
            ..Default::default()
        };
        let d = MeizuDispatcher::new(&notifier, creds, &config, "").unwrap();
        assert_eq!(
            d.url,
            "http://127.0.0.1:9/mz/garcia/api/server/push/varnished/pushByPushId"
        );
        assert!(
            MeizuDispatcher::new(
                &Notifier::default(),
                MeizuCredentials::default(),
                &config,
                ""
            )
            .is_err()
        );
    }
}
