//! SendSync through the vendors: results per device, and every failure reason a vendor path produces.

use crate::common::push::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_with_a_device_per_vendor_gets_one_result_each() {
    let mut env = Env::start().await;
    let mut tokens = Vec::new();
    for (i, notifier) in ONE_PER_VENDOR.iter().enumerate() {
        tokens.push(env.bind_new("alice", &format!("d{i}"), notifier).await);
    }
    let response = env
        .send_sync("alice", Strategy::Unspecified, hello())
        .await
        .unwrap();
    assert!(!response.message_id.is_empty());
    assert_eq!(response.results.len(), ONE_PER_VENDOR.len(), "{response:?}");
    for (i, notifier) in ONE_PER_VENDOR.iter().enumerate() {
        let r = of(&response, &format!("d{i}"));
        assert_eq!(status(r), DeliveryStatus::Success, "{notifier}: {r:?}");
        assert_eq!(r.notifier_name, *notifier);
        assert_eq!(r.delivery_channel, DeliveryChannel::Vendor as i32);
        assert_ne!(r.vendor, Vendor::Unspecified as i32);
        assert_eq!(reason(r), FailureReason::Unspecified);
        assert!(r.desc.is_empty());
        assert!(!r.vendor_response.is_empty(), "{notifier}: {r:?}");
        // Exactly one send reached this vendor, for this device's token.
        let sends = env.sends(notifier);
        assert_eq!(sends.len(), 1, "{notifier}");
        assert_eq!(
            sends[0].device_token.as_deref(),
            Some(tokens[i].as_str()),
            "{notifier}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_user_and_a_user_without_devices_fail_as_the_seed_says() {
    let mut env = Env::start().await;
    let r = env
        .send_sync("nobody", Strategy::Unspecified, hello())
        .await
        .unwrap();
    assert_eq!(r.results.len(), 1);
    assert_eq!(reason(&r.results[0]), FailureReason::NoUserExist);
    assert_eq!(r.results[0].desc, "no user exist");
    assert_eq!(status(&r.results[0]), DeliveryStatus::Fail);
    assert!(r.results[0].device_id.is_empty());

    // Bound once, then unbound: the user is known (it still has nothing to push to).
    env.known_without_devices("bob", "phone").await;
    let r = env
        .send_sync("bob", Strategy::Unspecified, hello())
        .await
        .unwrap();
    assert_eq!(r.results.len(), 1);
    assert_eq!(reason(&r.results[0]), FailureReason::NoPushBinding);
    assert_eq!(r.results[0].desc, "no push binding");
    assert_eq!(env.all_sends(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_token_fails_after_the_push_and_unbinds_only_that_device() {
    let mut env = Env::start().await;
    let bad = env.bind_new("carol", "old-phone", HUAWEI).await;
    env.bind_new("carol", "new-phone", HUAWEI).await;
    env.fake(HUAWEI).invalidate_token(&bad);
    let r = env
        .send_sync("carol", Strategy::Unspecified, hello())
        .await
        .unwrap();
    let old = of(&r, "old-phone");
    assert_eq!(status(old), DeliveryStatus::Fail);
    assert_eq!(reason(old), FailureReason::PushYetButFail);
    assert_eq!(old.desc, "push yet but fail");
    assert!(old.binding_removed);
    // Huawei's own answer names the refused token.
    assert!(
        old.vendor_response.contains(&bad),
        "{}",
        old.vendor_response
    );
    let new = of(&r, "new-phone");
    assert_eq!(status(new), DeliveryStatus::Success);
    assert!(!new.binding_removed);
    assert_eq!(env.bound_devices("carol").await, ["new-phone"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifier_state_and_existence_are_checked_before_sending() {
    let mut env = Env::start().await;
    env.bind_new("dave", "a", XIAOMI).await;
    env.bind_new("dave", "b", OPPO).await;
    env.bind_new("dave", "c", MEIZU).await;
    env.set_state(XIAOMI, NotifierState::Disabled).await;
    env.notifiers
        .delete_notifier(authed(
            pushgate::proto::v1::DeleteNotifierRequest { name: OPPO.into() },
            &env.app.token,
        ))
        .await
        .unwrap();
    let r = env
        .send_sync("dave", Strategy::Unspecified, hello())
        .await
        .unwrap();
    assert_eq!(reason(of(&r, "a")), FailureReason::NotifierDisabled);
    assert_eq!(of(&r, "a").desc, "notifier disabled");
    assert_eq!(reason(of(&r, "b")), FailureReason::NoNotifierExist);
    assert_eq!(of(&r, "b").desc, "no notifier exist");
    assert_eq!(status(of(&r, "c")), DeliveryStatus::Success);
    assert_eq!(env.sends(XIAOMI).len() + env.sends(OPPO).len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_fail_as_invalid_notifier_then_the_notifier_is_banned() {
    let mut env = Env::start().await;
    // Xiaomi signs every send with the app secret: a wrong one is refused at the send.
    let mut wrong = env.ready_made(XIAOMI);
    wrong.name = "xiaomi-wrong".into();
    if let Some(pushgate::proto::v1::notifier::Credentials::Xiaomi(c)) = wrong.credentials.as_mut()
    {
        c.app_secret = "not-the-secret".into();
    }
    env.create_notifier(wrong).await;
    env.bind_new("erin", "phone", "xiaomi-wrong").await;
    let r = env
        .send_sync("erin", Strategy::Unspecified, hello())
        .await
        .unwrap();
    let first = of(&r, "phone");
    assert_eq!(status(first), DeliveryStatus::Fail);
    assert_eq!(reason(first), FailureReason::InvalidNotifier);
    assert_eq!(first.desc, "invalid notifier");
    let notifier = env
        .notifiers
        .get_notifier(authed(
            pushgate::proto::v1::GetNotifierRequest {
                name: "xiaomi-wrong".into(),
            },
            &env.app.token,
        ))
        .await
        .unwrap()
        .into_inner()
        .notifier
        .unwrap();
    assert_eq!(notifier.state, NotifierState::Banned as i32);
    assert!(!notifier.state_reason.is_empty());
    let sends_before = env.sends(XIAOMI).len();
    let r = env
        .send_sync("erin", Strategy::Unspecified, hello())
        .await
        .unwrap();
    assert_eq!(reason(of(&r, "phone")), FailureReason::NotifierIsBan);
    assert_eq!(of(&r, "phone").desc, "notifier is ban");
    assert_eq!(
        env.sends(XIAOMI).len(),
        sends_before,
        "a banned notifier sends nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_endpoint_that_fails_is_get_push_token_fail() {
    let mut env = Env::start().await;
    // Huawei refuses a wrong client secret at its OAuth endpoint.
    let mut wrong = env.ready_made(HUAWEI);
    wrong.name = "huawei-wrong".into();
    if let Some(pushgate::proto::v1::notifier::Credentials::Huawei(c)) = wrong.credentials.as_mut()
    {
        c.client_secret = "not-the-secret".into();
    }
    env.create_notifier(wrong).await;
    // A token endpoint that cannot be reached at all.
    let mut down = env.ready_made(HONOR);
    down.name = "honor-down".into();
    down.token_base_url = "https://127.0.0.1:9".into();
    env.create_notifier(down).await;
    // As in Easemob's example: vivo's auth call refuses the sign made with a wrong app secret.
    let mut vivo = env.ready_made(VIVO);
    vivo.name = "vivo-wrong".into();
    if let Some(pushgate::proto::v1::notifier::Credentials::Vivo(c)) = vivo.credentials.as_mut() {
        c.app_secret = "not-the-secret".into();
    }
    env.create_notifier(vivo).await;
    env.bind_new("fay", "a", "huawei-wrong").await;
    env.bind_new("fay", "b", "honor-down").await;
    env.bind_new("fay", "c", "vivo-wrong").await;
    let r = env
        .send_sync("fay", Strategy::Unspecified, hello())
        .await
        .unwrap();
    let refused = of(&r, "a");
    assert_eq!(
        reason(refused),
        FailureReason::GetPushTokenFail,
        "{refused:?}"
    );
    assert_eq!(refused.desc, "get push token fail");
    assert_eq!(status(refused), DeliveryStatus::Fail);
    // The token endpoint's refusal is the device's vendor response, as a send's answer would be.
    let answer: serde_json::Value = serde_json::from_str(&refused.vendor_response)
        .unwrap_or_else(|e| panic!("{e}: {refused:?}"));
    assert_eq!(answer["error"], 1101, "{answer}");
    assert_eq!(
        answer["error_description"], "invalid client_secret",
        "{answer}"
    );
    let unreachable = of(&r, "b");
    assert_eq!(
        reason(unreachable),
        FailureReason::GetPushTokenFail,
        "{unreachable:?}"
    );
    assert_eq!(
        status(unreachable),
        DeliveryStatus::Error,
        "a server-side error"
    );
    assert!(!unreachable.error_message.is_empty());
    // No answer came, so there is none to show.
    assert!(unreachable.vendor_response.is_empty(), "{unreachable:?}");
    let vivo = of(&r, "c");
    assert_eq!(reason(vivo), FailureReason::GetPushTokenFail, "{vivo:?}");
    assert_eq!(vivo.desc, "get push token fail");
    assert_eq!(status(vivo), DeliveryStatus::Fail);
    // vivo's auth answer, as Easemob's callback example carries it: `result` 10206, the sign is wrong.
    let answer: serde_json::Value =
        serde_json::from_str(&vivo.vendor_response).unwrap_or_else(|e| panic!("{e}: {vivo:?}"));
    assert_eq!(answer["result"], 10206, "{answer}");
    assert!(answer["desc"].is_string(), "{answer}");
    assert_eq!(
        env.sends(HUAWEI).len() + env.sends(HONOR).len() + env.sends(VIVO).len(),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_used_up_quota_is_notifier_out_of_limit() {
    let mut env = Env::start().await;
    env.sandbox.xiaomi().set_daily_quota(0);
    env.bind_new("gus", "phone", XIAOMI).await;
    let r = env
        .send_sync("gus", Strategy::Unspecified, hello())
        .await
        .unwrap();
    let result = of(&r, "phone");
    assert_eq!(
        reason(result),
        FailureReason::NotifierOutOfLimit,
        "{result:?}"
    );
    assert_eq!(result.desc, "notifier out of limit");
}
