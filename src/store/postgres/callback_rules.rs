//! PostgreSQL implementation of [`CallbackRuleRepository`].

use async_trait::async_trait;
use prost::Message;

use super::{PgStore, support};
use crate::store::{CallbackRuleRecord, CallbackRuleRepository, StoreError};

fn decode_rule(app: &str, name: &str, bytes: &[u8]) -> Result<CallbackRuleRecord, StoreError> {
    support::decode("callback_rules", &[app, name], bytes)
}

#[async_trait]
impl CallbackRuleRepository for PgStore {
    async fn put_rule(
        &self,
        app: &str,
        rule: CallbackRuleRecord,
        max_rules: usize,
    ) -> Result<bool, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // The app's limit lock makes "is there room" and the insert one step against other puts; the lock
        // on an existing rule's row keeps it from being deleted before it is replaced, so "replaced" is
        // true when this commits.
        support::lock_app_limits(&tx, app).await?;
        let existing = tx
            .prepare_cached("SELECT 1 FROM callback_rules WHERE app = $1 AND name = $2 FOR UPDATE")
            .await?;
        let exists = tx
            .query_opt(&existing, &[&app, &rule.name])
            .await?
            .is_some();
        // Replacing a rule takes no new place; only a new one is held to the limit.
        if !exists {
            let count = tx
                .prepare_cached("SELECT count(*) FROM callback_rules WHERE app = $1")
                .await?;
            let count: i64 = tx.query_one(&count, &[&app]).await?.get(0);
            if support::at_limit(count, max_rules) {
                return Err(StoreError::LimitReached {
                    what: "callback rules",
                    limit: max_rules,
                });
            }
        }
        let upsert = tx
            .prepare_cached(
                "INSERT INTO callback_rules (app, name, record) VALUES ($1, $2, $3)
                 ON CONFLICT (app, name) DO UPDATE SET record = EXCLUDED.record",
            )
            .await?;
        tx.execute(&upsert, &[&app, &rule.name, &rule.encode_to_vec()])
            .await?;
        tx.commit().await?;
        Ok(!exists)
    }

    async fn get_rule(
        &self,
        app: &str,
        name: &str,
    ) -> Result<Option<CallbackRuleRecord>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT record FROM callback_rules WHERE app = $1 AND name = $2")
            .await?;
        client
            .query_opt(&stmt, &[&app, &name])
            .await?
            .map(|row| decode_rule(app, name, row.get(0)))
            .transpose()
    }

    async fn list_rules(&self, app: &str) -> Result<Vec<CallbackRuleRecord>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT name, record FROM callback_rules WHERE app = $1 ORDER BY name")
            .await?;
        client
            .query(&stmt, &[&app])
            .await?
            .iter()
            .map(|row| decode_rule(app, row.get(0), row.get(1)))
            .collect()
    }

    async fn all_rules(&self) -> Result<Vec<(String, CallbackRuleRecord)>, StoreError> {
        let client = self.client().await?;
        // Every app's rules: few per app, read at start and on changes, so one statement for all.
        let stmt = client
            .prepare_cached("SELECT app, name, record FROM callback_rules ORDER BY app, name")
            .await?;
        client
            .query(&stmt, &[])
            .await?
            .iter()
            .map(|row| {
                let app: &str = row.get(0);
                Ok((app.to_owned(), decode_rule(app, row.get(1), row.get(2))?))
            })
            .collect()
    }

    async fn delete_rule(&self, app: &str, name: &str) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("DELETE FROM callback_rules WHERE app = $1 AND name = $2")
            .await?;
        Ok(client.execute(&stmt, &[&app, &name]).await? > 0)
    }
}
