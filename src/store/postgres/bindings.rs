//! PostgreSQL implementation of [`BindingRepository`].
//!
//! One row per binding in `bindings`, keyed (app, user, device, notifier), with indexes by notifier, by
//! device (who owns it) and by token (who holds it). sled keeps the device owners and token holders in
//! index trees; here they are what the rows say, and `bind` keeps "a device belongs to one user" and "a
//! token is held once per notifier" true by locking what it decides about (see [`PgStore::bind`]).
//!
//! Page cursors are the last row's key columns in page order, joined by NUL (which no stored text holds).

use async_trait::async_trait;
use prost::Message;
use tokio_postgres::Row;

use super::PgStore;
use super::sql::{decode, lock_keys, lower_bound, sql_limit, sql_limit_and_one};
use crate::store::{
    BindEffect, BindOutcome, BindingCursor, BindingRecord, BindingRepository, StoreError,
};

/// A binding's key in messages.
fn binding_key(app: &str, user: &str, device: &str, notifier: &str) -> String {
    format!("bindings/{app}/{user}/{device}/{notifier}")
}

/// A row whose columns are `record, user_id, device_id, notifier, …`.
fn record_of(app: &str, row: &Row) -> Result<BindingRecord, StoreError> {
    decode(row.get(0), || {
        binding_key(app, row.get(1), row.get(2), row.get(3))
    })
}

/// Where a page continues: the lower bound (inclusive) of its key columns after `after`, a cursor of
/// `columns` key columns. A cursor this store did not make still gives a position, as sled's does.
fn resume_at(after: Option<&BindingCursor>, columns: usize) -> Vec<String> {
    let Some(after) = after else {
        return vec![String::new(); columns];
    };
    let text = String::from_utf8_lossy(after.as_bytes());
    let mut bound: Vec<String> = text.split('\0').take(columns).map(str::to_owned).collect();
    bound.resize(columns, String::new());
    // (a, …, z) > (a', …, z') is (a, …, z) >= (a', …, the text right after z').
    if let Some(last) = bound.last_mut() {
        *last = lower_bound(Some(last));
    }
    bound
}

/// The page of `rows` (fetched `limit` + 1 long; columns `record, user_id, device_id, notifier`) and, when
/// more follow, the cursor after its last binding: the key columns at `cursor_columns` of the last row.
fn page(
    app: &str,
    rows: &[Row],
    limit: usize,
    cursor_columns: &[usize],
) -> Result<(Vec<BindingRecord>, Option<BindingCursor>), StoreError> {
    let taken = &rows[..rows.len().min(limit)];
    let bindings = taken
        .iter()
        .map(|row| record_of(app, row))
        .collect::<Result<Vec<_>, _>>()?;
    let cursor = match taken.last() {
        Some(last) if rows.len() > limit => {
            let key: Vec<&str> = cursor_columns.iter().map(|&i| last.get(i)).collect();
            Some(BindingCursor::from_bytes(key.join("\0").into_bytes()))
        }
        _ => None,
    };
    Ok((bindings, cursor))
}

/// The rows `bind` found and locked: the device's bindings (whoever owns it) and the token's holder.
struct Found {
    /// The device's bindings, by notifier (all of one user).
    device: Vec<BindingRecord>,
    /// Other devices' bindings that hold the token under the same notifier (one at most while the store
    /// keeps its rule).
    holders: Vec<BindingRecord>,
}

impl PgStore {
    /// Locks and reads what binding `b` may change (see [`PgStore::bind`]).
    async fn lock_affected(
        tx: &deadpool_postgres::Transaction<'_>,
        app: &str,
        b: &BindingRecord,
    ) -> Result<Found, StoreError> {
        // Row locks in key order, one statement: the rows this bind may delete or update stay as read.
        let statement = tx
            .prepare_cached(
                "SELECT record, user_id, device_id, notifier FROM bindings
                 WHERE app = $1 AND (device_id = $2 OR (token = $4 AND notifier = $3))
                 ORDER BY user_id, device_id, notifier
                 FOR UPDATE",
            )
            .await?;
        let rows = tx
            .query(
                &statement,
                &[&app, &b.device_id, &b.notifier_name, &b.device_token],
            )
            .await?;
        let mut found = Found {
            device: Vec::new(),
            holders: Vec::new(),
        };
        for row in &rows {
            let record = record_of(app, row)?;
            if record.device_id == b.device_id {
                found.device.push(record);
            } else {
                found.holders.push(record);
            }
        }
        Ok(found)
    }

    /// Deletes `bindings` (rows this transaction has locked).
    async fn delete_bindings(
        tx: &deadpool_postgres::Transaction<'_>,
        app: &str,
        bindings: &[BindingRecord],
    ) -> Result<(), StoreError> {
        if bindings.is_empty() {
            return Ok(());
        }
        let column = |f: fn(&BindingRecord) -> &String| -> Vec<&str> {
            bindings.iter().map(|b| f(b).as_str()).collect()
        };
        let statement = tx
            .prepare_cached(
                "DELETE FROM bindings
                 WHERE app = $1
                   AND (user_id, device_id, notifier) IN
                       (SELECT * FROM unnest($2::text[], $3::text[], $4::text[]))",
            )
            .await?;
        tx.execute(
            &statement,
            &[
                &app,
                &column(|b| &b.user),
                &column(|b| &b.device_id),
                &column(|b| &b.notifier_name),
            ],
        )
        .await?;
        Ok(())
    }

    /// Inserts `b` unless its user holds `max_per_user` bindings already; returns whether it did.
    async fn insert_within_limit(
        tx: &deadpool_postgres::Transaction<'_>,
        app: &str,
        b: &BindingRecord,
        max_per_user: usize,
    ) -> Result<bool, StoreError> {
        let statement = tx
            .prepare_cached(
                "INSERT INTO bindings (app, user_id, device_id, notifier, token, record)
                 SELECT $1, $2, $3, $4, $5, $6
                 WHERE (SELECT count(*) FROM bindings WHERE app = $1 AND user_id = $2) < $7",
            )
            .await?;
        let inserted = tx
            .execute(
                &statement,
                &[
                    &app,
                    &b.user,
                    &b.device_id,
                    &b.notifier_name,
                    &b.device_token,
                    &b.encode_to_vec(),
                    &sql_limit(max_per_user),
                ],
            )
            .await?;
        Ok(inserted == 1)
    }

    /// Replaces the token (and record) of the existing binding `b`.
    async fn update_binding(
        tx: &deadpool_postgres::Transaction<'_>,
        app: &str,
        b: &BindingRecord,
    ) -> Result<(), StoreError> {
        let statement = tx
            .prepare_cached(
                "UPDATE bindings SET token = $5, record = $6
                 WHERE app = $1 AND user_id = $2 AND device_id = $3 AND notifier = $4",
            )
            .await?;
        tx.execute(
            &statement,
            &[
                &app,
                &b.user,
                &b.device_id,
                &b.notifier_name,
                &b.device_token,
                &b.encode_to_vec(),
            ],
        )
        .await?;
        Ok(())
    }
}

#[async_trait]
impl BindingRepository for PgStore {
    /// One transaction. It first takes advisory locks on the user (its count against the limit), the device
    /// (its owner) and the notifier's token (its holder): every bind that could add a binding of this user,
    /// of this device or with this token holds the same lock, so what is read next stays true until commit.
    /// Then it locks the rows it may remove or replace (`unbind` and `delete_user_bindings`, single
    /// statements that take no advisory lock, wait for them), and decides as sled does.
    async fn bind(
        &self,
        app: &str,
        binding: BindingRecord,
        max_per_user: usize,
    ) -> Result<BindOutcome, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        lock_keys(
            &tx,
            &[
                format!("bindings user {app} {}", binding.user),
                format!("bindings device {app} {}", binding.device_id),
                format!(
                    "bindings token {app} {} {}",
                    binding.notifier_name, binding.device_token
                ),
            ],
        )
        .await?;
        let found = Self::lock_affected(&tx, app, &binding).await?;

        let existing = found
            .device
            .iter()
            .find(|b| b.user == binding.user && b.notifier_name == binding.notifier_name);
        if existing.is_some_and(|e| e.device_token == binding.device_token) {
            // Nothing to write; dropping the transaction ends it.
            return Ok(BindOutcome {
                effect: BindEffect::Unchanged,
                removed: Vec::new(),
            });
        }
        let mut removed = Vec::new();
        let mut effect = match existing {
            Some(_) => BindEffect::Updated,
            None => BindEffect::Bound,
        };
        // The device is another user's: all of its bindings there go with it.
        if let Some(previous) = found.device.first().filter(|b| b.user != binding.user) {
            effect = BindEffect::Moved {
                previous_user: previous.user.clone(),
            };
            removed.extend(found.device.iter().cloned());
        }
        // A token identifies one app install: bound elsewhere under the same notifier, it moves here.
        removed.extend(found.holders);
        Self::delete_bindings(&tx, app, &removed).await?;

        let mut put = binding;
        match existing {
            Some(e) => {
                put.create_time_ms = e.create_time_ms;
                Self::update_binding(&tx, app, &put).await?;
            }
            // Counted after the deletes, so a binding of this user that the token leaves frees its place.
            None if !Self::insert_within_limit(&tx, app, &put, max_per_user).await? => {
                return Err(StoreError::LimitReached {
                    what: "bindings per user",
                    limit: max_per_user,
                });
            }
            None => {}
        }
        tx.commit().await?;
        Ok(BindOutcome { effect, removed })
    }

    /// One statement: a device's bindings are all of one user's, so those under `user` are the ones to go
    /// when the device is `user`'s, and there are none when it is not. The rows are locked in key order
    /// before they go, the order `bind` locks rows in, so the two never wait for each other in a cycle.
    async fn unbind(
        &self,
        app: &str,
        user: &str,
        device_id: &str,
        notifier: Option<&str>,
    ) -> Result<Vec<BindingRecord>, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "DELETE FROM bindings
                 WHERE app = $1 AND user_id = $2 AND device_id = $3
                   AND notifier IN (
                       SELECT notifier FROM bindings
                       WHERE app = $1 AND user_id = $2 AND device_id = $3
                         AND ($4::text IS NULL OR notifier = $4)
                       ORDER BY notifier
                       FOR UPDATE)
                 RETURNING record, user_id, device_id, notifier",
            )
            .await?;
        let rows = client
            .query(&statement, &[&app, &user, &device_id, &notifier])
            .await?;
        let mut removed = rows
            .iter()
            .map(|row| record_of(app, row))
            .collect::<Result<Vec<_>, _>>()?;
        removed.sort_by(|a, b| a.notifier_name.cmp(&b.notifier_name));
        Ok(removed)
    }

    async fn user_bindings(
        &self,
        app: &str,
        user: &str,
        after: Option<&BindingCursor>,
        limit: usize,
    ) -> Result<(Vec<BindingRecord>, Option<BindingCursor>), StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT record, user_id, device_id, notifier FROM bindings
                 WHERE app = $1 AND user_id = $2 AND (device_id, notifier) >= ($3, $4)
                 ORDER BY device_id, notifier
                 LIMIT $5",
            )
            .await?;
        let from = resume_at(after, 2);
        let rows = client
            .query(
                &statement,
                &[&app, &user, &from[0], &from[1], &sql_limit_and_one(limit)],
            )
            .await?;
        page(app, &rows, limit, &[2, 3])
    }

    async fn app_bindings(
        &self,
        app: &str,
        after: Option<&BindingCursor>,
        limit: usize,
    ) -> Result<(Vec<BindingRecord>, Option<BindingCursor>), StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT record, user_id, device_id, notifier FROM bindings
                 WHERE app = $1 AND (user_id, device_id, notifier) >= ($2, $3, $4)
                 ORDER BY user_id, device_id, notifier
                 LIMIT $5",
            )
            .await?;
        let from = resume_at(after, 3);
        let rows = client
            .query(
                &statement,
                &[
                    &app,
                    &from[0],
                    &from[1],
                    &from[2],
                    &sql_limit_and_one(limit),
                ],
            )
            .await?;
        page(app, &rows, limit, &[1, 2, 3])
    }

    async fn notifier_bindings(
        &self,
        app: &str,
        notifier: &str,
        after: Option<&BindingCursor>,
        limit: usize,
    ) -> Result<(Vec<BindingRecord>, Option<BindingCursor>), StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT record, user_id, device_id, notifier FROM bindings
                 WHERE app = $1 AND notifier = $2 AND (user_id, device_id) >= ($3, $4)
                 ORDER BY user_id, device_id
                 LIMIT $5",
            )
            .await?;
        let from = resume_at(after, 2);
        let rows = client
            .query(
                &statement,
                &[
                    &app,
                    &notifier,
                    &from[0],
                    &from[1],
                    &sql_limit_and_one(limit),
                ],
            )
            .await?;
        page(app, &rows, limit, &[1, 2])
    }

    /// A walk of the primary key from `after`: a user's few bindings are adjacent, so a page reads at most
    /// `limit` users' bindings.
    async fn app_users(
        &self,
        app: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT DISTINCT user_id FROM bindings
                 WHERE app = $1 AND user_id >= $2
                 ORDER BY user_id
                 LIMIT $3",
            )
            .await?;
        let rows = client
            .query(&statement, &[&app, &lower_bound(after), &sql_limit(limit)])
            .await?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    /// One statement, locking the rows in key order first as `unbind` does.
    async fn delete_user_bindings(&self, app: &str, user: &str) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "DELETE FROM bindings
                 WHERE app = $1 AND user_id = $2
                   AND (device_id, notifier) IN (
                       SELECT device_id, notifier FROM bindings
                       WHERE app = $1 AND user_id = $2
                       ORDER BY device_id, notifier
                       FOR UPDATE)",
            )
            .await?;
        Ok(client.execute(&statement, &[&app, &user]).await?)
    }

    async fn has_bindings(&self, app: &str, user: &str) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM bindings WHERE app = $1 AND user_id = $2)",
            )
            .await?;
        Ok(client.query_one(&statement, &[&app, &user]).await?.get(0))
    }
}
