//! The embedded sled implementation of the repositories: one tree per record kind.

use std::{ops::Bound, path::Path, sync::Mutex};

use async_trait::async_trait;
use prost::Message;

use super::{
    AppRecord, AppRepository, CallbackRuleRecord, CallbackRuleRepository, Flush, MetaRepository,
    StoreError, keys,
};

/// sled-backed store; every repository trait is implemented on it.
pub struct SledStore {
    db: sled::Db,
    apps: sled::Tree,
    callback_rules: sled::Tree,
    meta: sled::Tree,
    /// Serialises rule writes so the count limit cannot be raced past; rule writes are rare admin calls.
    rule_writes: Mutex<()>,
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Backend(e.to_string())
    }
}

fn decode<M: Message + Default>(key: &[u8], bytes: &[u8]) -> Result<M, StoreError> {
    M::decode(bytes).map_err(|e| StoreError::Corrupt {
        key: String::from_utf8_lossy(key).replace('\0', "/"),
        reason: e.to_string(),
    })
}

impl SledStore {
    /// Opens (or creates) the database in `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Backend(format!("cannot create {}: {e}", dir.display())))?;
        let db = sled::Config::new().path(dir.join("db")).open()?;
        Ok(Self {
            apps: db.open_tree(keys::APPS)?,
            callback_rules: db.open_tree(keys::CALLBACK_RULES)?,
            meta: db.open_tree(keys::META)?,
            db,
            rule_writes: Mutex::new(()),
        })
    }
}

#[async_trait]
impl AppRepository for SledStore {
    async fn create_app(&self, app: AppRecord) -> Result<(), StoreError> {
        let key = keys::app(&app.name);
        self.apps
            .compare_and_swap(&key, None as Option<&[u8]>, Some(app.encode_to_vec()))?
            .map_err(|_| StoreError::AlreadyExists(format!("app {}", app.name)))
    }

    async fn get_app(&self, name: &str) -> Result<Option<AppRecord>, StoreError> {
        let key = keys::app(name);
        self.apps.get(&key)?.map(|v| decode(&key, &v)).transpose()
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
        self.apps
            .range((start, Bound::Unbounded))
            .take(limit)
            .map(|entry| {
                let (k, v) = entry?;
                decode(&k, &v)
            })
            .collect()
    }

    async fn update_app(&self, app: AppRecord) -> Result<(), StoreError> {
        let key = keys::app(&app.name);
        let encoded = app.encode_to_vec();
        let mut replaced = false;
        self.apps.fetch_and_update(&key, |old| {
            replaced = old.is_some();
            old.map(|_| encoded.clone())
        })?;
        if replaced {
            Ok(())
        } else {
            Err(StoreError::NotFound(format!("app {}", app.name)))
        }
    }

    async fn delete_app(&self, name: &str) -> Result<u64, StoreError> {
        let mut removed = 0u64;
        if self.apps.remove(keys::app(name))?.is_some() {
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
}

#[async_trait]
impl CallbackRuleRepository for SledStore {
    async fn put_rule(
        &self,
        app: &str,
        rule: CallbackRuleRecord,
        max_rules: usize,
    ) -> Result<bool, StoreError> {
        let _guard = self
            .rule_writes
            .lock()
            .map_err(|_| StoreError::Backend("rule lock poisoned".into()))?;
        let key = keys::callback_rule(app, &rule.name);
        let exists = self.callback_rules.contains_key(&key)?;
        if !exists {
            let count = self
                .callback_rules
                .scan_prefix(keys::app_prefix(app))
                .count();
            if count >= max_rules {
                return Err(StoreError::LimitReached {
                    what: "callback rules",
                    limit: max_rules,
                });
            }
        }
        self.callback_rules.insert(key, rule.encode_to_vec())?;
        Ok(!exists)
    }

    async fn get_rule(
        &self,
        app: &str,
        name: &str,
    ) -> Result<Option<CallbackRuleRecord>, StoreError> {
        let key = keys::callback_rule(app, name);
        self.callback_rules
            .get(&key)?
            .map(|v| decode(&key, &v))
            .transpose()
    }

    async fn list_rules(&self, app: &str) -> Result<Vec<CallbackRuleRecord>, StoreError> {
        self.callback_rules
            .scan_prefix(keys::app_prefix(app))
            .map(|entry| {
                let (k, v) = entry?;
                decode(&k, &v)
            })
            .collect()
    }

    async fn delete_rule(&self, app: &str, name: &str) -> Result<bool, StoreError> {
        Ok(self
            .callback_rules
            .remove(keys::callback_rule(app, name))?
            .is_some())
    }
}

#[async_trait]
impl MetaRepository for SledStore {
    async fn get_meta(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.meta.get(key)?.map(|v| v.to_vec()))
    }

    async fn put_meta(&self, key: &[u8], value: Vec<u8>) -> Result<(), StoreError> {
        self.meta.insert(key, value)?;
        Ok(())
    }
}

#[async_trait]
impl Flush for SledStore {
    async fn flush(&self) -> Result<(), StoreError> {
        self.db.flush_async().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let dir = tempfile::tempdir().unwrap();
        let s = SledStore::open(dir.path()).unwrap();
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
    async fn rule_limit_counts_only_new_rules() {
        let dir = tempfile::tempdir().unwrap();
        let s = SledStore::open(dir.path()).unwrap();
        assert!(s.put_rule("o#a", rule("a"), 2).await.unwrap());
        assert!(s.put_rule("o#a", rule("b"), 2).await.unwrap());
        assert!(!s.put_rule("o#a", rule("b"), 2).await.unwrap());
        assert!(matches!(
            s.put_rule("o#a", rule("c"), 2).await,
            Err(StoreError::LimitReached { limit: 2, .. })
        ));
    }

    #[tokio::test]
    async fn update_of_missing_app_is_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let s = SledStore::open(dir.path()).unwrap();
        assert!(matches!(
            s.update_app(app("o#x")).await,
            Err(StoreError::NotFound(_))
        ));
    }
}
