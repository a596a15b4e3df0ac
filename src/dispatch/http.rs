//! HTTP clients for vendor endpoints: rustls (ring) with the public web roots plus configured extra CAs,
//! HTTP/2 with connection reuse, timeouts on connect and on every request.
//!
//! reqwest is built without a TLS provider of its own (its default pulls aws-lc, a C build); we hand it a
//! finished rustls configuration instead, which is also the only way to add a client certificate read from a
//! p12 and to trust the sandbox's CA per notifier.

use std::{sync::Arc, time::Duration};

use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, pem::PemObject};

use super::{DispatchConfig, DispatchError};
use crate::{
    egress::{EgressPolicy, GuardedResolver},
    proto::v1::Notifier,
};

/// A TLS client certificate with its key (APNs certificate auth).
pub struct ClientIdentity {
    /// The certificate chain, leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// The leaf's private key.
    pub key: PrivateKeyDer<'static>,
}

impl ClientIdentity {
    /// An identity from a PEM certificate (chain) and a PEM private key.
    pub fn from_pem(certificate_pem: &str, private_key_pem: &str) -> Result<Self, DispatchError> {
        let chain = CertificateDer::pem_slice_iter(certificate_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| DispatchError::Credentials(format!("client certificate: {e}")))?;
        if chain.is_empty() {
            return Err(DispatchError::Credentials(
                "client certificate PEM holds no CERTIFICATE".into(),
            ));
        }
        let key = PrivateKeyDer::from_pem_slice(private_key_pem.as_bytes())
            .map_err(|e| DispatchError::Credentials(format!("client key: {e}")))?;
        Ok(Self { chain, key })
    }

    /// An identity from a PKCS#12 file and its password.
    pub fn from_p12(p12: &[u8], password: &str) -> Result<Self, DispatchError> {
        let store = p12_keystore::KeyStore::from_pkcs12(
            p12,
            password,
            p12_keystore::Pkcs12ImportPolicy::Strict,
        )
        .map_err(|e| DispatchError::Credentials(format!("p12: {e}")))?;
        let (_, chain) = store
            .private_key_chain()
            .ok_or_else(|| DispatchError::Credentials("p12 holds no private key".into()))?;
        // p12 keys are PKCS#8 PrivateKeyInfo.
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(chain.key().as_der().to_vec()));
        let chain = chain
            .certs()
            .iter()
            .map(|c| CertificateDer::from(c.as_der().to_vec()))
            .collect::<Vec<_>>();
        if chain.is_empty() {
            return Err(DispatchError::Credentials(
                "p12 holds no certificate".into(),
            ));
        }
        Ok(Self { chain, key })
    }
}

/// How to build one notifier's client.
pub struct ClientOptions<'a> {
    /// PEM CA certificates trusted in addition to the public web roots (global ones and the notifier's).
    pub extra_ca_pems: &'a [&'a str],
    /// A client certificate to present, if the vendor authenticates by certificate.
    pub identity: Option<ClientIdentity>,
    /// Speak only HTTP/2 (APNs refuses HTTP/1.1).
    pub http2_only: bool,
    /// Longest TCP + TLS connect.
    pub connect_timeout: Duration,
    /// Longest request, from sending to the whole answer.
    pub request_timeout: Duration,
    /// When set, host names resolve only to addresses this policy allows (a tenant-steered client); `None`
    /// for the operator's own destinations.
    pub egress: Option<EgressPolicy>,
}

/// A client for one notifier's endpoints. Requests share pooled connections; over HTTP/2 they multiplex on
/// one connection per host.
pub fn client(options: ClientOptions<'_>) -> Result<reqwest::Client, DispatchError> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for pem in options
        .extra_ca_pems
        .iter()
        .filter(|p| !p.trim().is_empty())
    {
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            let cert = cert.map_err(|e| DispatchError::Tls(format!("extra CA PEM: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| DispatchError::Tls(format!("extra CA certificate: {e}")))?;
        }
    }
    let builder =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| DispatchError::Tls(e.to_string()))?
            .with_root_certificates(roots);
    let mut tls = match options.identity {
        Some(id) => builder
            .with_client_auth_cert(id.chain, id.key)
            .map_err(|e| DispatchError::Credentials(format!("client certificate: {e}")))?,
        None => builder.with_no_client_auth(),
    };
    tls.alpn_protocols = if options.http2_only {
        vec![b"h2".to_vec()]
    } else {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    };
    let mut http = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .connect_timeout(options.connect_timeout)
        .timeout(options.request_timeout)
        .pool_idle_timeout(Duration::from_secs(90))
        // Vendors drop idle HTTP/2 connections silently; pings find a dead one before a push does.
        .http2_keep_alive_interval(Duration::from_secs(30))
        .http2_keep_alive_timeout(Duration::from_secs(10))
        .http2_keep_alive_while_idle(true)
        // No vendor API redirects; following one would let an allowed host send the request (and the
        // credentials in it) to a host the egress policy never saw.
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy();
    if let Some(policy) = options.egress {
        http = http.dns_resolver(Arc::new(GuardedResolver::new(policy)));
    }
    if options.http2_only {
        http = http.http2_prior_knowledge();
    }
    http.build().map_err(DispatchError::Client)
}

/// The client of a notifier whose vendor asks nothing special of it (every vendor but APNs): HTTP/1.1 or
/// HTTP/2, no client certificate, the server-wide and the notifier's extra CAs, the configured timeouts.
pub(crate) fn notifier_client(
    notifier: &Notifier,
    config: &DispatchConfig,
    global_ca_pem: &str,
) -> Result<reqwest::Client, DispatchError> {
    client(ClientOptions {
        extra_ca_pems: &[global_ca_pem, &notifier.extra_ca_certificates_pem],
        identity: None,
        http2_only: false,
        connect_timeout: config.connect_timeout,
        request_timeout: config.request_timeout,
        egress: Some(config.allowed_endpoints.clone()),
    })
}

/// `base` (a notifier's override, or the vendor default when empty) with the vendor's `path` appended.
pub fn endpoint(base_override: &str, default_base: &str, path: &str) -> String {
    format!(
        "{}{}",
        base(base_override, default_base).trim_end_matches('/'),
        path
    )
}

/// The URL of the auth call `path` of a vendor that serves it on its send host (OPPO, vivo): under the
/// notifier's token base when set, else under its send base, else on the vendor's `default_base`.
pub(crate) fn auth_endpoint(notifier: &Notifier, default_base: &str, path: &str) -> String {
    endpoint(
        &notifier.token_base_url,
        base(&notifier.send_base_url, default_base),
        path,
    )
}

/// The notifier's override of a base URL, or the vendor default when it has none.
fn base<'a>(base_override: &'a str, default_base: &'a str) -> &'a str {
    if base_override.is_empty() {
        default_base
    } else {
        base_override
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_prefers_the_override_and_keeps_its_path_prefix() {
        assert_eq!(
            endpoint("", "https://api.push.apple.com", "/3/device/ab"),
            "https://api.push.apple.com/3/device/ab"
        );
        assert_eq!(
            endpoint("https://127.0.0.1:8443/apns/", "https://x", "/3/device/ab"),
            "https://127.0.0.1:8443/apns/3/device/ab"
        );
    }

    #[test]
    fn a_bad_extra_ca_is_an_error_not_ignored() {
        let result = client(ClientOptions {
            extra_ca_pems: &[
                "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
            ],
            identity: None,
            http2_only: true,
            connect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(1),
            egress: None,
        });
        assert!(matches!(result, Err(DispatchError::Tls(_))));
    }
}
