//! `AppService`: tenants and their callback rules, for the admin.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use crate::{
    api::{page, page_token},
    callback::rules::{CallbackRules, RuleInput},
    clock::timestamp,
    proto::v1::{
        App, CallbackRule, CreateAppRequest, CreateAppResponse, DeleteAppRequest,
        DeleteAppResponse, DeleteCallbackRuleRequest, DeleteCallbackRuleResponse, GetAppRequest,
        GetAppResponse, ListAppsRequest, ListAppsResponse, ListCallbackRulesRequest,
        ListCallbackRulesResponse, PutCallbackRuleRequest, PutCallbackRuleResponse,
        RotateAppSecretRequest, RotateAppSecretResponse, app_service_server::AppService,
    },
    store::{AppRecord, CallbackRuleRecord},
    tenant::{AppName, Tenants},
};

/// The `AppService` implementation.
pub struct AppApi {
    tenants: Arc<Tenants>,
    rules: CallbackRules,
}

impl AppApi {
    /// Manages the apps of `tenants` and their callback `rules`.
    pub fn new(tenants: Arc<Tenants>, rules: CallbackRules) -> Self {
        Self { tenants, rules }
    }
}

fn app_message(r: &AppRecord) -> App {
    let name = AppName::parse(&r.name).ok();
    App {
        name: r.name.clone(),
        org_name: name
            .as_ref()
            .map(|n| n.org().to_owned())
            .unwrap_or_default(),
        app_name: name
            .as_ref()
            .map(|n| n.app().to_owned())
            .unwrap_or_default(),
        client_id: r.client_id.clone(),
        create_time: Some(timestamp(r.create_time_ms)),
        secret_time: Some(timestamp(r.secret_time_ms)),
        time_zone: r.time_zone.clone(),
    }
}

/// A rule as callers see it, with the end of its pause if paused: the secret never leaves the server.
fn rule_message(r: &CallbackRuleRecord, paused_until_ms: Option<i64>) -> CallbackRule {
    CallbackRule {
        name: r.name.clone(),
        url: r.url.clone(),
        secret: String::new(),
        enabled: r.enabled,
        statuses: r.statuses.clone(),
        has_secret: !r.secret.is_empty() || !r.sealed_secret.is_empty(),
        create_time: Some(timestamp(r.create_time_ms)),
        update_time: Some(timestamp(r.update_time_ms)),
        paused_until: paused_until_ms.map(timestamp),
    }
}

#[tonic::async_trait]
impl AppService for AppApi {
    async fn create_app(
        &self,
        request: Request<CreateAppRequest>,
    ) -> Result<Response<CreateAppResponse>, Status> {
        let r = request.into_inner();
        let created = self.tenants.create_app(&r.name, &r.time_zone).await?;
        tracing::info!(app = %created.app.name, "app created");
        Ok(Response::new(CreateAppResponse {
            app: Some(app_message(&created.app)),
            client_secret: created.client_secret,
        }))
    }

    async fn get_app(
        &self,
        request: Request<GetAppRequest>,
    ) -> Result<Response<GetAppResponse>, Status> {
        let app = self.tenants.get_app(&request.into_inner().name).await?;
        Ok(Response::new(GetAppResponse {
            app: Some(app_message(&app)),
        }))
    }

    async fn list_apps(
        &self,
        request: Request<ListAppsRequest>,
    ) -> Result<Response<ListAppsResponse>, Status> {
        let r = request.into_inner();
        let (size, after) = page(r.page_size, &r.page_token)?;
        // One extra record tells whether another page exists without a second query.
        let mut apps = self.tenants.list_apps(after.as_deref(), size + 1).await?;
        let next_page_token = if apps.len() > size {
            apps.truncate(size);
            apps.last().map(|a| page_token(&a.name)).unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(ListAppsResponse {
            apps: apps.iter().map(app_message).collect(),
            next_page_token,
        }))
    }

    async fn delete_app(
        &self,
        request: Request<DeleteAppRequest>,
    ) -> Result<Response<DeleteAppResponse>, Status> {
        let name = request.into_inner().name;
        let removed_records = self.tenants.delete_app(&name).await?;
        self.rules.outbox().app_deleted(&name);
        tracing::info!(app = %name, removed_records, "app deleted");
        Ok(Response::new(DeleteAppResponse { removed_records }))
    }

    async fn rotate_app_secret(
        &self,
        request: Request<RotateAppSecretRequest>,
    ) -> Result<Response<RotateAppSecretResponse>, Status> {
        let rotated = self
            .tenants
            .rotate_secret(&request.into_inner().name)
            .await?;
        tracing::info!(app = %rotated.app.name, "app secret rotated");
        Ok(Response::new(RotateAppSecretResponse {
            app: Some(app_message(&rotated.app)),
            client_secret: rotated.client_secret,
        }))
    }

    async fn put_callback_rule(
        &self,
        request: Request<PutCallbackRuleRequest>,
    ) -> Result<Response<PutCallbackRuleResponse>, Status> {
        let r = request.into_inner();
        let app = self.tenants.require_app(&r.app, "app").await?;
        let rule = r.rule.unwrap_or_default();
        let (stored, created) = self
            .rules
            .put(
                app.as_str(),
                RuleInput {
                    name: rule.name,
                    url: rule.url,
                    secret: rule.secret,
                    enabled: rule.enabled,
                    statuses: rule.statuses,
                },
            )
            .await?;
        Ok(Response::new(PutCallbackRuleResponse {
            rule: Some(rule_message(&stored, None)),
            created,
        }))
    }

    async fn list_callback_rules(
        &self,
        request: Request<ListCallbackRulesRequest>,
    ) -> Result<Response<ListCallbackRulesResponse>, Status> {
        let app = self
            .tenants
            .require_app(&request.into_inner().app, "app")
            .await?;
        let mut listed = Vec::new();
        for rule in self.rules.list(app.as_str()).await? {
            let paused = self
                .rules
                .outbox()
                .paused_until(app.as_str(), &rule.name)
                .await?;
            listed.push(rule_message(&rule, paused));
        }
        Ok(Response::new(ListCallbackRulesResponse { rules: listed }))
    }

    async fn delete_callback_rule(
        &self,
        request: Request<DeleteCallbackRuleRequest>,
    ) -> Result<Response<DeleteCallbackRuleResponse>, Status> {
        let r = request.into_inner();
        let app = self.tenants.require_app(&r.app, "app").await?;
        self.rules.delete(app.as_str(), &r.name).await?;
        Ok(Response::new(DeleteCallbackRuleResponse {}))
    }
}
