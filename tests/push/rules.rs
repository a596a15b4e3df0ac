//! The rules that decide before (or instead of) a vendor call: the message's own flags, do-not-disturb, the
//! device filter, messages a vendor cannot carry, unusable bindings, and bad input.

use pushgate::proto::v1::{
    ApnsOverride, ApnsPushType, NotificationType, SetNotificationSettingRequest, TemplateRef,
    user_settings_service_client::UserSettingsServiceClient,
};

use crate::common::push::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_asks_not_to_be_pushed_is_not() {
    let mut env = Env::start().await;
    env.bind_new("u", "a", FCM).await;
    env.bind_new("u", "b", APNS).await;
    let r = env
        .send_sync(
            "u",
            Strategy::Unspecified,
            with_options(PushOptions {
                ignore_notification: true,
                ..Default::default()
            }),
        )
        .await
        .unwrap();
    assert_eq!(r.results.len(), 2);
    for result in &r.results {
        assert_eq!(reason(result), FailureReason::MessageIgnorePush);
        assert_eq!(result.desc, "message ignore push");
        assert_eq!(status(result), DeliveryStatus::Fail);
    }
    assert_eq!(env.all_sends(), 0);
}

async fn set_type(env: &Env, user: &str, t: NotificationType) {
    UserSettingsServiceClient::new(env.server.channel().await)
        .set_notification_setting(authed(
            SetNotificationSettingRequest {
                user: user.into(),
                r#type: Some(t as i32),
                ..Default::default()
            },
            &env.app.token,
        ))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn do_not_disturb_holds_pushes_back_unless_forced_or_mentioned() {
    let mut env = Env::start().await;
    env.bind_new("quiet", "phone", OPPO).await;
    set_type(&env, "quiet", NotificationType::None).await;
    let r = env
        .send_sync("quiet", Strategy::Unspecified, hello())
        .await
        .unwrap();
    assert_eq!(reason(of(&r, "phone")), FailureReason::UserIgnorePush);
    assert_eq!(of(&r, "phone").desc, "user ignore push");
    assert_eq!(env.sends(OPPO).len(), 0);
    let forced = with_options(PushOptions {
        force_notification: true,
        ..Default::default()
    });
    let r = env
        .send_sync("quiet", Strategy::Unspecified, forced)
        .await
        .unwrap();
    assert_eq!(status(of(&r, "phone")), DeliveryStatus::Success);
    assert_eq!(env.sends(OPPO).len(), 1);

    // Mentions only: a push that mentions the user (or everyone) passes; others do not.
    set_type(&env, "quiet", NotificationType::At).await;
    let plain = env
        .send_sync("quiet", Strategy::Unspecified, hello())
        .await
        .unwrap();
    assert_eq!(reason(of(&plain, "phone")), FailureReason::UserIgnorePush);
    let to_other = with_options(PushOptions {
        at_users: vec!["someone-else".into()],
        ..Default::default()
    });
    let r = env
        .send_sync("quiet", Strategy::Unspecified, to_other)
        .await
        .unwrap();
    assert_eq!(reason(of(&r, "phone")), FailureReason::UserIgnorePush);
    for mention in [
        PushOptions {
            at_users: vec!["quiet".into()],
            ..Default::default()
        },
        PushOptions {
            at_all: true,
            ..Default::default()
        },
    ] {
        let r = env
            .send_sync("quiet", Strategy::Unspecified, with_options(mention))
            .await
            .unwrap();
        assert_eq!(status(of(&r, "phone")), DeliveryStatus::Success);
    }
    assert_eq!(env.sends(OPPO).len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daily_do_not_disturb_interval_holds_pushes_back() {
    let mut env = Env::start().await;
    env.bind_new("night", "phone", HONOR).await;
    UserSettingsServiceClient::new(env.server.channel().await)
        .set_notification_setting(authed(
            SetNotificationSettingRequest {
                user: "night".into(),
                // Start equal to end: the whole day, whatever the app's time zone.
                ignore_interval: Some("00:00-00:00".into()),
                ..Default::default()
            },
            &env.app.token,
        ))
        .await
        .unwrap();
    let r = env
        .send_sync("night", Strategy::Unspecified, hello())
        .await
        .unwrap();
    assert_eq!(reason(of(&r, "phone")), FailureReason::UserIgnorePush);
    assert!(env.sends(HONOR).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_device_filter_accepts_and_ignores_by_device_and_notifier() {
    let mut env = Env::start().await;
    env.bind_new("f", "a", VIVO).await;
    env.bind_new("f", "b", VIVO).await;
    env.bind_new("f", "c", MEIZU).await;
    let filtered = |filter: PushFilter| {
        with_options(PushOptions {
            filter: Some(filter),
            ..Default::default()
        })
    };
    let r = env
        .send_sync(
            "f",
            Strategy::Unspecified,
            filtered(PushFilter {
                accept_device_ids: vec!["a".into(), "c".into()],
                ignore_notifier_names: vec![MEIZU.into()],
                ..Default::default()
            }),
        )
        .await
        .unwrap();
    assert_eq!(status(of(&r, "a")), DeliveryStatus::Success);
    for skipped in ["b", "c"] {
        assert_eq!(
            reason(of(&r, skipped)),
            FailureReason::IgnorePushDeviceId,
            "{skipped}"
        );
        assert_eq!(of(&r, skipped).desc, "ignore push device id");
    }
    let r = env
        .send_sync(
            "f",
            Strategy::Unspecified,
            filtered(PushFilter {
                ignore_device_ids: vec!["a".into()],
                accept_notifier_names: vec![VIVO.into()],
                ..Default::default()
            }),
        )
        .await
        .unwrap();
    assert_eq!(reason(of(&r, "a")), FailureReason::IgnorePushDeviceId);
    assert_eq!(status(of(&r, "b")), DeliveryStatus::Success);
    assert_eq!(reason(of(&r, "c")), FailureReason::IgnorePushDeviceId);
    assert_eq!(env.sends(VIVO).len(), 2);
    assert_eq!(env.sends(MEIZU).len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_a_vendor_cannot_carry_fail_for_that_vendor_only() {
    let mut env = Env::start().await;
    env.bind_new("m", "hw", HUAWEI).await;
    env.bind_new("m", "gg", FCM).await;
    env.bind_new("m", "ios", APNS).await;
    // Huawei opens only https pages from a notification.
    let http_tap = PushMessage {
        config: Some(MessageConfig {
            click_action: Some(ClickAction {
                target: Some(click_action::Target::Url("http://example.com/x".into())),
            }),
            badge: None,
        }),
        ..hello()
    };
    let r = env
        .send_sync("m", Strategy::Unspecified, http_tap)
        .await
        .unwrap();
    assert_eq!(reason(of(&r, "hw")), FailureReason::InvalidMessage);
    assert_eq!(of(&r, "hw").desc, "invalid message");
    assert_eq!(status(of(&r, "gg")), DeliveryStatus::Success);
    assert_eq!(env.sends(HUAWEI).len(), 0);

    // A VoIP push needs a VoIP notifier: neither the plain APNs notifier nor FCM can carry it.
    let voip = PushMessage {
        apns: Some(ApnsOverride {
            push_type: ApnsPushType::Voip as i32,
            ..Default::default()
        }),
        ..hello()
    };
    let r = env
        .send_sync("m", Strategy::Unspecified, voip)
        .await
        .unwrap();
    for device in ["ios", "gg", "hw"] {
        assert_eq!(
            reason(of(&r, device)),
            FailureReason::InvalidVoipNotification,
            "{device}"
        );
        assert_eq!(of(&r, device).desc, "invalid VOIP notification");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_binding_without_a_token_is_an_illegal_binding() {
    let mut env = Env::start().await;
    env.bind_new("ib", "good", XIAOMI).await;
    let app = env.app.name.clone();
    // The API never stores such a binding; an older version or a damaged store might have.
    env.server = env
        .server
        .restart_with(move |config| {
            let runtime = tokio::runtime::Runtime::new().unwrap();
            runtime.block_on(async {
                let store = pushgate::store::open(config).await.unwrap();
                store
                    .bindings
                    .bind(
                        &app,
                        pushgate::store::BindingRecord {
                            user: "ib".into(),
                            device_id: "broken".into(),
                            device_token: String::new(),
                            notifier_name: XIAOMI.into(),
                            vendor: Vendor::Xiaomi as i32,
                            ..Default::default()
                        },
                        10,
                    )
                    .await
                    .unwrap();
                store.flush().await.unwrap();
            });
        })
        .await;
    env.push = PushServiceClient::new(env.server.channel().await);
    let r = env
        .send_sync("ib", Strategy::Unspecified, hello())
        .await
        .unwrap();
    assert_eq!(reason(of(&r, "broken")), FailureReason::IllegalBinding);
    assert_eq!(of(&r, "broken").desc, "illegal binding");
    assert_eq!(status(of(&r, "good")), DeliveryStatus::Success);
    assert_eq!(env.sends(XIAOMI).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_with_field_violations_and_nothing_is_sent() {
    let mut env = Env::start().await;
    env.bind_new("ok", "a", FCM).await;
    let too_long = PushMessage {
        title: "你".repeat(17),
        content: "c".repeat(101),
        ext: (0..11).map(|i| (format!("k{i}"), "v".into())).collect(),
        ..Default::default()
    };
    let e = env
        .send_sync_request(SendSyncRequest {
            user: "not a user".into(),
            strategy: 99,
            message_source: Some(send_sync_request::MessageSource::Message(too_long)),
            request_id: "r".repeat(65),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let mut fields = violated_fields(&e);
    fields.sort();
    assert_eq!(
        fields,
        [
            "message.content",
            "message.ext",
            "message.title",
            "request_id",
            "strategy",
            "user"
        ]
    );
    let e = env
        .send_sync_request(SendSyncRequest {
            user: "ok".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&e), ["message"]);
    let e = env
        .send_sync_request(SendSyncRequest {
            user: "ok".into(),
            message_source: Some(send_sync_request::MessageSource::MessageId("nope".into())),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let templated = PushMessage {
        template: Some(TemplateRef {
            name: "missing".into(),
            ..Default::default()
        }),
        ..hello()
    };
    let e = env
        .send_sync("ok", Strategy::Unspecified, templated)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    assert_eq!(env.all_sends(), 0);
}
