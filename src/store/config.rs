//! The `[store]` section of the configuration.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Where state is kept.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// Directory of the embedded sled database and of generated key files.
    pub data_dir: PathBuf,
    /// Most memory sled's page cache may hold, in MiB.
    pub cache_mib: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./pushgate-data"),
            // Small on purpose: the OS page cache holds the hot file pages anyway, and in the million-device
            // broadcast benchmark 16 MiB was both faster and 40 MiB leaner than 64 MiB.
            cache_mib: 16,
        }
    }
}

impl StoreConfig {
    /// The defaults, with the data in `dir`.
    pub fn in_dir(dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: dir.into(),
            ..Self::default()
        }
    }
}
