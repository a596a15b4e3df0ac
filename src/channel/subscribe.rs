//! One Subscribe stream: the inbox replay, the end-of-replay marker, then live pushes and keepalives.
//!
//! The stream is pulled by the transport, so it does its work only as fast as the client reads: the replay
//! reads the inbox a page at a time, and live pushes wait in the hub's bounded queue. Dropping the stream
//! (the client went away) drops its registration, which ends the device's presence.

use std::{collections::VecDeque, pin::Pin, sync::Arc, time::Duration};

use futures::Stream;

use super::{
    ChannelError, Delivered, Inner,
    hub::{End, Registration},
    routing::RouteGuard,
};
use crate::{clock::now_ms, store::InboxEntry};

/// Inbox entries read per store call during the replay.
const REPLAY_PAGE: usize = 64;

/// One item of a Subscribe stream.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamItem {
    /// A push, replayed or live (boxed: a push is large next to the other items).
    Message(Box<Delivered>),
    /// The replay has ended.
    ReplayComplete {
        /// Pushes the replay delivered.
        replayed: u32,
    },
    /// The stream was idle for the keepalive interval.
    Keepalive {
        /// The server's clock, Unix milliseconds.
        server_time_ms: i64,
    },
}

/// A Subscribe stream; it ends with an error when the server ends it, and never on its own otherwise.
pub type Subscription = Pin<Box<dyn Stream<Item = Result<StreamItem, ChannelError>> + Send>>;

enum Phase {
    Replay,
    Live,
    Done,
}

/// The state of one stream between pulls.
pub(super) struct Session {
    inner: Arc<Inner>,
    app: String,
    user: String,
    device: String,
    registration: Registration,
    /// The stream's route, on a store other replicas share; removed when the session drops.
    _route: Option<RouteGuard>,
    phase: Phase,
    /// Every position up to this one has been handled: sent, or looked at and skipped (another user's, an
    /// expired one), or below the client's `since`. A live push at or below it was sent already.
    seen: u64,
    /// Entries read from the inbox and not yet handled: the replay's page, or a gap a live push revealed.
    page: VecDeque<InboxEntry>,
    inbox_exhausted: bool,
    replayed: u32,
    keepalive: Duration,
}

impl Session {
    /// A session that replays the device's inbox after `since`; `registration` must be taken before, so a
    /// push stored during the replay is either replayed or queued live.
    pub(super) fn new(
        inner: Arc<Inner>,
        app: &str,
        user: &str,
        device: &str,
        since: u64,
        registration: Registration,
        route: Option<RouteGuard>,
    ) -> Self {
        let keepalive = inner.keepalive;
        Self {
            inner,
            app: app.to_owned(),
            user: user.to_owned(),
            device: device.to_owned(),
            registration,
            _route: route,
            phase: Phase::Replay,
            seen: since,
            page: VecDeque::new(),
            inbox_exhausted: false,
            replayed: 0,
            keepalive,
        }
    }

    /// The stream of this session.
    pub(super) fn into_stream(self) -> Subscription {
        Box::pin(futures::stream::unfold(self, |mut session| async move {
            let item = session.next().await?;
            Some((item, session))
        }))
    }

    fn ended(&mut self, end: End) -> Option<Result<StreamItem, ChannelError>> {
        self.phase = Phase::Done;
        Some(Err(match end {
            End::Replaced => ChannelError::Replaced,
            End::TooSlow => ChannelError::TooSlow {
                buffer: self.inner.hub.buffer(),
            },
            End::Shutdown => ChannelError::ShuttingDown,
        }))
    }

    async fn next(&mut self) -> Option<Result<StreamItem, ChannelError>> {
        loop {
            if matches!(self.phase, Phase::Done) {
                return None;
            }
            if let Some(end) = self.registration.ending.get().copied() {
                return self.ended(end);
            }
            match self.phase {
                Phase::Replay => {
                    if let Some(item) = self.replay_step().await {
                        return Some(item);
                    }
                }
                Phase::Live => {
                    if let Some(entry) = self.page.pop_front() {
                        if let Some(push) = self.take(entry) {
                            return Some(Ok(StreamItem::Message(Box::new(Delivered::from_entry(
                                push, false,
                            )))));
                        }
                        continue;
                    }
                    let received =
                        tokio::time::timeout(self.keepalive, self.registration.rx.recv()).await;
                    match received {
                        Err(_idle) => {
                            return Some(Ok(StreamItem::Keepalive {
                                server_time_ms: now_ms(),
                            }));
                        }
                        // The hub dropped the sender: it set the reason first.
                        Ok(None) => {
                            let end = self
                                .registration
                                .ending
                                .get()
                                .copied()
                                .unwrap_or(End::Shutdown);
                            return self.ended(end);
                        }
                        // Handled already: replayed, or read with a gap.
                        Ok(Some(push)) if push.position <= self.seen => continue,
                        // An entry before it is not handled yet (a push relayed from another replica
                        // overtook it, or it is another user's): read the inbox up to this push, in order.
                        Ok(Some(push)) if push.previous > self.seen => {
                            if let Err(e) = self.read_gap(push.position).await {
                                self.phase = Phase::Done;
                                return Some(Err(e));
                            }
                        }
                        Ok(Some(push)) => {
                            if let Some(end) = self.registration.ending.get().copied() {
                                return self.ended(end);
                            }
                            self.seen = push.position;
                            return Some(Ok(StreamItem::Message(push)));
                        }
                    }
                }
                Phase::Done => return None,
            }
        }
    }

    /// Marks `entry` handled; the entry itself when this stream sends it (this user's, unexpired, not sent
    /// before).
    fn take(&mut self, entry: InboxEntry) -> Option<InboxEntry> {
        if entry.position <= self.seen {
            return None;
        }
        self.seen = entry.position;
        // A device id may have moved between users: another user's pushes wait for that user.
        (entry.user == self.user && entry.purge_at_ms > now_ms()).then_some(entry)
    }

    /// One step of the replay: an item to send, or `None` to look again (a page was read, or an entry
    /// skipped).
    async fn replay_step(&mut self) -> Option<Result<StreamItem, ChannelError>> {
        if let Some(entry) = self.page.pop_front() {
            let entry = self.take(entry)?;
            self.replayed = self.replayed.saturating_add(1);
            return Some(Ok(StreamItem::Message(Box::new(Delivered::from_entry(
                entry, true,
            )))));
        }
        if self.inbox_exhausted {
            self.phase = Phase::Live;
            return Some(Ok(StreamItem::ReplayComplete {
                replayed: self.replayed,
            }));
        }
        match self
            .inner
            .store
            .inbox
            .inbox_page(&self.app, &self.device, self.seen, REPLAY_PAGE)
            .await
        {
            Ok(page) => {
                self.inbox_exhausted = page.len() < REPLAY_PAGE;
                self.page = page.into();
                None
            }
            Err(e) => {
                self.phase = Phase::Done;
                Some(Err(e.into()))
            }
        }
    }

    /// Reads the inbox after what this stream handled, up to and including `position` (a live push's), into
    /// the page to send from. The push was stored before it was offered, so the read reaches it unless it
    /// left the inbox meanwhile (acked, evicted), and then it is not sent.
    async fn read_gap(&mut self, position: u64) -> Result<(), ChannelError> {
        let mut after = self.seen;
        loop {
            let page = self
                .inner
                .store
                .inbox
                .inbox_page(&self.app, &self.device, after, REPLAY_PAGE)
                .await?;
            let short = page.len() < REPLAY_PAGE;
            after = page.last().map_or(after, |e| e.position);
            self.page.extend(page);
            if short || after >= position {
                return Ok(());
            }
        }
    }
}
