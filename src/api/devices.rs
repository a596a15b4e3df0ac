//! `DeviceService`: device bindings and user deletion.

use tonic::{Request, Response, Status};

use crate::{
    api::{auth_layer::app_of, page, page_token},
    clock::timestamp,
    devices::Devices,
    proto::v1::{
        BindDeviceOutcome, BindDeviceRequest, BindDeviceResponse, Binding, DeleteUserRequest,
        DeleteUserResponse, ListBindingsRequest, ListBindingsResponse, UnbindDeviceRequest,
        UnbindDeviceResponse, device_service_server::DeviceService,
    },
    store::{BindEffect, BindingCursor, BindingRecord},
};

/// The `DeviceService` implementation.
pub struct DeviceApi {
    devices: Devices,
}

impl DeviceApi {
    /// Serves `devices`.
    pub fn new(devices: Devices) -> Self {
        Self { devices }
    }
}

fn binding(r: &BindingRecord) -> Binding {
    Binding {
        user: r.user.clone(),
        device_id: r.device_id.clone(),
        device_token: r.device_token.clone(),
        notifier_name: r.notifier_name.clone(),
        vendor: r.vendor,
        create_time: Some(timestamp(r.create_time_ms)),
        update_time: Some(timestamp(r.update_time_ms)),
    }
}

fn bindings(records: &[BindingRecord]) -> Vec<Binding> {
    records.iter().map(binding).collect()
}

#[tonic::async_trait]
impl DeviceService for DeviceApi {
    async fn bind_device(
        &self,
        request: Request<BindDeviceRequest>,
    ) -> Result<Response<BindDeviceResponse>, Status> {
        let app = app_of(&request)?;
        let r = request.into_inner();
        let done = self
            .devices
            .bind(
                &app,
                &r.user,
                &r.device_id,
                &r.device_token,
                &r.notifier_name,
            )
            .await?;
        let (outcome, previous_user) = match done.effect {
            Some(BindEffect::Bound) => (BindDeviceOutcome::Bound, String::new()),
            Some(BindEffect::Updated) => (BindDeviceOutcome::Updated, String::new()),
            Some(BindEffect::Moved { previous_user }) => (BindDeviceOutcome::Moved, previous_user),
            Some(BindEffect::Unchanged) => (BindDeviceOutcome::Unchanged, String::new()),
            None if done.removed.is_empty() => (BindDeviceOutcome::Unchanged, String::new()),
            None => (BindDeviceOutcome::Unbound, String::new()),
        };
        Ok(Response::new(BindDeviceResponse {
            outcome: outcome as i32,
            previous_user,
            removed_bindings: bindings(&done.removed),
            bindings: bindings(&done.bindings),
        }))
    }

    async fn unbind_device(
        &self,
        request: Request<UnbindDeviceRequest>,
    ) -> Result<Response<UnbindDeviceResponse>, Status> {
        let app = app_of(&request)?;
        let r = request.into_inner();
        let (removed, left) = self
            .devices
            .unbind(&app, &r.user, &r.device_id, &r.notifier_name)
            .await?;
        Ok(Response::new(UnbindDeviceResponse {
            removed_bindings: bindings(&removed),
            bindings: bindings(&left),
        }))
    }

    async fn list_bindings(
        &self,
        request: Request<ListBindingsRequest>,
    ) -> Result<Response<ListBindingsResponse>, Status> {
        let app = app_of(&request)?;
        let r = request.into_inner();
        let (size, after) = page(r.page_size, &r.page_token)?;
        let after = after.map(|token| BindingCursor::from_bytes(token.into_bytes()));
        let (records, next) = self
            .devices
            .list(&app, &r.user, after.as_ref(), size)
            .await?;
        Ok(Response::new(ListBindingsResponse {
            bindings: bindings(&records),
            next_page_token: next
                .map(|c| page_token(&String::from_utf8_lossy(c.as_bytes())))
                .unwrap_or_default(),
        }))
    }

    async fn delete_user(
        &self,
        request: Request<DeleteUserRequest>,
    ) -> Result<Response<DeleteUserResponse>, Status> {
        let app = app_of(&request)?;
        let user = request.into_inner().user;
        let removed = self.devices.delete_user(&app, &user).await?;
        tracing::info!(%app, %user, ?removed, "user deleted");
        Ok(Response::new(DeleteUserResponse {
            removed_bindings: removed.bindings,
            removed_user_settings: removed.user_settings,
            removed_conversation_settings: removed.conversation_settings,
            removed_label_memberships: removed.label_memberships,
            removed_inbox_messages: removed.inbox_messages,
        }))
    }
}
