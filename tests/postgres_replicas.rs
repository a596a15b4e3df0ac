//! Several replicas on one PostgreSQL database: each registers, each counts the others, and one that leaves
//! (SIGTERM) is gone for the others at once, one that dies (SIGKILL) after its lease.
//!
//! PostgreSQL only: replicas share a database server, and a sled store belongs to one process (sled locks
//! its directory), so on sled there is never more than the one replica.

mod common;

use std::time::Duration;

use common::{TestServer, fresh_database, metric};

/// A replica named `id` on the database at `url` (see `common::cluster`).
fn replica(url: &str, id: &str, lease: &str) -> TestServer {
    common::cluster::replica(url, id, lease, &[])
}

/// The live replicas `server` counted at its last beat (`pushgate_cluster_replicas` on its admin port).
async fn counted(server: &TestServer) -> Option<u64> {
    metric(server, "pushgate_cluster_replicas")
        .await
        .map(|n| n as u64)
}

/// Waits (at most 10 s) until every one of `servers` counts `n` live replicas.
async fn until_all_count(servers: &[&TestServer], n: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut counts = Vec::new();
        for server in servers {
            counts.push(counted(server).await);
        }
        if counts.iter().all(|c| *c == Some(n)) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "expected every replica to count {n}, they count {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_count_each_other_and_one_that_leaves_is_gone_at_once() {
    let url = fresh_database();
    // A lease of a minute: within the ten seconds `until_all_count` waits, a replica can only be gone for
    // the others by leaving.
    let (a, b) = (
        replica(&url, "replica-a", "60s"),
        replica(&url, "replica-b", "60s"),
    );
    until_all_count(&[&a, &b], 2).await;
    let mut c = replica(&url, "replica-c", "60s");
    until_all_count(&[&a, &b, &c], 3).await;
    let status = tokio::task::spawn_blocking(move || c.terminate())
        .await
        .unwrap();
    assert!(status.success(), "{status}");
    until_all_count(&[&a, &b], 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_dies_is_gone_once_its_lease_runs_out() {
    let url = fresh_database();
    let (a, b) = (
        replica(&url, "replica-a", "1s"),
        replica(&url, "replica-b", "1s"),
    );
    until_all_count(&[&a, &b], 2).await;
    // SIGKILL (TestServer's drop): b cannot leave; a counts it gone once its last beat is a second old.
    drop(b);
    until_all_count(&[&a], 1).await;
}
