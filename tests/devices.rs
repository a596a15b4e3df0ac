//! DeviceService over a real server: Easemob's binding semantics, limits, paging, user deletion, restarts
//! and tenant isolation.

mod common;

use common::{TestApp, TestServer, authed, create_app, credentials::notifier, violated_fields};
use pushgate::proto::v1::{
    AddLabelUsersRequest, BindDeviceOutcome, BindDeviceRequest, BindDeviceResponse,
    CreateLabelRequest, CreateNotifierRequest, DeleteUserRequest, GetLabelRequest,
    ListBindingsRequest, NotificationConversation, NotificationType, SetNotificationSettingRequest,
    SetPushNicknameRequest, UnbindDeviceRequest, device_service_client::DeviceServiceClient,
    label_service_client::LabelServiceClient, notifier_service_client::NotifierServiceClient,
    user_settings_service_client::UserSettingsServiceClient,
};
use tonic::{Code, transport::Channel};
use tonic_types::StatusExt;

type Client = DeviceServiceClient<Channel>;

async fn with_notifiers(server: &TestServer, app: &str, names: &[(&str, &str)]) -> TestApp {
    let app = create_app(server, app).await;
    let mut n = NotifierServiceClient::new(server.channel().await);
    for (name, kind) in names {
        n.create_notifier(authed(
            CreateNotifierRequest {
                notifier: Some(notifier(name, kind)),
            },
            &app.token,
        ))
        .await
        .unwrap();
    }
    app
}

async fn bind(
    c: &mut Client,
    token: &str,
    user: &str,
    device: &str,
    device_token: &str,
    notifier: &str,
) -> Result<BindDeviceResponse, tonic::Status> {
    c.bind_device(authed(
        BindDeviceRequest {
            user: user.into(),
            device_id: device.into(),
            device_token: device_token.into(),
            notifier_name: notifier.into(),
        },
        token,
    ))
    .await
    .map(|r| r.into_inner())
}

async fn listed(c: &mut Client, token: &str, user: &str) -> Vec<(String, String, String)> {
    c.list_bindings(authed(
        ListBindingsRequest {
            user: user.into(),
            page_size: 100,
            page_token: String::new(),
        },
        token,
    ))
    .await
    .unwrap()
    .into_inner()
    .bindings
    .into_iter()
    .map(|b| (b.device_id, b.notifier_name, b.device_token))
    .collect()
}

fn outcome(r: &BindDeviceResponse) -> BindDeviceOutcome {
    BindDeviceOutcome::try_from(r.outcome).unwrap()
}

#[tokio::test]
async fn bind_update_move_steal_and_unbind() {
    let server = TestServer::start();
    let app = with_notifiers(&server, "acme#chat", &[("hw", "huawei"), ("mi", "xiaomi")]).await;
    let t = &app.token;
    let mut c = DeviceServiceClient::new(server.channel().await);

    let r = bind(&mut c, t, "alice", "phone-1", "tokA", "hw")
        .await
        .unwrap();
    assert_eq!(outcome(&r), BindDeviceOutcome::Bound);
    assert_eq!(r.bindings.len(), 1);
    assert_eq!(
        r.bindings[0].vendor,
        pushgate::proto::v1::Vendor::Huawei as i32
    );
    let r = bind(&mut c, t, "alice", "phone-1", "tokA", "hw")
        .await
        .unwrap();
    assert_eq!(outcome(&r), BindDeviceOutcome::Unchanged);
    let r = bind(&mut c, t, "alice", "phone-1", "tokB", "hw")
        .await
        .unwrap();
    assert_eq!(outcome(&r), BindDeviceOutcome::Updated);
    bind(&mut c, t, "alice", "phone-1", "miTok", "mi")
        .await
        .unwrap();
    assert_eq!(
        listed(&mut c, t, "alice").await,
        [
            ("phone-1".into(), "hw".into(), "tokB".into()),
            ("phone-1".into(), "mi".into(), "miTok".into())
        ]
    );

    // The device changes hands: every binding it had under alice goes.
    let r = bind(&mut c, t, "bob", "phone-1", "tokC", "hw")
        .await
        .unwrap();
    assert_eq!(outcome(&r), BindDeviceOutcome::Moved);
    assert_eq!(r.previous_user, "alice");
    assert_eq!(r.removed_bindings.len(), 2);
    assert!(listed(&mut c, t, "alice").await.is_empty());

    // The same token under the same notifier on another device: it is taken from bob's phone.
    let r = bind(&mut c, t, "carol", "tablet", "tokC", "hw")
        .await
        .unwrap();
    assert_eq!(outcome(&r), BindDeviceOutcome::Bound);
    assert_eq!(r.removed_bindings[0].user, "bob");
    assert!(listed(&mut c, t, "bob").await.is_empty());

    // Unbinding: one notifier with an empty token, then everything with an empty notifier too.
    bind(&mut c, t, "dave", "d1", "t1", "hw").await.unwrap();
    bind(&mut c, t, "dave", "d1", "t2", "mi").await.unwrap();
    let r = bind(&mut c, t, "dave", "d1", "", "hw").await.unwrap();
    assert_eq!(outcome(&r), BindDeviceOutcome::Unbound);
    assert_eq!(r.removed_bindings.len(), 1);
    assert_eq!(r.bindings.len(), 1);
    let r = bind(&mut c, t, "dave", "d1", "", "").await.unwrap();
    assert_eq!(outcome(&r), BindDeviceOutcome::Unbound);
    assert!(r.bindings.is_empty());
    let r = bind(&mut c, t, "dave", "d1", "", "").await.unwrap();
    assert_eq!(outcome(&r), BindDeviceOutcome::Unchanged);

    // UnbindDevice leaves a device of another user alone.
    let r = c
        .unbind_device(authed(
            UnbindDeviceRequest {
                user: "mallory".into(),
                device_id: "tablet".into(),
                notifier_name: String::new(),
            },
            t,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(r.removed_bindings.is_empty());
    assert_eq!(listed(&mut c, t, "carol").await.len(), 1);
    let r = c
        .unbind_device(authed(
            UnbindDeviceRequest {
                user: "carol".into(),
                device_id: "tablet".into(),
                notifier_name: "hw".into(),
            },
            t,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.removed_bindings.len(), 1);
    assert!(listed(&mut c, t, "carol").await.is_empty());
}

#[tokio::test]
async fn missing_notifier_bad_input_and_limits_write_nothing() {
    let server = TestServer::start_with(&[("PUSHGATE_DEVICES_MAX_BINDINGS_PER_USER", "2")]);
    let app = with_notifiers(
        &server,
        "acme#chat",
        &[("apple", "apns-token"), ("hw", "huawei")],
    )
    .await;
    let t = &app.token;
    let mut c = DeviceServiceClient::new(server.channel().await);

    let err = bind(&mut c, t, "alice", "d1", "tok", "nope")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.get_details_precondition_failure().is_some());

    for (user, device, token, notifier, fields) in [
        ("bad user", "d1", "tok", "hw", vec!["user"]),
        ("alice", "has space", "tok", "hw", vec!["device_id"]),
        ("alice", "", "tok", "hw", vec!["device_id"]),
        ("alice", "d1", "tok", "", vec!["notifier_name"]),
        ("alice", "d1", "tok\u{e9}", "hw", vec!["device_token"]),
        ("alice", "d1", "xyz", "apple", vec!["device_token"]),
        ("alice", "d1", "abc", "apple", vec!["device_token"]),
    ] {
        let err = bind(&mut c, t, user, device, token, notifier)
            .await
            .unwrap_err();
        assert_eq!(
            err.code(),
            Code::InvalidArgument,
            "{user} {device} {token} {notifier}"
        );
        assert_eq!(violated_fields(&err), fields);
    }
    let long = "a".repeat(4097);
    let err = bind(&mut c, t, "alice", "d1", &long, "hw")
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&err), ["device_token"]);
    assert!(listed(&mut c, t, "alice").await.is_empty());

    // APNs tokens are stored lowercase.
    let r = bind(&mut c, t, "alice", "d1", "ABCDEF01", "apple")
        .await
        .unwrap();
    assert_eq!(r.bindings[0].device_token, "abcdef01");
    bind(&mut c, t, "alice", "d2", "t2", "hw").await.unwrap();
    let err = bind(&mut c, t, "alice", "d3", "t3", "hw")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
    assert!(err.get_details_quota_failure().is_some());
    assert_eq!(listed(&mut c, t, "alice").await.len(), 2);
    // Replacing a token at the limit is fine: it is not a new binding.
    bind(&mut c, t, "alice", "d2", "t2b", "hw").await.unwrap();
}

#[tokio::test]
async fn bindings_page_to_the_end_and_survive_a_restart() {
    let server = TestServer::start();
    let app = with_notifiers(&server, "acme#chat", &[("hw", "huawei")]).await;
    let mut c = DeviceServiceClient::new(server.channel().await);
    for i in 0..5 {
        bind(
            &mut c,
            &app.token,
            "alice",
            &format!("d{i}"),
            &format!("t{i}"),
            "hw",
        )
        .await
        .unwrap();
    }
    let server = server.restart().await;
    let mut c = DeviceServiceClient::new(server.channel().await);
    let mut seen = Vec::new();
    let mut page_token = String::new();
    let mut pages = 0;
    loop {
        let page = c
            .list_bindings(authed(
                ListBindingsRequest {
                    user: "alice".into(),
                    page_size: 2,
                    page_token,
                },
                &app.token,
            ))
            .await
            .unwrap()
            .into_inner();
        pages += 1;
        seen.extend(page.bindings.into_iter().map(|b| b.device_id));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ["d0", "d1", "d2", "d3", "d4"]);
}

#[tokio::test]
async fn delete_user_removes_bindings_settings_and_label_memberships() {
    let server = TestServer::start();
    let app = with_notifiers(&server, "acme#chat", &[("hw", "huawei")]).await;
    let t = &app.token;
    let mut c = DeviceServiceClient::new(server.channel().await);
    let mut labels = LabelServiceClient::new(server.channel().await);
    bind(&mut c, t, "alice", "d1", "t1", "hw").await.unwrap();
    bind(&mut c, t, "alice", "d2", "t2", "hw").await.unwrap();
    bind(&mut c, t, "alice2", "d3", "t3", "hw").await.unwrap();
    for label in ["vip", "beta"] {
        labels
            .create_label(authed(
                CreateLabelRequest {
                    name: label.into(),
                    description: String::new(),
                },
                t,
            ))
            .await
            .unwrap();
        labels
            .add_label_users(authed(
                AddLabelUsersRequest {
                    label: label.into(),
                    users: vec!["alice".into(), "alice2".into()],
                },
                t,
            ))
            .await
            .unwrap();
    }
    let mut settings = UserSettingsServiceClient::new(server.channel().await);
    settings
        .set_push_nickname(authed(
            SetPushNicknameRequest {
                user: "alice".into(),
                nickname: "Alice".into(),
            },
            t,
        ))
        .await
        .unwrap();
    settings
        .set_notification_setting(authed(
            SetNotificationSettingRequest {
                user: "alice".into(),
                conversation: Some(NotificationConversation {
                    chat_type: 2,
                    key: "group-1".into(),
                }),
                r#type: Some(NotificationType::None as i32),
                ignore_interval: None,
                ignore_duration: None,
            },
            t,
        ))
        .await
        .unwrap();
    let delete = |user: &str| {
        authed(
            DeleteUserRequest {
                user: user.to_owned(),
            },
            t,
        )
    };
    let removed = c.delete_user(delete("alice")).await.unwrap().into_inner();
    assert_eq!(removed.removed_bindings, 2);
    assert_eq!(removed.removed_label_memberships, 2);
    assert_eq!(removed.removed_user_settings, 1);
    assert_eq!(removed.removed_conversation_settings, 1);
    assert!(listed(&mut c, t, "alice").await.is_empty());
    assert_eq!(
        listed(&mut c, t, "alice2").await.len(),
        1,
        "a user with a longer name is untouched"
    );
    let vip = labels
        .get_label(authed(GetLabelRequest { name: "vip".into() }, t))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(vip.label.unwrap().user_count, 1);
    // Idempotent.
    let again = c.delete_user(delete("alice")).await.unwrap().into_inner();
    assert_eq!(
        (again.removed_bindings, again.removed_label_memberships),
        (0, 0)
    );
    // The freed device can be bound by anyone without a move.
    let r = bind(&mut c, t, "zed", "d1", "t9", "hw").await.unwrap();
    assert_eq!(outcome(&r), BindDeviceOutcome::Bound);
    let err = c
        .delete_user(delete("no spaces allowed"))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&err), ["user"]);
}

#[tokio::test]
async fn apps_never_see_each_others_bindings() {
    let server = TestServer::start();
    let a = with_notifiers(&server, "acme#chat", &[("hw", "huawei")]).await;
    let b = with_notifiers(&server, "acme#shop", &[("hw", "huawei")]).await;
    let mut c = DeviceServiceClient::new(server.channel().await);
    bind(&mut c, &a.token, "alice", "d1", "same-token", "hw")
        .await
        .unwrap();
    // The same user, device and token in another app is a separate binding: no move, no steal.
    let r = bind(&mut c, &b.token, "alice", "d1", "same-token", "hw")
        .await
        .unwrap();
    assert_eq!(outcome(&r), BindDeviceOutcome::Bound);
    assert!(r.removed_bindings.is_empty());
    assert_eq!(listed(&mut c, &a.token, "alice").await.len(), 1);
    c.delete_user(authed(
        DeleteUserRequest {
            user: "alice".into(),
        },
        &b.token,
    ))
    .await
    .unwrap();
    assert_eq!(listed(&mut c, &a.token, "alice").await.len(), 1);
    assert!(listed(&mut c, &b.token, "alice").await.is_empty());
}
