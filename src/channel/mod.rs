//! pushgate's own push channel: the registry of online devices, their durable offline inboxes, and acks.
//!
//! The send path calls [`Channel::deliver`] for each device a push is routed to over the own channel; the
//! push is written to the device's inbox first and then handed to its open stream, so a crash or a dropped
//! connection never loses it: it is replayed on the next Subscribe until it is acked or expires.

mod config;
pub use config::ChannelConfig;

mod ack;
mod hub;
mod relay;
mod routing;
mod subscribe;
mod sweeper;

use std::{collections::HashSet, sync::Arc, time::Duration};

use tokio::sync::watch;

pub use ack::AckKind;
pub use relay::RelayError;
pub use subscribe::{StreamItem, Subscription};

use crate::{
    clock::now_ms,
    cluster::{Leases, Membership},
    proto::v1::PushMessage,
    store::{AckSubject, InboxEntry, Store, StoreError},
    tenant::check_user_id,
    validate::Violations,
};
use hub::{End, Hub};
use routing::Routing;
use subscribe::Session;

/// Longest device id on the own channel.
const MAX_DEVICE_ID: usize = 64;
/// Stripes of the per-device ordering locks.
const ORDER_STRIPES: usize = 64;
/// Shortest keepalive and sweep intervals honoured, so a mistaken `0` cannot make a busy loop.
const MIN_INTERVAL: Duration = Duration::from_millis(10);

/// Why an own-channel operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// The request breaks a rule.
    #[error("invalid request: {0}")]
    Invalid(Violations),
    /// The push had expired before it could be kept (send time plus retention, or its TTL, has passed).
    #[error("push {message_id} expired before it reached the own channel")]
    Expired {
        /// The push.
        message_id: String,
    },
    /// A newer Subscribe for the same device ended this stream.
    #[error("a newer Subscribe for this device replaced this stream")]
    Replaced,
    /// The client read its stream too slowly; it was cut off.
    #[error(
        "the client reads too slowly: {buffer} live pushes were waiting for it, so the stream was ended; \
         its pushes stay in the inbox, subscribe again to receive them"
    )]
    TooSlow {
        /// The per-stream queue size that was exceeded.
        buffer: usize,
    },
    /// The server is shutting down.
    #[error("the server is shutting down; subscribe again")]
    ShuttingDown,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A push for one device, as the send path hands it over.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelPush {
    /// Id of the push.
    pub message_id: String,
    /// The push, already rendered for the own channel by the caller.
    pub message: PushMessage,
    /// When the push was sent, Unix milliseconds.
    pub send_time_ms: i64,
    /// When the push expires (from its TTL), Unix milliseconds; `None`: the inbox retention only.
    pub expire_ms: Option<i64>,
    /// Id of the task that sent the push; empty for single sends.
    pub task_id: String,
}

/// Where a delivered push went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// Position of the push in the device's stream.
    pub position: u64,
    /// Whether it was handed to an open stream (it is in the inbox either way until acked). A repeated
    /// delivery of the same push to the same device and user is not stored or sent again: it returns the
    /// first position and `false`.
    pub live: bool,
}

/// Ack counters of a message id or a task id.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AckCounts {
    /// Devices that acknowledged delivery (a click counts as one too), each once.
    pub delivered: u64,
    /// Devices whose user tapped the notification, each once.
    pub clicked: u64,
}

/// A push as a device receives it.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivered {
    /// Id of the push.
    pub message_id: String,
    /// Position in the device's stream.
    pub position: u64,
    /// The push.
    pub message: Option<PushMessage>,
    /// When it was sent, Unix milliseconds.
    pub send_time_ms: i64,
    /// When it expires on the device, Unix milliseconds.
    pub expire_ms: Option<i64>,
    /// Whether it comes from the inbox replay.
    pub from_inbox: bool,
    /// Id of the task that sent it.
    pub task_id: String,
    /// The device's newest inbox position before this push when it was stored (0 for a replayed one): a
    /// stream that has not handled every position up to it reads the inbox first, so that a push relayed
    /// from another replica cannot overtake an earlier one.
    pub previous: u64,
}

impl Delivered {
    fn from_entry(entry: InboxEntry, from_inbox: bool) -> Self {
        Self {
            previous: 0,
            message_id: entry.message_id,
            position: entry.position,
            message: entry.message,
            send_time_ms: entry.send_time_ms,
            expire_ms: entry.expire_ms,
            from_inbox,
            task_id: entry.task_id,
        }
    }

    /// The inbox entry this push came from, for the device and user it went to.
    fn into_entry(self, user: &str, device_id: &str, purge_at_ms: i64) -> InboxEntry {
        InboxEntry {
            position: self.position,
            user: user.to_owned(),
            device_id: device_id.to_owned(),
            message_id: self.message_id,
            message: self.message,
            send_time_ms: self.send_time_ms,
            expire_ms: self.expire_ms,
            purge_at_ms,
            task_id: self.task_id,
        }
    }
}

/// The own channel of one server; cheap to clone.
#[derive(Clone)]
pub struct Channel {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    /// This replica's leases: one replica sweeps the inboxes at a time.
    leases: Leases,
    /// Routes and relays to the other replicas; `None` on a store one process owns.
    routing: Option<Arc<Routing>>,
    hub: Arc<Hub>,
    retention: Duration,
    keepalive: Duration,
    max_inbox_per_device: usize,
    /// Serialise store-then-hand-off per device, so a device's live pushes arrive in position order (a
    /// client that resumes after its last processed position must not skip an earlier one still queued).
    order: Box<[tokio::sync::Mutex<()>]>,
    /// Tells the sweeper to stop; dropped with the last clone, which stops it too.
    stop: watch::Sender<bool>,
}

/// The device id rule of the own channel: DeviceService's alphabet, at most 64 characters.
pub fn check_device_id(id: &str) -> Result<(), String> {
    crate::devices::check_device_id_chars(id, MAX_DEVICE_ID)
}

impl Channel {
    /// The own channel of this replica over `store`; spawns the expiry sweeper on the current Tokio
    /// runtime (it stops on [`Channel::shutdown`] or when the last clone is dropped).
    pub fn new(store: Store, config: ChannelConfig, membership: &Membership) -> Self {
        let (stop, stopped) = watch::channel(false);
        let inner = Arc::new(Inner {
            routing: Routing::new(store.clone(), membership.clone()),
            store,
            leases: membership.leases(),
            hub: Hub::new(config.stream_buffer),
            retention: config.inbox_retention,
            keepalive: config.keepalive_interval.max(MIN_INTERVAL),
            max_inbox_per_device: config.max_inbox_per_device.max(1),
            order: (0..ORDER_STRIPES)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
            stop,
        });
        sweeper::spawn(
            Arc::downgrade(&inner),
            stopped,
            config.sweep_interval.max(MIN_INTERVAL),
        );
        Self { inner }
    }

    /// Whether the device has an open Subscribe stream now.
    pub fn is_online(&self, app: &str, device_id: &str) -> bool {
        self.inner.hub.is_online(app, device_id)
    }

    /// Which of `devices` have an open Subscribe stream as `user` now, on this replica or another live one.
    pub async fn online_as(
        &self,
        app: &str,
        user: &str,
        devices: &[String],
    ) -> Result<HashSet<String>, ChannelError> {
        let (online, elsewhere): (Vec<String>, Vec<String>) = devices
            .iter()
            .cloned()
            .partition(|d| self.inner.hub.is_online_as(app, d, user));
        let mut online: HashSet<String> = online.into_iter().collect();
        if let Some(routing) = &self.inner.routing
            && !elsewhere.is_empty()
        {
            online.extend(routing.online_elsewhere(app, user, &elsewhere).await?);
        }
        Ok(online)
    }

    /// The devices that subscribed as `user` and were not removed with the user, by id.
    pub async fn devices(&self, app: &str, user: &str) -> Result<Vec<String>, ChannelError> {
        Ok(self.inner.store.inbox.channel_devices(app, user).await?)
    }

    /// Writes `push` to the device's inbox, then hands it to the device's open stream if it is subscribed as
    /// `user`. A push already expired is [`ChannelError::Expired`] and is not kept.
    pub async fn deliver(
        &self,
        app: &str,
        user: &str,
        device_id: &str,
        push: ChannelPush,
    ) -> Result<Delivery, ChannelError> {
        let mut v = Violations::new();
        v.check("user", check_user_id(user));
        v.check("device_id", check_device_id(device_id));
        if push.message_id.is_empty() {
            v.add("message_id", "is required");
        }
        v.into_result().map_err(ChannelError::Invalid)?;
        let retention_ms = i64::try_from(self.inner.retention.as_millis()).unwrap_or(i64::MAX);
        let kept_until = push.send_time_ms.saturating_add(retention_ms);
        let purge_at_ms = push.expire_ms.map_or(kept_until, |e| e.min(kept_until));
        if purge_at_ms <= now_ms() {
            return Err(ChannelError::Expired {
                message_id: push.message_id,
            });
        }
        let entry = InboxEntry {
            position: 0,
            user: user.to_owned(),
            device_id: device_id.to_owned(),
            message_id: push.message_id,
            message: Some(push.message),
            send_time_ms: push.send_time_ms,
            expire_ms: push.expire_ms,
            purge_at_ms,
            task_id: push.task_id,
        };
        let _order = self.inner.order_lock(app, device_id).await;
        let appended = self
            .inner
            .store
            .inbox
            .append(app, &entry, self.inner.max_inbox_per_device)
            .await?;
        crate::telemetry::metrics::metrics()
            .inbox_size
            .record(appended.size, &[]);
        if appended.evicted > 0 {
            tracing::debug!(
                app,
                device_id,
                evicted = appended.evicted,
                "inbox full: oldest pushes dropped"
            );
        }
        if appended.duplicate {
            return Ok(Delivery {
                position: appended.position,
                live: false,
            });
        }
        let delivered = Box::new(Delivered {
            previous: appended.previous,
            ..Delivered::from_entry(
                InboxEntry {
                    position: appended.position,
                    ..entry
                },
                false,
            )
        });
        let live = match self.inner.hub.offer(app, device_id, user, None, delivered) {
            Ok(live) => live,
            Err(push) => match &self.inner.routing {
                Some(routing) => {
                    // The order lock is this process's: a relayed push is put in order by the receiving
                    // stream (`Delivered::previous`), and holding the stripe through a network call would
                    // make the devices sharing it wait.
                    drop(_order);
                    routing.relay(app, user, device_id, push, purge_at_ms).await
                }
                None => false,
            },
        };
        Ok(Delivery {
            position: appended.position,
            live,
        })
    }

    /// Opens a device's stream as `user`: records the device durably, registers it (ending its older
    /// stream), then replays its inbox after `since` before live pushes.
    pub async fn subscribe(
        &self,
        app: &str,
        user: &str,
        device_id: &str,
        since: u64,
    ) -> Result<Subscription, ChannelError> {
        check_device_id(device_id)
            .map_err(|e| ChannelError::Invalid(Violations::single("device_id", e)))?;
        self.inner
            .store
            .inbox
            .record_channel_device(app, user, device_id, now_ms())
            .await?;
        let registration = self
            .inner
            .hub
            .register(app, device_id, user)
            .ok_or(ChannelError::ShuttingDown)?;
        // Routed before the replay reads the inbox: a push another replica stores from here on is relayed
        // here, one stored before is replayed.
        let route = match &self.inner.routing {
            Some(routing) => Some(
                routing
                    .open(app, user, device_id, registration.stream())
                    .await?,
            ),
            None => None,
        };
        Ok(Session::new(
            self.inner.clone(),
            app,
            user,
            device_id,
            since,
            registration,
            route,
        )
        .into_stream())
    }

    /// Hands a push another replica stored (`entry`, encoded as the store keeps it) to this replica's
    /// stream number `stream`; whether it was queued. A stream that is gone removes its route, so the
    /// others stop relaying to it.
    pub async fn take_relayed(
        &self,
        app: &str,
        entry: &[u8],
        previous: u64,
        stream: u64,
    ) -> Result<bool, ChannelError> {
        use prost::Message;
        let entry = InboxEntry::decode(entry).map_err(|e| {
            ChannelError::Invalid(Violations::single(
                "entry",
                format!("is not an inbox entry: {e}"),
            ))
        })?;
        let (user, device) = (entry.user.clone(), entry.device_id.clone());
        let push = Box::new(Delivered {
            previous,
            ..Delivered::from_entry(entry, false)
        });
        match self
            .inner
            .hub
            .offer(app, &device, &user, Some(stream), push)
        {
            Ok(live) => Ok(live),
            Err(_) => {
                if let Some(routing) = &self.inner.routing {
                    routing.forget(app, &device, stream).await;
                }
                Ok(false)
            }
        }
    }

    /// Ends this replica's stream number `stream` of the device, which a newer Subscribe on another
    /// replica replaced; whether it was open.
    pub fn end_replaced(&self, app: &str, device_id: &str, stream: u64) -> bool {
        self.inner
            .hub
            .end_stream(app, device_id, stream, End::Replaced)
    }

    /// Removes everything of a user on the own channel (inbox entries, receipts, device records); returns
    /// how many inbox entries.
    pub async fn delete_user(&self, app: &str, user: &str) -> Result<u64, ChannelError> {
        Ok(self.inner.store.inbox.delete_user_inbox(app, user).await?)
    }

    /// The ack counters of one message id.
    pub async fn ack_counts(&self, app: &str, message_id: &str) -> Result<AckCounts, ChannelError> {
        self.counts(app, AckSubject::Message(message_id)).await
    }

    /// The ack counters of one task id (over the pushes whose inbox entry named it).
    pub async fn task_ack_counts(
        &self,
        app: &str,
        task_id: &str,
    ) -> Result<AckCounts, ChannelError> {
        self.counts(app, AckSubject::Task(task_id)).await
    }

    async fn counts(&self, app: &str, subject: AckSubject<'_>) -> Result<AckCounts, ChannelError> {
        let r = self.inner.store.inbox.ack_counts(app, subject).await?;
        Ok(AckCounts {
            delivered: r.delivered,
            clicked: r.clicked,
        })
    }

    /// Ends every open stream with [`ChannelError::ShuttingDown`], refuses new ones and stops the sweeper.
    pub fn shutdown(&self) {
        self.inner.hub.close();
        let _ = self.inner.stop.send(true);
    }

    /// Open streams.
    pub fn online_count(&self) -> usize {
        self.inner.hub.open_streams()
    }
}

impl Inner {
    async fn order_lock(&self, app: &str, device: &str) -> tokio::sync::MutexGuard<'_, ()> {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (app, device).hash(&mut hasher);
        let stripe = (hasher.finish() % self.order.len() as u64) as usize;
        self.order[stripe].lock().await
    }
}

#[cfg(test)]
mod tests;
