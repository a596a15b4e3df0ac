//! The own channel across replicas on one shared store. A device's stream lives on one replica, which
//! records a route to it (`store.routes`); a push accepted by another replica is written to the inbox there
//! and then relayed to the route's replica over the internal listener. A route is trusted only while its
//! replica's beat is fresh (`Membership::is_live`), so a dead replica's routes count for nothing even before
//! the sweeper removes them. On a store one process owns (sled) there is no routing: the hub is the truth.

use std::{collections::HashSet, sync::Arc};

use prost::Message;

use super::{Delivered, relay::Relay};
use crate::{
    clock::now_ms,
    cluster::Membership,
    proto::cluster_v1::{EndRequest, OfferRequest},
    store::{ChannelRoute, Store, StoreError},
};

/// Routes and relays of this replica.
pub(super) struct Routing {
    store: Store,
    membership: Membership,
    relay: Relay,
}

impl Routing {
    /// Routing over `store` when other replicas share it; `None` on a store of one process.
    pub(super) fn new(store: Store, membership: Membership) -> Option<Arc<Self>> {
        if !store.is_shared() {
            return None;
        }
        let relay = Relay::new(membership.relay_timeout());
        Some(Arc::new(Self {
            store,
            membership,
            relay,
        }))
    }

    /// Records that this replica holds stream `stream` of the device, and ends the stream the route named
    /// before if another live replica holds it (the device reconnected here; its old connection may linger
    /// there). The route is removed when the returned guard drops.
    pub(super) async fn open(
        &self,
        app: &str,
        user: &str,
        device: &str,
        stream: u64,
    ) -> Result<RouteGuard, StoreError> {
        let me = self.membership.holder();
        let route = ChannelRoute {
            user: user.to_owned(),
            holder_id: me.id.clone(),
            holder_started_ms: me.started_ms,
            stream,
            opened_ms: now_ms(),
        };
        let replaced = self.store.routes.set_route(app, device, &route).await?;
        if let Some(old) = replaced.filter(|old| !self.is_mine(old))
            && let Some(address) = self
                .membership
                .address_of(&old.holder_id, old.holder_started_ms)
        {
            let request = EndRequest {
                app: app.to_owned(),
                device_id: device.to_owned(),
                stream: old.stream,
            };
            if let Err(e) = self.relay.end(&address, request).await {
                tracing::debug!(error = %e, device, "cannot end the device's older stream on another replica");
            }
        }
        Ok(RouteGuard {
            store: self.store.clone(),
            app: app.to_owned(),
            device: device.to_owned(),
            holder_key: me.key(),
            stream,
        })
    }

    fn is_mine(&self, route: &ChannelRoute) -> bool {
        self.membership
            .is_me(&route.holder_id, route.holder_started_ms)
    }

    /// Hands `push` (already in the device's inbox, purged at `purge_at_ms`) to the device's stream on
    /// another replica, if the device has one there as `user`; whether it was queued there. Any failure
    /// leaves the push in the inbox, for the next Subscribe or the stream's next read of it.
    pub(super) async fn relay(
        &self,
        app: &str,
        user: &str,
        device: &str,
        push: Box<Delivered>,
        purge_at_ms: i64,
    ) -> bool {
        let found = match self.store.routes.routes(app, &[device.to_owned()]).await {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(error = %e, device, "cannot read the device's route; the push waits in its inbox");
                return false;
            }
        };
        let Some((_, route)) = found.into_iter().next() else {
            return false;
        };
        if route.user != user {
            return false;
        }
        if self.is_mine(&route) {
            // This replica's hub has no such stream: the route outlived it (its end could not be written).
            self.forget(app, device, route.stream).await;
            return false;
        }
        let Some(address) = self
            .membership
            .address_of(&route.holder_id, route.holder_started_ms)
        else {
            return false;
        };
        let previous = push.previous;
        let request = OfferRequest {
            app: app.to_owned(),
            entry: push.into_entry(user, device, purge_at_ms).encode_to_vec(),
            previous,
            stream: route.stream,
        };
        match self.relay.offer(&address, request).await {
            Ok(live) => live,
            Err(e) => {
                tracing::debug!(error = %e, device, "relay failed; the push waits in the inbox");
                false
            }
        }
    }

    /// Which of `devices` have a stream open as `user` on another live replica.
    pub(super) async fn online_elsewhere(
        &self,
        app: &str,
        user: &str,
        devices: &[String],
    ) -> Result<HashSet<String>, StoreError> {
        Ok(self
            .store
            .routes
            .routes(app, devices)
            .await?
            .into_iter()
            .filter(|(_, r)| {
                r.user == user
                    && !self.is_mine(r)
                    && self.membership.is_live(&r.holder_id, r.holder_started_ms)
            })
            .map(|(device, _)| device)
            .collect())
    }

    /// Removes this replica's route of stream `stream` of the device (a stream that is no longer here).
    pub(super) async fn forget(&self, app: &str, device: &str, stream: u64) {
        let key = self.membership.holder().key();
        if let Err(e) = self.store.routes.end_route(app, device, &key, stream).await {
            tracing::debug!(error = %e, device, "cannot remove a stale route");
        }
    }

    /// Removes the routes of replicas that are gone (every app); one replica does it at a time.
    pub(super) async fn sweep(&self) {
        let opened_before =
            now_ms() - i64::try_from(self.membership.lease().as_millis()).unwrap_or(i64::MAX);
        match self
            .store
            .routes
            .remove_gone_routes(&self.membership.live_holders(), opened_before)
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::debug!(removed = n, "routes of gone replicas removed"),
            Err(e) => tracing::warn!(error = %e, "cannot remove the routes of gone replicas"),
        }
    }
}

/// A stream's route, removed when the stream ends (the guard drops with the stream). The removal names the
/// stream, so it never removes the route of a newer stream of the device.
pub(super) struct RouteGuard {
    store: Store,
    app: String,
    device: String,
    holder_key: String,
    stream: u64,
}

impl Drop for RouteGuard {
    fn drop(&mut self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (store, app, device, key, stream) = (
            self.store.clone(),
            std::mem::take(&mut self.app),
            std::mem::take(&mut self.device),
            std::mem::take(&mut self.holder_key),
            self.stream,
        );
        // A route left behind (the store was away) is found stale by the next relay to it, and removed then.
        runtime.spawn(async move {
            if let Err(e) = store.routes.end_route(&app, &device, &key, stream).await {
                tracing::debug!(error = %e, device, "cannot remove an ended stream's route");
            }
        });
    }
}
