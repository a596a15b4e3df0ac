//! The Apple APNs fake: HTTP/2-only provider API with token (JWT) and certificate authentication.

mod auth;
mod send;

use std::sync::{Arc, Mutex};

use axum::Router;
use serde::{Deserialize, Serialize};

use super::{
    SandboxError,
    core::FakeCore,
    fault::lock,
    handle::{Fake, VendorState},
    tls::Pki,
};
pub use auth::{TOKEN_MAX_AGE_SECS, TOKEN_REFRESH_MIN_SECS};
pub use send::{MAX_COLLAPSE_ID, MAX_PAYLOAD, MAX_VOIP_PAYLOAD};

/// A minted .p8 signing key, as Apple's developer account hands it out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApnsTokenKey {
    /// The key: PEM `PRIVATE KEY` (PKCS#8, EC P-256), the .p8 file's contents.
    pub private_key_pem: String,
    /// The 10-character key id (JWT `kid`).
    pub key_id: String,
    /// The 10-character team id (JWT `iss`).
    pub team_id: String,
}

/// A minted push certificate and its key, both PEM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApnsClientCertificate {
    /// The client certificate, signed by the sandbox's client CA.
    pub certificate_pem: String,
    /// Its PKCS#8 private key.
    pub private_key_pem: String,
}

/// What the APNs handlers share.
pub struct ApnsState {
    core: Arc<FakeCore>,
    auth: Mutex<auth::ProviderAuth>,
    pki: Arc<Pki>,
}

impl ApnsState {
    fn check_provider_token(
        &self,
        jwt: &str,
        now_secs: i64,
    ) -> Result<auth::TokenAuthorized, auth::Refusal> {
        lock(&self.auth).check(jwt, now_secs)
    }
}

impl VendorState for ApnsState {
    fn core(&self) -> &Arc<FakeCore> {
        &self.core
    }
}

/// Handle on the running APNs fake. Dereferences to the shared [`FakeCore`] for faults, recording and
/// counters.
pub type ApnsFake = Fake<ApnsState>;

impl Fake<ApnsState> {
    /// A fake over `core`, minting certificates with `pki`; returns it and its router.
    pub(crate) fn new(core: Arc<FakeCore>, pki: Arc<Pki>) -> (Self, Router) {
        Self::serve(
            ApnsState {
                core,
                auth: Mutex::new(auth::ProviderAuth::default()),
                pki,
            },
            send::handle,
        )
    }

    /// Mints a .p8 key for a new team allowed to push to `topic` and registers its public key.
    pub fn mint_token_key(&self, topic: &str) -> Result<ApnsTokenKey, SandboxError> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let minted = ApnsTokenKey {
            private_key_pem: key.serialize_pem(),
            key_id: apple_id(),
            team_id: apple_id(),
        };
        lock(&self.state.auth)
            .register(
                &minted.key_id,
                &minted.team_id,
                &key.public_key_pem(),
                topic,
            )
            .map_err(|e| SandboxError::Key(e.to_string()))?;
        Ok(minted)
    }

    /// Mints a push certificate for `topic` signed by the sandbox's client CA (subject
    /// `UID=<topic>, CN=Apple Push Services: <topic>`).
    pub fn mint_certificate(&self, topic: &str) -> Result<ApnsClientCertificate, SandboxError> {
        let (certificate_pem, private_key_pem) = self.state.pki.client_certificate(topic)?;
        Ok(ApnsClientCertificate {
            certificate_pem,
            private_key_pem,
        })
    }

    /// Every provider token issued before now answers 403 `ExpiredProviderToken`, and each key may sign a
    /// new one at once (the 20-minute window is reset).
    pub fn expire_provider_tokens(&self) {
        lock(&self.state.auth).expire_all(crate::clock::now_ms() / 1000);
    }
}

/// A 10-character upper-case alphanumeric id, like Apple's key and team ids.
fn apple_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..10].to_ascii_uppercase()
}
