//! The background task that deletes expired inbox entries, and on a shared store the routes of replicas
//! that are gone. Replay skips expired entries anyway; the sweep only reclaims their space, in bounded
//! batches so it never holds the store for long.

use std::{sync::Weak, time::Duration};

use tokio::sync::watch;

use super::Inner;
use crate::{clock::now_ms, cluster::OneReplica};

/// Expired entries deleted per store call.
const BATCH: usize = 500;

/// Spawns the sweeper on the current runtime. It holds only a weak reference, so it ends when the last
/// [`Channel`](super::Channel) clone drops (the stop sender goes with it) or when `stop` turns true.
/// One replica of the deployment sweeps at a time: the holder of the lease `sweep/inbox`.
pub(super) fn spawn(inner: Weak<Inner>, mut stop: watch::Receiver<bool>, interval: Duration) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::warn!("no Tokio runtime: the inbox expiry sweeper does not run");
        return;
    };
    runtime.spawn(async move {
        let mut turn = OneReplica::new("sweep/inbox");
        loop {
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                changed = stop.changed() => {
                    if changed.is_err() || *stop.borrow() {
                        return;
                    }
                }
            }
            let Some(inner) = inner.upgrade() else {
                return;
            };
            if !turn.mine(&inner.leases).await {
                continue;
            }
            sweep(&inner).await;
            if let Some(routing) = &inner.routing {
                routing.sweep().await;
            }
        }
    });
}

/// Deletes everything expired now, a batch at a time.
pub(super) async fn sweep(inner: &Inner) -> u64 {
    let mut total = 0u64;
    loop {
        match inner.store.inbox.sweep_expired(now_ms(), BATCH).await {
            Ok(n) => {
                total += n;
                if n < BATCH as u64 {
                    break;
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "inbox expiry sweep failed; retrying next interval");
                break;
            }
        }
        // Let the calls that share the runtime run between batches.
        tokio::task::yield_now().await;
    }
    if total > 0 {
        tracing::debug!(removed = total, "expired inbox entries swept");
    }
    total
}
