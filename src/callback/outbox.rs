//! The callback outbox: one delivery worker per enabled rule, started with the server and whenever a rule
//! changes, plus the failed-callback list and redelivery.
//!
//! The outbox is durable without copying events: the event log is written with the outcome, and each rule
//! keeps a cursor into it, moved only after the callbacks before it were delivered or parked in the store.
//! After a crash a worker resumes from its cursor; callbacks posted but not yet passed by the cursor are posted
//! again (at least once).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, atomic::AtomicI64},
};

use tokio::{sync::Notify, task::JoinHandle};

use super::{
    CallbacksConfig, EventLog,
    pause::FailureWindow,
    post::Poster,
    worker::{Shared, Worker},
};
use crate::{
    clock::now_ms,
    cluster::{Leases, Membership},
    notifier::sealing::Sealer,
    proto::v1::FailedCallback,
    store::{CallbackRuleRecord, Store, StoreError},
    telemetry::metrics,
};

type RuleKey = (String, String);

/// A running worker.
struct Running {
    /// The rule as the worker runs it.
    rule: CallbackRuleRecord,
    task: JoinHandle<()>,
    wake: Arc<Notify>,
    waiting: Arc<AtomicI64>,
}

/// The outbox of every app's callback rules.
#[derive(Clone)]
pub struct Outbox {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    sealer: Sealer,
    log: EventLog,
    running: Mutex<HashMap<RuleKey, Running>>,
    /// This replica's leases, one per rule delivered.
    leases: Leases,
    /// Set when the server stops: no worker starts again.
    draining: std::sync::atomic::AtomicBool,
    /// One lock per rule around changes of its waiting callbacks, shared by its worker and redeliveries.
    locks: Mutex<HashMap<RuleKey, Arc<tokio::sync::Mutex<()>>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for (_, r) in self
            .running
            .get_mut()
            .map(std::mem::take)
            .unwrap_or_default()
        {
            r.task.abort();
        }
    }
}

/// The context a rule's secret is sealed with: it opens only for that app and rule.
pub fn secret_context(app: &str, rule: &str) -> Vec<u8> {
    let mut c = b"callback\0".to_vec();
    c.extend_from_slice(app.as_bytes());
    c.push(0);
    c.extend_from_slice(rule.as_bytes());
    c
}

impl Outbox {
    /// Starts a worker for every enabled rule in the store. Each delivers while it holds its rule's lease,
    /// so one replica of `membership`'s deployment delivers a rule at a time; on a shared store the rules
    /// are read again every heartbeat, for the rules created, changed or deleted through other replicas.
    pub async fn start(
        store: Store,
        sealer: Sealer,
        config: CallbacksConfig,
        poster: Poster,
        log: EventLog,
        membership: &Membership,
    ) -> Result<Self, StoreError> {
        let outbox = Self {
            inner: Arc::new(Inner {
                shared: Arc::new(Shared {
                    store: store.clone(),
                    config,
                    poster,
                }),
                sealer,
                log,
                running: Mutex::default(),
                leases: membership.leases(),
                draining: std::sync::atomic::AtomicBool::new(false),
                locks: Mutex::default(),
            }),
        };
        for (app, rule) in store.callback_rules.all_rules().await? {
            outbox.rule_put(&app, &rule).await?;
        }
        if store.is_shared() {
            tokio::spawn(follow_rules(
                Arc::downgrade(&outbox.inner),
                outbox.inner.leases.retry_every(),
            ));
        }
        Ok(outbox)
    }

    /// Stops every worker, for a server that stops: what was posted and not passed by the cursor is posted
    /// again by the replica that takes the rule's lease next (at least once), and nothing restarts here.
    pub fn drain(&self) {
        self.inner
            .draining
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.stop_where(|_| true);
    }

    /// Brings the workers in line with the stored rules: starts those created or changed elsewhere and
    /// stops those deleted elsewhere.
    async fn follow(&self) -> Result<(), StoreError> {
        if self
            .inner
            .draining
            .load(std::sync::atomic::Ordering::SeqCst)
        {
            return Ok(());
        }
        let stored = self.inner.shared.store.callback_rules.all_rules().await?;
        let (changed, gone) = {
            let running = self
                .inner
                .running
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let changed: Vec<(String, CallbackRuleRecord)> = stored
                .iter()
                .filter(
                    |(app, rule)| match running.get(&(app.clone(), rule.name.clone())) {
                        // Changed elsewhere (disabled included: rule_put stops it).
                        Some(r) => r.rule != *rule,
                        // Created or enabled elsewhere.
                        None => rule.enabled,
                    },
                )
                .cloned()
                .collect();
            let gone: Vec<RuleKey> = running
                .keys()
                .filter(|key| !stored.iter().any(|(a, r)| a == &key.0 && r.name == key.1))
                .cloned()
                .collect();
            (changed, gone)
        };
        for key in gone {
            self.stop(&key);
        }
        for (app, rule) in changed {
            self.rule_put(&app, &rule).await?;
        }
        Ok(())
    }

    /// Seals a rule's secret for storage.
    pub fn seal_secret(&self, app: &str, rule: &str, secret: &str) -> Vec<u8> {
        self.inner
            .sealer
            .seal(&secret_context(app, rule), secret.as_bytes())
    }

    fn lock_of(&self, key: &RuleKey) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self
            .inner
            .locks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        locks.entry(key.clone()).or_default().clone()
    }

    fn stop(&self, key: &RuleKey) {
        let stopped = self
            .inner
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(key);
        if let Some(r) = stopped {
            r.task.abort();
        }
    }

    /// Wakes the rule's worker for `added` callbacks queued from outside it.
    fn wake(&self, key: &RuleKey, added: i64) {
        let running = self
            .inner
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(r) = running.get(key) {
            r.waiting
                .fetch_add(added, std::sync::atomic::Ordering::Relaxed);
            r.wake.notify_one();
        }
    }

    /// A rule was created or changed: its worker restarts with it. An enabled rule that was not running
    /// starts at the newest event (callbacks are for outcomes from then on); a disabled one forgets its place.
    pub async fn rule_put(&self, app: &str, rule: &CallbackRuleRecord) -> Result<(), StoreError> {
        let key = (app.to_owned(), rule.name.clone());
        self.stop(&key);
        let store = &self.inner.shared.store;
        if !rule.enabled {
            return store.outbox.forget_cursor(app, &rule.name).await;
        }
        if store.outbox.cursor(app, &rule.name).await?.is_none() {
            let newest = store.events.last_event_position(app).await?.unwrap_or(0);
            store.outbox.set_cursor(app, &rule.name, newest).await?;
        }
        let secret = match self.open_secret(app, rule) {
            Some(secret) => secret,
            None => {
                tracing::error!(app, rule = %rule.name, "callback secret cannot be decrypted (wrong credentials key?); rule not started");
                return Ok(());
            }
        };
        // Counted under the rule's lock, before the worker and its gauge exist: a redelivery (which holds the
        // lock until it has added to a running worker's count) is counted either here or by the worker.
        let lock = self.lock_of(&key);
        let _changing = lock.lock().await;
        let waiting = match store.outbox.waiting_count(app, &rule.name).await {
            Ok(n) => i64::try_from(n).unwrap_or(i64::MAX),
            Err(e) => {
                tracing::error!(app, rule = %rule.name, error = %e, "cannot count waiting callbacks");
                0
            }
        };
        metrics::rule_started(app, &rule.name, waiting);
        let wake = Arc::new(Notify::new());
        let waiting = Arc::new(AtomicI64::new(waiting));
        let worker = Worker {
            leases: self.inner.leases.clone(),
            fence: None,
            app: app.to_owned(),
            rule: rule.clone(),
            secret,
            shared: self.inner.shared.clone(),
            lock: lock.clone(),
            recorded: self.inner.log.recorded(),
            wake: wake.clone(),
            failures: Mutex::new(FailureWindow::new(&self.inner.shared.config)),
            paused_until: AtomicI64::new(0),
            waiting: waiting.clone(),
        };
        let task = tokio::spawn(worker.run());
        self.inner
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(
                key,
                Running {
                    rule: rule.clone(),
                    task,
                    wake,
                    waiting,
                },
            );
        Ok(())
    }

    fn open_secret(&self, app: &str, rule: &CallbackRuleRecord) -> Option<String> {
        if rule.sealed_secret.is_empty() {
            return Some(rule.secret.clone());
        }
        let opened = self
            .inner
            .sealer
            .open(&secret_context(app, &rule.name), &rule.sealed_secret)
            .ok()?;
        String::from_utf8(opened).ok()
    }

    /// A rule was deleted: its worker stops and its waiting and failed callbacks go.
    pub async fn rule_deleted(&self, app: &str, rule: &str) -> Result<(), StoreError> {
        let key = (app.to_owned(), rule.to_owned());
        self.stop(&key);
        let lock = self.lock_of(&key);
        let _changing = lock.lock().await;
        self.inner.shared.store.outbox.remove_rule(app, rule).await
    }

    /// An app was deleted (with all its records): its workers stop.
    pub fn app_deleted(&self, app: &str) {
        self.stop_where(|(a, _)| a == app);
    }

    /// Stops the workers of every rule `which` picks.
    fn stop_where(&self, which: impl Fn(&RuleKey) -> bool) {
        let keys: Vec<RuleKey> = self
            .inner
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .keys()
            .filter(|key| which(key))
            .cloned()
            .collect();
        for key in keys {
            self.stop(&key);
        }
    }

    /// When the rule's pause ends, while it is paused.
    pub async fn paused_until(&self, app: &str, rule: &str) -> Result<Option<i64>, StoreError> {
        let pause = self.inner.shared.store.outbox.pause(app, rule).await?;
        Ok(Some(pause.paused_until_ms).filter(|t| *t > now_ms()))
    }

    /// Failed callbacks of `app`, oldest first, of one rule or all, after the id `after`.
    pub async fn failed(
        &self,
        app: &str,
        rule: Option<&str>,
        after: Option<(&str, u64)>,
        limit: usize,
    ) -> Result<Vec<FailedCallback>, StoreError> {
        self.inner
            .shared
            .store
            .outbox
            .failed(app, rule, after, limit)
            .await
    }

    /// Queues the failed callback `(rule, position)` again with a fresh retry budget; false when there is
    /// none.
    pub async fn redeliver(
        &self,
        app: &str,
        rule: &str,
        position: u64,
    ) -> Result<bool, StoreError> {
        let key = (app.to_owned(), rule.to_owned());
        let lock = self.lock_of(&key);
        let _changing = lock.lock().await;
        let queued = self
            .inner
            .shared
            .store
            .outbox
            .requeue_failed(app, rule, position, now_ms())
            .await?;
        // Still under the lock, so that a worker starting now counts this callback either in the store or
        // here, never in both.
        if queued {
            self.wake(&key, 1);
        }
        Ok(queued)
    }
}

/// Follows the stored rules every `every` while the outbox lives (a shared store only).
async fn follow_rules(outbox: std::sync::Weak<Inner>, every: std::time::Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(inner) = outbox.upgrade() else {
            return;
        };
        if let Err(e) = (Outbox { inner }).follow().await {
            tracing::warn!(error = %e, "cannot read the callback rules; looking again later");
        }
    }
}
