//! `UserSettingsService`: users' push settings and the app's push templates, for an app token.

use tonic::{Request, Response, Status};

use crate::{
    api::auth_layer::app_of,
    clock::timestamp,
    proto::v1::{
        BatchSetPushNicknamesRequest, BatchSetPushNicknamesResponse, CreateTemplateRequest,
        CreateTemplateResponse, DeleteTemplateRequest, DeleteTemplateResponse, GetLanguageRequest,
        GetLanguageResponse, GetNotificationSettingRequest, GetNotificationSettingResponse,
        GetTemplateRequest, GetTemplateResponse, GetUserTemplateRequest, GetUserTemplateResponse,
        NotificationConversation, NotificationSetting, NotificationTemplate, PushNickname,
        SetDisplayStyleRequest, SetDisplayStyleResponse, SetLanguageRequest, SetLanguageResponse,
        SetNotificationSettingRequest, SetNotificationSettingResponse, SetPushNicknameRequest,
        SetPushNicknameResponse, SetUserTemplateRequest, SetUserTemplateResponse,
        UpdateTemplateRequest, UpdateTemplateResponse, notification_conversation::ChatType,
        user_settings_service_server::UserSettingsService,
    },
    settings::{ConversationInput, NotificationChange, NotificationView, UserSettings},
    store::{ChatKind, ConversationKey, TemplateRecord},
};

/// The `UserSettingsService` implementation.
pub struct SettingsApi {
    settings: UserSettings,
}

impl SettingsApi {
    /// Serves `settings` to app-token callers, each within its own app.
    pub fn new(settings: UserSettings) -> Self {
        Self { settings }
    }
}

fn conversation_input(c: NotificationConversation) -> ConversationInput {
    ConversationInput {
        chat_type: c.chat_type,
        key: c.key,
    }
}

fn conversation_message(c: ConversationKey) -> NotificationConversation {
    NotificationConversation {
        chat_type: match c.kind {
            ChatKind::User => ChatType::User,
            ChatKind::Group => ChatType::Group,
        } as i32,
        key: c.key,
    }
}

fn setting_message(v: NotificationView) -> NotificationSetting {
    NotificationSetting {
        r#type: v.notification_type as i32,
        ignore_interval: v.ignore_interval,
        ignore_until: v.ignore_until_ms.map(timestamp),
    }
}

fn template_message(t: TemplateRecord) -> NotificationTemplate {
    NotificationTemplate {
        name: t.name,
        title_pattern: t.title_pattern,
        content_pattern: t.content_pattern,
        create_time: Some(timestamp(t.create_time_ms)),
        update_time: Some(timestamp(t.update_time_ms)),
    }
}

#[tonic::async_trait]
impl UserSettingsService for SettingsApi {
    async fn set_push_nickname(
        &self,
        request: Request<SetPushNicknameRequest>,
    ) -> Result<Response<SetPushNicknameResponse>, Status> {
        let app = app_of(&request)?;
        let r = request.into_inner();
        let nickname = self
            .settings
            .set_nickname(&app, &r.user, &r.nickname)
            .await?;
        Ok(Response::new(SetPushNicknameResponse {
            user: r.user,
            nickname,
        }))
    }

    async fn batch_set_push_nicknames(
        &self,
        request: Request<BatchSetPushNicknamesRequest>,
    ) -> Result<Response<BatchSetPushNicknamesResponse>, Status> {
        let app = app_of(&request)?;
        let entries = request
            .into_inner()
            .nicknames
            .into_iter()
            .map(|n| (n.user, n.nickname))
            .collect();
        let stored = self.settings.set_nicknames(&app, entries).await?;
        Ok(Response::new(BatchSetPushNicknamesResponse {
            nicknames: stored
                .into_iter()
                .map(|(user, nickname)| PushNickname { user, nickname })
                .collect(),
        }))
    }

    async fn set_display_style(
        &self,
        request: Request<SetDisplayStyleRequest>,
    ) -> Result<Response<SetDisplayStyleResponse>, Status> {
        let app = app_of(&request)?;
        let r = request.into_inner();
        let style = self
            .settings
            .set_display_style(&app, &r.user, r.display_style)
            .await?;
        Ok(Response::new(SetDisplayStyleResponse {
            user: r.user,
            display_style: style as i32,
        }))
    }

    async fn set_notification_setting(
        &self,
        request: Request<SetNotificationSettingRequest>,
    ) -> Result<Response<SetNotificationSettingResponse>, Status> {
        let app = app_of(&request)?;
        let r = request.into_inner();
        let (conversation, view) = self
            .settings
            .set_notification(
                &app,
                &r.user,
                r.conversation.map(conversation_input),
                NotificationChange {
                    notification_type: r.r#type,
                    ignore_interval: r.ignore_interval,
                    ignore_duration: r.ignore_duration,
                },
            )
            .await?;
        Ok(Response::new(SetNotificationSettingResponse {
            conversation: conversation.map(conversation_message),
            setting: Some(setting_message(view)),
        }))
    }

    async fn get_notification_setting(
        &self,
        request: Request<GetNotificationSettingRequest>,
    ) -> Result<Response<GetNotificationSettingResponse>, Status> {
        let app = app_of(&request)?;
        let r = request.into_inner();
        let (conversation, view) = self
            .settings
            .get_notification(&app, &r.user, r.conversation.map(conversation_input))
            .await?;
        Ok(Response::new(GetNotificationSettingResponse {
            conversation: conversation.map(conversation_message),
            setting: Some(setting_message(view)),
        }))
    }

    async fn set_language(
        &self,
        request: Request<SetLanguageRequest>,
    ) -> Result<Response<SetLanguageResponse>, Status> {
        let app = app_of(&request)?;
        let r = request.into_inner();
        let language = self
            .settings
            .set_language(&app, &r.user, &r.language)
            .await?;
        Ok(Response::new(SetLanguageResponse {
            user: r.user,
            language,
        }))
    }

    async fn get_language(
        &self,
        request: Request<GetLanguageRequest>,
    ) -> Result<Response<GetLanguageResponse>, Status> {
        let app = app_of(&request)?;
        let r = request.into_inner();
        let language = self.settings.get_language(&app, &r.user).await?;
        Ok(Response::new(GetLanguageResponse {
            user: r.user,
            language,
        }))
    }

    async fn create_template(
        &self,
        request: Request<CreateTemplateRequest>,
    ) -> Result<Response<CreateTemplateResponse>, Status> {
        let app = app_of(&request)?;
        let r = request.into_inner();
        let template = self
            .settings
            .create_template(&app, &r.name, &r.title_pattern, &r.content_pattern)
            .await?;
        Ok(Response::new(CreateTemplateResponse {
            template: Some(template_message(template)),
        }))
    }

    async fn get_template(
        &self,
        request: Request<GetTemplateRequest>,
    ) -> Result<Response<GetTemplateResponse>, Status> {
        let app = app_of(&request)?;
        let template = self
            .settings
            .get_template(&app, &request.into_inner().name)
            .await?;
        Ok(Response::new(GetTemplateResponse {
            template: Some(template_message(template)),
        }))
    }

    async fn update_template(
        &self,
        request: Request<UpdateTemplateRequest>,
    ) -> Result<Response<UpdateTemplateResponse>, Status> {
        let app = app_of(&request)?;
        let r = request.into_inner();
        let template = self
            .settings
            .update_template(&app, &r.name, r.title_pattern, r.content_pattern)
            .await?;
        Ok(Response::new(UpdateTemplateResponse {
            template: Some(template_message(template)),
        }))
    }

    async fn delete_template(
        &self,
        request: Request<DeleteTemplateRequest>,
    ) -> Result<Response<DeleteTemplateResponse>, Status> {
        let app = app_of(&request)?;
        self.settings
            .delete_template(&app, &request.into_inner().name)
            .await?;
        Ok(Response::new(DeleteTemplateResponse {}))
    }

    async fn set_user_template(
        &self,
        request: Request<SetUserTemplateRequest>,
    ) -> Result<Response<SetUserTemplateResponse>, Status> {
        let app = app_of(&request)?;
        let r = request.into_inner();
        let template_name = self
            .settings
            .set_user_template(&app, &r.user, &r.template_name)
            .await?;
        Ok(Response::new(SetUserTemplateResponse {
            user: r.user,
            template_name,
        }))
    }

    async fn get_user_template(
        &self,
        request: Request<GetUserTemplateRequest>,
    ) -> Result<Response<GetUserTemplateResponse>, Status> {
        let app = app_of(&request)?;
        let r = request.into_inner();
        let template_name = self.settings.get_user_template(&app, &r.user).await?;
        Ok(Response::new(GetUserTemplateResponse {
            user: r.user,
            template_name,
        }))
    }
}
