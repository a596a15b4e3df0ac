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
    use super::super::test_support::temp_store;
    use crate::store::{AppRepository, LabelRecord, LabelRepository};

    /// sled's count of an app's records takes every entry of every tree, its indexes' included: a label
    /// with one member is three (the label, the membership, the by-user index entry). The conformance
    /// suite checks what every backend owes (at least one per record); this is sled's own figure, which
    /// `DeleteApp` reports.
    #[tokio::test]
    async fn delete_app_counts_index_entries_as_records() {
        let (_dir, s) = temp_store();
        let label = LabelRecord {
            name: "l".into(),
            create_time_ms: 1,
            ..Default::default()
        };
        s.create_label("o#a", label, 10).await.unwrap();
        s.add_label_users("o#a", "l", &["u".to_owned()], 5, 10)
            .await
            .unwrap();
        assert_eq!(s.delete_app("o#a").await.unwrap(), 3);
    }
}
