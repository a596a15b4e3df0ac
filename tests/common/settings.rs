//! A client for UserSettingsService acting for one app, and helpers the settings tests (`tests/settings/`)
//! share.

// The settings tests' prelude: they `use crate::common::settings::*` and find here what they name. Every test
// binary that includes `common` compiles this file, and the others use none of it: hence the allows.
#[allow(unused_imports)]
pub use super::fakes::now_ms;
#[allow(unused_imports)]
pub use super::{TestApp, TestServer, authed, create_app, violated_fields};
#[allow(unused_imports)]
pub use pushgate::{
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
#[allow(unused_imports)]
pub use tonic::{Code, Status, transport::Channel};
#[allow(unused_imports)]
pub use tonic_types::StatusExt;

/// A settings client acting for one app.
pub struct Settings {
    client: UserSettingsServiceClient<Channel>,
    /// The bearer token sent with every call.
    pub token: String,
}

impl Settings {
    /// A client for `app` on `server`.
    pub async fn of(server: &TestServer, app: &TestApp) -> Self {
        Self {
            client: UserSettingsServiceClient::new(server.channel().await),
            token: app.token.clone(),
        }
    }

    /// SetPushNickname; the stored nickname.
    pub async fn nickname(&mut self, user: &str, nickname: &str) -> Result<String, Status> {
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

    /// BatchSetPushNicknames; the stored entries.
    pub async fn nicknames(
        &mut self,
        entries: &[(&str, &str)],
    ) -> Result<Vec<PushNickname>, Status> {
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

    /// SetDisplayStyle; the stored style number.
    pub async fn display_style(&mut self, user: &str, style: i32) -> Result<i32, Status> {
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

    /// SetNotificationSetting; the stored setting.
    pub async fn set_notification(
        &mut self,
        r: SetNotificationSettingRequest,
    ) -> Result<NotificationSetting, Status> {
        let answer = self
            .client
            .set_notification_setting(authed(r, &self.token))
            .await?;
        Ok(answer.into_inner().setting.expect("setting"))
    }

    /// GetNotificationSetting (checking that the conversation is echoed); the setting.
    pub async fn notification(
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

    /// SetLanguage; the stored language.
    pub async fn set_language(&mut self, user: &str, language: &str) -> Result<String, Status> {
        let r = SetLanguageRequest {
            user: user.into(),
            language: language.into(),
        };
        let answer = self.client.set_language(authed(r, &self.token)).await?;
        Ok(answer.into_inner().language)
    }

    /// GetLanguage.
    pub async fn language(&mut self, user: &str) -> Result<String, Status> {
        let r = GetLanguageRequest { user: user.into() };
        let answer = self.client.get_language(authed(r, &self.token)).await?;
        Ok(answer.into_inner().language)
    }

    /// CreateTemplate; the stored template.
    pub async fn create_template(
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

    /// GetTemplate.
    pub async fn template(&mut self, name: &str) -> Result<NotificationTemplate, Status> {
        let r = GetTemplateRequest { name: name.into() };
        let answer = self.client.get_template(authed(r, &self.token)).await?;
        Ok(answer.into_inner().template.expect("template"))
    }

    /// UpdateTemplate; `None` leaves a pattern out of the request.
    pub async fn update_template(
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

    /// DeleteTemplate.
    pub async fn delete_template(&mut self, name: &str) -> Result<(), Status> {
        let r = DeleteTemplateRequest { name: name.into() };
        self.client.delete_template(authed(r, &self.token)).await?;
        Ok(())
    }

    /// SetUserTemplate; the stored choice.
    pub async fn set_user_template(&mut self, user: &str, name: &str) -> Result<String, Status> {
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

    /// GetUserTemplate.
    pub async fn user_template(&mut self, user: &str) -> Result<String, Status> {
        let r = GetUserTemplateRequest { user: user.into() };
        let answer = self
            .client
            .get_user_template(authed(r, &self.token))
            .await?;
        Ok(answer.into_inner().template_name)
    }
}

/// A group conversation.
pub fn group(id: &str) -> Option<NotificationConversation> {
    Some(NotificationConversation {
        chat_type: ChatType::Group as i32,
        key: id.into(),
    })
}

/// A one-to-one conversation.
pub fn peer(id: &str) -> Option<NotificationConversation> {
    Some(NotificationConversation {
        chat_type: ChatType::User as i32,
        key: id.into(),
    })
}

/// A SetNotificationSetting request for `user` that changes nothing yet.
pub fn set(user: &str) -> SetNotificationSettingRequest {
    SetNotificationSettingRequest {
        user: user.into(),
        ..Default::default()
    }
}

/// A protobuf duration of `ms` milliseconds.
pub fn millis(ms: i64) -> Option<prost_types::Duration> {
    Some(prost_types::Duration {
        seconds: ms / 1000,
        nanos: (ms % 1000) as i32 * 1_000_000,
    })
}

/// A protobuf timestamp in Unix milliseconds.
pub fn ms_of(t: &prost_types::Timestamp) -> i64 {
    t.seconds * 1000 + i64::from(t.nanos) / 1_000_000
}

/// The setting a user or conversation has when nothing was set.
pub fn defaults(t: NotificationType) -> NotificationSetting {
    NotificationSetting {
        r#type: t as i32,
        ignore_interval: String::new(),
        ignore_until: None,
    }
}

/// Asserts that `result` is INVALID_ARGUMENT naming exactly `fields`.
#[track_caller]
pub fn assert_invalid<T: std::fmt::Debug>(result: Result<T, Status>, fields: &[&str]) {
    let status = result.expect_err("the call must fail");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(violated_fields(&status), fields, "{status:?}");
}

/// Asserts that `result` failed with `code`; returns the status for its details.
#[track_caller]
pub fn assert_code<T: std::fmt::Debug>(result: Result<T, Status>, code: Code) -> Status {
    let status = result.expect_err("the call must fail");
    assert_eq!(status.code(), code, "{status:?}");
    status
}

/// Stops the server and opens its store, to see what the send path would read.
pub async fn stop_and_open_store(server: TestServer) -> (TestServer, Store) {
    let server = tokio::task::spawn_blocking(move || {
        let mut server = server;
        let status = server.terminate();
        assert!(status.success(), "shutdown failed: {status}");
        server
    })
    .await
    .expect("stop");
    let store = pushgate::store::open(&server.store_config())
        .await
        .expect("open the stopped server's store");
    (server, store)
}
