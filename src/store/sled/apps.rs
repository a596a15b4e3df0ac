//! sled implementation of [`AppRepository`].

use std::ops::Bound;

use async_trait::async_trait;
use prost::Message;

use super::keys;
use super::{SledStore, decode};
use crate::store::{AppRecord, AppRepository, StoreError};

#[async_trait]
impl AppRepository for SledStore {
    async fn create_app(&self, app: AppRecord) -> Result<(), StoreError> {
        let written: Result<_, StoreError> = async {
            let key = keys::app(&app.name);
            self.tree(keys::APPS)?
                .compare_and_swap(&key, None as Option<&[u8]>, Some(app.encode_to_vec()))?
                .map_err(|_| StoreError::AlreadyExists(format!("app {}", app.name)))
        }
        .await;
        self.durably(written).await
    }

    async fn get_app(&self, name: &str) -> Result<Option<AppRecord>, StoreError> {
        let key = keys::app(name);
        self.tree(keys::APPS)?
            .get(&key)?
            .map(|v| decode(&key, &v))
            .transpose()
    }

    async fn list_apps(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AppRecord>, StoreError> {
        let start = match after {
            Some(a) => Bound::Excluded(keys::app(a)),
            None => Bound::Unbounded,
        };
        self.tree(keys::APPS)?
            .range((start, Bound::Unbounded))
            .take(limit)
            .map(|entry| {
                let (k, v) = entry?;
                decode(&k, &v)
            })
            .collect()
    }

    async fn update_app(&self, app: AppRecord) -> Result<(), StoreError> {
        let written: Result<_, StoreError> = async {
            let key = keys::app(&app.name);
            if self.replace_existing(keys::APPS, &key, app.encode_to_vec())? {
                Ok(())
            } else {
                Err(StoreError::NotFound(format!("app {}", app.name)))
            }
        }
        .await;
        self.durably(written).await
    }

    async fn delete_app(&self, name: &str) -> Result<u64, StoreError> {
        let written: Result<_, StoreError> = async {
            let mut removed = 0u64;
            if self.tree(keys::APPS)?.remove(keys::app(name))?.is_some() {
                removed += 1;
            }
            // Every tree, not a fixed list, so record kinds added later are covered without touching this.
            let prefix = keys::app_prefix(name);
            for tree_name in self.db.tree_names() {
                let tree = self.db.open_tree(&tree_name)?;
                for entry in tree.scan_prefix(&prefix) {
                    let (k, _) = entry?;
                    if tree.remove(&k)?.is_some() {
                        removed += 1;
                    }
                }
            }
            Ok(removed)
        }
        .await;
        self.durably(written).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{
        CallbackRuleRecord, CallbackRuleRepository, sled::test_support::temp_store,
    };

    fn rule(name: &str) -> CallbackRuleRecord {
        CallbackRuleRecord {
            name: name.into(),
            url: "http://x".into(),
            ..Default::default()
        }
    }

    fn app(name: &str) -> AppRecord {
        AppRecord {
            name: name.into(),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn apps_are_isolated_and_deleted_whole() {
        let (_dir, s) = temp_store();

        s.create_app(app("o#a")).await.unwrap();
        s.create_app(app("o#ab")).await.unwrap();
        assert!(matches!(
            s.create_app(app("o#a")).await,
            Err(StoreError::AlreadyExists(_))
        ));
        s.put_rule("o#a", rule("r"), 4).await.unwrap();
        s.put_rule("o#ab", rule("r"), 4).await.unwrap();
        s.put_rule("o#ab", rule("s"), 4).await.unwrap();
        assert_eq!(s.list_rules("o#a").await.unwrap().len(), 1);
        assert_eq!(s.list_rules("o#ab").await.unwrap().len(), 2);
        assert_eq!(s.delete_app("o#a").await.unwrap(), 2);
        assert_eq!(s.list_rules("o#ab").await.unwrap().len(), 2);
        assert!(s.get_app("o#a").await.unwrap().is_none());
        let listed = s.list_apps(None, 10).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].name, "o#ab");
    }

    #[tokio::test]
    async fn update_of_missing_app_is_not_found() {
        let (_dir, s) = temp_store();

        assert!(matches!(
            s.update_app(app("o#x")).await,
            Err(StoreError::NotFound(_))
        ));
    }
}
