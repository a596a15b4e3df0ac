//! Telemetry of a real send: spans and metrics reach an OTLP collector (a tonic server here implementing the
//! collector services), the caller's trace continues through the gateway, and the admin port serves the
//! metrics in Prometheus text format, every family of them from start-up.

use std::{
    collections::BTreeSet,
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
use pushgate::{
    notifier::credentials,
    telemetry::metrics::{Appears, FAMILIES},
};
use tokio_stream::wrappers::TcpListenerStream;

use crate::common::{admin_client, push::*};

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
    let http = admin_client();
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

/// The admin port's `/metrics` text.
async fn scrape(server: &TestServer) -> String {
    let url = format!("http://{}/metrics", server.admin_addr());
    let answer = admin_client().get(url).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    answer.text().await.unwrap()
}

/// The families of an exposition, by their `# TYPE` lines.
fn families(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// The value of the one sample of `name` whose labels include every `label="value"` of `labels`.
fn sample(text: &str, name: &str, labels: &[&str]) -> f64 {
    let found: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
                && labels.iter().all(|label| l.contains(label))
        })
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one sample of {name} with {labels:?} expected, found {found:?} in:\n{text}"
    );
    found[0].rsplit(' ').next().unwrap().parse().unwrap()
}

/// The families that have a series at this point: those from start-up, and those of notifiers and rules
/// when some exist.
fn expected_families(with_notifiers_and_rules: bool) -> Vec<&'static str> {
    FAMILIES
        .iter()
        .filter(|(_, appears)| match appears {
            Appears::AtStart => true,
            Appears::AtStartOnLinux => cfg!(target_os = "linux"),
            Appears::PerNotifier | Appears::PerRule => with_notifiers_and_rules,
            Appears::OnFirstUse => false,
        })
        .map(|(name, _)| *name)
        .collect()
}

/// Every family of `text` is listed in `FAMILIES`, and every one `expected` is there.
fn assert_families(text: &str, expected: &[&str]) {
    let found = families(text);
    for family in &found {
        assert!(
            FAMILIES.iter().any(|(name, _)| name == family),
            "{family} is served but not listed in telemetry::metrics::FAMILIES"
        );
    }
    let missing: Vec<&&str> = expected.iter().filter(|f| !found.contains(**f)).collect();
    assert!(
        missing.is_empty(),
        "missing families {missing:?}; served:\n{text}"
    );
}

fn now_s() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[tokio::test]
async fn a_fresh_server_serves_every_family_before_anything_happens() {
    let server = tokio::task::spawn_blocking(TestServer::start)
        .await
        .unwrap();
    let text = scrape(&server).await;
    assert_families(&text, &expected_families(false));

    let version = format!(r#"version="{}""#, env!("CARGO_PKG_VERSION"));
    assert_eq!(sample(&text, "pushgate_build_info", &[&version]), 1.0);
    for channel in pushgate::delivery_channel::ALL {
        let channel = format!(r#"channel="{channel}""#);
        assert_eq!(
            sample(
                &text,
                "pushgate_sends_total",
                &[&channel, r#"status="success""#]
            ),
            0.0
        );
    }
    for kind in ["broadcast", "label", "list"] {
        for status in ["success", "fail", "error"] {
            let labels = [format!(r#"kind="{kind}""#), format!(r#"status="{status}""#)];
            let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
            assert_eq!(sample(&text, "pushgate_task_devices_total", &labels), 0.0);
        }
    }
    assert_eq!(sample(&text, "pushgate_channel_streams", &[]), 0.0);
    assert_eq!(sample(&text, "pushgate_push_queue_size", &[]), 0.0);
    // The one server is the one replica, on either backend.
    assert_eq!(sample(&text, "pushgate_cluster_replicas", &[]), 1.0);

    if cfg!(target_os = "linux") {
        let value = |name: &str| sample(&text, name, &[]);
        assert!(value("process_cpu_seconds_total") >= 0.0);
        let resident = value("process_resident_memory_bytes");
        assert!(resident > 1e6, "resident memory {resident}");
        assert!(value("process_virtual_memory_bytes") >= resident);
        let (open, max) = (value("process_open_fds"), value("process_max_fds"));
        assert!(open >= 3.0 && open <= max, "{open} of {max} files open");
        let started = value("process_start_time_seconds");
        assert!(
            started <= now_s() + 1.0 && started > now_s() - 600.0,
            "started at {started}, now {}",
            now_s()
        );
    }
}

#[tokio::test]
async fn notifiers_and_callback_rules_have_their_series_before_a_push_and_after_a_restart() {
    let receiver = crate::common::webhook_receiver::Receiver::start().await;
    let mut env = Env::start().await;
    pushgate::proto::v1::app_service_client::AppServiceClient::new(env.server.channel().await)
        .put_callback_rule(authed(
            pushgate::proto::v1::PutCallbackRuleRequest {
                app: env.app.name.clone(),
                rule: Some(pushgate::proto::v1::CallbackRule {
                    name: "hooks".into(),
                    url: receiver.url.clone(),
                    secret: "whsec_telemetry".into(),
                    enabled: true,
                    ..Default::default()
                }),
            },
            &env.server.admin_token,
        ))
        .await
        .unwrap();
    env.bind_new("carol", "d-carol", APNS).await;
    let app = format!(r#"app="{}""#, env.app.name);
    let notifiers: Vec<(String, String)> = env
        .sandbox
        .notifiers()
        .into_iter()
        .map(|n| {
            let vendor = credentials::vendor_of(n.credentials.as_ref().unwrap());
            (
                format!(r#"vendor="{}""#, credentials::field_of(vendor)),
                format!(r#"notifier="{}""#, n.name),
            )
        })
        .collect();
    let assert_series = |text: &str| {
        assert_families(text, &expected_families(true));
        for (vendor, notifier) in &notifiers {
            let labels = [vendor.as_str(), notifier.as_str()];
            assert_eq!(sample(text, "pushgate_circuit_state", &labels), 0.0);
            assert_eq!(sample(text, "pushgate_vendor_retries_total", &labels), 0.0);
        }
        let rule = [app.as_str(), r#"rule="hooks""#];
        assert_eq!(sample(text, "pushgate_callbacks_waiting", &rule), 0.0);
        assert_eq!(sample(text, "pushgate_callbacks_failed_total", &rule), 0.0);
    };

    // Created before any push: every notifier and the rule show.
    let before = scrape(&env.server).await;
    assert_series(&before);
    for result in ["delivered", "failed"] {
        let result = format!(r#"result="{result}""#);
        assert_eq!(
            sample(
                &before,
                "pushgate_callbacks_posts_total",
                &[r#"rule="hooks""#, &result]
            ),
            0.0
        );
    }

    // A push, its vendor request and its callback add no family but the histograms.
    let answer = env
        .send_sync("carol", Strategy::VendorOnly, hello())
        .await
        .unwrap();
    assert_eq!(status(of(&answer, "d-carol")), DeliveryStatus::Success);
    receiver.wait_for(1, Duration::from_secs(20)).await;
    let after = scrape(&env.server).await;
    assert_families(&after, &expected_families(true));
    let before = families(&before);
    for family in families(&after).difference(&before) {
        assert!(
            FAMILIES.contains(&(family.as_str(), Appears::OnFirstUse)),
            "{family} appeared only after the first push"
        );
    }
    assert_eq!(
        sample(
            &after,
            "pushgate_sends_total",
            &[r#"channel="APNS""#, r#"status="success""#]
        ),
        1.0
    );

    // Found in the store at start-up: the same series, before any push.
    env.server = env.server.restart().await;
    assert_series(&scrape(&env.server).await);
}
