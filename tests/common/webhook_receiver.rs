//! A real HTTP endpoint for webhook callbacks: it records every request (arrival time, headers, raw body) and
//! answers with a status the test can change at any time, and checks what a receiver of pushgate's callbacks
//! would check (Easemob's `security` field and the `X-Pushgate-Signature` HMAC).

use std::{
    net::Ipv4Addr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU16, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, Method, StatusCode, Uri},
};
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use serde_json::Value;

/// The path the receiver is reached at (any path is recorded; this one is what the rules name).
pub const PATH: &str = "/hooks/pushgate";

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Received {
    /// When it arrived, in ms since the epoch (to compare with the server's timestamps).
    pub wall_ms: u64,
    /// The HTTP method.
    pub method: Method,
    /// The request path.
    pub path: String,
    /// The request headers.
    pub headers: HeaderMap,
    /// The body, byte for byte as it came.
    pub body: Bytes,
    /// The status the receiver answered with.
    pub answered: u16,
}

struct Shared {
    status: AtomicU16,
    requests: Mutex<Vec<Received>>,
}

/// The endpoint; stops serving when dropped.
pub struct Receiver {
    /// The URL to put in a callback rule.
    pub url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Wall-clock ms since the epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64
}

async fn record(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let answered = shared.status.load(Ordering::SeqCst);
    // Recorded before the answer leaves, so a request answered 2xx is in the log before pushgate can act on it.
    shared.requests.lock().unwrap().push(Received {
        wall_ms: now_ms(),
        method,
        path: uri.path().to_owned(),
        headers,
        body,
        answered,
    });
    let status = StatusCode::from_u16(answered).expect("a valid status");
    // A recognisable start of the body, so a failed callback's `last_error` can be traced to this receiver.
    (status, format!("test receiver answers {answered}"))
}

impl Receiver {
    /// Starts a receiver on 127.0.0.1 (a free port) answering 200.
    pub async fn start() -> Self {
        let shared = Arc::new(Shared {
            status: AtomicU16::new(200),
            requests: Mutex::new(Vec::new()),
        });
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind the receiver");
        let addr = listener.local_addr().expect("receiver address");
        let app = Router::new().fallback(record).with_state(shared.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("receiver serves");
        });
        Self {
            url: format!("http://{addr}{PATH}"),
            shared,
            task,
        }
    }

    /// Answers every request from now on with `status`.
    pub fn set_status(&self, status: u16) {
        StatusCode::from_u16(status).expect("a valid status");
        self.shared.status.store(status, Ordering::SeqCst);
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Received> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// Waits until `done` holds for the requests so far and returns them; fails the test after `timeout`,
    /// saying `what` was awaited and what arrived.
    pub async fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let requests = self.requests();
            if done(&requests) {
                return requests;
            }
            if Instant::now() >= deadline {
                let seen: Vec<String> = requests.iter().map(Received::summary).collect();
                panic!(
                    "the receiver waited {timeout:?} for {what}; it got {} requests: {seen:#?}",
                    requests.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits (at most `timeout`) until at least `n` requests arrived and returns them all.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        self.wait_until(&format!("{n} requests"), timeout, |r| r.len() >= n)
            .await
    }

    /// Waits (at most `timeout`) until each of `positions` was answered 2xx for `rule`, and returns every
    /// request so far.
    pub async fn wait_delivered(
        &self,
        rule: &str,
        positions: &[u64],
        timeout: Duration,
    ) -> Vec<Received> {
        self.wait_until(
            &format!("2xx deliveries of rule {rule} at positions {positions:?}"),
            timeout,
            |requests| {
                positions.iter().all(|p| {
                    requests
                        .iter()
                        .any(|r| r.delivered() && r.rule() == rule && r.position() == *p)
                })
            },
        )
        .await
    }
}

impl Received {
    /// A header's value as text, if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| {
            v.to_str()
                .unwrap_or_else(|_| panic!("header {name} is not text: {v:?}"))
        })
    }

    /// `X-Pushgate-Position`, the event's position.
    pub fn position(&self) -> u64 {
        let text = self
            .header("x-pushgate-position")
            .unwrap_or_else(|| panic!("no X-Pushgate-Position header: {}", self.summary()));
        text.parse()
            .unwrap_or_else(|_| panic!("X-Pushgate-Position {text:?} is not a decimal number"))
    }

    /// `X-Pushgate-Rule`, the rule's name.
    pub fn rule(&self) -> &str {
        self.header("x-pushgate-rule")
            .unwrap_or_else(|| panic!("no X-Pushgate-Rule header: {}", self.summary()))
    }

    /// Whether the receiver answered this request with a 2xx (pushgate counts it as delivered).
    pub fn delivered(&self) -> bool {
        (200..300).contains(&self.answered)
    }

    /// The body as JSON; fails the test unless it is a JSON object.
    pub fn json(&self) -> Value {
        let value: Value = serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "the body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        });
        assert!(value.is_object(), "the body is not a JSON object: {value}");
        value
    }

    /// Checks both signatures a receiver can verify with the rule's `secret`: the body's `security` field
    /// (Easemob's md5) and the `X-Pushgate-Signature` header (HMAC-SHA256 over `<t>.` and the raw body).
    pub fn verify(&self, secret: &str) {
        self.verify_security(secret);
        self.verify_signature(secret);
    }

    /// `security` = lowercase hex md5(callId + secret + timestamp as decimal text).
    pub fn verify_security(&self, secret: &str) {
        let body = self.json();
        let call_id = body["callId"]
            .as_str()
            .unwrap_or_else(|| panic!("callId is not a string: {body}"));
        let timestamp = body["timestamp"]
            .as_u64()
            .unwrap_or_else(|| panic!("timestamp is not a whole number: {body}"));
        let security = body["security"]
            .as_str()
            .unwrap_or_else(|| panic!("security is not a string: {body}"));
        let expected = hex::encode(Md5::digest(format!("{call_id}{secret}{timestamp}")));
        assert_eq!(security, expected, "the body's security field: {body}");
    }

    /// `X-Pushgate-Signature: t=<unix ms>,v1=<lowercase hex HMAC-SHA256(secret, "<t>." + raw body)>`.
    pub fn verify_signature(&self, secret: &str) {
        let header = self
            .header("x-pushgate-signature")
            .unwrap_or_else(|| panic!("no X-Pushgate-Signature header: {}", self.summary()));
        let (t, v1) = parse_signature(header);
        // Milliseconds, not seconds: close to when the request arrived (the same machine's clock).
        let skew = t.abs_diff(self.wall_ms);
        assert!(
            skew < 5 * 60 * 1000,
            "signature t={t} is not the unix time in ms (arrived at {} ms)",
            self.wall_ms
        );
        let mut mac =
            Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
        mac.update(format!("{t}.").as_bytes());
        mac.update(&self.body);
        let expected = hex::encode(mac.finalize().into_bytes());
        assert_eq!(v1, expected, "X-Pushgate-Signature v1 of {header:?}");
    }

    /// One line about this request, for failure messages.
    pub fn summary(&self) -> String {
        format!(
            "{} {} answered {} rule={:?} position={:?} body={}",
            self.method,
            self.path,
            self.answered,
            self.header("x-pushgate-rule"),
            self.header("x-pushgate-position"),
            String::from_utf8_lossy(&self.body)
        )
    }
}

/// The `t` (ms) and `v1` (hex) parts of an `X-Pushgate-Signature` header, failing the test on any other shape.
fn parse_signature(header: &str) -> (u64, &str) {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = Some(value),
            Some(("v1", value)) => v1 = Some(value),
            _ => panic!("unexpected part {part:?} in X-Pushgate-Signature {header:?}"),
        }
    }
    let t = t
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no numeric t= in X-Pushgate-Signature {header:?}"));
    let v1 = v1.unwrap_or_else(|| panic!("no v1= in X-Pushgate-Signature {header:?}"));
    assert!(
        v1.len() == 64
            && v1
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "v1 is not 64 lowercase hex digits: {v1:?}"
    );
    (t, v1)
}

/// The requests' positions, first arrival of each kept, in arrival order.
pub fn dedup_positions<'a>(requests: impl IntoIterator<Item = &'a Received>) -> Vec<u64> {
    let mut seen = std::collections::HashSet::new();
    requests
        .into_iter()
        .map(Received::position)
        .filter(|p| seen.insert(*p))
        .collect()
}
