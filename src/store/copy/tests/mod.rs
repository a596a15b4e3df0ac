//! `store::copy` end to end, from a sled store to a throwaway PostgreSQL database: what each backend answers
//! through the repositories is the same after a copy (and after an interrupted one resumed), and a copy
//! refuses what it cannot do right.
//!
//! Here: what the tests share (the apps, the stores on either side, the target). `populate.rs` fills a store
//! with some of every kind through its repositories, `view.rs` reads everything back as text to compare;
//! `faithful.rs` copies and compares, whole and interrupted, `refused.rs` has what a copy refuses, and
//! `stalled.rs` a database that stops answering.

mod faithful;
mod populate;
mod refused;
mod stalled;
mod view;

use std::sync::Arc;

use populate::populate;
use view::view;

use crate::store::{
    Backend, PostgresConfig, SledStore, Store, StoreConfig, TaskLimits,
    copy::{CopyError, CopyOptions, CopyReport, copy},
    postgres::CopyTarget,
};

pub(super) const APPS: [&str; 2] = ["o#a", "o#b"];

/// A time far ahead (ms), for what must not expire during a test.
pub(super) const FAR: i64 = 9_000_000_000_000;

pub(super) const ROOMY: TaskLimits = TaskLimits {
    now_ms: 0,
    window_ms: 0,
    max_broadcasts: usize::MAX,
    max_running: usize::MAX,
};

pub(super) fn user(n: usize) -> String {
    format!("u{n:03}")
}

/// Fails with the first line where `copied` and `source` differ (the views are long).
pub(super) fn assert_same(copied: &[String], source: &[String]) {
    for (i, (c, s)) in copied.iter().zip(source).enumerate() {
        assert_eq!(c, s, "line {i} of the view differs");
    }
    assert_eq!(copied.len(), source.len());
}

/// The stopped server's view of a sled store, which [`view`] then reads through the repositories.
pub(super) fn sled_store(dir: &std::path::Path) -> Store {
    crate::store::sled_for_tests(dir)
}

pub(super) async fn postgres_store(url: &str) -> Store {
    let mut config = StoreConfig {
        backend: Backend::Postgres,
        ..StoreConfig::default()
    };
    config.postgres.url = Some(crate::secret::Secret::new(url));
    crate::store::open(&config).await.expect("open PostgreSQL")
}

pub(super) fn pg_config(url: &str) -> PostgresConfig {
    PostgresConfig {
        url: Some(crate::secret::Secret::new(url)),
        ..PostgresConfig::default()
    }
}

pub(super) async fn target(url: &str) -> CopyTarget {
    CopyTarget::connect(&pg_config(url)).await.expect("connect")
}

/// A sled store in a new directory, populated and closed again.
pub(super) async fn populated(users: usize) -> (tempfile::TempDir, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let store = sled_store(dir.path());
    populate(&store, users).await;
    let before = view(&store, users).await;
    store.flush().await.unwrap();
    drop(store);
    (dir, before)
}

pub(super) fn source_name(dir: &tempfile::TempDir) -> String {
    dir.path().display().to_string()
}

pub(super) fn open_source(dir: &tempfile::TempDir) -> Arc<SledStore> {
    Arc::new(waiting_for_the_lock(|| SledStore::open_to_copy(dir.path())).expect("open the source"))
}

/// `open` tried again (for at most five seconds) while the directory is still locked by a store this test
/// dropped a moment ago: sled's background flusher keeps the lock for a moment after the last handle goes,
/// where a stopped server's process has released it (see `store::sled_for_tests`).
pub(super) fn waiting_for_the_lock<T, E: std::fmt::Display>(
    mut open: impl FnMut() -> Result<T, E>,
) -> Result<T, E> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match open() {
            Err(e)
                if (e.to_string().contains("could not acquire lock")
                    || e.to_string().contains("in use by another process"))
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            opened => return opened,
        }
    }
}

/// The default options, or those of `--restart`.
pub(super) fn starting_over(restart: bool) -> CopyOptions {
    CopyOptions {
        restart,
        ..CopyOptions::default()
    }
}

/// Copies the sled store in `dir` into `to` with `options`, showing nothing.
pub(super) async fn copy_dir(
    dir: &tempfile::TempDir,
    to: &mut CopyTarget,
    options: &CopyOptions,
) -> Result<CopyReport, CopyError> {
    copy(open_source(dir), &source_name(dir), to, options, &mut ()).await
}
