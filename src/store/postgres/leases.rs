//! PostgreSQL implementation of [`LeaseRepository`]: one row per lease, each method one statement, so two
//! replicas acquiring at once take turns on the row and the second sees the first's grant.

use async_trait::async_trait;

use super::PgStore;
use crate::store::{Fence, LeaseRecord, LeaseRepository, StoreError};

/// Whether `fence` holds (`leases::fence_holds`), checked inside the caller's transaction: the lease row is
/// read `FOR SHARE`, so that nobody re-grants it before the fenced write commits.
pub(super) async fn fence_holds_in(
    tx: &deadpool_postgres::Transaction<'_>,
    fence: &Fence,
) -> Result<bool, StoreError> {
    let stmt = tx
        .prepare_cached(
            "SELECT 1 FROM leases WHERE name = $1 AND holder = $2 AND epoch = $3 AND until_ms > 0
             FOR SHARE",
        )
        .await?;
    Ok(tx
        .query_opt(
            &stmt,
            &[&fence.name, &fence.holder, &epoch_in(fence.epoch)?],
        )
        .await?
        .is_some())
}

fn epoch_in(epoch: u64) -> Result<i64, StoreError> {
    i64::try_from(epoch)
        .map_err(|_| StoreError::Backend(format!("lease epoch {epoch} out of range")))
}

fn epoch_out(epoch: i64) -> Result<u64, StoreError> {
    u64::try_from(epoch).map_err(|_| StoreError::Backend(format!("stored lease epoch {epoch}")))
}

#[async_trait]
impl LeaseRepository for PgStore {
    /// The rule of `leases::granted` in one upsert: a new row starts at epoch 1; an existing one is taken
    /// when it ran out or is the holder's own, the epoch kept only for a holder renewing in time.
    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<Option<LeaseRecord>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "INSERT INTO leases AS l (name, holder, epoch, until_ms) VALUES ($1, $2, 1, $4)
                 ON CONFLICT (name) DO UPDATE SET
                     epoch = CASE WHEN l.holder = EXCLUDED.holder AND l.until_ms > $3
                                  THEN l.epoch ELSE l.epoch + 1 END,
                     holder = EXCLUDED.holder,
                     until_ms = EXCLUDED.until_ms
                 WHERE l.until_ms <= $3 OR l.holder = EXCLUDED.holder
                 RETURNING epoch",
            )
            .await?;
        let Some(row) = client
            .query_opt(&stmt, &[&name, &holder, &now_ms, &until_ms])
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(LeaseRecord {
            name: name.to_owned(),
            holder: holder.to_owned(),
            epoch: epoch_out(row.get(0))?,
            until_ms,
        }))
    }

    async fn renew_lease(
        &self,
        name: &str,
        holder: &str,
        epoch: u64,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "UPDATE leases SET until_ms = $5
                 WHERE name = $1 AND holder = $2 AND epoch = $3 AND until_ms > $4",
            )
            .await?;
        let updated = client
            .execute(
                &stmt,
                &[&name, &holder, &epoch_in(epoch)?, &now_ms, &until_ms],
            )
            .await?;
        Ok(updated == 1)
    }

    async fn release_lease(
        &self,
        name: &str,
        holder: &str,
        epoch: u64,
    ) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "UPDATE leases SET until_ms = 0
                 WHERE name = $1 AND holder = $2 AND epoch = $3 AND until_ms > 0",
            )
            .await?;
        let updated = client
            .execute(&stmt, &[&name, &holder, &epoch_in(epoch)?])
            .await?;
        Ok(updated == 1)
    }

    async fn forget_leases(&self) -> Result<(), StoreError> {
        let client = self.client().await?;
        client.execute("DELETE FROM leases", &[]).await?;
        Ok(())
    }

    async fn get_lease(&self, name: &str) -> Result<Option<LeaseRecord>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT holder, epoch, until_ms FROM leases WHERE name = $1")
            .await?;
        client
            .query_opt(&stmt, &[&name])
            .await?
            .map(|row| {
                Ok(LeaseRecord {
                    name: name.to_owned(),
                    holder: row.get(0),
                    epoch: epoch_out(row.get(1))?,
                    until_ms: row.get(2),
                })
            })
            .transpose()
    }
}
