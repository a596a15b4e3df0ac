//! PostgreSQL implementation of [`RateRepository`]: one row per limited key, taken in one upsert that
//! applies `rates::take` against the database's clock, so replicas whose clocks differ share one timeline.

use async_trait::async_trait;

use super::PgStore;
use crate::store::{RateRepository, RateShape, StoreError, Taken};

#[async_trait]
impl RateRepository for PgStore {
    /// `$2` want, `$3` interval, `$4` tolerance (µs; typed where first used). A new key starts from now with
    /// `first` (the burst, or less); an existing one from its state or now, whichever is later; the SET
    /// expressions all read the row as it was.
    async fn take_admissions(
        &self,
        key: &str,
        want: u32,
        shape: RateShape,
    ) -> Result<Taken, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "INSERT INTO rate_limits AS r (key, tat_us, at_us, granted, wait_us)
                 SELECT $1, c.now + $3 * c.first, c.now, c.first, 0
                 FROM (SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint AS now,
                              LEAST($2::bigint, $4::bigint / $3::bigint + 1) AS first) c
                 ON CONFLICT (key) DO UPDATE SET
                     granted = CASE
                         WHEN GREATEST(r.tat_us, EXCLUDED.at_us) > EXCLUDED.at_us + $4 THEN 0
                         ELSE LEAST($2, (EXCLUDED.at_us + $4 - GREATEST(r.tat_us, EXCLUDED.at_us)) / $3 + 1)
                     END,
                     wait_us = GREATEST(0, GREATEST(r.tat_us, EXCLUDED.at_us) - (EXCLUDED.at_us + $4)),
                     tat_us = GREATEST(r.tat_us, EXCLUDED.at_us) + $3 * CASE
                         WHEN GREATEST(r.tat_us, EXCLUDED.at_us) > EXCLUDED.at_us + $4 THEN 0
                         ELSE LEAST($2, (EXCLUDED.at_us + $4 - GREATEST(r.tat_us, EXCLUDED.at_us)) / $3 + 1)
                     END,
                     at_us = EXCLUDED.at_us
                 RETURNING granted, wait_us",
            )
            .await?;
        let row = client
            .query_one(
                &stmt,
                &[
                    &key,
                    &i64::from(want),
                    &shape.interval_us.max(1),
                    &shape.tolerance_us(),
                ],
            )
            .await?;
        let granted: i64 = row.get(0);
        Ok(Taken {
            granted: u32::try_from(granted.max(0)).unwrap_or(u32::MAX),
            wait_us: row.get(1),
        })
    }
}
