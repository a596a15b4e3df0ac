//! Checking vendor credentials locally, hiding their secrets, and keeping stored secrets on partial updates.
//!
//! Checks are what can be known without calling the vendor: keys parse as the kind the vendor signs with
//! (and actually sign), certificates decode and match their keys, service-account files carry what the OAuth
//! exchange needs. The vendor is never called here.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::{
    proto::v1::{
        ApnsCertificateAuth, ApnsCredentials, ApnsEnvironment, ApnsP12Certificate,
        ApnsPemCertificate, ApnsTokenAuth, FcmCredentials, Vendor, XiaomiRegion,
        apns_certificate_auth::Format, apns_credentials::Auth, notifier::Credentials,
    },
    validate::{Violations, max_chars},
};

/// Largest key, certificate or key file accepted.
const MAX_BLOB: usize = 64 * 1024;
/// Longest plain credential field (ids, secrets, package names).
const MAX_FIELD: usize = 256;

/// Facts learned while checking credentials, shown in responses without revealing secrets.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CredentialFacts {
    /// Unix ms at which an APNs client certificate expires.
    pub certificate_expire_ms: Option<i64>,
    /// The APNs client certificate's subject common name.
    pub certificate_subject: String,
}

/// The vendor a credentials message is for.
pub fn vendor_of(credentials: &Credentials) -> Vendor {
    match credentials {
        Credentials::Apns(_) => Vendor::Apns,
        Credentials::Fcm(_) => Vendor::Fcm,
        Credentials::Huawei(_) => Vendor::Huawei,
        Credentials::Honor(_) => Vendor::Honor,
        Credentials::Xiaomi(_) => Vendor::Xiaomi,
        Credentials::Oppo(_) => Vendor::Oppo,
        Credentials::Vivo(_) => Vendor::Vivo,
        Credentials::Meizu(_) => Vendor::Meizu,
    }
}

/// The field name of a vendor's credentials in `Notifier` (also its update-mask path).
pub fn field_of(vendor: Vendor) -> &'static str {
    match vendor {
        Vendor::Apns => "apns",
        Vendor::Fcm => "fcm",
        Vendor::Huawei => "huawei",
        Vendor::Honor => "honor",
        Vendor::Xiaomi => "xiaomi",
        Vendor::Oppo => "oppo",
        Vendor::Vivo => "vivo",
        Vendor::Meizu => "meizu",
        Vendor::Unspecified => "credentials",
    }
}

/// Checks credentials (fully, secrets included); `at` is the field path prefix, e.g. `notifier.apns`.
/// FCM credentials get their output fields (`client_email`, `private_key_id`, `project_id`) filled in.
pub fn check(credentials: &mut Credentials, at: &str, v: &mut Violations) -> CredentialFacts {
    let mut facts = CredentialFacts::default();
    match credentials {
        Credentials::Apns(c) => check_apns(c, at, v, &mut facts),
        Credentials::Fcm(c) => check_fcm(c, at, v),
        Credentials::Huawei(c) => {
            required(v, at, "app_id", &c.app_id);
            required(v, at, "client_secret", &c.client_secret);
        }
        Credentials::Honor(c) => {
            required(v, at, "app_id", &c.app_id);
            required(v, at, "client_id", &c.client_id);
            required(v, at, "client_secret", &c.client_secret);
        }
        Credentials::Xiaomi(c) => {
            required(v, at, "app_secret", &c.app_secret);
            required(v, at, "package_name", &c.package_name);
            if XiaomiRegion::try_from(c.region).is_err() {
                v.add(
                    format!("{at}.region"),
                    format!("{} is not a Xiaomi region", c.region),
                );
            }
        }
        Credentials::Oppo(c) => {
            required(v, at, "app_key", &c.app_key);
            required(v, at, "master_secret", &c.master_secret);
        }
        Credentials::Vivo(c) => {
            required(v, at, "app_id", &c.app_id);
            required(v, at, "app_key", &c.app_key);
            required(v, at, "app_secret", &c.app_secret);
        }
        Credentials::Meizu(c) => {
            required(v, at, "app_id", &c.app_id);
            required(v, at, "app_secret", &c.app_secret);
        }
    }
    facts
}

fn required(v: &mut Violations, at: &str, field: &str, value: &str) {
    if value.trim().is_empty() {
        v.add(format!("{at}.{field}"), "is required");
    } else if let Err(e) = max_chars(value, MAX_FIELD) {
        v.add(format!("{at}.{field}"), e);
    }
}

fn check_apns(c: &ApnsCredentials, at: &str, v: &mut Violations, facts: &mut CredentialFacts) {
    match ApnsEnvironment::try_from(c.environment) {
        Ok(ApnsEnvironment::Unspecified) => v.add(
            format!("{at}.environment"),
            "is required: APNS_ENVIRONMENT_PRODUCTION or APNS_ENVIRONMENT_SANDBOX",
        ),
        Err(_) => v.add(
            format!("{at}.environment"),
            format!("{} is not an APNs environment", c.environment),
        ),
        Ok(_) => {}
    }
    if c.topic.is_empty() {
        v.add(format!("{at}.topic"), "is required (the app's bundle id)");
    } else if let Err(e) = max_chars(&c.topic, 255) {
        v.add(format!("{at}.topic"), e);
    }
    match &c.auth {
        None => v.add(
            format!("{at}.auth"),
            "is required: token (p8 key) or certificate authentication",
        ),
        Some(Auth::Token(t)) => check_apns_token(t, &format!("{at}.token"), v),
        Some(Auth::Certificate(cert)) => {
            check_apns_certificate(cert, &format!("{at}.certificate"), v, facts)
        }
    }
}

fn check_apns_token(t: &ApnsTokenAuth, at: &str, v: &mut Violations) {
    for (field, value) in [("key_id", &t.key_id), ("team_id", &t.team_id)] {
        if value.len() != 10 || !value.chars().all(|c| c.is_ascii_alphanumeric()) {
            v.add(
                format!("{at}.{field}"),
                "must be the 10-character id from the Apple developer account",
            );
        }
    }
    if t.private_key_pem.is_empty() {
        v.add(
            format!("{at}.private_key_pem"),
            "is required (the .p8 file's contents)",
        );
    } else if t.private_key_pem.len() > MAX_BLOB {
        v.add(format!("{at}.private_key_pem"), "is larger than 64 KiB");
    } else if let Err(e) = signs_with(t.private_key_pem.as_bytes(), Algorithm::ES256) {
        v.add(
            format!("{at}.private_key_pem"),
            format!("is not a usable EC P-256 private key (PKCS#8 PEM, as in a .p8 file): {e}"),
        );
    }
}

/// Signs a throwaway JWT with `pem`: proves the key parses and works for the algorithm the vendor needs.
fn signs_with(pem: &[u8], algorithm: Algorithm) -> Result<(), String> {
    let key = match algorithm {
        Algorithm::ES256 => EncodingKey::from_ec_pem(pem),
        _ => EncodingKey::from_rsa_pem(pem),
    }
    .map_err(|e| e.to_string())?;
    jsonwebtoken::encode(
        &Header::new(algorithm),
        &serde_json::json!({"iss": "pushgate-check"}),
        &key,
    )
    .map(|_| ())
    .map_err(|e| e.to_string())
}

fn check_apns_certificate(
    cert: &ApnsCertificateAuth,
    at: &str,
    v: &mut Violations,
    facts: &mut CredentialFacts,
) {
    match &cert.format {
        None => v.add(format!("{at}.format"), "is required: p12 or pem"),
        Some(Format::P12(p12)) => check_p12(p12, &format!("{at}.p12"), v, facts),
        Some(Format::Pem(pem)) => check_pem_pair(pem, &format!("{at}.pem"), v, facts),
    }
}

fn check_p12(p12: &ApnsP12Certificate, at: &str, v: &mut Violations, facts: &mut CredentialFacts) {
    if p12.p12.is_empty() {
        v.add(format!("{at}.p12"), "is required (the .p12 file's bytes)");
        return;
    }
    if p12.p12.len() > MAX_BLOB {
        v.add(format!("{at}.p12"), "is larger than 64 KiB");
        return;
    }
    let store = match p12_keystore::KeyStore::from_pkcs12(
        &p12.p12,
        &p12.password,
        p12_keystore::Pkcs12ImportPolicy::Strict,
    ) {
        Ok(store) => store,
        Err(e) => {
            v.add(
                format!("{at}.p12"),
                format!("cannot be opened with the given password: {e}"),
            );
            return;
        }
    };
    let Some((_, chain)) = store.private_key_chain() else {
        v.add(
            format!("{at}.p12"),
            "holds no private key with its certificate",
        );
        return;
    };
    let Some(leaf) = chain.certs().first() else {
        v.add(
            format!("{at}.p12"),
            "holds a private key without a certificate",
        );
        return;
    };
    match certificate_facts(leaf.as_der()) {
        Ok(f) => *facts = f,
        Err(e) => v.add(format!("{at}.p12"), e),
    }
}

fn check_pem_pair(
    pem: &ApnsPemCertificate,
    at: &str,
    v: &mut Violations,
    facts: &mut CredentialFacts,
) {
    let cert = match CertificateDer::pem_slice_iter(pem.certificate_pem.as_bytes()).next() {
        Some(Ok(cert)) if pem.certificate_pem.len() <= MAX_BLOB => cert,
        Some(Ok(_)) => {
            v.add(format!("{at}.certificate_pem"), "is larger than 64 KiB");
            return;
        }
        _ => {
            v.add(
                format!("{at}.certificate_pem"),
                "holds no PEM CERTIFICATE block",
            );
            return;
        }
    };
    match certificate_facts(&cert) {
        Ok(f) => *facts = f,
        Err(e) => {
            v.add(format!("{at}.certificate_pem"), e);
            return;
        }
    }
    let key = match PrivateKeyDer::from_pem_slice(pem.private_key_pem.as_bytes()) {
        Ok(key) if pem.private_key_pem.len() <= MAX_BLOB => key,
        _ => {
            v.add(
                format!("{at}.private_key_pem"),
                "holds no unencrypted PEM private key (PKCS#1, PKCS#8 or SEC1)",
            );
            return;
        }
    };
    if let Err(e) = key_matches_certificate(&key, &cert) {
        v.add(format!("{at}.private_key_pem"), e);
    }
}

fn key_matches_certificate(
    key: &PrivateKeyDer<'_>,
    cert: &CertificateDer<'_>,
) -> Result<(), String> {
    let signer = rustls::crypto::ring::sign::any_supported_type(key)
        .map_err(|e| format!("is not a usable private key: {e}"))?;
    let Some(public) = signer.public_key() else {
        return Err("cannot derive its public key".into());
    };
    let (_, parsed) = X509Certificate::from_der(cert).map_err(|e| format!("certificate: {e}"))?;
    if parsed.public_key().raw == public.as_ref() {
        Ok(())
    } else {
        Err("does not belong to the certificate".into())
    }
}

/// Expiry and subject of a DER certificate; an expired certificate is refused.
fn certificate_facts(der: &[u8]) -> Result<CredentialFacts, String> {
    let (_, cert) = X509Certificate::from_der(der)
        .map_err(|e| format!("is not a valid X.509 certificate: {e}"))?;
    let expire_ms = cert.validity().not_after.timestamp() * 1000;
    if expire_ms <= crate::clock::now_ms() {
        return Err(format!(
            "expired on {}",
            cert.validity().not_after.to_rfc2822().unwrap_or_default()
        ));
    }
    let subject = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .unwrap_or_default()
        .to_owned();
    Ok(CredentialFacts {
        certificate_expire_ms: Some(expire_ms),
        certificate_subject: subject,
    })
}

fn check_fcm(c: &mut FcmCredentials, at: &str, v: &mut Violations) {
    let field = format!("{at}.service_account_json");
    if c.service_account_json.is_empty() {
        v.add(field, "is required (the service account key file)");
        return;
    }
    if c.service_account_json.len() > MAX_BLOB {
        v.add(field, "is larger than 64 KiB");
        return;
    }
    let json: serde_json::Value = match serde_json::from_str(&c.service_account_json) {
        Ok(serde_json::Value::Object(map)) => serde_json::Value::Object(map),
        _ => {
            v.add(field, "is not a JSON object");
            return;
        }
    };
    let text = |key: &str| json.get(key).and_then(|x| x.as_str()).unwrap_or_default();
    if text("type") != "service_account" {
        v.add(
            field.clone(),
            "must be a service account key (\"type\": \"service_account\")",
        );
    }
    if !text("client_email").contains('@') {
        v.add(field.clone(), "has no client_email");
    }
    let token_uri = text("token_uri");
    match token_uri.parse::<http::Uri>() {
        Ok(uri) if matches!(uri.scheme_str(), Some("https" | "http")) && uri.host().is_some() => {}
        _ => v.add(field.clone(), "has no absolute http(s) token_uri"),
    }
    let private_key = text("private_key");
    if private_key.is_empty() {
        v.add(field.clone(), "has no private_key");
    } else if let Err(e) = signs_with(private_key.as_bytes(), Algorithm::RS256) {
        v.add(
            field.clone(),
            format!("private_key is not a usable RSA key: {e}"),
        );
    }
    if c.project_id.is_empty() {
        c.project_id = text("project_id").to_owned();
    }
    if c.project_id.is_empty() {
        v.add(
            format!("{at}.project_id"),
            "is required when the key file has no project_id",
        );
    } else if let Err(e) = max_chars(&c.project_id, MAX_FIELD) {
        v.add(format!("{at}.project_id"), e);
    }
    c.client_email = text("client_email").to_owned();
    c.private_key_id = text("private_key_id").to_owned();
}

/// A copy with every secret field cleared: what responses carry.
pub fn redacted(credentials: &Credentials) -> Credentials {
    let mut c = credentials.clone();
    match &mut c {
        Credentials::Apns(a) => match &mut a.auth {
            Some(Auth::Token(t)) => t.private_key_pem.clear(),
            Some(Auth::Certificate(cert)) => match &mut cert.format {
                Some(Format::P12(p)) => {
                    p.p12.clear();
                    p.password.clear();
                }
                Some(Format::Pem(p)) => p.private_key_pem.clear(),
                None => {}
            },
            None => {}
        },
        Credentials::Fcm(f) => f.service_account_json.clear(),
        Credentials::Huawei(h) => h.client_secret.clear(),
        Credentials::Honor(h) => h.client_secret.clear(),
        Credentials::Xiaomi(x) => x.app_secret.clear(),
        Credentials::Oppo(o) => o.master_secret.clear(),
        Credentials::Vivo(x) => x.app_secret.clear(),
        Credentials::Meizu(m) => m.app_secret.clear(),
    }
    c
}

/// Fills the secret fields that `update` leaves empty from `stored` (same vendor, same auth kind), so an
/// update can change a topic or an id without resending the key.
pub fn keep_stored_secrets(update: &mut Credentials, stored: &Credentials) {
    fn keep<T: Default + PartialEq + Clone>(new: &mut T, old: &T) {
        if *new == T::default() {
            *new = old.clone();
        }
    }
    match (update, stored) {
        (Credentials::Apns(n), Credentials::Apns(o)) => match (&mut n.auth, &o.auth) {
            (Some(Auth::Token(n)), Some(Auth::Token(o))) => {
                keep(&mut n.private_key_pem, &o.private_key_pem)
            }
            (Some(Auth::Certificate(n)), Some(Auth::Certificate(o))) => {
                match (&mut n.format, &o.format) {
                    // The password belongs to the stored bundle: kept only together with it.
                    (Some(Format::P12(n)), Some(Format::P12(o))) if n.p12.is_empty() => {
                        n.p12 = o.p12.clone();
                        keep(&mut n.password, &o.password);
                    }
                    (Some(Format::Pem(n)), Some(Format::Pem(o))) => {
                        keep(&mut n.private_key_pem, &o.private_key_pem)
                    }
                    _ => {}
                }
            }
            _ => {}
        },
        (Credentials::Fcm(n), Credentials::Fcm(o)) => {
            keep(&mut n.service_account_json, &o.service_account_json)
        }
        (Credentials::Huawei(n), Credentials::Huawei(o)) => {
            keep(&mut n.client_secret, &o.client_secret)
        }
        (Credentials::Honor(n), Credentials::Honor(o)) => {
            keep(&mut n.client_secret, &o.client_secret)
        }
        (Credentials::Xiaomi(n), Credentials::Xiaomi(o)) => keep(&mut n.app_secret, &o.app_secret),
        (Credentials::Oppo(n), Credentials::Oppo(o)) => {
            keep(&mut n.master_secret, &o.master_secret)
        }
        (Credentials::Vivo(n), Credentials::Vivo(o)) => keep(&mut n.app_secret, &o.app_secret),
        (Credentials::Meizu(n), Credentials::Meizu(o)) => keep(&mut n.app_secret, &o.app_secret),
        _ => {}
    }
}

#[cfg(test)]
pub(crate) mod test_keys {
    //! Real keys and certificates generated for tests (rcgen), never checked in.

    /// A fresh EC P-256 key in PKCS#8 PEM, as in a .p8 file.
    pub fn p8() -> String {
        rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .expect("p256 key")
            .serialize_pem()
    }

    /// A fresh self-signed certificate and its key, PEM.
    pub fn cert_and_key(cn: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        let cert = params.self_signed(&key).expect("cert");
        (cert.pem(), key.serialize_pem())
    }
}

#[cfg(test)]
mod tests {
    use super::{test_keys::*, *};
    use crate::proto::v1::{ApnsPemCertificate, HuaweiCredentials};

    fn fields(v: &Violations) -> Vec<&str> {
        v.list().iter().map(|f| f.field.as_str()).collect()
    }

    fn apns_token(pem: &str) -> Credentials {
        Credentials::Apns(ApnsCredentials {
            auth: Some(Auth::Token(ApnsTokenAuth {
                private_key_pem: pem.into(),
                key_id: "ABCDE12345".into(),
                team_id: "TEAM123456".into(),
            })),
            environment: ApnsEnvironment::Sandbox as i32,
            topic: "com.example.app".into(),
            voip: false,
        })
    }

    #[test]
    fn p8_must_be_a_p256_key() {
        let mut v = Violations::new();
        check(&mut apns_token(&p8()), "n.apns", &mut v);
        assert!(v.list().is_empty(), "{v}");
        let p384 = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384)
            .unwrap()
            .serialize_pem();
        for bad in [
            p384.as_str(),
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            "x",
        ] {
            let mut v = Violations::new();
            check(&mut apns_token(bad), "n.apns", &mut v);
            assert_eq!(fields(&v), ["n.apns.token.private_key_pem"], "{bad}");
        }
    }

    #[test]
    fn pem_certificate_must_match_its_key() {
        let (cert, key) = cert_and_key("Apple Push Services: com.example.app");
        let (_, other_key) = cert_and_key("other");
        let pem = |key: &str| {
            Credentials::Apns(ApnsCredentials {
                auth: Some(Auth::Certificate(ApnsCertificateAuth {
                    format: Some(Format::Pem(ApnsPemCertificate {
                        certificate_pem: cert.clone(),
                        private_key_pem: key.into(),
                    })),
                })),
                environment: ApnsEnvironment::Production as i32,
                topic: "com.example.app".into(),
                voip: false,
            })
        };
        let mut v = Violations::new();
        let facts = check(&mut pem(&key), "a", &mut v);
        assert!(v.list().is_empty(), "{v}");
        assert_eq!(
            facts.certificate_subject,
            "Apple Push Services: com.example.app"
        );
        assert!(facts.certificate_expire_ms.unwrap() > crate::clock::now_ms());
        let mut v = Violations::new();
        check(&mut pem(&other_key), "a", &mut v);
        assert_eq!(fields(&v), ["a.certificate.pem.private_key_pem"]);
    }

    #[test]
    fn required_fields_are_named() {
        let mut v = Violations::new();
        check(
            &mut Credentials::Huawei(HuaweiCredentials::default()),
            "n.huawei",
            &mut v,
        );
        assert_eq!(fields(&v), ["n.huawei.app_id", "n.huawei.client_secret"]);
        let mut v = Violations::new();
        check(
            &mut Credentials::Apns(ApnsCredentials::default()),
            "n.apns",
            &mut v,
        );
        assert_eq!(
            fields(&v),
            ["n.apns.environment", "n.apns.topic", "n.apns.auth"]
        );
    }

    #[test]
    fn redaction_clears_every_secret_and_updates_keep_them() {
        let stored = apns_token(&p8());
        let shown = redacted(&stored);
        let Credentials::Apns(ApnsCredentials {
            auth: Some(Auth::Token(t)),
            ..
        }) = &shown
        else {
            panic!("shape changed")
        };
        assert!(t.private_key_pem.is_empty());
        assert_eq!(t.key_id, "ABCDE12345", "non-secret fields stay");

        let mut update = apns_token("");
        keep_stored_secrets(&mut update, &stored);
        assert_eq!(update, stored);
    }
}
