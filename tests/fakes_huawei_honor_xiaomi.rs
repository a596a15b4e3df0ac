//! The Huawei, Honor and Xiaomi sandbox fakes over real TLS: a plain HTTP client (trusting only the
//! sandbox CA) sends what a dispatcher would, and checks the vendors' answers, codes and limits.

mod common;

use pushgate::sandbox::{FaultAction, HuaweiApp, Sandbox};
use serde_json::{Value, json};

use common::fakes::{answer, client, error, h1_client, json_of, rule, sandbox};

// ---------------------------------------------------------------- OAuth (Huawei, Honor)

/// Asks a client-credentials token endpoint (Huawei's, Honor's) for an access token.
async fn oauth_token(
    client: &reqwest::Client,
    token_url: String,
    id: &str,
    secret: &str,
) -> (u16, Value) {
    let response = client
        .post(token_url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
        ])
        .send()
        .await
        .unwrap();
    answer(response).await
}

/// A JSON POST of `body` to `url` with `Authorization: Bearer {bearer}`.
fn bearer_post(
    client: &reqwest::Client,
    url: String,
    bearer: &str,
    body: &Value,
) -> reqwest::RequestBuilder {
    client
        .post(url)
        .header("authorization", format!("Bearer {bearer}"))
        .json(body)
}

// ---------------------------------------------------------------- Huawei

async fn huawei_send(
    client: &reqwest::Client,
    sandbox: &Sandbox,
    app_id: &str,
    bearer: &str,
    body: &Value,
) -> (u16, Value) {
    let request = bearer_post(client, sandbox.huawei().send_url(app_id), bearer, body);
    answer(request.send().await.unwrap()).await
}

/// A freshly minted Huawei app and a live access token for it.
async fn huawei_access(client: &reqwest::Client, sandbox: &Sandbox) -> (HuaweiApp, String) {
    let app = sandbox.huawei().mint_app();
    let token_url = sandbox.huawei().token_url();
    let (_, body) = oauth_token(client, token_url, &app.app_id, &app.client_secret).await;
    (app, body["access_token"].as_str().unwrap().to_owned())
}

fn huawei_message(tokens: &[&str]) -> Value {
    json!({
        "validate_only": false,
        "message": {
            "data": "{\"k\":\"v\"}",
            "android": {
                "urgency": "HIGH",
                "ttl": "86400s",
                "notification": {"title": "hi", "body": "there", "click_action": {"type": 3}},
            },
            "token": tokens,
        }
    })
}

#[tokio::test]
async fn huawei_oauth_checks_the_secret_and_tokens_expire() {
    let sandbox = sandbox().await;
    let client = client(&sandbox);
    let app = sandbox.huawei().mint_app();

    let (status, body) =
        oauth_token(&client, sandbox.huawei().token_url(), &app.app_id, "wrong").await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], 1101);
    assert_eq!(body["sub_error"], 12304);
    assert_eq!(body["error_description"], "invalid client_secret");

    let (status, body) = oauth_token(
        &client,
        sandbox.huawei().token_url(),
        &app.app_id,
        &app.client_secret,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["token_type"], "Bearer");
    let access = body["access_token"].as_str().unwrap().to_owned();

    let message = huawei_message(&["tokenA1"]);
    assert_eq!(
        huawei_send(&client, &sandbox, &app.app_id, &access, &message)
            .await
            .1["code"],
        "80000000"
    );
    // No bearer, an unknown one, another app's: 80200001.
    let response = client
        .post(sandbox.huawei().send_url(&app.app_id))
        .json(&message)
        .send()
        .await
        .unwrap();
    let (status, body) = answer(response).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("80200001")));
    assert_eq!(
        huawei_send(&client, &sandbox, &app.app_id, "forged", &message)
            .await
            .1["code"],
        "80200001"
    );
    let other = sandbox.huawei().mint_app();
    assert_eq!(
        huawei_send(&client, &sandbox, &other.app_id, &access, &message)
            .await
            .1["code"],
        "80200001"
    );

    // Expired by the control hook, and by a zero lifetime.
    sandbox.huawei().expire_access_tokens();
    let (status, body) = huawei_send(&client, &sandbox, &app.app_id, &access, &message).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("80200003")));
    sandbox.huawei().set_access_token_lifetime(0);
    let (_, body) = oauth_token(
        &client,
        sandbox.huawei().token_url(),
        &app.app_id,
        &app.client_secret,
    )
    .await;
    assert_eq!(body["expires_in"], 0);
    let short = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        huawei_send(&client, &sandbox, &app.app_id, &short, &message)
            .await
            .1["code"],
        "80200003"
    );

    let stats = sandbox.huawei().stats();
    assert_eq!(stats.token_requests, 3);
    assert_eq!(stats.token_requests_per_key[&app.app_id], 2);
    assert_eq!(stats.send_requests, 6);
    assert_eq!(stats.accepted_sends, 1);
    let tokens: Vec<bool> = sandbox
        .huawei()
        .requests()
        .iter()
        .map(|r| r.token_request)
        .collect();
    assert_eq!(
        tokens,
        [true, true, false, false, false, false, false, true, false]
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn huawei_send_checks_batches_and_reports_illegal_tokens() {
    let sandbox = sandbox().await;
    let client = client(&sandbox);
    let (app, access) = huawei_access(&client, &sandbox).await;

    let (status, body) = huawei_send(
        &client,
        &sandbox,
        &app.app_id,
        &access,
        &huawei_message(&["tok1", "tok2"]),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str(), body["msg"].as_str()),
        (200, Some("80000000"), Some("Success"))
    );
    assert!(!body["requestId"].as_str().unwrap().is_empty());
    let recorded = sandbox.huawei().requests().pop().unwrap();
    assert_eq!(recorded.path, format!("/v1/{}/messages:send", app.app_id));
    assert!(
        recorded
            .headers
            .contains(&("authorization".into(), format!("Bearer {access}")))
    );
    let sent: Value = serde_json::from_str(&recorded.body).unwrap();
    assert_eq!(sent["message"]["token"], json!(["tok1", "tok2"]));
    assert_eq!(sent["message"]["android"]["urgency"], "HIGH");
    assert_eq!(recorded.status, 200);

    // Partial: one invalidated, one malformed; exactly those come back as illegal tokens.
    sandbox.huawei().invalidate_token("gone1");
    let (status, body) = huawei_send(
        &client,
        &sandbox,
        &app.app_id,
        &access,
        &huawei_message(&["ok1", "gone1", "not a token", "ok2"]),
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (200, Some("80100000")));
    let msg: Value = serde_json::from_str(body["msg"].as_str().unwrap()).unwrap();
    assert_eq!(
        msg,
        json!({"success": 2, "failure": 2, "illegal_tokens": ["gone1", "not a token"]})
    );

    // All invalid.
    let (status, body) = huawei_send(
        &client,
        &sandbox,
        &app.app_id,
        &access,
        &huawei_message(&["gone1", "bad token"]),
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (400, Some("80300007")));

    // 1000 tokens pass, 1001 are refused.
    let many: Vec<String> = (0..1001).map(|i| format!("t{i}")).collect();
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    let (_, body) = huawei_send(
        &client,
        &sandbox,
        &app.app_id,
        &access,
        &huawei_message(&refs[..1000]),
    )
    .await;
    assert_eq!(body["code"], "80000000");
    let (status, body) = huawei_send(
        &client,
        &sandbox,
        &app.app_id,
        &access,
        &huawei_message(&refs),
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (400, Some("80300010")));

    // Size: over 4096 bytes without the tokens.
    let mut big = huawei_message(&["tok1"]);
    big["message"]["data"] = json!("x".repeat(4100));
    assert_eq!(
        huawei_send(&client, &sandbox, &app.app_id, &access, &big)
            .await
            .1["code"],
        "80300008"
    );

    // Bad messages.
    let mut no_click = huawei_message(&["tok1"]);
    no_click["message"]["android"]["notification"]
        .as_object_mut()
        .unwrap()
        .remove("click_action");
    assert_eq!(
        huawei_send(&client, &sandbox, &app.app_id, &access, &no_click)
            .await
            .1["code"],
        "80100003"
    );
    let mut two_targets = huawei_message(&["tok1"]);
    two_targets["message"]["topic"] = json!("news");
    assert_eq!(
        huawei_send(&client, &sandbox, &app.app_id, &access, &two_targets)
            .await
            .1["code"],
        "80100001"
    );

    let stats = sandbox.huawei().stats();
    assert_eq!(stats.largest_batch, 1001);
    assert_eq!(stats.device_tokens, 2 + 4 + 2 + 1000 + 1001 + 1 + 1 + 1);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn huawei_faults_fail_requests_and_single_tokens() {
    let sandbox = sandbox().await;
    let client = client(&sandbox);
    let (app, access) = huawei_access(&client, &sandbox).await;
    let message = huawei_message(&["tok1", "tok2"]);

    sandbox
        .huawei()
        .add_fault(rule(None, error(500, "81000001"), Some(1)));
    let (status, body) = huawei_send(&client, &sandbox, &app.app_id, &access, &message).await;
    assert_eq!((status, body["code"].as_str()), (500, Some("81000001")));

    sandbox.huawei().add_fault(rule(
        None,
        FaultAction::Error {
            status: 503,
            reason: String::new(),
            retry_after_secs: Some(7),
        },
        Some(1),
    ));
    let response = bearer_post(
        &client,
        sandbox.huawei().send_url(&app.app_id),
        &access,
        &message,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(response.status().as_u16(), 503);
    assert_eq!(response.headers()["retry-after"], "7");

    sandbox
        .huawei()
        .add_fault(rule(Some("tok2"), error(400, "80300007"), Some(1)));
    let (_, body) = huawei_send(&client, &sandbox, &app.app_id, &access, &message).await;
    assert_eq!(body["code"], "80100000");
    let msg: Value = serde_json::from_str(body["msg"].as_str().unwrap()).unwrap();
    assert_eq!(msg["illegal_tokens"], json!(["tok2"]));
    // Spent: the next send is clean.
    assert_eq!(
        huawei_send(&client, &sandbox, &app.app_id, &access, &message)
            .await
            .1["code"],
        "80000000"
    );

    sandbox
        .huawei()
        .add_fault(rule(None, FaultAction::Reset, Some(1)));
    assert!(
        bearer_post(
            &client,
            sandbox.huawei().send_url(&app.app_id),
            &access,
            &message
        )
        .send()
        .await
        .is_err()
    );
    assert_eq!(sandbox.huawei().stats().faults_applied, 4);
    sandbox.shutdown().await;
}

// ---------------------------------------------------------------- Honor

async fn honor_send(
    client: &reqwest::Client,
    sandbox: &Sandbox,
    app_id: &str,
    bearer: &str,
    timestamp: bool,
    body: &Value,
) -> (u16, Value) {
    let mut request = bearer_post(client, sandbox.honor().send_url(app_id), bearer, body);
    if timestamp {
        request = request.header("timestamp", "1700000000000");
    }
    answer(request.send().await.unwrap()).await
}

fn honor_message(tokens: &[&str]) -> Value {
    json!({
        "android": {"notification": {"title": "hi", "body": "there", "clickAction": {"type": 3}}},
        "token": tokens,
    })
}

#[tokio::test]
async fn honor_checks_auth_timestamp_and_reports_token_lists() {
    let sandbox = sandbox().await;
    let client = client(&sandbox);
    let app = sandbox.honor().mint_app();

    let (status, body) = oauth_token(
        &client,
        sandbox.honor().token_url(),
        &app.client_id,
        "wrong",
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("unauthorized_client"))
    );
    let (status, body) = oauth_token(
        &client,
        sandbox.honor().token_url(),
        &app.client_id,
        &app.client_secret,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    let access = body["access_token"].as_str().unwrap().to_owned();

    let (status, body) = honor_send(
        &client,
        &sandbox,
        &app.app_id,
        &access,
        false,
        &honor_message(&["h1"]),
    )
    .await;
    assert_eq!((status, body["code"].as_i64()), (400, Some(80100001)));

    let (status, body) = honor_send(
        &client,
        &sandbox,
        &app.app_id,
        &access,
        true,
        &honor_message(&["h1", "h2"]),
    )
    .await;
    assert_eq!((status, body["code"].as_i64()), (200, Some(200)), "{body}");
    assert_eq!(body["data"]["sendResult"], true);
    assert_eq!(body["data"]["failTokens"], json!([]));
    assert_eq!(body["data"]["expireTokens"], json!([]));
    let recorded = sandbox.honor().requests().pop().unwrap();
    assert_eq!(recorded.path, format!("/api/v1/{}/sendMessage", app.app_id));
    assert!(
        recorded
            .headers
            .contains(&("timestamp".into(), "1700000000000".into()))
    );

    sandbox.honor().invalidate_token("h-old");
    sandbox
        .honor()
        .add_fault(rule(Some("h-flaky"), error(400, "failed"), Some(1)));
    let (_, body) = honor_send(
        &client,
        &sandbox,
        &app.app_id,
        &access,
        true,
        &honor_message(&["h1", "h-old", "h-flaky", "bad token"]),
    )
    .await;
    assert_eq!(body["code"], 200);
    assert_eq!(body["data"]["expireTokens"], json!(["h-old"]));
    assert_eq!(body["data"]["failTokens"], json!(["h-flaky", "bad token"]));

    let many: Vec<String> = (0..1001).map(|i| format!("t{i}")).collect();
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    let (_, body) = honor_send(
        &client,
        &sandbox,
        &app.app_id,
        &access,
        true,
        &honor_message(&refs),
    )
    .await;
    assert_eq!(body["code"], 80300010);

    let mut big = honor_message(&["h1"]);
    big["data"] = json!("x".repeat(4100));
    assert_eq!(
        honor_send(&client, &sandbox, &app.app_id, &access, true, &big)
            .await
            .1["code"],
        80300008
    );

    sandbox
        .honor()
        .add_fault(rule(None, error(500, "81000001"), Some(1)));
    let (status, body) = honor_send(
        &client,
        &sandbox,
        &app.app_id,
        &access,
        true,
        &honor_message(&["h1"]),
    )
    .await;
    assert_eq!((status, body["code"].as_i64()), (500, Some(81000001)));

    sandbox.honor().expire_access_tokens();
    let (status, body) = honor_send(
        &client,
        &sandbox,
        &app.app_id,
        &access,
        true,
        &honor_message(&["h1"]),
    )
    .await;
    assert_eq!((status, body["code"].as_i64()), (401, Some(80200003)));
    let stats = sandbox.honor().stats();
    assert_eq!(stats.token_requests, 2);
    assert_eq!(stats.accepted_sends, 2);
    sandbox.shutdown().await;
}

// ---------------------------------------------------------------- Xiaomi

async fn xiaomi_send(
    client: &reqwest::Client,
    sandbox: &Sandbox,
    secret: &str,
    form: &[(&str, &str)],
) -> (u16, Value) {
    let response = client
        .post(sandbox.xiaomi().send_url())
        .header("authorization", format!("key={secret}"))
        .form(form)
        .send()
        .await
        .unwrap();
    answer(response).await
}

fn xiaomi_form<'a>(package: &'a str, regids: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("registration_id", regids),
        ("restricted_package_name", package),
        ("title", "hi"),
        ("description", "there"),
        ("pass_through", "0"),
        ("notify_type", "-1"),
        ("time_to_live", "86400000"),
        ("payload", "{\"k\":\"v\"}"),
        ("extra.channel_id", "news"),
    ]
}

#[tokio::test]
async fn xiaomi_checks_secret_fields_regids_and_quota() {
    let sandbox = sandbox().await;
    let client = h1_client(&sandbox);
    let app = sandbox.xiaomi().mint_app("com.example.app");
    let pkg = app.package_name.as_str();

    let (status, body) = xiaomi_send(&client, &sandbox, "wrong", &xiaomi_form(pkg, "r1")).await;
    assert_eq!(status, 200);
    assert_eq!(
        (body["result"].as_str(), body["code"].as_i64()),
        (Some("error"), Some(21301))
    );
    assert!(
        body["trace_id"].is_string()
            && body["description"].is_string()
            && body["reason"].is_string()
    );

    let (status, body) = xiaomi_send(
        &client,
        &sandbox,
        &app.app_secret,
        &xiaomi_form(pkg, "r1,r2"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        (body["result"].as_str(), body["code"].as_i64()),
        (Some("ok"), Some(0)),
        "{body}"
    );
    assert!(body["data"]["id"].is_string());
    assert!(body["data"].get("bad_regids").is_none());
    let recorded = sandbox.xiaomi().requests().pop().unwrap();
    assert_eq!(recorded.path, "/v3/message/regid");
    assert!(
        recorded.body.contains("registration_id=r1%2Cr2"),
        "{}",
        recorded.body
    );
    assert!(recorded.body.contains("extra.channel_id=news"));

    sandbox.xiaomi().invalidate_token("r-gone");
    let (_, body) = xiaomi_send(
        &client,
        &sandbox,
        &app.app_secret,
        &xiaomi_form(pkg, "r1,r-gone,bad id,r2"),
    )
    .await;
    assert_eq!(body["result"], "ok");
    assert_eq!(body["data"]["bad_regids"], "r-gone,bad id");

    let (_, body) = xiaomi_send(
        &client,
        &sandbox,
        &app.app_secret,
        &xiaomi_form(pkg, "r-gone"),
    )
    .await;
    assert_eq!(body["code"], 20301);
    let (_, body) = xiaomi_send(
        &client,
        &sandbox,
        &app.app_secret,
        &xiaomi_form("com.other", "r1"),
    )
    .await;
    assert_eq!(body["code"], 20301);

    let many: Vec<String> = (0..1001).map(|i| format!("r{i}")).collect();
    let (_, body) = xiaomi_send(
        &client,
        &sandbox,
        &app.app_secret,
        &xiaomi_form(pkg, &many[..1000].join(",")),
    )
    .await;
    assert_eq!(body["code"], 0);
    let (_, body) = xiaomi_send(
        &client,
        &sandbox,
        &app.app_secret,
        &xiaomi_form(pkg, &many.join(",")),
    )
    .await;
    assert_eq!(body["code"], 10017);

    let long_title = "t".repeat(50);
    let mut form = xiaomi_form(pkg, "r1");
    form[2] = ("title", &long_title);
    assert_eq!(
        xiaomi_send(&client, &sandbox, &app.app_secret, &form)
            .await
            .1["code"],
        10017
    );
    let mut form = xiaomi_form(pkg, "r1");
    form.remove(3);
    assert_eq!(
        xiaomi_send(&client, &sandbox, &app.app_secret, &form)
            .await
            .1["code"],
        10016
    );

    // Quota: counted per registration id delivered.
    sandbox.xiaomi().set_daily_quota(4);
    sandbox.xiaomi().reset_quota_usage();
    assert_eq!(
        xiaomi_send(
            &client,
            &sandbox,
            &app.app_secret,
            &xiaomi_form(pkg, "q1,q2,q3")
        )
        .await
        .1["code"],
        0
    );
    let (_, body) = xiaomi_send(
        &client,
        &sandbox,
        &app.app_secret,
        &xiaomi_form(pkg, "q4,q5"),
    )
    .await;
    assert_eq!(body["code"], 200001);
    assert_eq!(
        xiaomi_send(&client, &sandbox, &app.app_secret, &xiaomi_form(pkg, "q4"))
            .await
            .1["code"],
        0
    );

    // Faults: request-level with a vendor code, token-scoped as a bad regid.
    sandbox.xiaomi().set_daily_quota(u64::MAX);
    sandbox
        .xiaomi()
        .add_fault(rule(None, error(200, "200001"), Some(1)));
    assert_eq!(
        xiaomi_send(&client, &sandbox, &app.app_secret, &xiaomi_form(pkg, "r1"))
            .await
            .1["code"],
        200001
    );
    sandbox
        .xiaomi()
        .add_fault(rule(Some("r2"), error(200, "bad"), None));
    let (_, body) = xiaomi_send(
        &client,
        &sandbox,
        &app.app_secret,
        &xiaomi_form(pkg, "r1,r2,r3"),
    )
    .await;
    assert_eq!(body["data"]["bad_regids"], "r2");

    let stats = sandbox.xiaomi().stats();
    assert_eq!(stats.largest_batch, 1001);
    assert_eq!(stats.accepted_sends, 6);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn control_api_mints_apps_and_sets_the_quota() {
    let sandbox = sandbox().await;
    let control = h1_client(&sandbox);
    let url = sandbox.control_url();
    let post = |path: &str, body: Value| control.post(format!("{url}{path}")).json(&body).send();

    let huawei: Value = post("/huawei/apps", json!({}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let client = client(&sandbox);
    let (status, _) = oauth_token(
        &client,
        sandbox.huawei().token_url(),
        huawei["app_id"].as_str().unwrap(),
        huawei["client_secret"].as_str().unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    let honor: Value = post("/honor/apps", json!({}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        honor["app_id"].is_string()
            && honor["client_id"].is_string()
            && honor["client_secret"].is_string()
    );
    let xiaomi: Value = post("/xiaomi/apps", json!({"package_name": "com.x"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(xiaomi["package_name"], "com.x");
    let quota = post("/xiaomi/quota", json!({"daily": 0})).await.unwrap();
    assert_eq!(quota.status().as_u16(), 204);
    let (_, body) = xiaomi_send(
        &client,
        &sandbox,
        xiaomi["app_secret"].as_str().unwrap(),
        &xiaomi_form("com.x", "r1"),
    )
    .await;
    assert_eq!(body["code"], 200001);
    let stats: Value = json_of(control.get(format!("{url}/xiaomi/stats"))).await;
    assert_eq!(stats["send_requests"], 1);
    assert_eq!(stats["device_tokens"], 1);
    assert_eq!(
        post("/huawei/expire-credentials", json!({}))
            .await
            .unwrap()
            .status()
            .as_u16(),
        204
    );
    sandbox.shutdown().await;
}
