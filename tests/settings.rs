//! UserSettingsService over a real gRPC connection to a real server: every RPC, every limit, bad input that
//! changes nothing, restarts and tenant isolation.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use common::{TestApp, TestServer, authed, create_app, violated_fields};
use pushgate::{
    proto::v1::{
        BatchSetPushNicknamesRequest, CreateTemplateRequest, DeleteAppRequest,
        DeleteTemplateRequest, GetLanguageRequest, GetNotificationSettingRequest,
        GetTemplateRequest, GetUserTemplateRequest, NotificationConversation,
        NotificationDisplayStyle, NotificationSetting, NotificationTemplate, NotificationType,
        PushNickname, SetDisplayStyleRequest, SetLanguageRequest, SetNotificationSettingRequest,
        SetPushNicknameRequest, SetUserTemplateRequest, UpdateTemplateRequest,
        app_service_client::AppServiceClient, notification_conversation::ChatType,
        user_settings_service_client::UserSettingsServiceClient,
    },
    store::{ChatKind, ConversationKey, Store},
};
use tonic::{Code, Status, transport::Channel};
use tonic_types::StatusExt;

/// A settings client acting for one app.
struct Settings {
    client: UserSettingsServiceClient<Channel>,
    token: String,
}

impl Settings {
    async fn of(server: &TestServer, app: &TestApp) -> Self {
        Self {
            client: UserSettingsServiceClient::new(server.channel().await),
            token: app.token.clone(),
        }
    }

    async fn nickname(&mut self, user: &str, nickname: &str) -> Result<String, Status> {
        let r = SetPushNicknameRequest {
            user: user.into(),
            nickname: nickname.into(),
        };
        let answer = self
            .client
            .set_push_nickname(authed(r, &self.token))
            .await?;
        Ok(answer.into_inner().nickname)
    }

    async fn nicknames(&mut self, entries: &[(&str, &str)]) -> Result<Vec<PushNickname>, Status> {
        let r = BatchSetPushNicknamesRequest {
            nicknames: entries
                .iter()
                .map(|(user, nickname)| PushNickname {
                    user: user.to_string(),
                    nickname: nickname.to_string(),
                })
                .collect(),
        };
        let answer = self
            .client
            .batch_set_push_nicknames(authed(r, &self.token))
            .await?;
        Ok(answer.into_inner().nicknames)
    }

    async fn display_style(&mut self, user: &str, style: i32) -> Result<i32, Status> {
        let r = SetDisplayStyleRequest {
            user: user.into(),
            display_style: style,
        };
        let answer = self
            .client
            .set_display_style(authed(r, &self.token))
            .await?;
        Ok(answer.into_inner().display_style)
    }

    async fn set_notification(
        &mut self,
        r: SetNotificationSettingRequest,
    ) -> Result<NotificationSetting, Status> {
        let answer = self
            .client
            .set_notification_setting(authed(r, &self.token))
            .await?;
        Ok(answer.into_inner().setting.expect("setting"))
    }

    async fn notification(
        &mut self,
        user: &str,
        conversation: Option<NotificationConversation>,
    ) -> Result<NotificationSetting, Status> {
        let r = GetNotificationSettingRequest {
            user: user.into(),
            conversation: conversation.clone(),
        };
        let answer = self
            .client
            .get_notification_setting(authed(r, &self.token))
            .await?
            .into_inner();
        assert_eq!(
            answer.conversation, conversation,
            "the conversation is echoed"
        );
        Ok(answer.setting.expect("setting"))
    }

    async fn set_language(&mut self, user: &str, language: &str) -> Result<String, Status> {
        let r = SetLanguageRequest {
            user: user.into(),
            language: language.into(),
        };
        let answer = self.client.set_language(authed(r, &self.token)).await?;
        Ok(answer.into_inner().language)
    }

    async fn language(&mut self, user: &str) -> Result<String, Status> {
        let r = GetLanguageRequest { user: user.into() };
        let answer = self.client.get_language(authed(r, &self.token)).await?;
        Ok(answer.into_inner().language)
    }

    async fn create_template(
        &mut self,
        name: &str,
        title: &str,
        content: &str,
    ) -> Result<NotificationTemplate, Status> {
        let r = CreateTemplateRequest {
            name: name.into(),
            title_pattern: title.into(),
            content_pattern: content.into(),
        };
        let answer = self.client.create_template(authed(r, &self.token)).await?;
        Ok(answer.into_inner().template.expect("template"))
    }

    async fn template(&mut self, name: &str) -> Result<NotificationTemplate, Status> {
        let r = GetTemplateRequest { name: name.into() };
        let answer = self.client.get_template(authed(r, &self.token)).await?;
        Ok(answer.into_inner().template.expect("template"))
    }

    async fn update_template(
        &mut self,
        name: &str,
        title: Option<&str>,
        content: Option<&str>,
    ) -> Result<NotificationTemplate, Status> {
        let r = UpdateTemplateRequest {
            name: name.into(),
            title_pattern: title.map(Into::into),
            content_pattern: content.map(Into::into),
        };
        let answer = self.client.update_template(authed(r, &self.token)).await?;
        Ok(answer.into_inner().template.expect("template"))
    }

    async fn delete_template(&mut self, name: &str) -> Result<(), Status> {
        let r = DeleteTemplateRequest { name: name.into() };
        self.client.delete_template(authed(r, &self.token)).await?;
        Ok(())
    }

    async fn set_user_template(&mut self, user: &str, name: &str) -> Result<String, Status> {
        let r = SetUserTemplateRequest {
            user: user.into(),
            template_name: name.into(),
        };
        let answer = self
            .client
            .set_user_template(authed(r, &self.token))
            .await?;
        Ok(answer.into_inner().template_name)
    }

    async fn user_template(&mut self, user: &str) -> Result<String, Status> {
        let r = GetUserTemplateRequest { user: user.into() };
        let answer = self
            .client
            .get_user_template(authed(r, &self.token))
            .await?;
        Ok(answer.into_inner().template_name)
    }
}

fn group(id: &str) -> Option<NotificationConversation> {
    Some(NotificationConversation {
        chat_type: ChatType::Group as i32,
        key: id.into(),
    })
}

fn peer(id: &str) -> Option<NotificationConversation> {
    Some(NotificationConversation {
        chat_type: ChatType::User as i32,
        key: id.into(),
    })
}

fn set(user: &str) -> SetNotificationSettingRequest {
    SetNotificationSettingRequest {
        user: user.into(),
        ..Default::default()
    }
}

fn millis(ms: i64) -> Option<prost_types::Duration> {
    Some(prost_types::Duration {
        seconds: ms / 1000,
        nanos: (ms % 1000) as i32 * 1_000_000,
    })
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn ms_of(t: &prost_types::Timestamp) -> i64 {
    t.seconds * 1000 + i64::from(t.nanos) / 1_000_000
}

/// The setting a user or conversation has when nothing was set.
fn defaults(t: NotificationType) -> NotificationSetting {
    NotificationSetting {
        r#type: t as i32,
        ignore_interval: String::new(),
        ignore_until: None,
    }
}

/// Asserts that `result` is INVALID_ARGUMENT naming exactly `fields`.
#[track_caller]
fn assert_invalid<T: std::fmt::Debug>(result: Result<T, Status>, fields: &[&str]) {
    let status = result.expect_err("the call must fail");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(violated_fields(&status), fields, "{status:?}");
}

#[track_caller]
fn assert_code<T: std::fmt::Debug>(result: Result<T, Status>, code: Code) -> Status {
    let status = result.expect_err("the call must fail");
    assert_eq!(status.code(), code, "{status:?}");
    status
}

/// Stops the server and opens its store, to see what the send path would read.
async fn stop_and_open_store(server: TestServer) -> (TestServer, Store) {
    let server = tokio::task::spawn_blocking(move || {
        let mut server = server;
        let status = server.terminate();
        assert!(status.success(), "shutdown failed: {status}");
        server
    })
    .await
    .expect("stop");
    let store = Store::open_sled(server.dir()).expect("open the stopped server's store");
    (server, store)
}

#[tokio::test]
async fn push_nicknames_are_set_one_by_one_and_in_batches() {
    let server = TestServer::start();
    let app = create_app(&server, "acme#chat").await;
    let mut s = Settings::of(&server, &app).await;

    assert_eq!(s.nickname("alice", "Alice 🌸").await.unwrap(), "Alice 🌸");
    assert_eq!(s.nickname("carol", "Carol").await.unwrap(), "Carol");
    assert_eq!(s.nickname("carol", "").await.unwrap(), "", "empty clears");
    let stored = s
        .nicknames(&[("bob", "Bob"), ("dave", "大卫"), ("alice", "Ally")])
        .await
        .unwrap();
    let echoed: Vec<_> = stored
        .iter()
        .map(|n| (n.user.as_str(), n.nickname.as_str()))
        .collect();
    assert_eq!(
        echoed,
        [("bob", "Bob"), ("dave", "大卫"), ("alice", "Ally")]
    );

    // A batch with bad entries is refused whole, naming every bad entry.
    let long = "n".repeat(101);
    assert_invalid(
        s.nicknames(&[
            ("erin", "Erin"),
            ("bad user", "x"),
            ("erin", "again"),
            ("frank", &long),
        ])
        .await,
        &[
            "nicknames[1].user",
            "nicknames[2].user",
            "nicknames[3].nickname",
        ],
    );
    assert_invalid(s.nicknames(&[]).await, &["nicknames"]);
    assert_invalid(s.nickname("alice", &long).await, &["nickname"]);
    assert_invalid(s.nickname("alice", "tab\there").await, &["nickname"]);
    assert_invalid(s.nickname("", "x").await, &["user"]);

    drop(s);
    let (_server, store) = stop_and_open_store(server).await;
    let nickname = |user: &'static str| {
        let store = store.clone();
        async move {
            store
                .user_settings
                .get_user_settings("acme#chat", user)
                .await
                .unwrap()
                .map(|r| r.nickname)
        }
    };
    assert_eq!(nickname("alice").await.as_deref(), Some("Ally"));
    assert_eq!(nickname("bob").await.as_deref(), Some("Bob"));
    assert_eq!(nickname("dave").await.as_deref(), Some("大卫"));
    assert_eq!(nickname("carol").await.as_deref(), Some(""));
    // Nothing of the refused batch was written, not even its good entries.
    assert_eq!(nickname("erin").await, None);
    assert_eq!(nickname("frank").await, None);
    assert!(
        !store
            .user_settings
            .has_user("acme#chat", "erin")
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn display_style_is_set_and_reset() {
    let server = TestServer::start();
    let app = create_app(&server, "acme#chat").await;
    let mut s = Settings::of(&server, &app).await;

    let nickname_and_content = NotificationDisplayStyle::NicknameAndContent as i32;
    assert_eq!(
        s.display_style("u1", nickname_and_content).await.unwrap(),
        nickname_and_content
    );
    assert_invalid(s.display_style("u1", 7).await, &["display_style"]);
    assert_invalid(s.display_style("u 1", 1).await, &["user"]);
    s.display_style("u2", nickname_and_content).await.unwrap();
    assert_eq!(
        s.display_style("u2", NotificationDisplayStyle::Unspecified as i32)
            .await
            .unwrap(),
        NotificationDisplayStyle::Default as i32,
        "UNSPECIFIED resets to the default, which is returned as DEFAULT"
    );

    drop(s);
    let (_server, store) = stop_and_open_store(server).await;
    let style = |user: &'static str| {
        let store = store.clone();
        async move {
            store
                .user_settings
                .get_user_settings("acme#chat", user)
                .await
                .unwrap()
                .map(|r| r.display_style)
        }
    };
    assert_eq!(
        style("u1").await,
        Some(nickname_and_content),
        "7 was not stored"
    );
    assert_eq!(
        style("u2").await,
        Some(NotificationDisplayStyle::Default as i32)
    );
}

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

#[tokio::test]
async fn language_is_set_read_and_cleared() {
    let server = TestServer::start();
    let app = create_app(&server, "acme#chat").await;
    let mut s = Settings::of(&server, &app).await;

    assert_eq!(s.language("u1").await.unwrap(), "");
    assert_eq!(s.set_language("u1", "zh-Hans").await.unwrap(), "zh-Hans");
    assert_eq!(s.language("u1").await.unwrap(), "zh-Hans");
    for bad in ["e", "en_US", "en US", &"a".repeat(36)] {
        assert_invalid(s.set_language("u1", bad).await, &["language"]);
    }
    assert_invalid(s.language("").await, &["user"]);
    assert_eq!(
        s.language("u1").await.unwrap(),
        "zh-Hans",
        "bad input changed nothing"
    );
    assert_eq!(s.set_language("u1", "").await.unwrap(), "");
    assert_eq!(s.language("u1").await.unwrap(), "");
}

#[tokio::test]
async fn templates_are_created_read_updated_and_deleted() {
    let server = TestServer::start();
    let app = create_app(&server, "acme#chat").await;
    let mut s = Settings::of(&server, &app).await;

    let created = s
        .create_template("Welcome1", "{$fromNickname} says", "{$msg} ({0})")
        .await
        .unwrap();
    assert_eq!(created.name, "Welcome1");
    assert_eq!(created.title_pattern, "{$fromNickname} says");
    assert_eq!(created.create_time, created.update_time);
    assert_eq!(s.template("Welcome1").await.unwrap(), created);
    let exists = assert_code(
        s.create_template("Welcome1", "other", "").await,
        Code::AlreadyExists,
    );
    assert_eq!(
        exists.get_details_resource_info().map(|r| r.resource_name),
        Some("Welcome1".to_string())
    );
    // Names are case-sensitive.
    s.create_template("welcome1", "", "body").await.unwrap();

    let updated = s
        .update_template("Welcome1", Some("{$dynamicFrom}"), None)
        .await
        .unwrap();
    assert_eq!(updated.title_pattern, "{$dynamicFrom}");
    assert_eq!(updated.content_pattern, "{$msg} ({0})", "kept when omitted");
    assert_eq!(updated.create_time, created.create_time);
    let cleared = s.update_template("Welcome1", None, Some("")).await.unwrap();
    assert_eq!(cleared.content_pattern, "");
    // Leaving both patterns empty, or giving neither, is refused and changes nothing.
    assert_invalid(
        s.update_template("Welcome1", Some(""), None).await,
        &["title_pattern"],
    );
    assert_invalid(
        s.update_template("Welcome1", None, None).await,
        &["title_pattern"],
    );
    assert_eq!(s.template("Welcome1").await.unwrap(), cleared);
    assert_code(
        s.update_template("Nope", Some("x"), None).await,
        Code::NotFound,
    );

    s.delete_template("Welcome1").await.unwrap();
    let missing = assert_code(s.template("Welcome1").await, Code::NotFound);
    assert_eq!(
        missing.get_details_resource_info().map(|r| r.resource_type),
        Some("template".to_string())
    );
    assert_code(s.delete_template("Welcome1").await, Code::NotFound);
    assert!(s.template("welcome1").await.is_ok());
}

#[tokio::test]
async fn bad_templates_name_every_field_and_are_not_stored() {
    let server = TestServer::start();
    let app = create_app(&server, "acme#chat").await;
    let mut s = Settings::of(&server, &app).await;

    let long = "x".repeat(1025);
    assert_invalid(
        s.create_template("bad-name", "{$nickname}", &long).await,
        &["name", "title_pattern", "content_pattern"],
    );
    assert_invalid(
        s.create_template("t1", "", "").await,
        &["title_pattern", "content_pattern"],
    );
    for pattern in ["{100}", "{01}", "{$}", "line\nbreak"] {
        assert_invalid(
            s.create_template("t1", pattern, "").await,
            &["title_pattern"],
        );
    }
    for name in ["", "名字", &"a".repeat(65)] {
        assert_invalid(s.create_template(name, "x", "").await, &["name"]);
    }
    assert_code(s.template("t1").await, Code::NotFound);
    // Braces that are not placeholders are text; the longest names and patterns are allowed.
    let max_name = "a".repeat(64);
    let max_pattern = "y".repeat(1024);
    s.create_template(&max_name, "{} {x} { 0 } {99}", &max_pattern)
        .await
        .unwrap();
    assert_invalid(
        s.update_template(&max_name, Some("{$who}"), Some(&long))
            .await,
        &["title_pattern", "content_pattern"],
    );
    assert_eq!(
        s.template(&max_name).await.unwrap().title_pattern,
        "{} {x} { 0 } {99}"
    );
    assert_invalid(s.template("bad name").await, &["name"]);
    assert_invalid(s.delete_template("").await, &["name"]);
}

#[tokio::test]
async fn user_template_choice_follows_the_template() {
    let server = TestServer::start();
    let app = create_app(&server, "acme#chat").await;
    let mut s = Settings::of(&server, &app).await;

    assert_eq!(s.user_template("u1").await.unwrap(), "");
    assert_code(s.set_user_template("u1", "t1").await, Code::NotFound);
    assert_invalid(s.set_user_template("u1", "t-1").await, &["template_name"]);
    assert_eq!(s.user_template("u1").await.unwrap(), "");

    s.create_template("t1", "{0}", "{1}").await.unwrap();
    assert_eq!(s.set_user_template("u1", "t1").await.unwrap(), "t1");
    assert_eq!(s.user_template("u1").await.unwrap(), "t1");
    // A deleted template reads as none; re-created, it counts again.
    s.delete_template("t1").await.unwrap();
    assert_eq!(s.user_template("u1").await.unwrap(), "");
    s.create_template("t1", "again", "").await.unwrap();
    assert_eq!(s.user_template("u1").await.unwrap(), "t1");
    assert_eq!(s.set_user_template("u1", "").await.unwrap(), "");
    assert_eq!(s.user_template("u1").await.unwrap(), "");
}

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
