//! Push templates of an app: their records and repository.

use async_trait::async_trait;

use super::StoreError;

/// One push template of an app. Times are Unix milliseconds.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TemplateRecord {
    /// Name, unique in the app.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Title pattern; empty leaves the title to the display style.
    #[prost(string, tag = "2")]
    pub title_pattern: String,
    /// Body pattern; empty leaves the body to the display style.
    #[prost(string, tag = "3")]
    pub content_pattern: String,
    /// Creation time.
    #[prost(int64, tag = "4")]
    pub create_time_ms: i64,
    /// Last change.
    #[prost(int64, tag = "5")]
    pub update_time_ms: i64,
}

/// A change to a stored template: the new record, or `None` to leave it as it is. It may run more than once
/// when writes race, so it must be pure.
pub type TemplateChange<'a> = &'a (dyn Fn(&TemplateRecord) -> Option<TemplateRecord> + Send + Sync);

/// Push templates of every app, keyed by app and name.
#[async_trait]
pub trait TemplateRepository: Send + Sync {
    /// Stores a new template; `AlreadyExists` when the name is taken, `LimitReached` when the app has
    /// `max_templates` already.
    async fn create_template(
        &self,
        app: &str,
        template: TemplateRecord,
        max_templates: usize,
    ) -> Result<(), StoreError>;
    /// One template.
    async fn get_template(
        &self,
        app: &str,
        name: &str,
    ) -> Result<Option<TemplateRecord>, StoreError>;
    /// Applies `change` atomically; returns the stored result, or `None` when `change` declined. `NotFound`
    /// when there is no such template.
    async fn update_template(
        &self,
        app: &str,
        name: &str,
        change: TemplateChange<'_>,
    ) -> Result<Option<TemplateRecord>, StoreError>;
    /// Removes a template; returns whether it existed.
    async fn delete_template(&self, app: &str, name: &str) -> Result<bool, StoreError>;
}
