//! sled implementation of [`TemplateRepository`].

use async_trait::async_trait;
use prost::Message;

use super::keys;
use super::{SledStore, decode};
use crate::store::{StoreError, TemplateRecord, TemplateRepository, templates::TemplateChange};

#[async_trait]
impl TemplateRepository for SledStore {
    async fn create_template(
        &self,
        app: &str,
        template: TemplateRecord,
        max_templates: usize,
    ) -> Result<(), StoreError> {
        let written: Result<_, StoreError> = async {
            let _guard = self.limited_write()?;
            let tree = self.tree(keys::TEMPLATES)?;
            let key = keys::template(app, &template.name);
            if tree.contains_key(&key)? {
                return Err(StoreError::AlreadyExists(format!(
                    "template {}",
                    template.name
                )));
            }
            // Counting scans the app's templates; the limit keeps that short.
            let count = tree.scan_prefix(keys::app_prefix(app)).keys().count();
            if count >= max_templates {
                return Err(StoreError::LimitReached {
                    what: "templates",
                    limit: max_templates,
                });
            }
            tree.insert(key, template.encode_to_vec())?;
            Ok(())
        }
        .await;
        self.durably(written).await
    }

    async fn get_template(
        &self,
        app: &str,
        name: &str,
    ) -> Result<Option<TemplateRecord>, StoreError> {
        let key = keys::template(app, name);
        self.tree(keys::TEMPLATES)?
            .get(&key)?
            .map(|v| decode(&key, &v))
            .transpose()
    }

    async fn update_template(
        &self,
        app: &str,
        name: &str,
        change: TemplateChange<'_>,
    ) -> Result<Option<TemplateRecord>, StoreError> {
        let written: Result<_, StoreError> = async {
            let key = keys::template(app, name);
            let mut failure = None;
            let mut found = false;
            let mut result = None;
            self.tree(keys::TEMPLATES)?.fetch_and_update(&key, |old| {
                // sled retries this closure when another write raced it, so nothing may carry over a try.
                failure = None;
                found = old.is_some();
                result = None;
                let bytes = old?;
                match decode::<TemplateRecord>(&key, bytes) {
                    Ok(current) => match change(&current) {
                        Some(next) => {
                            let encoded = next.encode_to_vec();
                            result = Some(next);
                            Some(encoded)
                        }
                        None => Some(bytes.to_vec()),
                    },
                    Err(e) => {
                        failure = Some(e);
                        Some(bytes.to_vec())
                    }
                }
            })?;
            if let Some(e) = failure {
                return Err(e);
            }
            if !found {
                return Err(StoreError::NotFound(format!("template {name}")));
            }
            Ok(result)
        }
        .await;
        self.durably(written).await
    }

    async fn delete_template(&self, app: &str, name: &str) -> Result<bool, StoreError> {
        let written: Result<_, StoreError> = async {
            Ok(self
                .tree(keys::TEMPLATES)?
                .remove(keys::template(app, name))?
                .is_some())
        }
        .await;
        self.durably(written).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sled::test_support::temp_store;

    fn template(name: &str, title: &str) -> TemplateRecord {
        TemplateRecord {
            name: name.into(),
            title_pattern: title.into(),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn names_are_unique_and_counted_per_app() {
        let (_dir, s) = temp_store();

        s.create_template("o#a", template("t1", "a"), 2)
            .await
            .unwrap();
        assert!(matches!(
            s.create_template("o#a", template("t1", "b"), 2).await,
            Err(StoreError::AlreadyExists(_))
        ));
        s.create_template("o#a", template("t2", "b"), 2)
            .await
            .unwrap();
        assert!(matches!(
            s.create_template("o#a", template("t3", "c"), 2).await,
            Err(StoreError::LimitReached { limit: 2, .. })
        ));
        assert!(s.get_template("o#a", "t3").await.unwrap().is_none());
        // Another app, even one whose name extends this one's, has its own names and count.
        s.create_template("o#ab", template("t1", "other"), 2)
            .await
            .unwrap();
        assert_eq!(
            s.get_template("o#a", "t1")
                .await
                .unwrap()
                .unwrap()
                .title_pattern,
            "a"
        );
        assert!(s.delete_template("o#a", "t1").await.unwrap());
        assert!(!s.delete_template("o#a", "t1").await.unwrap());
        s.create_template("o#a", template("t3", "c"), 2)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn updates_apply_decline_or_miss() {
        let (_dir, s) = temp_store();

        s.create_template("o#a", template("t", "a"), 5)
            .await
            .unwrap();
        let changed = s
            .update_template("o#a", "t", &|t| {
                let mut next = t.clone();
                next.content_pattern = "body".into();
                Some(next)
            })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (
                changed.title_pattern.as_str(),
                changed.content_pattern.as_str()
            ),
            ("a", "body")
        );
        assert_eq!(
            s.update_template("o#a", "t", &|_| None).await.unwrap(),
            None
        );
        assert_eq!(s.get_template("o#a", "t").await.unwrap(), Some(changed));
        assert!(matches!(
            s.update_template("o#a", "nope", &|t| Some(t.clone())).await,
            Err(StoreError::NotFound(_))
        ));
    }
}
