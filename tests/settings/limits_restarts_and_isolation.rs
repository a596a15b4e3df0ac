//! Limits, restarts, tenant isolation and tokens.

use crate::common::settings::*;

#[tokio::test]
async fn default_limits_are_easemobs() {
    let server = TestServer::start();
    let app = create_app(&server, "acme#chat").await;
    let mut s = Settings::of(&server, &app).await;

    for i in 0..100 {
        s.create_template(&format!("t{i}"), "{0}", "")
            .await
            .unwrap();
    }
    let status = assert_code(
        s.create_template("t100", "{0}", "").await,
        Code::ResourceExhausted,
    );
    let quota = status.get_details_quota_failure().expect("quota failure");
    assert_eq!(quota.violations[0].subject, "templates");
    assert_code(s.template("t100").await, Code::NotFound);
    // Replacing one is fine: the limit counts templates, not calls.
    s.delete_template("t0").await.unwrap();
    s.create_template("t100", "{0}", "").await.unwrap();

    let users: Vec<String> = (0..51).map(|i| format!("u{i}")).collect();
    let entries: Vec<(&str, &str)> = users.iter().map(|u| (u.as_str(), "n")).collect();
    assert_invalid(s.nicknames(&entries).await, &["nicknames"]);
    assert_eq!(s.nicknames(&entries[..50]).await.unwrap().len(), 50);
    assert_eq!(s.nickname("u1", &"n".repeat(100)).await.unwrap().len(), 100);
    assert_invalid(s.nickname("u1", &"n".repeat(101)).await, &["nickname"]);
}

#[tokio::test]
async fn limits_are_configurable() {
    let server = TestServer::start_with(&[
        ("PUSHGATE_SETTINGS_MAX_TEMPLATES_PER_APP", "2"),
        ("PUSHGATE_SETTINGS_MAX_NICKNAMES_PER_CALL", "2"),
        ("PUSHGATE_SETTINGS_MAX_NICKNAME_CHARS", "5"),
        ("PUSHGATE_SETTINGS_MAX_PATTERN_CHARS", "10"),
        ("PUSHGATE_SETTINGS_MAX_IGNORE_DURATION", "1h"),
    ]);
    let app = create_app(&server, "acme#chat").await;
    let other = create_app(&server, "acme#chat2").await;
    let mut s = Settings::of(&server, &app).await;

    s.create_template("a", "x", "").await.unwrap();
    s.create_template("b", "x", "").await.unwrap();
    assert_code(
        s.create_template("c", "x", "").await,
        Code::ResourceExhausted,
    );
    // The count is per app.
    let mut o = Settings::of(&server, &other).await;
    o.create_template("c", "x", "").await.unwrap();

    assert_invalid(
        s.nicknames(&[("u1", "a"), ("u2", "b"), ("u3", "c")]).await,
        &["nicknames"],
    );
    s.nicknames(&[("u1", "a"), ("u2", "b")]).await.unwrap();
    assert_invalid(s.nickname("u1", "sixsix").await, &["nickname"]);
    s.nickname("u1", "five5").await.unwrap();
    assert_invalid(
        s.create_template("d", "elevenchars", "").await,
        &["title_pattern"],
    );
    assert_invalid(
        s.set_notification(SetNotificationSettingRequest {
            ignore_duration: millis(3_600_001),
            ..set("u1")
        })
        .await,
        &["ignore_duration"],
    );
    s.set_notification(SetNotificationSettingRequest {
        ignore_duration: millis(3_600_000),
        ..set("u1")
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn settings_survive_a_restart() {
    let server = TestServer::start();
    let app = create_app(&server, "acme#chat").await;
    let mut s = Settings::of(&server, &app).await;

    s.nickname("alice", "Alice").await.unwrap();
    s.display_style("bob", NotificationDisplayStyle::NicknameAndContent as i32)
        .await
        .unwrap();
    s.set_language("bob", "en").await.unwrap();
    let app_level = s
        .set_notification(SetNotificationSettingRequest {
            r#type: Some(NotificationType::At as i32),
            ignore_interval: Some("23:00-06:30".into()),
            ignore_duration: millis(3_600_000),
            ..set("bob")
        })
        .await
        .unwrap();
    let conversation = s
        .set_notification(SetNotificationSettingRequest {
            conversation: peer("alice"),
            r#type: Some(NotificationType::All as i32),
            ..set("bob")
        })
        .await
        .unwrap();
    let template = s
        .create_template("t1", "{$fromNickname}", "{$msg}")
        .await
        .unwrap();
    s.set_user_template("bob", "t1").await.unwrap();
    drop(s);

    let server = server.restart().await;
    let mut s = Settings::of(&server, &app).await;
    assert_eq!(s.language("bob").await.unwrap(), "en");
    assert_eq!(s.notification("bob", None).await.unwrap(), app_level);
    assert_eq!(
        s.notification("bob", peer("alice")).await.unwrap(),
        conversation
    );
    assert_eq!(s.template("t1").await.unwrap(), template);
    assert_eq!(s.user_template("bob").await.unwrap(), "t1");
    drop(s);

    // What the send path reads for bob, about a message from alice, is all there.
    let (_server, store) = stop_and_open_store(server).await;
    let alice = ConversationKey {
        kind: ChatKind::User,
        key: "alice".into(),
    };
    let profile = store
        .user_settings
        .push_profile("acme#chat", "bob", Some(&alice))
        .await
        .unwrap();
    assert_eq!(
        profile.user.display_style,
        NotificationDisplayStyle::NicknameAndContent as i32
    );
    assert_eq!(profile.user.language, "en");
    assert_eq!(
        profile.conversation.map(|(_, c)| c.notification_type),
        Some(NotificationType::All as i32)
    );
    assert_eq!(profile.template.map(|t| t.name).as_deref(), Some("t1"));
    let sender = store
        .user_settings
        .get_user_settings("acme#chat", "alice")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sender.nickname, "Alice");
}

#[tokio::test]
async fn apps_never_see_each_others_settings() {
    let server = TestServer::start();
    // A name that extends the first one, so a sloppy prefix scan would mix them up.
    let a = create_app(&server, "acme#chat").await;
    let b = create_app(&server, "acme#chat2").await;
    let mut sa = Settings::of(&server, &a).await;
    let mut sb = Settings::of(&server, &b).await;

    sa.set_language("u1", "de").await.unwrap();
    sa.set_notification(SetNotificationSettingRequest {
        r#type: Some(NotificationType::None as i32),
        ..set("u1")
    })
    .await
    .unwrap();
    sa.create_template("t1", "from A", "").await.unwrap();
    sa.set_user_template("u1", "t1").await.unwrap();

    assert_eq!(sb.language("u1").await.unwrap(), "");
    assert_eq!(
        sb.notification("u1", None).await.unwrap(),
        defaults(NotificationType::All)
    );
    assert_code(sb.template("t1").await, Code::NotFound);
    assert_code(sb.set_user_template("u1", "t1").await, Code::NotFound);
    assert_eq!(sb.user_template("u1").await.unwrap(), "");
    // The same template name in the other app is a template of its own.
    sb.create_template("t1", "from B", "").await.unwrap();
    assert_eq!(sa.template("t1").await.unwrap().title_pattern, "from A");
    assert_eq!(sb.template("t1").await.unwrap().title_pattern, "from B");
    sb.delete_template("t1").await.unwrap();
    assert_eq!(sa.user_template("u1").await.unwrap(), "t1");

    // Deleting an app removes its settings and leaves the other's.
    sb.set_language("u1", "fr").await.unwrap();
    AppServiceClient::new(server.channel().await)
        .delete_app(authed(
            DeleteAppRequest {
                name: a.name.clone(),
            },
            &server.admin_token,
        ))
        .await
        .unwrap();
    assert_eq!(sb.language("u1").await.unwrap(), "fr");
    let recreated = create_app(&server, "acme#chat").await;
    let mut sa = Settings::of(&server, &recreated).await;
    assert_eq!(sa.language("u1").await.unwrap(), "");
    assert_code(sa.template("t1").await, Code::NotFound);
}

#[tokio::test]
async fn settings_need_an_app_token() {
    let server = TestServer::start();
    let app = create_app(&server, "acme#chat").await;
    let mut s = Settings::of(&server, &app).await;

    s.token = server.admin_token.clone();
    assert_code(s.language("u1").await, Code::PermissionDenied);
    s.token = "garbage".into();
    assert_code(s.language("u1").await, Code::Unauthenticated);
}
