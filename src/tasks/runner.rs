//! Running tasks: a scheduler that starts due tasks (label and list tasks only while a running slot is
//! free), and the fan-out of one task in claimed pages, shared by every replica running it.
//!
//! Each page is a bounded set of users; their pushes go out together (`Pusher::push_many`), and the page's
//! counters, statistics and delivery events are written in one store call with the end of its claim
//! (`TaskRepository::record_page`). The claims are in the task's record (`pages.rs`): a replica that dies
//! leaves its page to be taken over, so only the users of a page in flight can be pushed twice. On a
//! shared store the scheduler also looks for tasks the other replicas created, started or left every
//! `tasks.poll`, and joins them.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use tokio::sync::{Notify, watch};

use super::pages::{self, Frontier, PageDone};
use super::{TasksConfig, stats};
use crate::{
    clock::now_ms,
    cluster::Membership,
    proto::v1::{LabelMatch, Strategy, TaskKind, TaskState},
    push::{MessageError, MessageSource, Progress, PushError, Pusher, UserPush},
    store::{PageRecord, Store, StoreError, TaskRecord, until_available},
};

/// Pause before a page that failed on store trouble is tried again.
const PAGE_RETRY: Duration = Duration::from_secs(2);
/// Failed tries of one page before the task fails (the store being unavailable is waited out, not counted).
const PAGE_TRIES: u32 = 5;
/// The scheduler looks for due tasks at least this often.
const TICK: Duration = Duration::from_millis(200);

/// A task the scheduler knows has not ended.
#[derive(Debug, Clone)]
struct Open {
    kind: TaskKind,
    start_ms: i64,
    /// Its record says it runs (started here or by another replica): it holds a running slot.
    started: bool,
    /// This replica runs it now.
    running: bool,
    /// Set to stop this replica's run.
    cancel: Option<watch::Sender<bool>>,
    /// The page this replica is pushing: its claim's epoch, and its outcomes so far.
    page: Option<(u64, Progress)>,
    /// Its run found no running slot and ended; it stays known for the next turn.
    waiting: bool,
}

impl Open {
    fn of(task: &TaskRecord) -> Self {
        Self {
            kind: TaskKind::try_from(task.kind).unwrap_or(TaskKind::Unspecified),
            start_ms: task.start_ms,
            started: running(task),
            running: false,
            cancel: None,
            page: None,
            waiting: false,
        }
    }
}

/// What a replica may do next for a task.
enum Claim {
    /// Push this page: the task as claimed, the claim's epoch, its users.
    Page(Box<TaskRecord>, u64, Vec<String>),
    /// Every page is cut and the open ones are held by live replicas.
    Wait,
    /// The task no longer runs.
    Ended,
}

/// What the page in flight has settled and its task's record does not count yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unrecorded {
    /// Users in the page.
    pub users: u64,
    /// Users of the page whose every push is final.
    pub users_done: u64,
    /// Final outcomes by status.
    pub success: u64,
    /// Final failures.
    pub fail: u64,
    /// Final errors.
    pub error: u64,
}

/// The scheduler and the running tasks.
pub struct Runner {
    store: Store,
    pusher: Pusher,
    config: TasksConfig,
    membership: Membership,
    open: Mutex<BTreeMap<(String, String), Open>>,
    wake: Notify,
    /// Set when the server stops: nothing more starts here.
    draining: std::sync::atomic::AtomicBool,
}

impl Runner {
    /// A runner over the tasks not ended in `store`; [`start`](Self::start) it once.
    pub async fn new(
        store: Store,
        pusher: Pusher,
        config: TasksConfig,
        membership: Membership,
    ) -> Result<Arc<Self>, StoreError> {
        let open = store
            .tasks
            .open_tasks()
            .await?
            .into_iter()
            .map(|(app, task)| ((app, task.id.clone()), Open::of(&task)))
            .collect();
        Ok(Arc::new(Self {
            store,
            pusher,
            config,
            membership,
            open: Mutex::new(open),
            wake: Notify::new(),
            draining: std::sync::atomic::AtomicBool::new(false),
        }))
    }

    /// Runs the scheduler for the life of the server.
    pub fn start(self: &Arc<Self>) {
        let runner = self.clone();
        tokio::spawn(async move {
            let mut polled = Instant::now();
            loop {
                // Only a shared store has tasks this replica was not told of, or runs it does not see end.
                if runner.store.is_shared() && polled.elapsed() >= runner.config.poll {
                    polled = Instant::now();
                    runner.poll().await;
                }
                runner.start_due();
                let _ = tokio::time::timeout(TICK, runner.wake.notified()).await;
            }
        });
    }

    /// Stops this replica's part of every task, for a server that stops: nothing more starts, each run stops
    /// and releases the page it holds unrecorded (another replica pushes it at once), and this returns once
    /// every run ended or `within` passed.
    pub async fn drain(&self, within: Duration) {
        self.draining
            .store(true, std::sync::atomic::Ordering::SeqCst);
        for open in self.lock().values() {
            if let Some(cancel) = &open.cancel {
                let _ = cancel.send(true);
            }
        }
        let deadline = tokio::time::Instant::now() + within;
        while self.lock().values().any(|o| o.running) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn is_draining(&self) -> bool {
        self.draining.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Takes a new task into account (it starts when due).
    pub fn add(&self, app: &str, task: &TaskRecord) {
        self.lock()
            .insert((app.to_owned(), task.id.clone()), Open::of(task));
        self.wake.notify_one();
    }

    /// Stops a task: a running one after its page in flight (at once when that page is still being
    /// pushed: its pushes already handed over are not recalled), a scheduled one never starts.
    pub fn cancel(&self, app: &str, id: &str) {
        if let Some(open) = self.lock().remove(&(app.to_owned(), id.to_owned()))
            && let Some(cancel) = open.cancel
        {
            let _ = cancel.send(true);
        }
        self.wake.notify_one();
    }

    /// What the page this replica is pushing for `task` has settled and the record does not count yet, for
    /// its watchers; none when the record counts that page already or no page is out here.
    pub fn unrecorded(&self, app: &str, task: &TaskRecord) -> Option<Unrecorded> {
        let open = self.lock();
        let (epoch, progress) = open
            .get(&(app.to_owned(), task.id.clone()))?
            .page
            .as_ref()?;
        let me = self.membership.holder();
        pages::mine(task, *epoch, &me).map(|_| {
            let (success, fail, error) = progress.settled();
            Unrecorded {
                users: progress.users(),
                users_done: progress.users_final(),
                success,
                fail,
                error,
            }
        })
    }

    /// Keeps a task that could not start (no running slot) for the next turn of the scheduler, as a task
    /// that does not run, without a slot. Its run then ends without forgetting it.
    fn wait_for_slot(&self, app: &str, id: &str) {
        if let Some(open) = self.lock().get_mut(&(app.to_owned(), id.to_owned())) {
            open.running = false;
            open.started = false;
            open.cancel = None;
            open.waiting = true;
        }
    }

    /// Shows (or, with `None`, stops showing) the page a running task is pushing.
    fn show_page(&self, app: &str, id: &str, page: Option<(u64, Progress)>) {
        if let Some(open) = self.lock().get_mut(&(app.to_owned(), id.to_owned())) {
            open.page = page;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, String), Open>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads the open tasks of the shared store: takes in those created or started by other replicas, and
    /// stops this replica's runs of those that ended elsewhere (cancelled through another replica).
    async fn poll(&self) {
        let stored = match self.store.tasks.open_tasks().await {
            Ok(stored) => stored,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the open tasks; looking again later");
                return;
            }
        };
        let mut open = self.lock();
        let mut seen = BTreeSet::new();
        for (app, task) in stored {
            let key = (app, task.id.clone());
            let known = open.entry(key.clone()).or_insert_with(|| Open::of(&task));
            known.started |= running(&task);
            seen.insert(key);
        }
        open.retain(|key, o| {
            if seen.contains(key) {
                return true;
            }
            if let Some(cancel) = &o.cancel {
                let _ = cancel.send(true);
            }
            false
        });
    }

    /// Starts every due task that may start here: one this replica does not run yet, and, for a label or
    /// list task not started by any replica, a free running slot of its app.
    fn start_due(self: &Arc<Self>) {
        if self.is_draining() {
            return;
        }
        let now = now_ms();
        let mut to_start = Vec::new();
        {
            let mut open = self.lock();
            let mut slots: HashMap<String, usize> = HashMap::new();
            for ((app, _), o) in open.iter() {
                if (o.running || o.started) && o.kind != TaskKind::Broadcast {
                    *slots.entry(app.clone()).or_default() += 1;
                }
            }
            let mut due: Vec<(&(String, String), &Open)> = open
                .iter()
                .filter(|(_, o)| !o.running && o.start_ms <= now)
                .collect();
            due.sort_by_key(|(_, o)| o.start_ms);
            let mut starting = Vec::new();
            for (key, o) in due {
                if o.kind != TaskKind::Broadcast && !o.started {
                    let used = slots.entry(key.0.clone()).or_default();
                    if *used >= self.config.max_running {
                        continue;
                    }
                    *used += 1;
                }
                starting.push(key.clone());
            }
            for key in starting {
                let (tx, rx) = watch::channel(false);
                if let Some(o) = open.get_mut(&key) {
                    o.running = true;
                    o.started = true;
                    o.cancel = Some(tx);
                }
                to_start.push((key, rx));
            }
        }
        for ((app, id), cancelled) in to_start {
            let runner = self.clone();
            tokio::spawn(async move {
                runner.run(&app, &id, cancelled).await;
                // Done here: the task ended, or the rest is held by other replicas; on a shared store the
                // next poll takes it in again while it has not ended. One waiting for a slot stays.
                {
                    let key = (app, id);
                    let mut open = runner.lock();
                    let waits = open
                        .get_mut(&key)
                        .is_some_and(|o| std::mem::take(&mut o.waiting));
                    if !waits {
                        open.remove(&key);
                    }
                }
                runner.wake.notify_one();
            });
        }
    }

    /// Runs one task with the other replicas until every page is cut and claimed (or it is cancelled): starts
    /// it when it is still scheduled, then claims pages (cut next, or taken over from a gone holder), pushes
    /// and records each in turn.
    async fn run(&self, app: &str, id: &str, mut cancelled: watch::Receiver<bool>) {
        // Every store call of a run waits while the store is unavailable: a database restarting is no
        // reason for a task to fail, or to be forgotten by the scheduler until the server restarts.
        // Started here, or by another replica (which this one joins).
        let task = match self.begin(app, id).await {
            Ok(Some(t)) if running(&t) => t,
            Ok(Some(t)) if TaskState::try_from(t.state) == Ok(TaskState::Scheduled) => {
                // No running slot for it now: it stays scheduled here for a later turn.
                self.wait_for_slot(app, id);
                return;
            }
            Ok(_) => return,
            Err(e) => {
                tracing::error!(app, task = id, error = %e, "cannot start a task");
                return;
            }
        };
        let stored = MessageSource::Stored(task.message_id.clone());
        let loaded = until_available("read a task's message", || async {
            match self.pusher.load_message(app, stored.clone()).await {
                Err(MessageError::Store(e)) => Err(e),
                other => Ok(other),
            }
        })
        .await;
        let message = match loaded.map_err(MessageError::Store).and_then(|m| m) {
            Ok(m) => Arc::new(m),
            Err(MessageError::UnknownMessage(_)) => {
                self.finish(
                    app,
                    id,
                    TaskState::Failed,
                    "its stored message no longer exists",
                )
                .await;
                return;
            }
            Err(e) => {
                self.finish(app, id, TaskState::Failed, &e.to_string())
                    .await;
                return;
            }
        };
        loop {
            if *cancelled.borrow() {
                return;
            }
            let (task, epoch, users) = match self.claim(app, id).await {
                Ok(Claim::Page(task, epoch, users)) => (task, epoch, users),
                // The rest is held by live replicas, or the task ended: the scheduler looks again later.
                Ok(Claim::Wait | Claim::Ended) => return,
                Err(e) => {
                    self.finish(app, id, TaskState::Failed, &e.to_string())
                        .await;
                    return;
                }
            };
            let pushes: Vec<UserPush> = users
                .iter()
                .map(|user| UserPush {
                    app: app.to_owned(),
                    user: user.clone(),
                    strategy: Strategy::try_from(task.strategy).unwrap_or(Strategy::Unspecified),
                    message: message.clone(),
                    message_id: task.message_id.clone(),
                    accepted_ms: task.start_ms,
                    task_id: id.to_owned(),
                })
                .collect();
            // The page is this replica's until recorded or released: pushed again here until it goes out.
            let (outcomes, events) = loop {
                let progress = Progress::default();
                self.show_page(app, id, Some((epoch, progress.clone())));
                let page = tokio::select! {
                    page = self.pusher.push_many(pushes.clone(), &progress) => Some(page),
                    _ = cancelled.wait_for(|c| *c) => None,
                };
                let Some(page) = page else {
                    // Cancelled, or this replica stops: the page goes back unrecorded, for another replica
                    // to push at once if the task still runs.
                    self.show_page(app, id, None);
                    self.release(app, id, epoch).await;
                    return;
                };
                self.show_page(app, id, None);
                match page {
                    Ok(page) => break page,
                    Err(e) => {
                        tracing::warn!(app, task = id, error = %e, "a task page failed; trying again");
                        if matches!(e, PushError::Store(_) | PushError::Channel(_)) {
                            tokio::time::sleep(PAGE_RETRY).await;
                        }
                        let stop = *cancelled.borrow();
                        if stop {
                            self.release(app, id, epoch).await;
                            return;
                        }
                    }
                }
            };
            let mut done = PageDone {
                users: users.len() as u64,
                grows: task.kind != TaskKind::List as i32,
                counts: BTreeMap::new(),
            };
            for o in outcomes.iter().flatten() {
                stats::count(&mut done.counts, o);
            }
            count_page(task.kind, &outcomes);
            let me = self.membership.holder();
            // Durable once it returns, the page's counters with its events, and the claim gone with them:
            // a crash before repeats at most this page (its claim is taken over), and a page sent again is
            // never logged twice. A lost answer is tried again and declined: the claim is gone already.
            let record = |t: &TaskRecord| pages::record(t, epoch, &me, &done, now_ms());
            let recorded = until_available("record a task page", || {
                self.store
                    .tasks
                    .record_page(app, id, &record, events.clone())
            })
            .await;
            match recorded {
                Ok(PageRecord::Recorded(t, stored)) => {
                    self.pusher.announce_events(app, stored);
                    if !running(&t) {
                        return;
                    }
                }
                Ok(PageRecord::Declined(t)) => {
                    if !t.pages.iter().any(|p| p.epoch == epoch) {
                        tracing::debug!(
                            app,
                            task = id,
                            epoch,
                            "a task page was recorded by an earlier try"
                        );
                    } else {
                        tracing::warn!(
                            app,
                            task = id,
                            epoch,
                            "a task page was taken over by another replica; its record is refused"
                        );
                    }
                    if !running(&t) {
                        return;
                    }
                }
                Ok(PageRecord::Missing) => return,
                Err(e) => {
                    tracing::error!(app, task = id, error = %e, "cannot record a task page; releasing it to be sent again");
                    self.release(app, id, epoch).await;
                    tokio::time::sleep(PAGE_RETRY).await;
                }
            }
        }
    }

    /// Starts the task if it is still scheduled; answers it as it is then (`None`: gone). A label or list
    /// task takes one of its app's running slots: the count of those running and the start are one step for
    /// the whole deployment, under the app's lease `task-slots/<app>` (a replica that cannot have it now
    /// leaves the task scheduled, for the next turn).
    async fn begin(&self, app: &str, id: &str) -> Result<Option<TaskRecord>, StoreError> {
        let begin = |t: &TaskRecord| {
            (TaskState::try_from(t.state) == Ok(TaskState::Scheduled)).then(|| TaskRecord {
                state: TaskState::Running as i32,
                run_ms: now_ms(),
                update_ms: now_ms(),
                ..t.clone()
            })
        };
        let task = until_available("read a task", || self.store.tasks.get_task(app, id)).await?;
        let Some(task) = task else {
            return Ok(None);
        };
        if TaskState::try_from(task.state) != Ok(TaskState::Scheduled) {
            return Ok(Some(task));
        }
        if task.kind == TaskKind::Broadcast as i32 {
            return until_available("start a task", || {
                self.store.tasks.update_task(app, id, &begin)
            })
            .await;
        }
        let leases = self.membership.leases();
        let Some(slots) = leases.try_hold(&format!("task-slots/{app}")).await? else {
            return Ok(Some(task));
        };
        let open = until_available("count running tasks", || self.store.tasks.open_tasks()).await;
        let started = match open {
            Ok(open) => {
                let running_here = open
                    .iter()
                    .filter(|(a, t)| a == app && t.kind != TaskKind::Broadcast as i32 && running(t))
                    .count();
                if running_here >= self.config.max_running {
                    Ok(Some(task))
                } else {
                    until_available("start a task", || {
                        self.store.tasks.update_task(app, id, &begin)
                    })
                    .await
                }
            }
            Err(e) => Err(e),
        };
        slots.release().await;
        started
    }

    /// The next page of the task for this replica: one whose holder is gone, else the next one cut. An error
    /// is a page the store could not read `PAGE_TRIES` times, which fails the task.
    async fn claim(&self, app: &str, id: &str) -> Result<Claim, StoreError> {
        let me = self.membership.holder();
        loop {
            let task =
                until_available("read a task", || self.store.tasks.get_task(app, id)).await?;
            let Some(task) = task.filter(running) else {
                return Ok(Claim::Ended);
            };
            let gone = task
                .pages
                .iter()
                .find(|p| !self.membership.is_live(&p.holder, p.holder_started_ms))
                .cloned();
            if let Some(gone) = gone {
                let take = |t: &TaskRecord| pages::take_over(t, gone.epoch, &gone, &me);
                let updated = until_available("take over a task page", || {
                    self.store.tasks.update_task(app, id, &take)
                })
                .await?;
                let taken = updated.as_ref().and_then(|t| {
                    let page = pages::mine(t, t.claims, &me)?;
                    (page.after == gone.after && page.from_start == gone.from_start)
                        .then(|| page.clone())
                });
                if let (Some(t), Some(page)) = (updated, taken) {
                    let after = (!page.from_start).then_some(page.after.as_str());
                    let mut users = self.read_page(app, &t, after).await?;
                    // The page's users as they are now, up to its last user: a user added or removed
                    // since the cut moves the bound, never into the next page.
                    users.retain(|u| *u <= page.last);
                    tracing::info!(app, task = id, epoch = page.epoch, holder = %gone.holder, "took over a task page whose replica is gone");
                    return Ok(Claim::Page(Box::new(t), page.epoch, users));
                }
                continue;
            }
            if task.fan_out_cut {
                return Ok(Claim::Wait);
            }
            let from = Frontier::of(&task);
            let users = self.read_page(app, &task, from.after()).await?;
            let Some(last) = users.last().cloned() else {
                let end = |t: &TaskRecord| pages::cut_to_the_end(t, &from, now_ms());
                until_available("end a task's fan-out", || {
                    self.store.tasks.update_task(app, id, &end)
                })
                .await?;
                continue;
            };
            let n = users.len() as u64;
            let cut = |t: &TaskRecord| pages::cut(t, &from, &last, n, &me);
            let updated = until_available("claim a task page", || {
                self.store.tasks.update_task(app, id, &cut)
            })
            .await?;
            if let Some(t) = updated
                && let Some(page) = pages::mine(&t, t.claims, &me)
                && page.last == last
            {
                let epoch = page.epoch;
                return Ok(Claim::Page(Box::new(t), epoch, users));
            }
            // Another replica cut this page first: read the next one.
        }
    }

    /// Reads the page of the task's users after `after`, trying a failing read `PAGE_TRIES` times.
    async fn read_page(
        &self,
        app: &str,
        task: &TaskRecord,
        after: Option<&str>,
    ) -> Result<Vec<String>, StoreError> {
        let mut tries = 0;
        loop {
            let users =
                until_available("read a task page", || self.next_users(app, task, after)).await;
            match users {
                Ok(users) => return Ok(users),
                Err(e) if tries + 1 < PAGE_TRIES => {
                    tries += 1;
                    tracing::warn!(app, task = %task.id, error = %e, "cannot read a task page; trying again");
                    tokio::time::sleep(PAGE_RETRY).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Gives this replica's page `epoch` up unrecorded, for any replica (this one too) to push again at
    /// once.
    async fn release(&self, app: &str, id: &str, epoch: u64) {
        let me = self.membership.holder();
        let release = |t: &TaskRecord| pages::release(t, epoch, &me);
        let released = until_available("release a task page", || {
            self.store.tasks.update_task(app, id, &release)
        })
        .await;
        if let Err(e) = released {
            tracing::error!(app, task = id, error = %e, "cannot release a task page; it is taken over once this replica is gone");
        }
    }

    /// The next page of the task's users after `after`.
    async fn next_users(
        &self,
        app: &str,
        task: &TaskRecord,
        after: Option<&str>,
    ) -> Result<Vec<String>, StoreError> {
        let limit = self.config.page_users;
        match TaskKind::try_from(task.kind) {
            Ok(TaskKind::List) => {
                self.store
                    .tasks
                    .list_task_users(app, &task.id, after, limit)
                    .await
            }
            Ok(TaskKind::Label) => {
                let all = task.label_match == LabelMatch::All as i32 && task.labels.len() > 1;
                let mut users = Vec::with_capacity(limit);
                let mut cursor = after.map(str::to_owned);
                // ALL: users of any label, kept when they belong to every one; pages until full or done.
                loop {
                    let page = self
                        .store
                        .labels
                        .users_of_labels(app, &task.labels, cursor.as_deref(), limit)
                        .await?;
                    let Some(last) = page.last().cloned() else {
                        break;
                    };
                    for user in page {
                        if all {
                            let mine = self.store.labels.labels_of_user(app, &user).await?;
                            if !task.labels.iter().all(|l| mine.contains(l)) {
                                continue;
                            }
                        }
                        users.push(user);
                    }
                    cursor = Some(last);
                    if users.len() >= limit || !all {
                        break;
                    }
                }
                Ok(users)
            }
            _ => self.store.bindings.app_users(app, after, limit).await,
        }
    }

    /// Ends a task with `state` unless it ended already.
    async fn finish(&self, app: &str, id: &str, state: TaskState, error: &str) {
        let end = |t: &TaskRecord| {
            (!stats::ended(t.state)).then(|| TaskRecord {
                state: state as i32,
                end_ms: now_ms(),
                update_ms: now_ms(),
                error: error.to_owned(),
                ..t.clone()
            })
        };
        let result =
            until_available("end a task", || self.store.tasks.update_task(app, id, &end)).await;
        if let Err(e) = result {
            tracing::error!(app, task = id, error = %e, "cannot end a task");
        }
    }
}
/// Whether the task is running.
fn running(task: &TaskRecord) -> bool {
    TaskState::try_from(task.state) == Ok(TaskState::Running)
}

/// Counts a finished page's device outcomes in the `pushgate.task.devices` metric.
fn count_page(kind: i32, outcomes: &[Vec<crate::push::DeviceOutcome>]) {
    use crate::proto::v1::DeliveryStatus;
    let kind = match TaskKind::try_from(kind) {
        Ok(TaskKind::Broadcast) => "broadcast",
        Ok(TaskKind::Label) => "label",
        Ok(TaskKind::List) => "list",
        _ => "unknown",
    };
    let mut by_status = [0u64; 3];
    for o in outcomes.iter().flatten() {
        by_status[match o.status {
            DeliveryStatus::Success => 0,
            DeliveryStatus::Error => 2,
            _ => 1,
        }] += 1;
    }
    let devices = &crate::telemetry::metrics::metrics().task_devices;
    for (status, n) in ["success", "fail", "error"].into_iter().zip(by_status) {
        if n > 0 {
            devices.add(
                n,
                &[
                    opentelemetry::KeyValue::new("kind", kind),
                    opentelemetry::KeyValue::new("status", status),
                ],
            );
        }
    }
}
