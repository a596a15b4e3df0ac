//! The client side of the calls between replicas (`pushgate.cluster.v1.RelayService`): hands a push to the replica
//! that holds a device's stream, or ends a stream there. One lazily connected HTTP/2 channel per replica
//! address, shared by every call to it; each call is bounded by `cluster.relay_timeout`, and a failure only
//! means the push waits in the inbox (it was written there first).

use std::{collections::HashMap, sync::Mutex, time::Duration};

use tonic::transport::{Channel as GrpcChannel, Endpoint};

use crate::proto::cluster_v1::{
    EndRequest, OfferRequest, relay_service_client::RelayServiceClient,
};

/// Replica addresses kept at most: a rolling update gives every pod a new address, and the channels of
/// gone ones are dropped wholesale past this rather than tracked one by one.
const MAX_PEERS: usize = 64;

/// Why a call to another replica failed.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The address is not a usable URI.
    #[error("replica address {address:?}: {reason}")]
    Address {
        /// The address the replica registered.
        address: String,
        /// Why it is not usable.
        reason: String,
    },
    /// The call did not answer within `cluster.relay_timeout`.
    #[error("replica {address} did not answer within {timeout:?}")]
    Timeout {
        /// The replica's address.
        address: String,
        /// The bound.
        timeout: Duration,
    },
    /// The call failed (connection refused, the replica refused it).
    #[error("replica {address}: {status}")]
    Call {
        /// The replica's address.
        address: String,
        /// Its answer.
        status: Box<tonic::Status>,
    },
}

/// Calls to the other replicas' internal listeners.
pub(super) struct Relay {
    peers: Mutex<HashMap<String, GrpcChannel>>,
    timeout: Duration,
}

impl Relay {
    pub(super) fn new(timeout: Duration) -> Self {
        Self {
            peers: Mutex::new(HashMap::new()),
            timeout,
        }
    }

    fn client(&self, address: &str) -> Result<RelayServiceClient<GrpcChannel>, RelayError> {
        let mut peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(channel) = peers.get(address) {
            return Ok(RelayServiceClient::new(channel.clone()));
        }
        let channel = Endpoint::from_shared(format!("http://{address}"))
            .map_err(|e| RelayError::Address {
                address: address.to_owned(),
                reason: e.to_string(),
            })?
            .connect_timeout(self.timeout)
            .timeout(self.timeout)
            .connect_lazy();
        if peers.len() >= MAX_PEERS {
            peers.clear();
        }
        peers.insert(address.to_owned(), channel.clone());
        Ok(RelayServiceClient::new(channel))
    }

    /// Forgets the channel to `address`, so the next call connects afresh (a replica that restarted on the
    /// same address, a connection that broke).
    fn forget(&self, address: &str) {
        self.peers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(address);
    }

    async fn bounded<T>(
        &self,
        address: &str,
        call: impl std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    ) -> Result<T, RelayError> {
        let answer = tokio::time::timeout(self.timeout, call).await;
        let failed = match answer {
            Ok(Ok(response)) => return Ok(response.into_inner()),
            Ok(Err(status)) => RelayError::Call {
                address: address.to_owned(),
                status: Box::new(status),
            },
            Err(_) => RelayError::Timeout {
                address: address.to_owned(),
                timeout: self.timeout,
            },
        };
        self.forget(address);
        Err(failed)
    }

    /// Hands a push to stream `request.stream` on the replica at `address`; whether it was queued there.
    pub(super) async fn offer(
        &self,
        address: &str,
        request: OfferRequest,
    ) -> Result<bool, RelayError> {
        let mut client = self.client(address)?;
        Ok(self.bounded(address, client.offer(request)).await?.live)
    }

    /// Ends a device's stream on the replica at `address`; whether one was ended.
    pub(super) async fn end(&self, address: &str, request: EndRequest) -> Result<bool, RelayError> {
        let mut client = self.client(address)?;
        Ok(self.bounded(address, client.end(request)).await?.ended)
    }
}
