//! A tenant cannot aim the gateway at hosts the operator did not allow: notifier URL overrides, FCM's
//! `token_uri` and per-notifier CA certificates need the operator's consent (`dispatch.allowed_endpoints`,
//! `dispatch.allow_notifier_ca_certificates`), checked when a notifier is saved and again before it is used.
//!
//! The connect-time check of resolved addresses (DNS rebinding) is covered by the resolver's own test in
//! `src/egress/resolver.rs`: it needs a name whose answer turns internal, and a test cannot steer this
//! machine's DNS.

mod common;

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use common::{
    TestServer, authed, create_app,
    credentials::{certificate, notifier, service_account_json},
    violated_fields,
};
use pushgate::proto::v1::{
    BindDeviceRequest, CreateNotifierRequest, FailureReason, GetNotifierRequest, Notifier,
    PushMessage, SendSyncRequest, UpdateNotifierRequest,
    device_service_client::DeviceServiceClient, notifier::Credentials,
    notifier_service_client::NotifierServiceClient, push_service_client::PushServiceClient,
    send_sync_request::MessageSource,
};
use tokio::{io::AsyncWriteExt, net::TcpListener};
use tonic::Code;

/// What the internal host answers: it must never reach a caller.
const INTERNAL_BODY: &str = "internal-admin-secret";

/// An internal HTTP service on loopback that counts the connections it gets and answers each with
/// [`INTERNAL_BODY`].
async fn internal_host() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{INTERNAL_BODY}",
                INTERNAL_BODY.len()
            );
            let _ = socket.write_all(answer.as_bytes()).await;
        }
    });
    (port, hits)
}

/// The operator's defaults: no endpoints beside the vendors', no CA from notifiers.
const DEFAULTS: &[(&str, &str)] = &[
    ("PUSHGATE_DISPATCH_ALLOWED_ENDPOINTS", ""),
    ("PUSHGATE_DISPATCH_ALLOW_NOTIFIER_CA_CERTIFICATES", "false"),
];

fn huawei(name: &str, send: &str, token: &str) -> Notifier {
    Notifier {
        send_base_url: send.into(),
        token_base_url: token.into(),
        ..notifier(name, "huawei")
    }
}

#[tokio::test]
async fn overrides_to_unlisted_hosts_are_refused_with_the_field_named_and_nothing_stored() {
    let (port, hits) = internal_host().await;
    let server = TestServer::start_with(DEFAULTS);
    let app = create_app(&server, "acme#egress").await;
    let mut notifiers = NotifierServiceClient::new(server.channel().await);
    let internal = format!("http://127.0.0.1:{port}/internal");

    let refused = [
        ("notifier.send_base_url", huawei("n1", &internal, "")),
        ("notifier.token_base_url", huawei("n2", "", &internal)),
        (
            "notifier.send_base_url",
            huawei("n3", &format!("https://[::1]:{port}/"), ""),
        ),
        (
            "notifier.send_base_url",
            huawei("n4", "https://169.254.169.254/latest", ""),
        ),
        // A vendor's own host, but in clear.
        (
            "notifier.send_base_url",
            huawei("n5", "http://push-api.cloud.huawei.com", ""),
        ),
        (
            "notifier.send_base_url",
            huawei("n6", "https://push.evil.example.com", ""),
        ),
        (
            "notifier.extra_ca_certificates_pem",
            Notifier {
                extra_ca_certificates_pem: certificate("some CA").0,
                ..notifier("n7", "huawei")
            },
        ),
        (
            "notifier.fcm.service_account_json",
            Notifier {
                credentials: Some(Credentials::Fcm(pushgate::proto::v1::FcmCredentials {
                    service_account_json: service_account_json(&format!(
                        "http://127.0.0.1:{port}/token"
                    )),
                    ..Default::default()
                })),
                ..notifier("n8", "fcm")
            },
        ),
    ];
    for (field, n) in refused {
        let name = n.name.clone();
        let status = notifiers
            .create_notifier(authed(
                CreateNotifierRequest { notifier: Some(n) },
                &app.token,
            ))
            .await
            .expect_err(&name);
        assert_eq!(status.code(), Code::InvalidArgument, "{name}: {status:?}");
        assert_eq!(violated_fields(&status), [field], "{name}: {status:?}");
        let gone = notifiers
            .get_notifier(authed(
                GetNotifierRequest { name: name.clone() },
                &app.token,
            ))
            .await
            .expect_err("nothing stored");
        assert_eq!(gone.code(), Code::NotFound, "{name}");
    }
    let status = notifiers
        .create_notifier(authed(
            CreateNotifierRequest {
                notifier: Some(huawei("n1", &internal, "")),
            },
            &app.token,
        ))
        .await
        .unwrap_err();
    assert!(
        status.message().contains("dispatch.allowed_endpoints"),
        "the refusal names the setting: {}",
        status.message()
    );

    // The vendor's own hosts need no consent; an update aiming one elsewhere is refused and changes nothing.
    let vendor_host = "https://push-api.cloud.huawei.com";
    notifiers
        .create_notifier(authed(
            CreateNotifierRequest {
                notifier: Some(huawei(
                    "hw",
                    vendor_host,
                    "https://oauth-login.cloud.huawei.com",
                )),
            },
            &app.token,
        ))
        .await
        .expect("a vendor's own host");
    let status = notifiers
        .update_notifier(authed(
            UpdateNotifierRequest {
                notifier: Some(huawei("hw", &internal, "")),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["send_base_url".into()],
                }),
            },
            &app.token,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&status), ["notifier.send_base_url"]);
    let stored = notifiers
        .get_notifier(authed(GetNotifierRequest { name: "hw".into() }, &app.token))
        .await
        .unwrap()
        .into_inner()
        .notifier
        .unwrap();
    assert_eq!(stored.send_base_url, vendor_host);
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the internal host was reached"
    );
}

#[tokio::test]
async fn listed_hosts_are_reachable_and_unlisting_them_stops_every_request() {
    let (port, hits) = internal_host().await;
    let listed = format!("127.0.0.1:{port}");
    let server = TestServer::start_with(&[
        ("PUSHGATE_DISPATCH_ALLOWED_ENDPOINTS", listed.as_str()),
        ("PUSHGATE_DISPATCH_ALLOW_NOTIFIER_CA_CERTIFICATES", "false"),
    ]);
    let app = create_app(&server, "acme#egress").await;
    let base = format!("http://127.0.0.1:{port}/hw");
    let mut notifiers = NotifierServiceClient::new(server.channel().await);
    notifiers
        .create_notifier(authed(
            CreateNotifierRequest {
                notifier: Some(huawei("hw", &base, &base)),
            },
            &app.token,
        ))
        .await
        .expect("a host the operator listed, in clear");
    // Another port of the same host is not listed.
    let status = notifiers
        .create_notifier(authed(
            CreateNotifierRequest {
                notifier: Some(huawei(
                    "other",
                    &format!("http://127.0.0.1:{}/", port ^ 1),
                    "",
                )),
            },
            &app.token,
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), ["notifier.send_base_url"]);
    DeviceServiceClient::new(server.channel().await)
        .bind_device(authed(
            BindDeviceRequest {
                user: "alice".into(),
                device_id: "phone".into(),
                device_token: "hw-token-1".into(),
                notifier_name: "hw".into(),
            },
            &app.token,
        ))
        .await
        .unwrap();

    let send = |channel: tonic::transport::Channel| {
        let token = app.token.clone();
        async move {
            PushServiceClient::new(channel)
                .send_sync(authed(
                    SendSyncRequest {
                        user: "alice".into(),
                        strategy: 0,
                        message_source: Some(MessageSource::Message(PushMessage {
                            title: "Hi".into(),
                            content: "Hello".into(),
                            ..Default::default()
                        })),
                        request_id: String::new(),
                    },
                    &token,
                ))
                .await
                .unwrap()
                .into_inner()
                .results
                .remove(0)
        }
    };
    // Allowed: the gateway reaches it (its answer is no token grant) and reports what it said.
    let reached = send(server.channel().await).await;
    assert_eq!(
        reached.reason(),
        FailureReason::GetPushTokenFail,
        "{reached:?}"
    );
    assert!(hits.load(Ordering::SeqCst) > 0);

    // The operator narrows the list: the stored notifier is not used, and its host hears nothing more.
    let server = server.restart_with_settings(DEFAULTS).await;
    let before = hits.load(Ordering::SeqCst);
    let refused = send(server.channel().await).await;
    assert_eq!(
        refused.reason(),
        FailureReason::InvalidNotifier,
        "{refused:?}"
    );
    assert!(
        refused.error_message.contains("dispatch.allowed_endpoints"),
        "{refused:?}"
    );
    assert!(
        !refused.vendor_response.contains(INTERNAL_BODY),
        "{refused:?}"
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        before,
        "the unlisted host was reached"
    );
}
