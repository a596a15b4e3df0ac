//! What the lane tests (`tests/dispatch/`) share: a sandbox with fake vendors, lanes pointed at them,
//! bindings and messages.

use std::time::Duration;

use pushgate::{
    dispatch::{DispatchConfig, Lane, Outcome, Rendered, Report, Sharing, build_lane},
    notifier::OpenedNotifier,
    proto::v1::{
        ApnsCredentials, ApnsEnvironment, ApnsTokenAuth, FcmCredentials, Notifier, PushMessage,
        Vendor, apns_credentials::Auth, notifier::Credentials,
    },
    sandbox::Sandbox,
    store::bindings::BindingRecord,
};

// Written once in `fakes.rs` for the fakes' own tests; re-exported so that the lane tests find all they
// use here. Test binaries other than the lane tests include `common` without using them: hence the allow.
#[allow(unused_imports)]
pub use super::fakes::{error, sandbox_keeping};

/// The bundle id the APNs tests push to.
pub const TOPIC: &str = "com.example.pushgate";
/// The FCM project of the tests.
pub const PROJECT: &str = "pushgate-test";

/// A sandbox on free ports, each fake remembering up to 20,000 requests.
pub async fn sandbox() -> Sandbox {
    sandbox_keeping(20_000).await
}

/// Asserts that the first of `reports` was delivered, showing them all when it was not.
#[track_caller]
pub fn assert_first_delivered(reports: &[Report]) {
    assert!(
        matches!(reports[0].outcome, Outcome::Delivered { .. }),
        "{reports:?}"
    );
}

/// Dispatch settings with short waits, so retry tests run quickly.
pub fn config() -> DispatchConfig {
    DispatchConfig {
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(5),
        max_attempts: 3,
        retry_base_delay: Duration::from_millis(20),
        retry_max_delay: Duration::from_secs(3),
        breaker_failures: 10_000,
        ..Default::default()
    }
}

/// A lane for `notifier` (credentials included) under `config`.
pub fn lane(notifier: Notifier, config: &DispatchConfig) -> Lane {
    let credentials = notifier.credentials.clone().expect("credentials");
    build_lane(
        OpenedNotifier {
            public: Notifier {
                credentials: None,
                ..notifier
            },
            credentials,
        },
        config,
        "",
        &Sharing::default(),
    )
    .expect("lane builds")
}

/// An APNs notifier named `name` that proves itself with `auth`, aimed at the sandbox's development host.
pub fn apns_notifier(sandbox: &Sandbox, name: &str, auth: Auth, voip: bool) -> Notifier {
    Notifier {
        name: name.into(),
        vendor: Vendor::Apns as i32,
        send_base_url: sandbox.apns().base_url(),
        extra_ca_certificates_pem: sandbox.ca_certificate_pem().to_owned(),
        credentials: Some(Credentials::Apns(ApnsCredentials {
            auth: Some(auth),
            environment: ApnsEnvironment::Sandbox as i32,
            topic: TOPIC.into(),
            voip,
        })),
        ..Default::default()
    }
}

/// An APNs notifier with a freshly minted p8 key, aimed at the sandbox.
pub fn apns_token_notifier(sandbox: &Sandbox, voip: bool) -> Notifier {
    let key = sandbox.apns().mint_token_key(TOPIC).expect("key minted");
    let auth = Auth::Token(ApnsTokenAuth {
        private_key_pem: key.private_key_pem,
        key_id: key.key_id,
        team_id: key.team_id,
    });
    apns_notifier(sandbox, "apns", auth, voip)
}

/// An FCM notifier with a freshly minted service account, aimed at the sandbox.
pub fn fcm_notifier(sandbox: &Sandbox) -> Notifier {
    Notifier {
        name: "fcm".into(),
        vendor: Vendor::Fcm as i32,
        send_base_url: sandbox.fcm().base_url(),
        extra_ca_certificates_pem: sandbox.ca_certificate_pem().to_owned(),
        credentials: Some(Credentials::Fcm(FcmCredentials {
            service_account_json: sandbox
                .fcm()
                .mint_service_account(PROJECT)
                .expect("service account minted"),
            project_id: PROJECT.into(),
            ..Default::default()
        })),
        ..Default::default()
    }
}

/// The `n`th APNs device token (64 hex digits).
pub fn apns_token(n: usize) -> String {
    format!("{n:064x}")
}

/// The `n`th FCM registration token (the shape FCM hands out).
pub fn fcm_token(n: usize) -> String {
    format!("dev{n:05}:APA91b{}", "x".repeat(140))
}

/// One binding per token.
pub fn bindings(tokens: impl IntoIterator<Item = String>) -> Vec<BindingRecord> {
    tokens
        .into_iter()
        .enumerate()
        .map(|(i, device_token)| BindingRecord {
            user: format!("user{i}"),
            device_id: format!("device{i}"),
            device_token,
            ..Default::default()
        })
        .collect()
}

/// A plain message.
pub fn message(title: &str, content: &str) -> Rendered {
    Rendered::now(
        "msg-1",
        PushMessage {
            title: title.into(),
            content: content.into(),
            ..Default::default()
        },
    )
}
