//! Load shedding: at most N calls in flight across all connections; a call beyond that is answered at once with
//! RESOURCE_EXHAUSTED (with `QuotaFailure` and `RetryInfo` details) instead of waiting in a queue.
//!
//! tower's `LoadShed` + `ConcurrencyLimit` do the same, but tonic reports their overload as a per-connection
//! limit with no details; this layer says what the limit is and when to retry.

use std::{
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use futures::future::BoxFuture;
use tokio::sync::Semaphore;
use tonic::{Code, Status, body::Body};
use tonic_types::{ErrorDetails, StatusExt};
use tower::{Layer, Service};

/// How long a refused caller is told to wait before retrying.
const RETRY_AFTER: Duration = Duration::from_millis(100);
/// Path prefix of the gRPC health service, which is never shed.
const HEALTH_PATH: &str = "/grpc.health.v1.Health/";

/// Adds [`Shed`] in front of a service.
#[derive(Clone)]
pub struct ShedLayer {
    permits: Arc<Semaphore>,
    max: usize,
}

impl ShedLayer {
    /// Allows `max` calls in flight at once.
    pub fn new(max: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max)),
            max,
        }
    }
}

impl<S> Layer<S> for ShedLayer {
    type Service = Shed<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Shed {
            inner,
            permits: self.permits.clone(),
            max: self.max,
        }
    }
}

/// The service [`ShedLayer`] produces.
#[derive(Clone)]
pub struct Shed<S> {
    inner: S,
    permits: Arc<Semaphore>,
    max: usize,
}

impl<S, B> Service<http::Request<B>> for Shed<S>
where
    S: Service<http::Request<B>, Response = http::Response<Body>> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        // Health checks are never shed: a busy server is alive, and an orchestrator that sees its probes refused
        // would restart it, turning load into an outage. They are cheap and answered at once.
        if request.uri().path().starts_with(HEALTH_PATH) {
            return Box::pin(self.inner.call(request));
        }
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            let max = self.max;
            tracing::warn!(max, "shedding a call: too many calls in flight");
            let mut details = ErrorDetails::with_quota_failure_violation(
                "server.max_concurrent_requests",
                format!("at most {max} calls in flight"),
            );
            details.set_retry_info(Some(RETRY_AFTER));
            let status = Status::with_error_details(
                Code::ResourceExhausted,
                format!("server busy: {max} calls already in flight; retry shortly"),
                details,
            );
            return Box::pin(async move { Ok(status.into_http()) });
        };
        let response = self.inner.call(request);
        Box::pin(async move {
            // The permit is held until the handler has produced its response (for a stream: its first message),
            // which is what bounds the work in progress.
            let result = response.await;
            drop(permit);
            result
        })
    }
}
