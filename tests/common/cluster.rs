//! Several replicas of the server on one PostgreSQL database, for the tests of a cluster: each its own
//! process and replica id, all with the same keys (README asks the same of every replica of a deployment),
//! beating every 100 ms.

use super::TestServer;

/// The settings of replica `id` on the database at `url`, counting a replica gone once its last beat is
/// `lease` old, with `extra` after them.
pub fn replica_settings(
    url: &str,
    id: &str,
    lease: &str,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut settings: Vec<(String, String)> = [
        ("PUSHGATE_STORE_BACKEND", "postgres"),
        ("PUSHGATE_STORE_POSTGRES_URL", url),
        ("PUSHGATE_AUTH_ADMIN_TOKEN", "replicas-admin-token"),
        (
            "PUSHGATE_AUTH_SIGNING_KEY",
            "replicas-signing-key-replicas-signing",
        ),
        (
            "PUSHGATE_NOTIFIERS_CREDENTIALS_KEY",
            "replicas-credentials-key",
        ),
        ("PUSHGATE_CLUSTER_REPLICA_ID", id),
        ("PUSHGATE_CLUSTER_HEARTBEAT", "100ms"),
        ("PUSHGATE_CLUSTER_LEASE", lease),
    ]
    .into_iter()
    .chain(extra.iter().copied())
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    settings.dedup_by(|a, b| a.0 == b.0);
    settings
}

/// Starts replica `id` (see [`replica_settings`]); blocks until it serves.
pub fn replica(url: &str, id: &str, lease: &str, extra: &[(&str, &str)]) -> TestServer {
    start(&replica_settings(url, id, lease, extra))
}

/// Starts the replicas `ids` at once, in that order.
pub async fn replicas(
    url: &str,
    ids: &[&str],
    lease: &str,
    extra: &[(&str, &str)],
) -> Vec<TestServer> {
    let starting: Vec<_> = ids
        .iter()
        .map(|id| {
            let settings = replica_settings(url, id, lease, extra);
            tokio::task::spawn_blocking(move || start(&settings))
        })
        .collect();
    let mut servers = Vec::new();
    for s in starting {
        servers.push(s.await.expect("a replica starts"));
    }
    servers
}

/// A server with `settings`.
fn start(settings: &[(String, String)]) -> TestServer {
    let pairs: Vec<(&str, &str)> = settings
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    TestServer::start_with(&pairs)
}
