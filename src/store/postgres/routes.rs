//! PostgreSQL implementation of [`RouteRepository`]: one row per device with an open stream. Setting a
//! route reports the one it replaced, so the device's key is locked for the read and the write (two
//! Subscribes of one device on two replicas at once each see the other's, in turn).

use async_trait::async_trait;
use prost::Message;

use super::{PgStore, sql};
use crate::store::{ChannelRoute, RouteRepository, StoreError};

#[async_trait]
impl RouteRepository for PgStore {
    async fn set_route(
        &self,
        app: &str,
        device: &str,
        route: &ChannelRoute,
    ) -> Result<Option<ChannelRoute>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        sql::lock_keys(&tx, &[format!("channel-route/{app}/{device}")]).await?;
        let read = tx
            .prepare_cached("SELECT record FROM channel_routes WHERE app = $1 AND device_id = $2")
            .await?;
        let old = tx
            .query_opt(&read, &[&app, &device])
            .await?
            .map(|row| sql::decode_named("channel_routes", &[app, device], row.get(0)))
            .transpose()?;
        let write = tx
            .prepare_cached(
                "INSERT INTO channel_routes (app, device_id, holder, stream, opened_ms, record)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (app, device_id) DO UPDATE SET holder = EXCLUDED.holder,
                     stream = EXCLUDED.stream, opened_ms = EXCLUDED.opened_ms, record = EXCLUDED.record",
            )
            .await?;
        tx.execute(
            &write,
            &[
                &app,
                &device,
                &route.holder_key(),
                &stream_in(route.stream),
                &route.opened_ms,
                &route.encode_to_vec(),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(old)
    }

    async fn end_route(
        &self,
        app: &str,
        device: &str,
        holder_key: &str,
        stream: u64,
    ) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "DELETE FROM channel_routes
                 WHERE app = $1 AND device_id = $2 AND holder = $3 AND stream = $4",
            )
            .await?;
        let removed = client
            .execute(&stmt, &[&app, &device, &holder_key, &stream_in(stream)])
            .await?;
        Ok(removed > 0)
    }

    async fn routes(
        &self,
        app: &str,
        devices: &[String],
    ) -> Result<Vec<(String, ChannelRoute)>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT device_id, record FROM channel_routes
                 WHERE app = $1 AND device_id = ANY($2::text[])",
            )
            .await?;
        client
            .query(&stmt, &[&app, &devices])
            .await?
            .iter()
            .map(|row| {
                let device: String = row.get(0);
                let route = sql::decode_named("channel_routes", &[app, &device], row.get(1))?;
                Ok((device, route))
            })
            .collect()
    }

    async fn remove_gone_routes(
        &self,
        live: &[String],
        opened_before_ms: i64,
    ) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "DELETE FROM channel_routes WHERE opened_ms < $2 AND holder <> ALL($1::text[])",
            )
            .await?;
        Ok(client.execute(&stmt, &[&live, &opened_before_ms]).await?)
    }
}

/// A stream number as PostgreSQL's signed `bigint` keeps it (the bits, so every `u64` round-trips).
fn stream_in(stream: u64) -> i64 {
    stream as i64
}
