//! `ChannelService`: a device's own-channel stream and its acks, called with a user token.

use std::pin::Pin;

use futures::{Stream, StreamExt};
use tonic::{Request, Response, Status};

use crate::{
    api::auth_layer::user_of,
    channel::{AckKind, Channel, Delivered, StreamItem},
    clock::timestamp,
    proto::v1::{
        AckKind as ProtoAckKind, AckRequest, AckResponse, ChannelKeepalive, ChannelMessage,
        ReplayComplete, SubscribeRequest, SubscribeResponse,
        channel_service_server::ChannelService, subscribe_response::Item,
    },
};

/// The `ChannelService` implementation.
pub struct ChannelApi {
    channel: Channel,
}

impl ChannelApi {
    /// Serves `channel`.
    pub fn new(channel: Channel) -> Self {
        Self { channel }
    }
}

fn message(d: Delivered) -> ChannelMessage {
    ChannelMessage {
        message_id: d.message_id,
        position: d.position,
        message: d.message,
        send_time: Some(timestamp(d.send_time_ms)),
        expire_time: d.expire_ms.map(timestamp),
        from_inbox: d.from_inbox,
        task_id: d.task_id,
    }
}

fn response(item: StreamItem) -> SubscribeResponse {
    let item = match item {
        StreamItem::Message(d) => Item::Message(message(*d)),
        StreamItem::ReplayComplete { replayed } => Item::ReplayComplete(ReplayComplete {
            replayed_count: replayed,
        }),
        StreamItem::Keepalive { server_time_ms } => Item::Keepalive(ChannelKeepalive {
            server_time: Some(timestamp(server_time_ms)),
        }),
    };
    SubscribeResponse { item: Some(item) }
}

#[tonic::async_trait]
impl ChannelService for ChannelApi {
    type SubscribeStream = Pin<Box<dyn Stream<Item = Result<SubscribeResponse, Status>> + Send>>;

    async fn subscribe(
        &self,
        request: Request<SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let (app, user) = user_of(&request)?;
        let r = request.into_inner();
        let stream = self
            .channel
            .subscribe(&app, &user, &r.device_id, r.since)
            .await?;
        tracing::debug!(%app, %user, device_id = %r.device_id, since = r.since, "own-channel stream opened");
        Ok(Response::new(Box::pin(
            stream.map(|item| item.map(response).map_err(Status::from)),
        )))
    }

    async fn ack(&self, request: Request<AckRequest>) -> Result<Response<AckResponse>, Status> {
        let (app, user) = user_of(&request)?;
        let r = request.into_inner();
        // An unknown number reads as unspecified: both are refused with a field violation.
        let kind = match ProtoAckKind::try_from(r.kind) {
            Ok(ProtoAckKind::Delivered) => Some(AckKind::Delivered),
            Ok(ProtoAckKind::Clicked) => Some(AckKind::Clicked),
            Ok(ProtoAckKind::Unspecified) | Err(_) => None,
        };
        let unknown_message_ids = self
            .channel
            .ack(&app, &user, &r.device_id, &r.message_ids, kind)
            .await?;
        Ok(Response::new(AckResponse {
            unknown_message_ids,
        }))
    }
}
