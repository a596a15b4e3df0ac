//! Encryption of notifier credentials at rest.
//!
//! XChaCha20-Poly1305 with a random 192-bit nonce per record (random nonces are safe at that size), and the
//! app + notifier name as associated data, so a sealed blob copied onto another record does not open. The key
//! comes from config or from a key file generated once in the data directory. Fingerprints are keyed
//! HMACs, so they identify a credential set without letting anyone test guesses against them.

use chacha20poly1305::{
    Key, XChaCha20Poly1305, XNonce,
    aead::{Aead, KeyInit, Payload},
};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// First byte of every sealed blob, so the format can change later.
const VERSION: u8 = 1;
const NONCE_LEN: usize = 24;

/// A sealed blob could not be opened: wrong key, wrong record, or corrupt.
#[derive(Debug, thiserror::Error)]
#[error("notifier credentials cannot be decrypted (wrong credentials key or corrupt record)")]
pub struct OpenError;

/// Seals and opens credentials with one key.
#[derive(Clone)]
pub struct Sealer {
    cipher: XChaCha20Poly1305,
    fingerprint_key: [u8; 32],
}

impl Sealer {
    /// Derives the encryption and fingerprint keys from a configured or generated secret.
    pub fn new(secret: &str) -> Self {
        let derive = |label: &str| -> [u8; 32] {
            let mut h = Sha256::new();
            h.update(label.as_bytes());
            h.update(secret.as_bytes());
            h.finalize().into()
        };
        Self {
            cipher: XChaCha20Poly1305::new(Key::from_slice(&derive("pushgate credentials v1 "))),
            fingerprint_key: derive("pushgate fingerprint v1 "),
        }
    }

    /// Encrypts `plaintext`, bound to `context`.
    pub fn seal(&self, context: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: context,
                },
            )
            // Encryption only fails for inputs beyond ~256 GiB; credentials are capped far below that.
            .unwrap_or_default();
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        out
    }

    /// Decrypts a blob sealed for `context`.
    pub fn open(&self, context: &[u8], sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
        if sealed.len() < 1 + NONCE_LEN || sealed[0] != VERSION {
            return Err(OpenError);
        }
        let (nonce, ciphertext) = sealed[1..].split_at(NONCE_LEN);
        self.cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context,
                },
            )
            .map_err(|_| OpenError)
    }

    /// A keyed fingerprint of `plaintext` (32 lowercase hex characters).
    pub fn fingerprint(&self, plaintext: &[u8]) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.fingerprint_key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(plaintext);
        hex::encode(&mac.finalize().into_bytes()[..16])
    }
}

/// The associated data that binds a sealed blob to its record.
pub fn context(app: &str, notifier: &str) -> Vec<u8> {
    let mut c = Vec::with_capacity(app.len() + notifier.len() + 1);
    c.extend_from_slice(app.as_bytes());
    c.push(0);
    c.extend_from_slice(notifier.as_bytes());
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_binding() {
        let s = Sealer::new("k");
        let sealed = s.seal(&context("o#a", "n"), b"secret");
        assert!(
            !sealed.windows(6).any(|w| w == b"secret"),
            "plaintext visible"
        );
        assert_eq!(s.open(&context("o#a", "n"), &sealed).unwrap(), b"secret");
        assert!(
            s.open(&context("o#b", "n"), &sealed).is_err(),
            "other record"
        );
        assert!(
            Sealer::new("other")
                .open(&context("o#a", "n"), &sealed)
                .is_err(),
            "other key"
        );
        assert!(s.open(&context("o#a", "n"), &sealed[..10]).is_err());
    }

    #[test]
    fn fingerprints_are_stable_and_keyed() {
        let s = Sealer::new("k");
        assert_eq!(s.fingerprint(b"x"), s.fingerprint(b"x"));
        assert_ne!(s.fingerprint(b"x"), s.fingerprint(b"y"));
        assert_ne!(s.fingerprint(b"x"), Sealer::new("k2").fingerprint(b"x"));
        assert_eq!(s.fingerprint(b"x").len(), 32);
    }
}
