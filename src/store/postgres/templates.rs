//! PostgreSQL implementation of [`TemplateRepository`].

use async_trait::async_trait;
use prost::Message;

use super::{PgStore, support};
use crate::store::{StoreError, TemplateRecord, TemplateRepository, templates::TemplateChange};

fn decode_template(app: &str, name: &str, bytes: &[u8]) -> Result<TemplateRecord, StoreError> {
    support::decode("templates", &[app, name], bytes)
}

#[async_trait]
impl TemplateRepository for PgStore {
    async fn create_template(
        &self,
        app: &str,
        template: TemplateRecord,
        max_templates: usize,
    ) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // The app's limit lock makes the count and the insert one step against other creates.
        support::lock_app_limits(&tx, app).await?;
        let count = tx
            .prepare_cached(
                "SELECT count(*), coalesce(bool_or(name = $2), false)
                 FROM templates WHERE app = $1",
            )
            .await?;
        let row = tx.query_one(&count, &[&app, &template.name]).await?;
        // A taken name is reported before the limit, as sled does.
        if row.get::<_, bool>(1) {
            return Err(StoreError::AlreadyExists(format!(
                "template {}",
                template.name
            )));
        }
        if support::at_limit(row.get(0), max_templates) {
            return Err(StoreError::LimitReached {
                what: "templates",
                limit: max_templates,
            });
        }
        let insert = tx
            .prepare_cached("INSERT INTO templates (app, name, record) VALUES ($1, $2, $3)")
            .await?;
        tx.execute(&insert, &[&app, &template.name, &template.encode_to_vec()])
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get_template(
        &self,
        app: &str,
        name: &str,
    ) -> Result<Option<TemplateRecord>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT record FROM templates WHERE app = $1 AND name = $2")
            .await?;
        client
            .query_opt(&stmt, &[&app, &name])
            .await?
            .map(|row| decode_template(app, name, row.get(0)))
            .transpose()
    }

    async fn update_template(
        &self,
        app: &str,
        name: &str,
        change: TemplateChange<'_>,
    ) -> Result<Option<TemplateRecord>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // The row lock holds off other updates between reading the template and writing the change, so
        // concurrent changes apply one after the other and none is lost; `change` runs once.
        let select = tx
            .prepare_cached("SELECT record FROM templates WHERE app = $1 AND name = $2 FOR UPDATE")
            .await?;
        let Some(row) = tx.query_opt(&select, &[&app, &name]).await? else {
            return Err(StoreError::NotFound(format!("template {name}")));
        };
        let current = decode_template(app, name, row.get(0))?;
        let Some(next) = change(&current) else {
            // Declined: nothing to write; dropping the transaction releases the lock.
            return Ok(None);
        };
        let update = tx
            .prepare_cached("UPDATE templates SET record = $3 WHERE app = $1 AND name = $2")
            .await?;
        tx.execute(&update, &[&app, &name, &next.encode_to_vec()])
            .await?;
        tx.commit().await?;
        Ok(Some(next))
    }

    async fn delete_template(&self, app: &str, name: &str) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("DELETE FROM templates WHERE app = $1 AND name = $2")
            .await?;
        Ok(client.execute(&stmt, &[&app, &name]).await? > 0)
    }
}
