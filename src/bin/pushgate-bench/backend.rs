//! The store a measured server runs on: sled in its data directory, or a database on a throwaway
//! PostgreSQL server this run starts and removes (`--backend postgres`). The PostgreSQL server syncs its
//! writes to disk as sled's are, so the two are compared at the same durability.

use std::path::Path;

use anyhow::{Context, Result, anyhow};
use pushgate::{
    secret::Secret,
    store::{Backend as StoreBackend, StoreConfig, postgres::throwaway::Throwaway},
};

/// The `--backend` option.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendArg {
    /// The embedded sled store (the default).
    Sled,
    /// A throwaway PostgreSQL server on this machine, started for the run.
    Postgres,
}

/// The store of one run.
pub struct RunStore {
    /// The PostgreSQL server, stopped and removed when the run ends.
    _server: Option<Throwaway>,
    /// The database's URL.
    url: Option<String>,
}

impl RunStore {
    /// Sets up the store `backend` asks for; a PostgreSQL server gets its files beside the bench binary's
    /// target directory (or in the temporary directory when its user cannot reach that).
    pub async fn start(backend: BackendArg) -> Result<Self> {
        if backend == BackendArg::Sled {
            return Ok(Self {
                _server: None,
                url: None,
            });
        }
        let root = std::env::current_exe()?
            .parent()
            .map(|dir| dir.join("pushgate-postgres"))
            .ok_or_else(|| anyhow!("the bench binary has no directory"))?;
        let server = tokio::task::spawn_blocking(move || Throwaway::start(&root, true))
            .await?
            .context("start a PostgreSQL server")?;
        let url = server
            .create_database("bench")
            .await
            .context("create the bench database")?;
        Ok(Self {
            _server: Some(server),
            url: Some(url),
        })
    }

    /// The backend's name, for the report.
    pub fn name(&self) -> &'static str {
        if self.url.is_some() {
            "postgres"
        } else {
            "sled"
        }
    }

    /// The `PUSHGATE_*` settings that put a server on this store.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        match &self.url {
            None => Vec::new(),
            Some(url) => vec![
                ("PUSHGATE_STORE_BACKEND", "postgres".into()),
                ("PUSHGATE_STORE_POSTGRES_URL", url.clone()),
            ],
        }
    }

    /// The configuration to open this store from the bench process (seeding while no server runs).
    pub fn config(&self, dir: &Path) -> StoreConfig {
        let mut config = StoreConfig::in_dir(dir);
        if let Some(url) = &self.url {
            config.backend = StoreBackend::Postgres;
            config.postgres.url = Some(Secret::new(url.clone()));
        }
        config
    }
}
