//! Test harness: the real `pushgate` binary on a free loopback port, with its own data directory, and real
//! gRPC clients to talk to it.
#![allow(dead_code)]

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

pub mod cli;
pub mod cluster;
pub mod credentials;
pub mod dispatch;
pub mod fakes;
pub mod push;
pub mod settings;
pub mod webhook_receiver;

use pushgate::proto::v1::{
    CreateAppRequest, IssueTokenRequest, app_service_client::AppServiceClient,
    auth_service_client::AuthServiceClient,
};
use tonic::{Request, metadata::MetadataValue, transport::Channel};

/// The storage backend a test binary's servers run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The embedded sled store in the server's data directory.
    Sled,
    /// A database of its own on a PostgreSQL server.
    Postgres,
}

/// This test binary's backend. Every integration test target that starts a server is built twice: as
/// itself, on sled, and as `<name>_pg` (`tests/<name>_pg.rs`, which includes it by `#[path]`; checked by
/// `tests/floors.rs`), on PostgreSQL, so that `cargo test` runs every test
/// on both and nothing is tested on one backend only. The crate name is the one switch.
pub fn backend() -> Backend {
    if env!("CARGO_CRATE_NAME").ends_with("_pg") {
        Backend::Postgres
    } else {
        Backend::Sled
    }
}

/// A fresh, empty PostgreSQL database for one test server, and its URL: on `PUSHGATE_TEST_POSTGRES_URL`'s
/// server when that is set, else on this test binary's throwaway server (started on first use, its files
/// under the target directory, stopped when the binary ends). No server to be had fails the test.
pub fn fresh_database() -> String {
    let name = format!("test_{}", uuid::Uuid::new_v4().simple());
    // Its own thread and runtime: servers start from synchronous code, often inside a test's runtime.
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            use pushgate::store::postgres::throwaway;
            match std::env::var("PUSHGATE_TEST_POSTGRES_URL") {
                Ok(url) if !url.is_empty() => throwaway::create_database_at(&url, &name)
                    .await
                    .expect("create a database on PUSHGATE_TEST_POSTGRES_URL"),
                _ => throwaway::Throwaway::shared(Path::new(env!("CARGO_TARGET_TMPDIR")))
                    .expect("start a throwaway PostgreSQL server")
                    .create_database(&name)
                    .await
                    .expect("create a database"),
            }
        })
    })
    .join()
    .expect("create a database")
}

/// Every text and bytea value of every table of the database at `url`, as ("table.column", bytes).
fn database_values(url: &str) -> Vec<(String, Vec<u8>)> {
    let url = url.to_owned();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .expect("connect to the test database");
            tokio::spawn(connection);
            let columns = client
                .query(
                    "SELECT table_name::text, column_name::text, data_type::text \
                     FROM information_schema.columns \
                     WHERE table_schema = current_schema() AND data_type IN ('text', 'bytea')",
                    &[],
                )
                .await
                .expect("list the columns");
            let mut out = Vec::new();
            for column in columns {
                let (table, name, kind): (String, String, String) =
                    (column.get(0), column.get(1), column.get(2));
                let rows = client
                    .query(&format!("SELECT \"{name}\" FROM \"{table}\""), &[])
                    .await
                    .expect("read a column");
                for row in rows {
                    let bytes = if kind == "bytea" {
                        row.get::<_, Option<Vec<u8>>>(0)
                    } else {
                        row.get::<_, Option<String>>(0).map(String::into_bytes)
                    };
                    if let Some(bytes) = bytes {
                        out.push((format!("{table}.{name}"), bytes));
                    }
                }
            }
            out
        })
    })
    .join()
    .expect("read the database")
}

/// The settings that put a new server on this binary's backend (a fresh database for PostgreSQL).
fn new_store_env() -> Vec<(String, String)> {
    match backend() {
        Backend::Sled => Vec::new(),
        Backend::Postgres => vec![
            ("PUSHGATE_STORE_BACKEND".into(), "postgres".into()),
            ("PUSHGATE_STORE_POSTGRES_URL".into(), fresh_database()),
        ],
    }
}

/// A running server process. Killed when dropped.
pub struct TestServer {
    child: Option<Child>,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its data directory.
    pub data_dir: PathBuf,
    /// The admin token it generated on first start.
    pub admin_token: String,
    env: Vec<(String, String)>,
    /// Where its state is kept beside the data directory (its PostgreSQL database): kept across restarts.
    store_env: Vec<(String, String)>,
    _tmp: Option<tempfile::TempDir>,
}

/// Where a test server writes its admin port's address, in its data directory.
const ADMIN_ADDRESS_FILE: &str = "test-admin-address";
/// Where a test server writes its REST listener's address (when `PUSHGATE_REST_ENABLED` is set).
const REST_ADDRESS_FILE: &str = "test-rest-address";

impl TestServer {
    /// Starts a server on a fresh data directory.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts a server on a fresh data directory with extra `PUSHGATE_*` settings.
    pub fn start_with(env: &[(&str, &str)]) -> Self {
        let tmp = private_tempdir();
        let mut server = Self::spawn(tmp.path().to_path_buf(), owned(env), new_store_env());
        server._tmp = Some(tmp);
        server
    }

    /// Starts a server whose data directory, `data` in a fresh temp dir, does not exist until `prepare`
    /// (given its path) or the server creates it: to see what the server makes of it.
    pub fn start_in_data_subdir(prepare: impl FnOnce(&Path)) -> Self {
        let tmp = private_tempdir();
        let data_dir = tmp.path().join("data");
        prepare(&data_dir);
        let mut server = Self::spawn(data_dir, Vec::new(), new_store_env());
        server._tmp = Some(tmp);
        server
    }

    fn spawn(
        data_dir: PathBuf,
        env: Vec<(String, String)>,
        store_env: Vec<(String, String)>,
    ) -> Self {
        let addr_file = data_dir.join("test-listen-address");
        let _ = std::fs::remove_file(&addr_file);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pushgate"));
        cmd.arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "warn")
            .env("PUSHGATE_STORE_DATA_DIR", &data_dir)
            .env("PUSHGATE_SERVER_LISTEN", "127.0.0.1:0")
            .env("PUSHGATE_SERVER_ADDRESS_FILE", &addr_file)
            // A free port per server, so tests in parallel never collide on the admin port.
            .env("PUSHGATE_ADMIN_LISTEN", "127.0.0.1:0")
            .env(
                "PUSHGATE_ADMIN_ADDRESS_FILE",
                data_dir.join(ADMIN_ADDRESS_FILE),
            )
            // The REST listener (off unless a test enables it) on a free port too.
            .env("PUSHGATE_REST_LISTEN", "127.0.0.1:0")
            .env(
                "PUSHGATE_REST_ADDRESS_FILE",
                data_dir.join(REST_ADDRESS_FILE),
            )
            // The test's fakes listen on loopback with their own CA: the operator's consent for both. A test of
            // that consent overrides these in `env`.
            .env("PUSHGATE_DISPATCH_ALLOWED_ENDPOINTS", "127.0.0.1")
            .env("PUSHGATE_DISPATCH_ALLOW_NOTIFIER_CA_CERTIFICATES", "true")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (k, v) in store_env.iter().chain(&env) {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn pushgate");
        let deadline = Instant::now() + Duration::from_secs(30);
        let addr = loop {
            if let Ok(text) = std::fs::read_to_string(&addr_file)
                && let Ok(addr) = text.trim().parse()
            {
                break addr;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("pushgate exited before listening: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "pushgate did not start within 30 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        // The token configured, else the one the server generated into its data directory.
        let admin_token = env
            .iter()
            .find(|(k, _)| k == "PUSHGATE_AUTH_ADMIN_TOKEN")
            .map(|(_, v)| v.clone())
            .or_else(|| {
                std::fs::read_to_string(data_dir.join("admin-token"))
                    .ok()
                    .map(|t| t.trim().to_owned())
            })
            .unwrap_or_default();
        Self {
            child: Some(child),
            addr,
            data_dir,
            admin_token,
            env,
            store_env,
            _tmp: None,
        }
    }

    /// Stops this process with SIGTERM and starts a new one on the same data directory and settings.
    pub async fn restart(self) -> Self {
        self.replace(Self::stop, |_| {}, None, None).await
    }

    /// Like [`restart`](Self::restart), with `env` in place of the settings it was started with: an operator
    /// changing the configuration.
    pub async fn restart_with_settings(self, env: &[(&str, &str)]) -> Self {
        self.replace(Self::stop, |_| {}, Some(owned(env)), None)
            .await
    }

    /// Like [`restart`](Self::restart), running `offline` on the server's store (its configuration, to open
    /// it with `store::open`) while no server runs: to write state the API cannot, as an older version or a
    /// damaged disk might have left it.
    pub async fn restart_with(
        self,
        offline: impl FnOnce(&pushgate::store::StoreConfig) + Send + 'static,
    ) -> Self {
        self.replace(
            Self::stop,
            move |old| offline(&old.store_config()),
            None,
            None,
        )
        .await
    }

    /// Stops this process with SIGTERM, runs `offline` (given the data directory) while none runs, and
    /// starts a new one on the same data directory (its key files) and settings, on the store `store_env`
    /// sets instead: a server moved to another backend.
    pub async fn move_store(
        self,
        store_env: &[(&str, &str)],
        offline: impl FnOnce(&Path) + Send + 'static,
    ) -> Self {
        self.replace(
            Self::stop,
            move |old| offline(&old.data_dir),
            None,
            Some(owned(store_env)),
        )
        .await
    }

    /// Kills this process with SIGKILL (no shutdown, no flush) and starts a new one on the same data
    /// directory and settings: a crash.
    pub async fn kill_and_restart(self) -> Self {
        self.replace(Self::kill, |_| {}, None, None).await
    }

    /// SIGTERM, and a clean exit.
    fn stop(&mut self) {
        let status = self.terminate();
        assert!(status.success(), "shutdown failed: {status}");
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("running");
        child.kill().expect("SIGKILL");
        let _ = child.wait();
    }

    /// Ends this process with `end`, runs `offline` while none runs, and starts a new one on the same data
    /// directory with `env` and `store_env`, or the old ones where `None`.
    ///
    /// The waiting happens off the async runtime: the server's graceful HTTP/2 shutdown waits for clients to
    /// answer its GOAWAY ping, which the test's own connections can only do while the runtime runs.
    async fn replace(
        self,
        end: fn(&mut Self),
        offline: impl FnOnce(&Self) + Send + 'static,
        env: Option<Vec<(String, String)>>,
        store_env: Option<Vec<(String, String)>>,
    ) -> Self {
        tokio::task::spawn_blocking(move || {
            let mut old = self;
            end(&mut old);
            offline(&old);
            let mut next = Self::spawn(
                old.data_dir.clone(),
                env.unwrap_or_else(|| std::mem::take(&mut old.env)),
                store_env.unwrap_or_else(|| std::mem::take(&mut old.store_env)),
            );
            next._tmp = old._tmp.take();
            next
        })
        .await
        .expect("restart")
    }

    /// The admin port's address (`/metrics`, `/healthz`).
    pub fn admin_addr(&self) -> std::net::SocketAddr {
        std::fs::read_to_string(self.data_dir.join(ADMIN_ADDRESS_FILE))
            .expect("the admin address file is written before the gRPC one")
            .trim()
            .parse()
            .expect("an address")
    }

    /// The REST listener's base URL (`http://host:port`), for a server started with it enabled.
    pub fn rest_url(&self) -> String {
        let addr = std::fs::read_to_string(self.data_dir.join(REST_ADDRESS_FILE)).expect(
            "the REST address file is written before the gRPC one (PUSHGATE_REST_ENABLED=true)",
        );
        format!("http://{}", addr.trim())
    }

    /// The endpoint URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A new gRPC connection.
    pub async fn channel(&self) -> Channel {
        Channel::from_shared(self.url())
            .unwrap()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(20))
            .connect()
            .await
            .expect("connect to pushgate")
    }

    /// Sends SIGTERM.
    pub fn sigterm(&self) {
        let pid = self.child.as_ref().expect("running").id();
        let ok = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("run kill")
            .success();
        assert!(ok, "kill -TERM {pid} failed");
    }

    /// Waits (at most 30 s) for the process to exit and returns its status.
    pub fn wait(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("pushgate did not exit within 30 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then wait for the exit.
    pub fn terminate(&mut self) -> ExitStatus {
        self.sigterm();
        self.wait()
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.data_dir
    }

    /// Everything the server keeps at rest, as (where, bytes): every file under its data directory and, on
    /// PostgreSQL, every text and bytea value of every table of its database. For checks that something
    /// (a secret) is never stored in clear, whichever backend holds it.
    pub fn stored_bytes(&self) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        let mut paths = vec![self.data_dir.clone()];
        while let Some(path) = paths.pop() {
            if path.is_dir() {
                paths.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            } else if let Ok(bytes) = std::fs::read(&path) {
                out.push((path.display().to_string(), bytes));
            }
        }
        if let Some((_, url)) = self
            .store_env
            .iter()
            .find(|(k, _)| k == "PUSHGATE_STORE_POSTGRES_URL")
        {
            out.extend(database_values(url));
        }
        out
    }

    /// The store configuration the server runs on, to open its store while it is stopped.
    pub fn store_config(&self) -> pushgate::store::StoreConfig {
        let mut config = pushgate::store::StoreConfig::in_dir(&self.data_dir);
        if let Some((_, url)) = self
            .store_env
            .iter()
            .find(|(k, _)| k == "PUSHGATE_STORE_POSTGRES_URL")
        {
            config.backend = pushgate::store::Backend::Postgres;
            config.postgres.url = Some(pushgate::secret::Secret::new(url.clone()));
        }
        config
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `PUSHGATE_*` settings as a server process keeps them.
fn owned(settings: &[(&str, &str)]) -> Vec<(String, String)> {
    settings
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A fresh temp dir that only its owner may access, as the server wants its data directory (it would
/// otherwise tighten it and warn about it at every start).
/// A client for a test server's admin port (`/metrics`, `/healthz`): the crate's own builder, which installs
/// the TLS crypto provider reqwest needs.
pub fn admin_client() -> reqwest::Client {
    pushgate::dispatch::client(pushgate::dispatch::ClientOptions {
        extra_ca_pems: &[],
        identity: None,
        http2_only: false,
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(10),
        egress: None,
    })
    .expect("admin HTTP client")
}

/// The value of the sample of family `name` on `server`'s `/metrics` (the first, for a family without
/// attributes of its own), or `None` when the port does not answer or does not serve it.
pub async fn metric(server: &TestServer, name: &str) -> Option<f64> {
    let url = format!("http://{}/metrics", server.admin_addr());
    let text = admin_client()
        .get(url)
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
}

/// The sum of every series of the metric `name` on `server`'s admin port (0 when it has none).
pub async fn metric_sum(server: &TestServer, name: &str) -> f64 {
    let url = format!("http://{}/metrics", server.admin_addr());
    let text = admin_client()
        .get(url)
        .send()
        .await
        .expect("metrics answer")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn private_tempdir() -> tempfile::TempDir {
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o700));
    }
    builder.tempdir().expect("temp dir")
}

/// `message` with `authorization: Bearer <token>`.
pub fn authed<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    let value: MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
    request.metadata_mut().insert("authorization", value);
    request
}

/// An app created through the API, with an app token.
pub struct TestApp {
    /// `org#app`.
    pub name: String,
    /// Client id.
    pub client_id: String,
    /// Client secret.
    pub client_secret: String,
    /// A fresh app token.
    pub token: String,
}

/// Creates an app and issues it a token.
pub async fn create_app(server: &TestServer, name: &str) -> TestApp {
    let channel = server.channel().await;
    let created = AppServiceClient::new(channel.clone())
        .create_app(authed(
            CreateAppRequest {
                name: name.into(),
                time_zone: String::new(),
            },
            &server.admin_token,
        ))
        .await
        .expect("create app")
        .into_inner();
    let app = created.app.expect("app in response");
    let token = issue_token(&channel, &app.client_id, &created.client_secret)
        .await
        .expect("issue token");
    TestApp {
        name: app.name,
        client_id: app.client_id,
        client_secret: created.client_secret,
        token,
    }
}

/// Exchanges credentials for an app token.
pub async fn issue_token(
    channel: &Channel,
    client_id: &str,
    client_secret: &str,
) -> Result<String, tonic::Status> {
    AuthServiceClient::new(channel.clone())
        .issue_token(IssueTokenRequest {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            ttl: None,
        })
        .await
        .map(|r| r.into_inner().access_token)
}

/// The field names of a status's `BadRequest` details.
pub fn violated_fields(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt;
    status
        .get_details_bad_request()
        .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}

/// Calls `method` (`/package.Service/Method`) with an empty message, optionally with a bearer token, and
/// returns the error status: for methods whose own messages do not matter to the test (auth, routing).
pub async fn call_empty(channel: &Channel, token: Option<&str>, method: &str) -> tonic::Status {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.expect("channel ready");
    let request = match token {
        Some(token) => authed((), token),
        None => Request::new(()),
    };
    match grpc
        .unary::<_, (), _>(
            request,
            method.parse().expect("method path"),
            tonic_prost::ProstCodec::<(), ()>::default(),
        )
        .await
    {
        Ok(_) => tonic::Status::ok("call succeeded"),
        Err(status) => status,
    }
}
