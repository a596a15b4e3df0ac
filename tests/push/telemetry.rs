//! Telemetry of a real send: spans and metrics reach an OTLP collector (a tonic server here implementing the
//! collector services), the caller's trace continues through the gateway, and the admin port serves the
//! metrics in Prometheus text format.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use opentelemetry_proto::tonic::{
    collector::{
        metrics::v1::{
            ExportMetricsServiceRequest, ExportMetricsServiceResponse,
            metrics_service_server::{MetricsService, MetricsServiceServer},
        },
        trace::v1::{
            ExportTraceServiceRequest, ExportTraceServiceResponse,
            trace_service_server::{TraceService, TraceServiceServer},
        },
    },
    common::v1::{AnyValue, KeyValue, any_value},
    trace::v1::Span,
};
use tokio_stream::wrappers::TcpListenerStream;

use crate::support::*;

/// What the collector received.
#[derive(Clone, Default)]
struct Collected {
    spans: Arc<Mutex<Vec<Span>>>,
    metric_names: Arc<Mutex<Vec<String>>>,
}

#[tonic::async_trait]
impl TraceService for Collected {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, Status> {
        let spans = request
            .into_inner()
            .resource_spans
            .into_iter()
            .flat_map(|r| r.scope_spans)
            .flat_map(|s| s.spans);
        self.spans.lock().unwrap().extend(spans);
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Collected {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, Status> {
        let names = request
            .into_inner()
            .resource_metrics
            .into_iter()
            .flat_map(|r| r.scope_metrics)
            .flat_map(|s| s.metrics)
            .map(|m| m.name);
        self.metric_names.lock().unwrap().extend(names);
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

/// A collector on a free port; its URL.
async fn collector() -> (Collected, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let collected = Collected::default();
    let server = tonic::transport::Server::builder()
        .add_service(TraceServiceServer::new(collected.clone()))
        .add_service(MetricsServiceServer::new(collected.clone()))
        .serve_with_incoming(TcpListenerStream::new(listener));
    tokio::spawn(server);
    (collected, url)
}

fn text(v: &Option<AnyValue>) -> String {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        other => format!("{other:?}"),
    }
}

fn attr(span: &Span, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|a: &&KeyValue| a.key == key)
        .map(|a| text(&a.value))
}

/// Waits until `found` holds for what the collector has, failing after 15 s.
async fn wait_for<T>(what: &str, mut found: impl FnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(t) = found() {
            return t;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the collector did not receive {what} within 15 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_send_exports_spans_in_the_callers_trace_and_metrics() {
    let (collected, url) = collector().await;
    let mut env = Env::start_with(&[
        ("PUSHGATE_TELEMETRY_OTLP_ENDPOINT", url.as_str()),
        ("PUSHGATE_TELEMETRY_EXPORT_INTERVAL", "200ms"),
    ])
    .await;
    env.bind_new("alice", "d-alice", APNS).await;

    // The caller's trace: W3C traceparent in the call's metadata.
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let mut request = authed(
        SendSyncRequest {
            user: "alice".into(),
            strategy: Strategy::VendorOnly as i32,
            message_source: Some(send_sync_request::MessageSource::Message(hello())),
            request_id: String::new(),
        },
        &env.app.token,
    );
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{trace_id}-{caller_span}-01").parse().unwrap(),
    );
    let answer = env.push.send_sync(request).await.unwrap().into_inner();
    assert_eq!(status(of(&answer, "d-alice")), DeliveryStatus::Success);

    let in_trace = |name: &str| {
        let spans = collected.spans.lock().unwrap();
        spans
            .iter()
            .find(|s| s.name == name && hex::encode(&s.trace_id) == trace_id)
            .cloned()
    };
    let rpc = wait_for("the SendSync span", || in_trace("grpc")).await;
    assert_eq!(
        hex::encode(&rpc.parent_span_id),
        caller_span,
        "a child of the caller's span"
    );
    assert_eq!(
        attr(&rpc, "rpc.method").as_deref(),
        Some("/pushgate.v1.PushService/SendSync")
    );
    assert_eq!(attr(&rpc, "app"), Some(env.app.name.clone()));

    let dispatch = wait_for("the vendor dispatch span", || in_trace("vendor.dispatch")).await;
    assert_eq!(attr(&dispatch, "app"), Some(env.app.name.clone()));
    assert_eq!(attr(&dispatch, "notifier").as_deref(), Some(APNS));
    let vendor = wait_for("the vendor request span", || in_trace("vendor.request")).await;
    assert_eq!(attr(&vendor, "vendor").as_deref(), Some("apns"));
    assert_eq!(attr(&vendor, "notifier").as_deref(), Some(APNS));
    assert_eq!(attr(&vendor, "batch_size").as_deref(), Some("1"));
    assert_eq!(attr(&vendor, "outcome").as_deref(), Some("delivered"));
    assert_eq!(vendor.parent_span_id, dispatch.span_id);

    for metric in [
        "pushgate.sends",
        "pushgate.vendor.request.duration",
        "pushgate.circuit.state",
    ] {
        wait_for(metric, || {
            let names = collected.metric_names.lock().unwrap();
            names.iter().any(|n| n == metric).then_some(())
        })
        .await;
    }
}

#[tokio::test]
async fn the_admin_port_serves_prometheus_metrics_and_health() {
    let mut env = Env::start().await;
    env.bind_new("bob", "d-bob", APNS).await;
    env.bind_new("bob", "d-bob-fcm", FCM).await;
    let answer = env
        .send_sync("bob", Strategy::VendorOnly, hello())
        .await
        .unwrap();
    assert_eq!(answer.results.len(), 2);
    let absent = env
        .send_sync("nobody", Strategy::VendorOnly, hello())
        .await
        .unwrap();
    assert_eq!(reason(&absent.results[0]), FailureReason::NoUserExist);

    let admin = format!("http://{}", env.server.admin_addr());
    let http = pushgate::dispatch::client(pushgate::dispatch::ClientOptions {
        extra_ca_pems: &[],
        identity: None,
        http2_only: false,
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(10),
        egress: None,
    })
    .unwrap();
    let get = |path: &str| http.get(format!("{admin}{path}")).send();
    let health = get("/healthz").await.unwrap();
    assert_eq!(health.status(), 200);
    let metrics = get("/metrics").await.unwrap();
    assert_eq!(metrics.status(), 200);
    assert!(
        metrics.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain"),
    );
    let text = metrics.text().await.unwrap();
    let sample = |needle: &[&str]| {
        text.lines()
            .find(|l| {
                l.starts_with("pushgate_sends_total{") && needle.iter().all(|n| l.contains(n))
            })
            .unwrap_or_else(|| panic!("no pushgate_sends_total sample with {needle:?} in:\n{text}"))
            .rsplit(' ')
            .next()
            .unwrap()
            .parse::<f64>()
            .unwrap()
    };
    assert_eq!(sample(&[r#"channel="APNS""#, r#"status="success""#]), 1.0);
    assert_eq!(
        sample(&[r#"channel="ANDROID""#, r#"status="success""#]),
        1.0
    );
    assert_eq!(
        sample(&[
            r#"channel="none""#,
            r#"status="fail""#,
            r#"reason="no user exist""#
        ]),
        1.0
    );
    assert!(
        text.contains("pushgate_vendor_request_duration_seconds_bucket"),
        "vendor latency histogram:\n{text}"
    );
}
