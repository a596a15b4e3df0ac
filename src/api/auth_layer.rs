//! The auth tower layer: every call's bearer token is checked before any service sees it, and the caller it
//! establishes travels in the request's extensions as a [`Caller`].
//!
//! Which token a method needs follows from its service: `AppService` the admin token, `ChannelService` a user
//! token, `AuthService.IssueToken`, health and reflection none, everything else an app token. A missing,
//! malformed, expired or revoked token is UNAUTHENTICATED; a valid token of the wrong kind is PERMISSION_DENIED.

use std::{
    sync::Arc,
    task::{Context, Poll},
};

use futures::future::BoxFuture;
use tonic::{Status, body::Body};
use tower::{Layer, Service};

use crate::tenant::{Caller, Tenants};

/// What a method requires of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// No token.
    Public,
    /// The admin token.
    Admin,
    /// An app token.
    App,
    /// A user token.
    User,
}

/// The scope of a gRPC method path (`/package.Service/Method`).
pub fn scope_of(path: &str) -> Scope {
    let service = path
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default();
    match service {
        "pushgate.v1.AppService" => Scope::Admin,
        "pushgate.v1.ChannelService" => Scope::User,
        "pushgate.v1.AuthService" if path.ends_with("/IssueToken") => Scope::Public,
        s if s.starts_with("pushgate.") => Scope::App,
        // Health, reflection and anything else the router does not know (it answers UNIMPLEMENTED).
        _ => Scope::Public,
    }
}

/// Adds [`AuthService`] in front of a service.
#[derive(Clone)]
pub struct AuthLayer {
    tenants: Arc<Tenants>,
}

impl AuthLayer {
    /// Checks tokens with `tenants`.
    pub fn new(tenants: Arc<Tenants>) -> Self {
        Self { tenants }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            tenants: self.tenants.clone(),
        }
    }
}

/// The service [`AuthLayer`] produces.
#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    tenants: Arc<Tenants>,
}

impl<S, B> Service<http::Request<B>> for AuthService<S>
where
    S: Service<http::Request<B>, Response = http::Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        // The clone takes the readiness of `self.inner` with it (tower's usual swap).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let tenants = self.tenants.clone();
        Box::pin(async move {
            let scope = scope_of(request.uri().path());
            if scope != Scope::Public {
                match authorize(&tenants, scope, request.headers()).await {
                    Ok(caller) => {
                        // The call's span (server trace_fn) names the app the call acts for.
                        if let Caller::App { app } | Caller::User { app, .. } = &caller {
                            tracing::Span::current().record("app", app.as_str());
                        }
                        request.extensions_mut().insert(caller);
                    }
                    Err(status) => return Ok(status.into_http()),
                }
            }
            inner.call(request).await
        })
    }
}

async fn authorize(
    tenants: &Tenants,
    scope: Scope,
    headers: &http::HeaderMap,
) -> Result<Caller, Status> {
    let value = headers
        .get(http::header::AUTHORIZATION)
        .ok_or_else(|| Status::unauthenticated("missing authorization: Bearer <token> metadata"))?;
    let token = value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            Status::unauthenticated("authorization metadata must be `Bearer <token>`")
        })?;
    let caller = tenants.authenticate(token).await.map_err(Status::from)?;
    let allowed = matches!(
        (scope, &caller),
        (Scope::Admin, Caller::Admin)
            | (Scope::App, Caller::App { .. })
            | (Scope::User, Caller::User { .. })
    );
    if allowed {
        Ok(caller)
    } else {
        let needed = match scope {
            Scope::Admin => "the admin token",
            Scope::App => "an app token",
            Scope::User => "a user token",
            Scope::Public => "no token",
        };
        Err(Status::permission_denied(format!(
            "this method needs {needed}; the presented token is of another kind"
        )))
    }
}

/// The caller the auth layer established; a missing one is an internal error (a route without the layer).
pub fn caller<T>(request: &tonic::Request<T>) -> Result<&Caller, Status> {
    request
        .extensions()
        .get::<Caller>()
        .ok_or_else(|| Status::internal("request was not authenticated"))
}

/// The app of an app-token caller.
pub fn app_of<T>(request: &tonic::Request<T>) -> Result<String, Status> {
    match caller(request)? {
        Caller::App { app } => Ok(app.clone()),
        _ => Err(Status::permission_denied("this method needs an app token")),
    }
}

/// The app and user of a user-token caller.
pub fn user_of<T>(request: &tonic::Request<T>) -> Result<(String, String), Status> {
    match caller(request)? {
        Caller::User { app, user } => Ok((app.clone(), user.clone())),
        _ => Err(Status::permission_denied("this method needs a user token")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_follow_services() {
        assert_eq!(scope_of("/pushgate.v1.AppService/CreateApp"), Scope::Admin);
        assert_eq!(
            scope_of("/pushgate.v1.AuthService/IssueToken"),
            Scope::Public
        );
        assert_eq!(
            scope_of("/pushgate.v1.AuthService/IssueUserToken"),
            Scope::App
        );
        assert_eq!(scope_of("/pushgate.v1.PushService/SendSync"), Scope::App);
        assert_eq!(
            scope_of("/pushgate.v1.ChannelService/Subscribe"),
            Scope::User
        );
        assert_eq!(scope_of("/grpc.health.v1.Health/Check"), Scope::Public);
        assert_eq!(
            scope_of("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"),
            Scope::Public
        );
    }
}
