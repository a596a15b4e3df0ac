//! The one typed configuration of a pushgate server.
//!
//! Precedence, lowest first: the defaults below, a TOML file (`--config`), then `PUSHGATE_<SECTION>_<KEY>`
//! environment variables (for example `PUSHGATE_SERVER_LISTEN=0.0.0.0:50051`, `PUSHGATE_STORE_DATA_DIR=/data`).
//! Only variables whose section is one of the config's sections are read, so client-side variables such as
//! `PUSHGATE_ENDPOINT` never collide with it; an unknown key inside a known section is an error.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use serde::{Deserialize, Serialize};

// Each section is owned by the module it configures; this file gathers them, loads and checks the whole.
pub use crate::{
    channel::ChannelConfig, devices::DevicesConfig, labels::LabelsConfig,
    notifier::NotifiersConfig, secret::Secret, settings::SettingsConfig, store::StoreConfig,
    tenant::AuthConfig,
};

/// Prefix of the environment variables that override the configuration.
pub const ENV_PREFIX: &str = "PUSHGATE_";

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file named by `--config` could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("config file {path} is not valid TOML: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parse error.
        source: Box<toml::de::Error>,
    },
    /// An environment variable names a key the section does not have, or has a value of the wrong type.
    #[error("environment variable {var}: {reason}")]
    Env {
        /// The variable's name.
        var: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The built-in defaults could not be turned into a table (a bug, reported rather than panicking).
    #[error("built-in defaults do not serialize: {0}")]
    Defaults(String),
    /// The merged configuration does not fit the typed struct (unknown key, wrong type, bad duration...).
    #[error("invalid configuration: {0}")]
    Invalid(Box<toml::de::Error>),
    /// The settings are well formed but cannot work (a section's own rule).
    #[error("invalid configuration: {0}")]
    Unusable(String),
}

/// The whole configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The gRPC listener and its request limits.
    pub server: ServerConfig,
    /// Where state is kept.
    pub store: StoreConfig,
    /// Admin token, token signing and token lifetimes.
    pub auth: AuthConfig,
    /// Logging.
    pub log: LogConfig,
    /// Notifiers (push certificates).
    pub notifiers: NotifiersConfig,
    /// Limits of push labels.
    pub labels: LabelsConfig,
    /// Device bindings.
    pub devices: DevicesConfig,
    /// Limits of users' push settings and push templates.
    pub settings: SettingsConfig,
    /// Vendor dispatch: timeouts, retries, rate limits, circuit breaking, extra trusted CAs.
    pub dispatch: crate::dispatch::DispatchConfig,
    /// The send path: message limits and defaults, waits, idempotency, the async queue.
    pub push: crate::push::PushConfig,
    /// Tasks: limits, fan-out page size, retention.
    pub tasks: crate::tasks::TasksConfig,
    /// Delivery events: retention, stream heartbeats.
    pub events: crate::callback::EventsConfig,
    /// Callback delivery: retries, dead letters, the pause rule.
    pub callbacks: crate::callback::CallbacksConfig,
    /// The own push channel: offline inbox, keepalives, stream buffers.
    pub channel: ChannelConfig,
    /// The admin HTTP port: Prometheus metrics and health.
    pub admin: crate::telemetry::AdminConfig,
    /// OpenTelemetry export of traces and metrics.
    pub telemetry: crate::telemetry::TelemetryConfig,
    /// This replica among the deployment's: its id, internal address, heartbeat and lease.
    pub cluster: crate::cluster::ClusterConfig,
    /// Easemob's push REST API, beside the gRPC one.
    pub rest: crate::rest::RestConfig,
}

/// The gRPC listener and its request limits.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on. Loopback by default, so a first start exposes nothing.
    pub listen: SocketAddr,
    /// Longest time a unary call (or a stream's first response) may take before it is cancelled.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Calls served at once; further calls are refused with RESOURCE_EXHAUSTED instead of queueing.
    pub max_concurrent_requests: usize,
    /// How long in-flight calls may run after SIGINT/SIGTERM before the server stops anyway.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// When set, the server writes the address it is listening on to this file once it accepts calls
    /// (useful with port 0, for scripts and tests).
    pub address_file: Option<PathBuf>,
    /// Serve TLS instead of plain HTTP/2 when set.
    pub tls: Option<TlsConfig>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            request_timeout: Duration::from_secs(30),
            max_concurrent_requests: 1024,
            shutdown_grace: Duration::from_secs(20),
            address_file: None,
            tls: None,
        }
    }
}

/// TLS for the gRPC listener.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain of the server.
    pub cert_file: PathBuf,
    /// PEM private key of the server.
    pub key_file: PathBuf,
    /// When set, clients must present a certificate signed by one of these PEM CAs (mutual TLS).
    pub client_ca_file: Option<PathBuf>,
}

/// Logging.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// A `tracing` filter, e.g. `info` or `pushgate=debug,tower=warn`. `RUST_LOG` wins when set.
    pub filter: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            filter: "info".to_owned(),
        }
    }
}

impl Config {
    /// Loads the configuration from the defaults, an optional TOML file and the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_from(file, std::env::vars())
    }

    /// Loads the configuration from the defaults, an optional TOML file and the given environment.
    pub fn load_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut merged = toml::Table::try_from(Config::default())
            .map_err(|e| ConfigError::Defaults(e.to_string()))?;
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?;
            let table: toml::Table = text.parse().map_err(|source| ConfigError::Parse {
                path: path.to_owned(),
                source: Box::new(source),
            })?;
            merge(&mut merged, table);
        }
        apply_env(&mut merged, env)?;
        let config: Config = toml::Value::Table(merged)
            .try_into()
            .map_err(|e| ConfigError::Invalid(Box::new(e)))?;
        config.check().map_err(ConfigError::Unusable)?;
        Ok(config)
    }

    /// Whether the settings can work together, checked when they are loaded so that a server never starts
    /// half-way on them: each section's own rules.
    pub fn check(&self) -> Result<(), String> {
        self.store.check()?;
        self.dispatch.check()?;
        self.push.check()?;
        self.tasks.check()?;
        self.cluster.check()?;
        self.rest.check()?;
        self.callbacks.check()
    }

    /// The configuration as TOML with every secret replaced by `[redacted]`.
    pub fn to_redacted_toml(&self) -> String {
        let mut shown = self.clone();
        let redact = |s: &mut Option<Secret>| {
            if s.is_some() {
                *s = Some(Secret::new("[redacted]"));
            }
        };
        redact(&mut shown.auth.admin_token);
        redact(&mut shown.auth.signing_key);
        redact(&mut shown.notifiers.credentials_key);
        redact(&mut shown.store.postgres.url);
        toml::to_string_pretty(&shown).unwrap_or_else(|e| format!("# cannot print config: {e}\n"))
    }
}

/// Overlays `top` on `base`, table by table, so a file may set one key of a section and keep the rest.
fn merge(base: &mut toml::Table, top: toml::Table) {
    for (key, value) in top {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(inner)), toml::Value::Table(top_inner)) => {
                merge(inner, top_inner)
            }
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// Keys that hold a table rather than a value, so an environment variable cannot address them directly.
const NESTED_TABLES: &[(&str, &str)] = &[
    ("server", "tls"),
    ("dispatch", "qps"),
    ("store", "postgres"),
];

fn apply_env(
    merged: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<(), ConfigError> {
    let sections: Vec<String> = merged.keys().cloned().collect();
    let mut vars: Vec<(String, String)> = env
        .into_iter()
        .filter(|(name, _)| name.starts_with(ENV_PREFIX))
        .collect();
    // Deterministic order, so two variables addressing the same key resolve the same way every time.
    vars.sort();
    for (var, raw) in vars {
        let rest = var[ENV_PREFIX.len()..].to_ascii_lowercase();
        let Some(section) = sections.iter().find(|s| rest.starts_with(&format!("{s}_"))) else {
            continue;
        };
        let mut key = rest[section.len() + 1..].to_owned();
        let Some(toml::Value::Table(table)) = merged.get_mut(section) else {
            continue;
        };
        let mut target = table;
        for (sec, nested) in NESTED_TABLES {
            if sec == section
                && let Some(inner_key) = key.strip_prefix(&format!("{nested}_"))
            {
                let inner_key = inner_key.to_owned();
                target = target
                    .entry(nested.to_string())
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                    .as_table_mut()
                    .ok_or_else(|| ConfigError::Env {
                        var: var.clone(),
                        reason: format!("{section}.{nested} is not a table"),
                    })?;
                key = inner_key;
                break;
            }
        }
        let value = typed_like(target.get(&key), &raw).map_err(|reason| ConfigError::Env {
            var: var.clone(),
            reason,
        })?;
        target.insert(key, value);
    }
    Ok(())
}

/// Parses an environment value with the type the default (or file) value has; unset keys stay strings and the
/// typed struct decides.
fn typed_like(existing: Option<&toml::Value>, raw: &str) -> Result<toml::Value, String> {
    Ok(match existing {
        Some(toml::Value::Integer(_)) => toml::Value::Integer(
            raw.trim()
                .parse()
                .map_err(|_| format!("expected an integer, got {raw:?}"))?,
        ),
        Some(toml::Value::Boolean(_)) => toml::Value::Boolean(
            raw.trim()
                .parse()
                .map_err(|_| format!("expected true or false, got {raw:?}"))?,
        ),
        Some(toml::Value::Float(_)) => toml::Value::Float(
            raw.trim()
                .parse()
                .map_err(|_| format!("expected a number, got {raw:?}"))?,
        ),
        // A list is written comma-separated (`PUSHGATE_DISPATCH_ALLOWED_ENDPOINTS=a.example.com,10.0.0.0/8`);
        // an empty variable is an empty list.
        Some(toml::Value::Array(_)) => toml::Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(|item| toml::Value::String(item.to_owned()))
                .collect(),
        ),
        _ => toml::Value::String(raw.to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn file(text: &str) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), text).unwrap();
        f
    }

    #[test]
    fn defaults_apply_without_file_or_env() {
        let c = Config::load_from(None, env(&[])).unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.store.data_dir, PathBuf::from("./pushgate-data"));
        assert!(c.server.listen.ip().is_loopback());
    }

    #[test]
    fn file_overrides_defaults_key_by_key() {
        let f = file("[server]\nrequest_timeout = \"5s\"\n[store]\ndata_dir = \"/var/lib/pg\"\n");
        let c = Config::load_from(Some(f.path()), env(&[])).unwrap();
        assert_eq!(c.server.request_timeout, Duration::from_secs(5));
        assert_eq!(c.store.data_dir, PathBuf::from("/var/lib/pg"));
        // Untouched keys of a touched section keep their defaults.
        assert_eq!(c.server.max_concurrent_requests, 1024);
    }

    #[test]
    fn env_overrides_file() {
        let f = file("[server]\nmax_concurrent_requests = 10\nlisten = \"127.0.0.1:1\"\n");
        let c = Config::load_from(
            Some(f.path()),
            env(&[
                ("PUSHGATE_SERVER_MAX_CONCURRENT_REQUESTS", "20"),
                ("PUSHGATE_AUTH_APP_TOKEN_TTL", "2h"),
                ("PUSHGATE_AUTH_ADMIN_TOKEN", "s3cret"),
            ]),
        )
        .unwrap();
        assert_eq!(c.server.max_concurrent_requests, 20);
        assert_eq!(c.server.listen, "127.0.0.1:1".parse().unwrap());
        assert_eq!(c.auth.app_token_ttl, Duration::from_secs(7200));
        assert_eq!(c.auth.admin_token, Some(Secret::new("s3cret")));
    }

    #[test]
    fn a_section_s_own_rules_are_checked_when_loading() {
        let err = Config::load_from(
            None,
            env(&[("PUSHGATE_DISPATCH_MAX_IN_FLIGHT_PER_NOTIFIER", "0")]),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("max_in_flight_per_notifier"),
            "{err}"
        );
    }

    #[test]
    fn env_sets_a_list_comma_separated() {
        let config = Config::load_from(
            None,
            env(&[(
                "PUSHGATE_DISPATCH_ALLOWED_ENDPOINTS",
                " push.example.com:8443, 10.0.0.0/8 ,",
            )]),
        )
        .unwrap();
        let shown: Vec<String> = config
            .dispatch
            .allowed_endpoints
            .entries()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(shown, ["push.example.com:8443", "10.0.0.0/8"]);
        let config =
            Config::load_from(None, env(&[("PUSHGATE_DISPATCH_ALLOWED_ENDPOINTS", "")])).unwrap();
        assert!(config.dispatch.allowed_endpoints.entries().is_empty());
        let err = Config::load_from(
            None,
            env(&[(
                "PUSHGATE_DISPATCH_ALLOWED_ENDPOINTS",
                "http://x.example.com",
            )]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("not a URL"), "{err}");
    }

    #[test]
    fn env_reaches_nested_tls_table() {
        let c = Config::load_from(
            None,
            env(&[
                ("PUSHGATE_SERVER_TLS_CERT_FILE", "/c.pem"),
                ("PUSHGATE_SERVER_TLS_KEY_FILE", "/k.pem"),
            ]),
        )
        .unwrap();
        let tls = c.server.tls.unwrap();
        assert_eq!(tls.cert_file, PathBuf::from("/c.pem"));
        assert_eq!(tls.key_file, PathBuf::from("/k.pem"));
    }

    #[test]
    fn client_side_variables_are_not_config() {
        let c = Config::load_from(
            None,
            env(&[("PUSHGATE_ENDPOINT", "http://x"), ("PUSHGATE_TOKEN", "t")]),
        )
        .unwrap();
        assert_eq!(c, Config::default());
    }

    #[test]
    fn bad_values_are_errors_not_defaults() {
        let err = Config::load_from(
            None,
            env(&[("PUSHGATE_SERVER_MAX_CONCURRENT_REQUESTS", "x")]),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("PUSHGATE_SERVER_MAX_CONCURRENT_REQUESTS")
        );
        let err =
            Config::load_from(None, env(&[("PUSHGATE_SERVER_NO_SUCH_KEY", "1")])).unwrap_err();
        assert!(err.to_string().contains("no_such_key"), "{err}");
        let f = file("[server]\nlisten = 5\n");
        assert!(Config::load_from(Some(f.path()), env(&[])).is_err());
    }

    #[test]
    fn labels_section_defaults_and_overrides() {
        let c = Config::load_from(None, env(&[])).unwrap();
        assert_eq!(c.labels.max_labels_per_app, 100);
        assert_eq!(c.labels.max_users_per_label, 20_000);
        assert_eq!(c.labels.max_users_per_call, 100);
        let f = file("[labels]\nmax_users_per_label = 50\n");
        let c = Config::load_from(
            Some(f.path()),
            env(&[("PUSHGATE_LABELS_MAX_LABELS_PER_APP", "3")]),
        )
        .unwrap();
        assert_eq!(c.labels.max_labels_per_app, 3);
        assert_eq!(c.labels.max_users_per_label, 50);
        assert_eq!(c.labels.max_users_per_call, 100);
        let err = Config::load_from(None, env(&[("PUSHGATE_LABELS_MAX_LABELS", "3")])).unwrap_err();
        assert!(err.to_string().contains("max_labels"), "{err}");
    }

    #[test]
    fn settings_limits_come_from_file_and_env() {
        let f = file("[settings]\nmax_templates_per_app = 3\nmax_ignore_duration = \"1day\"\n");
        let c = Config::load_from(
            Some(f.path()),
            env(&[("PUSHGATE_SETTINGS_MAX_NICKNAMES_PER_CALL", "5")]),
        )
        .unwrap();
        assert_eq!(c.settings.max_templates_per_app, 3);
        assert_eq!(c.settings.max_nicknames_per_call, 5);
        assert_eq!(c.settings.max_ignore_duration, Duration::from_secs(86_400));
        assert_eq!(c.settings.max_nickname_chars, 100);
        assert_eq!(Config::default().settings.max_templates_per_app, 100);
    }

    #[test]
    fn channel_section_defaults_and_overrides() {
        let c = Config::load_from(None, env(&[])).unwrap();
        assert_eq!(
            c.channel.inbox_retention,
            Duration::from_secs(7 * 24 * 3600)
        );
        assert_eq!(c.channel.keepalive_interval, Duration::from_secs(30));
        assert_eq!(c.channel.max_inbox_per_device, 1000);
        let f = file("[channel]\ninbox_retention = \"2days\"\nstream_buffer = 8\n");
        let c = Config::load_from(
            Some(f.path()),
            env(&[("PUSHGATE_CHANNEL_KEEPALIVE_INTERVAL", "250ms")]),
        )
        .unwrap();
        assert_eq!(c.channel.inbox_retention, Duration::from_secs(2 * 86_400));
        assert_eq!(c.channel.stream_buffer, 8);
        assert_eq!(c.channel.keepalive_interval, Duration::from_millis(250));
        assert_eq!(c.channel.sweep_interval, Duration::from_secs(60));
    }

    #[test]
    fn redacted_print_hides_secrets() {
        let mut c = Config::default();
        c.auth.admin_token = Some(Secret::new("topsecret"));
        c.auth.signing_key = Some(Secret::new("another-secret"));
        c.notifiers.credentials_key = Some(Secret::new("third-secret"));
        let shown = c.to_redacted_toml();
        for secret in ["topsecret", "another-secret", "third-secret"] {
            assert!(!shown.contains(secret), "{secret} printed");
        }
        assert!(shown.contains("[redacted]"));
        assert_eq!(format!("{:?}", c.auth.admin_token), "Some([redacted])");
    }
}
