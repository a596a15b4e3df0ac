//! The `[admin]` and `[telemetry]` sections: the admin HTTP port and OpenTelemetry export.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use serde::{Deserialize, Serialize};

/// The admin HTTP listener: Prometheus `/metrics` and `/healthz`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// Whether the admin port is served.
    pub enabled: bool,
    /// Address to listen on. Loopback by default, like the gRPC port.
    pub listen: SocketAddr,
    /// When set, the bound address is written here once listening (for tests and supervisors).
    pub address_file: Option<PathBuf>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 9464)),
            address_file: None,
        }
    }
}

/// OpenTelemetry export of traces and metrics.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    /// OTLP/gRPC collector endpoint, e.g. `http://otel-collector:4317`; empty: nothing is exported (metrics
    /// are still served on the admin port).
    pub otlp_endpoint: String,
    /// `service.name` of the exported resource.
    pub service_name: String,
    /// How often metrics are exported, and the longest a finished span waits to be exported.
    #[serde(with = "humantime_serde")]
    pub export_interval: Duration,
    /// Longest one export may take.
    #[serde(with = "humantime_serde")]
    pub export_timeout: Duration,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            otlp_endpoint: String::new(),
            service_name: "pushgate".to_owned(),
            export_interval: Duration::from_secs(10),
            export_timeout: Duration::from_secs(10),
        }
    }
}
