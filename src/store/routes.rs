//! Where each own-channel device's Subscribe stream is open: the replica holding it, so that a push accepted
//! by another replica is relayed there. Only a store shared by several replicas keeps routes (on sled the
//! one process's hub is the whole truth); a route is trusted only while its holder's beat is fresh.

use async_trait::async_trait;

use super::StoreError;

/// The stream one device has open, on one replica.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct ChannelRoute {
    /// The user the device subscribed as; a push for another user waits in the inbox.
    #[prost(string, tag = "1")]
    pub user: String,
    /// The replica holding the stream (`cluster.replica_id`).
    #[prost(string, tag = "2")]
    pub holder_id: String,
    /// When that replica started, Unix milliseconds (a restart with the same id is another holder).
    #[prost(int64, tag = "3")]
    pub holder_started_ms: i64,
    /// The stream's number on its replica, so that the end of an older stream does not remove a newer one's
    /// route.
    #[prost(uint64, tag = "4")]
    pub stream: u64,
    /// When the stream opened, Unix milliseconds.
    #[prost(int64, tag = "5")]
    pub opened_ms: i64,
}

impl ChannelRoute {
    /// The holder as claims name it (`cluster::Holder::key`: `id@started_ms`).
    pub fn holder_key(&self) -> String {
        format!("{}@{}", self.holder_id, self.holder_started_ms)
    }

    /// Whether this is the stream `stream` of the holder `holder_key`.
    pub fn is(&self, holder_key: &str, stream: u64) -> bool {
        self.stream == stream && self.holder_key() == holder_key
    }
}

/// The routes of open own-channel streams, one per device. Every method is one atomic step, durable on
/// return.
#[async_trait]
pub trait RouteRepository: Send + Sync {
    /// Sets the device's route to `route`, returning the one it replaced (a stream that may still be open
    /// on another replica, which the caller ends).
    async fn set_route(
        &self,
        app: &str,
        device: &str,
        route: &ChannelRoute,
    ) -> Result<Option<ChannelRoute>, StoreError>;
    /// Removes the device's route if it is still stream `stream` of `holder_key`; says whether it was.
    async fn end_route(
        &self,
        app: &str,
        device: &str,
        holder_key: &str,
        stream: u64,
    ) -> Result<bool, StoreError>;
    /// The routes of those of `devices` that have one, by device id.
    async fn routes(
        &self,
        app: &str,
        devices: &[String],
    ) -> Result<Vec<(String, ChannelRoute)>, StoreError>;
    /// Removes, in every app, the routes whose holder is none of `live` (holder keys) and that opened
    /// before `opened_before_ms` (a replica that joined since the caller's last look is not gone); returns
    /// how many.
    async fn remove_gone_routes(
        &self,
        live: &[String],
        opened_before_ms: i64,
    ) -> Result<u64, StoreError>;
}
