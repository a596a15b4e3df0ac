//! `pushgate.cluster.v1.RelayService`: the calls other replicas make to this one, served on the internal listener
//! only (`server/internal.rs`). A relayed push was written to the device's inbox by the replica that
//! accepted it; this side only hands it to the stream, so a refused or failed call loses nothing.

use tonic::{Request, Response, Status};

use crate::{
    channel::Channel,
    proto::cluster_v1::{
        EndRequest, EndResponse, OfferRequest, OfferResponse, relay_service_server::RelayService,
    },
};

/// The `RelayService` implementation.
pub struct RelayApi {
    channel: Channel,
}

impl RelayApi {
    /// Serves `channel`'s streams to the other replicas.
    pub fn new(channel: Channel) -> Self {
        Self { channel }
    }
}

#[tonic::async_trait]
impl RelayService for RelayApi {
    async fn offer(
        &self,
        request: Request<OfferRequest>,
    ) -> Result<Response<OfferResponse>, Status> {
        let r = request.into_inner();
        let live = self
            .channel
            .take_relayed(&r.app, &r.entry, r.previous, r.stream)
            .await?;
        Ok(Response::new(OfferResponse { live }))
    }

    async fn end(&self, request: Request<EndRequest>) -> Result<Response<EndResponse>, Status> {
        let r = request.into_inner();
        let ended = self.channel.end_replaced(&r.app, &r.device_id, r.stream);
        Ok(Response::new(EndResponse { ended }))
    }
}
