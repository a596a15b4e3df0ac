//! What the tests of the fake vendors (`fakes_*`) share: a fresh sandbox, HTTP clients that trust only its
//! CA, the clock, and small builders for fault rules and JSON answers. The lane tests (`dispatch.rs`) and the
//! send-path tests (`push.rs`) start their sandboxes and build their faults with these too.

use std::{sync::Arc, time::Duration};

use pushgate::sandbox::{FaultAction, FaultRule, Sandbox, SandboxConfig};
use serde_json::Value;

/// Every fake and the control API on free loopback ports.
pub async fn sandbox() -> Sandbox {
    Sandbox::start(SandboxConfig::default())
        .await
        .expect("sandbox starts")
}

/// The same, each fake remembering at most `max_recorded` requests: more for tests that send thousands, fewer
/// for a second sandbox of a test (whose keys and accounts the first one does not know).
pub async fn sandbox_keeping(max_recorded: usize) -> Sandbox {
    Sandbox::start(SandboxConfig {
        max_recorded,
        ..SandboxConfig::default()
    })
    .await
    .expect("sandbox starts")
}

/// A client trusting only the sandbox CA, offering `alpn`, optionally with a client certificate. Offering
/// only `h2` speaks HTTP/2 with prior knowledge, offering only `http/1.1` forces HTTP/1.1.
pub fn client_with(
    ca_pem: &str,
    alpn: &[&[u8]],
    identity: Option<(&str, &str)>,
) -> reqwest::Client {
    use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    let mut config = match identity {
        Some((cert, key)) => builder
            .with_client_auth_cert(
                CertificateDer::pem_slice_iter(cert.as_bytes())
                    .map(|c| c.unwrap())
                    .collect(),
                PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let mut builder = reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .timeout(Duration::from_secs(20));
    if alpn == [b"h2".as_slice()] {
        builder = builder.http2_prior_knowledge();
    } else if alpn == [b"http/1.1".as_slice()] {
        builder = builder.http1_only();
    }
    builder.build().unwrap()
}

/// A client letting ALPN pick HTTP/2 or HTTP/1.1 (the fakes pick h2).
pub fn client(sandbox: &Sandbox) -> reqwest::Client {
    client_with(sandbox.ca_certificate_pem(), &[b"h2", b"http/1.1"], None)
}

/// A client speaking only HTTP/2.
pub fn h2_client(sandbox: &Sandbox) -> reqwest::Client {
    client_with(sandbox.ca_certificate_pem(), &[b"h2"], None)
}

/// A client speaking only HTTP/1.1.
pub fn h1_client(sandbox: &Sandbox) -> reqwest::Client {
    client_with(sandbox.ca_certificate_pem(), &[b"http/1.1"], None)
}

/// Now, Unix seconds.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Now, Unix ms.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A fault answering `status` with the vendor reason or code `reason`.
pub fn error(status: u16, reason: &str) -> FaultAction {
    FaultAction::Error {
        status,
        reason: reason.into(),
        retry_after_secs: None,
    }
}

/// A fault rule: `action` on sends for `device_token` (every send when `None`), `times` times (until
/// cleared when `None`).
pub fn rule(device_token: Option<&str>, action: FaultAction, times: Option<u32>) -> FaultRule {
    FaultRule {
        device_token: device_token.map(str::to_owned),
        action,
        times,
    }
}

/// Status and JSON body of an answer that must be JSON.
pub async fn answer(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text:?}")),
    )
}

/// Sends `request` and reads its JSON answer (the control API's, say).
pub async fn json_of(request: reqwest::RequestBuilder) -> Value {
    request.send().await.unwrap().json().await.unwrap()
}
