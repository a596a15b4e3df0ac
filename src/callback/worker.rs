//! The delivery worker of one callback rule: reads the event log from the rule's cursor, posts what the rule
//! wants, parks what fails (and what must wait behind it), retries parked callbacks when due, gives up on
//! them after the retry time, and pauses when the endpoint keeps failing.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use futures::{StreamExt, TryStreamExt, stream};
use opentelemetry::KeyValue;
use tokio::sync::{Notify, watch};

use super::{
    CallbacksConfig,
    body::timestamp_ms,
    pause::{self, FailureWindow},
    post::{Attempt, Poster},
};
use crate::{
    clock::now_ms,
    clock::timestamp,
    cluster::{Held, Leases},
    proto::v1::{DeliveryEvent, FailedCallback},
    store::{
        CallbackRuleRecord, Fence, PendingCallback, Store, StoreError,
        outbox::{failed_id, order_key},
        until_available,
    },
    telemetry::metrics::metrics,
};

/// Events read from the log at once.
const PAGE: usize = 256;
/// Longest idle wait between looks at the log and the due retries (a missed signal costs at most this).
const IDLE: Duration = Duration::from_secs(30);
/// The same on a shared store, where the other replicas' events come without a signal: the delay of a
/// callback for an event another replica recorded.
const SHARED_IDLE: Duration = Duration::from_secs(1);
/// Wait after a store failure before trying again.
const STORE_RETRY: Duration = Duration::from_secs(1);

/// What a worker shares with the outbox.
pub(super) struct Shared {
    /// The store.
    pub store: Store,
    /// Settings.
    pub config: CallbacksConfig,
    /// The HTTP client.
    pub poster: Poster,
}

/// The worker of one enabled rule.
pub(super) struct Worker {
    pub app: String,
    pub rule: CallbackRuleRecord,
    pub secret: String,
    pub shared: Arc<Shared>,
    /// Held around every change of the rule's waiting callbacks (a redelivery takes it too).
    pub lock: Arc<tokio::sync::Mutex<()>>,
    pub recorded: watch::Receiver<u64>,
    pub wake: Arc<Notify>,
    pub failures: Mutex<FailureWindow>,
    pub paused_until: AtomicI64,
    /// Callbacks of the rule waiting in the store, counted before the worker starts; shared with the outbox,
    /// whose redeliveries add to it.
    pub waiting: Arc<AtomicI64>,
    /// This replica's leases: one replica of the deployment delivers a rule at a time.
    pub leases: Leases,
    /// The rule's lease while this worker holds it; the cursor moves only under it.
    pub fence: Option<Fence>,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Worker {
    /// Runs until aborted: delivers while it holds the rule's lease, and waits for the lease while another
    /// replica holds it.
    pub async fn run(mut self) {
        let name = format!("callback/{}/{}", self.app, self.rule.name);
        loop {
            let held = match self.leases.try_hold(&name).await {
                Ok(Some(held)) => held,
                Ok(None) => {
                    tokio::time::sleep(self.leases.retry_every()).await;
                    continue;
                }
                Err(e) => {
                    tracing::warn!(app = %self.app, rule = %self.rule.name, error = %e, "cannot take a callback rule's lease");
                    tokio::time::sleep(STORE_RETRY).await;
                    continue;
                }
            };
            tracing::debug!(app = %self.app, rule = %self.rule.name, epoch = held.epoch(), "delivering a callback rule");
            self.fence = Some(held.fence());
            self.deliver(&held).await;
            self.fence = None;
            tracing::info!(app = %self.app, rule = %self.rule.name, "a callback rule's lease was lost; another replica delivers it");
        }
    }

    /// Delivers until the lease is lost.
    async fn deliver(&mut self, held: &Held) {
        // Waited for while the store is away: a worker that started without it would deliver through a pause.
        let pause = until_available("read a callback pause", || {
            self.shared.store.outbox.pause(&self.app, &self.rule.name)
        })
        .await;
        match pause {
            Ok(p) => self
                .paused_until
                .store(p.paused_until_ms, Ordering::Relaxed),
            Err(e) => {
                tracing::error!(app = %self.app, rule = %self.rule.name, error = %e, "cannot read the callback pause")
            }
        }
        while !held.is_lost() && self.fence.is_some() {
            let now = now_ms();
            let until = self.paused_until.load(Ordering::Relaxed);
            if until > now {
                let wait = Duration::from_millis(u64::try_from(until - now).unwrap_or(0));
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = self.wake.notified() => {}
                }
                continue;
            }
            let worked = match self.round().await {
                Ok(worked) => worked,
                Err(e) => {
                    tracing::error!(app = %self.app, rule = %self.rule.name, error = %e, "callback delivery cannot use the store");
                    tokio::time::sleep(STORE_RETRY).await;
                    continue;
                }
            };
            if !worked {
                self.idle().await;
            }
        }
    }

    /// One round: due retries first (they are older), then a page of new events. Whether anything was done.
    async fn round(&mut self) -> Result<bool, StoreError> {
        let retried = self.retry_due().await?;
        let delivered = self.deliver_new().await?;
        Ok(retried || delivered)
    }

    /// Waits for new events, the next due retry, or a wake-up.
    async fn idle(&mut self) {
        let next_due = self
            .shared
            .store
            .outbox
            .next_due_ms(&self.app, &self.rule.name)
            .await
            .ok()
            .flatten();
        let longest = if self.shared.store.is_shared() {
            SHARED_IDLE
        } else {
            IDLE
        };
        let wait = next_due.map_or(longest, |at| {
            Duration::from_millis(u64::try_from(at - now_ms()).unwrap_or(0)).min(longest)
        });
        // Never a busy loop, even if something is due that this round could not take.
        let wait = wait.max(Duration::from_millis(20));
        tokio::select! {
            changed = self.recorded.changed() => {
                if changed.is_err() {
                    tokio::time::sleep(wait).await;
                }
            }
            () = tokio::time::sleep(wait) => {}
            () = self.wake.notified() => {}
        }
    }

    fn paused(&self) -> bool {
        self.paused_until.load(Ordering::Relaxed) > now_ms()
    }

    fn wants(&self, event: &DeliveryEvent) -> bool {
        self.rule.statuses.is_empty() || self.rule.statuses.contains(&event.status)
    }

    /// Counts a failed attempt; starts a pause when it trips the rule.
    async fn failed_attempt(&self, now: i64) -> Result<(), StoreError> {
        let tripped = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .failed(now);
        if !tripped {
            return Ok(());
        }
        let outbox = &self.shared.store.outbox;
        let earlier = outbox.pause(&self.app, &self.rule.name).await?;
        let next = pause::begin(&earlier, &self.shared.config, now);
        self.paused_until
            .store(next.paused_until_ms, Ordering::Relaxed);
        tracing::warn!(
            app = %self.app,
            rule = %self.rule.name,
            until_ms = next.paused_until_ms,
            failures = self.shared.config.pause_after_failures,
            "callback endpoint keeps failing; rule paused"
        );
        outbox.set_pause(&self.app, &self.rule.name, next).await
    }

    async fn post(&self, event: &DeliveryEvent) -> Attempt {
        let attempt = self
            .shared
            .poster
            .post(&self.rule.url, &self.rule.name, &self.secret, event)
            .await;
        let result = match attempt {
            Attempt::Delivered => "delivered",
            Attempt::Failed { .. } => "failed",
        };
        metrics().callback_posts.add(
            1,
            &[
                KeyValue::new("rule", self.rule.name.clone()),
                KeyValue::new("result", result),
            ],
        );
        attempt
    }

    fn rule_attrs(&self) -> [KeyValue; 2] {
        [
            KeyValue::new("app", self.app.clone()),
            KeyValue::new("rule", self.rule.name.clone()),
        ]
    }

    /// Moves the count of waiting callbacks (kept for the `pushgate.callbacks.waiting` gauge).
    fn waiting_changed(&self, by: i64) {
        let now = self.waiting.fetch_add(by, Ordering::Relaxed) + by;
        metrics().callbacks_waiting.record(now, &self.rule_attrs());
    }

    /// Posts the next page of events after the cursor, a receiver's events in order; parks what fails and
    /// what waits behind it; then moves the cursor past the page.
    async fn deliver_new(&mut self) -> Result<bool, StoreError> {
        if self.paused() {
            return Ok(false);
        }
        // Marked seen before reading: an append after this read wakes the idle wait.
        self.recorded.borrow_and_update();
        let store = &self.shared.store;
        let cursor = store
            .outbox
            .cursor(&self.app, &self.rule.name)
            .await?
            .unwrap_or(0);
        let events = store.events.events_after(&self.app, cursor, PAGE).await?;
        let Some(last) = events.last().map(|e| e.position) else {
            return Ok(false);
        };
        let mut groups: Vec<(String, Vec<DeliveryEvent>)> = Vec::new();
        let mut group_of: HashMap<String, usize> = HashMap::new();
        for event in events.into_iter().filter(|e| self.wants(e)) {
            let key = order_key(&event);
            let at = *group_of.entry(key.clone()).or_insert_with(|| {
                groups.push((key, Vec::new()));
                groups.len() - 1
            });
            groups[at].1.push(event);
        }
        let parked: Vec<Vec<PendingCallback>> = stream::iter(groups)
            .map(|(key, events)| self.deliver_group(key, events))
            .buffer_unordered(self.shared.config.max_in_flight)
            .try_collect()
            .await?;
        let parked: Vec<PendingCallback> = parked.into_iter().flatten().collect();
        let count = parked.len() as i64;
        let _changing = self.lock.lock().await;
        let advanced = store
            .outbox
            .advance_fenced(
                &self.app,
                &self.rule.name,
                last,
                parked,
                self.fence.as_ref(),
            )
            .await?;
        if !advanced {
            // The lease went to another replica meanwhile: it delivers from the cursor this worker could
            // not move, so the page just posted is posted again there (at least once).
            self.fence = None;
            return Ok(false);
        }
        if count > 0 {
            self.waiting_changed(count);
        }
        Ok(true)
    }

    /// Posts the events of one receiver in order until one fails; returns the ones to park.
    async fn deliver_group(
        &self,
        key: String,
        events: Vec<DeliveryEvent>,
    ) -> Result<Vec<PendingCallback>, StoreError> {
        let mut blocked = self
            .shared
            .store
            .outbox
            .is_held(&self.app, &self.rule.name, &key)
            .await?;
        let mut parked = Vec::new();
        for event in events {
            let budget_from_ms = timestamp_ms(&event);
            if blocked || self.paused() {
                // Behind an earlier callback of the receiver, or the rule paused meanwhile: it waits.
                parked.push(PendingCallback {
                    event: Some(event),
                    budget_from_ms,
                    next_attempt_ms: now_ms(),
                    ..Default::default()
                });
                continue;
            }
            if let Attempt::Failed { http_status, error } = self.post(&event).await {
                let now = now_ms();
                self.failed_attempt(now).await?;
                parked.push(PendingCallback {
                    event: Some(event),
                    attempts: 1,
                    first_attempt_ms: now,
                    last_attempt_ms: now,
                    last_http_status: i32::from(http_status),
                    last_error: error,
                    budget_from_ms,
                    next_attempt_ms: now + ms(self.shared.config.backoff(1)),
                });
                blocked = true;
            }
        }
        Ok(parked)
    }

    /// Tries the receivers' first waiting callbacks that are due.
    async fn retry_due(&self) -> Result<bool, StoreError> {
        if self.paused() {
            return Ok(false);
        }
        let limit = self.shared.config.max_in_flight * 4;
        let due = self
            .shared
            .store
            .outbox
            .due(&self.app, &self.rule.name, now_ms(), limit)
            .await?;
        if due.is_empty() {
            return Ok(false);
        }
        stream::iter(due)
            .map(|pending| self.retry(pending))
            .buffer_unordered(self.shared.config.max_in_flight)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(true)
    }

    /// One more attempt at a waiting callback: settled when delivered or out of time, else due again later.
    async fn retry(&self, mut pending: PendingCallback) -> Result<(), StoreError> {
        if self.paused() {
            // Stays due; tried when the pause ends.
            return Ok(());
        }
        let outbox = &self.shared.store.outbox;
        let Some(event) = pending.event.clone() else {
            let _changing = self.lock.lock().await;
            return outbox
                .settle_fenced(
                    &self.app,
                    &self.rule.name,
                    &pending,
                    None,
                    now_ms(),
                    self.fence.as_ref(),
                )
                .await
                .map(|_| ());
        };
        let attempt = self.post(&event).await;
        let now = now_ms();
        pending.attempts += 1;
        if pending.first_attempt_ms == 0 {
            pending.first_attempt_ms = now;
        }
        pending.last_attempt_ms = now;
        let Attempt::Failed { http_status, error } = attempt else {
            let _changing = self.lock.lock().await;
            if outbox
                .settle_fenced(
                    &self.app,
                    &self.rule.name,
                    &pending,
                    None,
                    now,
                    self.fence.as_ref(),
                )
                .await?
            {
                self.waiting_changed(-1);
            }
            return Ok(());
        };
        self.failed_attempt(now).await?;
        pending.last_http_status = i32::from(http_status);
        pending.last_error = error;
        let _changing = self.lock.lock().await;
        if now - pending.budget_from_ms >= ms(self.shared.config.retry_for) {
            tracing::warn!(
                app = %self.app,
                rule = %self.rule.name,
                position = event.position,
                attempts = pending.attempts,
                "callback given up after its retries; kept as a failed callback"
            );
            let failed = FailedCallback {
                id: failed_id(&self.rule.name, event.position),
                rule_name: self.rule.name.clone(),
                event: Some(event),
                attempts: pending.attempts,
                first_attempt_time: Some(timestamp(pending.first_attempt_ms)),
                last_attempt_time: Some(timestamp(pending.last_attempt_ms)),
                last_http_status: pending.last_http_status,
                last_error: pending.last_error.clone(),
            };
            if outbox
                .settle_fenced(
                    &self.app,
                    &self.rule.name,
                    &pending,
                    Some(failed),
                    now,
                    self.fence.as_ref(),
                )
                .await?
            {
                self.waiting_changed(-1);
                metrics().callbacks_failed.add(1, &self.rule_attrs());
            }
            return Ok(());
        }
        pending.next_attempt_ms = now + ms(self.shared.config.backoff(pending.attempts));
        // Refused when another replica took the rule over meanwhile: its state of the callback stands.
        outbox
            .reschedule_fenced(&self.app, &self.rule.name, pending, self.fence.as_ref())
            .await
            .map(|_| ())
    }
}
