//! PostgreSQL implementation of [`UserSettingsRepository`].

use std::collections::BTreeMap;

use async_trait::async_trait;
use deadpool_postgres::Transaction;
use prost::Message;
use tokio_postgres::types::ToSql;

use super::{PgStore, sql};
use crate::store::{
    ChatKind, ConversationKey, NotificationRecord, PushProfile, StoreError, TemplateRecord,
    UserSettingsRecord, UserSettingsRepository, settings::Change,
};

/// The number a conversation's kind is stored as (`conversation_settings.kind`).
pub(super) fn kind_number(kind: ChatKind) -> i32 {
    match kind {
        ChatKind::User => 1,
        ChatKind::Group => 2,
    }
}

/// Whether a conversation setting says more than "follow the app level" at `now_ms`: a stored type, an
/// interval, or a period that has not ended (sled's rule, so both backends keep the same records).
fn conversation_setting_matters(r: &NotificationRecord, now_ms: i64) -> bool {
    r.notification_type != 0 || r.ignore_interval.is_some() || r.ignore_until_ms > now_ms
}

/// The statements that read one settings row for update and write it back. Each takes the row's key as its
/// first parameters; `insert` and `update` then take the encoded record and the row's other columns.
struct RowStatements {
    table: &'static str,
    select: &'static str,
    insert: &'static str,
    update: &'static str,
    delete: &'static str,
}

/// A user's own settings, keyed (app, user); its other column is the chosen template's name.
const USER_ROW: RowStatements = RowStatements {
    table: "user_settings",
    select: "SELECT record FROM user_settings WHERE app = $1 AND user_id = $2 FOR UPDATE",
    insert: "INSERT INTO user_settings (app, user_id, record, template) VALUES ($1, $2, $3, $4)
             ON CONFLICT (app, user_id) DO NOTHING",
    update: "UPDATE user_settings SET record = $3, template = $4 WHERE app = $1 AND user_id = $2",
    delete: "DELETE FROM user_settings WHERE app = $1 AND user_id = $2",
};

/// One conversation's setting, keyed (app, user, kind, conversation).
const CONVERSATION_ROW: RowStatements = RowStatements {
    table: "conversation_settings",
    select: "SELECT record FROM conversation_settings
             WHERE app = $1 AND user_id = $2 AND kind = $3 AND conversation = $4 FOR UPDATE",
    insert: "INSERT INTO conversation_settings (app, user_id, kind, conversation, record)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (app, user_id, kind, conversation) DO NOTHING",
    update: "UPDATE conversation_settings SET record = $5
             WHERE app = $1 AND user_id = $2 AND kind = $3 AND conversation = $4",
    delete: "DELETE FROM conversation_settings
             WHERE app = $1 AND user_id = $2 AND kind = $3 AND conversation = $4",
};

/// Reads the row `key` names (locking it), applies `change` to its record (or the default) and writes the
/// result, or removes the row when `keep` says the result is not worth storing; `columns` gives the row's
/// other text columns from the record. Returns the result.
///
/// The row lock holds off other writers of the row between the read and the write, so concurrent changes
/// apply one after the other. A row that does not exist yet cannot be locked: when another transaction
/// creates it between the read and the insert, the insert does nothing and the change runs again on what
/// that transaction committed (the trait allows a change to run more than once); each such try means
/// another writer made progress.
async fn read_modify_write<M: Message + Default>(
    tx: &Transaction<'_>,
    row: &RowStatements,
    key: &[&(dyn ToSql + Sync)],
    key_names: &[&str],
    change: Change<'_, M>,
    keep: impl Fn(&M) -> bool + Send,
    columns: impl Fn(&M) -> Vec<String> + Send,
) -> Result<M, StoreError> {
    let select = tx.prepare_cached(row.select).await?;
    loop {
        let current = tx.query_opt(&select, key).await?;
        let existed = current.is_some();
        let mut record = match current {
            Some(current) => sql::decode_named(row.table, key_names, current.get(0))?,
            None => M::default(),
        };
        change(&mut record);
        let encoded = record.encode_to_vec();
        let others = columns(&record);
        let mut values: Vec<&(dyn ToSql + Sync)> = key.to_vec();
        values.push(&encoded);
        values.extend(others.iter().map(|c| c as &(dyn ToSql + Sync)));
        match (existed, keep(&record)) {
            (true, true) => {
                tx.execute(&tx.prepare_cached(row.update).await?, &values)
                    .await?;
            }
            (true, false) => {
                tx.execute(&tx.prepare_cached(row.delete).await?, key)
                    .await?;
            }
            (false, true) => {
                if tx
                    .execute(&tx.prepare_cached(row.insert).await?, &values)
                    .await?
                    == 0
                {
                    continue;
                }
            }
            (false, false) => {}
        }
        return Ok(record);
    }
}

/// The user row's other column: the chosen template, which `push_profile` joins on.
fn user_columns(record: &UserSettingsRecord) -> Vec<String> {
    vec![record.template.clone()]
}

#[async_trait]
impl UserSettingsRepository for PgStore {
    async fn get_user_settings(
        &self,
        app: &str,
        user: &str,
    ) -> Result<Option<UserSettingsRecord>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT record FROM user_settings WHERE app = $1 AND user_id = $2")
            .await?;
        client
            .query_opt(&stmt, &[&app, &user])
            .await?
            .map(|row| sql::decode_named(USER_ROW.table, &[app, user], row.get(0)))
            .transpose()
    }

    async fn update_user_settings(
        &self,
        app: &str,
        user: &str,
        change: Change<'_, UserSettingsRecord>,
    ) -> Result<UserSettingsRecord, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // A user record is kept even when it returns to the defaults: it records that the user was set up
        // (`has_user`).
        let record = read_modify_write(
            &tx,
            &USER_ROW,
            &[&app, &user],
            &[app, user],
            change,
            |_| true,
            user_columns,
        )
        .await?;
        tx.commit().await?;
        Ok(record)
    }

    async fn set_nicknames(
        &self,
        app: &str,
        nicknames: &[(String, String)],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        // One nickname per user, the last given winning as when they are set one after the other; in user
        // order, so that transactions setting overlapping users lock their rows in the same order.
        let nicknames: BTreeMap<&str, &str> = nicknames
            .iter()
            .map(|(user, nickname)| (user.as_str(), nickname.as_str()))
            .collect();
        if nicknames.is_empty() {
            return Ok(());
        }
        let users: Vec<&str> = nicknames.keys().copied().collect();
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // Rows for the users that have none (an empty record is the defaults), so that every row exists
        // and the read below locks them all: a user created by another transaction meanwhile is then
        // changed, not overwritten.
        let create = tx
            .prepare_cached(
                "INSERT INTO user_settings (app, user_id, template, record)
                 SELECT $1, u, '', ''::bytea FROM unnest($2::text[]) AS u
                 ON CONFLICT (app, user_id) DO NOTHING",
            )
            .await?;
        tx.execute(&create, &[&app, &users]).await?;
        let select = tx
            .prepare_cached(
                "SELECT user_id, record FROM user_settings
                 WHERE app = $1 AND user_id = ANY($2::text[])
                 ORDER BY user_id FOR UPDATE",
            )
            .await?;
        let rows = tx.query(&select, &[&app, &users]).await?;
        let mut changed_users = Vec::with_capacity(rows.len());
        let mut records = Vec::with_capacity(rows.len());
        for row in &rows {
            let user: &str = row.get(0);
            let mut record: UserSettingsRecord =
                sql::decode_named(USER_ROW.table, &[app, user], row.get(1))?;
            record.nickname = nicknames.get(user).copied().unwrap_or_default().to_owned();
            record.update_time_ms = now_ms;
            changed_users.push(user);
            records.push(record.encode_to_vec());
        }
        let update = tx
            .prepare_cached(
                "UPDATE user_settings AS s SET record = v.record
                 FROM unnest($2::text[], $3::bytea[]) AS v(user_id, record)
                 WHERE s.app = $1 AND s.user_id = v.user_id",
            )
            .await?;
        tx.execute(&update, &[&app, &changed_users, &records])
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get_conversation_setting(
        &self,
        app: &str,
        user: &str,
        conversation: &ConversationKey,
    ) -> Result<Option<NotificationRecord>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT record FROM conversation_settings
                 WHERE app = $1 AND user_id = $2 AND kind = $3 AND conversation = $4",
            )
            .await?;
        let kind = kind_number(conversation.kind);
        client
            .query_opt(&stmt, &[&app, &user, &kind, &conversation.key])
            .await?
            .map(|row| {
                sql::decode_named(
                    CONVERSATION_ROW.table,
                    &[app, user, &conversation.key],
                    row.get(0),
                )
            })
            .transpose()
    }

    async fn update_conversation_setting(
        &self,
        app: &str,
        user: &str,
        conversation: &ConversationKey,
        now_ms: i64,
        change: Change<'_, NotificationRecord>,
    ) -> Result<NotificationRecord, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let kind = kind_number(conversation.kind);
        // A setting back at "follow the app level" is removed, so that resetting conversations does not
        // leave records behind for ever.
        let record = read_modify_write(
            &tx,
            &CONVERSATION_ROW,
            &[&app, &user, &kind, &conversation.key],
            &[app, user, &conversation.key],
            change,
            |r| conversation_setting_matters(r, now_ms),
            |_| Vec::new(),
        )
        .await?;
        tx.commit().await?;
        Ok(record)
    }

    async fn push_profile(
        &self,
        app: &str,
        user: &str,
        conversation: Option<&ConversationKey>,
    ) -> Result<PushProfile, StoreError> {
        let client = self.client().await?;
        // One statement, so one round trip and one snapshot: the user's row, the conversation's (no key
        // matches none) and the template the user's row names, each left-joined to a single row.
        let stmt = client
            .prepare_cached(
                "SELECT u.record, c.record, t.record
                 FROM (VALUES (1)) AS one (x)
                 LEFT JOIN user_settings u ON u.app = $1 AND u.user_id = $2
                 LEFT JOIN conversation_settings c
                     ON c.app = $1 AND c.user_id = $2 AND c.kind = $3 AND c.conversation = $4
                 LEFT JOIN templates t ON t.app = $1 AND u.template <> '' AND t.name = u.template",
            )
            .await?;
        let kind = conversation.map(|c| kind_number(c.kind));
        let key = conversation.map(|c| c.key.as_str());
        let row = client.query_one(&stmt, &[&app, &user, &kind, &key]).await?;
        let settings: UserSettingsRecord = row
            .get::<_, Option<&[u8]>>(0)
            .map(|bytes| sql::decode_named(USER_ROW.table, &[app, user], bytes))
            .transpose()?
            .unwrap_or_default();
        let conversation = match (conversation, row.get::<_, Option<&[u8]>>(1)) {
            (Some(c), Some(bytes)) => Some((
                c.clone(),
                sql::decode_named(CONVERSATION_ROW.table, &[app, user, &c.key], bytes)?,
            )),
            _ => None,
        };
        let template: Option<TemplateRecord> = row
            .get::<_, Option<&[u8]>>(2)
            .map(|bytes| sql::decode_named("templates", &[app, &settings.template], bytes))
            .transpose()?;
        Ok(PushProfile {
            user: settings,
            conversation,
            template,
        })
    }

    async fn has_user(&self, app: &str, user: &str) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM user_settings WHERE app = $1 AND user_id = $2)
                     OR EXISTS (SELECT 1 FROM conversation_settings WHERE app = $1 AND user_id = $2)",
            )
            .await?;
        Ok(client.query_one(&stmt, &[&app, &user]).await?.get(0))
    }

    async fn delete_user(&self, app: &str, user: &str) -> Result<(u64, u64), StoreError> {
        let client = self.client().await?;
        // Both deletes in one statement: atomic without an explicit transaction.
        let stmt = client
            .prepare_cached(
                "WITH u AS (DELETE FROM user_settings WHERE app = $1 AND user_id = $2 RETURNING 1),
                      c AS (DELETE FROM conversation_settings WHERE app = $1 AND user_id = $2
                            RETURNING 1)
                 SELECT (SELECT count(*) FROM u), (SELECT count(*) FROM c)",
            )
            .await?;
        let row = client.query_one(&stmt, &[&app, &user]).await?;
        let count = |i: usize| {
            let n: i64 = row.get(i);
            u64::try_from(n).map_err(|_| StoreError::Backend(format!("negative row count {n}")))
        };
        Ok((count(0)?, count(1)?))
    }
}
