//! `broadcast`: one broadcast task to N bound devices spread over every sandbox vendor, end to end through a
//! real server process: wall time from CreateBroadcastTask to the task's COMPLETED, devices/s, and the server's
//! peak RSS.
//!
//! The server is a child process (`server.rs`), so its memory is measured apart from the sandbox fakes, which
//! run in this process. The devices are written into the
//! store directly while the server is stopped (a million BindDevice calls would measure the API, not the
//! broadcast), then the server is started on that store.

use std::{
    net::Ipv4Addr,
    time::{Duration, Instant},
};

use anyhow::{Result, anyhow};
use pushgate::{
    proto::v1::{
        CreateBroadcastTaskRequest, PushMessage, TaskState, Vendor, WatchTaskRequest,
        create_broadcast_task_request, task_service_client::TaskServiceClient,
    },
    sandbox::{Sandbox, SandboxConfig},
    store::{BindingRecord, StoreConfig},
};

use crate::{
    backend::{BackendArg, RunStore},
    fakes, machine,
    report::{self, Run},
    server::{self, Server, authed},
};

/// Options of the broadcast scenario.
#[derive(clap::Args)]
pub struct Args {
    /// Bound devices (one user each), spread evenly over one notifier per vendor.
    #[arg(long, default_value_t = 1_000_000)]
    devices: usize,
    /// Users per fan-out page (`tasks.page_users`).
    #[arg(long, default_value_t = 1000)]
    page_users: usize,
    /// The store the server runs on.
    #[arg(long, value_enum, default_value = "sled")]
    backend: BackendArg,
    /// Replicas sharing the fan-out (PostgreSQL only). Above 1, the run has two legs on the same devices:
    /// one replica, then this many, so the ratio of the two is measured in one sitting.
    #[arg(long, default_value_t = 1)]
    replicas: usize,
}

/// The settings every replica of one deployment shares (README: the same keys everywhere), so that a token
/// issued by one is accepted by the others and the notifiers' sealed credentials open on all.
fn shared_keys() -> Vec<(&'static str, String)> {
    vec![
        ("PUSHGATE_AUTH_ADMIN_TOKEN", "bench-admin-token".into()),
        (
            "PUSHGATE_AUTH_SIGNING_KEY",
            "bench-signing-key-bench-signing-key-bench".into(),
        ),
        (
            "PUSHGATE_NOTIFIERS_CREDENTIALS_KEY",
            "bench-credentials-key".into(),
        ),
        // Two broadcasts in one sitting (one per leg) stay within Easemob's task window.
        ("PUSHGATE_TASKS_MAX_CREATED_PER_WINDOW", "10".into()),
    ]
}

/// One leg: `replicas` servers on the seeded store (each its own data directory), a broadcast through the
/// first; the measurement and the largest peak RSS of the replicas.
async fn leg(
    dirs: &[std::path::PathBuf],
    settings: &[(&'static str, String)],
    replicas: usize,
    token: &str,
) -> Result<(Measured, f64)> {
    let mut servers = Vec::new();
    for (i, dir) in dirs.iter().take(replicas).enumerate() {
        let mut own = settings.to_vec();
        own.push(("PUSHGATE_CLUSTER_REPLICA_ID", format!("bench-{i}")));
        servers.push(Server::start(dir, &own)?);
    }
    // Every replica has beaten at least once before the task starts, so each takes part from its start.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let measured = broadcast(&servers[0], token).await?;
    let rss = servers
        .iter()
        .map(Server::peak_rss_mib)
        .fold(0.0f64, f64::max);
    for server in servers {
        server.stop()?;
    }
    Ok((measured, rss))
}

/// One notifier per vendor.
const NOTIFIERS: [(&str, Vendor); 8] = [
    ("sandbox-apns-token", Vendor::Apns),
    ("sandbox-fcm", Vendor::Fcm),
    ("sandbox-huawei", Vendor::Huawei),
    ("sandbox-honor", Vendor::Honor),
    ("sandbox-xiaomi", Vendor::Xiaomi),
    ("sandbox-oppo", Vendor::Oppo),
    ("sandbox-vivo", Vendor::Vivo),
    ("sandbox-meizu", Vendor::Meizu),
];

pub(crate) const APP: &str = "bench#broadcast";

/// The sandbox on loopback, keeping none of the requests it answers (one per device).
pub(crate) async fn quiet_sandbox() -> Result<Sandbox> {
    let sandbox = Sandbox::start(SandboxConfig {
        host: Ipv4Addr::LOCALHOST.into(),
        max_recorded: 1,
        ..SandboxConfig::default()
    })
    .await?;
    for (_, vendor) in NOTIFIERS {
        fakes::core(&sandbox, vendor).set_recording(false);
    }
    Ok(sandbox)
}

/// Creates the app and one notifier per vendor; answers an app token.
pub(crate) async fn set_up(server: &Server, sandbox: &Sandbox) -> Result<String> {
    let token = server::create_app(server, APP).await?;
    let notifiers = sandbox
        .notifiers()
        .into_iter()
        .filter(|n| NOTIFIERS.iter().any(|(name, _)| *name == n.name))
        .collect();
    server::create_notifiers(server, &token, notifiers).await?;
    Ok(token)
}

/// Writes `devices` bindings straight into the stopped server's store.
pub(crate) async fn seed(config: &StoreConfig, devices: usize) -> Result<()> {
    server::seed_bindings(config, APP, devices, |n| {
        let (notifier, vendor) = NOTIFIERS[n % NOTIFIERS.len()];
        BindingRecord {
            user: format!("u{n:08}"),
            device_id: format!("d{n:08}"),
            device_token: fakes::token(vendor, n),
            notifier_name: notifier.into(),
            vendor: vendor as i32,
            create_time_ms: 0,
            update_time_ms: 0,
        }
    })
    .await
}

pub(crate) struct Measured {
    wall: Duration,
    pub(crate) users_done: u64,
    success: u64,
    fail: u64,
    error: u64,
    pub(crate) state: i32,
}

pub(crate) async fn broadcast(server: &Server, token: &str) -> Result<Measured> {
    let mut tasks = TaskServiceClient::new(server.connect().await?);
    let started = Instant::now();
    let task = tasks
        .create_broadcast_task(authed(
            CreateBroadcastTaskRequest {
                message_source: Some(create_broadcast_task_request::MessageSource::Message(
                    PushMessage {
                        title: "Hello".into(),
                        content: "Broadcast".into(),
                        ..Default::default()
                    },
                )),
                ..Default::default()
            },
            token,
        ))
        .await?
        .into_inner()
        .task
        .ok_or_else(|| anyhow!("no task"))?;
    let mut stream = tasks
        .watch_task(authed(
            WatchTaskRequest {
                task_id: task.id,
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
    while let Some(item) =
        tokio::time::timeout(Duration::from_secs(600), stream.message()).await??
    {
        last = item.progress;
    }
    let wall = started.elapsed();
    let p = last.ok_or_else(|| anyhow!("no progress"))?;
    Ok(Measured {
        wall,
        users_done: p.users_done,
        success: p.success_count,
        fail: p.fail_count,
        error: p.error_count,
        state: p.state,
    })
}

/// Runs the scenario and returns its report.
pub fn run(args: Args, command: String) -> Result<Run> {
    if args.replicas == 0 || (args.replicas > 1 && args.backend != BackendArg::Postgres) {
        anyhow::bail!("--replicas above 1 needs --backend postgres (a sled store has one process)");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("pg-sandbox")
        .enable_all()
        .build()?;
    let dirs = (0..args.replicas)
        .map(|i| server::data_dir(&format!("broadcast-{i}")))
        .collect::<Result<Vec<_>>>()?;
    let legs: Vec<usize> = if args.replicas > 1 {
        vec![1, args.replicas]
    } else {
        vec![1]
    };
    let result = runtime.block_on(async {
        let store = RunStore::start(args.backend).await?;
        let mut settings = store.settings();
        settings.push(("PUSHGATE_TASKS_PAGE_USERS", args.page_users.to_string()));
        if args.replicas > 1 {
            settings.extend(shared_keys());
        }
        let sandbox = quiet_sandbox().await?;
        let server = Server::start(&dirs[0], &settings)?;
        let token = set_up(&server, &sandbox).await?;
        server.stop()?;
        let seeding = Instant::now();
        seed(&store.config(&dirs[0]), args.devices).await?;
        println!(
            "seeded {} devices in {:.1} s",
            args.devices,
            seeding.elapsed().as_secs_f64()
        );
        let mut measured = Vec::new();
        for &replicas in &legs {
            let (m, rss) = leg(&dirs, &settings, replicas, &token).await?;
            println!(
                "  {replicas} replica(s): {} devices in {:.1} s",
                m.users_done,
                m.wall.as_secs_f64()
            );
            measured.push((replicas, m, rss));
        }
        let requests: Vec<(String, u64)> = NOTIFIERS
            .iter()
            .map(|(name, vendor)| {
                (
                    name.to_string(),
                    fakes::core(&sandbox, *vendor).stats().send_requests,
                )
            })
            .collect();
        Ok::<_, anyhow::Error>((measured, requests, store.name()))
    });
    for dir in &dirs {
        server::remove_data_dir(dir);
    }
    let (measured, requests, backend) = result?;
    let one = measured[0].1.users_done as f64 / measured[0].1.wall.as_secs_f64();
    let mut rows = Vec::new();
    for (replicas, m, rss) in &measured {
        let per_second = m.users_done as f64 / m.wall.as_secs_f64();
        let state = TaskState::try_from(m.state).map_or("?".into(), |s| format!("{s:?}"));
        let ratio = per_second / one;
        println!(
            "broadcast ({backend}, {replicas} replica(s)): {} devices {state} in {:.1} s = {per_second:.0} devices/s ({ratio:.2}x of one replica); success {} fail {} error {}; largest server peak RSS {rss:.0} MiB",
            m.users_done,
            m.wall.as_secs_f64(),
            m.success,
            m.fail,
            m.error
        );
        rows.push(vec![
            args.devices.to_string(),
            replicas.to_string(),
            state,
            format!("{:.1}", m.wall.as_secs_f64()),
            format!("{per_second:.0}"),
            format!("{ratio:.2}"),
            m.success.to_string(),
            m.fail.to_string(),
            m.error.to_string(),
            format!("{rss:.0}"),
            report::target(m.wall <= Duration::from_secs(60)),
            report::target(*rss <= 256.0 * 1_000_000.0 / 1_048_576.0),
            if *replicas > 1 {
                report::target(ratio >= 0.8)
            } else {
                "-".into()
            },
        ]);
    }
    Ok(Run {
        title: format!(
            "broadcast: one task to every bound device, through {} on {backend}",
            if args.replicas > 1 {
                format!("one server process, then {} replicas", args.replicas)
            } else {
                "a server process".into()
            }
        ),
        command,
        machine: machine::describe(),
        columns: [
            "devices",
            "replicas",
            "state",
            "wall s",
            "devices/s",
            "vs 1 replica",
            "success",
            "fail",
            "error",
            "largest server peak RSS MiB",
            "≤ 60 s",
            "≤ 256 MB",
            "≥ 0.8x of 1 replica",
        ]
        .map(String::from)
        .to_vec(),
        rows,
        notes: vec![
            format!(
                "One user per device, spread evenly over one sandbox notifier per vendor (APNs token, FCM, Huawei, Honor, Xiaomi, OPPO, vivo, Meizu), {} users per fan-out page; notifier QPS limits raised so the limiter is not what is measured (with several replicas each gets its share of them); fakes in the bench process on 1 thread, recording off; every server a separate process on the same 2 cores, each replica with its own data directory and the same keys, the task created through the first.",
                args.page_users
            ),
            format!(
                "Vendor requests over the run: {}.",
                requests
                    .iter()
                    .map(|(n, r)| format!("{n} {r}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ],
    })
}
