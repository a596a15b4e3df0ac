//! Tasks: pushes to many users (every user of the app, the users of labels, a list of users) that run in the
//! background with Easemob's limits, survive restarts, and report progress.

mod config;
mod pages;
mod runner;
pub mod stats;

use std::{sync::Arc, time::Duration};

pub use config::TasksConfig;
pub use runner::Runner;

use crate::{
    clock::now_ms,
    cluster::Membership,
    proto::v1::{
        LabelMatch, PushMessage, StoredMessage, Strategy, TaskKind, TaskProgress, TaskState,
    },
    push::{MessageError, MessageSource, Pusher},
    store::{Admission, Store, StoreError, TaskLimits, TaskRecord},
    validate::Violations,
};

/// Why a task cannot be created or changed.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// A limit is reached.
    #[error("{description}")]
    Limit {
        /// Which limit.
        subject: &'static str,
        /// What it is and when a slot frees.
        description: String,
        /// When a slot frees, when known.
        retry_after: Option<Duration>,
    },
    /// No such task.
    #[error("task {0} not found")]
    NotFound(String),
    /// The task already ended.
    #[error("task {id} already ended ({state:?})")]
    Ended {
        /// The task.
        id: String,
        /// Its final state.
        state: TaskState,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Tasks read per store call while a filtered list fills its page.
const LIST_PAGE: usize = 100;

/// What a new task pushes, and to whom.
#[derive(Debug, Clone)]
pub struct NewTask {
    /// Kind.
    pub kind: TaskKind,
    /// Routing strategy.
    pub strategy: Strategy,
    /// What it pushes.
    pub message: MessageSource,
    /// Labels of a label task.
    pub labels: Vec<String>,
    /// How the labels combine.
    pub label_match: LabelMatch,
    /// Users of a list task, distinct.
    pub users: Vec<String>,
    /// When it is due; `None`: now.
    pub start_ms: Option<i64>,
}

/// TaskService's domain: creation with limits, reads, cancellation.
#[derive(Clone)]
pub struct Tasks {
    store: Store,
    pusher: Pusher,
    runner: Arc<Runner>,
    config: TasksConfig,
}

impl Tasks {
    /// Tasks over `store`, run by a scheduler started here (it resumes the tasks a stop or crash left, and
    /// shares their pages with the other replicas of `membership`).
    pub async fn start(
        store: Store,
        pusher: Pusher,
        config: TasksConfig,
        membership: Membership,
    ) -> Result<Self, StoreError> {
        let leases = membership.leases();
        let runner = Runner::new(store.clone(), pusher.clone(), config.clone(), membership).await?;
        runner.start();
        let tasks = Self {
            store,
            pusher,
            runner,
            config,
        };
        tokio::spawn(sweep_ended(tasks.clone(), leases));
        Ok(tasks)
    }

    /// Stops this replica's part of the running tasks for a server that stops (see [`Runner::drain`]).
    pub async fn drain(&self, within: Duration) {
        self.runner.drain(within).await;
    }

    /// The settings.
    pub fn config(&self) -> &TasksConfig {
        &self.config
    }

    /// Records a violation of `start_time` when `start_ms` is not in the future or lies past the furthest a
    /// task may be scheduled ahead (`tasks.max_schedule_ahead`).
    pub fn check_start(&self, start_ms: Option<i64>, now: i64, v: &mut Violations) {
        let Some(start) = start_ms else {
            return;
        };
        let ahead =
            i64::try_from(self.config.max_schedule_ahead.as_millis()).unwrap_or(i64::MAX / 2);
        if start <= now {
            v.add(
                "start_time",
                "must be in the future (leave it unset to start now)",
            );
        } else if start > now + ahead {
            v.add(
                "start_time",
                format!(
                    "must be at most {} days ahead",
                    self.config.max_schedule_ahead.as_secs() / 86_400
                ),
            );
        }
    }

    /// The message `source` names, with its template: what a task would push (see
    /// [`Pusher::resolve_message`]).
    pub async fn resolve_message(
        &self,
        app: &str,
        source: MessageSource,
    ) -> Result<PushMessage, MessageError> {
        self.pusher.resolve_message(app, source).await
    }

    /// The first of `labels` the app does not have, if any.
    pub async fn missing_label(
        &self,
        app: &str,
        labels: &[String],
    ) -> Result<Option<String>, TaskError> {
        for label in labels {
            if self.store.labels.get_label(app, label).await?.is_none() {
                return Ok(Some(label.clone()));
            }
        }
        Ok(None)
    }

    /// Up to `size` of the app's tasks after `after`, newest first, that `wanted` keeps, and whether more
    /// follow. The store is read on in pages until the page is full or the tasks run out.
    pub async fn list(
        &self,
        app: &str,
        after: Option<String>,
        size: usize,
        wanted: impl Fn(&TaskRecord) -> bool,
    ) -> Result<(Vec<TaskRecord>, bool), TaskError> {
        let mut tasks = Vec::with_capacity(size);
        let mut cursor = after;
        loop {
            let page = self
                .store
                .tasks
                .list_tasks(app, cursor.as_deref(), LIST_PAGE)
                .await?;
            let Some(last) = page.last() else {
                return Ok((tasks, false));
            };
            cursor = Some(last.id.clone());
            for t in page.into_iter().filter(|t| wanted(t)) {
                if tasks.len() == size {
                    return Ok((tasks, true));
                }
                tasks.push(t);
            }
        }
    }

    /// Creates a task within the limits (the store counts and inserts in one step: see
    /// [`TaskRepository::admit_task`](crate::store::TaskRepository::admit_task)).
    pub async fn create(&self, app: &str, new: NewTask) -> Result<TaskRecord, TaskError> {
        let now = now_ms();
        let start_ms = new.start_ms.unwrap_or(now).max(now);
        // Written with the task, so a refused create changes nothing.
        let (message_id, message) = match new.message {
            MessageSource::Stored(id) => (id, None),
            MessageSource::Inline(message) => {
                let stored = StoredMessage {
                    id: uuid::Uuid::new_v4().simple().to_string(),
                    message: Some(*message),
                    create_time: Some(crate::clock::timestamp(now)),
                };
                (stored.id.clone(), Some(stored))
            }
        };
        let task = TaskRecord {
            id: new_task_id(now),
            kind: new.kind as i32,
            state: TaskState::Scheduled as i32,
            strategy: new.strategy as i32,
            message_id,
            labels: new.labels,
            label_match: new.label_match as i32,
            list_size: new.users.len() as u32,
            create_ms: now,
            start_ms,
            users_total: new.users.len() as u64,
            update_ms: now,
            ..Default::default()
        };
        let limits = TaskLimits {
            now_ms: now,
            window_ms: i64::try_from(self.config.window.as_millis()).unwrap_or(i64::MAX / 2),
            max_broadcasts: self.config.max_created_per_window,
            max_running: self.config.max_running,
        };
        // Durable once admitted: a created task survives a crash (a scheduled one starts on time after a
        // restart).
        let admission = self
            .store
            .tasks
            .admit_task(app, &limits, &task, &new.users, message.as_ref())
            .await?;
        match admission {
            Admission::Admitted => {
                self.runner.add(app, &task);
                Ok(task)
            }
            Admission::TooManyBroadcasts { frees_ms } => {
                let wait = Duration::from_millis(u64::try_from(frees_ms - now).unwrap_or(0));
                Err(TaskError::Limit {
                    subject: "broadcast tasks created per window",
                    description: format!(
                        "at most {} broadcast tasks may be created per {}s; the next slot frees in {}s",
                        self.config.max_created_per_window,
                        self.config.window.as_secs(),
                        wait.as_secs().max(1)
                    ),
                    retry_after: Some(wait),
                })
            }
            Admission::TooManyRunning => Err(TaskError::Limit {
                subject: "running label and list tasks",
                description: format!(
                    "at most {} label and list tasks may run at once; a slot frees when one of them ends",
                    self.config.max_running
                ),
                retry_after: None,
            }),
        }
    }

    /// One task.
    pub async fn get(&self, app: &str, id: &str) -> Result<TaskRecord, TaskError> {
        self.store
            .tasks
            .get_task(app, id)
            .await?
            .ok_or_else(|| TaskError::NotFound(id.to_owned()))
    }

    /// A task's progress with the outcomes of the page it is pushing now, which its record counts only
    /// once the page is done.
    pub fn progress(&self, app: &str, task: &TaskRecord) -> TaskProgress {
        let mut progress = stats::progress(task);
        if let Some(page) = self.runner.unrecorded(app, task) {
            // A broadcast or label task learns its users a page at a time: the page in flight counts as known.
            if task.kind != TaskKind::List as i32 {
                progress.users_total += page.users;
            }
            progress.users_done = (progress.users_done + page.users_done).min(progress.users_total);
            progress.success_count += page.success;
            progress.fail_count += page.fail;
            progress.error_count += page.error;
        }
        progress
    }

    /// Cancels a scheduled or running task.
    pub async fn cancel(&self, app: &str, id: &str) -> Result<TaskRecord, TaskError> {
        let now = now_ms();
        let updated = self
            .store
            .tasks
            .update_task(app, id, &|t| {
                (!stats::ended(t.state)).then(|| TaskRecord {
                    state: TaskState::Cancelled as i32,
                    end_ms: now,
                    update_ms: now,
                    ..t.clone()
                })
            })
            .await?
            .ok_or_else(|| TaskError::NotFound(id.to_owned()))?;
        if updated.end_ms != now || updated.state != TaskState::Cancelled as i32 {
            return Err(TaskError::Ended {
                id: id.to_owned(),
                state: TaskState::try_from(updated.state).unwrap_or(TaskState::Unspecified),
            });
        }
        self.runner.cancel(app, id);
        Ok(updated)
    }
}

/// A task id: sorts newest first (the inverted creation time), then random.
fn new_task_id(now_ms: i64) -> String {
    let inverted = (1u64 << 48) - 1 - u64::try_from(now_ms).unwrap_or(0);
    format!("t{inverted:012x}{:06x}", rand::random::<u32>() & 0xff_ffff)
}

/// Removes ended tasks past the retention, a bounded number at a time, on one replica at a time.
async fn sweep_ended(tasks: Tasks, leases: crate::cluster::Leases) {
    let mut every = tokio::time::interval(Duration::from_secs(3600));
    let mut turn = crate::cluster::OneReplica::new("sweep/tasks");
    loop {
        every.tick().await;
        if !turn.mine(&leases).await {
            continue;
        }
        let keep = i64::try_from(tasks.config.retention.as_millis()).unwrap_or(i64::MAX / 2);
        if let Err(e) = tasks
            .store
            .tasks
            .delete_ended_tasks(now_ms() - keep, 10_000)
            .await
        {
            tracing::error!(error = %e, "cannot sweep ended tasks");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_newest_first() {
        let older = new_task_id(1_700_000_000_000);
        let newer = new_task_id(1_700_000_000_001);
        assert!(newer < older);
        assert_eq!(older.len(), 19);
    }
}
