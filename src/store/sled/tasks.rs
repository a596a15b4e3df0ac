//! sled implementation of [`TaskRepository`].

use std::ops::Bound;

use async_trait::async_trait;
use prost::Message;

use super::keys;
use super::{SledStore, decode, tx_decode};
use crate::{
    proto::v1::{DeliveryEvent, StoredMessage, TaskKind, TaskState},
    store::{
        Admission, PageRecord, StoreError, TaskChange, TaskLimits, TaskRecord, TaskRepository,
    },
};

impl SledStore {
    /// Whether the app's stored tasks leave room for `task` under `limits` (`Admitted` when they do).
    fn refusal(
        &self,
        app: &str,
        limits: &TaskLimits,
        task: &TaskRecord,
    ) -> Result<Admission, StoreError> {
        let broadcast = task.kind == TaskKind::Broadcast as i32;
        if !broadcast && task.start_ms > limits.now_ms {
            return Ok(Admission::Admitted);
        }
        let window_start = limits.now_ms - limits.window_ms;
        let mut in_window = Vec::new();
        let mut running = 0;
        // Ids sort newest first, so a broadcast's count stops at the first task created before the window;
        // a running task may be of any age.
        for entry in self.tree(keys::TASKS)?.scan_prefix(keys::app_prefix(app)) {
            let (key, value) = entry?;
            let t: TaskRecord = decode(&key, &value)?;
            if broadcast {
                if t.create_ms <= window_start {
                    break;
                }
                if t.kind == TaskKind::Broadcast as i32 {
                    in_window.push(t.create_ms);
                }
            } else if t.kind != TaskKind::Broadcast as i32
                && !ended(&t)
                && t.start_ms <= limits.now_ms
            {
                running += 1;
            }
        }
        if broadcast && in_window.len() >= limits.max_broadcasts {
            // The slot frees when the oldest broadcast that still counts leaves the window.
            // (With a limit of 0 no slot ever frees; the window's end is as good an answer as any.)
            in_window.sort_unstable();
            let frees_ms = in_window
                .len()
                .checked_sub(limits.max_broadcasts.max(1))
                .map_or(limits.now_ms, |oldest| in_window[oldest])
                + limits.window_ms;
            return Ok(Admission::TooManyBroadcasts { frees_ms });
        }
        if !broadcast && running >= limits.max_running {
            return Ok(Admission::TooManyRunning);
        }
        Ok(Admission::Admitted)
    }
}

fn ended(t: &TaskRecord) -> bool {
    matches!(
        TaskState::try_from(t.state),
        Ok(TaskState::Completed | TaskState::Cancelled | TaskState::Failed)
    )
}

#[async_trait]
impl TaskRepository for SledStore {
    async fn admit_task(
        &self,
        app: &str,
        limits: &TaskLimits,
        task: &TaskRecord,
        users: &[String],
        message: Option<&StoredMessage>,
    ) -> Result<Admission, StoreError> {
        let written: Result<_, StoreError> = async {
            // Admissions of every app take turns: counting and inserting must not interleave, and they are
            // rare next to sends.
            let _turn = self.limited_write()?;
            let refused = self.refusal(app, limits, task)?;
            if refused != Admission::Admitted {
                return Ok(refused);
            }
            if let Some(message) = message {
                self.tree(keys::MESSAGES)?
                    .insert(keys::message(app, &message.id), message.encode_to_vec())?;
            }
            // Users first: a task is visible only once its users are all there.
            let mut batch = sled::Batch::default();
            for user in users {
                batch.insert(keys::task_user(app, &task.id, user), &[]);
            }
            self.tree(keys::TASK_USERS)?.apply_batch(batch)?;
            self.tree(keys::TASKS)?
                .insert(keys::task(app, &task.id), task.encode_to_vec())?;
            Ok(Admission::Admitted)
        }
        .await;
        self.durably(written).await
    }

    async fn record_page(
        &self,
        app: &str,
        id: &str,
        change: TaskChange<'_>,
        mut events: Vec<DeliveryEvent>,
    ) -> Result<PageRecord, StoreError> {
        use sled::Transactional;
        let written: Result<_, StoreError> = async {
            // The event log's append lock, as `append_events` takes it: positions visible in order.
            let _in_order = self
                .event_appends
                .lock()
                .map_err(|_| StoreError::Backend("event append lock poisoned".into()))?;
            for event in &mut events {
                // Taken before the transaction: an id is never handed out twice, so a transaction that
                // does not commit leaves a gap, which positions allow (increasing, not contiguous).
                event.position = self.db.generate_id()? + 1;
            }
            let chunks: Vec<(Vec<u8>, Vec<u8>)> = super::events::chunks(&events)
                .into_iter()
                .map(|c| {
                    (
                        keys::event(app, c[0].position),
                        super::events::encode_chunk(c),
                    )
                })
                .collect();
            let key = keys::task(app, id);
            let tasks = self.tree(keys::TASKS)?;
            let log = self.tree(keys::EVENTS)?;
            // One transaction over both trees: the checkpoint and the page's events together or not at all.
            // A declined change writes nothing, its events included.
            let outcome = (&tasks, &log).transaction(|(tasks, log)| {
                let Some(bytes) = tasks.get(&key)? else {
                    return Ok(Err(None));
                };
                let current: TaskRecord = tx_decode(&key, &bytes)?;
                let Some(next) = change(&current) else {
                    return Ok(Err(Some(current)));
                };
                tasks.insert(key.as_slice(), next.encode_to_vec())?;
                for (chunk_key, chunk) in &chunks {
                    log.insert(chunk_key.as_slice(), chunk.as_slice())?;
                }
                Ok(Ok(next))
            })?;
            Ok(match outcome {
                Ok(task) => PageRecord::Recorded(task, events),
                Err(Some(task)) => PageRecord::Declined(task),
                Err(None) => PageRecord::Missing,
            })
        }
        .await;
        self.durably(written).await
    }

    async fn get_task(&self, app: &str, id: &str) -> Result<Option<TaskRecord>, StoreError> {
        let key = keys::task(app, id);
        self.tree(keys::TASKS)?
            .get(&key)?
            .map(|v| decode(&key, &v))
            .transpose()
    }

    async fn update_task(
        &self,
        app: &str,
        id: &str,
        change: TaskChange<'_>,
    ) -> Result<Option<TaskRecord>, StoreError> {
        let written: Result<_, StoreError> = async {
            let key = keys::task(app, id);
            let mut failure = None;
            let mut result = None;
            self.tree(keys::TASKS)?.fetch_and_update(&key, |old| {
                // sled retries this closure when a write raced it, so nothing may carry over a try.
                failure = None;
                result = None;
                let bytes = old?;
                match decode::<TaskRecord>(&key, bytes) {
                    Ok(current) => match change(&current) {
                        Some(next) => {
                            let encoded = next.encode_to_vec();
                            result = Some(next);
                            Some(encoded)
                        }
                        None => {
                            result = Some(current);
                            Some(bytes.to_vec())
                        }
                    },
                    Err(e) => {
                        failure = Some(e);
                        Some(bytes.to_vec())
                    }
                }
            })?;
            match failure {
                Some(e) => Err(e),
                None => Ok(result),
            }
        }
        .await;
        self.durably(written).await
    }

    async fn list_tasks(
        &self,
        app: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<TaskRecord>, StoreError> {
        let prefix = keys::app_prefix(app);
        let start = match after {
            Some(id) => Bound::Excluded(keys::task(app, id)),
            None => Bound::Included(prefix.clone()),
        };
        let mut out = Vec::new();
        for entry in self.tree(keys::TASKS)?.range((start, Bound::Unbounded)) {
            let (key, value) = entry?;
            if !key.starts_with(&prefix) || out.len() >= limit {
                break;
            }
            out.push(decode(&key, &value)?);
        }
        Ok(out)
    }

    async fn open_tasks(&self) -> Result<Vec<(String, TaskRecord)>, StoreError> {
        let mut out = Vec::new();
        for entry in self.tree(keys::TASKS)?.iter() {
            let (key, value) = entry?;
            let task: TaskRecord = decode(&key, &value)?;
            if !ended(&task) {
                let app = keys::app_of_key(&key).unwrap_or_default().to_owned();
                out.push((app, task));
            }
        }
        Ok(out)
    }

    async fn list_task_users(
        &self,
        app: &str,
        id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let prefix = keys::task_users_prefix(app, id);
        let start = match after {
            Some(user) => Bound::Excluded(keys::task_user(app, id, user)),
            None => Bound::Included(prefix.clone()),
        };
        let mut out = Vec::new();
        for entry in self
            .tree(keys::TASK_USERS)?
            .range((start, Bound::Unbounded))
        {
            let (key, _) = entry?;
            if !key.starts_with(&prefix) || out.len() >= limit {
                break;
            }
            out.push(String::from_utf8_lossy(&key[prefix.len()..]).into_owned());
        }
        Ok(out)
    }

    async fn delete_ended_tasks(
        &self,
        ended_before_ms: i64,
        limit: usize,
    ) -> Result<usize, StoreError> {
        let written: Result<_, StoreError> = async {
            let tasks = self.tree(keys::TASKS)?;
            let users = self.tree(keys::TASK_USERS)?;
            let mut removed = 0;
            for entry in tasks.iter() {
                let (key, value) = entry?;
                let task: TaskRecord = decode(&key, &value)?;
                if ended(&task) && task.end_ms < ended_before_ms {
                    let app = keys::app_of_key(&key).unwrap_or_default().to_owned();
                    for user in users
                        .scan_prefix(keys::task_users_prefix(&app, &task.id))
                        .keys()
                    {
                        users.remove(user?)?;
                    }
                    tasks.remove(&key)?;
                    removed += 1;
                    if removed >= limit {
                        break;
                    }
                }
            }
            Ok(removed)
        }
        .await;
        self.durably(written).await
    }
}
