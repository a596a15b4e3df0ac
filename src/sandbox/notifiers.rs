//! Ready-made notifier settings pointing at the fakes, and their proto3 JSON form (what a `CreateNotifier`
//! call over grpcurl or a JSON transcoder takes).

use serde_json::{Map, Value, json};

use super::{
    apns::{ApnsClientCertificate, ApnsTokenKey},
    fcm::FcmFake,
    honor::HonorApp,
    huawei::HuaweiApp,
    xiaomi::XiaomiApp,
};
use crate::proto::v1::{
    ApnsCertificateAuth, ApnsCredentials, ApnsEnvironment, ApnsPemCertificate, ApnsTokenAuth,
    FcmCredentials, HonorCredentials, HuaweiCredentials, MeizuCredentials, Notifier,
    OppoCredentials, VivoCredentials, XiaomiCredentials, apns_certificate_auth::Format,
    apns_credentials::Auth, notifier::Credentials,
};

/// The bundle id the ready-made APNs notifiers push to.
pub const SANDBOX_TOPIC: &str = "com.pushgate.sandbox";
/// The Firebase project of the ready-made FCM notifier.
pub const SANDBOX_PROJECT: &str = "pushgate-sandbox";

/// The Android package of the ready-made Xiaomi notifier.
pub const SANDBOX_PACKAGE: &str = "com.pushgate.sandbox";

/// What the ready-made notifiers are built from.
pub struct Minted<'a> {
    /// The sandbox CA (PEM).
    pub ca_pem: &'a str,
    /// The APNs fake's base URL.
    pub apns_url: String,
    /// A .p8 key for [`SANDBOX_TOPIC`].
    pub token_key: ApnsTokenKey,
    /// A push certificate for [`SANDBOX_TOPIC`].
    pub certificate: ApnsClientCertificate,
    /// The FCM fake.
    pub fcm: &'a FcmFake,
    /// A service account of [`SANDBOX_PROJECT`].
    pub service_account_json: String,
}

/// `sandbox-apns-token`, `sandbox-apns-cert` and `sandbox-fcm`.
pub fn ready_made(m: Minted<'_>) -> Vec<Notifier> {
    let base = |name: &str, description: &str, send: String, token: String| Notifier {
        name: name.into(),
        description: description.into(),
        send_base_url: send,
        token_base_url: token,
        extra_ca_certificates_pem: m.ca_pem.to_owned(),
        ..Default::default()
    };
    let apns = |auth| {
        Credentials::Apns(ApnsCredentials {
            auth: Some(auth),
            environment: ApnsEnvironment::Sandbox as i32,
            topic: SANDBOX_TOPIC.into(),
            voip: false,
        })
    };
    vec![
        Notifier {
            credentials: Some(apns(Auth::Token(ApnsTokenAuth {
                private_key_pem: m.token_key.private_key_pem,
                key_id: m.token_key.key_id,
                team_id: m.token_key.team_id,
            }))),
            ..base(
                "sandbox-apns-token",
                "APNs sandbox fake, token (.p8) auth",
                m.apns_url.clone(),
                String::new(),
            )
        },
        Notifier {
            credentials: Some(apns(Auth::Certificate(ApnsCertificateAuth {
                format: Some(Format::Pem(ApnsPemCertificate {
                    certificate_pem: m.certificate.certificate_pem,
                    private_key_pem: m.certificate.private_key_pem,
                })),
            }))),
            ..base(
                "sandbox-apns-cert",
                "APNs sandbox fake, certificate auth",
                m.apns_url,
                String::new(),
            )
        },
        Notifier {
            credentials: Some(Credentials::Fcm(FcmCredentials {
                service_account_json: m.service_account_json,
                project_id: SANDBOX_PROJECT.into(),
                ..Default::default()
            })),
            ..base(
                "sandbox-fcm",
                "FCM sandbox fake",
                m.fcm.base_url(),
                m.fcm.base_url(),
            )
        },
    ]
}

/// What the ready-made Huawei, Honor and Xiaomi notifiers are built from.
pub struct MintedCn<'a> {
    /// The sandbox CA (PEM).
    pub ca_pem: &'a str,
    /// The Huawei fake's base URL (send and token endpoints share it).
    pub huawei_url: String,
    /// A Huawei app.
    pub huawei: HuaweiApp,
    /// The Honor fake's base URL (send and token endpoints share it).
    pub honor_url: String,
    /// An Honor app.
    pub honor: HonorApp,
    /// The Xiaomi fake's base URL.
    pub xiaomi_url: String,
    /// A Xiaomi app of [`SANDBOX_PACKAGE`].
    pub xiaomi: XiaomiApp,
}

/// `sandbox-huawei`, `sandbox-honor` and `sandbox-xiaomi`.
pub fn ready_made_cn(m: MintedCn<'_>) -> Vec<Notifier> {
    let base = |name: &str, description: &str, send: &str, token: &str, credentials| Notifier {
        name: name.into(),
        description: description.into(),
        send_base_url: send.to_owned(),
        token_base_url: token.to_owned(),
        extra_ca_certificates_pem: m.ca_pem.to_owned(),
        credentials: Some(credentials),
        ..Default::default()
    };
    vec![
        base(
            "sandbox-huawei",
            "Huawei Push Kit sandbox fake",
            &m.huawei_url,
            &m.huawei_url,
            Credentials::Huawei(HuaweiCredentials {
                app_id: m.huawei.app_id.clone(),
                client_secret: m.huawei.client_secret.clone(),
            }),
        ),
        base(
            "sandbox-honor",
            "Honor Push sandbox fake",
            &m.honor_url,
            &m.honor_url,
            Credentials::Honor(HonorCredentials {
                app_id: m.honor.app_id.clone(),
                client_id: m.honor.client_id.clone(),
                client_secret: m.honor.client_secret.clone(),
            }),
        ),
        base(
            "sandbox-xiaomi",
            "Xiaomi MiPush sandbox fake",
            &m.xiaomi_url,
            "",
            Credentials::Xiaomi(XiaomiCredentials {
                app_secret: m.xiaomi.app_secret.clone(),
                package_name: m.xiaomi.package_name.clone(),
                ..Default::default()
            }),
        ),
    ]
}

/// `sandbox-oppo`, `sandbox-vivo` and `sandbox-meizu`, each given its fake's base URL and a minted app.
pub fn ready_made_cn2(
    ca_pem: &str,
    oppo: (String, super::OppoApp),
    vivo: (String, super::VivoApp),
    meizu: (String, super::MeizuApp),
) -> Vec<Notifier> {
    let base = |name: &str, description: &str, send: String, credentials| Notifier {
        name: name.into(),
        description: description.into(),
        send_base_url: send,
        extra_ca_certificates_pem: ca_pem.to_owned(),
        credentials: Some(credentials),
        ..Default::default()
    };
    vec![
        base(
            "sandbox-oppo",
            "OPPO Push sandbox fake",
            oppo.0,
            Credentials::Oppo(OppoCredentials {
                app_key: oppo.1.app_key,
                master_secret: oppo.1.master_secret,
            }),
        ),
        base(
            "sandbox-vivo",
            "vivo Push sandbox fake",
            vivo.0,
            Credentials::Vivo(VivoCredentials {
                app_id: vivo.1.app_id,
                app_key: vivo.1.app_key,
                app_secret: vivo.1.app_secret,
            }),
        ),
        base(
            "sandbox-meizu",
            "Meizu Flyme Push sandbox fake",
            meizu.0,
            Credentials::Meizu(MeizuCredentials {
                app_id: meizu.1.app_id,
                app_secret: meizu.1.app_secret,
            }),
        ),
    ]
}

/// The proto3 JSON form of a notifier's settable fields (lowerCamelCase names, defaults left out).
pub fn to_json(n: &Notifier) -> Value {
    let mut out = Map::new();
    let mut put = |key: &str, value: &str| {
        if !value.is_empty() {
            out.insert(key.into(), json!(value));
        }
    };
    put("name", &n.name);
    put("description", &n.description);
    put("sendBaseUrl", &n.send_base_url);
    put("tokenBaseUrl", &n.token_base_url);
    put("extraCaCertificatesPem", &n.extra_ca_certificates_pem);
    put("defaultChannelId", &n.default_channel_id);
    put("defaultClickAction", &n.default_click_action);
    if n.qps_limit > 0 {
        out.insert("qpsLimit".into(), json!(n.qps_limit));
    }
    match &n.credentials {
        Some(Credentials::Apns(a)) => {
            let mut apns = json!({
                "environment": ApnsEnvironment::try_from(a.environment)
                    .map(|e| e.as_str_name())
                    .unwrap_or("APNS_ENVIRONMENT_UNSPECIFIED"),
                "topic": a.topic,
            });
            if a.voip {
                apns["voip"] = json!(true);
            }
            match &a.auth {
                Some(Auth::Token(t)) => {
                    apns["token"] = json!({
                        "privateKeyPem": t.private_key_pem,
                        "keyId": t.key_id,
                        "teamId": t.team_id,
                    });
                }
                Some(Auth::Certificate(ApnsCertificateAuth {
                    format: Some(Format::Pem(p)),
                })) => {
                    apns["certificate"] = json!({"pem": {
                        "certificatePem": p.certificate_pem,
                        "privateKeyPem": p.private_key_pem,
                    }});
                }
                _ => {}
            }
            out.insert("apns".into(), apns);
        }
        Some(Credentials::Fcm(f)) => {
            out.insert(
                "fcm".into(),
                json!({"serviceAccountJson": f.service_account_json, "projectId": f.project_id}),
            );
        }
        Some(Credentials::Huawei(h)) => {
            out.insert(
                "huawei".into(),
                json!({"appId": h.app_id, "clientSecret": h.client_secret}),
            );
        }
        Some(Credentials::Honor(h)) => {
            out.insert(
                "honor".into(),
                json!({"appId": h.app_id, "clientId": h.client_id, "clientSecret": h.client_secret}),
            );
        }
        Some(Credentials::Xiaomi(x)) => {
            out.insert(
                "xiaomi".into(),
                json!({"appSecret": x.app_secret, "packageName": x.package_name}),
            );
        }
        Some(Credentials::Oppo(o)) => {
            out.insert(
                "oppo".into(),
                json!({"appKey": o.app_key, "masterSecret": o.master_secret}),
            );
        }
        Some(Credentials::Vivo(v)) => {
            out.insert(
                "vivo".into(),
                json!({"appId": v.app_id, "appKey": v.app_key, "appSecret": v.app_secret}),
            );
        }
        Some(Credentials::Meizu(m)) => {
            out.insert(
                "meizu".into(),
                json!({"appId": m.app_id, "appSecret": m.app_secret}),
            );
        }
        _ => {}
    }
    Value::Object(out)
}
