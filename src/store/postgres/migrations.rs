//! The schema's versioned migrations, embedded in the binary and applied in order at start (and by
//! `pushgate migrate`). A session-level advisory lock makes processes that start at once apply each
//! migration once: the first takes the lock and migrates, the others wait for it and find nothing left to
//! do. `pushgate_schema` records each version applied; a database whose schema is newer than this binary
//! knows is refused, as this binary would misread it.

use tokio_postgres::Client;

use crate::store::StoreError;

/// The migrations, in order: (version, name, SQL). A migration is never edited once released; a change
/// is a new one.
const MIGRATIONS: &[(i32, &str, &str)] = &[
    (1, "core", include_str!("migrations/0001_core.sql")),
    (
        2,
        "bindings_labels_tasks",
        include_str!("migrations/0002_bindings_labels_tasks.sql"),
    ),
    (
        3,
        "events_outbox_inbox",
        include_str!("migrations/0003_events_outbox_inbox.sql"),
    ),
    (
        4,
        "copy_progress",
        include_str!("migrations/0004_copy_progress.sql"),
    ),
    (5, "replicas", include_str!("migrations/0005_replicas.sql")),
    (6, "leases", include_str!("migrations/0006_leases.sql")),
    (
        7,
        "channel_routes",
        include_str!("migrations/0007_channel_routes.sql"),
    ),
    (
        8,
        "rate_limits",
        include_str!("migrations/0008_rate_limits.sql"),
    ),
];

/// The schema version this binary writes and reads.
pub const LATEST_VERSION: i32 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// Key of the advisory lock migrations hold (any constant shared by every pushgate binary).
const LOCK_KEY: i64 = 0x7075_7368_6761_7465; // "pushgate"

/// What [`migrate`] found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrated {
    /// The schema version before.
    pub from: i32,
    /// The versions applied now, in order.
    pub applied: Vec<i32>,
}

/// Brings the database's schema up to [`LATEST_VERSION`].
pub async fn migrate(client: &mut Client) -> Result<Migrated, StoreError> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&LOCK_KEY])
        .await?;
    let result = migrate_locked(client).await;
    // Released whatever happened; a connection that broke has lost the lock with its session anyway.
    let _ = client
        .execute("SELECT pg_advisory_unlock($1)", &[&LOCK_KEY])
        .await;
    result
}

/// The version the database's schema is at, without changing anything: `None` when pushgate never migrated
/// it (there is no `pushgate_schema`), refused when newer than this binary knows.
pub(super) async fn known_schema_version(client: &Client) -> Result<Option<i32>, StoreError> {
    let versioned: bool = client
        .query_one("SELECT to_regclass('pushgate_schema') IS NOT NULL", &[])
        .await?
        .get(0);
    if !versioned {
        return Ok(None);
    }
    Ok(Some(applied_version(client).await?))
}

/// The highest version `pushgate_schema` records (0 when none), refused when newer than this binary knows:
/// it would misread the database.
async fn applied_version(client: &Client) -> Result<i32, StoreError> {
    let version: i32 = client
        .query_one("SELECT coalesce(max(version), 0) FROM pushgate_schema", &[])
        .await?
        .get(0);
    if version > LATEST_VERSION {
        return Err(StoreError::SchemaNewer {
            database: version,
            binary: LATEST_VERSION,
        });
    }
    Ok(version)
}

async fn migrate_locked(client: &mut Client) -> Result<Migrated, StoreError> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS pushgate_schema (
                 version integer PRIMARY KEY,
                 name text NOT NULL,
                 applied_at timestamptz NOT NULL DEFAULT now()
             )",
        )
        .await?;
    let from = applied_version(client).await?;
    let mut applied = Vec::new();
    for (version, name, sql) in MIGRATIONS.iter().filter(|(v, _, _)| *v > from) {
        let tx = client.transaction().await?;
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO pushgate_schema (version, name) VALUES ($1, $2)",
            &[version, name],
        )
        .await?;
        tx.commit().await?;
        tracing::info!(version, name, "applied a schema migration");
        applied.push(*version);
    }
    Ok(Migrated { from, applied })
}
