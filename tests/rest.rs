//! Easemob's push REST API (`[rest]`) over a real server: the token path, SendSync at Easemob's path with its
//! documentation's example body, Easemob's answers, and every error shape (each changing nothing).

mod common;

use common::push::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A world with the REST listener on: the app is `push#test`, so its paths start `/push/test/`.
async fn world(extra: &[(&str, &str)]) -> (Env, String) {
    let mut settings = vec![("PUSHGATE_REST_ENABLED", "true")];
    settings.extend_from_slice(extra);
    let env = Env::start_with(&settings).await;
    let base = format!("{}/push/test", env.server.rest_url());
    (env, base)
}

fn client() -> reqwest::Client {
    common::admin_client()
}

/// POSTs `body` (JSON text, sent as written) to `url` with `token`; the status and the JSON answer.
async fn post(url: &str, token: Option<&str>, body: &str) -> (StatusCode, Value) {
    let mut request = client()
        .post(url)
        .header("Content-Type", "application/json")
        .body(body.to_owned());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("an answer");
    let status = response.status();
    let text = response.text().await.expect("a body");
    let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, json)
}

/// Checks Easemob's error shape and answers its `error` and `error_description`.
fn error_of(answer: &Value) -> (String, String) {
    for field in ["error", "exception", "error_description"] {
        assert!(answer[field].is_string(), "{field} in {answer}");
    }
    for field in ["timestamp", "duration"] {
        assert!(answer[field].is_i64(), "{field} in {answer}");
    }
    (
        answer["error"].as_str().unwrap().to_owned(),
        answer["error_description"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_path_trades_client_credentials_for_an_app_token() {
    let (env, base) = world(&[]).await;
    let body = json!({
        "grant_type": "client_credentials",
        "client_id": env.app.client_id,
        "client_secret": env.app.client_secret,
        // Easemob's own example sends the lifetime as a string.
        "ttl": "1024000",
    });
    let (status, answer) = post(&format!("{base}/token"), None, &body.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["application"], "push#test");
    let expires_in = answer["expires_in"].as_i64().unwrap();
    assert!((1_023_990..=1_024_000).contains(&expires_in), "{answer}");
    let token = answer["access_token"].as_str().unwrap().to_owned();
    // The token works on the push paths (and on gRPC: it is the same app token).
    let (status, answer) = post(
        &format!("{base}/push/sync/nobody"),
        Some(&token),
        r#"{"pushMessage":{"title":"t"}}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");

    // Wrong secret, another grant, an unknown app, bad JSON: Easemob's answers.
    let wrong = json!({"grant_type": "client_credentials", "client_id": env.app.client_id,
                       "client_secret": "not-it"});
    let (status, answer) = post(&format!("{base}/token"), None, &wrong.to_string()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_of(&answer).0, "invalid_grant");
    let password = json!({"grant_type": "password", "client_id": env.app.client_id,
                          "client_secret": env.app.client_secret});
    let (status, answer) = post(&format!("{base}/token"), None, &password.to_string()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_of(&answer).1.contains("grant_type"), "{answer}");
    let elsewhere = format!("{}/push/nothing/token", env.server.rest_url());
    let (status, answer) = post(&elsewhere, None, &body.to_string()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        error_of(&answer),
        (
            "organization_application_not_found".into(),
            "Could not find application for push/nothing from URI: push/nothing/token".into()
        )
    );
    let (status, answer) = post(&format!("{base}/token"), None, r#"{"grant_type"="x"}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_of(&answer).0, "json_parse");
    // Another app's credentials are not this app's.
    let other = common::create_app(&env.server, "push#other").await;
    let theirs = json!({"grant_type": "client_credentials", "client_id": other.client_id,
                        "client_secret": other.client_secret});
    let (status, answer) = post(&format!("{base}/token"), None, &theirs.to_string()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(error_of(&answer).0, "invalid_grant");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_pushes_answer_as_easemobs_examples() {
    let (mut env, base) = world(&[]).await;
    env.bind_new("test1", "phone", FCM).await;
    env.known_without_devices("unbound", "old-phone").await;
    let token = env.app.token.clone();
    // The body of Easemob's curl example, verbatim.
    let example = r#"{
"strategy": 3,
"pushMessage": {
"title": "环信推送",
"content": "你好,欢迎使用环信推送服务",
"sub_title": "环信"
}
}"#;
    let (status, answer) = post(&format!("{base}/push/sync/test1"), Some(&token), example).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(
        answer["timestamp"].is_i64() && answer["duration"].is_i64(),
        "{answer}"
    );
    let data = answer["data"].as_array().expect("one item per device");
    assert_eq!(data.len(), 1, "{answer}");
    assert_eq!(data[0]["pushStatus"], "SUCCESS", "{answer}");
    assert!(
        data[0]["data"]["name"].is_string(),
        "FCM's answer as the vendor gave it: {answer}"
    );
    let sent = env.wait_for_sends(FCM, 1).await;
    let body: Value = serde_json::from_str(&sent[0].body).expect("FCM's body is JSON");
    assert_eq!(
        body["message"]["notification"]["title"], "环信推送",
        "{body}"
    );

    for (user, desc) in [
        ("nobody", "appUser not exists"),
        ("unbound", "no push binding"),
    ] {
        let (status, answer) = post(
            &format!("{base}/push/sync/{user}"),
            Some(&token),
            r#"{"pushMessage":{"title":"t"}}"#,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(
            answer["data"],
            json!([{"pushStatus": "FAIL", "desc": desc}]),
            "{user}"
        );
    }
}

/// One bad request and the error it must get.
struct Case {
    case: &'static str,
    token: Option<String>,
    body: String,
    status: u16,
    error: &'static str,
    mentions: &'static str,
}

impl Case {
    fn new(
        case: &'static str,
        token: Option<&String>,
        body: &str,
        status: u16,
        error: &'static str,
        mentions: &'static str,
    ) -> Self {
        Self {
            case,
            token: token.cloned(),
            body: body.to_owned(),
            status,
            error,
            mentions,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_easemobs_errors_and_send_nothing() {
    let (mut env, base) = world(&[("PUSHGATE_PUSH_SYNC_PER_SECOND_PER_APP", "100")]).await;
    env.bind_new("test1", "phone", FCM).await;
    let token = env.app.token.clone();
    let sync = format!("{base}/push/sync/test1");
    let other = common::create_app(&env.server, "push#other").await;
    let title = |t: &str| format!(r#"{{"pushMessage":{{"title":"{t}"}}}}"#);
    let long_title = title(&"x".repeat(5_000));
    let plain = title("t");
    let forged = "pg1.forged.token".to_owned();
    let cases = [
        Case::new("no token", None, &plain, 401, "unauthorized", ""),
        Case::new(
            "a forged token",
            Some(&forged),
            &plain,
            401,
            "auth_bad_access_token",
            "",
        ),
        Case::new(
            "another app's token",
            Some(&other.token),
            &plain,
            401,
            "unauthorized",
            "push#test",
        ),
        Case::new(
            "malformed JSON",
            Some(&token),
            r#"{"pushMessage": {"title": "t""#,
            400,
            "json_parse",
            "",
        ),
        Case::new("an empty body", Some(&token), "", 400, "json_parse", ""),
        Case::new(
            "a wrong type",
            Some(&token),
            r#"{"strategy":"three","pushMessage":{"title":"t"}}"#,
            400,
            "json_parse",
            "strategy",
        ),
        Case::new(
            "a strategy out of range",
            Some(&token),
            r#"{"strategy":7,"pushMessage":{"title":"t"}}"#,
            400,
            "illegal_argument",
            "strategy",
        ),
        Case::new(
            "no pushMessage",
            Some(&token),
            r#"{"strategy":2}"#,
            400,
            "illegal_argument",
            "pushMessage",
        ),
        Case::new(
            "a block not translated yet",
            Some(&token),
            r#"{"pushMessage":{"title":"t","vivo":{}}}"#,
            400,
            "illegal_argument",
            "pushMessage.vivo",
        ),
        Case::new(
            "an unknown field",
            Some(&token),
            r#"{"pushMessage":{"title":"t"},"colour":1}"#,
            400,
            "json_parse",
            "colour",
        ),
        Case::new(
            "a title over the limit",
            Some(&token),
            &long_title,
            400,
            "illegal_argument",
            "title",
        ),
    ];
    for c in cases {
        let (got, answer) = post(&sync, c.token.as_deref(), &c.body).await;
        assert_eq!(got.as_u16(), c.status, "{}: {answer}", c.case);
        let (error, description) = error_of(&answer);
        assert_eq!(error, c.error, "{}: {answer}", c.case);
        assert!(description.contains(c.mentions), "{}: {answer}", c.case);
    }
    // Unknown paths and methods.
    for path in ["/push/test/push/nowhere", "/push/test", "/x"] {
        let (status, answer) = post(
            &format!("{}{path}", env.server.rest_url()),
            Some(&token),
            "{}",
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(error_of(&answer).1, "url is invalid");
    }
    let got = client()
        .get(&sync)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), StatusCode::NOT_FOUND);
    // A body over rest.max_body_bytes (1 MiB).
    let huge = format!(
        r#"{{"pushMessage":{{"title":"{}"}}}}"#,
        "x".repeat(1_100_000)
    );
    let (status, answer) = post(&sync, Some(&token), &huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    error_of(&answer);
    assert_eq!(env.sends(FCM).len(), 0, "nothing was sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_sync_rate_is_easemobs_429() {
    let (mut env, base) = world(&[("PUSHGATE_PUSH_SYNC_PER_SECOND_PER_APP", "1")]).await;
    env.bind_new("test1", "phone", FCM).await;
    let sync = format!("{base}/push/sync/test1");
    let body = r#"{"pushMessage":{"title":"t"}}"#;
    let (first, _) = post(&sync, Some(&env.app.token), body).await;
    assert_eq!(first, StatusCode::OK);
    let (second, answer) = post(&sync, Some(&env.app.token), body).await;
    assert_eq!(second, StatusCode::TOO_MANY_REQUESTS, "{answer}");
    let (error, description) = error_of(&answer);
    assert_eq!(error, "reach_limit");
    assert!(
        description.starts_with("This request has reached api limit"),
        "{answer}"
    );
    assert_eq!(env.sends(FCM).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_and_single_pushes_are_accepted_as_easemob_answers() {
    let (mut env, base) = world(&[]).await;
    env.bind_new("test1", "phone-1", FCM).await;
    env.bind_new("test2", "phone-2", FCM).await;
    let token = env.app.token.clone();
    let (status, answer) = post(
        &format!("{base}/push/async/test1"),
        Some(&token),
        r#"{"strategy":2,"pushMessage":{"title":"later","content":"c"}}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        answer["data"],
        json!([{"pushStatus": "ASYNC_SUCCESS", "data": "", "desc": "success"}])
    );
    env.wait_for_sends(FCM, 1).await;

    // Easemob's push/single example (its empty vivo block left out: not translated yet).
    let example = r#"{"targets": ["test2", "test1"], "pushMessage": {"title": "Hello", "subTitle": "Hello", "content": "Hello"}}"#;
    let (status, answer) = post(&format!("{base}/push/single"), Some(&token), example).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        answer["data"],
        json!([
            {"id": "test2", "pushStatus": "ASYNC_SUCCESS", "desc": "async success."},
            {"id": "test1", "pushStatus": "ASYNC_SUCCESS", "desc": "async success."},
        ])
    );
    env.wait_for_sends(FCM, 3).await;

    // At most 100 targets, at least one.
    let many: Vec<String> = (0..101).map(|i| format!("u{i}")).collect();
    let too_many = json!({"targets": many, "pushMessage": {"title": "t"}}).to_string();
    for body in [
        too_many.as_str(),
        r#"{"targets":[],"pushMessage":{"title":"t"}}"#,
    ] {
        let (status, answer) = post(&format!("{base}/push/single"), Some(&token), body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        let (error, description) = error_of(&answer);
        assert_eq!(error, "illegal_argument");
        assert!(description.starts_with("targets:"), "{answer}");
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(env.sends(FCM).len(), 3, "the refused ones sent nothing");
}
