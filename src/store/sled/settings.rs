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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{
        AppRepository, ChatKind, DailyInterval, TemplateRepository, sled::test_support::temp_store,
    };

    fn group(id: &str) -> ConversationKey {
        ConversationKey {
            kind: ChatKind::Group,
            key: id.into(),
        }
    }

    fn peer(id: &str) -> ConversationKey {
        ConversationKey {
            kind: ChatKind::User,
            key: id.into(),
        }
    }

    #[tokio::test]
    async fn user_settings_change_field_by_field() {
        let (_dir, s) = temp_store();

        assert!(s.get_user_settings("o#a", "u").await.unwrap().is_none());
        assert!(!s.has_user("o#a", "u").await.unwrap());
        s.update_user_settings("o#a", "u", &|r| r.nickname = "Nick".into())
            .await
            .unwrap();
        let after = s
            .update_user_settings("o#a", "u", &|r| r.language = "en".into())
            .await
            .unwrap();
        assert_eq!(
            after.nickname, "Nick",
            "an earlier change survives a later one"
        );
        assert_eq!(after.language, "en");
        assert_eq!(s.get_user_settings("o#a", "u").await.unwrap(), Some(after));
        assert!(s.has_user("o#a", "u").await.unwrap());
    }

    #[tokio::test]
    async fn users_and_apps_with_shared_prefixes_stay_apart() {
        let (_dir, s) = temp_store();

        s.update_user_settings("o#a", "ab", &|r| r.nickname = "AB".into())
            .await
            .unwrap();
        s.update_conversation_setting("o#a", "ab", &group("g"), 0, &|r| r.notification_type = 4)
            .await
            .unwrap();
        s.update_user_settings("o#ab", "u", &|r| r.nickname = "other app".into())
            .await
            .unwrap();
        assert!(!s.has_user("o#a", "a").await.unwrap());
        assert!(s.get_user_settings("o#a", "a").await.unwrap().is_none());
        assert_eq!(s.delete_user("o#a", "a").await.unwrap(), (0, 0));
        assert!(s.get_user_settings("o#ab", "b").await.unwrap().is_none());
        assert_eq!(s.delete_user("o#a", "ab").await.unwrap(), (1, 1));
        assert_eq!(
            s.get_user_settings("o#ab", "u")
                .await
                .unwrap()
                .unwrap()
                .nickname,
            "other app"
        );
    }

    #[tokio::test]
    async fn nicknames_are_set_together() {
        let (_dir, s) = temp_store();

        s.update_user_settings("o#a", "u1", &|r| r.language = "de".into())
            .await
            .unwrap();
        s.set_nicknames(
            "o#a",
            &[("u1".into(), "One".into()), ("u2".into(), "Two".into())],
            7,
        )
        .await
        .unwrap();
        let u1 = s.get_user_settings("o#a", "u1").await.unwrap().unwrap();
        assert_eq!((u1.nickname.as_str(), u1.language.as_str()), ("One", "de"));
        assert_eq!(u1.update_time_ms, 7);
        let u2 = s.get_user_settings("o#a", "u2").await.unwrap().unwrap();
        assert_eq!(u2.nickname, "Two");
    }

    #[tokio::test]
    async fn conversation_settings_are_per_kind_and_removed_at_defaults() {
        let (_dir, s) = temp_store();

        let set = s
            .update_conversation_setting("o#a", "u", &peer("x"), 1_000, &|r| {
                r.notification_type = 3
            })
            .await
            .unwrap();
        assert_eq!(set.notification_type, 3);
        assert!(
            s.get_conversation_setting("o#a", "u", &group("x"))
                .await
                .unwrap()
                .is_none(),
            "a group is not the one-to-one chat of the same id"
        );
        assert_eq!(
            s.get_conversation_setting("o#a", "u", &peer("x"))
                .await
                .unwrap(),
            Some(set)
        );
        // Back to "follow the app level" with a period that has already ended: nothing is kept.
        s.update_conversation_setting("o#a", "u", &peer("x"), 1_000, &|r| {
            r.notification_type = 0;
            r.ignore_until_ms = 500;
        })
        .await
        .unwrap();
        assert!(
            s.get_conversation_setting("o#a", "u", &peer("x"))
                .await
                .unwrap()
                .is_none()
        );
        assert!(!s.has_user("o#a", "u").await.unwrap());
        // A running period alone is kept.
        s.update_conversation_setting("o#a", "u", &peer("x"), 1_000, &|r| {
            r.ignore_until_ms = 5_000
        })
        .await
        .unwrap();
        assert!(s.has_user("o#a", "u").await.unwrap());
        assert_eq!(s.delete_user("o#a", "u").await.unwrap(), (0, 1));
    }

    #[tokio::test]
    async fn push_profile_reads_everything_at_once() {
        let (_dir, s) = temp_store();

        let empty = s.push_profile("o#a", "u", Some(&group("g"))).await.unwrap();
        assert_eq!(empty, PushProfile::default());

        let template = TemplateRecord {
            name: "t1".into(),
            title_pattern: "{$fromNickname}".into(),
            ..Default::default()
        };
        s.create_template("o#a", template.clone(), 10)
            .await
            .unwrap();
        s.update_user_settings("o#a", "u", &|r| {
            r.nickname = "N".into();
            r.display_style = 2;
            r.template = "t1".into();
            r.notification = Some(NotificationRecord {
                notification_type: 3,
                ignore_interval: Some(DailyInterval {
                    start_minute: 60,
                    end_minute: 120,
                }),
                ..Default::default()
            });
        })
        .await
        .unwrap();
        s.update_conversation_setting("o#a", "u", &group("g"), 0, &|r| r.notification_type = 4)
            .await
            .unwrap();

        let p = s.push_profile("o#a", "u", Some(&group("g"))).await.unwrap();
        assert_eq!(p.user.nickname, "N");
        assert_eq!(p.user.display_style, 2);
        assert_eq!(p.user.notification.as_ref().unwrap().notification_type, 3);
        let (key, setting) = p.conversation.unwrap();
        assert_eq!((key, setting.notification_type), (group("g"), 4));
        assert_eq!(p.template, Some(template));

        let other = s.push_profile("o#a", "u", Some(&group("h"))).await.unwrap();
        assert!(other.conversation.is_none());
        // A deleted template reads as no template; the choice itself stays.
        s.delete_template("o#a", "t1").await.unwrap();
        let p = s.push_profile("o#a", "u", None).await.unwrap();
        assert!(p.template.is_none() && p.conversation.is_none());
        assert_eq!(p.user.template, "t1");
    }

    #[tokio::test]
    async fn deleting_an_app_removes_its_settings() {
        let (_dir, s) = temp_store();

        s.update_user_settings("o#a", "u", &|r| r.nickname = "N".into())
            .await
            .unwrap();
        s.update_conversation_setting("o#a", "u", &group("g"), 0, &|r| r.notification_type = 4)
            .await
            .unwrap();
        s.create_template("o#a", TemplateRecord::default(), 10)
            .await
            .unwrap();
        s.update_user_settings("o#ab", "u", &|r| r.nickname = "N".into())
            .await
            .unwrap();
        assert_eq!(s.delete_app("o#a").await.unwrap(), 3);
        assert!(!s.has_user("o#a", "u").await.unwrap());
        assert!(s.has_user("o#ab", "u").await.unwrap());
    }
}
