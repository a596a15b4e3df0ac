//! Setting up the PostgreSQL backend: its configuration, the schema's migrations (at start and with
//! `pushgate migrate`), and start-up failing with one clear line when the database cannot be used.
//!
//! These run on PostgreSQL only, and need no sled twin: sled has no schema, no URL and no server to reach.
//! Every other server test runs on both backends (see `common::backend`).

mod common;

use std::{
    process::{Command, Output},
    time::{Duration, Instant},
};

use common::fresh_database;

/// `pushgate <args>` with a cleared environment plus `env`.
fn pushgate(args: &[&str], env: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_pushgate"));
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PUSHGATE_STORE_DATA_DIR", dir.path())
        .env("PUSHGATE_SERVER_LISTEN", "127.0.0.1:0")
        .env("PUSHGATE_ADMIN_LISTEN", "127.0.0.1:0");
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().expect("run pushgate")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    client
}

/// The schema versions recorded in the database at `url`.
async fn versions(url: &str) -> Vec<i32> {
    connect(url)
        .await
        .query("SELECT version FROM pushgate_schema ORDER BY version", &[])
        .await
        .expect("read pushgate_schema")
        .iter()
        .map(|row| row.get(0))
        .collect()
}

#[tokio::test]
async fn migrate_applies_the_schema_once_and_then_finds_it_up_to_date() {
    let url = fresh_database();
    let env = [
        ("PUSHGATE_STORE_BACKEND", "postgres"),
        ("PUSHGATE_STORE_POSTGRES_URL", url.as_str()),
    ];
    let first = pushgate(&["migrate"], &env);
    assert!(first.status.success(), "{}", text(&first));
    let latest = pushgate::store::postgres::LATEST_VERSION;
    assert!(
        text(&first).contains(&format!("schema migrated from version 0 to {latest}")),
        "{}",
        text(&first)
    );
    let again = pushgate(&["migrate"], &env);
    assert!(again.status.success(), "{}", text(&again));
    assert!(
        text(&again).contains(&format!("schema at version {latest}: up to date")),
        "{}",
        text(&again)
    );
    assert_eq!(
        versions(&url).await,
        (1..=latest).collect::<Vec<_>>(),
        "each version recorded once"
    );
}

/// Four processes migrating one empty database at once: the advisory lock lets one apply each migration,
/// the others find them applied.
#[tokio::test]
async fn processes_migrating_at_once_apply_each_migration_once() {
    let url = fresh_database();
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                pushgate(
                    &["migrate"],
                    &[
                        ("PUSHGATE_STORE_BACKEND", "postgres"),
                        ("PUSHGATE_STORE_POSTGRES_URL", url.as_str()),
                    ],
                )
            })
        })
        .collect();
    let outputs: Vec<Output> = runs.into_iter().map(|r| r.join().unwrap()).collect();
    for out in &outputs {
        assert!(out.status.success(), "{}", text(out));
    }
    let applied = outputs
        .iter()
        .filter(|o| text(o).contains("schema migrated from version 0"))
        .count();
    assert_eq!(applied, 1, "one process applied the migrations");
    assert_eq!(
        versions(&url).await,
        (1..=pushgate::store::postgres::LATEST_VERSION).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_schema_newer_than_the_binary_stops_the_server_with_one_line() {
    let url = fresh_database();
    let env = [
        ("PUSHGATE_STORE_BACKEND", "postgres"),
        ("PUSHGATE_STORE_POSTGRES_URL", url.as_str()),
    ];
    assert!(pushgate(&["migrate"], &env).status.success());
    connect(&url)
        .await
        .execute(
            "INSERT INTO pushgate_schema (version, name) VALUES (9999, 'from the future')",
            &[],
        )
        .await
        .unwrap();
    for args in [&["migrate"][..], &["serve"][..]] {
        let out = pushgate(args, &env);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        let error_lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(error_lines.len(), 1, "{args:?}: {stderr}");
        assert!(
            error_lines[0].contains("version 9999") && error_lines[0].contains("newer"),
            "{stderr}"
        );
    }
}

#[tokio::test]
async fn an_unreachable_database_stops_the_server_with_one_line_and_no_password() {
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://pushgate:very-secret-pw@127.0.0.1:{port}/nothing");
    let started = Instant::now();
    let out = pushgate(
        &["serve"],
        &[
            ("PUSHGATE_STORE_BACKEND", "postgres"),
            ("PUSHGATE_STORE_POSTGRES_URL", url.as_str()),
            ("PUSHGATE_STORE_POSTGRES_CONNECT_TIMEOUT", "2s"),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(started.elapsed() < Duration::from_secs(30));
    let all = text(&out);
    assert!(!all.contains("very-secret-pw"), "{all}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let error_lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(error_lines.len(), 1, "{stderr}");
    assert!(error_lines[0].contains("storage unavailable"), "{stderr}");
}

#[test]
fn postgres_settings_are_checked_when_loaded_and_the_url_is_never_printed() {
    let no_url = pushgate(
        &["config", "print"],
        &[("PUSHGATE_STORE_BACKEND", "postgres")],
    );
    assert!(!no_url.status.success());
    assert!(
        text(&no_url).contains("store.postgres.url"),
        "{}",
        text(&no_url)
    );

    let printed = pushgate(
        &["config", "print"],
        &[
            ("PUSHGATE_STORE_BACKEND", "postgres"),
            (
                "PUSHGATE_STORE_POSTGRES_URL",
                "postgres://u:very-secret-pw@db.example/pushgate",
            ),
            ("PUSHGATE_STORE_POSTGRES_POOL_SIZE", "7"),
        ],
    );
    assert!(printed.status.success(), "{}", text(&printed));
    let out = String::from_utf8_lossy(&printed.stdout);
    assert!(!out.contains("very-secret-pw"), "{out}");
    let table: toml::Table = out.parse().unwrap();
    let pg = table["store"]["postgres"].as_table().unwrap();
    assert_eq!(pg["url"].as_str(), Some("[redacted]"));
    assert_eq!(pg["pool_size"].as_integer(), Some(7));

    let ca_without_tls = pushgate(
        &["config", "print"],
        &[
            ("PUSHGATE_STORE_BACKEND", "postgres"),
            ("PUSHGATE_STORE_POSTGRES_URL", "postgres://db.example/p"),
            ("PUSHGATE_STORE_POSTGRES_CA_FILE", "/etc/ca.pem"),
        ],
    );
    assert!(!ca_without_tls.status.success());
    assert!(
        text(&ca_without_tls).contains("ssl_mode"),
        "{}",
        text(&ca_without_tls)
    );
}

/// On a machine without PostgreSQL's programs the harness installs them from a PyPI wheel rather than skip
/// (`store/postgres/server_binaries.rs`). This machine has them, so the test installs the wheel's on purpose,
/// starts a throwaway server with them and migrates a database on it with `pushgate migrate`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pypi_wheel_s_programs_run_a_server_that_takes_the_schema() {
    use pushgate::store::postgres::throwaway::Throwaway;
    let root = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let server = tokio::task::spawn_blocking(move || {
        let bin = Throwaway::wheel_binaries(root).expect("install the wheel's PostgreSQL");
        assert!(bin.ends_with("pgserver/pginstall/bin"), "{}", bin.display());
        Throwaway::start_with(bin, root, false).expect("start the wheel's server")
    })
    .await
    .unwrap();
    let url = server
        .create_database("wheel")
        .await
        .expect("create database");
    let version: String = connect(&url)
        .await
        .query_one("SHOW server_version", &[])
        .await
        .unwrap()
        .get(0);
    assert!(version.starts_with("16."), "the wheel's server: {version}");
    let env = [
        ("PUSHGATE_STORE_BACKEND", "postgres"),
        ("PUSHGATE_STORE_POSTGRES_URL", url.as_str()),
    ];
    let migrated = pushgate(&["migrate"], &env);
    assert!(migrated.status.success(), "{}", text(&migrated));
    assert_eq!(
        versions(&url).await.last().copied(),
        Some(pushgate::store::postgres::LATEST_VERSION)
    );
}
