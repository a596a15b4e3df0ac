//! What a fake received: a bounded ring of recorded requests and exact counters.

use std::{
    collections::{BTreeMap, VecDeque},
    sync::{
        Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
};

use serde::{Deserialize, Serialize};

use super::fault::lock;

/// Default number of requests a fake remembers.
pub const DEFAULT_MAX_RECORDED: usize = 10_000;

/// One request a fake received and what it answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// When it arrived, Unix milliseconds.
    pub at_ms: i64,
    /// The HTTP method.
    pub method: String,
    /// The path (with query, if any).
    pub path: String,
    /// The request headers in arrival order (names lowercase).
    pub headers: Vec<(String, String)>,
    /// The body as text (lossy UTF-8).
    pub body: String,
    /// The device token the request was for, when it names one.
    pub device_token: Option<String>,
    /// The HTTP status answered; 0 when the stream was reset without an answer.
    pub status: u16,
    /// The body answered.
    pub response_body: String,
    /// True for OAuth token requests, false for send requests.
    #[serde(default)]
    pub token_request: bool,
}

/// Exact counters of one fake since it started (or since its counters were last read by a test: they are
/// never reset implicitly).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FakeStats {
    /// TLS connections accepted (handshake completed).
    pub connections: u64,
    /// Send requests received, whatever their answer.
    pub send_requests: u64,
    /// Send requests answered with success.
    pub accepted_sends: u64,
    /// Send requests answered with an error (faults included) or reset.
    pub rejected_sends: u64,
    /// Requests hit by a fault rule.
    pub faults_applied: u64,
    /// Token requests received (FCM OAuth exchanges; APNs: new provider tokens presented).
    pub token_requests: u64,
    /// Token requests per key: FCM `private_key_id` of granted exchanges; APNs key id of each new provider
    /// token seen.
    pub token_requests_per_key: BTreeMap<String, u64>,
    /// Device tokens named by send requests, summed (batch vendors: Huawei, Honor, Xiaomi).
    #[serde(default)]
    pub device_tokens: u64,
    /// Most device tokens one send request named (batch vendors).
    #[serde(default)]
    pub largest_batch: u64,
}

/// The recording and counters of one fake.
#[derive(Debug)]
pub struct Recorder {
    max: usize,
    recording: AtomicBool,
    requests: Mutex<VecDeque<RecordedRequest>>,
    connections: AtomicU64,
    send_requests: AtomicU64,
    accepted_sends: AtomicU64,
    rejected_sends: AtomicU64,
    faults_applied: AtomicU64,
    token_requests: AtomicU64,
    per_key: Mutex<BTreeMap<String, u64>>,
    device_tokens: AtomicU64,
    largest_batch: AtomicU64,
}

impl Recorder {
    /// A recorder keeping at most `max` requests (at least one).
    pub fn new(max: usize) -> Self {
        Self {
            max: max.max(1),
            recording: AtomicBool::new(true),
            requests: Mutex::new(VecDeque::new()),
            connections: AtomicU64::new(0),
            send_requests: AtomicU64::new(0),
            accepted_sends: AtomicU64::new(0),
            rejected_sends: AtomicU64::new(0),
            faults_applied: AtomicU64::new(0),
            token_requests: AtomicU64::new(0),
            per_key: Mutex::new(BTreeMap::new()),
            device_tokens: AtomicU64::new(0),
            largest_batch: AtomicU64::new(0),
        }
    }

    /// Remembers a request (if recording is on), dropping the oldest past the bound.
    pub fn record(&self, request: RecordedRequest) {
        if !self.recording.load(Ordering::Relaxed) {
            return;
        }
        let mut requests = lock(&self.requests);
        while requests.len() >= self.max {
            requests.pop_front();
        }
        requests.push_back(request);
    }

    /// Whether requests are recorded (counters always count).
    pub fn set_recording(&self, on: bool) {
        self.recording.store(on, Ordering::Relaxed);
    }

    /// Whether requests are being recorded: lets handlers skip copying headers and bodies.
    pub fn is_recording(&self) -> bool {
        self.recording.load(Ordering::Relaxed)
    }

    /// The recorded requests, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.requests).iter().cloned().collect()
    }

    /// Forgets the recorded requests (counters stay).
    pub fn clear(&self) {
        lock(&self.requests).clear();
    }

    /// Counts an accepted connection.
    pub fn count_connection(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a send request and whether it succeeded.
    pub fn count_send(&self, accepted: bool) {
        self.send_requests.fetch_add(1, Ordering::Relaxed);
        if accepted {
            self.accepted_sends.fetch_add(1, Ordering::Relaxed);
        } else {
            self.rejected_sends.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a request hit by a fault.
    pub fn count_fault(&self) {
        self.faults_applied.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a token request; `key` is counted per key when given.
    pub fn count_token(&self, key: Option<&str>) {
        self.token_requests.fetch_add(1, Ordering::Relaxed);
        if let Some(key) = key {
            *lock(&self.per_key).entry(key.to_owned()).or_default() += 1;
        }
    }

    /// Counts the device tokens one send request named.
    pub fn count_batch(&self, tokens: usize) {
        self.device_tokens
            .fetch_add(tokens as u64, Ordering::Relaxed);
        self.largest_batch
            .fetch_max(tokens as u64, Ordering::Relaxed);
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> FakeStats {
        FakeStats {
            connections: self.connections.load(Ordering::Relaxed),
            send_requests: self.send_requests.load(Ordering::Relaxed),
            accepted_sends: self.accepted_sends.load(Ordering::Relaxed),
            rejected_sends: self.rejected_sends.load(Ordering::Relaxed),
            faults_applied: self.faults_applied.load(Ordering::Relaxed),
            token_requests: self.token_requests.load(Ordering::Relaxed),
            token_requests_per_key: lock(&self.per_key).clone(),
            device_tokens: self.device_tokens.load(Ordering::Relaxed),
            largest_batch: self.largest_batch.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(n: i64) -> RecordedRequest {
        RecordedRequest {
            at_ms: n,
            method: "POST".into(),
            path: "/".into(),
            headers: vec![],
            body: String::new(),
            device_token: None,
            status: 200,
            response_body: String::new(),
            token_request: false,
        }
    }

    #[test]
    fn the_ring_keeps_the_newest() {
        let r = Recorder::new(3);
        for n in 0..5 {
            r.record(request(n));
        }
        let kept: Vec<i64> = r.requests().iter().map(|q| q.at_ms).collect();
        assert_eq!(kept, [2, 3, 4]);
        r.set_recording(false);
        r.record(request(9));
        assert_eq!(r.requests().len(), 3);
        r.clear();
        assert!(r.requests().is_empty());
    }
}
