//! Running tasks: a scheduler that starts due tasks (label and list tasks only while a running slot is
//! free), and the fan-out of one task in checkpointed pages.
//!
//! Each page is a bounded set of users; their pushes go out together (`Pusher::push_many`), and the page's
//! last user, counters, statistics and delivery events are written in one store call
//! (`TaskRepository::record_page`). After a crash a RUNNING task resumes
//! after its checkpoint, so only the users of the page in flight can be pushed twice.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::sync::{Notify, watch};

use super::{TasksConfig, stats};
use crate::{
    clock::now_ms,
    proto::v1::{LabelMatch, Strategy, TaskKind, TaskState},
    push::{MessageError, MessageSource, Progress, PushError, Pusher, UserPush},
    store::{Store, StoreError, TaskRecord, until_available},
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
    running: bool,
    /// Set to stop a running task.
    cancel: Option<watch::Sender<bool>>,
    /// The page being pushed: the task's `users_done` it started from, and its outcomes so far.
    page: Option<(u64, Progress)>,
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
    open: Mutex<BTreeMap<(String, String), Open>>,
    wake: Notify,
}

impl Runner {
    /// A runner over the tasks not ended in `store`; [`start`](Self::start) it once.
    pub async fn new(
        store: Store,
        pusher: Pusher,
        config: TasksConfig,
    ) -> Result<Arc<Self>, StoreError> {
        let mut open = BTreeMap::new();
        for (app, task) in store.tasks.open_tasks().await? {
            open.insert(
                (app, task.id.clone()),
                Open {
                    kind: TaskKind::try_from(task.kind).unwrap_or(TaskKind::Unspecified),
                    start_ms: task.start_ms,
                    running: false,
                    cancel: None,
                    page: None,
                },
            );
        }
        Ok(Arc::new(Self {
            store,
            pusher,
            config,
            open: Mutex::new(open),
            wake: Notify::new(),
        }))
    }

    /// Runs the scheduler for the life of the server.
    pub fn start(self: &Arc<Self>) {
        let runner = self.clone();
        tokio::spawn(async move {
            loop {
                runner.start_due();
                let _ = tokio::time::timeout(TICK, runner.wake.notified()).await;
            }
        });
    }

    /// Label and list tasks of `app` running now, or due and about to run (so that tasks created in a quick
    /// Takes a new task into account (it starts when due).
    pub fn add(&self, app: &str, task: &TaskRecord) {
        self.lock().insert(
            (app.to_owned(), task.id.clone()),
            Open {
                kind: TaskKind::try_from(task.kind).unwrap_or(TaskKind::Unspecified),
                start_ms: task.start_ms,
                running: false,
                cancel: None,
                page: None,
            },
        );
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

    /// What the page `task` is pushing now and has not recorded yet has settled, for its watchers; none when
    /// `task` already counts that page or no page is out.
    pub fn unrecorded(&self, app: &str, task: &TaskRecord) -> Option<Unrecorded> {
        let open = self.lock();
        let (from, progress) = open
            .get(&(app.to_owned(), task.id.clone()))?
            .page
            .as_ref()?;
        (*from == task.users_done).then(|| {
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

    /// Shows (or, with `None`, stops showing) the page a running task is pushing.
    fn show_page(&self, app: &str, id: &str, page: Option<(u64, Progress)>) {
        if let Some(open) = self.lock().get_mut(&(app.to_owned(), id.to_owned())) {
            open.page = page;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, String), Open>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts every due task that may start.
    fn start_due(self: &Arc<Self>) {
        let now = now_ms();
        let mut to_start = Vec::new();
        {
            let mut open = self.lock();
            let mut running: HashMap<String, usize> = HashMap::new();
            for ((app, _), o) in open.iter() {
                if o.running && o.kind != TaskKind::Broadcast {
                    *running.entry(app.clone()).or_default() += 1;
                }
            }
            let mut due: Vec<(&(String, String), &Open)> = open
                .iter()
                .filter(|(_, o)| !o.running && o.start_ms <= now)
                .collect();
            due.sort_by_key(|(_, o)| o.start_ms);
            let mut starting = Vec::new();
            for (key, o) in due {
                if o.kind != TaskKind::Broadcast {
                    let used = running.entry(key.0.clone()).or_default();
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
                    o.cancel = Some(tx);
                }
                to_start.push((key, rx));
            }
        }
        for ((app, id), cancelled) in to_start {
            let runner = self.clone();
            tokio::spawn(async move {
                runner.run(&app, &id, cancelled).await;
                runner.lock().remove(&(app, id));
                runner.wake.notify_one();
            });
        }
    }

    /// Fans one task out to its end (or cancellation).
    async fn run(&self, app: &str, id: &str, mut cancelled: watch::Receiver<bool>) {
        // Every store call of a run waits while the store is unavailable: a database restarting is no
        // reason for a task to fail, or to be forgotten by the scheduler until the server restarts.
        let started = until_available("start a task", || {
            self.store.tasks.update_task(app, id, &|t| {
                (TaskState::try_from(t.state) == Ok(TaskState::Scheduled)).then(|| TaskRecord {
                    state: TaskState::Running as i32,
                    run_ms: now_ms(),
                    update_ms: now_ms(),
                    ..t.clone()
                })
            })
        })
        .await;
        let task = match started {
            Ok(Some(t)) if TaskState::try_from(t.state) == Ok(TaskState::Running) => t,
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
        let mut task = task;
        loop {
            if *cancelled.borrow() {
                return;
            }
            let after = task.started_fan_out.then_some(task.checkpoint.as_str());
            let mut tries = 0;
            let users = loop {
                let users =
                    until_available("read a task page", || self.next_users(app, &task, after))
                        .await;
                match users {
                    Ok(users) => break users,
                    Err(e) if tries + 1 < PAGE_TRIES => {
                        tries += 1;
                        tracing::warn!(app, task = id, error = %e, "cannot read a task page; trying again");
                        tokio::time::sleep(PAGE_RETRY).await;
                    }
                    Err(e) => {
                        self.finish(app, id, TaskState::Failed, &e.to_string())
                            .await;
                        return;
                    }
                }
            };
            let Some(last) = users.last().cloned() else {
                self.finish(app, id, TaskState::Completed, "").await;
                return;
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
            let progress = Progress::default();
            self.show_page(app, id, Some((task.users_done, progress.clone())));
            let page = tokio::select! {
                page = self.pusher.push_many(pushes, &progress) => page,
                _ = cancelled.wait_for(|c| *c) => return,
            };
            let (outcomes, events) = match page {
                Ok(page) => page,
                Err(e) => {
                    self.show_page(app, id, None);
                    tracing::warn!(app, task = id, error = %e, "a task page failed; trying again");
                    if matches!(e, PushError::Store(_) | PushError::Channel(_)) {
                        tokio::time::sleep(PAGE_RETRY).await;
                    }
                    continue;
                }
            };
            let mut counts = BTreeMap::new();
            for o in outcomes.iter().flatten() {
                stats::count(&mut counts, o);
            }
            count_page(task.kind, &outcomes);
            let page_users = users.len() as u64;
            let grows = task.kind != TaskKind::List as i32;
            let recorded = self
                .store
                .tasks
                .record_page(
                    app,
                    id,
                    &|t| {
                        // Recorded already: an earlier try of this page committed and only its answer was
                        // lost (the connection broke at the commit). Counting it again would count its users
                        // twice.
                        if t.checkpoint != task.checkpoint
                            || t.started_fan_out != task.started_fan_out
                        {
                            return None;
                        }
                        let mut next = t.clone();
                        next.checkpoint = last.clone();
                        next.started_fan_out = true;
                        next.users_done += page_users;
                        if grows {
                            next.users_total += page_users;
                        }
                        for (k, v) in &counts {
                            *next.counts.entry(k.clone()).or_default() += v;
                        }
                        next.update_ms = now_ms();
                        Some(next)
                    },
                    events,
                )
                .await;
            // Durable once it returns, the checkpoint with the page's events: the next page goes out only
            // then, so a crash repeats at most this page, and a page sent again is never logged twice.
            // Recorded or not, the page's counts are no longer the runner's to show: recorded, the task counts
            // them; not, the page goes out again.
            self.show_page(app, id, None);
            let recorded = recorded.map(|(task, stored)| {
                self.pusher.announce_events(app, stored);
                task
            });
            match recorded {
                Ok(Some(t)) if TaskState::try_from(t.state) == Ok(TaskState::Running) => task = t,
                // Cancelled (or gone) meanwhile: the page is recorded, nothing more is sent.
                Ok(_) => return,
                Err(e) => {
                    tracing::error!(app, task = id, error = %e, "cannot record a task page; it will be sent again");
                    tokio::time::sleep(PAGE_RETRY).await;
                }
            }
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
