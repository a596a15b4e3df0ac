//! The `[rest]` section: Easemob's push REST API, for teams moving over from Easemob.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// Settings of the REST listener.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RestConfig {
    /// Whether the REST listener runs (off by default; `serve --sandbox` turns it on).
    pub enabled: bool,
    /// Where it listens.
    pub listen: SocketAddr,
    /// Largest request body taken; a larger one is refused with 413 before it is read whole.
    pub max_body_bytes: usize,
    /// A file to write the bound address to once listening (for `listen` with port 0), as
    /// `server.address_file` does for the gRPC listener.
    pub address_file: Option<std::path::PathBuf>,
}

impl Default for RestConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            // The port of the local examples in Easemob's documentation.
            listen: SocketAddr::from(([127, 0, 0, 1], 8099)),
            max_body_bytes: 1024 * 1024,
            address_file: None,
        }
    }
}

impl RestConfig {
    /// Why the settings cannot be used, if they cannot.
    pub fn check(&self) -> Result<(), String> {
        if self.max_body_bytes < 1024 {
            return Err("rest.max_body_bytes must be at least 1024".into());
        }
        Ok(())
    }
}
