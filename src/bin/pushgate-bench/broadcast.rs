//! `broadcast`: one broadcast task to N bound devices spread over every sandbox vendor, end to end through a
//! real server process: wall time from CreateBroadcastTask to the task's COMPLETED, devices/s, and the server's
//! peak RSS.
//!
//! The server is this binary re-run as `serve-child` (the same `server::run` as `pushgate serve`), so its
//! memory is measured apart from the sandbox fakes, which run in this process. The devices are written into the
//! store directly while the server is stopped (a million BindDevice calls would measure the API, not the
//! broadcast), then the server is started on that store.

use std::{
    net::Ipv4Addr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, anyhow, bail};
use pushgate::{
    proto::v1::{
        CreateAppRequest, CreateBroadcastTaskRequest, CreateNotifierRequest, IssueTokenRequest,
        PushMessage, TaskState, Vendor, WatchTaskRequest, app_service_client::AppServiceClient,
        auth_service_client::AuthServiceClient, create_broadcast_task_request,
        notifier_service_client::NotifierServiceClient, task_service_client::TaskServiceClient,
    },
    sandbox::{Sandbox, SandboxConfig},
    store::{BindingRecord, Store},
};
use tonic::{Request, transport::Channel};

use crate::{machine, report::Run};

/// Options of the broadcast scenario.
#[derive(clap::Args)]
pub struct Args {
    /// Bound devices (one user each), spread evenly over one notifier per vendor.
    #[arg(long, default_value_t = 1_000_000)]
    devices: usize,
    /// Users per fan-out page (`tasks.page_users`).
    #[arg(long, default_value_t = 1000)]
    page_users: usize,
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

const APP: &str = "bench#broadcast";

/// A token of the shape the vendor hands out.
fn token(vendor: Vendor, n: usize) -> String {
    match vendor {
        Vendor::Apns => format!("{n:064x}"),
        Vendor::Fcm => format!("dev{n:016x}:APA91b{}", "x".repeat(140)),
        _ => format!("tok{n:016x}"),
    }
}

/// The server process.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(dir: &Path, page_users: usize) -> Result<Self> {
        let addr_file = dir.join("listen-address");
        let _ = std::fs::remove_file(&addr_file);
        let child = Command::new(std::env::current_exe()?)
            .arg("serve-child")
            .env("PUSHGATE_STORE_DATA_DIR", dir)
            .env("PUSHGATE_SERVER_LISTEN", "127.0.0.1:0")
            .env("PUSHGATE_SERVER_ADDRESS_FILE", &addr_file)
            .env("PUSHGATE_TASKS_PAGE_USERS", page_users.to_string())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .context("start the server")?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(text) = std::fs::read_to_string(&addr_file)
                && !text.trim().is_empty()
            {
                return Ok(Self {
                    child,
                    addr: format!("http://{}", text.trim()),
                });
            }
            if Instant::now() > deadline {
                bail!("the server did not start within 60 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Peak resident memory of the server so far, in MiB.
    fn peak_rss_mib(&self) -> f64 {
        machine::peak_rss_mib_of(self.child.id())
    }

    fn stop(mut self) -> Result<()> {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.child.try_wait()?.is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                bail!("the server did not stop within 60 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn authed<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    if let Ok(value) = format!("Bearer {token}").parse() {
        request.metadata_mut().insert("authorization", value);
    }
    request
}

/// Creates the app and its notifiers (limits raised: the vendors' QPS limits would measure the limiter);
/// answers an app token.
async fn set_up(server: &Server, sandbox: &Sandbox, admin: &str) -> Result<String> {
    let channel = Channel::from_shared(server.addr.clone())?.connect().await?;
    let created = AppServiceClient::new(channel.clone())
        .create_app(authed(
            CreateAppRequest {
                name: APP.into(),
                time_zone: String::new(),
            },
            admin,
        ))
        .await?
        .into_inner();
    let app = created.app.ok_or_else(|| anyhow!("no app"))?;
    let token = AuthServiceClient::new(channel.clone())
        .issue_token(IssueTokenRequest {
            client_id: app.client_id,
            client_secret: created.client_secret,
            ttl: None,
        })
        .await?
        .into_inner()
        .access_token;
    let mut notifiers = NotifierServiceClient::new(channel);
    for mut notifier in sandbox.notifiers() {
        if NOTIFIERS.iter().any(|(name, _)| *name == notifier.name) {
            notifier.qps_limit = 1_000_000;
            notifiers
                .create_notifier(authed(
                    CreateNotifierRequest {
                        notifier: Some(notifier),
                    },
                    &token,
                ))
                .await?;
        }
    }
    Ok(token)
}

/// Writes `devices` bindings straight into the stopped server's store.
async fn seed(dir: &Path, devices: usize) -> Result<()> {
    let store = Store::open_sled(dir)?;
    for n in 0..devices {
        let (notifier, vendor) = NOTIFIERS[n % NOTIFIERS.len()];
        store
            .bindings
            .bind(
                APP,
                BindingRecord {
                    user: format!("u{n:08}"),
                    device_id: format!("d{n:08}"),
                    device_token: token(vendor, n),
                    notifier_name: notifier.into(),
                    vendor: vendor as i32,
                    create_time_ms: 0,
                    update_time_ms: 0,
                },
                100,
            )
            .await?;
    }
    store.flush().await?;
    Ok(())
}

struct Measured {
    wall: Duration,
    users_done: u64,
    success: u64,
    fail: u64,
    error: u64,
    state: i32,
}

async fn broadcast(server: &Server, token: &str) -> Result<Measured> {
    let channel = Channel::from_shared(server.addr.clone())?.connect().await?;
    let mut tasks = TaskServiceClient::new(channel);
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
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("pg-sandbox")
        .enable_all()
        .build()?;
    let dir: PathBuf = std::env::temp_dir().join(format!("pushgate-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let result = runtime.block_on(async {
        let sandbox = Sandbox::start(SandboxConfig {
            host: Ipv4Addr::LOCALHOST.into(),
            max_recorded: 1,
            ..SandboxConfig::default()
        })
        .await?;
        for (name, _) in NOTIFIERS {
            sandbox_core(&sandbox, name).set_recording(false);
        }
        let server = Server::start(&dir, args.page_users)?;
        let admin = std::fs::read_to_string(dir.join(pushgate::tenant::ADMIN_TOKEN_FILE))?;
        let token = set_up(&server, &sandbox, admin.trim()).await?;
        server.stop()?;
        let seeding = Instant::now();
        seed(&dir, args.devices).await?;
        println!(
            "seeded {} devices in {:.1} s",
            args.devices,
            seeding.elapsed().as_secs_f64()
        );
        let server = Server::start(&dir, args.page_users)?;
        let measured = broadcast(&server, &token).await?;
        let rss = server.peak_rss_mib();
        let requests: Vec<(String, u64)> = NOTIFIERS
            .iter()
            .map(|(name, _)| {
                (
                    name.to_string(),
                    sandbox_core(&sandbox, name).stats().send_requests,
                )
            })
            .collect();
        server.stop()?;
        Ok::<_, anyhow::Error>((measured, rss, requests))
    });
    let _ = std::fs::remove_dir_all(&dir);
    let (m, rss, requests) = result?;
    let per_second = m.users_done as f64 / m.wall.as_secs_f64();
    let state = TaskState::try_from(m.state).map_or("?".into(), |s| format!("{s:?}"));
    println!(
        "broadcast: {} devices {state} in {:.1} s = {per_second:.0} devices/s; success {} fail {} error {}; server peak RSS {rss:.0} MiB",
        m.users_done,
        m.wall.as_secs_f64(),
        m.success,
        m.fail,
        m.error
    );
    let target = |ok: bool| if ok { "met" } else { "MISSED" };
    Ok(Run {
        title: "broadcast: one task to every bound device, through a server process".into(),
        command,
        machine: machine::describe(),
        columns: [
            "devices",
            "state",
            "wall s",
            "devices/s",
            "success",
            "fail",
            "error",
            "server peak RSS MiB",
            "≤ 60 s",
            "≤ 256 MB",
        ]
        .map(String::from)
        .to_vec(),
        rows: vec![vec![
            args.devices.to_string(),
            state,
            format!("{:.1}", m.wall.as_secs_f64()),
            format!("{per_second:.0}"),
            m.success.to_string(),
            m.fail.to_string(),
            m.error.to_string(),
            format!("{rss:.0}"),
            target(m.wall <= Duration::from_secs(60)).into(),
            target(rss <= 256.0 * 1_000_000.0 / 1_048_576.0).into(),
        ]],
        notes: vec![
            format!(
                "One user per device, spread evenly over one sandbox notifier per vendor (APNs token, FCM, Huawei, Honor, Xiaomi, OPPO, vivo, Meizu), {} users per fan-out page; notifier QPS limits raised so the limiter is not what is measured; fakes in the bench process on 1 thread, recording off; the server a separate process on the same 2 cores.",
                args.page_users
            ),
            format!(
                "Vendor requests: {}.",
                requests
                    .iter()
                    .map(|(n, r)| format!("{n} {r}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ],
    })
}

fn sandbox_core<'a>(sandbox: &'a Sandbox, name: &str) -> &'a pushgate::sandbox::FakeCore {
    match name {
        "sandbox-apns-token" => sandbox.apns().core(),
        "sandbox-fcm" => sandbox.fcm().core(),
        "sandbox-huawei" => sandbox.huawei().core(),
        "sandbox-honor" => sandbox.honor().core(),
        "sandbox-xiaomi" => sandbox.xiaomi().core(),
        "sandbox-oppo" => sandbox.oppo().core(),
        "sandbox-vivo" => sandbox.vivo().core(),
        _ => sandbox.meizu().core(),
    }
}

/// The hidden `serve-child` command: `pushgate serve` with the environment's settings, until SIGTERM.
pub fn serve_child() -> Result<()> {
    pushgate::server::limit_malloc_arenas();
    let config = pushgate::config::Config::load(None)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        pushgate::server::run(config, async move {
            term.recv().await;
        })
        .await?;
        Ok(())
    })
}
