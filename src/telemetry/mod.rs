//! Logs, traces and metrics: structured logs to stderr; spans exported with OTLP when a collector is
//! configured; metrics recorded through OpenTelemetry, exported with OTLP and served in Prometheus text format
//! on the admin port.

mod admin;
mod config;
pub mod metrics;
mod process;
mod propagation;

use std::sync::OnceLock;

use opentelemetry::{global, trace::TracerProvider as _};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::{
    Resource,
    metrics::{PeriodicReader, SdkMeterProvider},
    propagation::TraceContextPropagator,
    trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider},
};
use tracing_subscriber::{EnvFilter, Layer, fmt, layer::SubscriberExt, util::SubscriberInitExt};

pub use admin::{AdminServer, serve_admin};
pub use config::{AdminConfig, TelemetryConfig};
pub use propagation::parent_context;

/// The Prometheus registry `/metrics` serves; set once by [`init`].
static REGISTRY: OnceLock<prometheus::Registry> = OnceLock::new();

/// Why telemetry could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// An exporter could not be built (a bad endpoint).
    #[error("cannot set up OpenTelemetry export: {0}")]
    Export(String),
}

/// Keeps the exporters running; flushes them when dropped.
pub struct Telemetry {
    tracer: Option<SdkTracerProvider>,
    meters: SdkMeterProvider,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(tracer) = &self.tracer {
            let _ = tracer.shutdown();
        }
        let _ = self.meters.shutdown();
    }
}

/// The registry `/metrics` serves (empty when [`init`] was not called).
pub fn registry() -> prometheus::Registry {
    REGISTRY.get().cloned().unwrap_or_default()
}

fn env_filter(filter: &str) -> EnvFilter {
    EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(filter))
        .unwrap_or_else(|_| EnvFilter::new("info"))
}

/// Installs logging (`RUST_LOG` when set, else `log_filter`), the W3C trace-context propagator, the meter
/// provider behind [`metrics`] with the series known from start-up, and OTLP export when
/// `config.otlp_endpoint` is set. Must run inside the Tokio runtime (the OTLP client lives on it) and before
/// the first metric is recorded.
pub fn init(log_filter: &str, config: &TelemetryConfig) -> Result<Telemetry, TelemetryError> {
    global::set_text_map_propagator(TraceContextPropagator::new());
    let resource = Resource::builder()
        .with_service_name(config.service_name.clone())
        .build();
    let export = !config.otlp_endpoint.is_empty();

    let registry = prometheus::Registry::new();
    let prometheus_reader = opentelemetry_prometheus::exporter()
        .with_registry(registry.clone())
        .without_target_info()
        .build()
        .map_err(|e| TelemetryError::Export(e.to_string()))?;
    let mut meters = SdkMeterProvider::builder()
        .with_resource(resource.clone())
        .with_reader(prometheus_reader);
    if export {
        let exporter = opentelemetry_otlp::MetricExporter::builder()
            .with_tonic()
            .with_endpoint(config.otlp_endpoint.clone())
            .with_timeout(config.export_timeout)
            .build()
            .map_err(|e| TelemetryError::Export(e.to_string()))?;
        meters = meters.with_reader(
            PeriodicReader::builder(exporter)
                .with_interval(config.export_interval)
                .build(),
        );
    }
    let meters = meters.build();
    global::set_meter_provider(meters.clone());
    let _ = REGISTRY.set(registry);

    let tracer = if export {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(config.otlp_endpoint.clone())
            .with_timeout(config.export_timeout)
            .build()
            .map_err(|e| TelemetryError::Export(e.to_string()))?;
        let batches = BatchConfigBuilder::default()
            .with_scheduled_delay(config.export_interval)
            .build();
        Some(
            SdkTracerProvider::builder()
                .with_resource(resource)
                .with_span_processor(
                    BatchSpanProcessor::builder(exporter)
                        .with_batch_config(batches)
                        .build(),
                )
                .build(),
        )
    } else {
        None
    };

    // Each layer filters for itself: a quiet log level must not silence the exported spans.
    let logs = fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_filter(env_filter(log_filter));
    let spans = tracer.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("pushgate"))
            .with_filter(
                tracing_subscriber::filter::Targets::new()
                    .with_target("pushgate", tracing::Level::INFO)
                    .with_target("tonic", tracing::Level::INFO),
            )
    });
    // A second init (tests, embedding) keeps the first subscriber rather than failing.
    let _ = tracing_subscriber::registry()
        .with(logs)
        .with(spans)
        .try_init();
    // After the subscriber, so that a process metric that cannot be read is logged.
    metrics::start();
    Ok(Telemetry { tracer, meters })
}
