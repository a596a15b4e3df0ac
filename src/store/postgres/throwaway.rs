//! A throwaway PostgreSQL server for the tests and the benchmarks: `initdb` and `pg_ctl` from `PATH`,
//! Debian's `/usr/lib/postgresql/<version>/bin` or a PyPI wheel (`server_binaries.rs`), a free port on 127.0.0.1, trust authentication for one
//! role, and its files removed when it is dropped. In the library, not in `tests/`, because the unit tests
//! (the store's conformance suite), the integration tests and `pushgate-bench` all start one.
//!
//! PostgreSQL refuses to run as root. Under root the server runs as `nobody`, which must be able to reach
//! its data directory: when the directory asked for lies under one `nobody` cannot enter (the default target
//! directory under `/root`), the files go to a directory of the system's temporary directory instead.

use super::server_binaries;
use std::{
    net::TcpListener,
    os::unix::{fs::PermissionsExt, process::CommandExt},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

/// The role the tests connect as (trusted, no password, owner of every database).
pub const ROLE: &str = "pushgate";

/// How long the server may take to accept connections after `pg_ctl start`.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a throwaway server could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ThrowawayError {
    /// Neither `PATH` nor `/usr/lib/postgresql/*/bin` has `initdb`, `pg_ctl` and `postgres`, and the PyPI
    /// wheel that ships them could not be installed (why: the payload).
    #[error(
        "no PostgreSQL server binaries: neither PATH nor /usr/lib/postgresql/*/bin has initdb, pg_ctl and postgres, and installing them from PyPI failed: {0}"
    )]
    NoBinaries(String),
    /// A file operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
    /// A PostgreSQL program failed.
    #[error("{program} failed ({status}): {output}")]
    Program {
        /// The program.
        program: String,
        /// Its exit status.
        status: String,
        /// The end of what it printed.
        output: String,
    },
}

impl ThrowawayError {
    /// A program that failed with `status`, with the end of what it printed (`output`): the last 2,000
    /// characters, where its reason is.
    pub(super) fn program(program: &str, status: impl ToString, output: &str) -> Self {
        let tail: String = output
            .chars()
            .rev()
            .take(2000)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        Self::Program {
            program: program.into(),
            status: status.to_string(),
            output: tail,
        }
    }
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ThrowawayError {
    let what = what.into();
    move |source| ThrowawayError::Io { what, source }
}

/// A running server, stopped and removed on drop.
pub struct Throwaway {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    /// The user the server runs as, when this process is root: (uid, gid).
    run_as: Option<(u32, u32)>,
}

impl Throwaway {
    /// Starts a fresh server with its files in a new directory under `root`. `durable`: whether it syncs
    /// its writes to disk (on for benchmarks, which compare with sled's durable writes; off for tests).
    pub fn start(root: &Path, durable: bool) -> Result<Self, ThrowawayError> {
        let run_as = unprivileged_user();
        let root = reachable_root(root, run_as);
        // A wheel installed on a machine without binaries goes where the server's user can run it from.
        let bin = server_binaries::find(&root)?;
        Self::start_with(bin, &root, durable)
    }

    /// The server programs of the PyPI wheel, installed (once) where a server started under `root` can run
    /// them: what [`start`](Self::start) falls back to on a machine without PostgreSQL.
    pub fn wheel_binaries(root: &Path) -> Result<PathBuf, ThrowawayError> {
        server_binaries::from_wheel(&reachable_root(root, unprivileged_user()))
    }

    /// [`start`](Self::start) with the server's programs from `bin`.
    pub fn start_with(bin: PathBuf, root: &Path, durable: bool) -> Result<Self, ThrowawayError> {
        let run_as = unprivileged_user();
        let root = reachable_root(root, run_as);
        std::fs::create_dir_all(&root).map_err(io(format!("create {}", root.display())))?;
        if run_as.is_some() {
            // Sticky and open to all, as /tmp is: the server's user removes its own directory when this
            // process is gone (`watch_owner`), and nobody removes another's.
            std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o1777))
                .map_err(io(format!("open {} to the server's user", root.display())))?;
        }
        let data = root.join(format!(
            "pg-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&data).map_err(io(format!("create {}", data.display())))?;
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700))
            .map_err(io("make the data directory private"))?;
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(&data, Some(uid), Some(gid))
                .map_err(io("give the data directory to the server's user"))?;
        }
        let server = Self {
            bin,
            data,
            port: free_port()?,
            run_as,
        };
        server.run(
            "initdb",
            &[
                "--no-sync",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                &format!("--username={ROLE}"),
                "-D",
                &server.data.to_string_lossy(),
            ],
        )?;
        let fsync = if durable { "on" } else { "off" };
        let settings = format!(
            "listen_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = ''\nfsync = {fsync}\n\
             synchronous_commit = {fsync}\nfull_page_writes = {fsync}\nmax_connections = 300\n\
             shared_buffers = 64MB\n",
            server.port
        );
        let conf = server.data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).map_err(io("read postgresql.conf"))?;
        text.push_str(&settings);
        std::fs::write(&conf, text).map_err(io("write postgresql.conf"))?;
        server.start_again()?;
        Ok(server)
    }

    /// A server that lives as long as this process: started once, on first use, and stopped and removed by
    /// a watcher process once this one is gone (a static is never dropped, and a test binary ends with
    /// `exit`). For test binaries whose tests share one server, each with a database of its own.
    pub fn shared(root: &Path) -> Result<&'static Self, String> {
        static SHARED: std::sync::OnceLock<Result<Throwaway, String>> = std::sync::OnceLock::new();
        SHARED
            .get_or_init(|| {
                let server = Self::start(root, false).map_err(|e| e.to_string())?;
                server.watch_owner().map_err(|e| e.to_string())?;
                Ok(server)
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Spawns a watcher that stops the server and removes its files once this process has exited.
    fn watch_owner(&self) -> Result<(), ThrowawayError> {
        let data = self.data.to_string_lossy().replace('\'', "'\\''");
        let pg_ctl = self
            .bin
            .join("pg_ctl")
            .to_string_lossy()
            .replace('\'', "'\\''");
        // `/proc/<pid>` rather than `kill -0`: the watcher runs as the server's user, which may not signal
        // this process.
        let script = format!(
            "while [ -d /proc/{pid} ]; do sleep 1; done; '{pg_ctl}' stop -w -m immediate -D '{data}' \
             >/dev/null 2>&1; rm -rf '{data}'",
            pid = std::process::id()
        );
        let mut command = Command::new("sh");
        command
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .current_dir(&self.data)
            // Its own process group, so that a test harness interrupting this one's group spares it.
            .process_group(0);
        if let Some((uid, gid)) = self.run_as {
            command.uid(uid).gid(gid);
        }
        command.spawn().map_err(io("spawn the server's watcher"))?;
        Ok(())
    }

    /// Starts the server again after [`stop`](Self::stop), on the same port and data.
    pub fn start_again(&self) -> Result<(), ThrowawayError> {
        let log = self.data.join("server.log");
        self.run(
            "pg_ctl",
            &[
                "start",
                "-w",
                "-t",
                &START_TIMEOUT.as_secs().to_string(),
                "-D",
                &self.data.to_string_lossy(),
                "-l",
                &log.to_string_lossy(),
            ],
        )?;
        // `pg_ctl -w` waits for the server; the port is checked too, as a client will use it.
        let deadline = Instant::now() + START_TIMEOUT;
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if Instant::now() > deadline {
                return Err(ThrowawayError::Program {
                    program: "postgres".into(),
                    status: "not listening".into(),
                    output: std::fs::read_to_string(&log).unwrap_or_default(),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// Stops the server (fast shutdown: connections are cut, data kept).
    pub fn stop(&self) -> Result<(), ThrowawayError> {
        self.run(
            "pg_ctl",
            &[
                "stop",
                "-w",
                "-m",
                "fast",
                "-D",
                &self.data.to_string_lossy(),
            ],
        )
    }

    /// The port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of `database` on this server, as [`ROLE`].
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://{ROLE}@127.0.0.1:{}/{database}?connect_timeout=10",
            self.port
        )
    }

    /// Creates an empty database named `name` and returns its URL.
    pub async fn create_database(&self, name: &str) -> Result<String, tokio_postgres::Error> {
        let (client, connection) =
            tokio_postgres::connect(&self.url("postgres"), tokio_postgres::NoTls).await?;
        let connection = tokio::spawn(connection);
        // The name is the caller's own (a test's), quoted as an identifier.
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        client
            .batch_execute(&format!("CREATE DATABASE {quoted}"))
            .await?;
        drop(client);
        let _ = connection.await;
        Ok(self.url(name))
    }

    /// Runs one of the server's programs as the server's user, failing with its output.
    fn run(&self, program: &str, args: &[&str]) -> Result<(), ThrowawayError> {
        let mut command = Command::new(self.bin.join(program));
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // The server's own programs; a locale from the caller's environment could refuse `C`.
            .env("LC_ALL", "C")
            .current_dir(&self.data);
        if let Some((uid, gid)) = self.run_as {
            command.uid(uid).gid(gid);
        }
        let output = command.output().map_err(io(format!("run {program}")))?;
        if output.status.success() {
            return Ok(());
        }
        let mut text = String::from_utf8_lossy(&output.stderr).into_owned();
        text.push_str(&String::from_utf8_lossy(&output.stdout));
        Err(ThrowawayError::program(program, output.status, &text))
    }
}

impl Drop for Throwaway {
    fn drop(&mut self) {
        // Immediate: the files go next, nothing of them needs keeping.
        let _ = self.run(
            "pg_ctl",
            &[
                "stop",
                "-w",
                "-m",
                "immediate",
                "-D",
                &self.data.to_string_lossy(),
            ],
        );
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

/// Creates an empty database `name` on the server `url` points at (as a user allowed to) and returns the
/// URL of the new database: for `PUSHGATE_TEST_POSTGRES_URL`, a server the tests are given.
pub async fn create_database_at(url: &str, name: &str) -> Result<String, String> {
    let mut config: tokio_postgres::Config = url.parse().map_err(|e| format!("{e}"))?;
    let (client, connection) = config
        .connect(tokio_postgres::NoTls)
        .await
        .map_err(|e| e.to_string())?;
    let connection = tokio::spawn(connection);
    let quoted = format!("\"{}\"", name.replace('"', "\"\""));
    client
        .batch_execute(&format!("CREATE DATABASE {quoted}"))
        .await
        .map_err(|e| e.to_string())?;
    drop(client);
    let _ = connection.await;
    config.dbname(name);
    // Rebuilt from the parts: tokio-postgres cannot print a config back as a URL.
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        _ => "127.0.0.1".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or(ROLE);
    let password = config
        .get_password()
        .map(|p| format!(":{}", String::from_utf8_lossy(p)))
        .unwrap_or_default();
    Ok(format!("postgres://{user}{password}@{host}:{port}/{name}"))
}

/// `nobody`'s uid and gid when this process is root (PostgreSQL will not run as root), else `None`.
fn unprivileged_user() -> Option<(u32, u32)> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let ids = passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.first() == Some(&"nobody") && fields.len() > 3)
            .then(|| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))
            .flatten()
    });
    Some(ids.unwrap_or((65_534, 65_534)))
}

/// `root` when the server's user can reach it, else a directory of the system's temporary directory.
fn reachable_root(root: &Path, run_as: Option<(u32, u32)>) -> PathBuf {
    if run_as.is_none() || enterable_by_others(root) {
        return root.to_path_buf();
    }
    std::env::temp_dir().join("pushgate-test-postgres")
}

/// Whether every existing directory on the way to `path` lets others through (`o+x`).
fn enterable_by_others(path: &Path) -> bool {
    let Ok(absolute) = std::path::absolute(path) else {
        return false;
    };
    absolute
        .ancestors()
        .all(|dir| match std::fs::metadata(dir) {
            Ok(meta) => meta.permissions().mode() & 0o001 != 0,
            // Not there yet: created below an enterable parent with the default mode.
            Err(_) => true,
        })
}

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> Result<u16, ThrowawayError> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(io("find a free port"))?;
    Ok(listener
        .local_addr()
        .map_err(io("read the free port"))?
        .port())
}
