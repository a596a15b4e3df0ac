//! Scaffolding while the PostgreSQL repositories are written: every trait method not implemented yet.
//! Each repository's implementation replaces its block here; this file is gone before the backend lands.

#![allow(unused_variables)]

use async_trait::async_trait;

use super::PgStore;
use crate::{
    proto::v1::StoredMessage,
    store::{settings::Change, templates::TemplateChange, *},
};

// ---- apps
#[async_trait]
impl AppRepository for PgStore {
    async fn create_app(&self, app: AppRecord) -> Result<(), StoreError> {
        todo!("postgres: apps")
    }
    async fn get_app(&self, name: &str) -> Result<Option<AppRecord>, StoreError> {
        todo!("postgres: apps")
    }
    async fn list_apps(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AppRecord>, StoreError> {
        todo!("postgres: apps")
    }
    async fn update_app(&self, app: AppRecord) -> Result<(), StoreError> {
        todo!("postgres: apps")
    }
    async fn delete_app(&self, name: &str) -> Result<u64, StoreError> {
        todo!("postgres: apps")
    }
}

// ---- bindings
#[async_trait]
impl BindingRepository for PgStore {
    async fn bind(
        &self,
        app: &str,
        binding: BindingRecord,
        max_per_user: usize,
    ) -> Result<BindOutcome, StoreError> {
        todo!("postgres: bindings")
    }
    async fn unbind(
        &self,
        app: &str,
        user: &str,
        device_id: &str,
        notifier: Option<&str>,
    ) -> Result<Vec<BindingRecord>, StoreError> {
        todo!("postgres: bindings")
    }
    async fn user_bindings(
        &self,
        app: &str,
        user: &str,
        after: Option<&BindingCursor>,
        limit: usize,
    ) -> Result<(Vec<BindingRecord>, Option<BindingCursor>), StoreError> {
        todo!("postgres: bindings")
    }
    async fn app_bindings(
        &self,
        app: &str,
        after: Option<&BindingCursor>,
        limit: usize,
    ) -> Result<(Vec<BindingRecord>, Option<BindingCursor>), StoreError> {
        todo!("postgres: bindings")
    }
    async fn notifier_bindings(
        &self,
        app: &str,
        notifier: &str,
        after: Option<&BindingCursor>,
        limit: usize,
    ) -> Result<(Vec<BindingRecord>, Option<BindingCursor>), StoreError> {
        todo!("postgres: bindings")
    }
    async fn app_users(
        &self,
        app: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        todo!("postgres: bindings")
    }
    async fn delete_user_bindings(&self, app: &str, user: &str) -> Result<u64, StoreError> {
        todo!("postgres: bindings")
    }
    async fn has_bindings(&self, app: &str, user: &str) -> Result<bool, StoreError> {
        todo!("postgres: bindings")
    }
}

// ---- callback_rules
#[async_trait]
impl CallbackRuleRepository for PgStore {
    async fn put_rule(
        &self,
        app: &str,
        rule: CallbackRuleRecord,
        max_rules: usize,
    ) -> Result<bool, StoreError> {
        todo!("postgres: callback_rules")
    }
    async fn get_rule(
        &self,
        app: &str,
        name: &str,
    ) -> Result<Option<CallbackRuleRecord>, StoreError> {
        todo!("postgres: callback_rules")
    }
    async fn list_rules(&self, app: &str) -> Result<Vec<CallbackRuleRecord>, StoreError> {
        todo!("postgres: callback_rules")
    }
    async fn all_rules(&self) -> Result<Vec<(String, CallbackRuleRecord)>, StoreError> {
        todo!("postgres: callback_rules")
    }
    async fn delete_rule(&self, app: &str, name: &str) -> Result<bool, StoreError> {
        todo!("postgres: callback_rules")
    }
}

// ---- idempotency
#[async_trait]
impl IdempotencyRepository for PgStore {
    async fn begin_idempotent(
        &self,
        app: &str,
        rpc: &str,
        request_id: &str,
        now_ms: i64,
        claim_until_ms: i64,
    ) -> Result<Begun, StoreError> {
        todo!("postgres: idempotency")
    }
    async fn finish_idempotent(
        &self,
        app: &str,
        rpc: &str,
        request_id: &str,
        answer: &IdempotentAnswer,
    ) -> Result<(), StoreError> {
        todo!("postgres: idempotency")
    }
    async fn abandon_idempotent(
        &self,
        app: &str,
        rpc: &str,
        request_id: &str,
    ) -> Result<(), StoreError> {
        todo!("postgres: idempotency")
    }
    async fn sweep_answers(&self, now_ms: i64, limit: usize) -> Result<usize, StoreError> {
        todo!("postgres: idempotency")
    }
}

// ---- labels
#[async_trait]
impl LabelRepository for PgStore {
    async fn create_label(
        &self,
        app: &str,
        label: LabelRecord,
        max_labels: usize,
    ) -> Result<(), StoreError> {
        todo!("postgres: labels")
    }
    async fn get_label(&self, app: &str, name: &str) -> Result<Option<LabelRecord>, StoreError> {
        todo!("postgres: labels")
    }
    async fn list_labels(
        &self,
        app: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<LabelRecord>, StoreError> {
        todo!("postgres: labels")
    }
    async fn delete_label(&self, app: &str, name: &str) -> Result<Option<u64>, StoreError> {
        todo!("postgres: labels")
    }
    async fn add_label_users(
        &self,
        app: &str,
        label: &str,
        users: &[String],
        add_time_ms: i64,
        max_users: usize,
    ) -> Result<u64, StoreError> {
        todo!("postgres: labels")
    }
    async fn remove_label_users(
        &self,
        app: &str,
        label: &str,
        users: &[String],
    ) -> Result<u64, StoreError> {
        todo!("postgres: labels")
    }
    async fn get_label_user(
        &self,
        app: &str,
        label: &str,
        user: &str,
    ) -> Result<Option<LabelUserRecord>, StoreError> {
        todo!("postgres: labels")
    }
    async fn list_label_users(
        &self,
        app: &str,
        label: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<LabelUserRecord>, StoreError> {
        todo!("postgres: labels")
    }
    async fn users_of_labels(
        &self,
        app: &str,
        labels: &[String],
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        todo!("postgres: labels")
    }
    async fn labels_of_user(&self, app: &str, user: &str) -> Result<Vec<String>, StoreError> {
        todo!("postgres: labels")
    }
    async fn delete_user(&self, app: &str, user: &str) -> Result<u64, StoreError> {
        todo!("postgres: labels")
    }
    async fn has_user(&self, app: &str, user: &str) -> Result<bool, StoreError> {
        todo!("postgres: labels")
    }
}

// ---- messages
#[async_trait]
impl MessageRepository for PgStore {
    async fn put_message(&self, app: &str, message: &StoredMessage) -> Result<(), StoreError> {
        todo!("postgres: messages")
    }
    async fn get_message(&self, app: &str, id: &str) -> Result<Option<StoredMessage>, StoreError> {
        todo!("postgres: messages")
    }
}

// ---- meta
#[async_trait]
impl MetaRepository for PgStore {
    async fn get_meta(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        todo!("postgres: meta")
    }
    async fn put_meta(&self, key: &[u8], value: Vec<u8>) -> Result<(), StoreError> {
        todo!("postgres: meta")
    }
}

// ---- notifiers
#[async_trait]
impl NotifierRepository for PgStore {
    async fn create_notifier(
        &self,
        app: &str,
        notifier: NotifierRecord,
        max_per_app: usize,
    ) -> Result<(), StoreError> {
        todo!("postgres: notifiers")
    }
    async fn get_notifier(
        &self,
        app: &str,
        name: &str,
    ) -> Result<Option<NotifierRecord>, StoreError> {
        todo!("postgres: notifiers")
    }
    async fn list_notifiers(
        &self,
        app: &str,
        after: Option<&str>,
        limit: usize,
        vendor: i32,
    ) -> Result<Vec<NotifierRecord>, StoreError> {
        todo!("postgres: notifiers")
    }
    async fn update_notifier(&self, app: &str, notifier: NotifierRecord) -> Result<(), StoreError> {
        todo!("postgres: notifiers")
    }
    async fn delete_notifier(&self, app: &str, name: &str) -> Result<bool, StoreError> {
        todo!("postgres: notifiers")
    }
}

// ---- push_queue
#[async_trait]
impl PushQueueRepository for PgStore {
    async fn enqueue(
        &self,
        pushes: &[QueuedPush],
        claim: &QueueClaim,
    ) -> Result<Vec<QueueKey>, StoreError> {
        todo!("postgres: push_queue")
    }
    async fn claim_queued(
        &self,
        after: Option<&QueueKey>,
        limit: usize,
        claim: &QueueClaim,
        now_ms: i64,
    ) -> Result<Vec<(QueueKey, QueuedPush)>, StoreError> {
        todo!("postgres: push_queue")
    }
    async fn queued_push(&self, key: &QueueKey) -> Result<Option<QueuedPush>, StoreError> {
        todo!("postgres: push_queue")
    }
    async fn release_queued(&self, key: &QueueKey, holder: &str) -> Result<(), StoreError> {
        todo!("postgres: push_queue")
    }
    async fn complete_queued(&self, key: &QueueKey, holder: &str) -> Result<bool, StoreError> {
        todo!("postgres: push_queue")
    }
    async fn forget_claims(&self) -> Result<(), StoreError> {
        todo!("postgres: push_queue")
    }
    async fn queue_len(&self) -> Result<usize, StoreError> {
        todo!("postgres: push_queue")
    }
}

// ---- settings
#[async_trait]
impl UserSettingsRepository for PgStore {
    async fn get_user_settings(
        &self,
        app: &str,
        user: &str,
    ) -> Result<Option<UserSettingsRecord>, StoreError> {
        todo!("postgres: settings")
    }
    async fn update_user_settings(
        &self,
        app: &str,
        user: &str,
        change: Change<'_, UserSettingsRecord>,
    ) -> Result<UserSettingsRecord, StoreError> {
        todo!("postgres: settings")
    }
    async fn set_nicknames(
        &self,
        app: &str,
        nicknames: &[(String, String)],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        todo!("postgres: settings")
    }
    async fn get_conversation_setting(
        &self,
        app: &str,
        user: &str,
        conversation: &ConversationKey,
    ) -> Result<Option<NotificationRecord>, StoreError> {
        todo!("postgres: settings")
    }
    async fn update_conversation_setting(
        &self,
        app: &str,
        user: &str,
        conversation: &ConversationKey,
        now_ms: i64,
        change: Change<'_, NotificationRecord>,
    ) -> Result<NotificationRecord, StoreError> {
        todo!("postgres: settings")
    }
    async fn push_profile(
        &self,
        app: &str,
        user: &str,
        conversation: Option<&ConversationKey>,
    ) -> Result<PushProfile, StoreError> {
        todo!("postgres: settings")
    }
    async fn has_user(&self, app: &str, user: &str) -> Result<bool, StoreError> {
        todo!("postgres: settings")
    }
    async fn delete_user(&self, app: &str, user: &str) -> Result<(u64, u64), StoreError> {
        todo!("postgres: settings")
    }
}

// ---- tasks
#[async_trait]
impl TaskRepository for PgStore {
    async fn admit_task(
        &self,
        app: &str,
        limits: &TaskLimits,
        task: &TaskRecord,
        users: &[String],
        message: Option<&StoredMessage>,
    ) -> Result<Admission, StoreError> {
        todo!("postgres: tasks")
    }
    async fn get_task(&self, app: &str, id: &str) -> Result<Option<TaskRecord>, StoreError> {
        todo!("postgres: tasks")
    }
    async fn update_task(
        &self,
        app: &str,
        id: &str,
        change: TaskChange<'_>,
    ) -> Result<Option<TaskRecord>, StoreError> {
        todo!("postgres: tasks")
    }
    async fn list_tasks(
        &self,
        app: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<TaskRecord>, StoreError> {
        todo!("postgres: tasks")
    }
    async fn open_tasks(&self) -> Result<Vec<(String, TaskRecord)>, StoreError> {
        todo!("postgres: tasks")
    }
    async fn list_task_users(
        &self,
        app: &str,
        id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        todo!("postgres: tasks")
    }
    async fn delete_ended_tasks(
        &self,
        ended_before_ms: i64,
        limit: usize,
    ) -> Result<usize, StoreError> {
        todo!("postgres: tasks")
    }
}

// ---- templates
#[async_trait]
impl TemplateRepository for PgStore {
    async fn create_template(
        &self,
        app: &str,
        template: TemplateRecord,
        max_templates: usize,
    ) -> Result<(), StoreError> {
        todo!("postgres: templates")
    }
    async fn get_template(
        &self,
        app: &str,
        name: &str,
    ) -> Result<Option<TemplateRecord>, StoreError> {
        todo!("postgres: templates")
    }
    async fn update_template(
        &self,
        app: &str,
        name: &str,
        change: TemplateChange<'_>,
    ) -> Result<Option<TemplateRecord>, StoreError> {
        todo!("postgres: templates")
    }
    async fn delete_template(&self, app: &str, name: &str) -> Result<bool, StoreError> {
        todo!("postgres: templates")
    }
}
