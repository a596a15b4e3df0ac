//! Tasks (TaskService): their records, with the fan-out's checkpoint and counters, and the users of list tasks.

use std::collections::BTreeMap;

use async_trait::async_trait;

use super::StoreError;
use crate::proto::v1::{DeliveryEvent, StoredMessage};

/// One task. Times are Unix milliseconds; enums hold `pushgate.v1` numbers.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TaskRecord {
    /// Server-assigned id; ids sort newest first.
    #[prost(string, tag = "1")]
    pub id: String,
    /// `TaskKind`.
    #[prost(int32, tag = "2")]
    pub kind: i32,
    /// `TaskState`.
    #[prost(int32, tag = "3")]
    pub state: i32,
    /// `Strategy`.
    #[prost(int32, tag = "4")]
    pub strategy: i32,
    /// The stored message it pushes (also the pushes' message id).
    #[prost(string, tag = "5")]
    pub message_id: String,
    /// Labels of a label task.
    #[prost(string, repeated, tag = "6")]
    pub labels: Vec<String>,
    /// `LabelMatch`.
    #[prost(int32, tag = "7")]
    pub label_match: i32,
    /// Users named by a list task.
    #[prost(uint32, tag = "8")]
    pub list_size: u32,
    /// Created.
    #[prost(int64, tag = "9")]
    pub create_ms: i64,
    /// Due.
    #[prost(int64, tag = "10")]
    pub start_ms: i64,
    /// Began running; 0 before.
    #[prost(int64, tag = "11")]
    pub run_ms: i64,
    /// Reached a final state; 0 before.
    #[prost(int64, tag = "12")]
    pub end_ms: i64,
    /// Why it failed.
    #[prost(string, tag = "13")]
    pub error: String,
    /// The last user of the last page cut from the fan-out; the next page starts after it. Pages cut and
    /// not recorded yet are in `pages`.
    #[prost(string, tag = "14")]
    pub checkpoint: String,
    /// Whether `checkpoint` is set (a user id may not be empty, but the first page has none).
    #[prost(bool, tag = "15")]
    pub started_fan_out: bool,
    /// Target users known so far.
    #[prost(uint64, tag = "16")]
    pub users_total: u64,
    /// Target users done.
    #[prost(uint64, tag = "17")]
    pub users_done: u64,
    /// Device outcomes by key (see `tasks::stats`): `s:<status>`, `c:<channel>:<status>`, `r:<reason>`,
    /// `v:<vendor>:<status>`.
    #[prost(btree_map = "string, uint64", tag = "18")]
    pub counts: BTreeMap<String, u64>,
    /// Last change of the counters or state.
    #[prost(int64, tag = "19")]
    pub update_ms: i64,
    /// Pages cut from the fan-out and claimed by a replica, not recorded yet (see `tasks::pages`).
    #[prost(message, repeated, tag = "20")]
    pub pages: Vec<TaskPage>,
    /// Claims made on this task's pages so far; each claim's epoch is the count after it, so a page
    /// claimed again always carries a higher epoch than before.
    #[prost(uint64, tag = "21")]
    pub claims: u64,
    /// Every target user is in a page cut: the last cut found none after `checkpoint`. The task completes
    /// when, besides, `pages` is empty.
    #[prost(bool, tag = "22")]
    pub fan_out_cut: bool,
}

/// A page of a task's fan-out, from its cut until its record: the users after `after` (from the first
/// user when `from_start`) up to and including `last`, pushed by the replica holding it.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TaskPage {
    /// The user the page starts after (`from_start`: none).
    #[prost(string, tag = "1")]
    pub after: String,
    /// The page starts at the first user.
    #[prost(bool, tag = "2")]
    pub from_start: bool,
    /// Its last user.
    #[prost(string, tag = "3")]
    pub last: String,
    /// Users in it when it was cut.
    #[prost(uint64, tag = "4")]
    pub users: u64,
    /// The replica holding it (`cluster.replica_id`); empty once released.
    #[prost(string, tag = "5")]
    pub holder: String,
    /// When that replica started: a restarted replica with the same id is another holder.
    #[prost(int64, tag = "6")]
    pub holder_started_ms: i64,
    /// The claim's epoch (the task's `claims` when it was made). The page is recorded only by a holder that
    /// names this epoch: a late write from a replica whose claim was taken over is refused.
    #[prost(uint64, tag = "7")]
    pub epoch: u64,
}

/// What [`TaskRepository::record_page`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum PageRecord {
    /// The change applied and the events were appended: the task after it and the events as stored.
    Recorded(TaskRecord, Vec<DeliveryEvent>),
    /// The change declined: nothing was written, the task as it is.
    Declined(TaskRecord),
    /// No such task: nothing was written.
    Missing,
}

/// A change applied to a stored task atomically; may run more than once when writes race, so it must be pure.
/// `None` leaves the record as it is.
pub type TaskChange<'a> = &'a (dyn Fn(&TaskRecord) -> Option<TaskRecord> + Send + Sync);

/// The limits a new task is admitted within (Easemob's task limits), checked by
/// [`TaskRepository::admit_task`] in the same step as the insert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskLimits {
    /// The time of the admission, Unix milliseconds.
    pub now_ms: i64,
    /// Broadcast tasks created less than this many milliseconds before `now_ms` count against
    /// `max_broadcasts`.
    pub window_ms: i64,
    /// At most this many broadcast tasks created per window.
    pub max_broadcasts: usize,
    /// At most this many label and list tasks running at once: one counts when it has not ended and is due
    /// (`start_ms <= now_ms`). A new one scheduled for later is not checked; it counts once it is due.
    pub max_running: usize,
}

/// What [`TaskRepository::admit_task`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// The task (with its users and message) is stored.
    Admitted,
    /// The window holds `max_broadcasts` broadcasts already; a slot frees at `frees_ms`, when the oldest
    /// one that still counts leaves the window. Nothing was written.
    TooManyBroadcasts {
        /// Unix milliseconds.
        frees_ms: i64,
    },
    /// `max_running` label and list tasks are due or running. Nothing was written.
    TooManyRunning,
}

/// Tasks of every app, keyed by app and task id, and the users of list tasks.
#[async_trait]
pub trait TaskRepository: Send + Sync {
    /// Stores a new task with, for a list task, its users and, when given, the message it pushes (stored
    /// under its id), if the app's tasks leave room under `limits`: the count and the insert are one atomic
    /// step, so two admissions racing for the last slot cannot both get it. A clustered backend must hold
    /// that across every process admitting tasks for the app (for example by serialising admissions per
    /// app in one transaction).
    async fn admit_task(
        &self,
        app: &str,
        limits: &TaskLimits,
        task: &TaskRecord,
        users: &[String],
        message: Option<&StoredMessage>,
    ) -> Result<Admission, StoreError>;
    /// One task.
    async fn get_task(&self, app: &str, id: &str) -> Result<Option<TaskRecord>, StoreError>;
    /// Records a page of a task's fan-out in one atomic, durable step: applies `change` to the task (its
    /// open pages and counters) and appends `events` to the app's event log, positioned as
    /// [`EventRepository::append_events`](super::EventRepository::append_events) positions them (in order,
    /// visible in order). When `change` declines (the page is no longer the caller's: recorded already, or
    /// claimed by another replica since), nothing is written, events included. A crash keeps both or
    /// neither, so a page sent again after one is never counted or logged twice. With several processes the
    /// change sees the record every earlier writer committed (the row locked, or compare-and-swap).
    async fn record_page(
        &self,
        app: &str,
        id: &str,
        change: TaskChange<'_>,
        events: Vec<DeliveryEvent>,
    ) -> Result<PageRecord, StoreError>;
    /// Applies `change` atomically; returns the record after it (`None` when the task does not exist).
    async fn update_task(
        &self,
        app: &str,
        id: &str,
        change: TaskChange<'_>,
    ) -> Result<Option<TaskRecord>, StoreError>;
    /// Up to `limit` tasks of the app after task id `after`, in id order. Callers choose ids that sort
    /// newest first (`tasks::new_task_id`), which `admit_task` relies on too when it counts a window.
    async fn list_tasks(
        &self,
        app: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<TaskRecord>, StoreError>;
    /// Every task of every app that has not ended, with its app: what the scheduler resumes at start.
    async fn open_tasks(&self) -> Result<Vec<(String, TaskRecord)>, StoreError>;
    /// Up to `limit` users of a list task in user id order, after `after`.
    async fn list_task_users(
        &self,
        app: &str,
        id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError>;
    /// Removes up to `limit` tasks (and their users) that ended before `ended_before_ms`; returns how many.
    async fn delete_ended_tasks(
        &self,
        ended_before_ms: i64,
        limit: usize,
    ) -> Result<usize, StoreError>;
}
