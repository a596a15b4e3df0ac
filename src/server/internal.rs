//! The internal listener (`cluster.internal_listen`): the calls between replicas of one deployment (the
//! own channel's relay), on a port of their own so that the public listener never serves them by accident.
//! No app token applies here; who may call it is the network's business until issue 22 authenticates it.

use std::net::SocketAddr;

use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::Server;

use super::ServerError;
use crate::{
    api::relay::RelayApi, channel::Channel, cluster::ClusterConfig,
    proto::cluster_v1::relay_service_server::RelayServiceServer,
};

/// The internal listener, bound before the replica joins so that it registers a reachable address.
pub(super) struct Bound {
    listener: TcpListener,
    /// Where the other replicas reach this one.
    pub address: Option<String>,
}

/// Binds `cluster.internal_listen` when set. The address registered for the others is
/// `cluster.internal_address`, else the bound address unless it is a wildcard (which names no host).
pub(super) async fn bind(config: &ClusterConfig) -> Result<Option<Bound>, ServerError> {
    let Some(listen) = config.internal_listen else {
        return Ok(None);
    };
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|source| ServerError::Io {
            what: format!("cannot listen for the other replicas on {listen}"),
            source,
        })?;
    let bound: SocketAddr = listener.local_addr().map_err(|source| ServerError::Io {
        what: "cannot read the internal listener's address".into(),
        source,
    })?;
    let address = match &config.internal_address {
        Some(address) => Some(with_port(address, bound.port())),
        None if bound.ip().is_unspecified() => {
            tracing::warn!(
                %bound,
                "cluster.internal_listen is a wildcard and cluster.internal_address is unset: the other \
                 replicas cannot reach this one, so pushes they accept for its devices wait in the inbox"
            );
            None
        }
        None => Some(bound.to_string()),
    };
    Ok(Some(Bound { listener, address }))
}

/// `address` as the others dial it: a host or IP without a port gets the listener's (a pod knows its IP
/// from the downward API, not the port beside it).
fn with_port(address: &str, port: u16) -> String {
    if let Ok(ip) = address.parse::<std::net::IpAddr>() {
        return SocketAddr::new(ip, port).to_string();
    }
    if address.contains(':') {
        address.to_owned()
    } else {
        format!("{address}:{port}")
    }
}

/// The internal listener while it serves.
pub(super) struct Serving {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

/// Serves the relay for `channel` on `bound`, each call bounded by `timeout`.
pub(super) fn serve(bound: Bound, channel: Channel, timeout: std::time::Duration) -> Serving {
    let (stop, stopped) = oneshot::channel::<()>();
    let server = Server::builder()
        .timeout(timeout)
        .add_service(RelayServiceServer::new(RelayApi::new(channel)))
        .serve_with_incoming_shutdown(TcpListenerStream::new(bound.listener), async {
            let _ = stopped.await;
        });
    let task = tokio::spawn(async move {
        if let Err(e) = server.await {
            tracing::error!(error = %e, "the internal listener failed; pushes relayed to this replica wait in the inbox");
        }
    });
    Serving { stop, task }
}

impl Serving {
    /// Stops taking calls and waits for the ones in flight (each is bounded by its timeout).
    pub(super) async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_without_a_port_gets_the_listeners() {
        assert_eq!(with_port("10.1.2.3", 7001), "10.1.2.3:7001");
        assert_eq!(with_port("fd00::7", 7001), "[fd00::7]:7001");
        assert_eq!(
            with_port("pushgate-0.pushgate", 7001),
            "pushgate-0.pushgate:7001"
        );
        assert_eq!(with_port("10.1.2.3:9000", 7001), "10.1.2.3:9000");
        assert_eq!(with_port("[fd00::7]:9000", 7001), "[fd00::7]:9000");
    }
}
