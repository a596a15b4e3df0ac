//! Random secrets, their hashes and key files.
//!
//! Secrets generated here carry 256 random bits, so a plain SHA-256 is enough to store them: there is nothing to
//! guess that a slow password hash would protect.

use std::{io::Write, path::Path};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A new random secret: `prefix` followed by 256 random bits in URL-safe base64.
pub fn generate(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// SHA-256 of a secret, as stored.
pub fn hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Whether `secret` hashes to `stored`, compared in constant time.
pub fn matches(secret: &str, stored: &[u8]) -> bool {
    hash(secret).ct_eq(stored).into()
}

/// Why a key file could not be read or created.
#[derive(Debug, thiserror::Error)]
#[error("key file {path}: {reason}")]
pub struct KeyFileError {
    /// The file.
    pub path: String,
    /// What went wrong.
    pub reason: String,
}

/// Reads the secret in `path`, or creates the file (mode 0600) with a new secret when it does not exist.
/// Returns the secret and whether it was created.
pub fn load_or_create(path: &Path, prefix: &str) -> Result<(String, bool), KeyFileError> {
    let err = |reason: String| KeyFileError {
        path: path.display().to_string(),
        reason,
    };
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let value = text.trim().to_owned();
            if value.is_empty() {
                return Err(err("is empty".into()));
            }
            Ok((value, false))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let value = generate(prefix);
            write_private(path, &value).map_err(|e| err(e.to_string()))?;
            Ok((value, true))
        }
        Err(e) => Err(err(e.to_string())),
    }
}

/// Writes `value` to a new file readable by its owner only.
pub fn write_private(path: &Path, value: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(value.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_differ_and_verify() {
        let a = generate("pgs_");
        let b = generate("pgs_");
        assert_ne!(a, b);
        assert!(a.starts_with("pgs_") && a.len() == 4 + 43);
        assert!(matches(&a, &hash(&a)));
        assert!(!matches(&b, &hash(&a)));
    }

    #[test]
    fn key_file_is_created_private_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let (first, created) = load_or_create(&path, "k_").unwrap();
        assert!(created);
        let (again, created) = load_or_create(&path, "k_").unwrap();
        assert!(!created);
        assert_eq!(first, again);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
