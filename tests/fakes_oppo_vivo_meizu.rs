//! The OPPO, vivo and Meizu sandbox fakes over real TLS: a plain HTTP client (trusting only the sandbox
//! CA) sends what a dispatcher would, and checks that the fakes accept, refuse and misbehave the way the
//! vendors do.

mod common;

use pushgate::sandbox::{Sandbox, cnkit};
use serde_json::{Value, json};

use common::fakes::{client, error, json_of, now_ms, rule, sandbox};

async fn post_form(client: &reqwest::Client, url: String, form: &[(&str, String)]) -> (u16, Value) {
    let response = client.post(url).form(form).send().await.expect("answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

// ---------------------------------------------------------------------------------------------- OPPO

async fn oppo_auth(
    client: &reqwest::Client,
    sandbox: &Sandbox,
    app_key: &str,
    secret: &str,
    ts: i64,
) -> Value {
    let sign = cnkit::sha256_hex(&format!("{app_key}{ts}{secret}"));
    post_form(
        client,
        format!("{}/server/v1/auth", sandbox.oppo().base_url()),
        &[
            ("app_key", app_key.into()),
            ("timestamp", ts.to_string()),
            ("sign", sign),
        ],
    )
    .await
    .1
}

fn oppo_message(reg_id: &str, title: &str) -> Value {
    json!({"target_type": 2, "target_value": reg_id, "notification": {
        "title": title, "content": "body", "click_action_type": 0, "off_line": true,
        "off_line_ttl": 3600, "channel_id": "news"}})
}

async fn oppo_batch(
    client: &reqwest::Client,
    sandbox: &Sandbox,
    token: &str,
    messages: &[Value],
) -> Value {
    post_form(
        client,
        format!(
            "{}/server/v1/message/notification/unicast_batch",
            sandbox.oppo().base_url()
        ),
        &[
            ("auth_token", token.into()),
            ("messages", Value::Array(messages.to_vec()).to_string()),
        ],
    )
    .await
    .1
}

#[tokio::test]
async fn oppo_auth_send_batch_faults_and_quota() {
    let sandbox = sandbox().await;
    let client = client(&sandbox);
    let oppo = sandbox.oppo();
    let app = oppo.mint_app();

    let wrong = oppo_auth(&client, &sandbox, &app.app_key, "not-the-secret", now_ms()).await;
    assert_eq!(wrong["code"], 16);
    let stale = oppo_auth(
        &client,
        &sandbox,
        &app.app_key,
        &app.master_secret,
        now_ms() - 11 * 60 * 1000,
    )
    .await;
    assert_eq!(stale["code"], 19);
    let unknown = oppo_auth(&client, &sandbox, "nokey", &app.master_secret, now_ms()).await;
    assert_eq!(unknown["code"], 14);
    let ok = oppo_auth(
        &client,
        &sandbox,
        &app.app_key,
        &app.master_secret,
        now_ms(),
    )
    .await;
    assert_eq!(ok["code"], 0, "{ok}");
    assert_eq!(ok["message"], "Success");
    let token = ok["data"]["auth_token"].as_str().unwrap().to_owned();
    assert!(ok["data"]["create_time"].is_i64());

    // Single send, recorded with its fields.
    let (status, sent) = post_form(
        &client,
        format!("{}/server/v1/message/notification/unicast", oppo.base_url()),
        &[
            ("auth_token", token.clone()),
            ("message", oppo_message("CN_aaaa", "hello").to_string()),
        ],
    )
    .await;
    assert_eq!((status, sent["code"].as_i64()), (200, Some(0)), "{sent}");
    assert!(sent["data"]["messageId"].is_string());
    let recorded = oppo.requests();
    let last = recorded.last().unwrap();
    assert_eq!(last.device_token.as_deref(), Some("CN_aaaa"));
    assert!(last.body.contains("auth_token="));
    assert!(recorded.iter().filter(|r| r.token_request).count() == 4);

    // Field limits: a 51-character title is refused with 41, a missing content with 40.
    let long = oppo_batch(
        &client,
        &sandbox,
        &token,
        &[oppo_message("CN_a", &"t".repeat(51))],
    )
    .await;
    assert_eq!(long["code"], 41);
    let mut no_content = oppo_message("CN_a", "t");
    no_content["notification"]
        .as_object_mut()
        .unwrap()
        .remove("content");
    assert_eq!(
        oppo_batch(&client, &sandbox, &token, &[no_content]).await["code"],
        40
    );

    // Per-device failures: exactly the invalid ones carry an errorCode.
    oppo.invalidate_token("CN_dead");
    oppo.add_fault(rule(Some("CN_faulty"), error(200, "10000"), Some(1)));
    let answer = oppo_batch(
        &client,
        &sandbox,
        &token,
        &[
            oppo_message("CN_good1", "a"),
            oppo_message("CN_dead", "b"),
            oppo_message("bad id!", "c"),
            oppo_message("CN_faulty", "d"),
            oppo_message("CN_good2", "e"),
        ],
    )
    .await;
    assert_eq!(answer["code"], 0, "{answer}");
    let data = answer["data"].as_array().unwrap();
    assert_eq!(data.len(), 5);
    let failed: Vec<&str> = data
        .iter()
        .filter(|e| e.get("errorCode").is_some())
        .map(|e| e["registrationId"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["CN_dead", "bad id!", "CN_faulty"]);
    assert!(data.iter().all(|e| e["messageId"].is_string()));
    assert_eq!(data[1]["errorCode"], 10000);

    // Batch limit.
    let many: Vec<Value> = (0..1001)
        .map(|i| oppo_message(&format!("CN_{i}"), "t"))
        .collect();
    assert_eq!(
        oppo_batch(&client, &sandbox, &token, &many).await["code"],
        41
    );
    assert_eq!(
        oppo_batch(&client, &sandbox, &token, &many[..1000]).await["code"],
        0
    );

    // Request-level faults answer the vendor code; the quota answers 33.
    oppo.add_fault(rule(None, error(200, "-2"), Some(1)));
    assert_eq!(
        oppo_batch(&client, &sandbox, &token, &[oppo_message("CN_a", "t")]).await["code"],
        -2
    );
    oppo.set_daily_quota(Some(1));
    assert_eq!(
        oppo_batch(&client, &sandbox, &token, &[oppo_message("CN_a", "t")]).await["code"],
        0
    );
    assert_eq!(
        oppo_batch(&client, &sandbox, &token, &[oppo_message("CN_b", "t")]).await["code"],
        33
    );
    oppo.set_daily_quota(None);

    // Expired auth tokens answer 11.
    oppo.expire_auth_tokens();
    assert_eq!(
        oppo_batch(&client, &sandbox, &token, &[oppo_message("CN_a", "t")]).await["code"],
        11
    );
    let stats = oppo.stats();
    assert_eq!(stats.token_requests, 4);
    assert_eq!(stats.token_requests_per_key.get(&app.app_key), Some(&1));
    assert_eq!(stats.send_requests, 10);
    assert_eq!(stats.faults_applied, 2);
    sandbox.shutdown().await;
}

// ---------------------------------------------------------------------------------------------- vivo

async fn vivo_auth(
    client: &reqwest::Client,
    sandbox: &Sandbox,
    app: &pushgate::sandbox::VivoApp,
    secret: &str,
    ts: i64,
) -> Value {
    let sign = cnkit::md5_hex(&format!("{}{}{ts}{secret}", app.app_id, app.app_key));
    client
        .post(format!("{}/message/auth", sandbox.vivo().base_url()))
        .json(
            &json!({"appId": app.app_id.parse::<i64>().unwrap(), "appKey": app.app_key,
            "timestamp": ts, "sign": sign}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn vivo_body(app_id: &str, reg_id: &str, request_id: &str) -> Value {
    json!({"appId": app_id, "regId": reg_id, "notifyType": 4, "title": "标题", "content": "content",
        "skipType": 4, "skipContent": "com.example.Main", "requestId": request_id, "timeToLive": 86400,
        "classification": 1, "clientCustomMap": {"k": "v"}})
}

async fn vivo_send(
    client: &reqwest::Client,
    sandbox: &Sandbox,
    token: &str,
    body: &Value,
) -> Value {
    client
        .post(format!("{}/message/send", sandbox.vivo().base_url()))
        .header("authToken", token)
        .json(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn vivo_auth_send_limits_faults_and_quota() {
    let sandbox = sandbox().await;
    let client = client(&sandbox);
    let vivo = sandbox.vivo();
    let app = vivo.mint_app();

    assert_eq!(
        vivo_auth(&client, &sandbox, &app, "wrong", now_ms()).await["result"],
        10206
    );
    assert_eq!(
        vivo_auth(
            &client,
            &sandbox,
            &app,
            &app.app_secret,
            now_ms() + 11 * 60 * 1000
        )
        .await["result"],
        10207
    );
    let ok = vivo_auth(&client, &sandbox, &app, &app.app_secret, now_ms()).await;
    assert_eq!(ok["result"], 0, "{ok}");
    assert_eq!(ok["desc"], "请求成功");
    let token = ok["authToken"].as_str().unwrap().to_owned();

    let sent = vivo_send(
        &client,
        &sandbox,
        &token,
        &vivo_body(&app.app_id, "reg1", "r1"),
    )
    .await;
    assert_eq!(sent["result"], 0, "{sent}");
    assert!(sent["taskId"].is_string());
    assert!(sent.get("invalidUser").is_none());
    let last = vivo.requests().last().cloned().unwrap();
    assert_eq!(last.device_token.as_deref(), Some("reg1"));
    assert!(last.body.contains("\"requestId\":\"r1\""));
    assert!(
        last.headers
            .iter()
            .any(|(k, v)| k == "authtoken" && *v == token)
    );

    // requestId must be unique; appId must match the token's.
    assert_eq!(
        vivo_send(
            &client,
            &sandbox,
            &token,
            &vivo_body(&app.app_id, "reg1", "r1")
        )
        .await["result"],
        10058
    );
    assert_eq!(
        vivo_send(&client, &sandbox, &token, &vivo_body("999", "reg1", "r2")).await["result"],
        10094
    );
    // Field limits.
    let mut body = vivo_body(&app.app_id, "reg1", "r3");
    body["title"] = json!("标".repeat(21));
    assert_eq!(
        vivo_send(&client, &sandbox, &token, &body).await["result"],
        10052
    );
    body["title"] = json!("t");
    body["timeToLive"] = json!(899);
    assert_eq!(
        vivo_send(&client, &sandbox, &token, &body).await["result"],
        10054
    );
    body["timeToLive"] = json!(900);
    body["requestId"] = json!("r".repeat(65));
    assert_eq!(
        vivo_send(&client, &sandbox, &token, &body).await["result"],
        10057
    );
    assert_eq!(
        vivo_send(
            &client,
            &sandbox,
            &token,
            &vivo_body(&app.app_id, "bad id!", "r4")
        )
        .await["result"],
        10302
    );

    // An invalidated regId comes back as invalidUser; a token-scoped fault too.
    vivo.invalidate_token("gone");
    let gone = vivo_send(
        &client,
        &sandbox,
        &token,
        &vivo_body(&app.app_id, "gone", "r5"),
    )
    .await;
    assert_eq!(gone["result"], 0);
    assert_eq!(gone["invalidUser"], json!({"userid": "gone", "status": 1}));
    vivo.add_fault(rule(Some("flaky"), error(200, "2"), Some(1)));
    let flaky = vivo_send(
        &client,
        &sandbox,
        &token,
        &vivo_body(&app.app_id, "flaky", "r6"),
    )
    .await;
    assert_eq!(flaky["invalidUser"]["status"], 2);
    vivo.add_fault(rule(None, error(200, "10072"), Some(1)));
    assert_eq!(
        vivo_send(
            &client,
            &sandbox,
            &token,
            &vivo_body(&app.app_id, "reg1", "r7")
        )
        .await["result"],
        10072
    );

    vivo.set_daily_quota(Some(0));
    assert_eq!(
        vivo_send(
            &client,
            &sandbox,
            &token,
            &vivo_body(&app.app_id, "reg1", "r8")
        )
        .await["result"],
        10070
    );
    vivo.set_daily_quota(None);
    vivo.expire_auth_tokens();
    assert_eq!(
        vivo_send(
            &client,
            &sandbox,
            &token,
            &vivo_body(&app.app_id, "reg1", "r9")
        )
        .await["result"],
        10000
    );
    let stats = vivo.stats();
    assert_eq!(stats.token_requests, 3);
    assert_eq!(stats.token_requests_per_key.get(&app.app_id), Some(&1));
    assert_eq!(stats.accepted_sends, 1);
    sandbox.shutdown().await;
}

// --------------------------------------------------------------------------------------------- Meizu

fn meizu_message(title: &str) -> String {
    json!({"noticeBarInfo": {"title": title, "content": "body"},
        "clickTypeInfo": {"clickType": 0}, "pushTimeInfo": {"offLine": 1, "validTime": 24}})
    .to_string()
}

async fn meizu_push(
    client: &reqwest::Client,
    sandbox: &Sandbox,
    app: &pushgate::sandbox::MeizuApp,
    secret: &str,
    push_ids: &str,
    message: &str,
) -> Value {
    let sign = pushgate::sandbox::meizu::sign(
        &[
            ("appId", &app.app_id),
            ("pushIds", push_ids),
            ("messageJson", message),
        ],
        secret,
    );
    post_form(
        client,
        format!(
            "{}/garcia/api/server/push/varnished/pushByPushId",
            sandbox.meizu().base_url()
        ),
        &[
            ("appId", app.app_id.clone()),
            ("pushIds", push_ids.into()),
            ("messageJson", message.into()),
            ("sign", sign),
        ],
    )
    .await
    .1
}

#[tokio::test]
async fn meizu_sign_push_ids_limits_faults_and_quota() {
    let sandbox = sandbox().await;
    let client = client(&sandbox);
    let meizu = sandbox.meizu();
    let app = meizu.mint_app();
    let s = &app.app_secret;

    let bad = meizu_push(&client, &sandbox, &app, "wrong", "abc", &meizu_message("t")).await;
    assert_eq!(bad["code"], "1006");
    let ok = meizu_push(&client, &sandbox, &app, s, "abc", &meizu_message("t")).await;
    assert_eq!(ok["code"], "200", "{ok}");
    assert_eq!(ok["value"], json!({}));
    assert!(ok["msgId"].is_string());
    assert_eq!(
        meizu.requests().last().unwrap().device_token.as_deref(),
        Some("abc")
    );

    meizu.invalidate_token("gone");
    meizu.add_fault(rule(Some("off"), error(200, "110010"), None));
    let mixed = meizu_push(
        &client,
        &sandbox,
        &app,
        s,
        "good1,gone,bad!id,off,good2",
        &meizu_message("t"),
    )
    .await;
    assert_eq!(mixed["code"], "200");
    assert_eq!(
        mixed["value"],
        json!({"110002": ["gone"], "110003": ["bad!id"], "110010": ["off"]})
    );

    let ids: Vec<String> = (0..1001).map(|i| format!("id{i}")).collect();
    assert_eq!(
        meizu_push(
            &client,
            &sandbox,
            &app,
            s,
            &ids.join(","),
            &meizu_message("t")
        )
        .await["code"],
        "1005"
    );
    assert_eq!(
        meizu_push(
            &client,
            &sandbox,
            &app,
            s,
            "abc",
            &meizu_message(&"t".repeat(33))
        )
        .await["code"],
        "1005"
    );
    meizu.add_fault(rule(None, error(200, "110010"), Some(1)));
    assert_eq!(
        meizu_push(&client, &sandbox, &app, s, "abc", &meizu_message("t")).await["code"],
        "110010"
    );
    meizu.set_daily_quota(Some(2));
    assert_eq!(
        meizu_push(&client, &sandbox, &app, s, "a1,a2,a3", &meizu_message("t")).await["code"],
        "110019"
    );
    assert_eq!(
        meizu_push(&client, &sandbox, &app, s, "a1,a2", &meizu_message("t")).await["code"],
        "200"
    );
    let unknown = pushgate::sandbox::MeizuApp {
        app_id: "1".into(),
        app_secret: s.clone(),
    };
    assert_eq!(
        meizu_push(&client, &sandbox, &unknown, s, "abc", &meizu_message("t")).await["code"],
        "110000"
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn control_api_mints_apps_sets_quotas_and_expires_tokens() {
    let sandbox = sandbox().await;
    let client = client(&sandbox);
    let control = client.clone();
    let url = sandbox.control_url();
    let app: Value = json_of(control.post(format!("{url}/oppo/apps"))).await;
    let (key, secret) = (
        app["app_key"].as_str().unwrap(),
        app["master_secret"].as_str().unwrap(),
    );
    let ok = oppo_auth(&client, &sandbox, key, secret, now_ms()).await;
    let token = ok["data"]["auth_token"].as_str().unwrap();
    let quota = control
        .post(format!("{url}/oppo/daily-quota"))
        .json(&json!({"limit": 0}))
        .send()
        .await
        .unwrap();
    assert!(quota.status().is_success());
    assert_eq!(
        oppo_batch(&client, &sandbox, token, &[oppo_message("CN_a", "t")]).await["code"],
        33
    );
    control
        .post(format!("{url}/oppo/expire-credentials"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        oppo_batch(&client, &sandbox, token, &[oppo_message("CN_a", "t")]).await["code"],
        11
    );
    for vendor in ["vivo", "meizu"] {
        let minted: Value = json_of(control.post(format!("{url}/{vendor}/apps"))).await;
        assert!(minted["app_id"].is_string(), "{vendor}: {minted}");
        let stats = control
            .get(format!("{url}/{vendor}/stats"))
            .send()
            .await
            .unwrap();
        assert!(stats.status().is_success());
    }
    sandbox.shutdown().await;
}
