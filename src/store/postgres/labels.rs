//! PostgreSQL implementation of [`LabelRepository`].
//!
//! `labels` holds each label with its user count, `label_users` its memberships (keyed by label, with an
//! index by user for a user's labels). Every write of a label's memberships first takes the label's row
//! lock (several labels' in name order), then changes the count by what its own statement inserted or
//! deleted (`RETURNING`), in the same transaction: writers of one label take turns, across processes, and
//! the count stays exact. Taking the label first, before any membership row, is also what keeps two writers
//! from waiting for each other's membership rows and label rows in a cycle.

use std::collections::BTreeSet;

use async_trait::async_trait;
use prost::Message;
use tokio_postgres::Row;

use super::PgStore;
use super::sql::{decode, lock_keys, lower_bound, sql_limit};
use crate::store::{LabelRecord, LabelRepository, LabelUserRecord, StoreError};

fn label_key(app: &str, name: &str) -> String {
    format!("labels/{app}/{name}")
}

/// A label from a row `record, user_count, name`: the count is the column's, kept with the memberships.
fn label_of(app: &str, row: &Row) -> Result<LabelRecord, StoreError> {
    let key = || label_key(app, row.get(2));
    let mut label: LabelRecord = decode(row.get(0), key)?;
    label.user_count = count(row.get(1), key)?;
    Ok(label)
}

/// A count read from a bigint column, which is never negative.
fn count(value: i64, key: impl FnOnce() -> String) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt {
        key: key(),
        reason: format!("negative count {value}"),
    })
}

/// Each of `users` once, in user order: the rows a statement writes, in the order every writer takes them.
fn distinct(users: &[String]) -> Vec<&str> {
    users
        .iter()
        .map(String::as_str)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// Takes the label's row lock for a change of its memberships; `NotFound` without the label.
async fn lock_label(
    tx: &deadpool_postgres::Transaction<'_>,
    app: &str,
    label: &str,
) -> Result<(), StoreError> {
    let statement = tx
        .prepare_cached("SELECT 1 FROM labels WHERE app = $1 AND name = $2 FOR UPDATE")
        .await?;
    match tx.query_opt(&statement, &[&app, &label]).await? {
        Some(_) => Ok(()),
        None => Err(StoreError::NotFound(format!("label {label}"))),
    }
}

#[async_trait]
impl LabelRepository for PgStore {
    /// Creations of one app take turns on an advisory lock of the app's labels, so the count and the
    /// insert decide together.
    async fn create_label(
        &self,
        app: &str,
        label: LabelRecord,
        max_labels: usize,
    ) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        lock_keys(&tx, &[format!("labels {app}")]).await?;
        let insert = tx
            .prepare_cached(
                "INSERT INTO labels (app, name, user_count, record)
                 SELECT $1, $2, $3, $4
                 WHERE (SELECT count(*) FROM labels WHERE app = $1) < $5
                 ON CONFLICT (app, name) DO NOTHING",
            )
            .await?;
        let user_count = i64::try_from(label.user_count).map_err(|_| {
            StoreError::Backend(format!("user count {} too large", label.user_count))
        })?;
        let inserted = tx
            .execute(
                &insert,
                &[
                    &app,
                    &label.name,
                    &user_count,
                    &label.encode_to_vec(),
                    &sql_limit(max_labels),
                ],
            )
            .await?;
        if inserted == 1 {
            tx.commit().await?;
            return Ok(());
        }
        let exists = tx
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM labels WHERE app = $1 AND name = $2)")
            .await?;
        if tx.query_one(&exists, &[&app, &label.name]).await?.get(0) {
            Err(StoreError::AlreadyExists(format!("label {}", label.name)))
        } else {
            Err(StoreError::LimitReached {
                what: "labels",
                limit: max_labels,
            })
        }
    }

    async fn get_label(&self, app: &str, name: &str) -> Result<Option<LabelRecord>, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT record, user_count, name FROM labels WHERE app = $1 AND name = $2",
            )
            .await?;
        client
            .query_opt(&statement, &[&app, &name])
            .await?
            .map(|row| label_of(app, &row))
            .transpose()
    }

    async fn list_labels(
        &self,
        app: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<LabelRecord>, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT record, user_count, name FROM labels
                 WHERE app = $1 AND name >= $2
                 ORDER BY name
                 LIMIT $3",
            )
            .await?;
        let rows = client
            .query(&statement, &[&app, &lower_bound(after), &sql_limit(limit)])
            .await?;
        rows.iter().map(|row| label_of(app, row)).collect()
    }

    /// The label's row goes first: that waits for the writers that hold it, and the ones that come later
    /// find no label (`NotFound`) and write nothing; the memberships go in the next statement, which sees
    /// everything those before committed.
    async fn delete_label(&self, app: &str, name: &str) -> Result<Option<u64>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let label = tx
            .prepare_cached("DELETE FROM labels WHERE app = $1 AND name = $2")
            .await?;
        if tx.execute(&label, &[&app, &name]).await? == 0 {
            return Ok(None);
        }
        let members = tx
            .prepare_cached("DELETE FROM label_users WHERE app = $1 AND label = $2")
            .await?;
        let removed = tx.execute(&members, &[&app, &name]).await?;
        tx.commit().await?;
        Ok(Some(removed))
    }

    /// With the label locked, one statement inserts the new members and adds their number to the count; a
    /// count past `max_users` is `LimitReached` and rolls the inserts back.
    async fn add_label_users(
        &self,
        app: &str,
        label: &str,
        users: &[String],
        add_time_ms: i64,
        max_users: usize,
    ) -> Result<u64, StoreError> {
        let users = distinct(users);
        let records: Vec<Vec<u8>> = users
            .iter()
            .map(|user| {
                LabelUserRecord {
                    user: (*user).to_owned(),
                    add_time_ms,
                }
                .encode_to_vec()
            })
            .collect();
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        lock_label(&tx, app, label).await?;
        let statement = tx
            .prepare_cached(
                "WITH added AS (
                     INSERT INTO label_users (app, label, user_id, record)
                     SELECT $1, $2, new.user_id, new.record
                     FROM unnest($3::text[], $4::bytea[]) AS new (user_id, record)
                     ORDER BY new.user_id
                     ON CONFLICT (app, label, user_id) DO NOTHING
                     RETURNING 1
                 ), counted AS (SELECT count(*) AS n FROM added)
                 UPDATE labels SET user_count = user_count + counted.n
                 FROM counted
                 WHERE app = $1 AND name = $2
                 RETURNING user_count, counted.n",
            )
            .await?;
        let row = tx
            .query_one(&statement, &[&app, &label, &users, &records])
            .await?;
        let key = || label_key(app, label);
        let (user_count, added) = (count(row.get(0), key)?, count(row.get(1), key)?);
        // Checked after the fact because only the insert tells which users are new; dropping the
        // transaction undoes it, so a refused call adds no one.
        if added > 0 && user_count > u64::try_from(max_users).unwrap_or(u64::MAX) {
            return Err(StoreError::LimitReached {
                what: "label users",
                limit: max_users,
            });
        }
        tx.commit().await?;
        Ok(added)
    }

    /// With the label locked, one statement deletes the memberships and takes their number off the count.
    async fn remove_label_users(
        &self,
        app: &str,
        label: &str,
        users: &[String],
    ) -> Result<u64, StoreError> {
        let users = distinct(users);
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        lock_label(&tx, app, label).await?;
        let statement = tx
            .prepare_cached(
                "WITH removed AS (
                     DELETE FROM label_users
                     WHERE app = $1 AND label = $2 AND user_id = ANY($3)
                     RETURNING 1
                 ), counted AS (SELECT count(*) AS n FROM removed)
                 UPDATE labels SET user_count = greatest(user_count - counted.n, 0)
                 FROM counted
                 WHERE app = $1 AND name = $2
                 RETURNING counted.n",
            )
            .await?;
        let row = tx.query_one(&statement, &[&app, &label, &users]).await?;
        let removed = count(row.get(0), || label_key(app, label))?;
        tx.commit().await?;
        Ok(removed)
    }

    async fn get_label_user(
        &self,
        app: &str,
        label: &str,
        user: &str,
    ) -> Result<Option<LabelUserRecord>, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT record FROM label_users WHERE app = $1 AND label = $2 AND user_id = $3",
            )
            .await?;
        client
            .query_opt(&statement, &[&app, &label, &user])
            .await?
            .map(|row| decode(row.get(0), || format!("{}/{user}", label_key(app, label))))
            .transpose()
    }

    async fn list_label_users(
        &self,
        app: &str,
        label: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<LabelUserRecord>, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT record, user_id FROM label_users
                 WHERE app = $1 AND label = $2 AND user_id >= $3
                 ORDER BY user_id
                 LIMIT $4",
            )
            .await?;
        let rows = client
            .query(
                &statement,
                &[&app, &label, &lower_bound(after), &sql_limit(limit)],
            )
            .await?;
        rows.iter()
            .map(|row| {
                decode(row.get(0), || {
                    format!("{}/{}", label_key(app, label), row.get::<_, &str>(1))
                })
            })
            .collect()
    }

    /// The first `limit` users of the union are among the first `limit` of each label: each label gives
    /// that many from its primary key, and the page is the first `limit` distinct ones of those, so a page
    /// costs labels × `limit` index entries however large the labels are.
    async fn users_of_labels(
        &self,
        app: &str,
        labels: &[String],
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let labels = distinct(labels);
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT DISTINCT members.user_id
                 FROM unnest($2::text[]) AS wanted (label)
                 CROSS JOIN LATERAL (
                     SELECT user_id FROM label_users
                     WHERE app = $1 AND label = wanted.label AND user_id >= $3
                     ORDER BY user_id
                     LIMIT $4
                 ) AS members
                 ORDER BY members.user_id
                 LIMIT $4",
            )
            .await?;
        let rows = client
            .query(
                &statement,
                &[&app, &labels, &lower_bound(after), &sql_limit(limit)],
            )
            .await?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    async fn labels_of_user(&self, app: &str, user: &str) -> Result<Vec<String>, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT label FROM label_users WHERE app = $1 AND user_id = $2 ORDER BY label",
            )
            .await?;
        let rows = client.query(&statement, &[&app, &user]).await?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    /// The user's labels are locked first, in name order (as every writer of several labels takes them),
    /// then one statement deletes the user's memberships of those labels and takes one off each count. A
    /// membership added after the labels were read (an add that ran between the two statements) stays: it
    /// came after the deletion, and deleting it too would change a label this transaction has not locked.
    async fn delete_user(&self, app: &str, user: &str) -> Result<u64, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let lock = tx
            .prepare_cached(
                "SELECT name FROM labels
                 WHERE app = $1
                   AND name IN (SELECT label FROM label_users WHERE app = $1 AND user_id = $2)
                 ORDER BY name
                 FOR UPDATE",
            )
            .await?;
        let locked: Vec<String> = tx
            .query(&lock, &[&app, &user])
            .await?
            .iter()
            .map(|row| row.get(0))
            .collect();
        if locked.is_empty() {
            return Ok(0);
        }
        let statement = tx
            .prepare_cached(
                "WITH removed AS (
                     DELETE FROM label_users
                     WHERE app = $1 AND user_id = $2 AND label = ANY($3)
                     RETURNING label
                 ), counted AS (
                     UPDATE labels SET user_count = greatest(user_count - 1, 0)
                     FROM removed
                     WHERE labels.app = $1 AND labels.name = removed.label
                 )
                 SELECT count(*) FROM removed",
            )
            .await?;
        let row = tx.query_one(&statement, &[&app, &user, &locked]).await?;
        let removed = count(row.get(0), || format!("labels/{app}/*/{user}"))?;
        tx.commit().await?;
        Ok(removed)
    }

    async fn has_user(&self, app: &str, user: &str) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM label_users WHERE app = $1 AND user_id = $2)",
            )
            .await?;
        Ok(client.query_one(&statement, &[&app, &user]).await?.get(0))
    }
}
