//! sled implementation of [`TaskRepository`].

use std::ops::Bound;

use async_trait::async_trait;
use prost::Message;

use super::keys;
use super::{SledStore, decode};
use crate::{
    proto::v1::TaskState,
    store::{StoreError, TaskChange, TaskRecord, TaskRepository},
};

fn ended(t: &TaskRecord) -> bool {
    matches!(
        TaskState::try_from(t.state),
        Ok(TaskState::Completed | TaskState::Cancelled | TaskState::Failed)
    )
}

#[async_trait]
impl TaskRepository for SledStore {
    async fn create_task(
        &self,
        app: &str,
        task: &TaskRecord,
        users: &[String],
    ) -> Result<(), StoreError> {
        // Users first: a task is visible only once its users are all there.
        let mut batch = sled::Batch::default();
        for user in users {
            batch.insert(keys::task_user(app, &task.id, user), &[]);
        }
        self.tree(keys::TASK_USERS)?.apply_batch(batch)?;
        self.tree(keys::TASKS)?
            .insert(keys::task(app, &task.id), task.encode_to_vec())?;
        Ok(())
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
}
