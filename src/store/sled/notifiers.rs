//! sled implementation of [`NotifierRepository`].

use std::ops::Bound;

use async_trait::async_trait;
use prost::Message;

use super::keys;
use super::{SledStore, decode};
use crate::store::{NotifierRecord, NotifierRepository, StoreError};

#[async_trait]
impl NotifierRepository for SledStore {
    async fn create_notifier(
        &self,
        app: &str,
        notifier: NotifierRecord,
        max_per_app: usize,
    ) -> Result<(), StoreError> {
        let written: Result<_, StoreError> = async {
            let _guard = self.limited_write()?;
            let tree = self.tree(keys::NOTIFIERS)?;
            let key = keys::notifier(app, notifier.name());
            if tree.contains_key(&key)? {
                return Err(StoreError::AlreadyExists(format!(
                    "notifier {}",
                    notifier.name()
                )));
            }
            if tree.scan_prefix(keys::app_prefix(app)).count() >= max_per_app {
                return Err(StoreError::LimitReached {
                    what: "notifiers",
                    limit: max_per_app,
                });
            }
            tree.insert(key, notifier.encode_to_vec())?;
            Ok(())
        }
        .await;
        self.durably(written).await
    }

    async fn get_notifier(
        &self,
        app: &str,
        name: &str,
    ) -> Result<Option<NotifierRecord>, StoreError> {
        let key = keys::notifier(app, name);
        self.tree(keys::NOTIFIERS)?
            .get(&key)?
            .map(|v| decode(&key, &v))
            .transpose()
    }

    async fn list_notifiers(
        &self,
        app: &str,
        after: Option<&str>,
        limit: usize,
        vendor: i32,
    ) -> Result<Vec<NotifierRecord>, StoreError> {
        let prefix = keys::app_prefix(app);
        let start = match after {
            Some(name) => Bound::Excluded(keys::notifier(app, name)),
            None => Bound::Included(prefix.clone()),
        };
        let mut out = Vec::new();
        for entry in self.tree(keys::NOTIFIERS)?.range((start, Bound::Unbounded)) {
            let (k, v) = entry?;
            if !k.starts_with(&prefix) || out.len() >= limit {
                break;
            }
            let record: NotifierRecord = decode(&k, &v)?;
            if vendor == 0 || record.vendor() == vendor {
                out.push(record);
            }
        }
        Ok(out)
    }

    async fn update_notifier(&self, app: &str, notifier: NotifierRecord) -> Result<(), StoreError> {
        let written: Result<_, StoreError> = async {
            let key = keys::notifier(app, notifier.name());
            if self.replace_existing(keys::NOTIFIERS, &key, notifier.encode_to_vec())? {
                Ok(())
            } else {
                Err(StoreError::NotFound(format!(
                    "notifier {}",
                    notifier.name()
                )))
            }
        }
        .await;
        self.durably(written).await
    }

    async fn delete_notifier(&self, app: &str, name: &str) -> Result<bool, StoreError> {
        let written: Result<_, StoreError> = async {
            Ok(self
                .tree(keys::NOTIFIERS)?
                .remove(keys::notifier(app, name))?
                .is_some())
        }
        .await;
        self.durably(written).await
    }
}
