//! `channel`: N devices subscribed to the own channel of a server process at once: the server's resident
//! memory per subscriber, and the time one message takes to reach all of them.
//!
//! Each subscriber is a user with one device, subscribed with its own user token (AuthService.IssueUserToken)
//! over ChannelService.Subscribe. Streams are multiplexed over several HTTP/2 connections: the server sets no
//! SETTINGS_MAX_CONCURRENT_STREAMS (tonic's default, which hyper passes on as "no limit"), so one connection
//! could carry them all, but real devices each bring their own connection, and one connection per
//! subscriber (`--streams-per-connection 1`) measures that cost too. The message is one broadcast task with
//! STRATEGY_CHANNEL_ONLY. A broadcast reaches the app's users that have a binding, so every user gets one
//! FCM binding (never used under CHANNEL_ONLY); those are written into the store directly while the server
//! is stopped, like the broadcast scenario's devices.

use std::{
    net::{IpAddr, Ipv4Addr},
    path::Path,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, Result, anyhow, bail};
use futures::{StreamExt, TryStreamExt};
use pushgate::{
    proto::v1::{
        CreateBroadcastTaskRequest, IssueUserTokenRequest, PushMessage, Strategy, SubscribeRequest,
        SubscribeResponse, TaskProgress, TaskState, Vendor, WatchTaskRequest,
        auth_service_client::AuthServiceClient, channel_service_client::ChannelServiceClient,
        create_broadcast_task_request, subscribe_response::Item,
        task_service_client::TaskServiceClient,
    },
    store::{BindingRecord, StoreConfig},
};
use tokio::sync::Notify;
use tonic::{
    Streaming,
    transport::{Channel, Endpoint},
};

use crate::{
    fakes, machine,
    report::{self, Run},
    server::{self, Server, authed},
};

const APP: &str = "bench#channel";

/// The per-subscriber target: 10 kB, in bytes.
const TARGET_BYTES: f64 = 10_000.0;

/// Connections opened from one local address: below the kernel's ephemeral port range (about 28,000 ports
/// by default), so that many connections to the one server address spread over 127.0.0.x sources.
const CONNECTIONS_PER_SOURCE: usize = 20_000;

/// Options of the channel scenario.
#[derive(clap::Args)]
pub struct Args {
    /// Devices subscribed at once (one user each).
    #[arg(long, default_value_t = 50_000)]
    subscribers: usize,
    /// Subscribe streams per client HTTP/2 connection; 1 gives every subscriber its own connection, as
    /// devices have (the open-file limit is raised to fit, which takes root above the hard limit).
    #[arg(long, default_value_t = 1_000)]
    streams_per_connection: usize,
    /// Subscribe calls being opened at once (below the server's `max_concurrent_requests`, 1024, which
    /// counts a stream until its first response).
    #[arg(long, default_value_t = 256)]
    open_concurrency: usize,
    /// Seconds the server's resident memory must stay within 1 % before it is read (idle, and with the
    /// subscribers).
    #[arg(long, default_value_t = 5)]
    settle_seconds: u64,
    /// Longest wait for the message to reach every subscriber, in seconds.
    #[arg(long, default_value_t = 120)]
    deliver_timeout_seconds: u64,
}

fn user(n: usize) -> String {
    format!("u{n:08}")
}

fn device(n: usize) -> String {
    format!("d{n:08}")
}

/// Writes one user with one FCM binding per subscriber straight into the stopped server's store.
async fn seed(dir: &Path, subscribers: usize) -> Result<()> {
    server::seed_bindings(&StoreConfig::in_dir(dir), APP, subscribers, |n| {
        BindingRecord {
            user: user(n),
            device_id: device(n),
            device_token: fakes::token(Vendor::Fcm, n),
            notifier_name: "sandbox-fcm".into(),
            vendor: Vendor::Fcm as i32,
            create_time_ms: 0,
            update_time_ms: 0,
        }
    })
    .await
}

/// A user token per subscriber, issued over one connection.
async fn user_tokens(server: &Server, app_token: &str, subscribers: usize) -> Result<Vec<String>> {
    let auth = AuthServiceClient::new(server.connect().await?);
    futures::stream::iter(0..subscribers)
        .map(|n| {
            let mut auth = auth.clone();
            async move {
                Ok::<_, anyhow::Error>(
                    auth.issue_user_token(authed(
                        IssueUserTokenRequest {
                            user: user(n),
                            ttl: None,
                        },
                        app_token,
                    ))
                    .await
                    .with_context(|| format!("user token of {}", user(n)))?
                    .into_inner()
                    .access_token,
                )
            }
        })
        .buffered(64)
        .try_collect()
        .await
}

/// `count` HTTP/2 connections to the server.
async fn connect(server: &Server, count: usize) -> Result<Vec<Channel>> {
    let endpoint = Endpoint::from_shared(server.addr.clone())?;
    futures::stream::iter(0..count)
        .map(|c| {
            let source = u8::try_from(1 + c / CONNECTIONS_PER_SOURCE).unwrap_or(u8::MAX);
            let endpoint = endpoint
                .clone()
                .local_address(Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, source))));
            async move { endpoint.connect().await.context("connect") }
        })
        .buffered(64)
        .try_collect()
        .await
}

/// Opens one device's stream and reads it up to the end of its (empty) replay, after which the device is
/// registered and every push reaches it live.
async fn subscribe(
    connection: Channel,
    token: &str,
    device_id: String,
) -> Result<Streaming<SubscribeResponse>> {
    let mut stream = ChannelServiceClient::new(connection)
        .subscribe(authed(
            SubscribeRequest {
                device_id,
                since: 0,
            },
            token,
        ))
        .await?
        .into_inner();
    loop {
        match stream.message().await? {
            Some(SubscribeResponse {
                item: Some(Item::ReplayComplete(_)),
            }) => return Ok(stream),
            Some(_) => continue,
            None => bail!("the stream ended before its replay did"),
        }
    }
}

/// What the subscribers saw of the message.
#[derive(Default)]
struct Arrivals {
    /// When each copy arrived.
    at: Mutex<Vec<Instant>>,
    /// Copies received.
    count: AtomicUsize,
    /// Copies expected; the reader that brings the count to it wakes `all`.
    expected: AtomicUsize,
    all: Notify,
    /// Streams the server ended.
    ended: AtomicUsize,
    first_end: Mutex<Option<String>>,
}

/// Reads a stream until it ends, recording when a pushed message arrives.
async fn read(mut stream: Streaming<SubscribeResponse>, arrivals: Arc<Arrivals>) {
    loop {
        match stream.message().await {
            Ok(Some(SubscribeResponse {
                item: Some(Item::Message(_)),
            })) => {
                let now = Instant::now();
                arrivals
                    .at
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(now);
                let count = arrivals.count.fetch_add(1, Ordering::AcqRel) + 1;
                if count == arrivals.expected.load(Ordering::Acquire) {
                    arrivals.all.notify_one();
                }
            }
            // Keepalives.
            Ok(Some(_)) => {}
            end => {
                let why = match end {
                    Err(e) => format!("{:?}: {}", e.code(), e.message()),
                    _ => "ended by the server".into(),
                };
                arrivals.ended.fetch_add(1, Ordering::Relaxed);
                arrivals
                    .first_end
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get_or_insert(why);
                return;
            }
        }
    }
}

/// Everything the scenario measured.
struct Measured {
    connections: usize,
    opened: usize,
    first_open_error: Option<String>,
    open_time: Duration,
    idle: machine::Memory,
    idle_settled: bool,
    with: machine::Memory,
    with_settled: bool,
    received: usize,
    /// From CreateBroadcastTask until each copy arrived, sorted.
    arrivals: Vec<Duration>,
    ended: usize,
    first_end: Option<String>,
    task: Option<TaskProgress>,
    server_peak_mib: f64,
    nofile: (u64, u64),
}

async fn measure(args: &Args, connections: usize, nofile: (u64, u64)) -> Result<Measured> {
    let dir = server::data_dir("channel")?;
    let result = measure_in(args, connections, nofile, &dir).await;
    server::remove_data_dir(&dir);
    result
}

async fn measure_in(
    args: &Args,
    connections: usize,
    nofile: (u64, u64),
    dir: &Path,
) -> Result<Measured> {
    let settle = Duration::from_secs(args.settle_seconds);
    let settle_limit = Duration::from_secs(args.settle_seconds.max(1) * 12);
    let server = Server::start(dir, &[])?;
    let app_token = server::create_app(&server, APP).await?;
    server.stop()?;
    let seeding = Instant::now();
    seed(dir, args.subscribers).await?;
    println!(
        "seeded {} users with a binding each in {:.1} s",
        args.subscribers,
        seeding.elapsed().as_secs_f64()
    );
    let server = Server::start(dir, &[])?;
    let issuing = Instant::now();
    let tokens = user_tokens(&server, &app_token, args.subscribers).await?;
    println!(
        "issued {} user tokens in {:.1} s",
        tokens.len(),
        issuing.elapsed().as_secs_f64()
    );
    let (idle, idle_settled) = server.settled_memory(settle, settle_limit).await;

    let opening = Instant::now();
    let channels = connect(&server, connections).await?;
    let arrivals = Arc::new(Arrivals::default());
    let opened = AtomicUsize::new(0);
    let first_open_error = Mutex::new(None::<String>);
    futures::stream::iter(0..args.subscribers)
        .map(|n| subscribe(channels[n % connections].clone(), &tokens[n], device(n)))
        .buffer_unordered(args.open_concurrency.max(1))
        .for_each(|result| {
            match result {
                Ok(stream) => {
                    opened.fetch_add(1, Ordering::Relaxed);
                    tokio::spawn(read(stream, arrivals.clone()));
                }
                Err(e) => {
                    first_open_error
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get_or_insert(format!("{e:#}"));
                }
            }
            futures::future::ready(())
        })
        .await;
    let open_time = opening.elapsed();
    let opened = opened.into_inner();
    let first_open_error = first_open_error
        .into_inner()
        .unwrap_or_else(|p| p.into_inner());
    println!(
        "opened {opened} of {} streams over {connections} connections in {:.1} s",
        args.subscribers,
        open_time.as_secs_f64()
    );
    if opened == 0 {
        bail!("no stream opened: {}", first_open_error.unwrap_or_default());
    }
    drop(tokens);
    let (with, with_settled) = server.settled_memory(settle, settle_limit).await;

    arrivals.expected.store(opened, Ordering::Release);
    let mut tasks = TaskServiceClient::new(server.connect().await?);
    let started = Instant::now();
    let task = tasks
        .create_broadcast_task(authed(
            CreateBroadcastTaskRequest {
                message_source: Some(create_broadcast_task_request::MessageSource::Message(
                    PushMessage {
                        title: "Hello".into(),
                        content: "To every subscriber".into(),
                        ..Default::default()
                    },
                )),
                strategy: Strategy::ChannelOnly as i32,
                ..Default::default()
            },
            &app_token,
        ))
        .await?
        .into_inner()
        .task
        .ok_or_else(|| anyhow!("no task"))?;
    let everyone = tokio::time::timeout(
        Duration::from_secs(args.deliver_timeout_seconds),
        arrivals.all.notified(),
    )
    .await
    .is_ok();
    if !everyone {
        println!(
            "only {} of {opened} subscribers received the message within {} s",
            arrivals.count.load(Ordering::Acquire),
            args.deliver_timeout_seconds
        );
    }
    let mut times: Vec<Duration> = arrivals
        .at
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|at| at.saturating_duration_since(started))
        .collect();
    times.sort_unstable();
    // The task's own account (it may still be writing its last counters when the last copy arrives).
    let task = watch_to_end(&mut tasks, &app_token, &task.id).await.ok();
    let server_peak_mib = server.peak_rss_mib();
    let ended_before_stop = arrivals.ended.load(Ordering::Relaxed);
    let first_end = arrivals
        .first_end
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    server.stop()?;
    Ok(Measured {
        connections,
        opened,
        first_open_error,
        open_time,
        idle,
        idle_settled,
        with,
        with_settled,
        received: times.len(),
        arrivals: times,
        ended: ended_before_stop,
        first_end,
        task,
        server_peak_mib,
        nofile,
    })
}

/// Follows the task until it ends (at most a minute); its last progress.
async fn watch_to_end(
    tasks: &mut TaskServiceClient<Channel>,
    token: &str,
    id: &str,
) -> Result<TaskProgress> {
    let mut stream = tasks
        .watch_task(authed(
            WatchTaskRequest {
                task_id: id.into(),
                min_interval: Some(prost_types::Duration {
                    seconds: 0,
                    nanos: 100_000_000,
                }),
            },
            token,
        ))
        .await?
        .into_inner();
    let mut last = None;
    while let Some(item) = tokio::time::timeout(Duration::from_secs(60), stream.message()).await?? {
        last = item.progress;
    }
    last.ok_or_else(|| anyhow!("no progress"))
}

/// Runs the scenario and returns its report.
pub fn run(args: Args, command: String) -> Result<Run> {
    anyhow::ensure!(
        args.subscribers > 0 && args.streams_per_connection > 0,
        "--subscribers and --streams-per-connection must be at least 1"
    );
    let connections = args.subscribers.div_ceil(args.streams_per_connection);
    // One descriptor per connection on each side, plus the store's files, listeners and the fakes; the
    // server inherits the limit.
    let nofile = machine::raise_open_files(connections as u64 + 1024)?;
    if nofile.1 > nofile.0 {
        println!(
            "raised the open-file limit from {} to {} (this process and the server it starts)",
            nofile.0, nofile.1
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("pg-bench")
        .enable_all()
        .build()?;
    let m = runtime.block_on(measure(&args, connections, nofile))?;
    let bench_peak_mib = machine::peak_rss_mib();
    // The readers end with the server; nothing of them is awaited.
    runtime.shutdown_background();
    report_of(&args, command, m, bench_peak_mib)
}

fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len().max(1));
    sorted.get(i - 1).copied()
}

fn report_of(args: &Args, command: String, m: Measured, bench_peak_mib: f64) -> Result<Run> {
    let grown_bytes = (m.with.rss_kib as f64 - m.idle.rss_kib as f64) * 1024.0;
    let per_subscriber = grown_bytes / m.opened as f64;
    let memory_met = per_subscriber <= TARGET_BYTES;
    let all = m.received == m.opened && m.opened == args.subscribers;
    let last = m.arrivals.last().copied();
    let delivery_met = all && last.is_some_and(|d| d <= Duration::from_secs(2));
    let secs =
        |d: Option<Duration>| d.map_or("-".to_string(), |d| format!("{:.2}", d.as_secs_f64()));
    let settled = |s: bool| if s { "" } else { " (not settled)" };
    println!(
        "channel: {} of {} subscribers over {} connections; server RSS idle {:.1} MiB{}, with subscribers {:.1} MiB{} = \
         {:.2} KiB per subscriber (target ≤ 10 kB {}); one broadcast reached {} of {} in {} s (first {} s, p50 {} s; \
         target ≤ 2 s {})",
        m.opened,
        args.subscribers,
        m.connections,
        m.idle.rss_mib(),
        settled(m.idle_settled),
        m.with.rss_mib(),
        settled(m.with_settled),
        per_subscriber / 1024.0,
        if memory_met { "met" } else { "MISSED" },
        m.received,
        m.opened,
        secs(last),
        secs(m.arrivals.first().copied()),
        secs(percentile(&m.arrivals, 0.5)),
        if delivery_met { "met" } else { "MISSED" },
    );
    if let Some(e) = &m.first_open_error {
        println!(
            "{} streams failed to open; the first: {e}",
            args.subscribers - m.opened
        );
    }
    if m.ended > 0 {
        println!(
            "{} streams ended before the server stopped; the first: {}",
            m.ended,
            m.first_end.clone().unwrap_or_default()
        );
    }
    let task = m.task.as_ref().map_or("unknown".to_string(), |p| {
        let state = TaskState::try_from(p.state).map_or("?".into(), |s| format!("{s:?}"));
        format!(
            "{state}, {} users done, success {} fail {} error {}",
            p.users_done, p.success_count, p.fail_count, p.error_count
        )
    });
    println!("task: {task}");
    let mut notes = vec![
        format!(
            "One user per subscriber with one device, each with its own user token; Subscribe streams opened {} at \
             a time and read past their replay marker, multiplexed {} per client HTTP/2 connection (the server \
             advertises no stream limit). Streams opened in {:.1} s. The server (telemetry and `server::run` as \
             `pushgate serve`, default settings) runs as its own process on the same cores as this one, which holds \
             the clients on 2 threads.",
            args.open_concurrency,
            args.streams_per_connection,
            m.open_time.as_secs_f64()
        ),
        format!(
            "Memory: the server's VmRSS, each read once it had stayed within 1 % for {} s{}: idle (after the user \
             tokens were issued, before any connection) {:.1} MiB, with the streams open {:.1} MiB (of which heap \
             and stacks {:.1} MiB). Per subscriber = (with − idle) / subscribers: the connections, the streams and \
             the hub's entries, and sled's page cache taking in the subscribers' device records. 10 kB = 9.8 KiB. \
             Server peak RSS over the run {:.0} MiB; this process's {:.0} MiB.",
            args.settle_seconds,
            if m.idle_settled && m.with_settled {
                ""
            } else {
                " (or 12 times that at most, which was reached: the figure is less firm)"
            },
            m.idle.rss_mib(),
            m.with.rss_mib(),
            m.with.anon_kib as f64 / 1024.0,
            m.server_peak_mib,
            bench_peak_mib
        ),
        format!(
            "Delivery: one broadcast task with STRATEGY_CHANNEL_ONLY, timed from sending CreateBroadcastTask until \
             the last subscriber read the message (first {} s, p50 {} s, p99 {} s). The task: {task}. Every user \
             has an FCM binding only because a broadcast walks the users with bindings; CHANNEL_ONLY never uses it.",
            secs(m.arrivals.first().copied()),
            secs(percentile(&m.arrivals, 0.5)),
            secs(percentile(&m.arrivals, 0.99)),
        ),
    ];
    if m.nofile.1 > m.nofile.0 {
        notes.push(format!(
            "The open-file limit was raised from {} to {} for this process and the server.",
            m.nofile.0, m.nofile.1
        ));
    }
    if let Some(e) = &m.first_open_error {
        notes.push(format!(
            "{} streams failed to open; the first: {e}",
            args.subscribers - m.opened
        ));
    }
    Ok(Run {
        title: "channel: concurrent own-channel subscribers of a server process".into(),
        command,
        machine: machine::describe(),
        columns: [
            "subscribers",
            "connections",
            "opened",
            "idle RSS MiB",
            "RSS with them MiB",
            "KiB per subscriber",
            "received",
            "delivery s",
            "≤ 10 kB",
            "≤ 2 s",
        ]
        .map(String::from)
        .to_vec(),
        rows: vec![vec![
            args.subscribers.to_string(),
            m.connections.to_string(),
            m.opened.to_string(),
            format!("{:.1}", m.idle.rss_mib()),
            format!("{:.1}", m.with.rss_mib()),
            format!("{:.2}", per_subscriber / 1024.0),
            m.received.to_string(),
            secs(last),
            report::target(memory_met),
            report::target(delivery_met),
        ]],
        notes,
    })
}
