//! The sandbox's certificates and the TLS accept loop every fake serves from.
//!
//! A CA is generated at start; it signs each fake's server certificate (for `localhost`, `127.0.0.1` and
//! the configured host), so clients trust the fakes by trusting one PEM. A second CA signs the APNs client
//! certificates, mirroring Apple's separate push-certificate authority.

use std::{net::IpAddr, sync::Arc, time::Duration};

use axum::{Router, body::Body, response::Response};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto,
};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::{
    RootCertStore, ServerConfig,
    server::{WebPkiClientVerifier, danger::ClientCertVerifier},
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::{net::TcpListener, sync::watch, task::JoinSet};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::{SandboxError, core::FakeCore};

/// Longest a TLS handshake may take before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest an HTTP/1.1 client may take to send a request's headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// HTTP/2 pings find dead peers; a ping unanswered this long closes the connection.
const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(30);
const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(10);
/// Concurrent HTTP/2 streams per connection: what APNs grants once a connection is trusted.
const MAX_CONCURRENT_STREAMS: u32 = 1_000;
/// Most connections one fake serves at once; more are closed at accept.
const MAX_CONNECTIONS: usize = 10_000;

/// The OID of the X.500 `UID` attribute (userId), where Apple puts a push certificate's bundle id.
pub const UID_OID: &[u64] = &[0, 9, 2342, 19200300, 100, 1, 1];

/// The sandbox's certificate authorities and the fakes' server certificate.
pub struct Pki {
    ca_pem: String,
    server_chain: Vec<CertificateDer<'static>>,
    server_key: PrivatePkcs8KeyDer<'static>,
    client_ca: CertifiedIssuer<'static, KeyPair>,
}

impl Pki {
    /// Generates the CAs and a server certificate valid for `localhost`, `127.0.0.1`, `::1` and `host`.
    pub fn generate(host: IpAddr) -> Result<Self, SandboxError> {
        let ca = authority("pushgate sandbox CA")?;
        let mut names = vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
        ];
        if !names.contains(&host.to_string()) {
            names.push(host.to_string());
        }
        let mut params = CertificateParams::new(names)?;
        params
            .distinguished_name
            .push(DnType::CommonName, "pushgate sandbox vendor");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let cert = params.signed_by(&key, &ca)?;
        Ok(Self {
            ca_pem: ca.pem(),
            server_chain: vec![cert.der().clone()],
            server_key: PrivatePkcs8KeyDer::from(key.serialize_der()),
            client_ca: authority("pushgate sandbox APNs client CA")?,
        })
    }

    /// PEM of the CA that signed the fakes' server certificate.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// A TLS server configuration offering `alpn`; with `client_auth`, clients may present a certificate
    /// signed by the client CA (optional at the handshake, as APNs accepts token auth on the same host).
    pub fn server_config(
        &self,
        alpn: &[&[u8]],
        client_auth: bool,
    ) -> Result<Arc<ServerConfig>, SandboxError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?;
        let builder = if client_auth {
            let mut roots = RootCertStore::empty();
            roots.add(self.client_ca.der().clone())?;
            let verifier: Arc<dyn ClientCertVerifier> =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                    .allow_unauthenticated()
                    .build()
                    .map_err(|e| SandboxError::Tls(rustls::Error::General(e.to_string())))?;
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let mut config = builder.with_single_cert(
            self.server_chain.clone(),
            PrivateKeyDer::Pkcs8(self.server_key.clone_key()),
        )?;
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(config))
    }

    /// A client certificate and its PKCS#8 key (both PEM) signed by the client CA, with the subject Apple
    /// gives push certificates: `UID=<topic>, CN=Apple Push Services: <topic>`.
    pub fn client_certificate(&self, topic: &str) -> Result<(String, String), SandboxError> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(DnType::CustomDnType(UID_OID.to_vec()), topic);
        params
            .distinguished_name
            .push(DnType::CommonName, format!("Apple Push Services: {topic}"));
        params
            .distinguished_name
            .push(DnType::OrganizationalUnitName, "SANDBOXTM1");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let cert = params.signed_by(&key, &self.client_ca)?;
        Ok((cert.pem(), key.serialize_pem()))
    }
}

fn authority(name: &str) -> Result<CertifiedIssuer<'static, KeyPair>, SandboxError> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    Ok(CertifiedIssuer::self_signed(params, key)?)
}

/// Facts about one connection, put in every request's extensions for the handlers.
#[derive(Debug, Clone, Default)]
pub struct ConnInfo {
    /// The client certificate's subject `UID` (an APNs push certificate's topic), if one was presented.
    pub client_uid: Option<String>,
    /// Whether the client presented a (CA-verified) certificate.
    pub client_certificate: bool,
}

impl ConnInfo {
    fn from_peer(certs: Option<&[CertificateDer<'_>]>) -> Self {
        let Some(leaf) = certs.and_then(|c| c.first()) else {
            return Self::default();
        };
        let uid = X509Certificate::from_der(leaf).ok().and_then(|(_, cert)| {
            cert.subject()
                .iter_attributes()
                .find(|a| {
                    a.attr_type()
                        .iter()
                        .is_some_and(|arcs| arcs.eq(UID_OID.iter().copied()))
                })
                .and_then(|a| a.as_str().ok().map(str::to_owned))
        });
        Self {
            client_uid: uid,
            client_certificate: true,
        }
    }
}

/// Which HTTP versions a fake speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpVersions {
    /// HTTP/2 only (APNs): ALPN `h2`, and a client that skips ALPN must still speak HTTP/2.
    Http2Only,
    /// HTTP/2 or HTTP/1.1 (Google, the Android vendors).
    Both,
}

impl HttpVersions {
    /// The ALPN protocols to offer.
    pub fn alpn(self) -> &'static [&'static [u8]] {
        match self {
            Self::Http2Only => &[b"h2"],
            Self::Both => &[b"h2", b"http/1.1"],
        }
    }
}

/// Marks a response that must not be sent: the stream is reset (or the HTTP/1.1 connection closed).
#[derive(Debug, Clone, Copy)]
struct ResetStream;

/// A response the serving loop turns into a stream reset instead of an answer.
pub fn reset_response() -> Response {
    let mut response = Response::new(Body::empty());
    response.extensions_mut().insert(ResetStream);
    response
}

#[derive(Debug, thiserror::Error)]
#[error("stream reset by a sandbox fault rule")]
struct ResetError;

/// Serves `router` over TLS on `listener` until `shutdown` turns true, counting accepted connections in
/// `core`. Returns the accept loop's task.
pub fn spawn_server(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    versions: HttpVersions,
    router: Router,
    core: Arc<FakeCore>,
    mut shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let acceptor = TlsAcceptor::from(config);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(KEEP_ALIVE_INTERVAL)
        .keep_alive_timeout(KEEP_ALIVE_TIMEOUT)
        .max_concurrent_streams(MAX_CONCURRENT_STREAMS);
    let builder = match versions {
        HttpVersions::Http2Only => builder.http2_only(),
        HttpVersions::Both => builder,
    };
    tokio::spawn(async move {
        // Dropping the set when the loop ends aborts every connection still open.
        let mut connections = JoinSet::new();
        loop {
            while connections.try_join_next().is_some() {}
            let accepted = tokio::select! {
                _ = shutdown.changed() => break,
                accepted = listener.accept() => accepted,
            };
            let Ok((tcp, _)) = accepted else {
                // Out of descriptors and the like: pause instead of spinning.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            if connections.len() >= MAX_CONNECTIONS {
                continue;
            }
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            let builder = builder.clone();
            let router = router.clone();
            let core = core.clone();
            connections.spawn(async move {
                let Ok(Ok(tls)) =
                    tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await
                else {
                    return;
                };
                core.recorder.count_connection();
                let info = ConnInfo::from_peer(tls.get_ref().1.peer_certificates());
                let service =
                    hyper::service::service_fn(move |request: http::Request<Incoming>| {
                        let router = router.clone();
                        let info = info.clone();
                        async move {
                            let (mut parts, body) = request.into_parts();
                            parts.extensions.insert(info);
                            let request = http::Request::from_parts(parts, Body::new(body));
                            let response = match router.oneshot(request).await {
                                Ok(response) => response,
                                Err(never) => match never {},
                            };
                            if response.extensions().get::<ResetStream>().is_some() {
                                return Err(ResetError);
                            }
                            Ok::<_, ResetError>(response)
                        }
                    });
                let _ = builder.serve_connection(TokioIo::new(tls), service).await;
            });
        }
    })
}
