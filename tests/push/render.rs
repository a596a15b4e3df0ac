//! What the vendor receives: templates, the display style, nicknames and defaults in Easemob's order.

use pushgate::proto::v1::{
    CreateTemplateRequest, NotificationDisplayStyle, SetDisplayStyleRequest,
    SetPushNicknameRequest, SetUserTemplateRequest, TemplateRef,
    user_settings_service_client::UserSettingsServiceClient,
};
use serde_json::Value;

use crate::common::push::*;

/// The notification title and body of the last FCM send.
fn last_fcm_notification(env: &Env) -> (String, String) {
    let sends = env.sends(FCM);
    let body: Value = serde_json::from_str(&sends.last().expect("a send").body).unwrap();
    let n = &body["message"]["notification"];
    (
        n["title"].as_str().unwrap_or_default().to_owned(),
        n["body"].as_str().unwrap_or_default().to_owned(),
    )
}

fn chat(from: &str, text: &str) -> PushOptions {
    PushOptions {
        conversation: Some(pushgate::proto::v1::Conversation {
            chat_type: pushgate::proto::v1::ChatType::User as i32,
            from: from.into(),
            text: text.into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_nicknames_display_style_and_defaults_shape_the_notification() {
    let mut env = Env::start().await;
    env.bind_new("rx", "phone", FCM).await;
    let mut settings = UserSettingsServiceClient::new(env.server.channel().await);
    let token = env.app.token.clone();
    settings
        .set_push_nickname(authed(
            SetPushNicknameRequest {
                user: "bob".into(),
                nickname: "Bobby".into(),
            },
            &token,
        ))
        .await
        .unwrap();
    for (name, title, content) in [
        ("says", "{$dynamicFrom} says", "{0}"),
        ("mine", "For you", "{$msg}"),
    ] {
        settings
            .create_template(authed(
                CreateTemplateRequest {
                    name: name.into(),
                    title_pattern: title.into(),
                    content_pattern: content.into(),
                },
                &token,
            ))
            .await
            .unwrap();
    }

    // Defaults fill what nothing else gives.
    let empty = PushMessage::default();
    env.send_sync("rx", Strategy::Unspecified, empty.clone())
        .await
        .unwrap();
    assert_eq!(
        last_fcm_notification(&env),
        ("New message".into(), "You have a new message".into())
    );

    // The nickname style shows the sender's nickname and the chat text.
    settings
        .set_display_style(authed(
            SetDisplayStyleRequest {
                user: "rx".into(),
                display_style: NotificationDisplayStyle::NicknameAndContent as i32,
            },
            &token,
        ))
        .await
        .unwrap();
    let about_chat = PushMessage {
        options: Some(chat("bob", "lunch?")),
        ..Default::default()
    };
    env.send_sync("rx", Strategy::Unspecified, about_chat.clone())
        .await
        .unwrap();
    assert_eq!(
        last_fcm_notification(&env),
        ("Bobby".into(), "lunch?".into())
    );

    // The user's template wins over the style; the message's own template wins over the user's.
    settings
        .set_user_template(authed(
            SetUserTemplateRequest {
                user: "rx".into(),
                template_name: "mine".into(),
            },
            &token,
        ))
        .await
        .unwrap();
    env.send_sync("rx", Strategy::Unspecified, about_chat.clone())
        .await
        .unwrap();
    assert_eq!(
        last_fcm_notification(&env),
        ("For you".into(), "lunch?".into())
    );
    let named = PushMessage {
        template: Some(TemplateRef {
            name: "says".into(),
            title_args: vec![],
            content_args: vec!["see you at noon".into()],
        }),
        ..about_chat
    };
    env.send_sync("rx", Strategy::Unspecified, named)
        .await
        .unwrap();
    assert_eq!(
        last_fcm_notification(&env),
        ("Bobby says".into(), "see you at noon".into())
    );
}
