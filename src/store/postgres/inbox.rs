//! PostgreSQL implementation of [`InboxRepository`]: inbox entries, receipts, per-device entry counts, ack
//! counters and channel devices.
//!
//! Every write to a device's inbox, its receipts or its count holds the device's lock: a transaction-level
//! advisory lock on (app, device), the cross-process counterpart of sled's striped locks. It needs no row
//! (a device's count row goes when its inbox empties, its receipts stay), and it is taken before anything
//! is read, so what the writer reads (the count, the oldest entries, a receipt) stays true until it
//! commits. A write that touches several devices takes their locks in one statement, in key order, so two
//! such writers never wait in a cycle. Positions come from one sequence taken under the lock: they increase
//! per device, in commit order, and are never given twice.

use std::collections::{BTreeMap, HashMap, HashSet};

use async_trait::async_trait;
use deadpool_postgres::Transaction;
use prost::Message;

use super::{
    PgStore,
    numbers::{count_out, position_out, read_after},
    sql::{decode, sql_limit},
};
use crate::store::{AckCountRecord, AckSubject, Appended, InboxEntry, InboxRepository, StoreError};

/// First key of the device locks ("pgib"); the second is the hash of app and device. Two-key advisory
/// locks never meet single-key ones (the migrations').
const DEVICE_LOCK: i32 = 0x7067_6962;

/// Takes the locks of the devices `(apps[i], devices[i])` until the transaction ends, in key order.
/// Devices whose keys hash alike only wait for each other.
async fn lock_devices(
    tx: &Transaction<'_>,
    apps: &[&str],
    devices: &[&str],
) -> Result<(), StoreError> {
    let stmt = tx
        .prepare_cached(
            "SELECT pg_advisory_xact_lock($1, k)
             FROM (SELECT DISTINCT hashtext(app || '/' || device_id) AS k
                   FROM unnest($2::text[], $3::text[]) AS t(app, device_id)
                   ORDER BY k) keys",
        )
        .await?;
    tx.execute(&stmt, &[&DEVICE_LOCK, &apps, &devices]).await?;
    Ok(())
}

/// Deletes the entries at `(apps[i], devices[i], positions[i])` that are still there and lowers their
/// devices' counts (a count reaching zero goes); returns how many entries went. The caller holds the
/// devices' locks.
async fn remove_entries(
    tx: &Transaction<'_>,
    apps: &[&str],
    devices: &[&str],
    positions: &[i64],
) -> Result<u64, StoreError> {
    if positions.is_empty() {
        return Ok(0);
    }
    let stmt = tx
        .prepare_cached(
            "WITH gone AS (
                 DELETE FROM inbox_entries e
                 USING unnest($1::text[], $2::text[], $3::bigint[]) AS t(app, device_id, position)
                 WHERE e.app = t.app AND e.device_id = t.device_id AND e.position = t.position
                 RETURNING e.app, e.device_id
             ), per_device AS (
                 SELECT app, device_id, count(*) AS n FROM gone GROUP BY app, device_id
             ), lowered AS (
                 UPDATE inbox_counts c SET entries = c.entries - p.n FROM per_device p
                 WHERE c.app = p.app AND c.device_id = p.device_id AND c.entries > p.n
             ), emptied AS (
                 DELETE FROM inbox_counts c USING per_device p
                 WHERE c.app = p.app AND c.device_id = p.device_id AND c.entries <= p.n
             )
             SELECT coalesce(sum(n), 0)::bigint FROM per_device",
        )
        .await?;
    let removed: i64 = tx
        .query_one(&stmt, &[&apps, &devices, &positions])
        .await?
        .get(0);
    Ok(count_out(removed))
}

/// What the device's inbox says about a push about to be appended, read under the device's lock.
struct AppendState {
    /// The receipt's position when the push is known for the device and user already.
    known: Option<i64>,
    /// Entries in the device's inbox.
    count: u64,
    /// The position a new entry gets.
    next: i64,
    /// The device's newest entry's position, 0 when none.
    previous: u64,
}

async fn append_state(
    tx: &Transaction<'_>,
    app: &str,
    entry: &InboxEntry,
) -> Result<AppendState, StoreError> {
    // The position is drawn even for a duplicate, leaving a gap: positions are not contiguous, and one
    // statement fewer on every append is worth more.
    let stmt = tx
        .prepare_cached(
            "SELECT (SELECT position FROM inbox_receipts
                     WHERE app = $1 AND user_id = $2 AND device_id = $3 AND message_id = $4),
                    coalesce((SELECT entries FROM inbox_counts WHERE app = $1 AND device_id = $3), 0),
                    nextval('inbox_positions'),
                    coalesce((SELECT max(position) FROM inbox_entries WHERE app = $1 AND device_id = $3), 0)",
        )
        .await?;
    let row = tx
        .query_one(
            &stmt,
            &[&app, &entry.user, &entry.device_id, &entry.message_id],
        )
        .await?;
    Ok(AppendState {
        known: row.get(0),
        count: count_out(row.get(1)),
        next: row.get(2),
        previous: position_out(row.get(3))?,
    })
}

/// Writes a new entry with its receipt after evicting the device's `excess` oldest entries, and sets the
/// device's count; returns how many were evicted. One statement: every part sees the inbox as it was
/// before it, so the new entry is never among the evicted.
async fn write_entry(
    tx: &Transaction<'_>,
    app: &str,
    entry: &InboxEntry,
    position: i64,
    count: u64,
    excess: u64,
) -> Result<u64, StoreError> {
    let record = InboxEntry {
        position: position_out(position)?,
        ..entry.clone()
    }
    .encode_to_vec();
    let count = i64::try_from(count).unwrap_or(i64::MAX);
    let excess = i64::try_from(excess).unwrap_or(i64::MAX);
    let stmt = tx
        .prepare_cached(
            "WITH evicted AS (
                 DELETE FROM inbox_entries
                 WHERE app = $1 AND device_id = $2 AND position IN (
                     SELECT position FROM inbox_entries WHERE app = $1 AND device_id = $2
                     ORDER BY position LIMIT $3)
                 RETURNING 1
             ), entry AS (
                 INSERT INTO inbox_entries (app, device_id, position, record) VALUES ($1, $2, $4, $5)
             ), receipt AS (
                 INSERT INTO inbox_receipts (app, user_id, device_id, message_id, position, task_id,
                                             purge_at_ms, delivered, clicked)
                 VALUES ($1, $6, $2, $7, $4, $8, $9, false, false)
             ), counted AS (
                 INSERT INTO inbox_counts (app, device_id, entries)
                 SELECT $1, $2, $10::bigint + 1 - count(*) FROM evicted
                 ON CONFLICT (app, device_id) DO UPDATE SET entries = excluded.entries
             )
             SELECT count(*) FROM evicted",
        )
        .await?;
    let evicted: i64 = tx
        .query_one(
            &stmt,
            &[
                &app,
                &entry.device_id,
                &excess,
                &position,
                &record,
                &entry.user,
                &entry.message_id,
                &entry.task_id,
                &entry.purge_at_ms,
                &count,
            ],
        )
        .await?
        .get(0);
    Ok(count_out(evicted))
}

/// A receipt as an ack reads it.
struct Receipt {
    position: i64,
    task_id: String,
    purge_at_ms: i64,
    delivered: bool,
    clicked: bool,
}

/// The receipts of `message_ids` for the device and user, by message id.
async fn receipts(
    tx: &Transaction<'_>,
    app: &str,
    user: &str,
    device: &str,
    message_ids: &[String],
) -> Result<HashMap<String, Receipt>, StoreError> {
    let stmt = tx
        .prepare_cached(
            "SELECT message_id, position, task_id, purge_at_ms, delivered, clicked
             FROM inbox_receipts
             WHERE app = $1 AND user_id = $2 AND device_id = $3 AND message_id = ANY($4)",
        )
        .await?;
    Ok(tx
        .query(&stmt, &[&app, &user, &device, &message_ids])
        .await?
        .iter()
        .map(|row| {
            let receipt = Receipt {
                position: row.get(1),
                task_id: row.get(2),
                purge_at_ms: row.get(3),
                delivered: row.get(4),
                clicked: row.get(5),
            };
            (row.get(0), receipt)
        })
        .collect())
}

/// What an ack changes, worked out from the receipts as sled's ack loop does, id by id.
#[derive(Default)]
struct AckPlan {
    /// Ids that name no unexpired push, every occurrence, in order.
    unknown: Vec<String>,
    /// Positions of the entries to remove.
    positions: Vec<i64>,
    /// Ids whose receipts change (now delivered, maybe clicked).
    marked: Vec<String>,
    /// Counter increments (delivered, clicked) by (kind, id): `m` a message id, `t` a task id.
    bumps: BTreeMap<(&'static str, String), (i64, i64)>,
}

impl AckPlan {
    fn new(
        message_ids: &[String],
        receipts: &HashMap<String, Receipt>,
        clicked: bool,
        now_ms: i64,
    ) -> Self {
        let mut plan = Self::default();
        let mut seen = HashSet::new();
        for id in message_ids {
            // Expired but not yet swept reads the same as swept, as the contract says.
            let Some(receipt) = receipts.get(id).filter(|r| r.purge_at_ms > now_ms) else {
                plan.unknown.push(id.clone());
                continue;
            };
            // A second ack of the same id in one call finds the receipt as the first left it: nothing.
            if !seen.insert(id) {
                continue;
            }
            plan.positions.push(receipt.position);
            let delivered = !receipt.delivered;
            let newly_clicked = clicked && !receipt.clicked;
            if delivered || newly_clicked {
                plan.marked.push(id.clone());
                plan.bump("m", id, delivered, newly_clicked);
                if !receipt.task_id.is_empty() {
                    plan.bump("t", &receipt.task_id, delivered, newly_clicked);
                }
            }
        }
        plan
    }

    fn bump(&mut self, kind: &'static str, id: &str, delivered: bool, clicked: bool) {
        let counts = self.bumps.entry((kind, id.to_owned())).or_default();
        counts.0 += i64::from(delivered);
        counts.1 += i64::from(clicked);
    }
}

/// Marks the receipts of `plan.marked` delivered (and clicked when `clicked`) and adds `plan.bumps` to the
/// counters. The counters are shared by every device: each is one upsert that adds, taken in key order so
/// two acks never wait for each other in a cycle.
async fn mark_and_count(
    tx: &Transaction<'_>,
    app: &str,
    user: &str,
    device: &str,
    clicked: bool,
    plan: &AckPlan,
) -> Result<(), StoreError> {
    let (mut kinds, mut ids, mut delivered, mut clicks) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for ((kind, id), (d, c)) in &plan.bumps {
        kinds.push(*kind);
        ids.push(id.as_str());
        delivered.push(*d);
        clicks.push(*c);
    }
    let stmt = tx
        .prepare_cached(
            "WITH marked AS (
                 UPDATE inbox_receipts SET delivered = true, clicked = clicked OR $5
                 WHERE app = $1 AND user_id = $2 AND device_id = $3 AND message_id = ANY($4)
             )
             INSERT INTO ack_counts AS a (app, kind, id, delivered, clicked)
             SELECT $1, kind, id, delivered, clicked
             FROM unnest($6::text[], $7::text[], $8::bigint[], $9::bigint[])
                  AS t(kind, id, delivered, clicked)
             ORDER BY kind, id
             ON CONFLICT (app, kind, id) DO UPDATE
             SET delivered = a.delivered + excluded.delivered, clicked = a.clicked + excluded.clicked",
        )
        .await?;
    tx.execute(
        &stmt,
        &[
            &app,
            &user,
            &device,
            &plan.marked,
            &clicked,
            &kinds,
            &ids,
            &delivered,
            &clicks,
        ],
    )
    .await?;
    Ok(())
}

/// Removes the receipts that `delete` (a `DELETE … RETURNING app, device_id, position` over receipts)
/// takes, and their entries; returns how many entries went. The caller holds the devices' locks.
async fn remove_receipted(
    tx: &Transaction<'_>,
    rows: Vec<tokio_postgres::Row>,
) -> Result<u64, StoreError> {
    let (mut apps, mut devices, mut positions) = (Vec::new(), Vec::new(), Vec::new());
    for row in &rows {
        apps.push(row.get::<_, &str>(0));
        devices.push(row.get::<_, &str>(1));
        positions.push(row.get::<_, i64>(2));
    }
    remove_entries(tx, &apps, &devices, &positions).await
}

fn decode_entry(app: &str, device: &str, bytes: &[u8]) -> Result<InboxEntry, StoreError> {
    decode(bytes, || format!("inbox_entries/{app}/{device}"))
}

#[async_trait]
impl InboxRepository for PgStore {
    /// One transaction under the device's lock: the receipt, count and a new position read, then the
    /// eviction, the entry, its receipt and the count written in one statement.
    async fn append(
        &self,
        app: &str,
        entry: &InboxEntry,
        max_per_device: usize,
    ) -> Result<Appended, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        lock_devices(&tx, &[app], &[entry.device_id.as_str()]).await?;
        let state = append_state(&tx, app, entry).await?;
        if let Some(position) = state.known {
            // Nothing written: the transaction ends unused.
            return Ok(Appended {
                position: position_out(position)?,
                duplicate: true,
                evicted: 0,
                size: state.count,
                previous: 0,
            });
        }
        let limit = u64::try_from(max_per_device.max(1)).unwrap_or(u64::MAX);
        let excess = (state.count + 1).saturating_sub(limit);
        let evicted = write_entry(&tx, app, entry, state.next, state.count, excess).await?;
        tx.commit().await?;
        Ok(Appended {
            position: position_out(state.next)?,
            duplicate: false,
            evicted,
            size: (state.count + 1).saturating_sub(evicted),
            previous: state.previous,
        })
    }

    async fn inbox_page(
        &self,
        app: &str,
        device: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<InboxEntry>, StoreError> {
        let Some(after) = read_after(after) else {
            return Ok(Vec::new());
        };
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT record FROM inbox_entries
                 WHERE app = $1 AND device_id = $2 AND position > $3
                 ORDER BY position LIMIT $4",
            )
            .await?;
        client
            .query(&stmt, &[&app, &device, &after, &sql_limit(limit)])
            .await?
            .iter()
            .map(|row| decode_entry(app, device, row.get(0)))
            .collect()
    }

    /// One transaction under the device's lock: the receipts read, then the entries removed, the receipts
    /// marked and the counters raised from what they said.
    async fn ack(
        &self,
        app: &str,
        user: &str,
        device: &str,
        message_ids: &[String],
        clicked: bool,
        now_ms: i64,
    ) -> Result<Vec<String>, StoreError> {
        if message_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        lock_devices(&tx, &[app], &[device]).await?;
        let known = receipts(&tx, app, user, device, message_ids).await?;
        let plan = AckPlan::new(message_ids, &known, clicked, now_ms);
        let apps = vec![app; plan.positions.len()];
        let devices = vec![device; plan.positions.len()];
        remove_entries(&tx, &apps, &devices, &plan.positions).await?;
        if !plan.marked.is_empty() {
            mark_and_count(&tx, app, user, device, clicked, &plan).await?;
        }
        tx.commit().await?;
        Ok(plan.unknown)
    }

    async fn ack_counts(
        &self,
        app: &str,
        subject: AckSubject<'_>,
    ) -> Result<AckCountRecord, StoreError> {
        let (kind, id) = match subject {
            AckSubject::Message(id) => ("m", id),
            AckSubject::Task(id) => ("t", id),
        };
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT delivered, clicked FROM ack_counts WHERE app = $1 AND kind = $2 AND id = $3",
            )
            .await?;
        Ok(client
            .query_opt(&stmt, &[&app, &kind, &id])
            .await?
            .map(|row| AckCountRecord {
                delivered: count_out(row.get(0)),
                clicked: count_out(row.get(1)),
            })
            .unwrap_or_default())
    }

    /// One upsert: the first Subscribe's time stays, the latest's moves.
    async fn record_channel_device(
        &self,
        app: &str,
        user: &str,
        device: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "INSERT INTO channel_devices
                     (app, user_id, device_id, first_subscribe_ms, last_subscribe_ms)
                 VALUES ($1, $2, $3, $4, $4)
                 ON CONFLICT (app, user_id, device_id)
                 DO UPDATE SET last_subscribe_ms = excluded.last_subscribe_ms",
            )
            .await?;
        client
            .execute(&stmt, &[&app, &user, &device, &now_ms])
            .await?;
        Ok(())
    }

    async fn channel_devices(&self, app: &str, user: &str) -> Result<Vec<String>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT device_id FROM channel_devices WHERE app = $1 AND user_id = $2
                 ORDER BY device_id",
            )
            .await?;
        Ok(client
            .query(&stmt, &[&app, &user])
            .await?
            .iter()
            .map(|row| row.get(0))
            .collect())
    }

    async fn has_channel_devices(&self, app: &str, user: &str) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM channel_devices WHERE app = $1 AND user_id = $2)",
            )
            .await?;
        Ok(client.query_one(&stmt, &[&app, &user]).await?.get(0))
    }

    /// One transaction: the devices the user has receipts on locked, then the user's receipts on them
    /// removed with their entries, and the user's device records. A push appended to another device
    /// meanwhile counts as after the deletion, as one appended after a sled deletion's last page does.
    async fn delete_user_inbox(&self, app: &str, user: &str) -> Result<u64, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let devices_of = tx
            .prepare_cached(
                "SELECT DISTINCT device_id FROM inbox_receipts WHERE app = $1 AND user_id = $2",
            )
            .await?;
        let devices: Vec<String> = tx
            .query(&devices_of, &[&app, &user])
            .await?
            .iter()
            .map(|row| row.get(0))
            .collect();
        let mut removed = 0;
        if !devices.is_empty() {
            let device_refs: Vec<&str> = devices.iter().map(String::as_str).collect();
            lock_devices(&tx, &vec![app; devices.len()], &device_refs).await?;
            let delete = tx
                .prepare_cached(
                    "DELETE FROM inbox_receipts
                     WHERE app = $1 AND user_id = $2 AND device_id = ANY($3)
                     RETURNING app, device_id, position",
                )
                .await?;
            let gone = tx.query(&delete, &[&app, &user, &device_refs]).await?;
            removed = remove_receipted(&tx, gone).await?;
        }
        let forget = tx
            .prepare_cached("DELETE FROM channel_devices WHERE app = $1 AND user_id = $2")
            .await?;
        tx.execute(&forget, &[&app, &user]).await?;
        tx.commit().await?;
        Ok(removed)
    }

    /// One transaction: up to `limit` receipts due at `now_ms` (of any app) are read, their devices
    /// locked, and those still due removed with their entries. Returns how many it looked at.
    async fn sweep_expired(&self, now_ms: i64, limit: usize) -> Result<u64, StoreError> {
        // Times before the epoch count as the epoch, as sled's expiry index orders them.
        let now_ms = now_ms.max(0);
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let due = tx
            .prepare_cached(
                "SELECT app, user_id, device_id, message_id FROM inbox_receipts
                 WHERE purge_at_ms <= $1 ORDER BY purge_at_ms LIMIT $2",
            )
            .await?;
        let rows = tx.query(&due, &[&now_ms, &sql_limit(limit)]).await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let column = |i: usize| -> Vec<&str> { rows.iter().map(|row| row.get(i)).collect() };
        let (apps, users, devices, messages) = (column(0), column(1), column(2), column(3));
        lock_devices(&tx, &apps, &devices).await?;
        // Checked again under the locks: a receipt deleted with its user meanwhile is not there to take.
        let delete = tx
            .prepare_cached(
                "DELETE FROM inbox_receipts r
                 USING unnest($1::text[], $2::text[], $3::text[], $4::text[])
                       AS t(app, user_id, device_id, message_id)
                 WHERE r.app = t.app AND r.user_id = t.user_id AND r.device_id = t.device_id
                       AND r.message_id = t.message_id AND r.purge_at_ms <= $5
                 RETURNING r.app, r.device_id, r.position",
            )
            .await?;
        let gone = tx
            .query(&delete, &[&apps, &users, &devices, &messages, &now_ms])
            .await?;
        remove_receipted(&tx, gone).await?;
        tx.commit().await?;
        Ok(u64::try_from(rows.len()).unwrap_or(u64::MAX))
    }
}
