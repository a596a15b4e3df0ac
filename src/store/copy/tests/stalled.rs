//! A database that stops answering in the middle of a copy (a network gone, a host frozen) fails the copy
//! soon, as unavailable, which a rerun resumes: the server's `statement_timeout` cannot end a wait for an
//! answer that never comes back, and TCP notices a silent peer only after hours.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{
        TcpListener, TcpStream,
        tcp::{OwnedReadHalf, OwnedWriteHalf},
    },
};

use super::{copy_dir, pg_config, populated};
use crate::store::{
    PostgresConfig, StoreError,
    conformance::postgres_database,
    copy::{CopyError, CopyOptions},
    postgres::CopyTarget,
};

/// Forwards what `from` reads to `to` until `frozen`; from then on it forwards nothing more and holds both
/// ends open, as a network that went silent.
async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, frozen: Arc<AtomicBool>) {
    let mut buffer = vec![0; 64 * 1024];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if frozen.load(Ordering::SeqCst) {
            let _held = (from, to);
            std::future::pending::<()>().await;
            return;
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}

/// A proxy on loopback to the server of `url`: the URL through it, and the switch that silences it.
async fn proxy(url: &str) -> (String, Arc<AtomicBool>) {
    let rest = url.split_once('@').expect("a URL with a user").1;
    let address = rest.split('/').next().unwrap().to_owned();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let through = url.replace(&address, &listener.local_addr().unwrap().to_string());
    let frozen = Arc::new(AtomicBool::new(false));
    let switch = frozen.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let server = TcpStream::connect(&address).await.unwrap();
            let (client_read, client_write) = client.into_split();
            let (server_read, server_write) = server.into_split();
            tokio::spawn(pump(client_read, server_write, frozen.clone()));
            tokio::spawn(pump(server_read, client_write, frozen.clone()));
        }
    });
    (through, switch)
}

#[tokio::test]
async fn a_database_that_stops_answering_fails_the_copy_soon() {
    let (dir, _) = populated(3).await;
    let url = postgres_database().await;
    let (through, silence) = proxy(&url).await;
    let config = PostgresConfig {
        connect_timeout: Duration::from_millis(500),
        statement_timeout: Duration::from_millis(500),
        ..pg_config(&through)
    };
    let mut to = CopyTarget::connect(&config).await.expect("connect");
    silence.store(true, Ordering::SeqCst);
    let copied = tokio::time::timeout(
        Duration::from_secs(20),
        copy_dir(&dir, &mut to, &CopyOptions::default()),
    )
    .await
    .expect("the copy ends in 20 s");
    let err = copied.expect_err("no answer, no copy");
    assert!(
        matches!(&err, CopyError::Store(StoreError::Unavailable(_))),
        "{err}"
    );
}
