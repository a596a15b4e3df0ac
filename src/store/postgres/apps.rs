//! PostgreSQL implementation of [`AppRepository`].

use async_trait::async_trait;
use prost::Message;

use super::{PgStore, support};
use crate::store::{AppRecord, AppRepository, StoreError};

/// The tables of the schema that hold records of an app: every base table with a column `app` (the schema
/// keys every table app first, `apps` included), in name order so that concurrent deletes lock tables in
/// the same order.
const APP_TABLES: &str = "SELECT quote_ident(c.table_name)
     FROM information_schema.columns c
     JOIN information_schema.tables t USING (table_schema, table_name)
     WHERE c.table_schema = current_schema() AND c.column_name = 'app'
       AND t.table_type = 'BASE TABLE'
     ORDER BY c.table_name";

fn decode_app(name: &str, bytes: &[u8]) -> Result<AppRecord, StoreError> {
    support::decode("apps", &[name], bytes)
}

/// One statement deleting the app's rows from each of `tables` (quoted names) and returning how many went:
/// a data-modifying CTE per table, so the deletes are one atomic statement whatever their number.
fn delete_everywhere_sql(tables: &[String]) -> String {
    let deletes: Vec<String> = tables
        .iter()
        .enumerate()
        .map(|(i, table)| format!("d{i} AS (DELETE FROM {table} WHERE app = $1::text RETURNING 1)"))
        .collect();
    let counts: Vec<String> = (0..tables.len())
        .map(|i| format!("(SELECT count(*) FROM d{i})"))
        .collect();
    format!(
        "WITH {} SELECT ({})::bigint",
        deletes.join(", "),
        counts.join(" + ")
    )
}

#[async_trait]
impl AppRepository for PgStore {
    async fn create_app(&self, app: AppRecord) -> Result<(), StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "INSERT INTO apps (app, record) VALUES ($1, $2) ON CONFLICT (app) DO NOTHING",
            )
            .await?;
        // The conflict clause makes "is the name free" and the insert one atomic step.
        let inserted = client
            .execute(&stmt, &[&app.name, &app.encode_to_vec()])
            .await?;
        if inserted == 0 {
            return Err(StoreError::AlreadyExists(format!("app {}", app.name)));
        }
        Ok(())
    }

    async fn get_app(&self, name: &str) -> Result<Option<AppRecord>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT record FROM apps WHERE app = $1")
            .await?;
        client
            .query_opt(&stmt, &[&name])
            .await?
            .map(|row| decode_app(name, row.get(0)))
            .transpose()
    }

    async fn list_apps(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AppRecord>, StoreError> {
        let client = self.client().await?;
        let limit = support::sql_limit(limit);
        let rows = match after {
            Some(after) => {
                let stmt = client
                    .prepare_cached(
                        "SELECT app, record FROM apps WHERE app > $1 ORDER BY app LIMIT $2",
                    )
                    .await?;
                client.query(&stmt, &[&after, &limit]).await?
            }
            None => {
                let stmt = client
                    .prepare_cached("SELECT app, record FROM apps ORDER BY app LIMIT $1")
                    .await?;
                client.query(&stmt, &[&limit]).await?
            }
        };
        rows.iter()
            .map(|row| decode_app(row.get(0), row.get(1)))
            .collect()
    }

    async fn update_app(&self, app: AppRecord) -> Result<(), StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("UPDATE apps SET record = $2 WHERE app = $1")
            .await?;
        // A conditional update: replaces the row only if it exists, in one statement.
        let updated = client
            .execute(&stmt, &[&app.name, &app.encode_to_vec()])
            .await?;
        if updated == 0 {
            return Err(StoreError::NotFound(format!("app {}", app.name)));
        }
        Ok(())
    }

    async fn delete_app(&self, name: &str) -> Result<u64, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // Every table of the schema, not a fixed list, so tables added by later migrations are covered
        // without touching this. The app's row is deleted like any other; a record written for the app
        // by a transaction that commits after this statement began stays, as with sled.
        let tables: Vec<String> = tx
            .query(APP_TABLES, &[])
            .await?
            .iter()
            .map(|row| row.get(0))
            .collect();
        if tables.is_empty() {
            return Ok(0);
        }
        // The statement's text follows the schema, so it is prepared for this call only: rare admin work.
        let removed: i64 = tx
            .query_one(&delete_everywhere_sql(&tables), &[&name])
            .await?
            .get(0);
        tx.commit().await?;
        u64::try_from(removed)
            .map_err(|_| StoreError::Backend(format!("negative row count {removed}")))
    }
}

#[cfg(test)]
mod tests {
    use super::delete_everywhere_sql;
    use crate::store::{
        AppRecord, AppRepository, PostgresConfig, conformance::postgres_database, postgres::PgStore,
    };

    async fn store() -> PgStore {
        let config = PostgresConfig {
            url: Some(crate::secret::Secret::new(postgres_database().await)),
            ..PostgresConfig::default()
        };
        PgStore::connect(&config).await.expect("open the store")
    }

    fn app(name: &str) -> AppRecord {
        AppRecord {
            name: name.into(),
            ..Default::default()
        }
    }

    /// Tables the code has never heard of (as a later migration adds them) lose the app's rows too, and
    /// only its rows; a table without `app` and a view are left alone; every row deleted is counted.
    #[tokio::test]
    async fn delete_app_reaches_every_table_with_an_app_column() {
        let pg = store().await;
        pg.client()
            .await
            .unwrap()
            .batch_execute(
                "CREATE TABLE later (app text NOT NULL, n integer NOT NULL);
                 CREATE TABLE \"Odd Name\" (app text NOT NULL);
                 CREATE TABLE unrelated (application text NOT NULL);
                 CREATE VIEW later_view AS SELECT app FROM later;
                 INSERT INTO later VALUES ('o#a', 1), ('o#a', 2), ('o#ab', 3);
                 INSERT INTO \"Odd Name\" VALUES ('o#a'), ('o#b');
                 INSERT INTO unrelated VALUES ('o#a');",
            )
            .await
            .unwrap();
        pg.create_app(app("o#a")).await.unwrap();
        pg.create_app(app("o#ab")).await.unwrap();
        assert_eq!(pg.delete_app("o#a").await.unwrap(), 4);
        assert_eq!(pg.delete_app("o#a").await.unwrap(), 0);
        let client = pg.client().await.unwrap();
        let left = client
            .query_one(
                "SELECT (SELECT string_agg(app || n, ',' ORDER BY n) FROM later),
                        (SELECT string_agg(app, ',') FROM \"Odd Name\"),
                        (SELECT count(*) FROM unrelated)",
                &[],
            )
            .await
            .unwrap();
        assert_eq!(left.get::<_, &str>(0), "o#ab3");
        assert_eq!(left.get::<_, &str>(1), "o#b");
        assert_eq!(left.get::<_, i64>(2), 1);
        assert!(pg.get_app("o#ab").await.unwrap().is_some());
    }

    #[test]
    fn one_cte_per_table_summed() {
        let sql = delete_everywhere_sql(&["apps".into(), "\"odd name\"".into()]);
        assert_eq!(
            sql,
            "WITH d0 AS (DELETE FROM apps WHERE app = $1::text RETURNING 1), \
             d1 AS (DELETE FROM \"odd name\" WHERE app = $1::text RETURNING 1) \
             SELECT ((SELECT count(*) FROM d0) + (SELECT count(*) FROM d1))::bigint"
        );
    }
}
