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
