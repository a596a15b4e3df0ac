//! `POST /{org}/{app}/token`: an app token for the app's client credentials (`AuthService.IssueToken`).

use std::time::Duration;

use axum::{Json, body::Bytes, extract::rejection::BytesRejection, response::IntoResponse};
use serde::Deserialize;
use tonic::Request;

use super::{AppPath, RestError, RestServices, Services, app_of_path, json_body};
use crate::{
    clock::now_ms,
    proto::v1::{IssueTokenRequest, auth_service_server::AuthService},
    tenant::TenantError,
};

/// Easemob's token request.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    grant_type: String,
    client_id: String,
    client_secret: String,
    /// Seconds, as a number or (as Easemob's own example sends it) a string; 0: the longest lifetime
    /// this server gives (`auth.app_token_max_ttl`; Easemob's 0 is "permanent"); absent: the default.
    #[serde(default)]
    ttl: Option<Ttl>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Ttl {
    Number(u64),
    Text(String),
}

impl Ttl {
    fn seconds(&self) -> Result<u64, RestError> {
        match self {
            Ttl::Number(n) => Ok(*n),
            Ttl::Text(t) => t
                .trim()
                .parse()
                .map_err(|_| RestError::bad_request("ttl: must be a whole number of seconds")),
        }
    }
}

pub(super) async fn issue(
    services: Services,
    path: AppPath,
    body: Result<Bytes, BytesRejection>,
) -> axum::response::Response {
    let began = now_ms();
    let (org, app) = &path.0;
    match answer(&services, org, app, body).await {
        Ok(json) => Json(json).into_response(),
        Err(e) => e.answer(began),
    }
}

async fn answer(
    services: &RestServices,
    org: &str,
    app: &str,
    body: Result<Bytes, BytesRejection>,
) -> Result<serde_json::Value, RestError> {
    let wanted = app_of_path(org, app);
    if let Err(TenantError::AppNotFound(_)) = services.tenants.get_app(&wanted).await {
        return Err(RestError::no_such_app(
            org,
            app,
            &format!("{org}/{app}/token"),
        ));
    }
    let body = body.map_err(|e| RestError::too_large(e.body_text()))?;
    let r: TokenRequest = json_body(&body)?;
    if r.grant_type != "client_credentials" {
        return Err(RestError::bad_request(
            "grant_type: must be client_credentials",
        ));
    }
    let ttl = match r.ttl.as_ref().map(Ttl::seconds).transpose()? {
        None => None,
        Some(0) => Some(services.tenants.app_token_max_ttl()),
        Some(s) => Some(Duration::from_secs(s)),
    };
    let ttl = ttl
        .map(prost_types::Duration::try_from)
        .transpose()
        .map_err(|_| RestError::bad_request("ttl: is too long"))?;
    let issued = services
        .auth
        .issue_token(Request::new(IssueTokenRequest {
            client_id: r.client_id,
            client_secret: r.client_secret,
            ttl,
        }))
        .await
        .map_err(|status| match status.code() {
            tonic::Code::Unauthenticated => {
                RestError::invalid_grant("client_id or client_secret does not match")
            }
            _ => status.into(),
        })?
        .into_inner();
    // The credentials are some app's: they must be the path's.
    if issued.app != wanted {
        return Err(RestError::invalid_grant("client_id does not match"));
    }
    let expires_in = issued
        .expire_time
        .map_or(0, |t| (t.seconds - now_ms() / 1000).max(0));
    Ok(serde_json::json!({
        "access_token": issued.access_token,
        "expires_in": expires_in,
        "application": issued.app,
    }))
}
