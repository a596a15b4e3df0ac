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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{proto::v1::Notifier, store::sled::test_support::temp_store};

    fn record(name: &str, vendor: i32) -> NotifierRecord {
        NotifierRecord {
            public: Some(Notifier {
                name: name.into(),
                vendor,
                ..Default::default()
            }),
            sealed_credentials: vec![1, 2, 3],
        }
    }

    #[tokio::test]
    async fn create_list_filter_and_limit() {
        let (_dir, s) = temp_store();
        s.create_notifier("o#a", record("n1", 1), 3).await.unwrap();
        s.create_notifier("o#a", record("n2", 2), 3).await.unwrap();
        s.create_notifier("o#ab", record("n1", 2), 3).await.unwrap();
        assert!(matches!(
            s.create_notifier("o#a", record("n1", 1), 3).await,
            Err(StoreError::AlreadyExists(_))
        ));
        s.create_notifier("o#a", record("n3", 2), 3).await.unwrap();
        assert!(matches!(
            s.create_notifier("o#a", record("n4", 2), 3).await,
            Err(StoreError::LimitReached { limit: 3, .. })
        ));
        let all = s.list_notifiers("o#a", None, 10, 0).await.unwrap();
        assert_eq!(
            all.iter().map(|r| r.name()).collect::<Vec<_>>(),
            ["n1", "n2", "n3"]
        );
        let fcm = s.list_notifiers("o#a", None, 10, 2).await.unwrap();
        assert_eq!(fcm.len(), 2);
        let after = s.list_notifiers("o#a", Some("n1"), 1, 0).await.unwrap();
        assert_eq!(after[0].name(), "n2");
        assert!(s.delete_notifier("o#a", "n1").await.unwrap());
        assert!(!s.delete_notifier("o#a", "n1").await.unwrap());
        assert!(s.get_notifier("o#ab", "n1").await.unwrap().is_some());
    }
}
