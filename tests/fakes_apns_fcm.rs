//! The sandbox vendors over real TLS and HTTP/2: a plain HTTP client (trusting only the sandbox CA) sends
//! what a dispatcher would, and checks that the fakes accept, refuse and misbehave the way the vendors do.

mod common;

use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use pushgate::sandbox::{ApnsTokenKey, FaultAction, SANDBOX_PROJECT, SANDBOX_TOPIC, Sandbox};
use serde_json::{Value, json};

use common::fakes::{
    client, client_with, h1_client, h2_client, json_of, now_secs as now, rule, sandbox,
};

const TOPIC: &str = "com.example.app";

fn token(n: u8) -> String {
    format!("{n:02x}").repeat(32)
}

fn apns_jwt(key: &ApnsTokenKey, iat: i64) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(key.key_id.clone());
    let signing = EncodingKey::from_ec_pem(key.private_key_pem.as_bytes()).unwrap();
    jsonwebtoken::encode(&header, &json!({"iss": key.team_id, "iat": iat}), &signing).unwrap()
}

const ALERT: &str = r#"{"aps":{"alert":{"title":"hi","body":"there"}}}"#;

/// Sends an APNs push; returns status, apns-id header, JSON body (Null when empty), retry-after.
async fn apns_send(
    client: &reqwest::Client,
    sandbox: &Sandbox,
    device: &str,
    headers: &[(&str, String)],
    body: &str,
) -> (u16, Option<String>, Value, Option<String>) {
    let mut request = client
        .post(format!("{}/3/device/{device}", sandbox.apns().base_url()))
        .body(body.to_owned());
    for (k, v) in headers {
        request = request.header(*k, v);
    }
    let response = request.send().await.expect("apns answers");
    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let (id, retry) = (header("apns-id"), header("retry-after"));
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    };
    (status, id, body, retry)
}

fn bearer(jwt: &str) -> (&'static str, String) {
    ("authorization", format!("bearer {jwt}"))
}

fn topic(t: &str) -> (&'static str, String) {
    ("apns-topic", t.to_owned())
}

#[tokio::test]
async fn apns_accepts_a_well_formed_push_and_records_it() {
    let sandbox = sandbox().await;
    let key = sandbox.apns().mint_token_key(TOPIC).unwrap();
    let client = h2_client(&sandbox);
    let jwt = apns_jwt(&key, now());
    let id = "123e4567-e89b-12d3-a456-4266554400a0".to_owned();
    let (status, apns_id, body, _) = apns_send(
        &client,
        &sandbox,
        &token(1),
        &[
            bearer(&jwt),
            topic(TOPIC),
            ("apns-id", id.clone()),
            ("apns-push-type", "alert".into()),
            ("apns-priority", "10".into()),
            ("apns-expiration", "0".into()),
        ],
        ALERT,
    )
    .await;
    assert_eq!(
        (status, apns_id.as_deref(), body),
        (200, Some(id.as_str()), Value::Null)
    );
    // Without apns-id, APNs makes one up.
    let (status, apns_id, _, _) = apns_send(
        &client,
        &sandbox,
        &token(1),
        &[bearer(&jwt), topic(TOPIC)],
        ALERT,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(apns_id.unwrap().len(), 36);

    let recorded = sandbox.apns().requests();
    assert_eq!(recorded.len(), 2);
    assert_eq!(recorded[0].device_token.as_deref(), Some(token(1).as_str()));
    assert_eq!(recorded[0].body, ALERT);
    assert_eq!(recorded[0].status, 200);
    assert!(
        recorded[0]
            .headers
            .iter()
            .any(|(k, v)| k == "apns-topic" && v == TOPIC)
    );
    let stats = sandbox.apns().stats();
    assert_eq!((stats.send_requests, stats.accepted_sends), (2, 2));
    assert_eq!(stats.token_requests_per_key.get(&key.key_id), Some(&1));
    sandbox.apns().set_recording(false);
    apns_send(
        &client,
        &sandbox,
        &token(1),
        &[bearer(&jwt), topic(TOPIC)],
        ALERT,
    )
    .await;
    assert_eq!(sandbox.apns().requests().len(), 2);
    assert_eq!(sandbox.apns().stats().send_requests, 3);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn apns_enforces_provider_token_rules() {
    let sandbox = sandbox().await;
    let key = sandbox.apns().mint_token_key(TOPIC).unwrap();
    let other = sandbox.apns().mint_token_key(TOPIC).unwrap();
    let client = h2_client(&sandbox);
    let send = |headers: Vec<(&'static str, String)>| {
        let client = client.clone();
        let sandbox = &sandbox;
        async move { apns_send(&client, sandbox, &token(2), &headers, ALERT).await }
    };

    // Signed by another key under this key's id.
    let forged = apns_jwt(
        &ApnsTokenKey {
            private_key_pem: other.private_key_pem.clone(),
            ..key.clone()
        },
        now(),
    );
    let (status, _, body, _) = send(vec![bearer(&forged), topic(TOPIC)]).await;
    assert_eq!(
        (status, body["reason"].as_str()),
        (403, Some("InvalidProviderToken"))
    );
    let (status, _, body, _) = send(vec![topic(TOPIC)]).await;
    assert_eq!(
        (status, body["reason"].as_str()),
        (403, Some("MissingProviderToken"))
    );
    let stale = apns_jwt(&key, now() - 3700);
    let (status, _, body, _) = send(vec![bearer(&stale), topic(TOPIC)]).await;
    assert_eq!(
        (status, body["reason"].as_str()),
        (403, Some("ExpiredProviderToken"))
    );

    let first = apns_jwt(&key, now() - 5);
    assert_eq!(send(vec![bearer(&first), topic(TOPIC)]).await.0, 200);
    let too_soon = apns_jwt(&key, now());
    let (status, _, body, _) = send(vec![bearer(&too_soon), topic(TOPIC)]).await;
    assert_eq!(
        (status, body["reason"].as_str()),
        (429, Some("TooManyProviderTokenUpdates"))
    );
    assert_eq!(send(vec![bearer(&first), topic(TOPIC)]).await.0, 200);

    sandbox.apns().expire_provider_tokens();
    let (status, _, body, _) = send(vec![bearer(&first), topic(TOPIC)]).await;
    assert_eq!(
        (status, body["reason"].as_str()),
        (403, Some("ExpiredProviderToken"))
    );
    let renewed = apns_jwt(&key, now());
    assert_eq!(send(vec![bearer(&renewed), topic(TOPIC)]).await.0, 200);

    // A key may only push to its team's topics.
    let (status, _, body, _) = send(vec![bearer(&renewed), topic("com.other.app")]).await;
    assert_eq!(
        (status, body["reason"].as_str()),
        (400, Some("TopicDisallowed"))
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn apns_certificate_auth_is_bound_to_its_topic() {
    let sandbox = sandbox().await;
    let cert = sandbox.apns().mint_certificate(TOPIC).unwrap();
    let client = client_with(
        sandbox.ca_certificate_pem(),
        &[b"h2"],
        Some((&cert.certificate_pem, &cert.private_key_pem)),
    );
    assert_eq!(
        apns_send(&client, &sandbox, &token(3), &[], ALERT).await.0,
        200
    );
    assert_eq!(
        apns_send(&client, &sandbox, &token(3), &[topic(TOPIC)], ALERT)
            .await
            .0,
        200
    );
    let voip = [
        topic(&format!("{TOPIC}.voip")),
        ("apns-push-type", "voip".into()),
    ];
    assert_eq!(
        apns_send(&client, &sandbox, &token(3), &voip, ALERT)
            .await
            .0,
        200
    );
    let (status, _, body, _) = apns_send(
        &client,
        &sandbox,
        &token(3),
        &[topic("com.other.app")],
        ALERT,
    )
    .await;
    assert_eq!(
        (status, body["reason"].as_str()),
        (400, Some("TopicDisallowed"))
    );
    // A certificate from another CA is refused at the handshake.
    let (foreign_cert, foreign_key) = {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(Vec::<String>::new())
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let foreign = client_with(
        sandbox.ca_certificate_pem(),
        &[b"h2"],
        Some((&foreign_cert, &foreign_key)),
    );
    assert!(
        foreign
            .post(format!(
                "{}/3/device/{}",
                sandbox.apns().base_url(),
                token(3)
            ))
            .body(ALERT)
            .send()
            .await
            .is_err()
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn apns_checks_tokens_headers_and_payloads() {
    let sandbox = sandbox().await;
    let key = sandbox.apns().mint_token_key(TOPIC).unwrap();
    let client = h2_client(&sandbox);
    let jwt = apns_jwt(&key, now());
    let base = vec![bearer(&jwt), topic(TOPIC)];
    let with = |extra: &[(&'static str, String)]| {
        let mut h = base.clone();
        h.extend_from_slice(extra);
        h
    };
    let reason = |r: (u16, Option<String>, Value, Option<String>)| {
        (r.0, r.2["reason"].as_str().unwrap_or_default().to_owned())
    };
    let case = |device: String, headers: Vec<(&'static str, String)>, body: String| {
        let client = client.clone();
        let sandbox = &sandbox;
        async move { reason(apns_send(&client, sandbox, &device, &headers, &body).await) }
    };
    let ok = |r: &(u16, String)| r.0 == 200;

    assert_eq!(
        case("not-hex".into(), base.clone(), ALERT.into()).await,
        (400, "BadDeviceToken".into())
    );
    sandbox.apns().invalidate_token(&token(4));
    let (status, _, body, _) = apns_send(&client, &sandbox, &token(4), &base, ALERT).await;
    assert_eq!(
        (status, body["reason"].as_str()),
        (410, Some("Unregistered"))
    );
    assert!(body["timestamp"].as_i64().unwrap() > 1_600_000_000_000);

    let big = format!(r#"{{"aps":{{"alert":"{}"}}}}"#, "x".repeat(4100));
    let voip_ok = format!(r#"{{"aps":{{}},"call":"{}"}}"#, "x".repeat(5000));
    let voip = vec![
        bearer(&jwt),
        topic(&format!("{TOPIC}.voip")),
        ("apns-push-type", "voip".into()),
    ];
    let silent = r#"{"aps":{"content-available":1}}"#;
    let one = |name: &'static str, value: &str| with(&[(name, value.to_owned())]);
    let collapse_65 = "c".repeat(65);
    let collapse_64 = "c".repeat(64);
    // Headers, body, and the status and reason APNs answers (200: accepted, whatever the body).
    type Headers = Vec<(&'static str, String)>;
    let cases: Vec<(Headers, &str, u16, &str)> = vec![
        (base.clone(), &big, 413, "PayloadTooLarge"),
        (voip, &voip_ok, 200, ""),
        (vec![bearer(&jwt)], ALERT, 400, "MissingTopic"),
        (one("apns-id", "nope"), ALERT, 400, "BadMessageId"),
        (one("apns-priority", "7"), ALERT, 400, "BadPriority"),
        (
            one("apns-push-type", "background"),
            silent,
            400,
            "BadPriority",
        ),
        (
            with(&[
                ("apns-push-type", "background".into()),
                ("apns-priority", "5".into()),
            ]),
            silent,
            200,
            "",
        ),
        (
            one("apns-push-type", "shout"),
            ALERT,
            400,
            "InvalidPushType",
        ),
        (
            one("apns-expiration", "soon"),
            ALERT,
            400,
            "BadExpirationDate",
        ),
        (
            one("apns-collapse-id", &collapse_65),
            ALERT,
            400,
            "BadCollapseId",
        ),
        (one("apns-collapse-id", &collapse_64), ALERT, 200, ""),
        (base.clone(), "", 400, "PayloadEmpty"),
        (base.clone(), r#"{"alert":"no aps"}"#, 400, "BadPayload"),
    ];
    for (headers, body, status, expected) in cases {
        let got = case(token(5), headers, body.into()).await;
        if status == 200 {
            assert!(ok(&got), "{body}: {got:?}");
        } else {
            assert_eq!(got, (status, expected.into()), "{body}");
        }
    }
    let get = client
        .get(format!(
            "{}/3/device/{}",
            sandbox.apns().base_url(),
            token(5)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(get.status().as_u16(), 405);
    let stats = sandbox.apns().stats();
    assert_eq!(stats.accepted_sends, 3);
    assert_eq!(
        stats.send_requests,
        stats.accepted_sends + stats.rejected_sends
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn apns_faults_answer_delay_and_reset() {
    let sandbox = sandbox().await;
    let key = sandbox.apns().mint_token_key(TOPIC).unwrap();
    let client = h2_client(&sandbox);
    let jwt = apns_jwt(&key, now());
    let headers = [bearer(&jwt), topic(TOPIC)];
    let apns = sandbox.apns();

    apns.add_fault(rule(
        Some(&token(6)),
        FaultAction::Error {
            status: 429,
            reason: "TooManyRequests".into(),
            retry_after_secs: Some(7),
        },
        Some(2),
    ));
    for _ in 0..2 {
        let (status, id, body, retry) =
            apns_send(&client, &sandbox, &token(6), &headers, ALERT).await;
        assert_eq!(
            (status, body["reason"].as_str()),
            (429, Some("TooManyRequests"))
        );
        assert_eq!(retry.as_deref(), Some("7"));
        assert!(id.is_some());
    }
    // Another token is not hit, and the rule is spent after two.
    assert_eq!(
        apns_send(&client, &sandbox, &token(7), &headers, ALERT)
            .await
            .0,
        200
    );
    assert_eq!(
        apns_send(&client, &sandbox, &token(6), &headers, ALERT)
            .await
            .0,
        200
    );

    apns.add_fault(rule(None, FaultAction::Delay { millis: 300 }, Some(1)));
    let started = Instant::now();
    assert_eq!(
        apns_send(&client, &sandbox, &token(8), &headers, ALERT)
            .await
            .0,
        200
    );
    assert!(started.elapsed() >= Duration::from_millis(300));

    apns.add_fault(rule(None, FaultAction::Reset, None));
    for _ in 0..2 {
        let result = client
            .post(format!("{}/3/device/{}", apns.base_url(), token(9)))
            .header("authorization", format!("bearer {jwt}"))
            .header("apns-topic", TOPIC)
            .body(ALERT)
            .send()
            .await;
        assert!(result.is_err(), "a reset gives no answer: {result:?}");
    }
    apns.clear_faults();
    assert_eq!(
        apns_send(&client, &sandbox, &token(9), &headers, ALERT)
            .await
            .0,
        200
    );
    let recorded = apns.requests();
    assert_eq!(recorded.iter().filter(|r| r.status == 0).count(), 2);
    assert_eq!(apns.stats().faults_applied, 5);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn apns_refuses_http1() {
    let sandbox = sandbox().await;
    let http1 = h1_client(&sandbox);
    let result = http1
        .post(format!(
            "{}/3/device/{}",
            sandbox.apns().base_url(),
            token(1)
        ))
        .body(ALERT)
        .send()
        .await;
    assert!(result.is_err(), "{result:?}");
    // No ALPN at all: the fake still only speaks HTTP/2.
    let plain = client_with(sandbox.ca_certificate_pem(), &[], None);
    let result = plain
        .post(format!(
            "{}/3/device/{}",
            sandbox.apns().base_url(),
            token(1)
        ))
        .body(ALERT)
        .send()
        .await;
    assert!(result.is_err(), "{result:?}");
    assert_eq!(sandbox.apns().stats().send_requests, 0);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn concurrent_streams_share_one_connection() {
    let sandbox = sandbox().await;
    let key = sandbox.apns().mint_token_key(TOPIC).unwrap();
    let client = h2_client(&sandbox);
    let jwt = apns_jwt(&key, now());
    let headers = vec![bearer(&jwt), topic(TOPIC)];
    assert_eq!(
        apns_send(&client, &sandbox, &token(1), &headers, ALERT)
            .await
            .0,
        200
    );
    let sends = (0..50).map(|i| {
        let client = client.clone();
        let headers = headers.clone();
        let sandbox = &sandbox;
        async move {
            apns_send(&client, sandbox, &token(i), &headers, ALERT)
                .await
                .0
        }
    });
    let statuses = futures::future::join_all(sends).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let stats = sandbox.apns().stats();
    assert_eq!((stats.connections, stats.accepted_sends), (1, 51));
    let _second = h2_client(&sandbox);
    assert_eq!(
        apns_send(&_second, &sandbox, &token(1), &headers, ALERT)
            .await
            .0,
        200
    );
    assert_eq!(sandbox.apns().stats().connections, 2);
    sandbox.shutdown().await;
}

/// An OAuth assertion for a service account, with claims overridden by `tweak`.
fn assertion(service_account: &Value, tweak: impl FnOnce(&mut Value)) -> String {
    let iat = now();
    let mut claims = json!({
        "iss": service_account["client_email"],
        "scope": "https://www.googleapis.com/auth/firebase.messaging",
        "aud": service_account["token_uri"],
        "iat": iat,
        "exp": iat + 3600,
    });
    tweak(&mut claims);
    let mut header = Header::new(Algorithm::RS256);
    header.kid = service_account["private_key_id"]
        .as_str()
        .map(str::to_owned);
    let key =
        EncodingKey::from_rsa_pem(service_account["private_key"].as_str().unwrap().as_bytes())
            .unwrap();
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

async fn exchange(client: &reqwest::Client, token_uri: &str, assertion: &str) -> (u16, Value) {
    let response = client
        .post(token_uri)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={assertion}"
        ))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

fn service_account(sandbox: &Sandbox) -> Value {
    let json = sandbox
        .notifiers()
        .into_iter()
        .find_map(|n| match n.credentials {
            Some(pushgate::proto::v1::notifier::Credentials::Fcm(f)) => {
                Some(f.service_account_json)
            }
            _ => None,
        })
        .unwrap();
    serde_json::from_str(&json).unwrap()
}

#[tokio::test]
async fn fcm_token_endpoint_checks_the_assertion() {
    let sandbox = sandbox().await;
    let client = client(&sandbox);
    let account = service_account(&sandbox);
    assert_eq!(account["token_uri"], sandbox.fcm().token_uri());

    let (status, body) = exchange(
        &client,
        &sandbox.fcm().token_uri(),
        &assertion(&account, |_| {}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599);
    assert!(body["access_token"].as_str().unwrap().len() > 20);

    let mut forged = account.clone();
    let other: Value =
        serde_json::from_str(&sandbox.fcm().mint_service_account("other-project").unwrap())
            .unwrap();
    forged["private_key"] = other["private_key"].clone();
    let (status, body) = exchange(
        &client,
        &sandbox.fcm().token_uri(),
        &assertion(&forged, |_| {}),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(body["error_description"], "Invalid JWT Signature.");

    let wrong_aud = assertion(&account, |c| {
        c["aud"] = json!("https://oauth2.googleapis.com/token")
    });
    let (status, body) = exchange(&client, &sandbox.fcm().token_uri(), &wrong_aud).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("audience")
    );

    let too_long = assertion(&account, |c| c["exp"] = json!(now() + 7200));
    let (status, body) = exchange(&client, &sandbox.fcm().token_uri(), &too_long).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    let stats = sandbox.fcm().stats();
    assert_eq!(stats.token_requests, 4);
    assert_eq!(stats.token_requests_per_key.values().sum::<u64>(), 1);
    let recorded = sandbox.fcm().requests();
    assert!(
        recorded
            .iter()
            .all(|r| r.token_request && r.path == "/token")
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn fcm_send_checks_auth_and_messages() {
    let sandbox = sandbox().await;
    let fcm = sandbox.fcm();
    let client = client(&sandbox);
    let account = service_account(&sandbox);
    let (_, grant) = exchange(&client, &fcm.token_uri(), &assertion(&account, |_| {})).await;
    let access = grant["access_token"].as_str().unwrap().to_owned();
    let url = format!(
        "{}/v1/projects/{SANDBOX_PROJECT}/messages:send",
        fcm.base_url()
    );
    let send = |bearer: Option<String>, body: Value| {
        let client = client.clone();
        let url = url.clone();
        async move {
            let mut request = client.post(&url).json(&body);
            if let Some(b) = bearer {
                request = request.bearer_auth(b);
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let retry = response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            let body: Value = response.json().await.unwrap();
            (status, body, retry)
        }
    };
    let message = |token: &str| {
        json!({"message": {"token": token, "notification": {"title": "t", "body": "b"},
            "data": {"k": "v"}, "android": {"priority": "HIGH", "ttl": "60s"}}})
    };
    let auth = Some(access.clone());
    let error_code = |body: &Value| {
        body["error"]["details"].as_array().and_then(|d| {
            d.iter()
                .find_map(|x| x["errorCode"].as_str().map(str::to_owned))
        })
    };

    let (status, body, _) = send(auth.clone(), message("device-1:APA91b_ok")).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["name"]
            .as_str()
            .unwrap()
            .starts_with(&format!("projects/{SANDBOX_PROJECT}/messages/"))
    );

    let (status, body, _) = send(Some("ya29.bogus".into()), message("d1")).await;
    assert_eq!(
        (status, body["error"]["status"].as_str()),
        (401, Some("UNAUTHENTICATED"))
    );
    let (status, _, _) = send(None, message("d1")).await;
    assert_eq!(status, 401);

    let (status, body, _) = send(auth.clone(), message("not a token!")).await;
    assert_eq!(
        (status, body["error"]["status"].as_str()),
        (400, Some("INVALID_ARGUMENT"))
    );
    assert_eq!(
        body["error"]["message"],
        "The registration token is not a valid FCM registration token"
    );
    assert_eq!(error_code(&body).as_deref(), Some("INVALID_ARGUMENT"));

    fcm.invalidate_token("gone-device");
    let (status, body, _) = send(auth.clone(), message("gone-device")).await;
    assert_eq!(
        (status, body["error"]["status"].as_str()),
        (404, Some("NOT_FOUND"))
    );
    assert_eq!(error_code(&body).as_deref(), Some("UNREGISTERED"));

    let mut big = message("d1");
    big["message"]["data"]["k"] = json!("x".repeat(4100));
    assert_eq!(send(auth.clone(), big).await.0, 400);
    let mut bad_ttl = message("d1");
    bad_ttl["message"]["android"]["ttl"] = json!("60");
    let (status, body, _) = send(auth.clone(), bad_ttl).await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("message.android.ttl")
    );
    let mut unknown = message("d1");
    unknown["message"]["badge"] = json!(1);
    let (status, body, _) = send(auth.clone(), unknown).await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Unknown name \"badge\"")
    );
    let mut numeric = message("d1");
    numeric["message"]["data"]["n"] = json!(1);
    assert_eq!(send(auth.clone(), numeric).await.0, 400);

    // Another project's sender is refused.
    let other_url = format!("{}/v1/projects/someone-else/messages:send", fcm.base_url());
    let response = client
        .post(&other_url)
        .bearer_auth(&access)
        .json(&message("d1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);

    fcm.add_fault(rule(
        Some("flaky"),
        FaultAction::Error {
            status: 503,
            reason: "UNAVAILABLE".into(),
            retry_after_secs: Some(3),
        },
        Some(1),
    ));
    let (status, body, retry) = send(auth.clone(), message("flaky")).await;
    assert_eq!(
        (status, body["error"]["status"].as_str()),
        (503, Some("UNAVAILABLE"))
    );
    assert_eq!(error_code(&body).as_deref(), Some("UNAVAILABLE"));
    assert_eq!(retry.as_deref(), Some("3"));
    assert_eq!(send(auth.clone(), message("flaky")).await.0, 200);

    fcm.expire_access_tokens();
    let (status, body, _) = send(auth.clone(), message("d1")).await;
    assert_eq!(
        (status, body["error"]["status"].as_str()),
        (401, Some("UNAUTHENTICATED"))
    );
    let (_, grant) = exchange(&client, &fcm.token_uri(), &assertion(&account, |_| {})).await;
    assert_eq!(
        send(
            grant["access_token"].as_str().map(str::to_owned),
            message("d1")
        )
        .await
        .0,
        200
    );
    let stats = fcm.stats();
    assert_eq!(stats.accepted_sends, 3);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn control_api_steers_the_fakes_over_http() {
    let sandbox = sandbox().await;
    let key = sandbox.apns().mint_token_key(TOPIC).unwrap();
    let client = h2_client(&sandbox);
    let control = h1_client(&sandbox);
    let url = sandbox.control_url();

    let added = control
        .post(format!("{url}/apns/faults"))
        .json(&json!({"device_token": token(1),
            "action": {"type": "error", "status": 500, "reason": "InternalServerError"}, "times": 1}))
        .send()
        .await
        .unwrap();
    assert!(added.status().is_success());
    let jwt = apns_jwt(&key, now());
    let (status, _, body, _) = apns_send(
        &client,
        &sandbox,
        &token(1),
        &[bearer(&jwt), topic(TOPIC)],
        ALERT,
    )
    .await;
    assert_eq!(
        (status, body["reason"].as_str()),
        (500, Some("InternalServerError"))
    );

    control
        .post(format!("{url}/apns/invalid-tokens"))
        .json(&json!({"device_token": token(2)}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        apns_send(
            &client,
            &sandbox,
            &token(2),
            &[bearer(&jwt), topic(TOPIC)],
            ALERT
        )
        .await
        .0,
        410
    );

    let stats: Value = json_of(control.get(format!("{url}/apns/stats"))).await;
    assert_eq!(stats["send_requests"], 2);
    assert_eq!(stats["faults_applied"], 1);
    let requests: Value = json_of(control.get(format!("{url}/apns/requests"))).await;
    assert_eq!(requests.as_array().unwrap().len(), 2);
    control
        .delete(format!("{url}/apns/requests"))
        .send()
        .await
        .unwrap();
    assert!(sandbox.apns().requests().is_empty());

    let minted: Value = json_of(
        control
            .post(format!("{url}/apns/token-keys"))
            .json(&json!({"topic": "com.control.app"})),
    )
    .await;
    assert_eq!(minted["key_id"].as_str().unwrap().len(), 10);
    let notifiers: Value = json_of(control.get(format!("{url}/notifiers"))).await;
    let names: Vec<&str> = notifiers
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "sandbox-apns-token",
            "sandbox-apns-cert",
            "sandbox-fcm",
            "sandbox-huawei",
            "sandbox-honor",
            "sandbox-xiaomi",
            "sandbox-oppo",
            "sandbox-vivo",
            "sandbox-meizu"
        ]
    );
    assert_eq!(notifiers[0]["apns"]["topic"], SANDBOX_TOPIC);
    assert_eq!(notifiers[0]["sendBaseUrl"], sandbox.apns().base_url());
    let ca = control
        .get(format!("{url}/ca.pem"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(ca, sandbox.ca_certificate_pem());
    assert_eq!(
        control
            .get(format!("{url}/nokia/stats"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        404
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn the_gateway_accepts_every_ready_made_notifier() {
    use pushgate::proto::v1::{
        CreateNotifierRequest, notifier_service_client::NotifierServiceClient,
    };
    let server = common::TestServer::start();
    let app = common::create_app(&server, "sandbox#demo").await;
    let sandbox = sandbox().await;
    let mut notifiers = NotifierServiceClient::new(server.channel().await);
    let names: Vec<String> = sandbox.notifiers().into_iter().map(|n| n.name).collect();
    for vendor in ["sandbox-huawei", "sandbox-honor", "sandbox-xiaomi"] {
        assert!(names.iter().any(|n| n == vendor), "{vendor} in {names:?}");
    }
    for notifier in sandbox.notifiers() {
        let name = notifier.name.clone();
        let created = notifiers
            .create_notifier(common::authed(
                CreateNotifierRequest {
                    notifier: Some(notifier),
                },
                &app.token,
            ))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:?}"))
            .into_inner()
            .notifier
            .unwrap();
        assert_eq!(created.name, name);
    }
    sandbox.shutdown().await;
}
