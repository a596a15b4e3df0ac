//! Xiaomi MiPush: `POST {base}/v3/message/regid`, a form with up to 1000 comma-separated registration ids,
//! authorised with `Authorization: key=<app secret>` (no token endpoint).

mod payload;
mod reasons;

use std::collections::HashSet;

use async_trait::async_trait;
use reqwest::header::AUTHORIZATION;
use serde::Deserialize;

pub use payload::{
    DESCRIPTION_LIMIT, Defaults, MAX_PAYLOAD, MAX_REGIDS, MAX_TTL, TITLE_LIMIT, XiaomiRequest,
    build,
};
pub use reasons::outcome;

use super::{
    Answered, DispatchConfig, DispatchError, Dispatcher, Outcome, Rendered,
    batch::{per_token, shared},
    endpoint,
    exchange::exchange,
    notifier_client,
};
use crate::{
    proto::v1::{Notifier, Vendor, XiaomiCredentials, XiaomiRegion},
    store::bindings::BindingRecord,
};

/// Xiaomi's host for mainland China.
pub const CHINA_URL: &str = "https://api.xmpush.xiaomi.com";
/// Xiaomi's host outside mainland China.
pub const GLOBAL_URL: &str = "https://api.xmpush.global.xiaomi.com";
/// The send path: a message to registration ids.
pub const SEND_PATH: &str = "/v3/message/regid";

/// The Xiaomi dispatcher of one notifier.
pub struct XiaomiDispatcher {
    http: reqwest::Client,
    send_url: String,
    authorization: String,
    package_name: String,
    default_channel_id: String,
    default_click_action: String,
}

/// Xiaomi's answer body.
#[derive(Deserialize, Default, Debug)]
pub(crate) struct Answer {
    #[serde(default)]
    result: String,
    #[serde(default)]
    code: Option<serde_json::Value>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    data: Option<Data>,
}

#[derive(Deserialize, Default, Debug)]
struct Data {
    #[serde(default)]
    id: String,
    #[serde(default)]
    bad_regids: String,
}

impl Answer {
    fn code(&self) -> Option<i64> {
        match self.code.as_ref()? {
            serde_json::Value::Number(n) => n.as_i64(),
            serde_json::Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    fn words(&self) -> String {
        match (self.reason.as_str(), self.description.as_str()) {
            ("", d) => d.to_owned(),
            (r, "") => r.to_owned(),
            (r, d) => format!("{r} ({d})"),
        }
    }
}

impl XiaomiDispatcher {
    /// A dispatcher for `notifier` with its opened `credentials`.
    pub fn new(
        notifier: &Notifier,
        credentials: XiaomiCredentials,
        config: &DispatchConfig,
        global_ca_pem: &str,
    ) -> Result<Self, DispatchError> {
        DispatchError::require(
            &[&credentials.app_secret, &credentials.package_name],
            "Xiaomi app secret and package name",
        )?;
        let http = notifier_client(notifier, config, global_ca_pem)?;
        let host = match credentials.region() {
            XiaomiRegion::Global => GLOBAL_URL,
            XiaomiRegion::China | XiaomiRegion::Unspecified => CHINA_URL,
        };
        Ok(Self {
            http,
            send_url: endpoint(&notifier.send_base_url, host, SEND_PATH),
            authorization: format!("key={}", credentials.app_secret),
            package_name: credentials.package_name,
            default_channel_id: notifier.default_channel_id.clone(),
            default_click_action: notifier.default_click_action.clone(),
        })
    }

    /// The send endpoint.
    pub fn send_url(&self) -> &str {
        &self.send_url
    }

    fn defaults(&self) -> Defaults<'_> {
        Defaults {
            package_name: &self.package_name,
            channel_id: &self.default_channel_id,
            click_action: &self.default_click_action,
        }
    }
}

#[async_trait]
impl Dispatcher for XiaomiDispatcher {
    fn vendor(&self) -> Vendor {
        Vendor::Xiaomi
    }

    fn max_batch(&self) -> usize {
        MAX_REGIDS
    }

    fn check(&self, message: &Rendered) -> Result<(), Outcome> {
        build(message, &self.defaults()).map(|_| ())
    }

    async fn send(&self, batch: &[&BindingRecord], message: &Rendered) -> Vec<Answered> {
        let request = build(message, &self.defaults());
        per_token(
            batch,
            &request,
            "empty Xiaomi registration id",
            |request, regids| async move {
                let reply = exchange(
                    self.http
                        .post(&self.send_url)
                        .header(AUTHORIZATION, &self.authorization)
                        // reqwest's form() sets application/x-www-form-urlencoded and encodes UTF-8, as Xiaomi asks.
                        .form(&request.form_for(&regids)),
                )
                .await?;
                let answer: Answer = serde_json::from_str(&reply.body).unwrap_or_default();
                let per_regid = resolve(reply.status, &answer, &regids, reply.wait);
                Ok(shared(per_regid, reply.answer()))
            },
        )
        .await
    }
}

/// One outcome per registration id: on success those in `data.bad_regids` are invalid and the rest delivered
/// under `data.id`; any error is the whole request's outcome.
pub(crate) fn resolve(
    status: u16,
    answer: &Answer,
    regids: &[&str],
    wait: Option<std::time::Duration>,
) -> Vec<Outcome> {
    let code = answer.code();
    let ok = (200..300).contains(&status)
        && code == Some(reasons::SUCCESS)
        && (answer.result.is_empty() || answer.result == "ok");
    if !ok {
        let o = outcome(status, code, &answer.words(), wait);
        return regids.iter().map(|_| o.clone()).collect();
    }
    let data = answer.data.as_ref();
    let bad: HashSet<&str> = data
        .map(|d| {
            d.bad_regids
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let id = data.map(|d| d.id.clone()).unwrap_or_default();
    regids
        .iter()
        .map(|r| {
            if bad.contains(r) {
                Outcome::InvalidToken {
                    reason: "Xiaomi: bad regid".into(),
                }
            } else {
                Outcome::Delivered {
                    message_id: id.clone(),
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
    fn bad_regids_are_invalid_and_the_rest_delivered_under_the_message_id() {
        let a = parse(
            r#"{"result":"ok","trace_id":"Xm1","code":0,"data":{"id":"sdm1","bad_regids":"b,c"},
                "description":"成功","info":"Received push messages for 1 REGID"}"#,
        );
        let out = resolve(200, &a, &["a", "b", "c", "d"], None);
        assert_eq!(
            kinds(&out),
            ["delivered", "invalid_token", "invalid_token", "delivered"]
        );
        assert_eq!(
            out[3],
            Outcome::Delivered {
                message_id: "sdm1".into()
            }
        );
    }

    #[test]
    fn errors_apply_to_the_whole_request() {
        let auth = parse(
            r#"{"result":"error","code":21301,"description":"认证失败","reason":"Authentication failed"}"#,
        );
        assert_eq!(kinds(&resolve(200, &auth, &["a"], None)), ["auth_failed"]);
        let none_valid = parse(r#"{"result":"error","code":20301,"reason":"no valid targets"}"#);
        assert_eq!(
            kinds(&resolve(200, &none_valid, &["a", "b"], None)),
            ["invalid_token", "invalid_token"]
        );
        let quota = parse(r#"{"result":"error","code":200001,"reason":"daily limit"}"#);
        assert_eq!(
            kinds(&resolve(200, &quota, &["a"], None)),
            ["quota_exceeded"]
        );
        assert_eq!(
            kinds(&resolve(502, &Answer::default(), &["a"], None)),
            ["retryable"]
        );
    }

    #[test]
    fn endpoints_follow_the_region_and_overrides() {
        let config = DispatchConfig::default();
        let creds = |region: XiaomiRegion| XiaomiCredentials {
            app_secret: "s".into(),
            package_name: "com.x".into(),
            region: region as i32,
        };
        let d = XiaomiDispatcher::new(
            &Notifier::default(),
            creds(XiaomiRegion::Unspecified),
            &config,
            "",
        )
        .unwrap();
        assert_eq!(
            d.send_url(),
            "https://api.xmpush.xiaomi.com/v3/message/regid"
        );
        assert_eq!(d.max_batch(), 1000);
        assert_eq!(d.authorization, "key=s");
        let d = XiaomiDispatcher::new(
            &Notifier::default(),
            creds(XiaomiRegion::Global),
            &config,
            "",
        )
        .unwrap();
        assert_eq!(
            d.send_url(),
            "https://api.xmpush.global.xiaomi.com/v3/message/regid"
        );
        let notifier = Notifier {
            send_base_url: "http://127.0.0.1:9/mi".into(),
            ..Default::default()
        };
        let d = XiaomiDispatcher::new(&notifier, creds(XiaomiRegion::China), &config, "").unwrap();
        assert_eq!(d.send_url(), "http://127.0.0.1:9/mi/v3/message/regid");
    }
}
