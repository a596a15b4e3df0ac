//! Scaffolding while the PostgreSQL repositories are written: every trait method not implemented yet.
//! Each repository's implementation replaces its block here; this file is gone before the backend lands.

#![allow(unused_variables)]

use async_trait::async_trait;

use super::PgStore;
use crate::{
    proto::v1::{DeliveryEvent, FailedCallback},
    store::*,
};

// ---- events
#[async_trait]
impl EventRepository for PgStore {
    async fn append_events(
        &self,
        app: &str,
        events: Vec<DeliveryEvent>,
    ) -> Result<Vec<DeliveryEvent>, StoreError> {
        todo!("postgres: events")
    }
    async fn events_after(
        &self,
        app: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<DeliveryEvent>, StoreError> {
        todo!("postgres: events")
    }
    async fn first_event_position(&self, app: &str) -> Result<Option<u64>, StoreError> {
        todo!("postgres: events")
    }
    async fn last_event_position(&self, app: &str) -> Result<Option<u64>, StoreError> {
        todo!("postgres: events")
    }
    async fn swept_through(&self, app: &str) -> Result<u64, StoreError> {
        todo!("postgres: events")
    }
    async fn sweep_events(&self, before_ms: i64, limit: usize) -> Result<usize, StoreError> {
        todo!("postgres: events")
    }
}

// ---- inbox
#[async_trait]
impl InboxRepository for PgStore {
    async fn append(
        &self,
        app: &str,
        entry: &InboxEntry,
        max_per_device: usize,
    ) -> Result<Appended, StoreError> {
        todo!("postgres: inbox")
    }
    async fn inbox_page(
        &self,
        app: &str,
        device: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<InboxEntry>, StoreError> {
        todo!("postgres: inbox")
    }
    async fn ack(
        &self,
        app: &str,
        user: &str,
        device: &str,
        message_ids: &[String],
        clicked: bool,
        now_ms: i64,
    ) -> Result<Vec<String>, StoreError> {
        todo!("postgres: inbox")
    }
    async fn ack_counts(
        &self,
        app: &str,
        subject: AckSubject<'_>,
    ) -> Result<AckCountRecord, StoreError> {
        todo!("postgres: inbox")
    }
    async fn record_channel_device(
        &self,
        app: &str,
        user: &str,
        device: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        todo!("postgres: inbox")
    }
    async fn channel_devices(&self, app: &str, user: &str) -> Result<Vec<String>, StoreError> {
        todo!("postgres: inbox")
    }
    async fn has_channel_devices(&self, app: &str, user: &str) -> Result<bool, StoreError> {
        todo!("postgres: inbox")
    }
    async fn delete_user_inbox(&self, app: &str, user: &str) -> Result<u64, StoreError> {
        todo!("postgres: inbox")
    }
    async fn sweep_expired(&self, now_ms: i64, limit: usize) -> Result<u64, StoreError> {
        todo!("postgres: inbox")
    }
}

// ---- outbox
#[async_trait]
impl OutboxRepository for PgStore {
    async fn cursor(&self, app: &str, rule: &str) -> Result<Option<u64>, StoreError> {
        todo!("postgres: outbox")
    }
    async fn advance(
        &self,
        app: &str,
        rule: &str,
        position: u64,
        parked: Vec<PendingCallback>,
    ) -> Result<(), StoreError> {
        todo!("postgres: outbox")
    }
    async fn waiting_count(&self, app: &str, rule: &str) -> Result<u64, StoreError> {
        todo!("postgres: outbox")
    }
    async fn is_held(&self, app: &str, rule: &str, order_key: &str) -> Result<bool, StoreError> {
        todo!("postgres: outbox")
    }
    async fn due(
        &self,
        app: &str,
        rule: &str,
        now_ms: i64,
        limit: usize,
    ) -> Result<Vec<PendingCallback>, StoreError> {
        todo!("postgres: outbox")
    }
    async fn next_due_ms(&self, app: &str, rule: &str) -> Result<Option<i64>, StoreError> {
        todo!("postgres: outbox")
    }
    async fn settle(
        &self,
        app: &str,
        rule: &str,
        pending: &PendingCallback,
        failed: Option<FailedCallback>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        todo!("postgres: outbox")
    }
    async fn reschedule(
        &self,
        app: &str,
        rule: &str,
        pending: PendingCallback,
    ) -> Result<(), StoreError> {
        todo!("postgres: outbox")
    }
    async fn failed(
        &self,
        app: &str,
        rule: Option<&str>,
        after: Option<(&str, u64)>,
        limit: usize,
    ) -> Result<Vec<FailedCallback>, StoreError> {
        todo!("postgres: outbox")
    }
    async fn requeue_failed(
        &self,
        app: &str,
        rule: &str,
        position: u64,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        todo!("postgres: outbox")
    }
    async fn pause(&self, app: &str, rule: &str) -> Result<PauseRecord, StoreError> {
        todo!("postgres: outbox")
    }
    async fn set_pause(&self, app: &str, rule: &str, pause: PauseRecord) -> Result<(), StoreError> {
        todo!("postgres: outbox")
    }
    async fn set_cursor(&self, app: &str, rule: &str, position: u64) -> Result<(), StoreError> {
        todo!("postgres: outbox")
    }
    async fn forget_cursor(&self, app: &str, rule: &str) -> Result<(), StoreError> {
        todo!("postgres: outbox")
    }
    async fn remove_rule(&self, app: &str, rule: &str) -> Result<(), StoreError> {
        todo!("postgres: outbox")
    }
}
