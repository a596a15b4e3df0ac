//! `AuthService`: client credentials to app tokens, app tokens to user tokens.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use crate::{
    api::{auth_layer::app_of, duration},
    clock::timestamp,
    proto::v1::{
        IssueTokenRequest, IssueTokenResponse, IssueUserTokenRequest, IssueUserTokenResponse,
        auth_service_server::AuthService,
    },
    tenant::Tenants,
};

/// The `AuthService` implementation.
pub struct AuthApi {
    tenants: Arc<Tenants>,
}

impl AuthApi {
    /// Issues tokens for `tenants`.
    pub fn new(tenants: Arc<Tenants>) -> Self {
        Self { tenants }
    }
}

#[tonic::async_trait]
impl AuthService for AuthApi {
    async fn issue_token(
        &self,
        request: Request<IssueTokenRequest>,
    ) -> Result<Response<IssueTokenResponse>, Status> {
        let r = request.into_inner();
        let ttl = duration("ttl", r.ttl)?;
        let app = self
            .tenants
            .issue_app_token(&r.client_id, &r.client_secret, ttl)
            .await?;
        Ok(Response::new(IssueTokenResponse {
            access_token: app.token,
            expire_time: Some(timestamp(app.expires_at * 1000)),
            app: app.app,
        }))
    }

    async fn issue_user_token(
        &self,
        request: Request<IssueUserTokenRequest>,
    ) -> Result<Response<IssueUserTokenResponse>, Status> {
        let app = app_of(&request)?;
        let r = request.into_inner();
        let ttl = duration("ttl", r.ttl)?;
        let issued = self.tenants.issue_user_token(&app, &r.user, ttl).await?;
        Ok(Response::new(IssueUserTokenResponse {
            access_token: issued.token,
            expire_time: Some(timestamp(issued.expires_at * 1000)),
            user: r.user,
        }))
    }
}
