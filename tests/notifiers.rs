//! NotifierService over a real server: every vendor kind, validation, secrets never leaving the server (not
//! in responses, not in clear on disk), updates that keep stored secrets, limits, paging and isolation.

mod common;

use common::{
    TestServer, authed, create_app,
    credentials::{notifier, secrets_of},
    violated_fields,
};
use prost::Message;
use pushgate::proto::v1::{
    ApnsCredentials, ApnsTokenAuth, CreateNotifierRequest, DeleteNotifierRequest,
    GetNotifierRequest, HuaweiCredentials, ListNotifiersRequest, Notifier, NotifierState,
    UpdateNotifierRequest, Vendor, apns_credentials::Auth, notifier::Credentials,
    notifier_service_client::NotifierServiceClient,
};
use tonic::{Code, transport::Channel};
use tonic_types::StatusExt;

const KINDS: &[(&str, Vendor)] = &[
    ("apns-token", Vendor::Apns),
    ("apns-p12", Vendor::Apns),
    ("fcm", Vendor::Fcm),
    ("huawei", Vendor::Huawei),
    ("honor", Vendor::Honor),
    ("xiaomi", Vendor::Xiaomi),
    ("oppo", Vendor::Oppo),
    ("vivo", Vendor::Vivo),
    ("meizu", Vendor::Meizu),
];

type Client = NotifierServiceClient<Channel>;

async fn create(c: &mut Client, token: &str, n: Notifier) -> Result<Notifier, tonic::Status> {
    c.create_notifier(authed(CreateNotifierRequest { notifier: Some(n) }, token))
        .await
        .map(|r| r.into_inner().notifier.unwrap())
}

async fn get(c: &mut Client, token: &str, name: &str) -> Result<Notifier, tonic::Status> {
    c.get_notifier(authed(GetNotifierRequest { name: name.into() }, token))
        .await
        .map(|r| r.into_inner().notifier.unwrap())
}

async fn list(c: &mut Client, token: &str, vendor: Vendor) -> Vec<Notifier> {
    c.list_notifiers(authed(
        ListNotifiersRequest {
            page_size: 100,
            page_token: String::new(),
            vendor: vendor as i32,
        },
        token,
    ))
    .await
    .unwrap()
    .into_inner()
    .notifiers
}

async fn update(
    c: &mut Client,
    token: &str,
    n: Notifier,
    paths: &[&str],
) -> Result<Notifier, tonic::Status> {
    c.update_notifier(authed(
        UpdateNotifierRequest {
            notifier: Some(n),
            update_mask: Some(prost_types::FieldMask {
                paths: paths.iter().map(|p| p.to_string()).collect(),
            }),
        },
        token,
    ))
    .await
    .map(|r| r.into_inner().notifier.unwrap())
}

fn assert_no_secret(bytes: &[u8], secrets: &[Vec<u8>], what: &str) {
    for s in secrets {
        assert!(
            !bytes.windows(s.len()).any(|w| w == s.as_slice()),
            "{what} contains a secret ({:?}...)",
            String::from_utf8_lossy(&s[..s.len().min(12)])
        );
    }
}

#[tokio::test]
async fn every_vendor_kind_is_stored_and_secrets_never_come_back() {
    let mut server = TestServer::start();
    let app = create_app(&server, "acme#chat").await;
    let mut c = NotifierServiceClient::new(server.channel().await);
    let mut all_secrets = Vec::new();
    for (kind, vendor) in KINDS {
        let input = notifier(kind, kind);
        let secrets = secrets_of(&input);
        let created = create(&mut c, &app.token, input).await.expect(kind);
        assert_eq!(created.vendor, *vendor as i32, "{kind}");
        assert_eq!(created.state, NotifierState::Enabled as i32);
        let summary = created.credential_summary.clone().unwrap();
        assert_eq!(summary.fingerprint.len(), 32);
        assert_no_secret(
            &created.encode_to_vec(),
            &secrets,
            &format!("create {kind}"),
        );
        let fetched = get(&mut c, &app.token, kind).await.unwrap();
        assert_no_secret(&fetched.encode_to_vec(), &secrets, &format!("get {kind}"));
        assert_eq!(fetched.credential_summary, created.credential_summary);
        all_secrets.extend(secrets);
    }
    let listed = list(&mut c, &app.token, Vendor::Unspecified).await;
    assert_eq!(listed.len(), KINDS.len());
    for n in &listed {
        assert_no_secret(&n.encode_to_vec(), &all_secrets, "list");
    }
    assert_eq!(list(&mut c, &app.token, Vendor::Apns).await.len(), 2);

    // Certificate facts and FCM's non-secret fields are shown.
    let p12 = get(&mut c, &app.token, "apns-p12").await.unwrap();
    let summary = p12.credential_summary.unwrap();
    assert_eq!(
        summary.certificate_subject,
        "Apple Push Services: com.example.chat"
    );
    assert!(summary.certificate_expire_time.is_some());
    let Some(Credentials::Fcm(fcm)) = get(&mut c, &app.token, "fcm").await.unwrap().credentials
    else {
        panic!("fcm credentials missing")
    };
    assert_eq!(fcm.project_id, "pushgate-test");
    assert_eq!(
        fcm.client_email,
        "sender@pushgate-test.iam.gserviceaccount.com"
    );
    assert!(fcm.service_account_json.is_empty());

    // At rest, secrets are encrypted: nothing the server stores (files, database values) holds them in clear.
    let status = tokio::task::spawn_blocking(move || {
        let status = server.terminate();
        (status, server)
    })
    .await
    .unwrap();
    assert!(status.0.success());
    let server = status.1;
    let mut scanned = 0;
    for (place, bytes) in server.stored_bytes() {
        assert_no_secret(&bytes, &all_secrets, &place);
        scanned += bytes.len();
    }
    assert!(scanned > 0, "nothing was stored");
}

#[tokio::test]
async fn bad_credentials_are_refused_with_the_field_named_and_nothing_stored() {
    let server = TestServer::start();
    let app = create_app(&server, "acme#chat").await;
    let mut c = NotifierServiceClient::new(server.channel().await);

    let mut bad_p8 = notifier("n", "apns-token");
    if let Some(Credentials::Apns(a)) = bad_p8.credentials.as_mut()
        && let Some(Auth::Token(t)) = a.auth.as_mut()
    {
        t.private_key_pem = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".into();
        t.key_id = "short".into();
    }
    let mut wrong_password = notifier("n", "apns-p12");
    if let Some(Credentials::Apns(a)) = wrong_password.credentials.as_mut()
        && let Some(Auth::Certificate(cert)) = a.auth.as_mut()
        && let Some(pushgate::proto::v1::apns_certificate_auth::Format::P12(p)) =
            cert.format.as_mut()
    {
        p.password = "not-the-password".into();
    }
    let mut not_a_service_account = notifier("n", "fcm");
    if let Some(Credentials::Fcm(f)) = not_a_service_account.credentials.as_mut() {
        f.service_account_json = r#"{"type":"authorized_user","client_email":"x"}"#.into();
    }
    let mut apns_token_url = notifier("n", "apns-token");
    apns_token_url.token_base_url = "https://127.0.0.1:1".into();
    let mut channel_on_vivo = notifier("n", "vivo");
    channel_on_vivo.default_channel_id = "c1".into();
    let mut banned = notifier("n", "huawei");
    banned.state = NotifierState::Banned as i32;

    let cases: Vec<(Notifier, Vec<&str>)> = vec![
        (
            bad_p8,
            vec![
                "notifier.apns.token.key_id",
                "notifier.apns.token.private_key_pem",
            ],
        ),
        (wrong_password, vec!["notifier.apns.certificate.p12.p12"]),
        (
            not_a_service_account,
            vec![
                "notifier.fcm.service_account_json",
                "notifier.fcm.service_account_json",
                "notifier.fcm.service_account_json",
                "notifier.fcm.service_account_json",
                "notifier.fcm.project_id",
            ],
        ),
        (
            Notifier {
                name: "n".into(),
                ..Default::default()
            },
            vec!["notifier.credentials"],
        ),
        (notifier("bad name", "huawei"), vec!["notifier.name"]),
        (
            Notifier {
                name: "n".into(),
                credentials: Some(Credentials::Huawei(HuaweiCredentials::default())),
                ..Default::default()
            },
            vec!["notifier.huawei.app_id", "notifier.huawei.client_secret"],
        ),
        (apns_token_url, vec!["notifier.token_base_url"]),
        (channel_on_vivo, vec!["notifier.default_channel_id"]),
        (banned, vec!["notifier.state"]),
    ];
    for (input, fields) in cases {
        let err = create(&mut c, &app.token, input).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert_eq!(violated_fields(&err), fields, "{}", err.message());
    }
    assert!(
        list(&mut c, &app.token, Vendor::Unspecified)
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn updates_change_named_fields_and_keep_stored_secrets() {
    let server = TestServer::start();
    let app = create_app(&server, "acme#chat").await;
    let mut c = NotifierServiceClient::new(server.channel().await);
    let created = create(&mut c, &app.token, notifier("hw", "huawei"))
        .await
        .unwrap();
    let fingerprint = created.credential_summary.clone().unwrap().fingerprint;

    // Plain settings: only the named ones change.
    let changed = update(
        &mut c,
        &app.token,
        Notifier {
            name: "hw".into(),
            description: "main Huawei app".into(),
            state: NotifierState::Disabled as i32,
            qps_limit: 123,
            ..Default::default()
        },
        &["description", "state"],
    )
    .await
    .unwrap();
    assert_eq!(changed.description, "main Huawei app");
    assert_eq!(changed.state, NotifierState::Disabled as i32);
    assert_eq!(changed.qps_limit, 0, "qps_limit was not in the mask");
    assert_eq!(changed.credential_summary.unwrap().fingerprint, fingerprint);

    // Credentials without their secret keep the stored one: the fingerprint (a keyed hash over all
    // credential fields) stays the same when the same app id is sent with an empty secret.
    let same = update(
        &mut c,
        &app.token,
        Notifier {
            name: "hw".into(),
            credentials: Some(Credentials::Huawei(HuaweiCredentials {
                app_id: "10086".into(),
                client_secret: String::new(),
            })),
            ..Default::default()
        },
        &["huawei"],
    )
    .await
    .unwrap();
    assert_eq!(same.credential_summary.unwrap().fingerprint, fingerprint);
    let rotated = update(
        &mut c,
        &app.token,
        Notifier {
            name: "hw".into(),
            credentials: Some(Credentials::Huawei(HuaweiCredentials {
                app_id: "10086".into(),
                client_secret: "a-new-secret".into(),
            })),
            ..Default::default()
        },
        &["huawei"],
    )
    .await
    .unwrap();
    assert_no_secret(
        &rotated.encode_to_vec(),
        &[b"a-new-secret".to_vec()],
        "update",
    );
    assert_ne!(rotated.credential_summary.unwrap().fingerprint, fingerprint);

    // Refused updates.
    let apns = ApnsCredentials {
        auth: Some(Auth::Token(ApnsTokenAuth::default())),
        ..Default::default()
    };
    for (input, paths, fields) in [
        (
            Notifier {
                name: "hw".into(),
                ..Default::default()
            },
            vec![],
            vec!["update_mask"],
        ),
        (
            Notifier {
                name: "hw".into(),
                ..Default::default()
            },
            vec!["vendor"],
            vec!["update_mask"],
        ),
        (
            Notifier {
                name: "hw".into(),
                credentials: Some(Credentials::Apns(apns)),
                ..Default::default()
            },
            vec!["huawei"],
            vec!["notifier.huawei"],
        ),
        (
            Notifier {
                name: "hw".into(),
                state: NotifierState::Banned as i32,
                ..Default::default()
            },
            vec!["state"],
            vec!["notifier.state"],
        ),
        (
            Notifier {
                name: "hw".into(),
                send_base_url: "not a url".into(),
                ..Default::default()
            },
            vec!["send_base_url"],
            vec!["notifier.send_base_url"],
        ),
    ] {
        let err = update(&mut c, &app.token, input, &paths).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert_eq!(
            violated_fields(&err),
            fields,
            "{paths:?}: {}",
            err.message()
        );
    }
    let after = get(&mut c, &app.token, "hw").await.unwrap();
    assert_eq!(
        after.description, "main Huawei app",
        "a refused update changed something"
    );
    assert!(after.send_base_url.is_empty());

    let missing = update(
        &mut c,
        &app.token,
        Notifier {
            name: "nope".into(),
            ..Default::default()
        },
        &["description"],
    )
    .await
    .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
}

#[tokio::test]
async fn duplicates_limits_delete_paging_and_isolation() {
    let server = TestServer::start_with(&[("PUSHGATE_NOTIFIERS_MAX_PER_APP", "3")]);
    let a = create_app(&server, "acme#chat").await;
    let b = create_app(&server, "acme#shop").await;
    let mut c = NotifierServiceClient::new(server.channel().await);
    for name in ["n1", "n2", "n3"] {
        create(&mut c, &a.token, notifier(name, "xiaomi"))
            .await
            .unwrap();
    }
    let dup = create(&mut c, &a.token, notifier("n1", "oppo"))
        .await
        .unwrap_err();
    assert_eq!(dup.code(), Code::AlreadyExists);
    let over = create(&mut c, &a.token, notifier("n4", "oppo"))
        .await
        .unwrap_err();
    assert_eq!(over.code(), Code::ResourceExhausted);
    assert!(over.get_details_quota_failure().is_some());

    // The other app sees none of them and may use the same names.
    assert!(list(&mut c, &b.token, Vendor::Unspecified).await.is_empty());
    assert_eq!(
        get(&mut c, &b.token, "n1").await.unwrap_err().code(),
        Code::NotFound
    );
    create(&mut c, &b.token, notifier("n1", "meizu"))
        .await
        .unwrap();
    assert_eq!(
        get(&mut c, &a.token, "n1").await.unwrap().vendor,
        Vendor::Xiaomi as i32
    );

    // Pages of one, to the end.
    let mut names = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = c
            .list_notifiers(authed(
                ListNotifiersRequest {
                    page_size: 1,
                    page_token,
                    vendor: 0,
                },
                &a.token,
            ))
            .await
            .unwrap()
            .into_inner();
        names.extend(page.notifiers.into_iter().map(|n| n.name));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(names, ["n1", "n2", "n3"]);

    c.delete_notifier(authed(
        DeleteNotifierRequest { name: "n2".into() },
        &a.token,
    ))
    .await
    .unwrap();
    assert_eq!(
        get(&mut c, &a.token, "n2").await.unwrap_err().code(),
        Code::NotFound
    );
    let again = c
        .delete_notifier(authed(
            DeleteNotifierRequest { name: "n2".into() },
            &a.token,
        ))
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::NotFound);
    // A slot freed by the delete can be used again.
    create(&mut c, &a.token, notifier("n4", "oppo"))
        .await
        .unwrap();
}

#[tokio::test]
async fn notifiers_survive_a_restart_with_readable_credentials() {
    let server = TestServer::start();
    let app = create_app(&server, "acme#chat").await;
    let mut c = NotifierServiceClient::new(server.channel().await);
    let created = create(&mut c, &app.token, notifier("apple", "apns-token"))
        .await
        .unwrap();

    let server = server.restart().await;
    let mut c = NotifierServiceClient::new(server.channel().await);
    let fetched = get(&mut c, &app.token, "apple").await.unwrap();
    assert_eq!(fetched.credential_summary, created.credential_summary);
    // Changing the topic without resending the key needs the stored key decrypted: this proves the sealed
    // credentials still open after the restart.
    let Some(Credentials::Apns(mut apns)) = fetched.credentials else {
        panic!("apns credentials missing")
    };
    apns.topic = "com.example.other".into();
    let updated = update(
        &mut c,
        &app.token,
        Notifier {
            name: "apple".into(),
            credentials: Some(Credentials::Apns(apns)),
            ..Default::default()
        },
        &["apns"],
    )
    .await
    .unwrap();
    let Some(Credentials::Apns(apns)) = updated.credentials else {
        panic!("apns credentials missing")
    };
    assert_eq!(apns.topic, "com.example.other");
}
