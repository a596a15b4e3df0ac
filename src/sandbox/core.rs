//! What every fake shares: its address, fault rules, invalidated device tokens, recording and counters.
//! A vendor fake is this core plus the vendor's own checks and answers.

use std::{
    collections::HashSet,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    body::{Body, Bytes},
    http::{HeaderMap, Method, Uri},
    response::Response,
};

use super::{
    fault::{FaultAction, FaultRule, Faults, lock},
    record::{FakeStats, RecordedRequest, Recorder},
    tls::reset_response,
};

/// Largest request body a fake reads; vendors' own limits are far below it, so larger is a broken client.
pub const MAX_BODY: usize = 1024 * 1024;
/// Longest a fake waits for a request body.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// Most device tokens one fake remembers as invalidated.
pub const MAX_INVALID_TOKENS: usize = 100_000;

/// The shared state and handle methods of one fake vendor server.
#[derive(Debug)]
pub struct FakeCore {
    name: &'static str,
    addr: SocketAddr,
    faults: Faults,
    invalid_tokens: Mutex<HashSet<String>>,
    /// Recorded requests and counters.
    pub recorder: Recorder,
}

/// What the fault rules decided for a send request.
#[derive(Debug)]
pub enum FaultOutcome {
    /// Carry on normally (any delay has already been waited).
    Proceed,
    /// Answer with this error in the vendor's shape.
    Error {
        /// HTTP status.
        status: u16,
        /// Vendor reason.
        reason: String,
        /// `Retry-After` seconds.
        retry_after_secs: Option<u64>,
    },
    /// Reset the stream.
    Reset,
}

impl FakeCore {
    /// A core for the fake `name` listening on `addr`.
    pub fn new(name: &'static str, addr: SocketAddr, max_recorded: usize) -> Arc<Self> {
        Arc::new(Self {
            name,
            addr,
            faults: Faults::default(),
            invalid_tokens: Mutex::new(HashSet::new()),
            recorder: Recorder::new(max_recorded),
        })
    }

    /// The vendor's short name, as used in the control API (`apns`, `fcm`).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://host:port`, the base URL to give a notifier.
    pub fn base_url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// Adds a fault rule.
    pub fn add_fault(&self, rule: FaultRule) {
        self.faults.add(rule);
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        self.faults.clear();
    }

    /// The fault rules in force.
    pub fn faults(&self) -> Vec<FaultRule> {
        self.faults.list()
    }

    /// From now on, sends to `device_token` get the vendor's "unregistered" answer.
    pub fn invalidate_token(&self, device_token: &str) {
        let mut tokens = lock(&self.invalid_tokens);
        if tokens.len() >= MAX_INVALID_TOKENS {
            tokens.clear();
        }
        tokens.insert(device_token.to_owned());
    }

    /// Whether `device_token` was invalidated.
    pub fn is_invalidated(&self, device_token: &str) -> bool {
        lock(&self.invalid_tokens).contains(device_token)
    }

    /// What it received, oldest first (bounded).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.recorder.requests()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.recorder.clear();
    }

    /// Exact counters.
    pub fn stats(&self) -> FakeStats {
        self.recorder.stats()
    }

    /// Turns request recording on or off (counters always count).
    pub fn set_recording(&self, on: bool) {
        self.recorder.set_recording(on);
    }

    /// Applies the fault rules to a send request for `device_token`: waits out a delay, or says which
    /// error or reset to answer with.
    pub async fn apply_faults(&self, device_token: Option<&str>) -> FaultOutcome {
        let action = self.faults.take(device_token);
        self.act(action).await
    }

    /// Applies only the rules naming `device_token` (not the request-wide ones): for one token inside a
    /// batch send.
    pub async fn apply_token_faults(&self, device_token: &str) -> FaultOutcome {
        let action = self.faults.take_scoped(device_token);
        self.act(action).await
    }

    async fn act(&self, action: Option<FaultAction>) -> FaultOutcome {
        let Some(action) = action else {
            return FaultOutcome::Proceed;
        };
        self.recorder.count_fault();
        match action {
            FaultAction::Delay { millis } => {
                tokio::time::sleep(Duration::from_millis(millis)).await;
                FaultOutcome::Proceed
            }
            FaultAction::Error {
                status,
                reason,
                retry_after_secs,
            } => FaultOutcome::Error {
                status,
                reason,
                retry_after_secs,
            },
            FaultAction::Reset => FaultOutcome::Reset,
        }
    }
}

impl FakeCore {
    /// Records `request` with the answer given, when recording is on (the check first spares copying
    /// headers and bodies).
    pub fn record(
        &self,
        request: &Incoming,
        device_token: Option<String>,
        status: u16,
        response_body: &str,
        token_request: bool,
    ) {
        if self.recorder.is_recording() {
            self.recorder.record(request.record(
                device_token,
                status,
                response_body,
                token_request,
            ));
        }
    }

    /// Ends a send request whose stream a fault rule resets: counts it as refused, records it with
    /// status 0 and an empty body, and returns the response the serving loop turns into the reset.
    pub fn reset_send(&self, request: &Incoming, device_token: Option<String>) -> Response {
        self.recorder.count_send(false);
        self.record(request, device_token, 0, "", false);
        reset_response()
    }

    /// Ends a send request with a JSON answer: counts it (`accepted` or refused), records it, and builds
    /// the response.
    pub fn answer_send(
        &self,
        request: &Incoming,
        device_token: Option<String>,
        status: u16,
        body: &str,
        headers: &[(&str, String)],
        accepted: bool,
    ) -> Response {
        self.recorder.count_send(accepted);
        self.record(request, device_token, status, body, false);
        json_response(status, body, headers)
    }
}

/// The `Retry-After` header for an answer that carries one, else no header.
pub fn retry_after(secs: Option<u64>) -> Vec<(&'static str, String)> {
    secs.map(|s| vec![("retry-after", s.to_string())])
        .unwrap_or_default()
}

/// A request as the handlers see it: head plus the whole body.
#[derive(Debug)]
pub struct Incoming {
    /// Method.
    pub method: Method,
    /// Path and query.
    pub uri: Uri,
    /// Headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
    /// When it arrived, Unix ms.
    pub at_ms: i64,
}

impl Incoming {
    /// Reads a request's body (bounded in size and time); `None` when the client sent too much or too
    /// slowly, or the stream broke.
    pub async fn read(request: axum::extract::Request) -> Option<(Self, http::Extensions)> {
        let at_ms = crate::clock::now_ms();
        let (parts, body) = request.into_parts();
        let body = tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, MAX_BODY))
            .await
            .ok()?
            .ok()?;
        Some((
            Self {
                method: parts.method,
                uri: parts.uri,
                headers: parts.headers,
                body,
                at_ms,
            },
            parts.extensions,
        ))
    }

    /// The one path segment between `prefix` and `suffix` (the app or project id of a send path);
    /// `None` when the path is not shaped so or the segment is empty.
    pub fn path_between(&self, prefix: &str, suffix: &str) -> Option<&str> {
        self.uri
            .path()
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix(suffix))
            .filter(|p| !p.is_empty() && !p.contains('/'))
    }

    /// One header's value as text; `None` when absent or not visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The record of this request with the answer given.
    pub fn record(
        &self,
        device_token: Option<String>,
        status: u16,
        response_body: &str,
        token_request: bool,
    ) -> RecordedRequest {
        RecordedRequest {
            at_ms: self.at_ms,
            method: self.method.to_string(),
            path: self
                .uri
                .path_and_query()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_default(),
            headers: self
                .headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body: String::from_utf8_lossy(&self.body).into_owned(),
            device_token,
            status,
            response_body: response_body.to_owned(),
            token_request,
        }
    }
}

/// A response with a JSON body and extra headers.
pub fn json_response(status: u16, body: &str, headers: &[(&str, String)]) -> Response {
    let mut builder = http::Response::builder().status(status).header(
        http::header::CONTENT_TYPE,
        "application/json; charset=UTF-8",
    );
    for (name, value) in headers {
        builder = builder.header(*name, value);
    }
    builder
        .body(Body::from(body.to_owned()))
        .unwrap_or_else(|_| http::Response::new(Body::empty()))
}
