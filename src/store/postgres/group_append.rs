//! Group commit for event appends: the appends of one app that arrive together share one transaction.
//!
//! An app's appends take their positions under its `event_heads` row, locked until the commit (`events.rs`
//! says why), so one app's appends commit one after the other. Each on its own, that is one transaction of
//! five round trips and an fsync per SendSync: 684 calls/s on the bench machine, a quarter of sled's rate,
//! however many connections the pool has. Here an append joins the app's queue; one writer task per app
//! with appends waiting takes everything queued (up to [`MAX_BATCH_EVENTS`]) and writes it in one
//! transaction, then the next batch, and ends when the queue is empty. Every caller still returns only once
//! its events committed, with their positions: the contract is unchanged, the lock and the fsync are shared.
//!
//! The queue needs no bound of its own: each entry is an append call waiting for its answer, and those are
//! bounded by the calls the server runs at once (its load shedding). Each batch is bounded by
//! `MAX_BATCH_EVENTS`, and every wait inside it by the pool's and the statements' timeouts.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use deadpool_postgres::Pool;
use tokio::sync::oneshot;

use super::events::append_in;
use crate::{proto::v1::DeliveryEvent, store::StoreError};

/// The most events one transaction writes: a few task pages' worth, so a long queue commits in steps.
const MAX_BATCH_EVENTS: usize = 4096;

/// An append waiting for its batch to commit.
struct Waiting {
    events: Vec<DeliveryEvent>,
    reply: oneshot::Sender<Result<Vec<DeliveryEvent>, StoreError>>,
}

/// The apps with appends waiting or being written, each with its queue. An app is in the map exactly while
/// its writer task runs.
#[derive(Default)]
pub(super) struct GroupAppend {
    apps: Mutex<HashMap<String, Vec<Waiting>>>,
}

impl GroupAppend {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<Waiting>>> {
        self.apps.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends `events` of `app` (not empty) with the appends of the app waiting beside it, and returns
    /// them positioned once they committed.
    pub(super) async fn append(
        self: &Arc<Self>,
        pool: &Pool,
        app: &str,
        events: Vec<DeliveryEvent>,
    ) -> Result<Vec<DeliveryEvent>, StoreError> {
        let (reply, answer) = oneshot::channel();
        let start_writer = {
            let mut apps = self.lock();
            let starting = !apps.contains_key(app);
            apps.entry(app.to_owned())
                .or_default()
                .push(Waiting { events, reply });
            starting
        };
        if start_writer {
            // A task of its own: the writer outlives the call that started it when more appends queue up,
            // and a caller that gives up (a cancelled RPC) must not stop the others' batch.
            let writer = Writer {
                group: self.clone(),
                app: app.to_owned(),
                done: false,
            };
            tokio::spawn(writer.run(pool.clone()));
        }
        answer.await.unwrap_or_else(|_| {
            Err(StoreError::Backend(
                "the event writer stopped before this append committed".into(),
            ))
        })
    }
}

/// The writer of one app's queue. Dropped before it emptied the queue (a panic), it removes the app with its
/// queue, so the waiting appends fail instead of waiting for a writer that is gone.
struct Writer {
    group: Arc<GroupAppend>,
    app: String,
    done: bool,
}

impl Writer {
    async fn run(mut self, pool: Pool) {
        loop {
            let batch = {
                let mut apps = self.group.lock();
                let Some(queue) = apps.get_mut(&self.app) else {
                    return;
                };
                if queue.is_empty() {
                    apps.remove(&self.app);
                    self.done = true;
                    return;
                }
                take_batch(queue)
            };
            write(&pool, &self.app, batch).await;
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if !self.done {
            self.group.lock().remove(&self.app);
        }
    }
}

/// The oldest waiting appends, at least one, together at most [`MAX_BATCH_EVENTS`] events.
fn take_batch(queue: &mut Vec<Waiting>) -> Vec<Waiting> {
    let mut events = 0;
    let mut n = 0;
    for waiting in queue.iter() {
        if n > 0 && events + waiting.events.len() > MAX_BATCH_EVENTS {
            break;
        }
        events += waiting.events.len();
        n += 1;
    }
    queue.drain(..n).collect()
}

/// Writes `batch` in one transaction and answers each append its own events, positioned, or the error.
async fn write(pool: &Pool, app: &str, batch: Vec<Waiting>) {
    let sizes: Vec<usize> = batch.iter().map(|w| w.events.len()).collect();
    let mut replies = Vec::with_capacity(batch.len());
    let mut events = Vec::with_capacity(sizes.iter().sum());
    for waiting in batch {
        events.extend(waiting.events);
        replies.push(waiting.reply);
    }
    match commit(pool, app, &mut events).await {
        Ok(()) => {
            let mut rest = events.into_iter();
            for (reply, size) in replies.into_iter().zip(sizes) {
                // A caller that gave up no longer listens; its events are stored all the same.
                let _ = reply.send(Ok(rest.by_ref().take(size).collect()));
            }
        }
        Err(e) => {
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}

async fn commit(pool: &Pool, app: &str, events: &mut [DeliveryEvent]) -> Result<(), StoreError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    append_in(&tx, app, events).await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    // PostgreSQL only: the batching is this backend's; the contract it keeps (positions in order, each
    // caller its own events) is tested on both backends by the conformance suite.
    use super::*;

    fn waiting(n: usize) -> Waiting {
        let (reply, _) = oneshot::channel();
        Waiting {
            events: vec![DeliveryEvent::default(); n],
            reply,
        }
    }

    #[test]
    fn a_batch_takes_the_oldest_appends_up_to_the_event_limit_and_at_least_one() {
        let mut queue = vec![waiting(3000), waiting(1000), waiting(200), waiting(1)];
        let sizes = |b: &[Waiting]| b.iter().map(|w| w.events.len()).collect::<Vec<_>>();
        assert_eq!(sizes(&take_batch(&mut queue)), [3000, 1000]);
        assert_eq!(sizes(&take_batch(&mut queue)), [200, 1]);
        let mut big = vec![waiting(MAX_BATCH_EVENTS + 1), waiting(1)];
        assert_eq!(sizes(&take_batch(&mut big)), [MAX_BATCH_EVENTS + 1]);
        assert_eq!(sizes(&take_batch(&mut big)), [1]);
    }
}
