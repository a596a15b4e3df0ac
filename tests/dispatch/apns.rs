//! The APNs dispatcher against the fake APNs over real TLS and HTTP/2.

use std::{collections::HashMap, time::Duration};

use pushgate::{
    dispatch::{Outcome, Rendered},
    proto::v1::{
        ApnsCertificateAuth, ApnsOverride, ApnsPemCertificate, ApnsPriority, ApnsPushType, Badge,
        MessageConfig, PushMessage, PushOptions, apns_certificate_auth::Format,
        apns_credentials::Auth,
    },
    sandbox::{FaultAction, FaultRule, RecordedRequest},
};
use serde_json::{Value, json};

use crate::common::dispatch::*;

fn header<'a>(r: &'a RecordedRequest, name: &str) -> Option<&'a str> {
    r.headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn sends(requests: Vec<RecordedRequest>) -> Vec<RecordedRequest> {
    requests
        .into_iter()
        .filter(|r| r.path.starts_with("/3/device/"))
        .collect()
}

#[tokio::test]
async fn every_field_lands_where_apple_expects_it() {
    let sandbox = sandbox().await;
    let lane = lane(apns_token_notifier(&sandbox, false), &config());
    let message = Rendered::now(
        "m1",
        PushMessage {
            title: "Hello".into(),
            sub_title: "sub".into(),
            content: "World".into(),
            ext: HashMap::from([("conversation".to_string(), "c-42".to_string())]),
            config: Some(MessageConfig {
                badge: Some(Badge {
                    set_num: Some(7),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            options: Some(PushOptions {
                ttl: Some(prost_types::Duration {
                    seconds: 3600,
                    nanos: 0,
                }),
                ..Default::default()
            }),
            apns: Some(ApnsOverride {
                priority: ApnsPriority::High as i32,
                collapse_id: "chat-c-42".into(),
                sound: "ping.caf".into(),
                thread_id: "c-42".into(),
                category: "REPLY".into(),
                mutable_content: true,
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    let token = apns_token(1);
    let reports = lane.dispatch(&bindings([token.clone()]), &message).await;
    let Outcome::Delivered { message_id } = &reports[0].outcome else {
        panic!("not delivered: {:?}", reports[0]);
    };
    assert_eq!(reports[0].answer.status, 200);
    assert_eq!(reports[0].attempts, 1);

    let recorded = sends(sandbox.apns().requests());
    assert_eq!(recorded.len(), 1);
    let r = &recorded[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, format!("/3/device/{token}"));
    assert_eq!(r.device_token.as_deref(), Some(token.as_str()));
    assert_eq!(header(r, "apns-push-type"), Some("alert"));
    assert_eq!(header(r, "apns-topic"), Some(TOPIC));
    assert_eq!(header(r, "apns-priority"), Some("10"));
    assert_eq!(header(r, "apns-collapse-id"), Some("chat-c-42"));
    assert_eq!(header(r, "apns-id"), Some(message_id.as_str()));
    let expiration: u64 = header(r, "apns-expiration").unwrap().parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        (now + 3590..=now + 3600).contains(&expiration),
        "{expiration}"
    );
    assert!(header(r, "authorization").unwrap().starts_with("bearer "));
    let body: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        body,
        json!({
            "aps": {
                "alert": {"title": "Hello", "subtitle": "sub", "body": "World"},
                "badge": 7, "sound": "ping.caf", "thread-id": "c-42", "category": "REPLY",
                "mutable-content": 1
            },
            "conversation": "c-42"
        })
    );
}

#[tokio::test]
async fn voip_pushes_go_to_the_voip_topic_and_background_pushes_at_priority_five() {
    let sandbox = sandbox().await;
    let voip_lane = lane(apns_token_notifier(&sandbox, true), &config());
    let voip = Rendered::now(
        "m",
        PushMessage {
            content: "incoming call".into(),
            apns: Some(ApnsOverride {
                push_type: ApnsPushType::Voip as i32,
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    let reports = voip_lane.dispatch(&bindings([apns_token(2)]), &voip).await;
    assert_first_delivered(&reports);

    let plain_lane = lane(apns_token_notifier(&sandbox, false), &config());
    let background = Rendered::now(
        "m",
        PushMessage {
            apns: Some(ApnsOverride {
                content_available: true,
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    let reports = plain_lane
        .dispatch(&bindings([apns_token(3)]), &background)
        .await;
    assert_first_delivered(&reports);
    // VoIP through a plain notifier never leaves the gateway.
    let reports = plain_lane.dispatch(&bindings([apns_token(4)]), &voip).await;
    assert!(matches!(reports[0].outcome, Outcome::InvalidVoip { .. }));

    let recorded = sends(sandbox.apns().requests());
    assert_eq!(recorded.len(), 2, "the refused VoIP push made no request");
    assert_eq!(header(&recorded[0], "apns-push-type"), Some("voip"));
    assert_eq!(
        header(&recorded[0], "apns-topic"),
        Some("com.example.pushgate.voip")
    );
    assert_eq!(header(&recorded[1], "apns-push-type"), Some("background"));
    assert_eq!(header(&recorded[1], "apns-priority"), Some("5"));
    let body: Value = serde_json::from_str(&recorded[1].body).unwrap();
    assert_eq!(body, json!({"aps": {"content-available": 1}}));
}

#[tokio::test]
async fn certificate_auth_presents_the_client_certificate() {
    let sandbox = sandbox().await;
    let cert = sandbox.apns().mint_certificate(TOPIC).unwrap();
    let auth = Auth::Certificate(ApnsCertificateAuth {
        format: Some(Format::Pem(ApnsPemCertificate {
            certificate_pem: cert.certificate_pem,
            private_key_pem: cert.private_key_pem,
        })),
    });
    let notifier = apns_notifier(&sandbox, "apns-cert", auth, false);
    let reports = lane(notifier, &config())
        .dispatch(&bindings([apns_token(5)]), &message("t", "b"))
        .await;
    assert_first_delivered(&reports);
    let recorded = sends(sandbox.apns().requests());
    assert_eq!(header(&recorded[0], "authorization"), None);
}

#[tokio::test]
async fn a_key_apple_does_not_know_is_an_auth_failure_after_one_new_token() {
    let sandbox = sandbox().await;
    let other = sandbox_keeping(100).await;
    // A key minted by another sandbox is unknown to this one.
    let mut notifier = apns_token_notifier(&other, false);
    notifier.send_base_url = sandbox.apns().base_url();
    notifier.extra_ca_certificates_pem = sandbox.ca_certificate_pem().to_owned();
    let reports = lane(notifier, &config())
        .dispatch(&bindings([apns_token(6)]), &message("t", "b"))
        .await;
    assert_eq!(
        reports[0].outcome,
        Outcome::AuthFailed {
            reason: "InvalidProviderToken".into(),
            at_token_endpoint: false
        }
    );
    assert_eq!(reports[0].answer.status, 403);
    assert_eq!(
        reports[0].attempts, 2,
        "one retry with a newly signed token"
    );
}

#[tokio::test]
async fn an_expired_provider_token_is_signed_anew_once_for_many_concurrent_sends() {
    let sandbox = sandbox().await;
    let lane = lane(apns_token_notifier(&sandbox, false), &config());
    let warm = lane
        .dispatch(&bindings([apns_token(0)]), &message("t", "b"))
        .await;
    assert!(matches!(warm[0].outcome, Outcome::Delivered { .. }));
    sandbox.apns().expire_provider_tokens();
    // Tokens are told apart by their issue second; the replacement must be signed in a later one.
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let devices = bindings((1..=1000).map(apns_token));
    let reports = lane.dispatch(&devices, &message("t", "b")).await;
    let delivered = reports
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Delivered { .. }))
        .count();
    assert_eq!(
        delivered,
        1000,
        "{:?}",
        reports
            .iter()
            .find(|r| !matches!(r.outcome, Outcome::Delivered { .. }))
    );
    let jwts: std::collections::HashSet<String> = sends(sandbox.apns().requests())
        .iter()
        .filter_map(|r| header(r, "authorization").map(str::to_owned))
        .collect();
    assert_eq!(jwts.len(), 2, "the first token and exactly one replacement");
}

#[tokio::test]
async fn invalid_tokens_are_reported_and_never_retried() {
    let sandbox = sandbox().await;
    let lane = lane(apns_token_notifier(&sandbox, false), &config());
    sandbox.apns().invalidate_token(&apns_token(1));
    sandbox.apns().add_fault(FaultRule {
        device_token: Some(apns_token(2)),
        action: error(400, "BadDeviceToken"),
        times: None,
    });
    sandbox.apns().add_fault(FaultRule {
        device_token: Some(apns_token(3)),
        action: error(400, "DeviceTokenNotForTopic"),
        times: None,
    });
    let devices = bindings([apns_token(1), apns_token(2), apns_token(3), apns_token(4)]);
    let reports = lane.dispatch(&devices, &message("t", "b")).await;
    assert_eq!(
        reports[0].outcome,
        Outcome::InvalidToken {
            reason: "Unregistered".into()
        }
    );
    assert_eq!(reports[0].answer.status, 410);
    assert!(
        reports[0].answer.body.contains("timestamp"),
        "{}",
        reports[0].answer.body
    );
    assert_eq!(
        reports[1].outcome,
        Outcome::InvalidToken {
            reason: "BadDeviceToken".into()
        }
    );
    assert_eq!(
        reports[2].outcome,
        Outcome::InvalidToken {
            reason: "DeviceTokenNotForTopic".into()
        }
    );
    assert!(matches!(reports[3].outcome, Outcome::Delivered { .. }));
    assert!(reports.iter().all(|r| r.attempts == 1));
    assert_eq!(sends(sandbox.apns().requests()).len(), 4);
}

#[tokio::test]
async fn server_errors_are_retried_with_bounded_backoff_then_reported() {
    let sandbox = sandbox().await;
    let config = config();
    let lane = lane(apns_token_notifier(&sandbox, false), &config);
    sandbox.apns().add_fault(FaultRule {
        device_token: None,
        action: error(500, "InternalServerError"),
        times: None,
    });
    let start = std::time::Instant::now();
    let reports = lane
        .dispatch(&bindings([apns_token(1)]), &message("t", "b"))
        .await;
    let elapsed = start.elapsed();
    assert_eq!(
        reports[0].outcome,
        Outcome::Retryable {
            reason: "InternalServerError".into(),
            retry_after: None
        }
    );
    assert_eq!(reports[0].attempts, config.max_attempts);
    assert_eq!(
        sends(sandbox.apns().requests()).len(),
        config.max_attempts as usize
    );
    // Full jitter under ceilings of 20 ms then 40 ms: the waits add up to at most 60 ms.
    assert!(
        elapsed < Duration::from_millis(60) + Duration::from_secs(1),
        "{elapsed:?}"
    );
}

#[tokio::test]
async fn a_transient_failure_that_clears_is_delivered_on_retry() {
    let sandbox = sandbox().await;
    let lane = lane(apns_token_notifier(&sandbox, false), &config());
    sandbox.apns().add_fault(FaultRule {
        device_token: None,
        action: error(503, "ServiceUnavailable"),
        times: Some(1),
    });
    sandbox.apns().add_fault(FaultRule {
        device_token: None,
        action: FaultAction::Reset,
        times: Some(1),
    });
    let reports = lane
        .dispatch(&bindings([apns_token(1)]), &message("t", "b"))
        .await;
    assert_first_delivered(&reports);
    assert_eq!(reports[0].attempts, 3);
}

#[tokio::test]
async fn retry_after_is_respected() {
    let sandbox = sandbox().await;
    let lane = lane(apns_token_notifier(&sandbox, false), &config());
    sandbox.apns().add_fault(FaultRule {
        device_token: None,
        action: FaultAction::Error {
            status: 429,
            reason: "TooManyRequests".into(),
            retry_after_secs: Some(1),
        },
        times: Some(1),
    });
    let start = std::time::Instant::now();
    let reports = lane
        .dispatch(&bindings([apns_token(1)]), &message("t", "b"))
        .await;
    assert_first_delivered(&reports);
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    let recorded = sends(sandbox.apns().requests());
    assert_eq!(recorded.len(), 2);
    assert!(recorded[1].at_ms - recorded[0].at_ms >= 1000);

    // A wait longer than the configured maximum ends the retries at once.
    sandbox.apns().add_fault(FaultRule {
        device_token: None,
        action: FaultAction::Error {
            status: 429,
            reason: "TooManyRequests".into(),
            retry_after_secs: Some(3600),
        },
        times: None,
    });
    let reports = lane
        .dispatch(&bindings([apns_token(2)]), &message("t", "b"))
        .await;
    assert_eq!(
        reports[0].outcome,
        Outcome::RateLimited {
            reason: "TooManyRequests".into(),
            retry_after: Some(Duration::from_secs(3600))
        }
    );
    assert_eq!(reports[0].attempts, 1);
}

#[tokio::test]
async fn a_slow_vendor_times_out_as_retryable() {
    let sandbox = sandbox().await;
    let config = pushgate::dispatch::DispatchConfig {
        request_timeout: Duration::from_millis(300),
        max_attempts: 1,
        ..config()
    };
    let lane = lane(apns_token_notifier(&sandbox, false), &config);
    sandbox.apns().add_fault(FaultRule {
        device_token: None,
        action: FaultAction::Delay { millis: 2_000 },
        times: None,
    });
    let start = std::time::Instant::now();
    let reports = lane
        .dispatch(&bindings([apns_token(1)]), &message("t", "b"))
        .await;
    assert!(
        matches!(&reports[0].outcome, Outcome::Retryable { reason, .. } if reason.starts_with("timeout")),
        "{reports:?}"
    );
    assert!(start.elapsed() < Duration::from_millis(1500));
}

#[tokio::test]
async fn a_thousand_concurrent_sends_share_few_connections() {
    let sandbox = sandbox().await;
    let lane = lane(apns_token_notifier(&sandbox, false), &config());
    let devices = bindings((0..1000).map(apns_token));
    let reports = lane.dispatch(&devices, &message("t", "b")).await;
    assert!(
        reports
            .iter()
            .all(|r| matches!(r.outcome, Outcome::Delivered { .. }))
    );
    let stats = sandbox.apns().stats();
    assert!(stats.connections <= 2, "{stats:?}");
}

#[tokio::test]
async fn the_circuit_opens_on_repeated_failures_and_recovers_after_the_pause() {
    let sandbox = sandbox().await;
    let config = pushgate::dispatch::DispatchConfig {
        breaker_failures: 5,
        breaker_pause: Duration::from_millis(500),
        max_attempts: 1,
        ..config()
    };
    let lane = lane(apns_token_notifier(&sandbox, false), &config);
    sandbox.apns().add_fault(FaultRule {
        device_token: None,
        action: error(503, "ServiceUnavailable"),
        times: None,
    });
    for n in 0..5 {
        lane.dispatch(&bindings([apns_token(n)]), &message("t", "b"))
            .await;
    }
    assert_eq!(lane.breaker_state(), pushgate::dispatch::BreakerState::Open);
    let reports = lane
        .dispatch(&bindings((10..20).map(apns_token)), &message("t", "b"))
        .await;
    assert!(reports.iter().all(|r| matches!(&r.outcome, Outcome::Retryable { reason, .. } if reason.contains("circuit open"))));
    assert_eq!(
        sends(sandbox.apns().requests()).len(),
        5,
        "an open circuit sends nothing"
    );

    sandbox.apns().clear_faults();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let reports = lane
        .dispatch(&bindings([apns_token(30)]), &message("t", "b"))
        .await;
    assert_first_delivered(&reports);
    assert_eq!(
        lane.breaker_state(),
        pushgate::dispatch::BreakerState::Closed
    );
}

#[tokio::test]
async fn oversize_messages_are_refused_before_any_request() {
    let sandbox = sandbox().await;
    let lane = lane(apns_token_notifier(&sandbox, false), &config());
    let reports = lane
        .dispatch(&bindings([apns_token(1)]), &message("t", &"x".repeat(5000)))
        .await;
    assert!(matches!(reports[0].outcome, Outcome::InvalidMessage { .. }));
    assert_eq!(reports[0].attempts, 0);
    assert!(sends(sandbox.apns().requests()).is_empty());
}

#[tokio::test]
async fn a_p12_certificate_works_like_its_pem() {
    use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
    let sandbox = sandbox().await;
    let minted = sandbox.apns().mint_certificate(TOPIC).unwrap();
    let cert = CertificateDer::from_pem_slice(minted.certificate_pem.as_bytes()).unwrap();
    let key = PrivateKeyDer::from_pem_slice(minted.private_key_pem.as_bytes()).unwrap();
    let chain = p12_keystore::PrivateKeyChain::new(
        vec![1u8; 20],
        p12_keystore::PrivateKey::from_der(key.secret_der()).unwrap(),
        [p12_keystore::Certificate::from_der(&cert).unwrap()],
    );
    let mut store = p12_keystore::KeyStore::new();
    store.add_entry("apns", p12_keystore::KeyStoreEntry::PrivateKeyChain(chain));
    let p12 = store.writer("s3cret").write().unwrap();
    let auth = Auth::Certificate(ApnsCertificateAuth {
        format: Some(Format::P12(pushgate::proto::v1::ApnsP12Certificate {
            p12,
            password: "s3cret".into(),
        })),
    });
    let notifier = apns_notifier(&sandbox, "apns-p12", auth, false);
    let reports = lane(notifier, &config())
        .dispatch(&bindings([apns_token(5)]), &message("t", "b"))
        .await;
    assert_first_delivered(&reports);
}
