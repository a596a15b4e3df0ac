//! One notifier's lane: its dispatcher wrapped in everything the vendors share.
//!
//! This file holds the lane and its retry loop (which devices are tried again, when, and when a report is
//! final); `request.rs` turns one attempt into vendor requests, each behind the shared guards.

mod request;

use std::{
    num::NonZeroU32,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures::StreamExt;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::Semaphore;

use super::{
    Answered, DispatchConfig, Dispatcher, Outcome, Rendered, Report,
    breaker::{Breaker, BreakerState},
    retry::{Next, RetryPolicy},
};
use crate::{
    notifier::credentials::field_of,
    proto::v1::Notifier,
    store::bindings::BindingRecord,
    telemetry::metrics::{metrics, notifier_attrs},
};

/// A notifier's dispatcher with its limits, breaker and retry policy.
pub struct Lane {
    notifier: Notifier,
    dispatcher: Arc<dyn Dispatcher>,
    limiter: Option<DefaultDirectRateLimiter>,
    in_flight: Semaphore,
    max_in_flight: usize,
    breaker: Breaker,
    retry: RetryPolicy,
    call_timeout: Duration,
    quota_pause: Duration,
    quota_until: Mutex<Option<Instant>>,
}

impl Lane {
    /// A lane for `notifier` (its public settings) over `dispatcher`, limited as `config` and the notifier's
    /// `qps_limit` say.
    pub fn new(
        notifier: Notifier,
        dispatcher: Arc<dyn Dispatcher>,
        config: &DispatchConfig,
    ) -> Self {
        Self::one_of(notifier, dispatcher, config, 1)
    }

    /// The same for one of `replicas` replicas sending for the notifier: its QPS is the notifier's divided
    /// among them (at least 1 each), so that together they keep to it.
    pub fn one_of(
        notifier: Notifier,
        dispatcher: Arc<dyn Dispatcher>,
        config: &DispatchConfig,
        replicas: u64,
    ) -> Self {
        let qps = match notifier.qps_limit {
            0 => config.qps.of(dispatcher.vendor()),
            n => n,
        };
        let qps = match u32::try_from(replicas.max(1)) {
            Ok(n) if qps > 0 => (qps / n).max(1),
            _ => qps,
        };
        let max_in_flight = config.max_in_flight_per_notifier.max(1);
        Self {
            notifier,
            limiter: NonZeroU32::new(qps).map(|qps| RateLimiter::direct(Quota::per_second(qps))),
            in_flight: Semaphore::new(max_in_flight),
            max_in_flight,
            breaker: Breaker::new(config.breaker_failures, config.breaker_pause),
            retry: config.retry_policy(),
            // The HTTP client times out each request; this also covers a credential fetch before it.
            call_timeout: config.request_timeout * 2 + config.connect_timeout,
            quota_pause: config.quota_pause,
            quota_until: Mutex::new(None),
            dispatcher,
        }
    }

    /// The notifier's public settings the lane was built from.
    pub fn notifier(&self) -> &Notifier {
        &self.notifier
    }

    /// The circuit breaker's state.
    pub fn breaker_state(&self) -> BreakerState {
        self.breaker.state()
    }

    /// Pushes `message` to every binding (all of this notifier), retrying transient failures per the policy,
    /// and answers one report per binding, in order.
    pub async fn dispatch(&self, bindings: &[BindingRecord], message: &Rendered) -> Vec<Report> {
        self.dispatch_watched(bindings, message, &|_, _| {}).await
    }

    /// [`dispatch`](Self::dispatch), telling `on_final` each binding's report (by its index in `bindings`)
    /// once it is final, while the other bindings are still under way: when the request that carried it
    /// answers with an outcome that is not tried again, or when its retries end. At a notifier's QPS a
    /// dispatch of thousands of devices runs for minutes; this lets the caller show them as they settle.
    /// Every report returned has been told exactly once.
    pub async fn dispatch_watched(
        &self,
        bindings: &[BindingRecord],
        message: &Rendered,
        on_final: &(dyn Fn(usize, &Report) + Sync),
    ) -> Vec<Report> {
        if let Err(refusal) = self.dispatcher.check(message) {
            let report = Report {
                outcome: refusal,
                answer: Default::default(),
                attempts: 0,
            };
            for index in 0..bindings.len() {
                on_final(index, &report);
            }
            return vec![report; bindings.len()];
        }
        let mut reports: Vec<Option<Report>> = vec![None; bindings.len()];
        // A binding without a token cannot reach any vendor: refused here, before any request.
        let mut pending = Vec::with_capacity(bindings.len());
        for (index, binding) in bindings.iter().enumerate() {
            if binding.device_token.is_empty() {
                let report = Report {
                    outcome: Outcome::InvalidToken {
                        reason: "the binding has no device token".into(),
                    },
                    answer: Default::default(),
                    attempts: 0,
                };
                on_final(index, &report);
                reports[index] = Some(report);
            } else {
                pending.push(index);
            }
        }
        let mut reauthorised = false;
        let mut attempt = 1;
        while !pending.is_empty() {
            let mut again = Vec::new();
            let mut wait = Duration::ZERO;
            let mut auth_refused = false;
            // Each request's devices are judged as it answers, not when the whole attempt has.
            let mut answered = self.attempt(&pending, bindings, message);
            while let Some(batch) = answered.next().await {
                for (index, Answered { outcome, answer }) in batch {
                    let next = match &outcome {
                        o if o.is_retryable() => self.retry.next(attempt, o.retry_after()),
                        // The dispatcher dropped the refused credential; one more try uses a fresh one.
                        Outcome::AuthFailed {
                            at_token_endpoint: false,
                            ..
                        } if !reauthorised && attempt < self.retry.max_attempts.max(2) => {
                            auth_refused = true;
                            Next::RetryAfter(Duration::ZERO)
                        }
                        _ => Next::GiveUp,
                    };
                    let report = Report {
                        outcome,
                        answer,
                        attempts: attempt,
                    };
                    match next {
                        Next::RetryAfter(delay) => {
                            again.push(index);
                            wait = wait.max(delay);
                        }
                        Next::GiveUp => on_final(index, &report),
                    }
                    reports[index] = Some(report);
                }
            }
            reauthorised |= auth_refused;
            if !again.is_empty() {
                metrics().retries.add(
                    again.len() as u64,
                    &notifier_attrs(field_of(self.dispatcher.vendor()), &self.notifier.name),
                );
            }
            pending = again;
            // A retry that could only happen after the push's time to live is not made: the push expired.
            if !pending.is_empty()
                && let Some(ttl) = message.ttl(None)
                && message.remaining(ttl) <= wait
            {
                for &index in &pending {
                    if let Some(report) = reports[index].as_mut() {
                        let last = report.outcome.kind();
                        report.outcome = Outcome::Expired {
                            reason: format!(
                                "the time to live ({}s) ends before the next attempt could be made; last answer: {}",
                                ttl.as_secs(),
                                last
                            ),
                        };
                        on_final(index, report);
                    }
                }
                pending.clear();
            }
            if !pending.is_empty() {
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
        }
        reports
            .into_iter()
            .enumerate()
            .map(|(index, r)| {
                r.unwrap_or_else(|| {
                    let report = Report {
                        outcome: Outcome::retryable("no answer recorded"),
                        answer: Default::default(),
                        attempts: attempt,
                    };
                    on_final(index, &report);
                    report
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
