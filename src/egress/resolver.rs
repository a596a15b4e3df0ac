//! The DNS step of every notifier connection, checked against the policy after resolution.
//!
//! Checking the URL when the notifier is saved is not enough: a host name can resolve to a public address
//! then and to `127.0.0.1` a minute later (DNS rebinding). The HTTP client resolves names through this
//! resolver, which drops every address the policy refuses and fails the connection when none is left, so the
//! check applies to the address actually connected to. Address literals never reach a resolver; they are
//! checked with the URL (and again when a notifier's client is built).

use std::net::SocketAddr;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::EgressPolicy;

/// A resolver that only answers addresses `policy` allows for the name.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    policy: EgressPolicy,
}

impl GuardedResolver {
    /// Resolves with the system resolver and filters by `policy`.
    pub fn new(policy: EgressPolicy) -> Self {
        Self { policy }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // The system resolver, on Tokio's blocking pool; the client's connect timeout bounds the wait.
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refusal = None;
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|addr| match policy.check_resolved(&host, addr.ip()) {
                    Ok(()) => true,
                    Err(refused) => {
                        refusal.get_or_insert(refused);
                        false
                    }
                })
                .collect();
            match (allowed.is_empty(), refusal) {
                (true, Some(refused)) => {
                    tracing::warn!(host, %refused, "notifier connection refused by dispatch.allowed_endpoints");
                    Err(refused.into())
                }
                _ => Ok(Box::new(allowed.into_iter()) as Addrs),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn resolve(policy: EgressPolicy, name: &str) -> Result<Vec<SocketAddr>, String> {
        GuardedResolver::new(policy)
            .resolve(name.parse().unwrap())
            .await
            .map(|addrs| addrs.collect())
            .map_err(|e| e.to_string())
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused_unless_listed() {
        // `localhost` stands for any name whose DNS answer turns internal.
        let err = resolve(EgressPolicy::default(), "localhost")
            .await
            .unwrap_err();
        assert!(err.contains("internal address"), "{err}");
        let listed = EgressPolicy::new(["127.0.0.0/8".parse().unwrap(), "::1".parse().unwrap()]);
        let addrs = resolve(listed, "localhost").await.unwrap();
        assert!(!addrs.is_empty());
        assert!(addrs.iter().all(|a| a.ip().is_loopback()));
        let by_name = EgressPolicy::new(["localhost".parse().unwrap()]);
        assert!(!resolve(by_name, "localhost").await.unwrap().is_empty());
    }
}
