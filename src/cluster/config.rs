//! The `[cluster]` section: who this replica is among the deployment's, and how often it says it is alive.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Settings of this replica's membership.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// This replica's id, unique in the deployment; generated at start when unset (a pod's name is a good
    /// one: it shows in the logs and the `/cluster` page).
    pub replica_id: Option<String>,
    /// Where this replica listens for the other replicas' calls (the own channel's relay): a listener of
    /// its own, never the public one. Unset: no relay, so on several replicas a push accepted by one waits in
    /// the inbox of a device whose stream is on another until it subscribes again.
    pub internal_listen: Option<std::net::SocketAddr>,
    /// Where the other replicas reach this one (`host:port` of its internal listener, or a host or IP alone
    /// for `internal_listen`'s port); unset: the address `internal_listen` bound, unless that is
    /// `0.0.0.0`/`::` (a pod sets its own IP here).
    pub internal_address: Option<String>,
    /// How long a call to another replica may take (a relayed push, a stream's end); past it the push waits
    /// in the device's inbox.
    #[serde(with = "humantime_serde")]
    pub relay_timeout: Duration,
    /// How often the replica renews its beat in the store.
    #[serde(with = "humantime_serde")]
    pub heartbeat: Duration,
    /// How long a replica counts as alive after its last beat, and how long a lease it holds lasts without
    /// renewal. At least three heartbeats, so that one late beat does not end a replica.
    #[serde(with = "humantime_serde")]
    pub lease: Duration,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            replica_id: None,
            internal_listen: None,
            internal_address: None,
            relay_timeout: Duration::from_secs(2),
            heartbeat: Duration::from_secs(2),
            lease: Duration::from_secs(10),
        }
    }
}

impl ClusterConfig {
    /// Why the settings cannot be used, if they cannot.
    pub fn check(&self) -> Result<(), String> {
        if self.heartbeat.is_zero() {
            return Err("cluster.heartbeat must be more than zero".into());
        }
        if self.lease < self.heartbeat * 3 {
            return Err(format!(
                "cluster.lease ({:?}) must be at least three cluster.heartbeat ({:?}): one late beat would \
                 end a replica",
                self.lease, self.heartbeat
            ));
        }
        if self.relay_timeout.is_zero() {
            return Err("cluster.relay_timeout must be more than zero".into());
        }
        if self.replica_id.as_deref().is_some_and(|id| {
            id.is_empty()
                || id.len() > 128
                || id.chars().any(|c| c.is_control() || c.is_whitespace())
        }) {
            return Err(
                "cluster.replica_id must be 1 to 128 characters without spaces or control characters".into(),
            );
        }
        Ok(())
    }

    /// The stale bound in milliseconds.
    pub fn lease_ms(&self) -> i64 {
        i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_shorter_than_three_beats_or_a_blank_id_is_refused() {
        assert!(ClusterConfig::default().check().is_ok());
        let short = ClusterConfig {
            lease: Duration::from_secs(5),
            ..Default::default()
        };
        assert!(short.check().unwrap_err().contains("three"));
        let zero = ClusterConfig {
            heartbeat: Duration::ZERO,
            ..Default::default()
        };
        assert!(zero.check().is_err());
        for id in ["", "has space", "tab\t"] {
            let bad = ClusterConfig {
                replica_id: Some(id.into()),
                ..Default::default()
            };
            assert!(bad.check().is_err(), "{id:?}");
        }
    }
}
