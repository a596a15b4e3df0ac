//! The PostgreSQL implementation of the repositories, for state that several pushgate processes share.
//!
//! The client is tokio-postgres with a deadpool-postgres pool, not sqlx: the statements are plain SQL
//! strings that the conformance suite runs against a real server, so sqlx's compile-time checked queries
//! (which need a database or a prepared offline cache at build time) would buy little and cost every build;
//! tokio-postgres is the maintained driver underneath most of the ecosystem, pipelines statements on one
//! connection and speaks binary `COPY`.
//!
//! Records are stored as the same prost messages sled stores (`record bytea`), beside the columns that
//! queries select, order and limit by; every table's key starts with the app, as sled's keys do. The
//! schema comes from the versioned migrations in `migrations/` (`migrations.rs`), applied at start under
//! an advisory lock. Every write is one transaction that has committed when the method returns `Ok`.

mod apps;
mod bindings;
mod callback_rules;
mod events;
mod group_append;
mod idempotency;
mod import;
mod inbox;
mod labels;
mod leases;
mod messages;
mod meta;
mod migrations;
mod notifiers;
mod numbers;
mod outbox;
mod push_queue;
mod rates;
mod replicas;
mod routes;
mod server_binaries;
mod settings;
mod sql;
mod tasks;
mod templates;
pub mod throwaway;
mod tls;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};

use super::{
    StoreError,
    config::{PostgresConfig, SslMode},
};

pub use import::{CopyTarget, KindProgress};
pub use migrations::{LATEST_VERSION, Migrated, migrate};

/// The client settings `config` describes: its URL, with pushgate's timeouts and TLS mode over it.
fn client_config(config: &PostgresConfig) -> Result<tokio_postgres::Config, StoreError> {
    let url = config
        .url
        .as_ref()
        .ok_or_else(|| StoreError::Backend("store.postgres.url is not set".into()))?;
    let mut pg: tokio_postgres::Config = url.expose().parse().map_err(|e| {
        // The URL is a secret: the parser's message names the part, never the text.
        StoreError::Backend(format!("store.postgres.url cannot be read: {e}"))
    })?;
    pg.connect_timeout(config.connect_timeout);
    pg.options(format!(
        "-c statement_timeout={}",
        config.statement_timeout.as_millis()
    ));
    pg.application_name("pushgate");
    // The TLS setting is pushgate's own (`ssl_mode`), not the URL's: TLS is required when it is on, and
    // never attempted when it is off.
    pg.ssl_mode(match config.ssl_mode {
        SslMode::Disable => tokio_postgres::config::SslMode::Disable,
        SslMode::VerifyFull => tokio_postgres::config::SslMode::Require,
    });
    Ok(pg)
}

/// One client of its own (outside any pool) to the database `config` names; its connection ends when it is
/// dropped.
///
/// The driver's `connect_timeout` bounds the socket's connection only: the TLS handshake, startup and
/// authentication after it wait as long as the server lets them, so a server that takes the connection and
/// never answers (a wrong port) would hold the caller for ever. The whole connection is bounded here, as
/// the pool's `create_timeout` bounds it for [`PgStore`].
async fn connect_one(config: &PostgresConfig) -> Result<tokio_postgres::Client, StoreError> {
    let pg = client_config(config)?;
    let tls = tls::connector(config)?;
    let connected = tokio::time::timeout(config.connect_timeout, async {
        Ok::<_, tokio_postgres::Error>(match tls {
            Some(tls) => {
                let (client, connection) = pg.connect(tls).await?;
                tokio::spawn(connection);
                client
            }
            None => {
                let (client, connection) = pg.connect(tokio_postgres::NoTls).await?;
                tokio::spawn(connection);
                client
            }
        })
    })
    .await
    .map_err(|_| {
        StoreError::Unavailable(format!(
            "no answer from the database within {} ms (store.postgres.connect_timeout)",
            config.connect_timeout.as_millis()
        ))
    })?;
    Ok(connected?)
}

/// Connects one client to the database `config` names and brings its schema up to date: what `pushgate
/// migrate` runs, apart from a server.
pub async fn migrate_database(config: &PostgresConfig) -> Result<Migrated, StoreError> {
    let mut client = connect_one(config).await?;
    migrate(&mut client).await
}

/// The PostgreSQL store; every repository trait is implemented on it.
pub struct PgStore {
    pool: Pool,
    /// Event appends of one app committed together (`group_append.rs`).
    appends: std::sync::Arc<group_append::GroupAppend>,
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        match e.as_db_error() {
            // No answer from the server: the connection failed, closed or timed out. The database is away,
            // which a caller may retry.
            None if connection_trouble(&e) => StoreError::Unavailable(e.to_string()),
            // A client-side failure (a parameter that does not serialize, an unexpected column type): a
            // defect, not worth retrying.
            None => StoreError::Backend(e.to_string()),
            // Class 08: connection exceptions; 57P: the server shutting down or restarting; 53: out of
            // connections or memory.
            Some(db)
                if ["08", "57P", "53"]
                    .iter()
                    .any(|class| db.code().code().starts_with(class)) =>
            {
                StoreError::Unavailable(db.message().to_owned())
            }
            Some(db) => StoreError::Backend(format!("{} ({})", db.message(), db.code().code())),
        }
    }
}

/// Whether `e`, which carries no answer of the server, is the connection failing rather than the client.
fn connection_trouble(e: &tokio_postgres::Error) -> bool {
    let io = std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>());
    let text = e.to_string();
    e.is_closed() || io || text.starts_with("error connecting") || text.contains("timed out")
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(e) => e.into(),
            // No connection could be had in time: the database is away or saturated.
            other => StoreError::Unavailable(other.to_string()),
        }
    }
}

impl PgStore {
    /// Connects to the database `config` names, checks that it answers, and brings its schema up to date
    /// (or fails when the database's schema is newer than this binary).
    pub async fn connect(config: &PostgresConfig) -> Result<Self, StoreError> {
        let pg = client_config(config)?;
        let manager_config = ManagerConfig {
            // A pooled connection is handed out again only while it is open. A database that stops closes
            // every connection (the connection task ends), so after it returns the pool connects afresh;
            // checking each with a round trip would cost one per call for a case that answers the same.
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = match tls::connector(config)? {
            Some(tls) => Manager::from_config(pg, tls, manager_config),
            None => Manager::from_config(pg, tokio_postgres::NoTls, manager_config),
        };
        let pool = Pool::builder(manager)
            .max_size(config.pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(config.connect_timeout))
            .create_timeout(Some(config.connect_timeout))
            .recycle_timeout(Some(config.connect_timeout))
            .build()
            .map_err(|e| StoreError::Backend(format!("cannot build the connection pool: {e}")))?;
        let store = Self {
            pool,
            appends: Default::default(),
        };
        let mut client = store.client().await?;
        migrate(&mut client).await?;
        Ok(store)
    }

    /// A pooled connection.
    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        Ok(self.pool.get().await?)
    }
}

#[async_trait::async_trait]
impl super::Flush for PgStore {
    /// Nothing is buffered in this process: every write has committed when it returned.
    async fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
