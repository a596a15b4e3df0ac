//! What a copy refuses, changing nothing: a source that changed since the copy began (the final count check),
//! a database that holds other records, another source's copy or is not pushgate's, a second copy at once, a
//! source in use or holding records this version does not know, a URL that leads nowhere.

use std::time::Duration;

use prost::Message;

use super::{
    copy_dir, pg_config, populated, postgres_store, sled_store, starting_over, target,
    waiting_for_the_lock,
};
use crate::store::{
    AppRecord, PostgresConfig, SledStore, StoreError,
    conformance::postgres_database,
    copy::{CopyError, CopyOptions},
    portable::Kind,
    postgres::CopyTarget,
};

#[tokio::test]
async fn a_source_changed_between_runs_fails_the_counts() {
    let (dir, _) = populated(3).await;
    let url = postgres_database().await;
    let mut to = target(&url).await;
    copy_dir(&dir, &mut to, &CopyOptions::default())
        .await
        .unwrap();
    drop(to);
    // A server ran on sled again after the copy: its new app is not in PostgreSQL.
    {
        let store = sled_store(dir.path());
        store
            .apps
            .create_app(AppRecord {
                name: "o#new".into(),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let mut to = target(&url).await;
    let err = copy_dir(&dir, &mut to, &CopyOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, CopyError::Mismatch(what) if what.contains("apps: 3, 2, 2")),
        "{err}"
    );
    // Started over, the copy takes the source as it is now.
    let report = copy_dir(&dir, &mut to, &starting_over(true)).await.unwrap();
    assert!(!report.resumed);
    let apps = report.counts.iter().find(|c| c.kind == Kind::Apps).unwrap();
    assert_eq!(apps.in_target, 3);
}

#[tokio::test]
async fn a_database_with_other_records_or_another_copy_is_refused() {
    let (dir, _) = populated(1).await;
    let (other, _) = populated(1).await;
    // Records no copy wrote: refused, with --restart too.
    let url = database_in_use().await;
    for restart in [false, true] {
        let err = refusal(&dir, &url, &starting_over(restart)).await;
        assert!(
            matches!(&err, CopyError::NotEmpty { kinds } if kinds == "apps"),
            "{err}"
        );
    }

    // A copy of another directory: refused, unless started over.
    let url = postgres_database().await;
    let mut to = target(&url).await;
    copy_dir(&dir, &mut to, &CopyOptions::default())
        .await
        .unwrap();
    let err = copy_dir(&other, &mut to, &CopyOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, CopyError::OtherSource { .. }), "{err}");
    copy_dir(&other, &mut to, &starting_over(true))
        .await
        .unwrap();

    // Two copies into one database at once: the second is refused while the first holds the lock.
    let second = CopyTarget::connect(&pg_config(&url)).await;
    assert!(
        matches!(&second, Err(e) if e.to_string().contains("another `pushgate store copy`")),
        "{:?}",
        second.err()
    );
}

#[tokio::test]
async fn a_source_in_use_or_with_unknown_records_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let missing = SledStore::open_to_copy(&dir.path().join("nothing"));
    assert!(matches!(&missing, Err(e) if e.to_string().contains("holds no sled store")));
    assert!(!dir.path().join("nothing").exists(), "nothing was created");

    let open = sled_store(dir.path());
    let in_use = SledStore::open_to_copy(dir.path());
    assert!(
        matches!(&in_use, Err(e) if e.to_string().contains("in use by another process")),
        "{:?}",
        in_use.err()
    );
    drop(open);

    // A tree this version does not know, as a newer one might have left.
    {
        let db = waiting_for_the_lock(|| sled::open(dir.path().join("db"))).unwrap();
        db.open_tree("mystery")
            .unwrap()
            .insert(b"k", AppRecord::default().encode_to_vec())
            .unwrap();
        db.flush().unwrap();
    }
    let url = postgres_database().await;
    let err = refusal(&dir, &url, &CopyOptions::default()).await;
    assert!(
        matches!(&err, CopyError::Unknown { trees } if trees == "mystery (1)"),
        "{err}"
    );
    assert_eq!(relations(&url).await, Vec::<String>::new());
}

/// The error of a copy of `dir` into the database at `url` with `options`, which leaves it as it was.
async fn refusal(dir: &tempfile::TempDir, url: &str, options: &CopyOptions) -> CopyError {
    let before = relations(url).await;
    let mut to = target(url).await;
    let err = copy_dir(dir, &mut to, options)
        .await
        .expect_err("a refusal");
    drop(to);
    assert_eq!(relations(url).await, before, "nothing changed");
    err
}

/// A fresh database in which a server has created an app (`o#live`).
async fn database_in_use() -> String {
    let url = postgres_database().await;
    postgres_store(&url)
        .await
        .apps
        .create_app(AppRecord {
            name: "o#live".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    url
}

/// A client of the database at `url`, apart from the copy's.
async fn client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    client
}

/// Every table, view and sequence of the database at `url` outside PostgreSQL's own schemas, and the
/// versions of its pushgate schema: what a refused copy must leave as it was.
async fn relations(url: &str) -> Vec<String> {
    let client = client(url).await;
    let mut out: Vec<String> = client
        .query(
            "SELECT format('%s %I.%I', c.relkind, n.nspname, c.relname)
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
               AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
             ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    let versioned = client
        .query_one("SELECT to_regclass('pushgate_schema') IS NOT NULL", &[])
        .await
        .unwrap()
        .get::<_, bool>(0);
    if versioned {
        for row in client
            .query("SELECT version FROM pushgate_schema ORDER BY 1", &[])
            .await
            .unwrap()
        {
            out.push(format!("version {}", row.get::<_, i32>(0)));
        }
    }
    out
}

/// A database that is not pushgate's, with tables of its own: refused before anything is written into it,
/// the pushgate schema included.
#[tokio::test]
async fn a_database_of_something_else_is_refused_as_it_is() {
    let (dir, _) = populated(1).await;
    let url = postgres_database().await;
    client(&url)
        .await
        .batch_execute(
            "CREATE TABLE customers (id integer PRIMARY KEY, name text);
             INSERT INTO customers VALUES (1, 'someone');
             CREATE SCHEMA billing;
             CREATE TABLE billing.invoices (id integer);",
        )
        .await
        .unwrap();
    for restart in [false, true] {
        let err = refusal(&dir, &url, &starting_over(restart)).await;
        assert!(
            matches!(
                &err,
                CopyError::Foreign { tables } if tables == "billing.invoices, public.customers"
            ),
            "{err}"
        );
    }
}

/// A pushgate database a server uses, at an older schema version: refused as not empty, and left at its
/// version (a newer one would stop its servers from starting).
#[tokio::test]
async fn a_database_in_use_is_refused_at_its_schema_version() {
    let (dir, _) = populated(1).await;
    let url = database_in_use().await;
    // As a database migrated by the version before the copy's progress table was added.
    client(&url)
        .await
        .batch_execute(
            "DROP TABLE pushgate_copy_progress;
             DELETE FROM pushgate_schema WHERE version = 4;",
        )
        .await
        .unwrap();
    let err = refusal(&dir, &url, &CopyOptions::default()).await;
    assert!(
        matches!(&err, CopyError::NotEmpty { kinds } if kinds == "apps"),
        "{err}"
    );

    // Migrated by a newer pushgate: refused as soon as connected.
    client(&url)
        .await
        .batch_execute("INSERT INTO pushgate_schema (version, name) VALUES (99, 'future')")
        .await
        .unwrap();
    let newer = CopyTarget::connect(&pg_config(&url)).await;
    assert!(
        matches!(&newer, Err(StoreError::SchemaNewer { database: 99, .. })),
        "{:?}",
        newer.err()
    );
}

/// A URL that leads nowhere a copy can go fails to connect with one error, soon: a port nobody listens on, a
/// server that takes the connection and never answers (after the socket, the TLS and startup exchange waits
/// as long as the server lets it), a database that does not exist, text that is no URL.
#[tokio::test]
async fn a_wrong_url_fails_soon_with_one_error() {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = postgres_database().await;
    let (base, query) = url.split_once('?').unwrap_or((&url, ""));
    let server = &base[..base.rfind('/').unwrap()];
    let wrong = [
        (
            format!("postgres://pushgate@127.0.0.1:{closed_port}/db"),
            "unavailable",
        ),
        (
            format!("postgres://pushgate@127.0.0.1:{silent_port}/db"),
            "no answer",
        ),
        (
            format!("{server}/no_such_database?{query}"),
            "does not exist",
        ),
        ("not a url".to_owned(), "cannot be read"),
    ];
    for (url, says) in wrong {
        let config = PostgresConfig {
            connect_timeout: Duration::from_millis(500),
            ..pg_config(&url)
        };
        let connected = tokio::time::timeout(Duration::from_secs(20), CopyTarget::connect(&config))
            .await
            .unwrap_or_else(|_| panic!("no error in 20 s from {url}"));
        let err = connected.err().unwrap_or_else(|| panic!("{url} connected"));
        assert!(err.to_string().contains(says), "{url}: {err}");
    }
    holder.abort();
}
