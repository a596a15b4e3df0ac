//! The gateway's metrics, recorded through OpenTelemetry's global meter (exported with OTLP and served on the
//! admin port). Instruments are made on first use: [`super::init`] must have installed the meter provider
//! before, or they record nowhere (as in unit tests).
//!
//! A family that has no series cannot be graphed or alerted on, so every counter and gauge gets its series at
//! zero (or its current value) as soon as its attributes are known: at start-up ([`start`]), when a notifier
//! exists ([`notifier_known`]), when a callback rule's worker starts ([`rule_started`]). [`FAMILIES`] lists
//! them all.

use std::sync::LazyLock;

use opentelemetry::{
    KeyValue, global,
    metrics::{Counter, Gauge, Histogram, UpDownCounter},
};

use crate::delivery_channel;

/// From when a family has a series on `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appears {
    /// From start-up.
    AtStart,
    /// From start-up where `/proc/self` can be read (Linux).
    AtStartOnLinux,
    /// Once a notifier exists: from its creation, or from start-up for those already stored.
    PerNotifier,
    /// Once a callback rule is enabled: from its creation, or from start-up for those already stored.
    PerRule,
    /// At its first observation: a histogram has no empty state to show without a made-up observation.
    OnFirstUse,
}

/// Every family `/metrics` serves, by its name in the Prometheus exposition, and from when it has a series.
pub const FAMILIES: &[(&str, Appears)] = &[
    ("pushgate_build_info", Appears::AtStart),
    ("pushgate_sends_total", Appears::AtStart),
    ("pushgate_task_devices_total", Appears::AtStart),
    ("pushgate_channel_streams", Appears::AtStart),
    ("pushgate_push_queue_size", Appears::AtStart),
    ("pushgate_cluster_replicas", Appears::AtStart),
    ("pushgate_circuit_state", Appears::PerNotifier),
    ("pushgate_vendor_retries_total", Appears::PerNotifier),
    ("pushgate_callbacks_waiting", Appears::PerRule),
    ("pushgate_callbacks_posts_total", Appears::PerRule),
    ("pushgate_callbacks_failed_total", Appears::PerRule),
    (
        "pushgate_vendor_request_duration_seconds",
        Appears::OnFirstUse,
    ),
    ("pushgate_limiter_wait_seconds", Appears::OnFirstUse),
    ("pushgate_channel_inbox_size", Appears::OnFirstUse),
    ("process_cpu_seconds_total", Appears::AtStartOnLinux),
    ("process_resident_memory_bytes", Appears::AtStartOnLinux),
    ("process_virtual_memory_bytes", Appears::AtStartOnLinux),
    ("process_open_fds", Appears::AtStartOnLinux),
    ("process_max_fds", Appears::AtStartOnLinux),
    ("process_start_time_seconds", Appears::AtStartOnLinux),
];

/// The `status` values of [`Metrics::task_devices`].
const STATUSES: [&str; 3] = ["success", "fail", "error"];
/// The `kind` values of [`Metrics::task_devices`].
const TASK_KINDS: [&str; 3] = ["broadcast", "label", "list"];
/// The `result` values of [`Metrics::callback_posts`].
const POST_RESULTS: [&str; 2] = ["delivered", "failed"];

/// Every instrument.
pub struct Metrics {
    /// Outcomes per device: `channel` (APNS, ANDROID, …, EASEMOB, none), `status`, `reason`.
    pub sends: Counter<u64>,
    /// Duration of one vendor request (a batch), by `vendor` and `notifier`.
    pub vendor_duration: Histogram<f64>,
    /// Devices whose vendor request is retried, by `vendor` and `notifier`.
    pub retries: Counter<u64>,
    /// Time a vendor request waited for the notifier's rate limiter, by `vendor` and `notifier`.
    pub limiter_wait: Histogram<f64>,
    /// A notifier's circuit: 0 closed, 1 half-open, 2 open; by `vendor` and `notifier`.
    pub circuit_state: Gauge<i64>,
    /// Devices a task has finished, by task `kind` and `status`.
    pub task_devices: Counter<u64>,
    /// Entries in a device's own-channel inbox after an append.
    pub inbox_size: Histogram<u64>,
    /// Open own-channel streams (ChannelService.Subscribe).
    pub channel_streams: UpDownCounter<i64>,
    /// Callbacks waiting to be retried, by `app` and `rule`.
    pub callbacks_waiting: Gauge<i64>,
    /// Callback POSTs, by `rule` and `result` (delivered, failed).
    pub callback_posts: Counter<u64>,
    /// Callbacks given up on after their retries (dead letters), by `app` and `rule`.
    pub callbacks_failed: Counter<u64>,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let meter = global::meter("pushgate");
    Metrics {
        sends: meter
            .u64_counter("pushgate.sends")
            .with_description("Push outcomes per device")
            .build(),
        vendor_duration: meter
            .f64_histogram("pushgate.vendor.request.duration")
            .with_unit("s")
            .with_description("Duration of one vendor request")
            .with_boundaries(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ])
            .build(),
        retries: meter
            .u64_counter("pushgate.vendor.retries")
            .with_description("Devices whose vendor request is retried")
            .build(),
        limiter_wait: meter
            .f64_histogram("pushgate.limiter.wait")
            .with_unit("s")
            .with_description("Wait for a notifier's rate limiter")
            .with_boundaries(vec![0.0, 0.001, 0.01, 0.1, 0.5, 1.0, 5.0, 30.0])
            .build(),
        circuit_state: meter
            .i64_gauge("pushgate.circuit.state")
            .with_description("Notifier circuit: 0 closed, 1 half-open, 2 open")
            .build(),
        task_devices: meter
            .u64_counter("pushgate.task.devices")
            .with_description("Devices a task has finished")
            .build(),
        inbox_size: meter
            .u64_histogram("pushgate.channel.inbox.size")
            .with_description("Entries in a device's own-channel inbox after an append")
            .with_boundaries(vec![1.0, 2.0, 5.0, 10.0, 50.0, 100.0, 500.0, 1000.0])
            .build(),
        channel_streams: meter
            .i64_up_down_counter("pushgate.channel.streams")
            .with_description("Open own-channel streams")
            .build(),
        callbacks_waiting: meter
            .i64_gauge("pushgate.callbacks.waiting")
            .with_description("Callbacks waiting to be retried")
            .build(),
        callback_posts: meter
            .u64_counter("pushgate.callbacks.posts")
            .with_description("Callback POSTs")
            .build(),
        callbacks_failed: meter
            .u64_counter("pushgate.callbacks.failed")
            .with_description("Callbacks given up on after their retries")
            .build(),
    }
});

/// The instruments.
pub fn metrics() -> &'static Metrics {
    &METRICS
}

/// Serves what is known from start-up: `pushgate_build_info`, the process metrics, and a series at zero for
/// every family whose attributes exist before anything happens. Called once by [`super::init`], after the
/// meter provider is installed.
pub(super) fn start() {
    let meter = global::meter("pushgate");
    meter
        .u64_observable_gauge("pushgate.build_info")
        .with_description("The running build: always 1, its version as an attribute")
        .with_callback(|o| o.observe(1, &[KeyValue::new("version", env!("CARGO_PKG_VERSION"))]))
        .build();
    super::process::observe(&meter);
    let m = metrics();
    // Successes carry no reason and exist on every channel; a failure's reason and channel come in too many
    // combinations to list, and show from the first one.
    for channel in delivery_channel::ALL {
        m.sends.add(
            0,
            &[
                KeyValue::new("channel", channel),
                KeyValue::new("status", "success"),
                KeyValue::new("reason", ""),
            ],
        );
    }
    for kind in TASK_KINDS {
        for status in STATUSES {
            m.task_devices.add(
                0,
                &[KeyValue::new("kind", kind), KeyValue::new("status", status)],
            );
        }
    }
    m.channel_streams.add(0, &[]);
}

/// Gives a notifier that exists (created, or stored at start-up) its series before its first push: a closed
/// circuit (its lane, built at the first push, starts closed) and no retries.
pub fn notifier_known(vendor: &'static str, notifier: &str) {
    let attrs = notifier_attrs(vendor, notifier);
    metrics().circuit_state.record(0, &attrs);
    metrics().retries.add(0, &attrs);
}

/// Gives a callback rule whose worker starts its series: `waiting` callbacks, none posted or given up on yet.
pub fn rule_started(app: &str, rule: &str, waiting: i64) {
    let m = metrics();
    let rule_attrs = [
        KeyValue::new("app", app.to_owned()),
        KeyValue::new("rule", rule.to_owned()),
    ];
    m.callbacks_waiting.record(waiting, &rule_attrs);
    m.callbacks_failed.add(0, &rule_attrs);
    for result in POST_RESULTS {
        m.callback_posts.add(
            0,
            &[
                KeyValue::new("rule", rule.to_owned()),
                KeyValue::new("result", result),
            ],
        );
    }
}

/// Serves `pushgate_push_queue_size` from `queued`, asked at every collection (`None` once the queue is gone).
pub fn observe_push_queue(queued: impl Fn() -> Option<u64> + Send + Sync + 'static) {
    global::meter("pushgate")
        .u64_observable_gauge("pushgate.push.queue.size")
        .with_description("Accepted asynchronous pushes (one per user) not yet finished")
        .with_callback(move |o| {
            if let Some(n) = queued() {
                o.observe(n, &[]);
            }
        })
        .build();
}

/// Serves `pushgate_cluster_replicas` from `live`, asked at every collection (`None` once membership is gone).
pub fn observe_cluster_replicas(live: impl Fn() -> Option<u64> + Send + Sync + 'static) {
    global::meter("pushgate")
        .u64_observable_gauge("pushgate.cluster.replicas")
        .with_description("Replicas alive at this replica's last beat, itself included")
        .with_callback(move |o| {
            if let Some(n) = live() {
                o.observe(n, &[]);
            }
        })
        .build();
}

/// `vendor` and `notifier` attributes.
pub fn notifier_attrs(vendor: &'static str, notifier: &str) -> [KeyValue; 2] {
    [
        KeyValue::new("vendor", vendor),
        KeyValue::new("notifier", notifier.to_owned()),
    ]
}
