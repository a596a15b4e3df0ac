//! sled implementation of [`CallbackRuleRepository`].

use async_trait::async_trait;
use prost::Message;

use super::keys;
use super::{SledStore, decode};
use crate::store::{CallbackRuleRecord, CallbackRuleRepository, StoreError};

#[async_trait]
impl CallbackRuleRepository for SledStore {
    async fn put_rule(
        &self,
        app: &str,
        rule: CallbackRuleRecord,
        max_rules: usize,
    ) -> Result<bool, StoreError> {
        let written: Result<_, StoreError> = async {
            let _guard = self.limited_write()?;
            let tree = self.tree(keys::CALLBACK_RULES)?;
            let key = keys::callback_rule(app, &rule.name);
            let exists = tree.contains_key(&key)?;
            if !exists {
                let count = tree.scan_prefix(keys::app_prefix(app)).count();
                if count >= max_rules {
                    return Err(StoreError::LimitReached {
                        what: "callback rules",
                        limit: max_rules,
                    });
                }
            }
            tree.insert(key, rule.encode_to_vec())?;
            Ok(!exists)
        }
        .await;
        self.durably(written).await
    }

    async fn get_rule(
        &self,
        app: &str,
        name: &str,
    ) -> Result<Option<CallbackRuleRecord>, StoreError> {
        let key = keys::callback_rule(app, name);
        self.tree(keys::CALLBACK_RULES)?
            .get(&key)?
            .map(|v| decode(&key, &v))
            .transpose()
    }

    async fn list_rules(&self, app: &str) -> Result<Vec<CallbackRuleRecord>, StoreError> {
        self.tree(keys::CALLBACK_RULES)?
            .scan_prefix(keys::app_prefix(app))
            .map(|entry| {
                let (k, v) = entry?;
                decode(&k, &v)
            })
            .collect()
    }

    async fn all_rules(&self) -> Result<Vec<(String, CallbackRuleRecord)>, StoreError> {
        self.tree(keys::CALLBACK_RULES)?
            .iter()
            .map(|entry| {
                let (k, v) = entry?;
                let app = keys::app_of_key(&k).unwrap_or_default().to_owned();
                Ok((app, decode(&k, &v)?))
            })
            .collect()
    }

    async fn delete_rule(&self, app: &str, name: &str) -> Result<bool, StoreError> {
        let written: Result<_, StoreError> = async {
            Ok(self
                .tree(keys::CALLBACK_RULES)?
                .remove(keys::callback_rule(app, name))?
                .is_some())
        }
        .await;
        self.durably(written).await
    }
}
