//! PostgreSQL implementation of [`EventRepository`]: one row per event, the `DeliveryEvent` as stored.
//!
//! Positions must become visible in order (see the trait): a reader that has seen position p must never
//! later find an event below p. Positions come from one sequence (`event_positions`), so they increase and
//! are never reused; what orders them is the app's row in `event_heads`, which every append locks before it
//! takes its positions and holds until it commits. The next append of the app waits for that commit, and
//! only then takes its positions, all above the previous append's, which readers already see. Appends of
//! different apps do not wait for each other.

use async_trait::async_trait;
use deadpool_postgres::Transaction;
use prost::Message;

use super::{
    PgStore,
    numbers::{count_out, position_in, position_out, read_after},
    sql::{decode, sql_limit},
};
use crate::{
    proto::v1::DeliveryEvent,
    store::{EventRepository, StoreError},
};

/// When an event was recorded (ms), which the retention sweeps by: as sled dates its chunks.
pub(super) fn timestamp_ms(event: &DeliveryEvent) -> i64 {
    event.timestamp.map_or(0, |t| {
        t.seconds
            .saturating_mul(1000)
            .saturating_add(i64::from(t.nanos) / 1_000_000)
    })
}

fn decode_event(app: &str, position: i64, bytes: &[u8]) -> Result<DeliveryEvent, StoreError> {
    decode(bytes, || format!("events/{app}/{position}"))
}

/// Locks the app's head row until the transaction ends (creating it on the app's first append), so the
/// app's appends take their positions and commit one after the other. `ON CONFLICT DO UPDATE` waits for a
/// concurrent holder, or for a concurrent first insert of the same app, where `DO NOTHING` would not.
async fn lock_head(tx: &Transaction<'_>, app: &str) -> Result<(), StoreError> {
    let stmt = tx
        .prepare_cached(
            "INSERT INTO event_heads AS h (app) VALUES ($1)
             ON CONFLICT (app) DO UPDATE SET swept_through = h.swept_through",
        )
        .await?;
    tx.execute(&stmt, &[&app]).await?;
    Ok(())
}

/// `n` new positions, increasing. Taken after the head lock: every one is above the positions of the app's
/// appends that committed before.
async fn take_positions(tx: &Transaction<'_>, n: usize) -> Result<Vec<u64>, StoreError> {
    let stmt = tx
        .prepare_cached("SELECT nextval('event_positions') FROM generate_series(1, $1::bigint)")
        .await?;
    let mut positions = tx
        .query(&stmt, &[&sql_limit(n)])
        .await?
        .iter()
        .map(|row| position_out(row.get(0)))
        .collect::<Result<Vec<_>, _>>()?;
    // The values of one statement come in the order they were drawn; sorted so nothing relies on it.
    positions.sort_unstable();
    Ok(positions)
}

/// Writes `events` (positioned) in one statement.
async fn insert_events(
    tx: &Transaction<'_>,
    app: &str,
    events: &[DeliveryEvent],
) -> Result<(), StoreError> {
    let mut positions = Vec::with_capacity(events.len());
    let mut times = Vec::with_capacity(events.len());
    let mut records = Vec::with_capacity(events.len());
    for event in events {
        positions.push(position_in(event.position)?);
        times.push(timestamp_ms(event));
        records.push(event.encode_to_vec());
    }
    let stmt = tx
        .prepare_cached(
            "INSERT INTO events (app, position, recorded_ms, record)
             SELECT $1, * FROM unnest($2::bigint[], $3::bigint[], $4::bytea[])",
        )
        .await?;
    tx.execute(&stmt, &[&app, &positions, &times, &records])
        .await?;
    Ok(())
}

/// Appends `events` of `app` inside `tx`, giving each its position: the head lock, the positions, one
/// insert of every event (a broadcast page's thousand events is one statement). The head stays locked
/// until `tx` ends, so the caller commits soon. A caller may lock rows of its own before (`record_page`
/// locks its task): appends and sweeps hold heads without waiting for any such row, so no cycle forms.
pub(super) async fn append_in(
    tx: &Transaction<'_>,
    app: &str,
    events: &mut [DeliveryEvent],
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    lock_head(tx, app).await?;
    let positions = take_positions(tx, events.len()).await?;
    for (event, position) in events.iter_mut().zip(positions) {
        event.position = position;
    }
    insert_events(tx, app, events).await
}

#[async_trait]
impl EventRepository for PgStore {
    /// One transaction ([`append_in`]) shared with the app's appends made at the same time
    /// (`group_append.rs`).
    async fn append_events(
        &self,
        app: &str,
        events: Vec<DeliveryEvent>,
    ) -> Result<Vec<DeliveryEvent>, StoreError> {
        if events.is_empty() {
            return Ok(events);
        }
        self.appends.append(&self.pool, app, events).await
    }

    async fn events_after(
        &self,
        app: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<DeliveryEvent>, StoreError> {
        let Some(after) = read_after(after) else {
            return Ok(Vec::new());
        };
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT position, record FROM events
                 WHERE app = $1 AND position > $2 ORDER BY position LIMIT $3",
            )
            .await?;
        client
            .query(&stmt, &[&app, &after, &sql_limit(limit)])
            .await?
            .iter()
            .map(|row| decode_event(app, row.get(0), row.get(1)))
            .collect()
    }

    async fn first_event_position(&self, app: &str) -> Result<Option<u64>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT min(position) FROM events WHERE app = $1")
            .await?;
        let first: Option<i64> = client.query_one(&stmt, &[&app]).await?.get(0);
        first.map(position_out).transpose()
    }

    async fn last_event_position(&self, app: &str) -> Result<Option<u64>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT max(position) FROM events WHERE app = $1")
            .await?;
        let last: Option<i64> = client.query_one(&stmt, &[&app]).await?.get(0);
        last.map(position_out).transpose()
    }

    async fn swept_through(&self, app: &str) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT swept_through FROM event_heads WHERE app = $1")
            .await?;
        match client.query_opt(&stmt, &[&app]).await? {
            Some(row) => position_out(row.get(0)),
            None => Ok(0),
        }
    }

    /// One statement: the `limit` oldest events recorded before `before_ms` go, and each app's horizon
    /// moves to the highest position removed, together. `SKIP LOCKED` lets two processes sweep at once
    /// without taking the same events; the horizons are updated in app order, so two sweeps never wait for
    /// each other in a cycle, and a sweep waits for an append holding an app's head only until it commits.
    async fn sweep_events(&self, before_ms: i64, limit: usize) -> Result<usize, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "WITH old AS (
                     SELECT app, position FROM events WHERE recorded_ms < $1
                     ORDER BY recorded_ms LIMIT $2
                     FOR UPDATE SKIP LOCKED
                 ), gone AS (
                     DELETE FROM events e USING old
                     WHERE e.app = old.app AND e.position = old.position
                     RETURNING e.app, e.position
                 ), horizons AS (
                     INSERT INTO event_heads AS h (app, swept_through)
                     SELECT app, max(position) FROM gone GROUP BY app ORDER BY app
                     ON CONFLICT (app) DO UPDATE
                     SET swept_through = greatest(h.swept_through, excluded.swept_through)
                 )
                 SELECT count(*) FROM gone",
            )
            .await?;
        let removed: i64 = client
            .query_one(&stmt, &[&before_ms, &sql_limit(limit)])
            .await?
            .get(0);
        Ok(usize::try_from(count_out(removed)).unwrap_or(usize::MAX))
    }
}
