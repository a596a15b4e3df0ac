//! PostgreSQL implementation of [`NotifierRepository`].

use async_trait::async_trait;
use prost::Message;

use super::{PgStore, support};
use crate::store::{NotifierRecord, NotifierRepository, StoreError};

fn decode_notifier(app: &str, name: &str, bytes: &[u8]) -> Result<NotifierRecord, StoreError> {
    support::decode("notifiers", &[app, name], bytes)
}

#[async_trait]
impl NotifierRepository for PgStore {
    async fn create_notifier(
        &self,
        app: &str,
        notifier: NotifierRecord,
        max_per_app: usize,
    ) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // The app's limit lock makes the count and the insert one step against other creates.
        support::lock_app_limits(&tx, app).await?;
        let count = tx
            .prepare_cached(
                "SELECT count(*), coalesce(bool_or(name = $2), false)
                 FROM notifiers WHERE app = $1",
            )
            .await?;
        let row = tx.query_one(&count, &[&app, &notifier.name()]).await?;
        // A taken name is reported before the limit, as sled does.
        if row.get::<_, bool>(1) {
            return Err(StoreError::AlreadyExists(format!(
                "notifier {}",
                notifier.name()
            )));
        }
        if support::at_limit(row.get(0), max_per_app) {
            return Err(StoreError::LimitReached {
                what: "notifiers",
                limit: max_per_app,
            });
        }
        let insert = tx
            .prepare_cached(
                "INSERT INTO notifiers (app, name, vendor, record) VALUES ($1, $2, $3, $4)",
            )
            .await?;
        tx.execute(
            &insert,
            &[
                &app,
                &notifier.name(),
                &notifier.vendor(),
                &notifier.encode_to_vec(),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get_notifier(
        &self,
        app: &str,
        name: &str,
    ) -> Result<Option<NotifierRecord>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT record FROM notifiers WHERE app = $1 AND name = $2")
            .await?;
        client
            .query_opt(&stmt, &[&app, &name])
            .await?
            .map(|row| decode_notifier(app, name, row.get(0)))
            .transpose()
    }

    async fn list_notifiers(
        &self,
        app: &str,
        after: Option<&str>,
        limit: usize,
        vendor: i32,
    ) -> Result<Vec<NotifierRecord>, StoreError> {
        let client = self.client().await?;
        let limit = support::sql_limit(limit);
        // The vendor filter is in the statement, before the limit: a page holds `limit` of the vendor.
        let rows = match after {
            Some(after) => {
                let stmt = client
                    .prepare_cached(
                        "SELECT name, record FROM notifiers
                         WHERE app = $1 AND name > $2 AND ($3 = 0 OR vendor = $3)
                         ORDER BY name LIMIT $4",
                    )
                    .await?;
                client
                    .query(&stmt, &[&app, &after, &vendor, &limit])
                    .await?
            }
            None => {
                let stmt = client
                    .prepare_cached(
                        "SELECT name, record FROM notifiers
                         WHERE app = $1 AND ($2 = 0 OR vendor = $2)
                         ORDER BY name LIMIT $3",
                    )
                    .await?;
                client.query(&stmt, &[&app, &vendor, &limit]).await?
            }
        };
        rows.iter()
            .map(|row| decode_notifier(app, row.get(0), row.get(1)))
            .collect()
    }

    async fn update_notifier(&self, app: &str, notifier: NotifierRecord) -> Result<(), StoreError> {
        let client = self.client().await?;
        // A conditional update: replaces the row only if it exists, in one statement.
        let stmt = client
            .prepare_cached(
                "UPDATE notifiers SET vendor = $3, record = $4 WHERE app = $1 AND name = $2",
            )
            .await?;
        let updated = client
            .execute(
                &stmt,
                &[
                    &app,
                    &notifier.name(),
                    &notifier.vendor(),
                    &notifier.encode_to_vec(),
                ],
            )
            .await?;
        if updated == 0 {
            return Err(StoreError::NotFound(format!(
                "notifier {}",
                notifier.name()
            )));
        }
        Ok(())
    }

    async fn delete_notifier(&self, app: &str, name: &str) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("DELETE FROM notifiers WHERE app = $1 AND name = $2")
            .await?;
        Ok(client.execute(&stmt, &[&app, &name]).await? > 0)
    }
}
