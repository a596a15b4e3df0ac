//! Logging and tracing set-up. OpenTelemetry export joins here later; for now structured logs to stderr.

use tracing_subscriber::{EnvFilter, fmt};

/// Installs the global subscriber: `RUST_LOG` when set, else the configured filter.
pub fn init(filter: &str) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // A second init (tests, embedding) keeps the first subscriber rather than failing.
    let _ = fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
