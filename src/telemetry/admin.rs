//! The admin HTTP port: `/metrics` in Prometheus text format and `/healthz` for probes that do not speak
//! gRPC health.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use axum::{
    Router,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use prometheus::{Encoder, TextEncoder};
use tokio::net::TcpListener;

use super::AdminConfig;

/// The running admin port.
#[derive(Clone)]
pub struct AdminServer {
    serving: Arc<AtomicBool>,
    addr: SocketAddr,
}

impl AdminServer {
    /// Whether `/healthz` answers 200 (serving) or 503 (starting or draining).
    pub fn set_serving(&self, serving: bool) {
        self.serving.store(serving, Ordering::Relaxed);
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

#[derive(Clone)]
struct AdminState {
    serving: Arc<AtomicBool>,
    registry: prometheus::Registry,
}

/// Binds the admin port and serves it for the life of the process; None when it is disabled.
pub async fn serve_admin(
    config: &AdminConfig,
    registry: prometheus::Registry,
) -> std::io::Result<Option<AdminServer>> {
    if !config.enabled {
        return Ok(None);
    }
    let listener = TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    if let Some(path) = &config.address_file {
        std::fs::write(path, addr.to_string())?;
    }
    let serving = Arc::new(AtomicBool::new(false));
    let router = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .with_state(AdminState {
            serving: serving.clone(),
            registry,
        });
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "admin port stopped");
        }
    });
    tracing::info!(%addr, "admin port listening (/metrics, /healthz)");
    Ok(Some(AdminServer { serving, addr }))
}

async fn metrics(State(state): State<AdminState>) -> Response {
    let mut text = Vec::new();
    match TextEncoder::new().encode(&state.registry.gather(), &mut text) {
        Ok(()) => ([(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], text).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn healthz(State(state): State<AdminState>) -> Response {
    if state.serving.load(Ordering::Relaxed) {
        (StatusCode::OK, "ok\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not serving\n").into_response()
    }
}
