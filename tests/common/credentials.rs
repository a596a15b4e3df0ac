//! Real vendor credentials generated for tests: keys and certificates that parse and sign like real ones.

use pushgate::proto::v1::{
    ApnsCertificateAuth, ApnsCredentials, ApnsEnvironment, ApnsP12Certificate, ApnsTokenAuth,
    FcmCredentials, HonorCredentials, HuaweiCredentials, MeizuCredentials, Notifier,
    OppoCredentials, VivoCredentials, XiaomiCredentials, apns_certificate_auth::Format,
    apns_credentials::Auth, notifier::Credentials,
};
use rsa::pkcs8::{EncodePrivateKey, LineEnding};

/// A fresh EC P-256 key in PKCS#8 PEM, as in an APNs .p8 file.
pub fn p8() -> String {
    rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .expect("p256 key")
        .serialize_pem()
}

/// A fresh certificate (subject CN `cn`) and its key: (certificate PEM, key PKCS#8 DER, certificate DER).
pub fn certificate(cn: &str) -> (String, Vec<u8>, Vec<u8>) {
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    let cert = params.self_signed(&key).expect("cert");
    (cert.pem(), key.serialize_der(), cert.der().to_vec())
}

/// A PKCS#12 bundle of a fresh certificate and key, protected by `password`.
pub fn p12(cn: &str, password: &str) -> Vec<u8> {
    let (_, key_der, cert_der) = certificate(cn);
    let chain = p12_keystore::PrivateKeyChain::new(
        vec![7u8; 20],
        p12_keystore::PrivateKey::from_der(&key_der).expect("pkcs8 key"),
        [p12_keystore::Certificate::from_der(&cert_der).expect("certificate")],
    );
    let mut store = p12_keystore::KeyStore::new();
    store.add_entry("apns", p12_keystore::KeyStoreEntry::PrivateKeyChain(chain));
    store.writer(password).write().expect("write p12")
}

/// A service-account key file with a fresh RSA key, as Google issues them.
pub fn service_account_json(token_uri: &str) -> String {
    let key = rsa::RsaPrivateKey::new(&mut rand_core_rng(), 2048).expect("rsa key");
    let pem = key.to_pkcs8_pem(LineEnding::LF).expect("pem").to_string();
    serde_json::json!({
        "type": "service_account",
        "project_id": "pushgate-test",
        "private_key_id": "0123456789abcdef",
        "private_key": pem,
        "client_email": "sender@pushgate-test.iam.gserviceaccount.com",
        "client_id": "1234567890",
        "token_uri": token_uri,
    })
    .to_string()
}

fn rand_core_rng() -> rsa::rand_core::OsRng {
    rsa::rand_core::OsRng
}

/// A notifier named `name` with valid credentials of every vendor kind, by kind name.
pub fn notifier(name: &str, kind: &str) -> Notifier {
    let credentials = match kind {
        "apns-token" => Credentials::Apns(ApnsCredentials {
            auth: Some(Auth::Token(ApnsTokenAuth {
                private_key_pem: p8(),
                key_id: "KEYID12345".into(),
                team_id: "TEAMID1234".into(),
            })),
            environment: ApnsEnvironment::Sandbox as i32,
            topic: "com.example.chat".into(),
            voip: false,
        }),
        "apns-p12" => Credentials::Apns(ApnsCredentials {
            auth: Some(Auth::Certificate(ApnsCertificateAuth {
                format: Some(Format::P12(ApnsP12Certificate {
                    p12: p12("Apple Push Services: com.example.chat", "p12-pass"),
                    password: "p12-pass".into(),
                })),
            })),
            environment: ApnsEnvironment::Production as i32,
            topic: "com.example.chat".into(),
            voip: false,
        }),
        "fcm" => Credentials::Fcm(FcmCredentials {
            service_account_json: service_account_json("https://oauth2.googleapis.com/token"),
            ..Default::default()
        }),
        "huawei" => Credentials::Huawei(HuaweiCredentials {
            app_id: "10086".into(),
            client_secret: "hw-client-secret-value".into(),
        }),
        "honor" => Credentials::Honor(HonorCredentials {
            app_id: "104400".into(),
            client_id: "honor-client".into(),
            client_secret: "honor-client-secret-value".into(),
        }),
        "xiaomi" => Credentials::Xiaomi(XiaomiCredentials {
            app_secret: "xiaomi-app-secret-value".into(),
            package_name: "com.example.chat".into(),
            region: 0,
        }),
        "oppo" => Credentials::Oppo(OppoCredentials {
            app_key: "oppo-key".into(),
            master_secret: "oppo-master-secret-value".into(),
        }),
        "vivo" => Credentials::Vivo(VivoCredentials {
            app_id: "1001".into(),
            app_key: "vivo-key".into(),
            app_secret: "vivo-app-secret-value".into(),
        }),
        "meizu" => Credentials::Meizu(MeizuCredentials {
            app_id: "110".into(),
            app_secret: "meizu-app-secret-value".into(),
        }),
        other => panic!("unknown notifier kind {other}"),
    };
    Notifier {
        name: name.into(),
        credentials: Some(credentials),
        ..Default::default()
    }
}

/// Every secret string and byte string of a notifier's credentials: none may ever leave the server.
pub fn secrets_of(n: &Notifier) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    match n.credentials.as_ref().expect("credentials") {
        Credentials::Apns(a) => match &a.auth {
            Some(Auth::Token(t)) => out.push(key_body(&t.private_key_pem)),
            Some(Auth::Certificate(c)) => match &c.format {
                Some(Format::P12(p)) => {
                    out.push(p.p12[p.p12.len() / 2..p.p12.len() / 2 + 32].to_vec());
                    out.push(p.password.clone().into_bytes());
                }
                Some(Format::Pem(p)) => out.push(key_body(&p.private_key_pem)),
                None => {}
            },
            None => {}
        },
        Credentials::Fcm(f) => {
            let json: serde_json::Value = serde_json::from_str(&f.service_account_json).unwrap();
            out.push(key_body(json["private_key"].as_str().unwrap()));
        }
        Credentials::Huawei(c) => out.push(c.client_secret.clone().into_bytes()),
        Credentials::Honor(c) => out.push(c.client_secret.clone().into_bytes()),
        Credentials::Xiaomi(c) => out.push(c.app_secret.clone().into_bytes()),
        Credentials::Oppo(c) => out.push(c.master_secret.clone().into_bytes()),
        Credentials::Vivo(c) => out.push(c.app_secret.clone().into_bytes()),
        Credentials::Meizu(c) => out.push(c.app_secret.clone().into_bytes()),
    }
    out
}

/// A distinctive slice of a PEM key's base64 body.
fn key_body(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    body.as_bytes()[10..50].to_vec()
}
