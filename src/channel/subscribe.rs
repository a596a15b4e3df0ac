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
    phase: Phase,
    /// Position of the last inbox entry the replay has looked at.
    cursor: u64,
    page: VecDeque<InboxEntry>,
    inbox_exhausted: bool,
    replayed: u32,
    /// Position of the last push the replay sent; a live copy at or below it was sent already.
    last_replayed: u64,
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
    ) -> Self {
        let keepalive = inner.keepalive;
        Self {
            inner,
            app: app.to_owned(),
            user: user.to_owned(),
            device: device.to_owned(),
            registration,
            phase: Phase::Replay,
            cursor: since,
            page: VecDeque::new(),
            inbox_exhausted: false,
            replayed: 0,
            last_replayed: 0,
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
                        // Stored before the replay read past it, so the replay sent it already.
                        Ok(Some(push)) if push.position <= self.last_replayed => continue,
                        Ok(Some(push)) => {
                            if let Some(end) = self.registration.ending.get().copied() {
                                return self.ended(end);
                            }
                            return Some(Ok(StreamItem::Message(push)));
                        }
                    }
                }
                Phase::Done => return None,
            }
        }
    }

    /// One step of the replay: an item to send, or `None` to look again (a page was read, or an entry
    /// skipped).
    async fn replay_step(&mut self) -> Option<Result<StreamItem, ChannelError>> {
        if let Some(entry) = self.page.pop_front() {
            self.cursor = entry.position;
            // A device id may have moved between users: another user's pushes wait for that user.
            if entry.user != self.user || entry.purge_at_ms <= now_ms() {
                return None;
            }
            self.replayed = self.replayed.saturating_add(1);
            self.last_replayed = entry.position;
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
            .inbox_page(&self.app, &self.device, self.cursor, REPLAY_PAGE)
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
}
