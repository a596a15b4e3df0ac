//! Notification type and do-not-disturb, at app level and per conversation.

use crate::common::settings::*;

#[tokio::test]
async fn app_level_notification_setting_changes_field_by_field() {
    let server = TestServer::start();
    let app = create_app(&server, "acme#chat").await;
    let mut s = Settings::of(&server, &app).await;

    assert_eq!(
        s.notification("u1", None).await.unwrap(),
        defaults(NotificationType::All)
    );
    let before = now_ms();
    let stored = s
        .set_notification(SetNotificationSettingRequest {
            r#type: Some(NotificationType::At as i32),
            ignore_interval: Some("22:00-07:00".into()),
            ignore_duration: millis(3_600_000),
            ..set("u1")
        })
        .await
        .unwrap();
    let after = now_ms();
    assert_eq!(stored.r#type, NotificationType::At as i32);
    assert_eq!(stored.ignore_interval, "22:00-07:00");
    let until = ms_of(stored.ignore_until.as_ref().expect("a running period"));
    assert!(
        (before + 3_600_000..=after + 3_600_000).contains(&until),
        "until {until} is an hour after the call ({before}..{after})"
    );
    assert_eq!(s.notification("u1", None).await.unwrap(), stored);

    // Each field changes alone; the others keep their values.
    let cleared = s
        .set_notification(SetNotificationSettingRequest {
            ignore_interval: Some(String::new()),
            ..set("u1")
        })
        .await
        .unwrap();
    assert_eq!(cleared.r#type, NotificationType::At as i32);
    assert_eq!(cleared.ignore_interval, "");
    assert_eq!(cleared.ignore_until, stored.ignore_until);
    let ended = s
        .set_notification(SetNotificationSettingRequest {
            ignore_duration: millis(0),
            r#type: Some(NotificationType::None as i32),
            ..set("u1")
        })
        .await
        .unwrap();
    assert_eq!(
        ended,
        defaults(NotificationType::None),
        "zero ends the period"
    );
    // Giving no field changes nothing and answers the current setting.
    assert_eq!(s.set_notification(set("u1")).await.unwrap(), ended);
    // Equal ends (all day) are kept as given.
    let all_day = s
        .set_notification(SetNotificationSettingRequest {
            ignore_interval: Some("08:30-08:30".into()),
            ..set("u1")
        })
        .await
        .unwrap();
    assert_eq!(all_day.ignore_interval, "08:30-08:30");
    // Another user of the app is untouched.
    assert_eq!(
        s.notification("u2", None).await.unwrap(),
        defaults(NotificationType::All)
    );
}

#[tokio::test]
async fn conversation_settings_override_per_conversation() {
    let server = TestServer::start();
    let app = create_app(&server, "acme#chat").await;
    let mut s = Settings::of(&server, &app).await;

    assert_eq!(
        s.notification("u1", group("g1")).await.unwrap(),
        defaults(NotificationType::Default)
    );
    let muted = s
        .set_notification(SetNotificationSettingRequest {
            conversation: group("g1"),
            r#type: Some(NotificationType::None as i32),
            ignore_duration: millis(600_000),
            ..set("u1")
        })
        .await
        .unwrap();
    assert_eq!(muted.r#type, NotificationType::None as i32);
    assert!(muted.ignore_until.is_some());
    assert_eq!(s.notification("u1", group("g1")).await.unwrap(), muted);
    // The one-to-one chat with a user of the same id, another group, and the app level are apart.
    assert_eq!(
        s.notification("u1", peer("g1")).await.unwrap(),
        defaults(NotificationType::Default)
    );
    assert_eq!(
        s.notification("u1", group("g2")).await.unwrap(),
        defaults(NotificationType::Default)
    );
    assert_eq!(
        s.notification("u1", None).await.unwrap(),
        defaults(NotificationType::All)
    );
    let at = s
        .set_notification(SetNotificationSettingRequest {
            conversation: peer("bob"),
            r#type: Some(NotificationType::At as i32),
            ..set("u1")
        })
        .await
        .unwrap();
    assert_eq!(at.r#type, NotificationType::At as i32);

    // Back to DEFAULT with the period ended: the conversation follows the app level again.
    let reset = s
        .set_notification(SetNotificationSettingRequest {
            conversation: group("g1"),
            r#type: Some(NotificationType::Default as i32),
            ignore_duration: millis(0),
            ..set("u1")
        })
        .await
        .unwrap();
    assert_eq!(reset, defaults(NotificationType::Default));
    assert_eq!(
        s.notification("u1", group("g1")).await.unwrap(),
        defaults(NotificationType::Default)
    );
}

#[tokio::test]
async fn bad_notification_settings_name_every_field_and_change_nothing() {
    let server = TestServer::start();
    let app = create_app(&server, "acme#chat").await;
    let mut s = Settings::of(&server, &app).await;

    let good = s
        .set_notification(SetNotificationSettingRequest {
            r#type: Some(NotificationType::At as i32),
            ignore_interval: Some("12:00-13:00".into()),
            ..set("u1")
        })
        .await
        .unwrap();

    // App level: DEFAULT, a malformed interval and a duration over 7 days, all at once.
    assert_invalid(
        s.set_notification(SetNotificationSettingRequest {
            r#type: Some(NotificationType::Default as i32),
            ignore_interval: Some("24:00-07:00".into()),
            ignore_duration: millis(7 * 24 * 3_600_000 + 1),
            ..set("u1")
        })
        .await,
        &["type", "ignore_interval", "ignore_duration"],
    );
    for bad_type in [NotificationType::Unspecified as i32, 99] {
        assert_invalid(
            s.set_notification(SetNotificationSettingRequest {
                r#type: Some(bad_type),
                ..set("u1")
            })
            .await,
            &["type"],
        );
    }
    for interval in ["22:00", "7:00-08:00", "22:00-07:60", "22:00 - 07:00"] {
        assert_invalid(
            s.set_notification(SetNotificationSettingRequest {
                ignore_interval: Some(interval.into()),
                ..set("u1")
            })
            .await,
            &["ignore_interval"],
        );
    }
    let negative = Some(prost_types::Duration {
        seconds: -1,
        nanos: 0,
    });
    let fraction = Some(prost_types::Duration {
        seconds: 1,
        nanos: 500,
    });
    for duration in [negative, fraction] {
        assert_invalid(
            s.set_notification(SetNotificationSettingRequest {
                ignore_duration: duration,
                ..set("u1")
            })
            .await,
            &["ignore_duration"],
        );
    }
    // Conversation level: an interval is app level only; the conversation must be complete.
    assert_invalid(
        s.set_notification(SetNotificationSettingRequest {
            conversation: group("g1"),
            ignore_interval: Some("22:00-07:00".into()),
            r#type: Some(NotificationType::None as i32),
            ..set("u1")
        })
        .await,
        &["ignore_interval"],
    );
    assert_invalid(
        s.set_notification(SetNotificationSettingRequest {
            conversation: Some(NotificationConversation {
                chat_type: ChatType::Unspecified as i32,
                key: "no spaces".into(),
            }),
            r#type: Some(NotificationType::None as i32),
            ..set("")
        })
        .await,
        &["user", "conversation.chat_type", "conversation.key"],
    );
    assert_invalid(
        s.notification("u1", Some(NotificationConversation::default()))
            .await,
        &["conversation.chat_type", "conversation.key"],
    );

    assert_eq!(s.notification("u1", None).await.unwrap(), good);
    assert_eq!(
        s.notification("u1", group("g1")).await.unwrap(),
        defaults(NotificationType::Default)
    );
    // Exactly 7 days is allowed.
    let week = s
        .set_notification(SetNotificationSettingRequest {
            ignore_duration: millis(7 * 24 * 3_600_000),
            ..set("u1")
        })
        .await
        .unwrap();
    assert!(week.ignore_until.is_some());
}
