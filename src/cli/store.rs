//! `pushgate migrate`: the store's schema brought up to date without starting a server (a server does the
//! same at start; operators who apply schema changes in their own deploy step run this first).

use std::path::PathBuf;

use anyhow::{Result, bail};
use pushgate::{
    config::Config,
    store::{Backend, postgres},
};

/// Applies the PostgreSQL schema's pending migrations and says what it did.
pub async fn migrate(config: Option<PathBuf>) -> Result<()> {
    let config = Config::load(config.as_deref())?;
    if config.store.backend != Backend::Postgres {
        bail!(
            "store.backend is \"sled\", whose layout has no migrations; migrate applies to \
             store.backend = \"postgres\" (with store.postgres.url)"
        );
    }
    let migrated = postgres::migrate_database(&config.store.postgres).await?;
    match migrated.applied.last() {
        None => println!("schema at version {}: up to date", migrated.from),
        Some(to) => println!(
            "schema migrated from version {} to {to} (applied {})",
            migrated.from,
            migrated
                .applied
                .iter()
                .map(i32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
    Ok(())
}
