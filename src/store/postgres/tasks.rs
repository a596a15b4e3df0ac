//! PostgreSQL implementation of [`TaskRepository`].
//!
//! `tasks` holds each task's record beside the columns the admission counts, the open tasks and the removal
//! of ended ones select by (kind, whether it ended, its times); `task_users` the users of list tasks. The
//! columns are written from the record by every statement that writes it.

use async_trait::async_trait;
use prost::Message;
use tokio_postgres::Row;

use super::PgStore;
use super::sql::{decode, lock_keys, lower_bound, sql_limit};
use crate::{
    proto::v1::{DeliveryEvent, StoredMessage, TaskKind, TaskState},
    store::{
        Admission, PageRecord, StoreError, TaskChange, TaskLimits, TaskRecord, TaskRepository,
    },
};

fn task_key(app: &str, id: &str) -> String {
    format!("tasks/{app}/{id}")
}

/// Whether the task reached a final state.
pub(super) fn ended(t: &TaskRecord) -> bool {
    matches!(
        TaskState::try_from(t.state),
        Ok(TaskState::Completed | TaskState::Cancelled | TaskState::Failed)
    )
}

const BROADCAST: i32 = TaskKind::Broadcast as i32;

/// The task of a row `record, app, id`.
fn task_of(row: &Row) -> Result<TaskRecord, StoreError> {
    decode(row.get(0), || task_key(row.get(1), row.get(2)))
}

/// Writes `task` under (app, its id) with its columns, replacing a task stored under the same id.
async fn put_task(
    tx: &deadpool_postgres::Transaction<'_>,
    app: &str,
    task: &TaskRecord,
) -> Result<(), StoreError> {
    let statement = tx
        .prepare_cached(
            "INSERT INTO tasks (app, id, kind, ended, create_ms, start_ms, end_ms, record)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (app, id) DO UPDATE SET
                 kind = EXCLUDED.kind, ended = EXCLUDED.ended, create_ms = EXCLUDED.create_ms,
                 start_ms = EXCLUDED.start_ms, end_ms = EXCLUDED.end_ms, record = EXCLUDED.record",
        )
        .await?;
    tx.execute(
        &statement,
        &[
            &app,
            &task.id,
            &task.kind,
            &ended(task),
            &task.create_ms,
            &task.start_ms,
            &task.end_ms,
            &task.encode_to_vec(),
        ],
    )
    .await?;
    Ok(())
}

/// The task, its row locked until the transaction ends (None when it does not exist).
async fn lock_task(
    tx: &deadpool_postgres::Transaction<'_>,
    app: &str,
    id: &str,
) -> Result<Option<TaskRecord>, StoreError> {
    let statement = tx
        .prepare_cached("SELECT record, app, id FROM tasks WHERE app = $1 AND id = $2 FOR UPDATE")
        .await?;
    tx.query_opt(&statement, &[&app, &id])
        .await?
        .map(|row| task_of(&row))
        .transpose()
}

/// Writes `next` over the stored task (app, id), with its columns.
async fn write_task(
    tx: &deadpool_postgres::Transaction<'_>,
    app: &str,
    id: &str,
    next: &TaskRecord,
) -> Result<(), StoreError> {
    let statement = tx
        .prepare_cached(
            "UPDATE tasks SET kind = $3, ended = $4, create_ms = $5, start_ms = $6, end_ms = $7,
                 record = $8
             WHERE app = $1 AND id = $2",
        )
        .await?;
    tx.execute(
        &statement,
        &[
            &app,
            &id,
            &next.kind,
            &ended(next),
            &next.create_ms,
            &next.start_ms,
            &next.end_ms,
            &next.encode_to_vec(),
        ],
    )
    .await?;
    Ok(())
}

/// Whether the app's stored tasks leave room for `task` under `limits` (`Admitted` when they do), counted
/// as sled counts them; the caller holds the app's admission lock.
async fn refusal(
    tx: &deadpool_postgres::Transaction<'_>,
    app: &str,
    limits: &TaskLimits,
    task: &TaskRecord,
) -> Result<Admission, StoreError> {
    if task.kind == BROADCAST {
        broadcast_refusal(tx, app, limits).await
    } else if task.start_ms > limits.now_ms {
        // Scheduled for later: it counts once it is due, and is not checked now.
        Ok(Admission::Admitted)
    } else {
        running_refusal(tx, app, limits).await
    }
}

/// `TooManyBroadcasts` when the window holds `max_broadcasts` broadcasts.
async fn broadcast_refusal(
    tx: &deadpool_postgres::Transaction<'_>,
    app: &str,
    limits: &TaskLimits,
) -> Result<Admission, StoreError> {
    let statement = tx
        .prepare_cached(
            "SELECT create_ms FROM tasks
             WHERE app = $1 AND kind = $2 AND create_ms > $3
             ORDER BY create_ms",
        )
        .await?;
    let window_start = limits.now_ms.saturating_sub(limits.window_ms);
    let in_window: Vec<i64> = tx
        .query(&statement, &[&app, &BROADCAST, &window_start])
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    if in_window.len() < limits.max_broadcasts {
        return Ok(Admission::Admitted);
    }
    // The slot frees when the oldest broadcast that still counts leaves the window. (With a limit of 0 no
    // slot ever frees; the window's end is as good an answer as any.)
    let frees_ms = in_window
        .len()
        .checked_sub(limits.max_broadcasts.max(1))
        .map_or(limits.now_ms, |oldest| in_window[oldest])
        .saturating_add(limits.window_ms);
    Ok(Admission::TooManyBroadcasts { frees_ms })
}

/// `TooManyRunning` when `max_running` label and list tasks are due and have not ended.
async fn running_refusal(
    tx: &deadpool_postgres::Transaction<'_>,
    app: &str,
    limits: &TaskLimits,
) -> Result<Admission, StoreError> {
    let statement = tx
        .prepare_cached(
            "SELECT count(*) FROM tasks
             WHERE app = $1 AND NOT ended AND kind <> $2 AND start_ms <= $3",
        )
        .await?;
    let running: i64 = tx
        .query_one(&statement, &[&app, &BROADCAST, &limits.now_ms])
        .await?
        .get(0);
    if running >= sql_limit(limits.max_running) {
        Ok(Admission::TooManyRunning)
    } else {
        Ok(Admission::Admitted)
    }
}

#[async_trait]
impl TaskRepository for PgStore {
    /// Admissions of one app take turns on a transaction-scoped advisory lock of the app's tasks, held from
    /// the count to the commit of the inserts, so two processes admitting tasks for the app cannot both
    /// take its last slot. The message, the users and the task are written in the same transaction.
    async fn admit_task(
        &self,
        app: &str,
        limits: &TaskLimits,
        task: &TaskRecord,
        users: &[String],
        message: Option<&StoredMessage>,
    ) -> Result<Admission, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        lock_keys(&tx, &[format!("tasks {app}")]).await?;
        let refused = refusal(&tx, app, limits, task).await?;
        if refused != Admission::Admitted {
            return Ok(refused);
        }
        if let Some(message) = message {
            let statement = tx
                .prepare_cached(
                    "INSERT INTO messages (app, id, record) VALUES ($1, $2, $3)
                     ON CONFLICT (app, id) DO UPDATE SET record = EXCLUDED.record",
                )
                .await?;
            tx.execute(&statement, &[&app, &message.id, &message.encode_to_vec()])
                .await?;
        }
        if !users.is_empty() {
            let statement = tx
                .prepare_cached(
                    "INSERT INTO task_users (app, task, user_id)
                     SELECT $1, $2, user_id FROM unnest($3::text[]) AS user_id
                     ON CONFLICT DO NOTHING",
                )
                .await?;
            tx.execute(&statement, &[&app, &task.id, &users]).await?;
        }
        put_task(&tx, app, task).await?;
        tx.commit().await?;
        Ok(Admission::Admitted)
    }

    /// One transaction: the task locked as `update_task` locks it, the change written, the events appended
    /// as `append_events` appends them (under the app's event head, taken after the task; a holder of a
    /// head never waits for a task). A missing task ends it with nothing written and no position taken.
    async fn record_page(
        &self,
        app: &str,
        id: &str,
        change: TaskChange<'_>,
        mut events: Vec<DeliveryEvent>,
    ) -> Result<PageRecord, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let Some(current) = lock_task(&tx, app, id).await? else {
            return Ok(PageRecord::Missing);
        };
        // Declined: the transaction ends without a write (dropped, it rolls back).
        let Some(next) = change(&current) else {
            return Ok(PageRecord::Declined(current));
        };
        write_task(&tx, app, id, &next).await?;
        super::events::append_in(&tx, app, &mut events).await?;
        tx.commit().await?;
        Ok(PageRecord::Recorded(next, events))
    }

    async fn get_task(&self, app: &str, id: &str) -> Result<Option<TaskRecord>, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached("SELECT record, app, id FROM tasks WHERE app = $1 AND id = $2")
            .await?;
        client
            .query_opt(&statement, &[&app, &id])
            .await?
            .map(|row| task_of(&row))
            .transpose()
    }

    /// The row is read `FOR UPDATE`: concurrent updates of the task, from any process, take turns, each
    /// applying its change to the record the one before committed. `change` runs once.
    async fn update_task(
        &self,
        app: &str,
        id: &str,
        change: TaskChange<'_>,
    ) -> Result<Option<TaskRecord>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let Some(current) = lock_task(&tx, app, id).await? else {
            return Ok(None);
        };
        let Some(next) = change(&current) else {
            return Ok(Some(current));
        };
        write_task(&tx, app, id, &next).await?;
        tx.commit().await?;
        Ok(Some(next))
    }

    async fn list_tasks(
        &self,
        app: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<TaskRecord>, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT record, app, id FROM tasks
                 WHERE app = $1 AND id >= $2
                 ORDER BY id
                 LIMIT $3",
            )
            .await?;
        let rows = client
            .query(&statement, &[&app, &lower_bound(after), &sql_limit(limit)])
            .await?;
        rows.iter().map(task_of).collect()
    }

    async fn open_tasks(&self) -> Result<Vec<(String, TaskRecord)>, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached("SELECT record, app, id FROM tasks WHERE NOT ended ORDER BY app, id")
            .await?;
        let rows = client.query(&statement, &[]).await?;
        rows.iter()
            .map(|row| Ok((row.get(1), task_of(row)?)))
            .collect()
    }

    async fn list_task_users(
        &self,
        app: &str,
        id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT user_id FROM task_users
                 WHERE app = $1 AND task = $2 AND user_id >= $3
                 ORDER BY user_id
                 LIMIT $4",
            )
            .await?;
        let rows = client
            .query(
                &statement,
                &[&app, &id, &lower_bound(after), &sql_limit(limit)],
            )
            .await?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    /// One statement: the tasks are picked and locked (`SKIP LOCKED`: one being updated now, or picked by
    /// another process's removal, waits for the next call), then go with their users.
    async fn delete_ended_tasks(
        &self,
        ended_before_ms: i64,
        limit: usize,
    ) -> Result<usize, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "WITH doomed AS (
                     SELECT app, id FROM tasks
                     WHERE ended AND end_ms < $1
                     ORDER BY end_ms
                     LIMIT $2
                     FOR UPDATE SKIP LOCKED
                 ), users AS (
                     DELETE FROM task_users
                     USING doomed
                     WHERE task_users.app = doomed.app AND task_users.task = doomed.id
                 ), removed AS (
                     DELETE FROM tasks
                     USING doomed
                     WHERE tasks.app = doomed.app AND tasks.id = doomed.id
                     RETURNING 1
                 )
                 SELECT count(*) FROM removed",
            )
            .await?;
        let removed: i64 = client
            .query_one(&statement, &[&ended_before_ms, &sql_limit(limit)])
            .await?
            .get(0);
        Ok(usize::try_from(removed).unwrap_or(0))
    }
}
