//! Riding out a database that is away for a while.
//!
//! An RPC that meets [`StoreError::Unavailable`] answers UNAVAILABLE and its caller retries. Background work
//! has no caller to hand that to: the async queue's workers and the task runner hold work the server
//! accepted, and failing a task or dropping a queued push because the database restarted would lose it.
//! They wait for the store instead, with [`until_available`]. Only `Unavailable` is waited out; any other
//! error is the caller's to handle, as before, since trying a refused statement again changes nothing.

use std::{future::Future, time::Duration};

use super::StoreError;

/// The first pause after the store was unavailable; doubled after each further failure.
const FIRST_PAUSE: Duration = Duration::from_millis(200);
/// The longest pause between tries: a returning database is noticed within this.
const LONGEST_PAUSE: Duration = Duration::from_secs(5);

/// Runs `op` until it returns anything but [`StoreError::Unavailable`], pausing between tries (200 ms,
/// doubling to 5 s). Each try is bounded by the backend's own timeouts (connect and statement), so this
/// waits exactly as long as the database is away. `what` names the work in the log, which says once that it
/// waits and once that the store is back.
pub async fn until_available<T, F, Fut>(what: &str, mut op: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let mut pause = FIRST_PAUSE;
    let mut waited = false;
    loop {
        match op().await {
            Err(StoreError::Unavailable(reason)) => {
                if !waited {
                    tracing::warn!(what, %reason, "the store is unavailable; waiting for it");
                    waited = true;
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(LONGEST_PAUSE);
            }
            other => {
                if waited {
                    tracing::info!(what, "the store is available again");
                }
                return other;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn unavailable_is_tried_again_until_the_store_answers() {
        let tries = AtomicU32::new(0);
        let started = tokio::time::Instant::now();
        let answer = until_available("test", || async {
            match tries.fetch_add(1, Ordering::Relaxed) {
                0..=5 => Err(StoreError::Unavailable("connection refused".into())),
                _ => Ok(7),
            }
        })
        .await;
        assert_eq!(answer.unwrap(), 7);
        assert_eq!(tries.load(Ordering::Relaxed), 7);
        // 0.2 + 0.4 + 0.8 + 1.6 + 3.2 + 5 (capped) seconds of pauses.
        assert_eq!(started.elapsed(), Duration::from_millis(11_200));
    }

    #[tokio::test(start_paused = true)]
    async fn other_errors_come_back_at_once() {
        let tries = AtomicU32::new(0);
        let answer: Result<(), _> = until_available("test", || async {
            tries.fetch_add(1, Ordering::Relaxed);
            Err(StoreError::Backend("syntax error".into()))
        })
        .await;
        assert!(matches!(answer, Err(StoreError::Backend(_))));
        assert_eq!(tries.load(Ordering::Relaxed), 1);
    }
}
