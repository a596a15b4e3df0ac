//! Easemob's push REST API (`[rest]`), for teams moving over from Easemob: the same paths, bodies, answers
//! and errors, served by the same engine as the gRPC API. The REST layer only translates: each path becomes
//! the gRPC service call it stands for (the service structs of `api/`, called in process with the caller
//! already authenticated), and the answer or the `Status` comes back in Easemob's shape.
//!
//! Paths are `/{org}/{app}/…`; every one but the token path takes `Authorization: Bearer <app token>`,
//! and the token must be the path's app's.

mod config;
mod error;
mod message;
mod push;
mod token;

use std::{net::SocketAddr, sync::Arc};

use axum::{
    Router,
    body::Bytes,
    extract::{DefaultBodyLimit, Path, State},
    http::{HeaderMap, header},
    response::Response,
    routing::post,
};
pub use config::RestConfig;
pub use error::RestError;
use serde::de::DeserializeOwned;
use tokio::net::TcpListener;

use crate::{
    api::{auth::AuthApi, push::PushApi},
    clock::now_ms,
    tenant::{Caller, Tenants},
};

/// The services the REST paths translate onto.
pub struct RestServices {
    /// Tokens and apps.
    pub tenants: Arc<Tenants>,
    /// `AuthService` (the token path).
    pub auth: Arc<AuthApi>,
    /// `PushService`.
    pub push: Arc<PushApi>,
}

/// One request's context: when it began (for `duration`) and its app.
pub(crate) struct Call {
    pub began_ms: i64,
    pub app: String,
}

/// The app a path names (`{org}#{app}`).
fn app_of_path(org: &str, app: &str) -> String {
    format!("{org}#{app}")
}

impl RestServices {
    /// Authenticates the request for the path's app: an app token of that app.
    pub(crate) async fn call(
        &self,
        headers: &HeaderMap,
        org: &str,
        app: &str,
    ) -> Result<Call, RestError> {
        let began_ms = now_ms();
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| RestError::unauthorized("Unable to authenticate (OAuth)"))?;
        let wanted = app_of_path(org, app);
        match self.tenants.authenticate(token).await {
            Ok(Caller::App { app }) if app == wanted => Ok(Call { began_ms, app }),
            Ok(_) => Err(RestError::unauthorized(format!(
                "Unable to authenticate (OAuth): the token is not an app token of {wanted}"
            ))),
            Err(e) => Err(RestError::bad_token(format!("Unable to authenticate: {e}"))),
        }
    }
}

impl RestServices {
    /// The common start of an authenticated path: the caller checked, then the body read as `T`.
    pub(crate) async fn take<T: DeserializeOwned>(
        &self,
        headers: &HeaderMap,
        org: &str,
        app: &str,
        body: Result<Bytes, axum::extract::rejection::BytesRejection>,
    ) -> Result<(Call, T), RestError> {
        let call = self.call(headers, org, app).await?;
        let body = body.map_err(|e| RestError::too_large(e.body_text()))?;
        Ok((call, json_body(&body)?))
    }
}

/// `body` as `T`, or Easemob's 400 naming what is wrong with it and where (`strategy: invalid type…`).
pub(crate) fn json_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, RestError> {
    if body.is_empty() {
        return Err(RestError::bad_json(
            "the request body is empty; it must be a JSON object",
        ));
    }
    let mut reader = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut reader).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            RestError::bad_json(inner.to_string())
        } else {
            RestError::bad_json(format!("{path}: {inner}"))
        }
    })
}

/// Every REST path, with the body limit and the Easemob answer for a path that does not exist.
pub fn router(services: Arc<RestServices>, max_body_bytes: usize) -> Router {
    Router::new()
        .route("/{org}/{app}/token", post(token::issue))
        .route("/{org}/{app}/push/sync/{user}", post(push::sync))
        .route("/{org}/{app}/push/async/{user}", post(push::send_async))
        .route("/{org}/{app}/push/single", post(push::single))
        .fallback(unknown_path)
        .method_not_allowed_fallback(unknown_path)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(services)
}

async fn unknown_path() -> Response {
    RestError::no_such_path().answer(now_ms())
}

/// The bound REST listener.
pub struct RestListener {
    listener: TcpListener,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl RestListener {
    /// Binds `config.listen`.
    pub async fn bind(config: &RestConfig) -> std::io::Result<Self> {
        let listener = TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        Ok(Self { listener, addr })
    }

    /// Serves `router` (HTTP/1.1 and HTTP/2) until `shutdown` resolves, then lets the calls in flight end.
    pub async fn serve(
        self,
        router: Router,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(self.listener, router)
            .with_graceful_shutdown(shutdown)
            .await
    }
}

/// Path parameters of `/{org}/{app}/…`.
pub(crate) type AppPath = Path<(String, String)>;
/// Path parameters of `/{org}/{app}/…/{one}`.
pub(crate) type AppPathWith = Path<(String, String, String)>;

/// The state every handler gets.
pub(crate) type Services = State<Arc<RestServices>>;
