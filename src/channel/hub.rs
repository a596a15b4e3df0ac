//! The registry of open Subscribe streams: at most one per device, each with a bounded queue of live pushes.
//!
//! Presence is an entry here: it exists from the moment a stream registers until the stream ends (the client
//! cancels, a newer Subscribe replaces it, it falls too far behind, the server shuts down). Nothing here
//! waits: a push is offered with `try_send`, and a full queue cuts the stream off instead of growing.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
};

use tokio::sync::mpsc::{self, error::TrySendError};

use super::Delivered;

/// Why the server ended a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// A newer Subscribe for the same device took over.
    Replaced,
    /// The client let its queue of live pushes fill up.
    TooSlow,
    /// The server is shutting down.
    Shutdown,
}

/// The first reason a stream was ended for; later ones do not overwrite it.
pub type Ending = Arc<OnceLock<End>>;

struct Conn {
    id: u64,
    user: String,
    tx: mpsc::Sender<Box<Delivered>>,
    ending: Ending,
}

/// The open streams of this server.
pub struct Hub {
    conns: Mutex<HashMap<String, Conn>>,
    next_id: AtomicU64,
    closed: AtomicBool,
    buffer: usize,
}

/// A stream's place in the hub: its queue of live pushes and why it was ended. Dropping it ends the
/// device's presence (unless a newer stream has taken the place already).
pub struct Registration {
    hub: Arc<Hub>,
    key: String,
    id: u64,
    /// Live pushes for the stream, in the order they were offered.
    pub rx: mpsc::Receiver<Box<Delivered>>,
    /// Set before the queue's sender is dropped when the server ends the stream.
    pub ending: Ending,
}

impl Registration {
    /// The stream's number in this hub (unique while the process runs).
    pub fn stream(&self) -> u64 {
        self.id
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.hub.with_conns(|conns| {
            if conns.get(&self.key).is_some_and(|c| c.id == self.id) {
                conns.remove(&self.key);
            }
        });
        // Counted out once it is no longer routed to: a stream the gauge no longer shows gets no live push.
        crate::telemetry::metrics::metrics()
            .channel_streams
            .add(-1, &[]);
    }
}

fn key(app: &str, device: &str) -> String {
    // App names and device ids cannot contain NUL, so the pair is unambiguous.
    format!("{app}\0{device}")
}

/// Marks a connection ended; dropping it (the caller does) drops its sender, which wakes its stream.
fn end(conn: Conn, why: End) {
    let _ = conn.ending.set(why);
}

impl Hub {
    /// A hub whose streams queue at most `buffer` live pushes each (at least one).
    pub fn new(buffer: usize) -> Arc<Self> {
        Arc::new(Self {
            conns: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            closed: AtomicBool::new(false),
            buffer: buffer.max(1),
        })
    }

    /// The per-stream queue size.
    pub fn buffer(&self) -> usize {
        self.buffer
    }

    fn with_conns<R>(&self, f: impl FnOnce(&mut HashMap<String, Conn>) -> R) -> R {
        // A panic while the map was held leaves it consistent (every change is one insert or remove), so a
        // poisoned lock is used as it is rather than taking presence down for good.
        let mut conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut conns)
    }

    /// Registers a stream for a device, ending the device's older stream with [`End::Replaced`]. `None` once
    /// the hub is closed.
    pub fn register(self: &Arc<Self>, app: &str, device: &str, user: &str) -> Option<Registration> {
        if self.closed.load(Ordering::Acquire) {
            return None;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(self.buffer);
        let ending = Ending::default();
        let key = key(app, device);
        let conn = Conn {
            id,
            user: user.to_owned(),
            tx,
            ending: ending.clone(),
        };
        let older = self.with_conns(|conns| conns.insert(key.clone(), conn));
        if let Some(older) = older {
            end(older, End::Replaced);
        }
        // A close that raced this registration may have missed it: end it here instead.
        if self.closed.load(Ordering::Acquire) {
            self.with_conns(|conns| conns.remove(&key))
                .into_iter()
                .for_each(|c| end(c, End::Shutdown));
        }
        // Counted while the registration lives: its drop is the stream's end, whatever ended it.
        crate::telemetry::metrics::metrics()
            .channel_streams
            .add(1, &[]);
        Some(Registration {
            hub: self.clone(),
            key,
            id,
            rx,
            ending,
        })
    }

    /// Hands a push to the device's stream if one is open for `user`: `Ok(true)` when queued, `Ok(false)`
    /// when the stream is another user's or its queue was full (which ends it with [`End::TooSlow`]), and
    /// the push back when no stream of the device is open here (`stream`: none with that number), for the
    /// caller to relay.
    pub fn offer(
        &self,
        app: &str,
        device: &str,
        user: &str,
        stream: Option<u64>,
        push: Box<Delivered>,
    ) -> Result<bool, Box<Delivered>> {
        let key = key(app, device);
        self.with_conns(|conns| {
            let Some(conn) = conns.get(&key).filter(|c| stream.is_none_or(|s| s == c.id)) else {
                return Err(push);
            };
            // The device is subscribed as another user: this user's push waits for them in the inbox.
            if conn.user != user {
                return Ok(false);
            }
            match conn.tx.try_send(push) {
                Ok(()) => Ok(true),
                Err(TrySendError::Full(_)) => {
                    if let Some(conn) = conns.remove(&key) {
                        tracing::info!(
                            device,
                            buffer = self.buffer,
                            "own-channel stream cut off: its client reads too slowly"
                        );
                        end(conn, End::TooSlow);
                    }
                    Ok(false)
                }
                Err(TrySendError::Closed(push)) => {
                    conns.remove(&key);
                    Err(push)
                }
            }
        })
    }

    /// Ends the device's stream number `stream` with `why`, if it is open here; says whether it was.
    pub fn end_stream(&self, app: &str, device: &str, stream: u64, why: End) -> bool {
        let key = key(app, device);
        let conn = self.with_conns(|conns| {
            if conns.get(&key).is_some_and(|c| c.id == stream) {
                conns.remove(&key)
            } else {
                None
            }
        });
        conn.map(|c| end(c, why)).is_some()
    }

    /// Whether the device has an open stream.
    pub fn is_online(&self, app: &str, device: &str) -> bool {
        let key = key(app, device);
        self.with_conns(|conns| conns.contains_key(&key))
    }

    /// Whether the device has an open stream subscribed as `user`.
    pub fn is_online_as(&self, app: &str, device: &str, user: &str) -> bool {
        let key = key(app, device);
        self.with_conns(|conns| conns.get(&key).is_some_and(|c| c.user == user))
    }

    /// Ends every stream with [`End::Shutdown`] and refuses new ones.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        let all: Vec<Conn> = self.with_conns(|conns| conns.drain().map(|(_, c)| c).collect());
        for conn in all {
            end(conn, End::Shutdown);
        }
    }

    /// Open streams.
    pub fn open_streams(&self) -> usize {
        self.with_conns(|conns| conns.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(position: u64) -> Box<Delivered> {
        Box::new(Delivered {
            message_id: format!("m{position}"),
            position,
            message: None,
            send_time_ms: 0,
            expire_ms: None,
            from_inbox: false,
            task_id: String::new(),
            previous: 0,
        })
    }

    #[test]
    fn presence_lasts_as_long_as_the_registration() {
        let hub = Hub::new(4);
        let reg = hub.register("o#a", "d", "u").unwrap();
        assert!(hub.is_online("o#a", "d"));
        assert!(hub.is_online_as("o#a", "d", "u"));
        assert!(!hub.is_online_as("o#a", "d", "u2"));
        assert!(!hub.is_online("o#b", "d"));
        drop(reg);
        assert!(!hub.is_online("o#a", "d"));
    }

    #[test]
    fn a_newer_registration_replaces_the_older_and_outlives_its_drop() {
        let hub = Hub::new(4);
        let mut old = hub.register("o#a", "d", "u").unwrap();
        let new = hub.register("o#a", "d", "u2").unwrap();
        assert_eq!(old.ending.get(), Some(&End::Replaced));
        assert!(old.rx.try_recv().is_err(), "the old queue is closed");
        drop(old);
        assert!(hub.is_online_as("o#a", "d", "u2"), "still the newer one's");
        assert!(new.ending.get().is_none());
    }

    #[test]
    fn offers_go_to_the_right_user_and_a_full_queue_cuts_off() {
        let hub = Hub::new(2);
        let mut reg = hub.register("o#a", "d", "u").unwrap();
        assert_eq!(
            hub.offer("o#a", "d", "u2", None, push(1)),
            Ok(false),
            "another user's push"
        );
        assert!(
            hub.offer("o#a", "other", "u", None, push(1)).is_err(),
            "no stream"
        );
        let other_stream = Some(reg.stream() + 1);
        assert!(hub.offer("o#a", "d", "u", other_stream, push(1)).is_err());
        assert_eq!(
            hub.offer("o#a", "d", "u", Some(reg.stream()), push(1)),
            Ok(true)
        );
        assert_eq!(hub.offer("o#a", "d", "u", None, push(2)), Ok(true));
        assert_eq!(hub.offer("o#a", "d", "u", None, push(3)), Ok(false));
        assert_eq!(reg.ending.get(), Some(&End::TooSlow));
        assert!(!hub.is_online("o#a", "d"));
        assert_eq!(reg.rx.try_recv().unwrap().position, 1);
    }

    #[test]
    fn a_stream_is_ended_by_its_number_only() {
        let hub = Hub::new(2);
        let reg = hub.register("o#a", "d", "u").unwrap();
        assert!(!hub.end_stream("o#a", "d", reg.stream() + 1, End::Replaced));
        assert!(!hub.end_stream("o#a", "d2", reg.stream(), End::Replaced));
        assert!(hub.is_online("o#a", "d"));
        assert!(hub.end_stream("o#a", "d", reg.stream(), End::Replaced));
        assert_eq!(reg.ending.get(), Some(&End::Replaced));
        assert!(!hub.is_online("o#a", "d"));
    }

    #[test]
    fn closing_ends_every_stream_and_refuses_new_ones() {
        let hub = Hub::new(2);
        let a = hub.register("o#a", "d1", "u").unwrap();
        let b = hub.register("o#a", "d2", "u").unwrap();
        assert_eq!(hub.open_streams(), 2);
        hub.close();
        assert_eq!(hub.open_streams(), 0);
        assert_eq!(a.ending.get(), Some(&End::Shutdown));
        assert_eq!(b.ending.get(), Some(&End::Shutdown));
        assert!(hub.register("o#a", "d3", "u").is_none());
    }
}
