//! The `[notifiers]` section of the configuration.

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// Notifiers (push certificates).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct NotifiersConfig {
    /// Most notifiers one app may have.
    pub max_per_app: usize,
    /// Key that encrypts notifier credentials at rest. When unset, a random key is generated once into
    /// `<data_dir>/credentials.key` (mode 0600). Losing or changing it makes stored credentials unreadable.
    pub credentials_key: Option<Secret>,
}

impl Default for NotifiersConfig {
    fn default() -> Self {
        Self {
            max_per_app: 100,
            credentials_key: None,
        }
    }
}
