//! The send path for one user: plan (targets and the rules that decide before any delivery), then execute
//! (vendor lanes and the own channel, with the strategy's fallback).

use std::{sync::Arc, time::Duration};

use tracing::Instrument;

use super::progress::Progress;
use super::{DeviceOutcome, PushConfig};
use crate::{
    callback::EventLog,
    channel::{Channel, ChannelError},
    dispatch::Dispatch,
    notifier::Notifiers,
    proto::v1::{PushMessage, Strategy, Vendor},
    store::{BindingRecord, Store, StoreError},
};

/// A push to one user.
#[derive(Debug, Clone, PartialEq)]
pub struct UserPush {
    /// The app.
    pub app: String,
    /// The receiving user.
    pub user: String,
    /// The routing strategy.
    pub strategy: Strategy,
    /// The message as accepted (validated, not rendered); shared, since a task page sends one message to
    /// a thousand users.
    pub message: Arc<PushMessage>,
    /// Id of the push.
    pub message_id: String,
    /// When it was accepted, Unix milliseconds.
    pub accepted_ms: i64,
    /// The task that sends it; empty for PushService sends.
    pub task_id: String,
}

/// Why a push could not be planned at all (the store failed); per-device failures are outcomes instead.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The own channel failed.
    #[error(transparent)]
    Channel(#[from] ChannelError),
    /// The push's task ended without its outcomes (it panicked).
    #[error("the push failed: {0}")]
    Aborted(String),
}

/// What a [`Pusher`] is built from.
pub struct PusherParts {
    /// The store.
    pub store: Store,
    /// The vendor lanes.
    pub dispatch: Dispatch,
    /// Notifiers (to ban one whose credentials the vendor refuses).
    pub notifiers: Notifiers,
    /// The own channel.
    pub channel: Channel,
    /// The `[push]` settings.
    pub config: PushConfig,
    /// `devices.max_bindings_per_user`: one read gets all of a user's bindings.
    pub max_bindings_per_user: usize,
    /// Where every outcome is recorded.
    pub events: EventLog,
}

/// The send path: everything between an accepted push and the outcome of each device.
#[derive(Clone)]
pub struct Pusher {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) store: Store,
    pub(super) dispatch: Dispatch,
    pub(super) notifiers: Notifiers,
    pub(super) channel: Channel,
    pub(super) config: PushConfig,
    pub(super) max_bindings_per_user: usize,
    pub(super) events: EventLog,
}

impl Pusher {
    /// A send path over `store`, delivering through `dispatch` and `channel` and recording every outcome in
    /// `events`.
    pub fn new(parts: PusherParts) -> Self {
        let PusherParts {
            store,
            dispatch,
            notifiers,
            channel,
            config,
            max_bindings_per_user,
            events,
        } = parts;
        Self {
            inner: Arc::new(Inner {
                store,
                dispatch,
                notifiers,
                channel,
                config,
                max_bindings_per_user,
                events,
            }),
        }
    }

    /// The send path's settings.
    pub fn config(&self) -> &PushConfig {
        &self.inner.config
    }

    /// Plans and executes `push`; one outcome per target.
    pub async fn push_user(&self, push: UserPush) -> Result<Vec<DeviceOutcome>, PushError> {
        let planned = self.plan(push).await?;
        let progress = Progress::new(planned.len());
        self.execute(planned, &progress).await
    }

    /// Plans and executes `push`, waiting at most `wait` for its outcomes (SendSync's deadline): a target
    /// whose outcome is not known by then is answered ERROR, and its push goes on in the background.
    pub async fn push_within(
        &self,
        push: UserPush,
        wait: Duration,
    ) -> Result<Vec<DeviceOutcome>, PushError> {
        let planned = self.plan(push).await?;
        let progress = Progress::new(planned.len());
        let unfinished: Vec<_> = (0..planned.len()).map(|i| planned.unfinished(i)).collect();
        let pusher = self.clone();
        let running = {
            let progress = progress.clone();
            // Spawned: past the deadline the push goes on, and stays in the caller's trace.
            tokio::spawn(
                async move { pusher.execute(planned, &progress).await }
                    .instrument(tracing::Span::current()),
            )
        };
        match tokio::time::timeout(wait, running).await {
            Ok(Ok(outcomes)) => outcomes,
            Ok(Err(join)) => Err(PushError::Aborted(join.to_string())),
            Err(_) => Ok(progress
                .snapshot()
                .into_iter()
                .zip(unfinished)
                .map(|(known, fallback)| known.unwrap_or(fallback))
                .collect()),
        }
    }
}

/// The vendor a binding was made for.
pub(super) fn vendor_of(b: &BindingRecord) -> Vendor {
    Vendor::try_from(b.vendor).unwrap_or(Vendor::Unspecified)
}
