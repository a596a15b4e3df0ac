//! The store's conformance suite: what every backend must do, checked through [`Store`]'s repository traits.
//!
//! The suite is the contract. Each test goes through `store.apps`, `store.bindings`, … only, never a backend's
//! own type, so it holds for any implementation of the traits; a backend is done when it passes the whole suite.
//! What only one backend can check (sled's key layout, its chunked event log, its trees' contents, its flush)
//! stays next to that backend's code, in `store/sled/`.
//!
//! One file per repository. A test is a plain `async fn name(s: Store)`, where `s` is a store of its own, fresh
//! and empty, that lives until the test ends; [`conformance_tests!`] at the end of the file names it:
//!
//! ```ignore
//! /// What the test shows.
//! async fn apps_are_listed_in_name_order(s: Store) {
//!     s.apps.create_app(app("o#b")).await.unwrap();
//!     …
//! }
//!
//! conformance_tests! {
//!     apps_are_listed_in_name_order,
//!     #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
//!     apps_survive_concurrent_writes,
//! }
//! ```
//!
//! Each name becomes a module with one `#[tokio::test]` per backend, so a failure names both:
//! `store::conformance::apps::apps_are_listed_in_name_order::sled`. A test that needs other runtime settings
//! puts the `#[tokio::test(…)]` it needs before its name. A test function left out of the list is dead code,
//! which the lints refuse.
//!
//! # Adding a backend
//!
//! 1. Write an `async fn` here that returns an [`Opened`]: a fresh, empty [`Store`] of the backend and whatever
//!    must live as long as it (a temporary directory, a database schema dropped on drop, …).
//! 2. Add one line `name => opener,` to the backend list in [`conformance_tests!`] (the only list). A backend
//!    that needs an outside service starts it itself (PostgreSQL: a throwaway server per test process, a
//!    database per test); it must not skip itself when the service cannot be had, since a test that passes
//!    without running proves nothing.
//!
//! Tests must not depend on one another or on order: each gets its own store, and runs may be parallel.
//!
//! When a test fails for a new backend, the fix belongs in the backend, unless the test asserts more than the
//! trait's docs promise: then the docs and the test change together, never the test alone.
//!
//! Not checked here: that a write survives a crash once it returned (`store`'s first promise), which needs a
//! process that dies; and the races the traits rule out are only provoked (concurrent writers, claimers,
//! admissions), which catches a missing guard often but cannot prove one is there.

use std::any::Any;

use super::{Store, StoreConfig};

/// A freshly opened store and what must outlive it.
pub struct Opened {
    /// The store under test.
    pub store: Store,
    /// Dropped after the test: the backend's temporary state (sled's directory).
    _keep: Box<dyn Any + Send>,
}

/// sled in a temporary directory, through [`super::open`] as the server opens it.
pub async fn sled_store() -> Opened {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = super::open(&StoreConfig::in_dir(dir.path()))
        .await
        .expect("open the sled store");
    Opened {
        store,
        _keep: Box::new(dir),
    }
}

/// A fresh database on this test process's throwaway PostgreSQL server (started on first use, under the
/// target directory; see `postgres::throwaway`), or on the server `PUSHGATE_TEST_POSTGRES_URL` names,
/// through [`super::open`] as the server opens it. No server to be had fails the test: it never skips.
pub async fn postgres_store() -> Opened {
    let url = postgres_database().await;
    let mut config = StoreConfig {
        backend: super::Backend::Postgres,
        ..StoreConfig::default()
    };
    config.postgres.url = Some(crate::secret::Secret::new(url));
    config.postgres.pool_size = 8;
    let store = super::open(&config)
        .await
        .expect("open the PostgreSQL store");
    Opened {
        store,
        _keep: Box::new(()),
    }
}

/// The URL of a fresh, empty database for one test, where [`postgres_store`] makes its own; for the tests of
/// the PostgreSQL backend itself that need the database beside the store.
pub async fn postgres_database() -> String {
    let database = format!("conformance_{}", uuid::Uuid::new_v4().simple());
    match std::env::var("PUSHGATE_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => {
            super::postgres::throwaway::create_database_at(&url, &database)
                .await
                .expect("create a database on PUSHGATE_TEST_POSTGRES_URL")
        }
        _ => {
            let server = super::postgres::throwaway::Throwaway::shared(&test_root())
                .expect("start a throwaway PostgreSQL server");
            server
                .create_database(&database)
                .await
                .expect("create a database")
        }
    }
}

/// `<target>/<profile>/pushgate-postgres`: the test binary runs from `<target>/<profile>/deps`.
fn test_root() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.parent()
        .and_then(|deps| deps.parent())
        .map(|profile| profile.join("pushgate-postgres"))
        .unwrap_or_else(|| std::env::temp_dir().join("pushgate-postgres"))
}

/// Runs each named test once against every backend (see the module docs).
macro_rules! conformance_tests {
    ($($(#[$test:meta])? $name:ident),+ $(,)?) => {
        $(conformance_tests!(@one [$($test)?] $name);)+
    };
    (@one [] $name:ident) => {
        conformance_tests!(@one [tokio::test] $name);
    };
    (@one [$test:meta] $name:ident) => {
        conformance_tests! {
            @expand [$test] $name
            // The backends, one line each: `test name => opener,`.
            sled => $crate::store::conformance::sled_store,
            postgres => $crate::store::conformance::postgres_store,
        }
    };
    (@expand [$test:meta] $name:ident $($(#[$cfg:meta])* $backend:ident => $open:path,)+) => {
        mod $name {
            $(
                $(#[$cfg])*
                #[$test]
                async fn $backend() {
                    let opened = $open().await;
                    super::$name(opened.store.clone()).await;
                }
            )+
        }
    };
}

mod apps;
mod bindings;
mod callback_rules;
mod events;
mod idempotency;
mod inbox;
mod labels;
mod leases;
mod messages;
mod meta;
mod notifiers;
mod outbox;
mod push_queue;
mod rates;
mod replicas;
mod routes;
mod settings;
mod tasks;
mod templates;
