//! `send`: PushService.SendSync end to end over gRPC through a server process, against direct dispatch to the
//! same fake vendor in the same run: sends/s, p50/p99 latency of each, and their ratio.
//!
//! Both paths push the same message to the same devices (one per user, bound to one sandbox notifier) with
//! the same number of pushes in flight. "Direct" is what the `dispatch` scenario measures, one device per
//! call: a lane built from the notifier, called from this process. "Gateway" is a client in this process
//! calling SendSync on a server child (`server.rs`), which authenticates, plans, renders, dispatches through
//! its own lane to the same fake and records the delivery events. The fakes run in this process on one
//! thread; the load generator (the direct lane, or the gRPC client) on two; the server in its own process;
//! all on the same cores.

use std::{
    future::Future,
    net::Ipv4Addr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, Result, anyhow, bail};
use pushgate::{
    dispatch::{DispatchConfig, Outcome, Rendered, Sharing, build_lane},
    notifier::OpenedNotifier,
    proto::v1::{
        BindDeviceRequest, DeliveryStatus, Notifier, PushMessage, SendSyncRequest, Vendor,
        device_service_client::DeviceServiceClient, push_service_client::PushServiceClient,
        send_sync_request,
    },
    sandbox::{Sandbox, SandboxConfig},
    store::bindings::BindingRecord,
};

use crate::{
    backend::{BackendArg, RunStore},
    fakes, machine,
    report::{self, Run},
    server::{self, Server, authed},
};

const APP: &str = "bench#send";

/// Options of the send scenario.
#[derive(clap::Args)]
pub struct Args {
    /// The sandbox notifier both paths push through (a name from the sandbox's ready-made notifiers).
    #[arg(long, default_value = "sandbox-fcm")]
    notifier: String,
    /// Pushes in flight at once, on each path.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Measured pushes per path.
    #[arg(long, default_value_t = 20_000)]
    sends: usize,
    /// Pushes per path before the measured ones (connections, TLS sessions, vendor credentials, caches),
    /// not counted.
    #[arg(long, default_value_t = 2_000)]
    warm_up: usize,
    /// Users (one device each) the pushes go to, in turn.
    #[arg(long, default_value_t = 1_000)]
    users: usize,
    /// The store the server runs on.
    #[arg(long, value_enum, default_value = "sled")]
    backend: BackendArg,
}

/// What one path measured.
struct Phase {
    sends: usize,
    ok: usize,
    first_error: Option<String>,
    wall: Duration,
    /// Sorted.
    latencies: Vec<Duration>,
}

impl Phase {
    fn per_second(&self) -> f64 {
        self.sends as f64 / self.wall.as_secs_f64()
    }

    fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return 0.0;
        }
        let i = ((self.latencies.len() as f64 * p).ceil() as usize).clamp(1, self.latencies.len());
        self.latencies[i - 1].as_secs_f64() * 1000.0
    }
}

/// How long a phase may go without a push completing before it is given up: a server that stops answering
/// must end the run with an error, not hang it.
const STALL: Duration = Duration::from_secs(60);

/// Calls `op(i)` for i in 0..count with `concurrency` calls in flight; each call answers whether its push
/// was delivered, or why not.
async fn drive<F, Fut>(concurrency: usize, count: usize, op: F) -> Result<Phase>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (op, next, done) = (op.clone(), next.clone(), done.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut ok = 0;
                let mut first_error = None;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        break;
                    }
                    let t = Instant::now();
                    match op(i).await {
                        Ok(()) => ok += 1,
                        Err(e) => {
                            first_error.get_or_insert(e);
                        }
                    }
                    latencies.push(t.elapsed());
                    done.fetch_add(1, Ordering::Relaxed);
                }
                (latencies, ok, first_error)
            })
        })
        .collect();
    let aborts: Vec<_> = workers.iter().map(|w| w.abort_handle()).collect();
    let mut all = std::pin::pin!(futures::future::join_all(workers));
    let (mut seen, mut since) = (0, Instant::now());
    let results = loop {
        tokio::select! {
            results = &mut all => break results,
            () = tokio::time::sleep(Duration::from_secs(1)) => {
                let now = done.load(Ordering::Relaxed);
                if now != seen {
                    (seen, since) = (now, Instant::now());
                } else if since.elapsed() >= STALL {
                    aborts.iter().for_each(|a| a.abort());
                    bail!(
                        "no push completed for {} s after {now} of {count}: the server (or the fake) stopped answering",
                        STALL.as_secs()
                    );
                }
            }
        }
    };
    let mut phase = Phase {
        sends: count,
        ok: 0,
        first_error: None,
        wall: started.elapsed(),
        latencies: Vec::with_capacity(count),
    };
    for result in results {
        let (latencies, ok, first_error) = result?;
        phase.latencies.extend(latencies);
        phase.ok += ok;
        if phase.first_error.is_none() {
            phase.first_error = first_error;
        }
    }
    phase.latencies.sort_unstable();
    Ok(phase)
}

/// The message of every push: an ordinary chat notification.
fn message() -> PushMessage {
    PushMessage {
        title: "Benchmark".into(),
        content: "A push of ordinary size, with a title, a body and a little custom data.".into(),
        ext: [("conversation".to_string(), "c-1".to_string())].into(),
        ..Default::default()
    }
}

fn user(n: usize) -> String {
    format!("u{n:06}")
}

fn device(n: usize) -> String {
    format!("d{n:06}")
}

/// Creates the app and the notifier on the server and binds the devices through DeviceService; answers
/// an app token.
async fn set_up(
    server: &Server,
    notifier: &Notifier,
    vendor: Vendor,
    users: usize,
) -> Result<String> {
    let token = server::create_app(server, APP).await?;
    server::create_notifiers(server, &token, vec![notifier.clone()]).await?;
    let mut devices = DeviceServiceClient::new(server.connect().await?);
    for n in 0..users {
        devices
            .bind_device(authed(
                BindDeviceRequest {
                    user: user(n),
                    device_id: device(n),
                    device_token: fakes::token(vendor, n),
                    notifier_name: notifier.name.clone(),
                },
                &token,
            ))
            .await
            .with_context(|| format!("bind {}", device(n)))?;
    }
    Ok(token)
}

/// Pushes through a lane in this process, one device per call.
async fn direct(notifier: Notifier, vendor: Vendor, args: &Args) -> Result<(Phase, f64)> {
    let credentials = notifier
        .credentials
        .clone()
        .ok_or_else(|| anyhow!("{} has no credentials", notifier.name))?;
    let public = Notifier {
        credentials: None,
        qps_limit: 1_000_000,
        ..notifier
    };
    // The server's defaults, so both paths dispatch alike.
    let lane = Arc::new(build_lane(
        OpenedNotifier {
            public: public.clone(),
            credentials,
        },
        &DispatchConfig::default(),
        "",
        &Sharing::default(),
    )?);
    let bindings: Arc<Vec<BindingRecord>> = Arc::new(
        (0..args.users)
            .map(|n| BindingRecord {
                user: user(n),
                device_id: device(n),
                device_token: fakes::token(vendor, n),
                notifier_name: public.name.clone(),
                vendor: vendor as i32,
                ..Default::default()
            })
            .collect(),
    );
    let ids = Arc::new(AtomicUsize::new(0));
    let op = move |i: usize| {
        let (lane, bindings, ids) = (lane.clone(), bindings.clone(), ids.clone());
        async move {
            // A message id per push, as the server gives each SendSync (vivo refuses repeated ids).
            let id = ids.fetch_add(1, Ordering::Relaxed);
            let rendered = Rendered::now(format!("bench-direct-{id}"), message());
            let binding = &bindings[i % bindings.len()];
            let reports = lane
                .dispatch(std::slice::from_ref(binding), &rendered)
                .await;
            match reports.first().map(|r| &r.outcome) {
                Some(Outcome::Delivered { .. }) => Ok(()),
                other => Err(format!("{other:?}")),
            }
        }
    };
    drive(args.concurrency, args.warm_up, op.clone()).await?;
    let cpu = machine::thread_cpu_seconds("pg-bench");
    let phase = drive(args.concurrency, args.sends, op).await?;
    Ok((phase, machine::thread_cpu_seconds("pg-bench") - cpu))
}

/// Pushes with SendSync over one client connection, as one calling service would.
async fn gateway(server: &Server, token: &str, args: &Args) -> Result<(Phase, f64, f64)> {
    let client = PushServiceClient::new(server.connect().await?);
    let token: Arc<str> = token.into();
    let users = args.users;
    let op = move |i: usize| {
        let (mut client, token) = (client.clone(), token.clone());
        async move {
            let response = client
                .send_sync(authed(
                    SendSyncRequest {
                        user: user(i % users),
                        message_source: Some(send_sync_request::MessageSource::Message(message())),
                        ..Default::default()
                    },
                    &token,
                ))
                .await
                .map_err(|s| format!("{:?}: {}", s.code(), s.message()))?
                .into_inner();
            match response.results.first() {
                Some(r) if r.status == DeliveryStatus::Success as i32 => Ok(()),
                other => Err(format!("{other:?}")),
            }
        }
    };
    drive(args.concurrency, args.warm_up, op.clone()).await?;
    let (server_cpu, client_cpu) = (
        machine::process_cpu_seconds(server.pid()),
        machine::thread_cpu_seconds("pg-bench"),
    );
    let phase = drive(args.concurrency, args.sends, op).await?;
    Ok((
        phase,
        machine::process_cpu_seconds(server.pid()) - server_cpu,
        machine::thread_cpu_seconds("pg-bench") - client_cpu,
    ))
}

/// Runs the scenario and returns its report.
pub fn run(args: Args, command: String) -> Result<Run> {
    anyhow::ensure!(
        args.concurrency > 0 && args.sends > 0 && args.users > 0,
        "--concurrency, --sends and --users must be at least 1"
    );
    let fakes_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("pg-sandbox")
        .enable_all()
        .build()?;
    let bench = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("pg-bench")
        .enable_all()
        .build()?;
    let sandbox = fakes_runtime
        .block_on(Sandbox::start(SandboxConfig {
            host: Ipv4Addr::LOCALHOST.into(),
            control_port: 0,
            apns_port: 0,
            fcm_port: 0,
            max_recorded: 0,
            ..SandboxConfig::default()
        }))
        .context("starting the sandbox")?;
    let notifier = sandbox
        .notifiers()
        .into_iter()
        .find(|n| n.name == args.notifier)
        .ok_or_else(|| anyhow!("the sandbox has no notifier {}", args.notifier))?;
    let vendor = Vendor::try_from(notifier.vendor).unwrap_or(Vendor::Unspecified);
    let fake = fakes::core(&sandbox, vendor);
    fake.set_recording(false);

    let dir = server::data_dir("send")?;
    let result = bench.block_on(async {
        let store = RunStore::start(args.backend).await?;
        let mut settings = store.settings();
        // Easemob's 100 SendSync calls per second and app would measure the limiter, not the path.
        settings.push((
            "PUSHGATE_PUSH_SYNC_PER_SECOND_PER_APP",
            "1000000".to_string(),
        ));
        let server = Server::start(&dir, &settings)?;
        let token = set_up(&server, &notifier, vendor, args.users).await?;
        // `drive` spawns the pushes onto the bench runtime, whose threads' CPU is read by name.
        let fake_cpu = machine::thread_cpu_seconds("pg-sandbox");
        let (direct, direct_cpu) = direct(notifier.clone(), vendor, &args).await?;
        let direct_fake_cpu = machine::thread_cpu_seconds("pg-sandbox") - fake_cpu;
        let fake_cpu = machine::thread_cpu_seconds("pg-sandbox");
        let (gateway, server_cpu, client_cpu) = gateway(&server, &token, &args).await?;
        let gateway_fake_cpu = machine::thread_cpu_seconds("pg-sandbox") - fake_cpu;
        let memory = server.memory();
        server.stop()?;
        Ok::<_, anyhow::Error>(Measured {
            direct,
            direct_cpu,
            direct_fake_cpu,
            gateway,
            server_cpu,
            client_cpu,
            gateway_fake_cpu,
            server_peak_mib: memory.hwm_kib as f64 / 1024.0,
            backend: store.name(),
        })
    });
    server::remove_data_dir(&dir);
    let m = result?;
    report_of(&args, command, m)
}

struct Measured {
    direct: Phase,
    direct_cpu: f64,
    direct_fake_cpu: f64,
    gateway: Phase,
    server_cpu: f64,
    client_cpu: f64,
    gateway_fake_cpu: f64,
    server_peak_mib: f64,
    /// The store the server ran on.
    backend: &'static str,
}

fn report_of(args: &Args, command: String, m: Measured) -> Result<Run> {
    let ratio = m.gateway.per_second() / m.direct.per_second();
    let met = ratio >= 0.5;
    let per_send = |cpu: f64| cpu * 1e6 / args.sends as f64;
    for (name, phase) in [("direct", &m.direct), ("gateway", &m.gateway)] {
        if let Some(e) = &phase.first_error {
            println!(
                "send {name}: {} of {} pushes failed; the first: {e}",
                phase.sends - phase.ok,
                phase.sends
            );
        }
    }
    println!(
        "send {} on {}: gateway {:.0} sends/s (p50 {:.2} ms, p99 {:.2} ms), direct {:.0} sends/s (p50 {:.2} ms, p99 {:.2} ms); \
         ratio {ratio:.2}, target ≥ 0.5 {}; delivered {}/{} and {}/{}",
        args.notifier,
        m.backend,
        m.gateway.per_second(),
        m.gateway.percentile_ms(0.5),
        m.gateway.percentile_ms(0.99),
        m.direct.per_second(),
        m.direct.percentile_ms(0.5),
        m.direct.percentile_ms(0.99),
        if met { "met" } else { "MISSED" },
        m.gateway.ok,
        m.gateway.sends,
        m.direct.ok,
        m.direct.sends,
    );
    let row = |name: &str, p: &Phase, ratio: String, target: String| {
        vec![
            name.to_string(),
            p.sends.to_string(),
            p.ok.to_string(),
            format!("{:.2}", p.wall.as_secs_f64()),
            format!("{:.0}", p.per_second()),
            format!("{:.2}", p.percentile_ms(0.5)),
            format!("{:.2}", p.percentile_ms(0.99)),
            ratio,
            target,
        ]
    };
    Ok(Run {
        title: format!(
            "send: SendSync through a server process on {} vs direct dispatch, {}",
            m.backend, args.notifier
        ),
        command,
        machine: machine::describe(),
        columns: [
            "path",
            "sends",
            "delivered",
            "wall s",
            "sends/s",
            "p50 ms",
            "p99 ms",
            "gateway/direct",
            "≥ 0.5",
        ]
        .map(String::from)
        .to_vec(),
        rows: vec![
            row("direct dispatch", &m.direct, "".into(), "".into()),
            row(
                "gateway (SendSync)",
                &m.gateway,
                format!("{ratio:.2}"),
                report::target(met),
            ),
        ],
        notes: vec![
            format!(
                "{} pushes in flight on each path, {} warm-up pushes per path not counted, the same message to {} users \
                 with one {} device each, in turn. Direct: a lane built from the notifier with the server's dispatch \
                 defaults, one device per call, in the bench process. Gateway: SendSync over one HTTP/2 connection to a \
                 server process (telemetry and `server::run` as `pushgate serve`; `push.sync_per_second_per_app` raised \
                 to 1,000,000 and the notifier's QPS limit too, so no limiter is measured; delivery events recorded as \
                 always). Fakes in the bench process on 1 thread, recording off; load generator on 2; the server on the \
                 same cores.",
                args.concurrency, args.warm_up, args.users, args.notifier
            ),
            format!(
                "CPU per push: direct, dispatcher {:.1} µs and fake {:.1} µs; gateway, server {:.1} µs, client {:.1} µs \
                 and fake {:.1} µs. Server peak RSS {:.0} MiB.",
                per_send(m.direct_cpu),
                per_send(m.direct_fake_cpu),
                per_send(m.server_cpu),
                per_send(m.client_cpu),
                per_send(m.gateway_fake_cpu),
                m.server_peak_mib
            ),
        ],
    })
}
