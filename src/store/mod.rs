//! Persistent state behind repository traits, with sled as the embedded implementation.
//!
//! Each record kind has one file here with its records (prost messages) and its repository trait; `sled/`
//! implements every trait on one [`SledStore`]. The rest of the crate sees the traits through [`Store`], never
//! sled, so a clustered backend can be added without touching the services. sled's key layout is its own
//! (`sled/keys.rs`).
//!
//! # The contract every backend keeps
//!
//! - **A write is durable when it returns `Ok`.** No caller flushes: a push accepted, a task created, a
//!   page's checkpoint and its events survive a crash once the call that wrote them returned. sled meets this
//!   with group commit inside `sled/` (concurrent writers share one flush); [`Store::flush`] is for shutdown
//!   only. A write that returns an error changed nothing the caller relies on.
//! - **Decisions that read before they write are one method.** Admitting a task under the app's limits
//!   ([`TaskRepository::admit_task`]), claiming a request id ([`IdempotencyRepository::begin_idempotent`]),
//!   claiming queued pushes ([`PushQueueRepository::claim_queued`]), appending to an inbox
//!   ([`InboxRepository::append`]) and to the event log ([`EventRepository::append_events`]) are atomic in
//!   the store, not behind a lock of the calling process, and each trait says what a backend shared by
//!   several processes must guarantee.
//! - **Cursors are opaque** ([`BindingCursor`], [`QueueKey`]): only the backend that made one reads it.
//!   Positions (events, inbox entries) only increase; they are not contiguous.
//! - The conformance suite (`conformance/`) is the contract in executable form: a backend is done when it
//!   passes it.

mod config;
mod data_dir;
pub use config::{Backend, PostgresConfig, SslMode, StoreConfig};

pub mod apps;
pub mod bindings;
pub mod callback_rules;
#[cfg(test)]
mod conformance;
pub mod copy;
pub mod events;
pub mod idempotency;
pub mod inbox;
pub mod labels;
pub mod leases;
pub mod messages;
pub mod meta;
pub mod notifiers;
pub mod outbox;
pub mod portable;
pub mod postgres;
pub mod push_queue;
pub mod rates;
pub mod replicas;
pub mod routes;
pub mod settings;
mod sled;
pub mod tasks;
pub mod templates;
mod until_available;

use std::sync::Arc;

use async_trait::async_trait;

pub use apps::{AppRecord, AppRepository};
pub use bindings::{BindEffect, BindOutcome, BindingCursor, BindingRecord, BindingRepository};
pub use callback_rules::{CallbackRuleRecord, CallbackRuleRepository};
pub use events::EventRepository;
pub use idempotency::{Begun, IdempotencyRepository, IdempotentAnswer};
pub use inbox::{
    AckCountRecord, AckSubject, Appended, ChannelDeviceRecord, InboxEntry, InboxReceipt,
    InboxRepository,
};
pub use labels::{LabelRecord, LabelRepository, LabelUserRecord, UserLabelRecord};
pub use leases::{Fence, LeaseRecord, LeaseRepository};
pub use messages::MessageRepository;
pub use meta::MetaRepository;
pub use notifiers::{NotifierRecord, NotifierRepository};
pub use outbox::{OutboxRepository, PauseRecord, PendingCallback};
pub use push_queue::{PushQueueRepository, QueueClaim, QueueKey, QueuedPush};
pub use rates::{RateRepository, RateShape, Taken};
pub use replicas::{ReplicaRecord, ReplicaRepository};
pub use routes::{ChannelRoute, RouteRepository};
pub use settings::{
    ChatKind, ConversationKey, DailyInterval, NotificationRecord, PushProfile, UserSettingsRecord,
    UserSettingsRepository,
};
pub use sled::SledStore;
pub use tasks::{
    Admission, PageRecord, TaskChange, TaskLimits, TaskPage, TaskRecord, TaskRepository,
};
pub use templates::{TemplateRecord, TemplateRepository};
pub use until_available::until_available;

/// Why a store operation failed. `Clone`: one failed write may answer several callers (a group commit).
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The database failed (I/O, corruption, a statement it refused).
    #[error("storage failure: {0}")]
    Backend(String),
    /// The database cannot be reached now (connection refused or lost, server restarting, no connection
    /// free in time); the same call may succeed later. Nothing was written.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The database's schema is newer than this binary knows: a newer pushgate migrated it.
    #[error(
        "the database's schema is at version {database}, newer than this binary's {binary}: run a pushgate at least as new as the one that migrated it"
    )]
    SchemaNewer {
        /// The database's version.
        database: i32,
        /// This binary's.
        binary: i32,
    },
    /// A stored value could not be decoded (written by an incompatible version, or corrupt).
    #[error("stored record {key} cannot be decoded: {reason}")]
    Corrupt {
        /// The record's key, lossily printed.
        key: String,
        /// The decode error.
        reason: String,
    },
    /// A record that must be new exists already.
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// The record to change does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// A per-app count limit would be exceeded.
    #[error("at most {limit} {what} per app")]
    LimitReached {
        /// What is counted.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
}

/// Writes what a backend buffers below the durability it promises (sled's page cache); called at shutdown,
/// never needed for durability (every write is durable when it returns).
#[async_trait]
pub trait Flush: Send + Sync {
    /// Writes everything buffered to disk.
    async fn flush(&self) -> Result<(), StoreError>;
}

/// One implementation of every repository, shared by the services.
#[derive(Clone)]
pub struct Store {
    /// Apps.
    pub apps: Arc<dyn AppRepository>,
    /// Callback rules.
    pub callback_rules: Arc<dyn CallbackRuleRepository>,
    /// Push labels and their users.
    pub labels: Arc<dyn LabelRepository>,
    /// Server-wide values.
    pub meta: Arc<dyn MetaRepository>,
    /// Fenced leases of background work.
    pub leases: Arc<dyn LeaseRepository>,
    /// The deployment's replicas.
    pub replicas: Arc<dyn ReplicaRepository>,
    /// Where own-channel streams are open, on a shared store.
    pub routes: Arc<dyn RouteRepository>,
    /// Rate limits the replicas share.
    pub rates: Arc<dyn RateRepository>,
    /// Notifiers (push certificates).
    pub notifiers: Arc<dyn NotifierRepository>,
    /// Device bindings.
    pub bindings: Arc<dyn BindingRepository>,
    /// Users' push settings.
    pub user_settings: Arc<dyn UserSettingsRepository>,
    /// Push templates.
    pub templates: Arc<dyn TemplateRepository>,
    /// Stored push messages.
    pub messages: Arc<dyn MessageRepository>,
    /// Answers of idempotent requests.
    pub idempotency: Arc<dyn IdempotencyRepository>,
    /// Accepted asynchronous pushes.
    pub push_queue: Arc<dyn PushQueueRepository>,
    /// Tasks.
    pub tasks: Arc<dyn TaskRepository>,
    /// Delivery events.
    pub events: Arc<dyn EventRepository>,
    /// The callback outbox: each rule's place in the event log, waiting and failed callbacks, pauses.
    pub outbox: Arc<dyn OutboxRepository>,
    /// The own channel's inboxes, receipts and ack counters.
    pub inbox: Arc<dyn InboxRepository>,
    flush: Arc<dyn Flush>,
    /// Whether other processes may use the store at the same time (see [`Store::is_shared`]).
    shared: bool,
}

/// Opens the store `config` describes: the embedded sled store in its data directory (created when new),
/// or the PostgreSQL database of `[store.postgres]` (its schema brought up to date).
pub async fn open(config: &StoreConfig) -> Result<Store, StoreError> {
    match config.backend {
        Backend::Sled => Store::sled(
            &config.data_dir,
            config.cache_mib.saturating_mul(1024 * 1024),
        ),
        Backend::Postgres => {
            // No database in it, but the key files generated when none is configured go there.
            data_dir::private_dir(&config.data_dir).map_err(|e| {
                StoreError::Backend(format!(
                    "cannot create {} as private: {e}",
                    config.data_dir.display()
                ))
            })?;
            Ok(Store::postgres(
                postgres::PgStore::connect(&config.postgres).await?,
            ))
        }
    }
}

/// A sled store in `dir`, for the unit tests of the services, which run on sled (the repositories' own
/// behaviour is tested on every backend by `conformance/`).
///
/// A test that "restarts" by dropping its store and opening the directory again can find it still locked:
/// sled's background flusher keeps the database for a moment after the last handle is gone, where a real
/// restart (a new process) finds the lock released with the old one. The open waits that out, for at most
/// five seconds.
#[cfg(test)]
pub(crate) fn sled_for_tests(dir: &std::path::Path) -> Store {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match Store::sled(dir, sled::DEFAULT_CACHE_BYTES) {
            Err(StoreError::Backend(e))
                if e.contains("could not acquire lock") && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            opened => return opened.expect("open a sled store"),
        }
    }
}

impl Store {
    /// The store over a connected PostgreSQL database.
    fn postgres(pg: postgres::PgStore) -> Self {
        let pg = Arc::new(pg);
        Self {
            apps: pg.clone(),
            callback_rules: pg.clone(),
            labels: pg.clone(),
            meta: pg.clone(),
            leases: pg.clone(),
            replicas: pg.clone(),
            routes: pg.clone(),
            rates: pg.clone(),
            notifiers: pg.clone(),
            bindings: pg.clone(),
            user_settings: pg.clone(),
            templates: pg.clone(),
            messages: pg.clone(),
            idempotency: pg.clone(),
            push_queue: pg.clone(),
            tasks: pg.clone(),
            events: pg.clone(),
            outbox: pg.clone(),
            inbox: pg.clone(),
            flush: pg,
            shared: true,
        }
    }

    /// The embedded sled store in `dir` with a page cache of at most `cache_bytes`, opened or created.
    fn sled(dir: &std::path::Path, cache_bytes: u64) -> Result<Self, StoreError> {
        let sled = Arc::new(SledStore::open_with_cache(dir, cache_bytes)?);
        Ok(Self {
            apps: sled.clone(),
            callback_rules: sled.clone(),
            labels: sled.clone(),
            meta: sled.clone(),
            leases: sled.clone(),
            replicas: sled.clone(),
            routes: sled.clone(),
            rates: sled.clone(),
            notifiers: sled.clone(),
            bindings: sled.clone(),
            user_settings: sled.clone(),
            templates: sled.clone(),
            messages: sled.clone(),
            idempotency: sled.clone(),
            push_queue: sled.clone(),
            tasks: sled.clone(),
            events: sled.clone(),
            outbox: sled.clone(),
            inbox: sled.clone(),
            flush: sled,
            shared: false,
        })
    }

    /// Whether other processes (replicas) may use this store at the same time: a PostgreSQL database may be
    /// shared, a sled directory is locked by the one process that opened it. On a store that is not shared,
    /// work found claimed by another replica was claimed by an earlier run of this process, which is gone.
    pub fn is_shared(&self) -> bool {
        self.shared
    }

    /// Writes everything buffered to disk; for shutdown.
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.flush.flush().await
    }
}
