//! TLS to the database with rustls, as `ssl_mode = "verify-full"` asks: the server's certificate verified
//! against the configured CA (or the bundled web PKI roots when none is configured) and its name against
//! the URL's host.

use rustls_pki_types::{CertificateDer, pem::PemObject};

use crate::store::{
    StoreError,
    config::{PostgresConfig, SslMode},
};

/// The TLS connector `config` asks for; `None` for plain TCP.
pub(super) fn connector(
    config: &PostgresConfig,
) -> Result<Option<tokio_postgres_rustls::MakeRustlsConnect>, StoreError> {
    if config.ssl_mode == SslMode::Disable {
        return Ok(None);
    }
    let mut roots = rustls::RootCertStore::empty();
    match &config.ca_file {
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| {
                StoreError::Backend(format!(
                    "store.postgres.ca_file {} cannot be read: {e}",
                    path.display()
                ))
            })?;
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
                .collect::<Result<_, _>>()
                .map_err(|e| {
                    StoreError::Backend(format!(
                        "store.postgres.ca_file {} holds no PEM certificates: {e}",
                        path.display()
                    ))
                })?;
            if certs.is_empty() {
                return Err(StoreError::Backend(format!(
                    "store.postgres.ca_file {} holds no certificates",
                    path.display()
                )));
            }
            for cert in certs {
                roots
                    .add(cert)
                    .map_err(|e| StoreError::Backend(format!("store.postgres.ca_file: {e}")))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Backend(format!("TLS to the database: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Some(tokio_postgres_rustls::MakeRustlsConnect::new(tls)))
}
