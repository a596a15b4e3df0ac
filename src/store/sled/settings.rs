//! sled implementation of [`UserSettingsRepository`].

use async_trait::async_trait;
use prost::Message;

use super::keys;
use super::{SledStore, decode, tx_decode};
use crate::store::{
    ConversationKey, NotificationRecord, PushProfile, StoreError, TemplateRecord,
    UserSettingsRecord, UserSettingsRepository, settings::Change,
};

impl SledStore {
    /// Reads `key` of `tree`, applies `change` to its decoded value (or the default) and writes the result
    /// atomically, unless `keep` says the result is not worth storing, in which case the key is removed.
    fn read_modify_write<M: Message + Default + Clone>(
        &self,
        tree: &str,
        key: &[u8],
        change: &(dyn Fn(&mut M) + Send + Sync),
        keep: impl Fn(&M) -> bool,
    ) -> Result<M, StoreError> {
        let mut failure = None;
        let mut result = M::default();
        self.tree(tree)?.fetch_and_update(key, |old| {
            // sled retries this closure when another write raced it, so nothing may carry over a try.
            failure = None;
            let mut record = match old.map(|bytes| decode::<M>(key, bytes)).transpose() {
                Ok(record) => record.unwrap_or_default(),
                Err(e) => {
                    failure = Some(e);
                    return old.map(<[u8]>::to_vec);
                }
            };
            change(&mut record);
            let stored = keep(&record).then(|| record.encode_to_vec());
            result = record;
            stored
        })?;
        match failure {
            Some(e) => Err(e),
            None => Ok(result),
        }
    }

    fn get_record<M: Message + Default>(
        &self,
        tree: &str,
        key: &[u8],
    ) -> Result<Option<M>, StoreError> {
        self.tree(tree)?
            .get(key)?
            .map(|v| decode(key, &v))
            .transpose()
    }
}

/// Whether a conversation setting says more than "follow the app level" at `now_ms`: a stored type, an
/// interval, or a period that has not ended.
fn conversation_setting_matters(r: &NotificationRecord, now_ms: i64) -> bool {
    r.notification_type != 0 || r.ignore_interval.is_some() || r.ignore_until_ms > now_ms
}

fn conversation_key(app: &str, user: &str, c: &ConversationKey) -> Vec<u8> {
    keys::conversation_setting(app, user, c.kind, &c.key)
}

#[async_trait]
impl UserSettingsRepository for SledStore {
    async fn get_user_settings(
        &self,
        app: &str,
        user: &str,
    ) -> Result<Option<UserSettingsRecord>, StoreError> {
        self.get_record(keys::USER_SETTINGS, &keys::user_settings(app, user))
    }

    async fn update_user_settings(
        &self,
        app: &str,
        user: &str,
        change: Change<'_, UserSettingsRecord>,
    ) -> Result<UserSettingsRecord, StoreError> {
        let written: Result<_, StoreError> = async {
            // A user record is kept even when it returns to the defaults: it is small, and it records that the
            // user was set up (`has_user`).
            self.read_modify_write(
                keys::USER_SETTINGS,
                &keys::user_settings(app, user),
                change,
                |_| true,
            )
        }
        .await;
        self.durably(written).await
    }

    async fn set_nicknames(
        &self,
        app: &str,
        nicknames: &[(String, String)],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let written: Result<_, StoreError> = async {
            let tree = self.tree(keys::USER_SETTINGS)?;
            let outcome = tree.transaction(|tx| {
                for (user, nickname) in nicknames {
                    let key = keys::user_settings(app, user);
                    let mut record: UserSettingsRecord = match tx.get(&key)? {
                        Some(bytes) => tx_decode(&key, &bytes)?,
                        None => UserSettingsRecord::default(),
                    };
                    record.nickname = nickname.clone();
                    record.update_time_ms = now_ms;
                    tx.insert(key, record.encode_to_vec())?;
                }
                Ok(())
            });
            Ok(outcome?)
        }
        .await;
        self.durably(written).await
    }

    async fn get_conversation_setting(
        &self,
        app: &str,
        user: &str,
        conversation: &ConversationKey,
    ) -> Result<Option<NotificationRecord>, StoreError> {
        self.get_record(
            keys::CONVERSATION_SETTINGS,
            &conversation_key(app, user, conversation),
        )
    }

    async fn update_conversation_setting(
        &self,
        app: &str,
        user: &str,
        conversation: &ConversationKey,
        now_ms: i64,
        change: Change<'_, NotificationRecord>,
    ) -> Result<NotificationRecord, StoreError> {
        let written: Result<_, StoreError> = async {
            // A setting back at "follow the app level" is removed, so that resetting conversations does not
            // leave records behind for ever.
            self.read_modify_write(
                keys::CONVERSATION_SETTINGS,
                &conversation_key(app, user, conversation),
                change,
                |r| conversation_setting_matters(r, now_ms),
            )
        }
        .await;
        self.durably(written).await
    }

    async fn push_profile(
        &self,
        app: &str,
        user: &str,
        conversation: Option<&ConversationKey>,
    ) -> Result<PushProfile, StoreError> {
        let settings: UserSettingsRecord = self
            .get_record(keys::USER_SETTINGS, &keys::user_settings(app, user))?
            .unwrap_or_default();
        let conversation = match conversation {
            Some(c) => self
                .get_record(keys::CONVERSATION_SETTINGS, &conversation_key(app, user, c))?
                .map(|setting| (c.clone(), setting)),
            None => None,
        };
        let template = if settings.template.is_empty() {
            None
        } else {
            self.get_record::<TemplateRecord>(
                keys::TEMPLATES,
                &keys::template(app, &settings.template),
            )?
        };
        Ok(PushProfile {
            user: settings,
            conversation,
            template,
        })
    }

    async fn has_user(&self, app: &str, user: &str) -> Result<bool, StoreError> {
        if self
            .tree(keys::USER_SETTINGS)?
            .contains_key(keys::user_settings(app, user))?
        {
            return Ok(true);
        }
        Ok(self
            .tree(keys::CONVERSATION_SETTINGS)?
            .scan_prefix(keys::user_prefix(app, user))
            .keys()
            .next()
            .transpose()?
            .is_some())
    }

    async fn delete_user(&self, app: &str, user: &str) -> Result<(u64, u64), StoreError> {
        let written: Result<_, StoreError> = async {
            let users = u64::from(
                self.tree(keys::USER_SETTINGS)?
                    .remove(keys::user_settings(app, user))?
                    .is_some(),
            );
            let conversations = self.tree(keys::CONVERSATION_SETTINGS)?;
            let mut removed = 0u64;
            for key in conversations
                .scan_prefix(keys::user_prefix(app, user))
                .keys()
            {
                if conversations.remove(key?)?.is_some() {
                    removed += 1;
                }
            }
            Ok((users, removed))
        }
        .await;
        self.durably(written).await
    }
}
