//! The embedded sled implementation of the repositories: one tree per record kind, one file per repository.

mod apps;
mod bindings;
mod callback_rules;
mod events;
mod export;
mod group_flush;
mod idempotency;
mod inbox;
mod inbox_acks;
#[cfg(test)]
mod inbox_tests;
pub(crate) mod keys;
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
#[cfg(test)]
mod test_support;

use std::path::Path;

use async_trait::async_trait;
use prost::Message;

use self::group_flush::GroupFlush;
use super::{Flush, StoreError};

/// sled-backed store; every repository trait is implemented on it.
pub struct SledStore {
    db: sled::Db,
    /// Serialises writes that check a count limit before inserting, so the limit cannot be raced past; such
    /// writes are rare admin calls.
    limited_writes: std::sync::Mutex<()>,
    /// Serialise the writes to one device's inbox (striped by device): an append reads the device's count
    /// and oldest entries, which a sled transaction cannot scan, before it writes.
    inbox_locks: Box<[std::sync::Mutex<()>]>,
    /// One event append at a time between taking positions and writing them (see `events.rs`).
    event_appends: std::sync::Mutex<()>,
    /// Concurrent flushes share one (group commit).
    flushes: GroupFlush,
}

/// Stripes of [`SledStore::inbox_locks`]: enough that unrelated devices rarely wait for each other.
const INBOX_LOCK_STRIPES: usize = 64;

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Backend(e.to_string())
    }
}

/// A failed transaction as a store error: an abort carries the error that caused it.
impl From<sled::transaction::TransactionError<StoreError>> for StoreError {
    fn from(e: sled::transaction::TransactionError<StoreError>) -> Self {
        match e {
            sled::transaction::TransactionError::Abort(e) => e,
            sled::transaction::TransactionError::Storage(e) => e.into(),
        }
    }
}

/// Decodes a record inside a transaction, aborting the transaction when it is corrupt.
fn tx_decode<M: Message + Default>(
    key: &[u8],
    bytes: &[u8],
) -> Result<M, sled::transaction::ConflictableTransactionError<StoreError>> {
    decode(key, bytes).map_err(sled::transaction::ConflictableTransactionError::Abort)
}

/// Decodes a stored record, naming its key when it cannot be decoded.
fn decode<M: Message + Default>(key: &[u8], bytes: &[u8]) -> Result<M, StoreError> {
    M::decode(bytes).map_err(|e| StoreError::Corrupt {
        key: String::from_utf8_lossy(key).replace('\0', "/"),
        reason: e.to_string(),
    })
}

/// sled's page cache when none is configured: sled's own default (1 GiB) would let a broadcast over a large
/// store grow the server far past its memory target.
pub const DEFAULT_CACHE_BYTES: u64 = 16 * 1024 * 1024;

impl SledStore {
    /// Opens (or creates) the database in `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Self::open_with_cache(dir, DEFAULT_CACHE_BYTES)
    }

    /// Opens (or creates) the database in `dir` with a page cache of at most `cache_bytes`.
    pub fn open_with_cache(dir: &Path, cache_bytes: u64) -> Result<Self, StoreError> {
        super::data_dir::private_dir(dir).map_err(|e| {
            StoreError::Backend(format!("cannot create {} as private: {e}", dir.display()))
        })?;
        let db = sled::Config::new()
            .path(dir.join("db"))
            .cache_capacity(cache_bytes)
            .open()?;
        Ok(Self {
            db,
            limited_writes: std::sync::Mutex::new(()),
            inbox_locks: (0..INBOX_LOCK_STRIPES)
                .map(|_| std::sync::Mutex::new(()))
                .collect(),
            event_appends: std::sync::Mutex::new(()),
            flushes: GroupFlush::default(),
        })
    }

    /// `written` once it is durable: every write method of the repositories ends with this, as the store
    /// contract says a write is durable when it returns `Ok`. Callers that wait at the same time share one
    /// sled flush (group commit, `group_flush.rs`), so concurrent writers pay for one disk sync between
    /// them. A failed write is returned as it is: it changed nothing that needs keeping.
    async fn durably<T>(&self, written: Result<T, StoreError>) -> Result<T, StoreError> {
        let value = written?;
        // Not sled 0.34's `flush_async`: it runs each flush on sled's own small I/O pool, where a few flushes
        // at once (concurrent SendSync calls, each flushing its events) take every thread while the log write
        // they wait for sits queued behind them, and the store, then the whole server, locks up for good
        // (spacejam/sled#1308; the `send` benchmark hit it at 64 calls in flight). The blocking flush waits
        // the same way on one of Tokio's blocking threads, which leaves sled's pool free for the write, and
        // callers that arrive together share one flush.
        let db = self.db.clone();
        self.flushes
            .flush(move || db.flush().map(drop).map_err(StoreError::from))
            .await?;
        Ok(value)
    }

    /// The tree of one record kind (names in `keys`); sled keeps opened trees, so this is a map lookup.
    fn tree(&self, name: &str) -> Result<sled::Tree, StoreError> {
        Ok(self.db.open_tree(name)?)
    }

    /// Replaces the value at `key` only if one is there; returns whether it was.
    fn replace_existing(&self, tree: &str, key: &[u8], value: Vec<u8>) -> Result<bool, StoreError> {
        let mut replaced = false;
        self.tree(tree)?.fetch_and_update(key, |old| {
            replaced = old.is_some();
            old.map(|_| value.clone())
        })?;
        Ok(replaced)
    }

    /// Holds the write lock of one device's inbox.
    fn inbox_lock(
        &self,
        app: &str,
        device: &str,
    ) -> Result<std::sync::MutexGuard<'_, ()>, StoreError> {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (app, device).hash(&mut hasher);
        let stripe = (hasher.finish() % self.inbox_locks.len() as u64) as usize;
        self.inbox_locks[stripe]
            .lock()
            .map_err(|_| StoreError::Backend("inbox lock poisoned".into()))
    }

    /// Holds the lock for count-limited writes.
    fn limited_write(&self) -> Result<std::sync::MutexGuard<'_, ()>, StoreError> {
        self.limited_writes
            .lock()
            .map_err(|_| StoreError::Backend("write lock poisoned".into()))
    }
}

#[async_trait]
impl Flush for SledStore {
    async fn flush(&self) -> Result<(), StoreError> {
        self.durably(Ok(())).await
    }
}

#[cfg(test)]
mod flush_tests {
    // sled-only: it writes through sled's own `Db` and guards against a sled bug (spacejam/sled#1308).
    use std::{sync::Arc, time::Duration};

    use super::{Flush, test_support::temp_store};

    /// Many flushes at once, each after its own batch, as concurrent SendSync calls make them: every one
    /// completes (with sled's `flush_async` they lock the store up for good). The writers run on a runtime
    /// of their own thread, watched from this one: a lock-up also stops that runtime's timers, so only a
    /// thread outside it can tell.
    #[test]
    fn concurrent_flushes_complete() {
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let (_dir, store) = temp_store();
                let store = Arc::new(store);
                let writers = (0..64).map(|i| {
                    let store = store.clone();
                    tokio::spawn(async move {
                        for j in 0..20 {
                            let mut batch = sled::Batch::default();
                            batch.insert(format!("k{i:02}-{j:02}").as_bytes(), vec![0u8; 400]);
                            store.db.apply_batch(batch).expect("write");
                            store.flush().await.expect("flush");
                        }
                    })
                });
                for result in futures::future::join_all(writers).await {
                    result.expect("writer");
                }
            });
            let _ = done.send(());
        });
        finished
            .recv_timeout(Duration::from_secs(60))
            .expect("every write and flush completes within 60 s");
    }
}
