//! The FCM dispatcher against the fake FCM (OAuth token endpoint and messages:send) over real TLS.

use std::{collections::HashMap, time::Duration};

use pushgate::{
    dispatch::{Outcome, Rendered},
    proto::v1::{AndroidPriority, FcmCredentials, FcmOverride, PushMessage, notifier::Credentials},
    sandbox::{FaultAction, FaultRule, RecordedRequest},
};
use serde_json::{Value, json};

use crate::common::dispatch::*;

fn sends(requests: Vec<RecordedRequest>) -> Vec<RecordedRequest> {
    requests
        .into_iter()
        .filter(|r| r.path.ends_with("/messages:send"))
        .collect()
}

fn grants(requests: &[RecordedRequest]) -> usize {
    requests.iter().filter(|r| r.path == "/token").count()
}

#[tokio::test]
async fn every_field_lands_where_google_expects_it() {
    let sandbox = sandbox().await;
    let lane = lane(fcm_notifier(&sandbox), &config());
    let message = Rendered::now(
        "m1",
        PushMessage {
            title: "Hello".into(),
            content: "World".into(),
            ext: HashMap::from([("conversation".to_string(), "c-42".to_string())]),
            fcm: Some(FcmOverride {
                priority: AndroidPriority::High as i32,
                collapse_key: "chat".into(),
                channel_id: "messages".into(),
                ttl: Some(prost_types::Duration {
                    seconds: 90,
                    nanos: 0,
                }),
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    let token = fcm_token(1);
    let reports = lane.dispatch(&bindings([token.clone()]), &message).await;
    let Outcome::Delivered { message_id } = &reports[0].outcome else {
        panic!("not delivered: {:?}", reports[0]);
    };
    assert!(
        message_id.starts_with(&format!("projects/{PROJECT}/messages/")),
        "{message_id}"
    );

    let recorded = sandbox.fcm().requests();
    assert_eq!(grants(&recorded), 1);
    let sent = sends(recorded);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].path,
        format!("/v1/projects/{PROJECT}/messages:send")
    );
    assert_eq!(sent[0].device_token.as_deref(), Some(token.as_str()));
    let bearer = sent[0]
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v.clone())
        .unwrap();
    assert!(bearer.starts_with("Bearer "), "{bearer}");
    let body: Value = serde_json::from_str(&sent[0].body).unwrap();
    assert_eq!(
        body,
        json!({"message": {
            "token": token,
            "notification": {"title": "Hello", "body": "World"},
            "data": {"conversation": "c-42"},
            "android": {"collapse_key": "chat", "priority": "HIGH", "ttl": "90s",
                        "notification": {"channel_id": "messages"}}
        }})
    );
}

#[tokio::test]
async fn an_access_token_expiring_mid_run_is_fetched_once_for_a_thousand_sends() {
    let sandbox = sandbox().await;
    let lane = lane(fcm_notifier(&sandbox), &config());
    let warm = lane
        .dispatch(&bindings([fcm_token(0)]), &message("t", "b"))
        .await;
    assert_first_delivered(&warm);
    sandbox.fcm().expire_access_tokens();

    let reports = lane
        .dispatch(&bindings((1..=1000).map(fcm_token)), &message("t", "b"))
        .await;
    let failed: Vec<_> = reports
        .iter()
        .filter(|r| !matches!(r.outcome, Outcome::Delivered { .. }))
        .collect();
    assert!(
        failed.is_empty(),
        "{} failed, e.g. {:?}",
        failed.len(),
        failed.first()
    );
    assert_eq!(
        grants(&sandbox.fcm().requests()),
        2,
        "one grant at start, exactly one after expiry"
    );
}

#[tokio::test]
async fn a_service_account_google_does_not_know_fails_at_the_token_endpoint() {
    let sandbox = sandbox().await;
    let stranger = sandbox_keeping(100).await;
    // The stranger's key file names the stranger's token endpoint; aim it at ours.
    let mut notifier = fcm_notifier(&sandbox);
    notifier.credentials = Some(Credentials::Fcm(FcmCredentials {
        service_account_json: stranger.fcm().mint_service_account(PROJECT).unwrap(),
        project_id: PROJECT.into(),
        ..Default::default()
    }));
    notifier.token_base_url = sandbox.fcm().base_url();
    let reports = lane(notifier, &config())
        .dispatch(&bindings([fcm_token(1)]), &message("t", "b"))
        .await;
    assert!(
        matches!(&reports[0].outcome, Outcome::AuthFailed { at_token_endpoint: true, reason } if reason.contains("invalid_grant")),
        "{reports:?}"
    );
    // Google's refusal itself is the device's vendor answer.
    assert_eq!(reports[0].answer.status, 400, "{reports:?}");
    let answer: Value = serde_json::from_str(&reports[0].answer.body).unwrap();
    assert_eq!(answer["error"], "invalid_grant", "{answer}");
    assert!(sends(sandbox.fcm().requests()).is_empty());
}

#[tokio::test]
async fn invalid_and_unregistered_tokens_are_invalid_tokens() {
    let sandbox = sandbox().await;
    let lane = lane(fcm_notifier(&sandbox), &config());
    sandbox.fcm().invalidate_token(&fcm_token(1));
    let devices = bindings([fcm_token(1), "not a token!".to_string(), fcm_token(3)]);
    let reports = lane.dispatch(&devices, &message("t", "b")).await;
    assert!(
        matches!(&reports[0].outcome, Outcome::InvalidToken { reason } if reason.starts_with("UNREGISTERED")),
        "{reports:?}"
    );
    assert_eq!(reports[0].answer.status, 404);
    assert!(
        matches!(&reports[1].outcome, Outcome::InvalidToken { reason } if reason.starts_with("INVALID_ARGUMENT")),
        "{reports:?}"
    );
    assert_eq!(reports[1].answer.status, 400);
    assert!(matches!(reports[2].outcome, Outcome::Delivered { .. }));
    assert!(reports.iter().all(|r| r.attempts == 1));
}

#[tokio::test]
async fn each_error_class_maps_to_its_outcome() {
    let sandbox = sandbox().await;
    let config = pushgate::dispatch::DispatchConfig {
        max_attempts: 2,
        ..config()
    };
    let lane = lane(fcm_notifier(&sandbox), &config);
    let cases = [
        (fcm_token(10), error(503, "UNAVAILABLE"), "retryable", 2),
        (fcm_token(11), error(500, "INTERNAL"), "retryable", 2),
        (
            fcm_token(12),
            error(429, "QUOTA_EXCEEDED"),
            "rate_limited",
            2,
        ),
        (
            fcm_token(13),
            error(403, "SENDER_ID_MISMATCH"),
            "rejected",
            1,
        ),
        (
            fcm_token(14),
            error(401, "THIRD_PARTY_AUTH_ERROR"),
            "auth_failed",
            2,
        ),
        (fcm_token(15), error(400, "INVALID_ARGUMENT"), "rejected", 1),
    ];
    for (token, action, _, _) in &cases {
        sandbox.fcm().add_fault(FaultRule {
            device_token: Some(token.clone()),
            action: action.clone(),
            times: None,
        });
    }
    let devices = bindings(cases.iter().map(|c| c.0.clone()));
    let reports = lane.dispatch(&devices, &message("t", "b")).await;
    for ((token, _, kind, attempts), report) in cases.iter().zip(&reports) {
        assert_eq!(report.outcome.kind(), *kind, "{token}: {report:?}");
        assert_eq!(report.attempts, *attempts, "{token}: {report:?}");
        let body: Value = serde_json::from_str(&report.answer.body).unwrap();
        assert!(body["error"]["status"].is_string(), "{body}");
    }
}

#[tokio::test]
async fn quota_retry_after_is_respected() {
    let sandbox = sandbox().await;
    let lane = lane(fcm_notifier(&sandbox), &config());
    sandbox.fcm().add_fault(FaultRule {
        device_token: None,
        action: FaultAction::Error {
            status: 429,
            reason: "QUOTA_EXCEEDED".into(),
            retry_after_secs: Some(1),
        },
        times: Some(1),
    });
    let start = std::time::Instant::now();
    let reports = lane
        .dispatch(&bindings([fcm_token(1)]), &message("t", "b"))
        .await;
    assert_first_delivered(&reports);
    assert_eq!(reports[0].attempts, 2);
    assert!(start.elapsed() >= Duration::from_secs(1));
}

#[tokio::test]
async fn a_thousand_concurrent_sends_share_few_connections() {
    let sandbox = sandbox().await;
    let lane = lane(fcm_notifier(&sandbox), &config());
    let reports = lane
        .dispatch(&bindings((0..1000).map(fcm_token)), &message("t", "b"))
        .await;
    assert!(
        reports
            .iter()
            .all(|r| matches!(r.outcome, Outcome::Delivered { .. }))
    );
    let stats = sandbox.fcm().stats();
    assert!(stats.connections <= 2, "{stats:?}");
}

#[tokio::test]
async fn an_access_token_is_reused_until_shortly_before_it_expires() {
    let sandbox = sandbox().await;
    // Tokens that live 4 s are renewed after 2 s (half their life when that short; a minute early normally).
    sandbox.fcm().set_access_token_lifetime(4);
    let lane = lane(fcm_notifier(&sandbox), &config());
    for n in 0..3 {
        let r = lane
            .dispatch(&bindings([fcm_token(n)]), &message("t", "b"))
            .await;
        assert!(matches!(r[0].outcome, Outcome::Delivered { .. }), "{r:?}");
    }
    assert_eq!(grants(&sandbox.fcm().requests()), 1, "reused while fresh");
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let r = lane
        .dispatch(&bindings([fcm_token(9)]), &message("t", "b"))
        .await;
    assert!(matches!(r[0].outcome, Outcome::Delivered { .. }), "{r:?}");
    assert_eq!(
        grants(&sandbox.fcm().requests()),
        2,
        "renewed before the vendor would refuse it"
    );
}
