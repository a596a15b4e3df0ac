//! The server under measurement: this binary re-run as the hidden `serve-child` command, which starts
//! telemetry and `server::run` exactly as `pushgate serve` does. A separate process, so its memory and CPU are
//! read apart from the sandbox fakes and the load generator, which run in the bench process.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, anyhow, bail};
use pushgate::proto::v1::{
    CreateAppRequest, CreateNotifierRequest, IssueTokenRequest, Notifier,
    app_service_client::AppServiceClient, auth_service_client::AuthServiceClient,
    notifier_service_client::NotifierServiceClient,
};
use tonic::{Request, transport::Channel};

use crate::machine::{self, Memory};

/// A server child process on a data directory.
pub struct Server {
    child: Child,
    /// `http://host:port` of its gRPC listener.
    pub addr: String,
    dir: PathBuf,
    /// The admin token the settings gave it, if they did (replicas sharing one database share one).
    admin_token: Option<String>,
}

impl Server {
    /// Starts a server on `dir` with extra `PUSHGATE_*` settings, and waits until it accepts calls.
    pub fn start(dir: &Path, settings: &[(&str, String)]) -> Result<Self> {
        let addr_file = dir.join("listen-address");
        let _ = std::fs::remove_file(&addr_file);
        let mut command = Command::new(std::env::current_exe()?);
        command
            .arg("serve-child")
            .env("PUSHGATE_STORE_DATA_DIR", dir)
            .env("PUSHGATE_SERVER_LISTEN", "127.0.0.1:0")
            .env("PUSHGATE_SERVER_ADDRESS_FILE", &addr_file)
            // The admin port is served as in production, on a free port so that runs never collide with
            // each other or with a server on the default port.
            .env("PUSHGATE_ADMIN_LISTEN", "127.0.0.1:0")
            // The fakes listen on loopback with their own CA: the operator's consent for both.
            .env("PUSHGATE_DISPATCH_ALLOWED_ENDPOINTS", "127.0.0.1")
            .env("PUSHGATE_DISPATCH_ALLOW_NOTIFIER_CA_CERTIFICATES", "true")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        for (name, value) in settings {
            command.env(name, value);
        }
        let child = command.spawn().context("start the server")?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(text) = std::fs::read_to_string(&addr_file)
                && !text.trim().is_empty()
            {
                return Ok(Self {
                    child,
                    addr: format!("http://{}", text.trim()),
                    dir: dir.to_owned(),
                    admin_token: settings
                        .iter()
                        .find(|(name, _)| *name == "PUSHGATE_AUTH_ADMIN_TOKEN")
                        .map(|(_, value)| value.clone()),
                });
            }
            if Instant::now() > deadline {
                bail!("the server did not start within 60 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's memory now.
    pub fn memory(&self) -> Memory {
        machine::memory_of(self.pid())
    }

    /// Peak resident memory of the server so far, in MiB.
    pub fn peak_rss_mib(&self) -> f64 {
        machine::peak_rss_mib_of(self.pid())
    }

    /// Waits until the server's resident memory has stayed within 1 % (at least 256 KiB) for `quiet`, or
    /// `limit` has passed; answers the memory then and whether it settled. Allocators return memory and
    /// background tasks finish their first rounds some time after a burst of work, so a single read right
    /// after it would measure the burst, not the state.
    pub async fn settled_memory(&self, quiet: Duration, limit: Duration) -> (Memory, bool) {
        const STEP: Duration = Duration::from_millis(100);
        let started = Instant::now();
        let mut base = self.memory();
        let mut since = Instant::now();
        loop {
            tokio::time::sleep(STEP).await;
            let now = self.memory();
            let band = (base.rss_kib / 100).max(256);
            if now.rss_kib.abs_diff(base.rss_kib) > band {
                base = now;
                since = Instant::now();
            } else if since.elapsed() >= quiet {
                return (now, true);
            }
            if started.elapsed() >= limit {
                return (now, false);
            }
        }
    }

    /// The admin token of the server: the one its settings gave, else the one it generated on its first
    /// start.
    pub fn admin_token(&self) -> Result<String> {
        if let Some(token) = &self.admin_token {
            return Ok(token.clone());
        }
        let path = self.dir.join(pushgate::tenant::ADMIN_TOKEN_FILE);
        Ok(std::fs::read_to_string(&path)
            .with_context(|| format!("read {}", path.display()))?
            .trim()
            .to_owned())
    }

    /// A new HTTP/2 connection to the server.
    pub async fn connect(&self) -> Result<Channel> {
        Ok(Channel::from_shared(self.addr.clone())?.connect().await?)
    }

    /// Stops the server with SIGTERM, as an operator would, and waits for it to flush its store and exit.
    pub fn stop(mut self) -> Result<()> {
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
        // An error path must not leave a server running behind the bench.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `message` with a bearer token.
pub fn authed<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    if let Ok(value) = format!("Bearer {token}").parse() {
        request.metadata_mut().insert("authorization", value);
    }
    request
}

/// Creates the app `name` with the admin token; answers an app token.
pub async fn create_app(server: &Server, name: &str) -> Result<String> {
    let channel = server.connect().await?;
    let created = AppServiceClient::new(channel.clone())
        .create_app(authed(
            CreateAppRequest {
                name: name.into(),
                time_zone: String::new(),
            },
            &server.admin_token()?,
        ))
        .await?
        .into_inner();
    let app = created.app.ok_or_else(|| anyhow!("no app"))?;
    Ok(AuthServiceClient::new(channel)
        .issue_token(IssueTokenRequest {
            client_id: app.client_id,
            client_secret: created.client_secret,
            ttl: None,
        })
        .await?
        .into_inner()
        .access_token)
}

/// Creates `notifiers` (the sandbox's ready-made ones) in the token's app, with their QPS limits raised so
/// that the limiter is not what is measured.
pub async fn create_notifiers(
    server: &Server,
    token: &str,
    notifiers: Vec<Notifier>,
) -> Result<()> {
    let mut client = NotifierServiceClient::new(server.connect().await?);
    for mut notifier in notifiers {
        notifier.qps_limit = 1_000_000;
        client
            .create_notifier(authed(
                CreateNotifierRequest {
                    notifier: Some(notifier),
                },
                token,
            ))
            .await?;
    }
    Ok(())
}

/// A fresh data directory for one run, removed by [`remove_data_dir`].
pub fn data_dir(scenario: &str) -> Result<PathBuf> {
    let dir =
        std::env::temp_dir().join(format!("pushgate-bench-{scenario}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // Owner-only, as the server wants it (it would tighten it and warn).
    std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
        .create(&dir)?;
    Ok(dir)
}

/// Removes a run's data directory.
pub fn remove_data_dir(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
}

/// The hidden `serve-child` command: `pushgate serve` with the environment's settings, until SIGTERM.
pub fn serve_child() -> Result<()> {
    pushgate::server::limit_malloc_arenas();
    pushgate::server::private_umask();
    // A bench killed before it could stop its server (Ctrl-C, a timeout) must not leave the server running.
    // The signal comes when the thread that spawned this process ends: the scenarios start their servers
    // from the main thread.
    // SAFETY: prctl(PR_SET_PDEATHSIG) takes a signal number and changes only this process's attributes.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
    }
    let config = pushgate::config::Config::load(None)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        // As `pushgate serve` does, so that the measured server records metrics and serves `/metrics` like
        // a deployed one. Kept until the server returns: dropping it flushes the exporters.
        let _telemetry = pushgate::telemetry::init(&config.log.filter, &config.telemetry)?;
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        pushgate::server::run(config, async move {
            term.recv().await;
        })
        .await?;
        Ok(())
    })
}

/// Binds written at once while seeding: each is durable when it returns, and the binds that wait together
/// share one flush, so seeding a million devices stays a matter of seconds, not of a million disk syncs.
const SEED_IN_FLIGHT: usize = 128;

/// Writes the bindings `binding(0..count)` of `app` straight into the store `config` names (the server is
/// not running).
pub async fn seed_bindings(
    config: &pushgate::store::StoreConfig,
    app: &str,
    count: usize,
    binding: impl Fn(usize) -> pushgate::store::BindingRecord,
) -> Result<()> {
    use futures::{StreamExt, TryStreamExt};
    let store = pushgate::store::open(config).await?;
    futures::stream::iter(0..count)
        .map(|n| {
            let (store, record) = (store.clone(), binding(n));
            async move { store.bindings.bind(app, record, 100).await }
        })
        .buffer_unordered(SEED_IN_FLIGHT)
        .try_collect::<Vec<_>>()
        .await?;
    store.flush().await?;
    Ok(())
}
