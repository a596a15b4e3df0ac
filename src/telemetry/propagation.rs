//! W3C trace context from incoming gRPC metadata, so a caller's trace continues through the gateway.

use opentelemetry::{Context, global, propagation::Extractor};

/// Reads propagation fields from HTTP/2 headers (gRPC metadata).
struct Headers<'a>(&'a http::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// The caller's trace context (`traceparent`, `tracestate`), or an empty one.
pub fn parent_context(headers: &http::HeaderMap) -> Context {
    global::get_text_map_propagator(|p| p.extract(&Headers(headers)))
}
