//! The `[store]` section of the configuration, with `[store.postgres]`.

use std::{path::PathBuf, time::Duration};

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// Which storage backend holds the state.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// The embedded sled database in `data_dir`: one process, nothing to install.
    #[default]
    Sled,
    /// A PostgreSQL database (`[store.postgres]`), which several processes can share.
    Postgres,
}

/// Where state is kept.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// The backend.
    pub backend: Backend,
    /// Directory of the embedded sled database and of generated key files.
    pub data_dir: PathBuf,
    /// Most memory sled's page cache may hold, in MiB.
    pub cache_mib: u64,
    /// The PostgreSQL backend's settings.
    pub postgres: PostgresConfig,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            backend: Backend::Sled,
            data_dir: PathBuf::from("./pushgate-data"),
            // Small on purpose: the OS page cache holds the hot file pages anyway, and in the million-device
            // broadcast benchmark 16 MiB was both faster and 40 MiB leaner than 64 MiB.
            cache_mib: 16,
            postgres: PostgresConfig::default(),
        }
    }
}

/// How the connection to PostgreSQL is secured.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum SslMode {
    /// Plain TCP (a database on the same host or inside a mesh that encrypts).
    #[default]
    Disable,
    /// TLS, with the server's certificate verified against `ca_file` (or the system's roots when unset)
    /// and its name against the URL's host, as libpq's `sslmode=verify-full`.
    VerifyFull,
}

/// The `[store.postgres]` section.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PostgresConfig {
    /// `postgres://user:password@host:port/database` (or `PUSHGATE_STORE_POSTGRES_URL`); a secret, as it
    /// usually carries the password: never printed nor logged.
    pub url: Option<Secret>,
    /// Most connections the server keeps open.
    pub pool_size: usize,
    /// Longest wait for a connection to be made (or taken from a full pool).
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Longest a statement may run before the database cancels it.
    #[serde(with = "humantime_serde")]
    pub statement_timeout: Duration,
    /// TLS to the database.
    pub ssl_mode: SslMode,
    /// PEM file of the CA that signed the database's certificate (`ssl_mode = "verify-full"`).
    pub ca_file: Option<PathBuf>,
}

impl Default for PostgresConfig {
    fn default() -> Self {
        Self {
            url: None,
            pool_size: 16,
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
            ssl_mode: SslMode::Disable,
            ca_file: None,
        }
    }
}

impl StoreConfig {
    /// Whether the settings can work: a PostgreSQL backend needs a URL and a pool.
    pub fn check(&self) -> Result<(), String> {
        if self.backend != Backend::Postgres {
            return Ok(());
        }
        let pg = &self.postgres;
        if pg.url.as_ref().is_none_or(|u| u.expose().is_empty()) {
            return Err(
                "store.backend = \"postgres\" needs store.postgres.url (or PUSHGATE_STORE_POSTGRES_URL)"
                    .into(),
            );
        }
        if pg.pool_size == 0 {
            return Err("store.postgres.pool_size must be at least 1".into());
        }
        if pg.connect_timeout.is_zero() || pg.statement_timeout.is_zero() {
            return Err(
                "store.postgres.connect_timeout and statement_timeout must be longer than 0".into(),
            );
        }
        if pg.ca_file.is_some() && pg.ssl_mode == SslMode::Disable {
            return Err(
                "store.postgres.ca_file is set but ssl_mode is \"disable\": set ssl_mode = \"verify-full\""
                    .into(),
            );
        }
        Ok(())
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
