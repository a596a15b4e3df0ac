//! `NotifierService`: an app's push certificates.

use tonic::{Request, Response, Status};

use crate::{
    api::{auth_layer::app_of, page, page_token},
    notifier::Notifiers,
    proto::v1::{
        CreateNotifierRequest, CreateNotifierResponse, DeleteNotifierRequest,
        DeleteNotifierResponse, GetNotifierRequest, GetNotifierResponse, ListNotifiersRequest,
        ListNotifiersResponse, UpdateNotifierRequest, UpdateNotifierResponse,
        notifier_service_server::NotifierService,
    },
};

/// The `NotifierService` implementation.
pub struct NotifierApi {
    notifiers: Notifiers,
}

impl NotifierApi {
    /// Serves `notifiers`.
    pub fn new(notifiers: Notifiers) -> Self {
        Self { notifiers }
    }
}

#[tonic::async_trait]
impl NotifierService for NotifierApi {
    async fn create_notifier(
        &self,
        request: Request<CreateNotifierRequest>,
    ) -> Result<Response<CreateNotifierResponse>, Status> {
        let app = app_of(&request)?;
        let input = request.into_inner().notifier.unwrap_or_default();
        let notifier = self.notifiers.create(&app, input).await?;
        tracing::info!(%app, notifier = %notifier.name, vendor = notifier.vendor, "notifier created");
        Ok(Response::new(CreateNotifierResponse {
            notifier: Some(notifier),
        }))
    }

    async fn get_notifier(
        &self,
        request: Request<GetNotifierRequest>,
    ) -> Result<Response<GetNotifierResponse>, Status> {
        let app = app_of(&request)?;
        let notifier = self.notifiers.get(&app, &request.into_inner().name).await?;
        Ok(Response::new(GetNotifierResponse {
            notifier: Some(notifier),
        }))
    }

    async fn list_notifiers(
        &self,
        request: Request<ListNotifiersRequest>,
    ) -> Result<Response<ListNotifiersResponse>, Status> {
        let app = app_of(&request)?;
        let r = request.into_inner();
        let (size, after) = page(r.page_size, &r.page_token)?;
        let mut notifiers = self
            .notifiers
            .list(&app, after.as_deref(), size + 1, r.vendor)
            .await?;
        let next_page_token = if notifiers.len() > size {
            notifiers.truncate(size);
            notifiers
                .last()
                .map(|n| page_token(&n.name))
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(ListNotifiersResponse {
            notifiers,
            next_page_token,
        }))
    }

    async fn update_notifier(
        &self,
        request: Request<UpdateNotifierRequest>,
    ) -> Result<Response<UpdateNotifierResponse>, Status> {
        let app = app_of(&request)?;
        let r = request.into_inner();
        let paths = r.update_mask.map(|m| m.paths).unwrap_or_default();
        let notifier = self
            .notifiers
            .update(&app, r.notifier.unwrap_or_default(), &paths)
            .await?;
        tracing::info!(%app, notifier = %notifier.name, ?paths, "notifier updated");
        Ok(Response::new(UpdateNotifierResponse {
            notifier: Some(notifier),
        }))
    }

    async fn delete_notifier(
        &self,
        request: Request<DeleteNotifierRequest>,
    ) -> Result<Response<DeleteNotifierResponse>, Status> {
        let app = app_of(&request)?;
        let name = request.into_inner().name;
        self.notifiers.delete(&app, &name).await?;
        tracing::info!(%app, notifier = %name, "notifier deleted");
        Ok(Response::new(DeleteNotifierResponse {}))
    }
}
