//! The `[settings]` section of the configuration: limits of users' push settings and templates.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Limits of users' push settings and push templates. Breaking one is INVALID_ARGUMENT, except the number of
/// templates, which is RESOURCE_EXHAUSTED.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SettingsConfig {
    /// Most push templates an app may have.
    pub max_templates_per_app: usize,
    /// Most entries of one `BatchSetPushNicknames` call.
    pub max_nicknames_per_call: usize,
    /// Longest push nickname, in characters.
    pub max_nickname_chars: usize,
    /// Longest template title or body pattern, in characters.
    pub max_pattern_chars: usize,
    /// Longest do-not-disturb duration a user may set.
    #[serde(with = "humantime_serde")]
    pub max_ignore_duration: Duration,
}

impl Default for SettingsConfig {
    fn default() -> Self {
        // Easemob's limits.
        Self {
            max_templates_per_app: 100,
            max_nicknames_per_call: 50,
            max_nickname_chars: 100,
            max_pattern_chars: 1024,
            max_ignore_duration: Duration::from_secs(7 * 24 * 3600),
        }
    }
}
