//! One notifier's lane: its dispatcher wrapped in everything the vendors share.
//!
//! Order of the guards for each vendor request: quota pause, circuit breaker, the in-flight bound, the token
//! bucket, then the request under a timeout. Waiting for the in-flight bound before the bucket keeps requests
//! that cannot run yet from consuming rate tokens.

use std::{
    num::NonZeroU32,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures::{Stream, StreamExt, stream};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::Semaphore;
use tracing::Instrument;

use super::{
    Answered, DispatchConfig, Dispatcher, Outcome, Rendered, Report,
    breaker::{Admission, Breaker, BreakerState},
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
        let qps = match notifier.qps_limit {
            0 => config.qps.of(dispatcher.vendor()),
            n => n,
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

    /// One attempt for the `pending` bindings: batches to the vendor's maximum, run concurrently within the
    /// in-flight bound, each batch's answers as it answers.
    fn attempt<'a>(
        &'a self,
        pending: &[usize],
        bindings: &'a [BindingRecord],
        message: &'a Rendered,
    ) -> impl Stream<Item = Vec<(usize, Answered)>> + Send + use<'a> {
        // Owned chunks: a closure over borrowed ones would make the future unprovably Send (rustc's
        // higher-ranked closure limitation), and callers spawn it.
        let batches: Vec<Vec<usize>> = pending
            .chunks(self.dispatcher.max_batch().max(1))
            .map(<[usize]>::to_vec)
            .collect();
        stream::iter(batches)
            .map(move |indexes| self.batch(indexes, bindings, message))
            .buffer_unordered(self.max_in_flight)
    }

    async fn batch(
        &self,
        indexes: Vec<usize>,
        bindings: &[BindingRecord],
        message: &Rendered,
    ) -> Vec<(usize, Answered)> {
        let batch: Vec<&BindingRecord> = indexes.iter().map(|&i| &bindings[i]).collect();
        let answers = self.request(&batch, message).await;
        indexes.into_iter().zip(answers).collect()
    }

    /// One vendor request behind every guard; always one answer per binding.
    async fn request(&self, batch: &[&BindingRecord], message: &Rendered) -> Vec<Answered> {
        let all = |outcome: Outcome| vec![Answered::unanswered(outcome); batch.len()];
        if let Some(left) = self.quota_left() {
            return all(Outcome::QuotaExceeded {
                reason: "the notifier's vendor quota is used up".into(),
                retry_after: Some(left),
            });
        }
        if let Admission::Refused { retry_after } = self.breaker.admit() {
            return all(Outcome::Retryable {
                reason: "circuit open after repeated vendor failures".into(),
                retry_after: Some(retry_after),
            });
        }
        let Ok(_permit) = self.in_flight.acquire().await else {
            return all(Outcome::retryable("lane closed"));
        };
        let vendor = field_of(self.dispatcher.vendor());
        let labels = notifier_attrs(vendor, &self.notifier.name);
        if let Some(limiter) = &self.limiter {
            let waiting = Instant::now();
            limiter.until_ready().await;
            metrics()
                .limiter_wait
                .record(waiting.elapsed().as_secs_f64(), &labels);
        }
        let span = tracing::info_span!(
            "vendor.request",
            otel.kind = "client",
            vendor,
            notifier = %self.notifier.name,
            batch_size = batch.len(),
            outcome = tracing::field::Empty,
        );
        let started = Instant::now();
        let mut answers = match tokio::time::timeout(
            self.call_timeout,
            self.dispatcher
                .send(batch, message)
                .instrument(span.clone()),
        )
        .await
        {
            Ok(answers) => answers,
            Err(_) => all(Outcome::retryable("vendor request timed out")),
        };
        metrics()
            .vendor_duration
            .record(started.elapsed().as_secs_f64(), &labels);
        span.record("outcome", outcome_summary(&answers).as_str());
        if answers.len() != batch.len() {
            // A dispatcher bug must not lose devices: whatever is missing counts as failed transiently.
            answers.resize(
                batch.len(),
                Answered::unanswered(Outcome::retryable("vendor answer did not cover the device")),
            );
        }
        self.breaker.record(
            answers
                .iter()
                .all(|a| matches!(a.outcome, Outcome::Retryable { .. })),
        );
        let circuit = match self.breaker.state() {
            BreakerState::Closed => 0,
            BreakerState::HalfOpen => 1,
            BreakerState::Open => 2,
        };
        metrics().circuit_state.record(circuit, &labels);
        if let Some(quota) = answers
            .iter()
            .find(|a| matches!(a.outcome, Outcome::QuotaExceeded { .. }))
        {
            let pause = quota.outcome.retry_after().unwrap_or(self.quota_pause);
            if let Ok(mut until) = self.quota_until.lock() {
                *until = Some(Instant::now() + pause);
            }
        }
        answers
    }

    fn quota_left(&self) -> Option<Duration> {
        let until = (*self.quota_until.lock().ok()?)?;
        until.checked_duration_since(Instant::now())
    }
}

/// A batch's outcomes for its span: the one kind when all agree, else each kind with its count.
fn outcome_summary(answers: &[Answered]) -> String {
    let mut kinds: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for a in answers {
        *kinds.entry(a.outcome.kind()).or_default() += 1;
    }
    match kinds.len() {
        1 => kinds.into_keys().next().unwrap_or_default().to_owned(),
        _ => kinds
            .iter()
            .map(|(k, n)| format!("{k}={n}"))
            .collect::<Vec<_>>()
            .join(","),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;

    use super::*;
    use crate::proto::v1::{PushMessage, Vendor};

    type Script = dyn Fn(usize, &str) -> Outcome + Send + Sync;

    /// A dispatcher that answers by script: (call number from 0, device token) → outcome.
    struct Scripted {
        script: Box<Script>,
        max_batch: usize,
        refuse: Option<Outcome>,
        calls: AtomicUsize,
        in_flight: AtomicUsize,
        most_in_flight: AtomicUsize,
    }

    impl Scripted {
        fn new(
            max_batch: usize,
            script: impl Fn(usize, &str) -> Outcome + Send + Sync + 'static,
        ) -> Arc<Self> {
            Arc::new(Self {
                script: Box::new(script),
                max_batch,
                refuse: None,
                calls: AtomicUsize::new(0),
                in_flight: AtomicUsize::new(0),
                most_in_flight: AtomicUsize::new(0),
            })
        }
    }

    #[async_trait]
    impl Dispatcher for Scripted {
        fn vendor(&self) -> Vendor {
            Vendor::Fcm
        }
        fn max_batch(&self) -> usize {
            self.max_batch
        }
        fn check(&self, _: &Rendered) -> Result<(), Outcome> {
            self.refuse.clone().map_or(Ok(()), Err)
        }
        async fn send(&self, batch: &[&BindingRecord], _: &Rendered) -> Vec<Answered> {
            let call = self.calls.fetch_add(1, Ordering::SeqCst);
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.most_in_flight.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(5)).await;
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            batch
                .iter()
                .map(|b| Answered::unanswered((self.script)(call, &b.device_token)))
                .collect()
        }
    }

    fn config() -> DispatchConfig {
        DispatchConfig {
            max_attempts: 3,
            retry_base_delay: Duration::from_millis(10),
            retry_max_delay: Duration::from_secs(5),
            breaker_failures: 1000,
            ..Default::default()
        }
    }

    fn lane(d: Arc<Scripted>, config: &DispatchConfig) -> Lane {
        Lane::new(Notifier::default(), d, config)
    }

    fn bindings(n: usize) -> Vec<BindingRecord> {
        (0..n)
            .map(|i| BindingRecord {
                device_token: format!("t{i}"),
                ..Default::default()
            })
            .collect()
    }

    fn message() -> Rendered {
        Rendered::now("m", PushMessage::default())
    }

    fn delivered() -> Outcome {
        Outcome::Delivered {
            message_id: "x".into(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn transient_failures_are_retried_up_to_the_limit_and_nothing_else_is() {
        let d = Scripted::new(1, |_, token| match token {
            "t0" => Outcome::retryable("503"),
            "t1" => Outcome::InvalidToken {
                reason: "Unregistered".into(),
            },
            _ => delivered(),
        });
        let reports = lane(d.clone(), &config())
            .dispatch(&bindings(3), &message())
            .await;
        assert_eq!(reports[0].attempts, 3);
        assert_eq!(reports[0].outcome.kind(), "retryable");
        assert_eq!(reports[1].attempts, 1);
        assert_eq!(reports[1].outcome.kind(), "invalid_token");
        assert_eq!(reports[2].attempts, 1);
        assert_eq!(reports[2].outcome, delivered());
        assert_eq!(d.calls.load(Ordering::SeqCst), 3 + 1 + 1);
    }

    /// Dispatches `bindings` to a lane over `d`, noting each report told with the requests made by then.
    async fn told(
        d: &Arc<Scripted>,
        lane: &Lane,
        bindings: &[BindingRecord],
        message: &Rendered,
    ) -> (Vec<Report>, Vec<(usize, Report, usize)>) {
        let told = Mutex::new(Vec::new());
        let reports = lane
            .dispatch_watched(bindings, message, &|index, report| {
                let calls = d.calls.load(Ordering::SeqCst);
                told.lock().unwrap().push((index, report.clone(), calls));
            })
            .await;
        (reports, told.into_inner().unwrap())
    }

    #[tokio::test(start_paused = true)]
    async fn each_report_is_told_once_when_final_and_a_retried_one_after_its_retries() {
        let d = Scripted::new(1, |_, token| match token {
            "t0" => Outcome::retryable("503"),
            "t1" => Outcome::InvalidToken {
                reason: "Unregistered".into(),
            },
            _ => delivered(),
        });
        let mut all = bindings(4);
        all[3].device_token.clear();
        let (reports, told) = told(&d, &lane(d.clone(), &config()), &all, &message()).await;
        let mut once: Vec<(usize, Report)> = told.iter().map(|(i, r, _)| (*i, r.clone())).collect();
        once.sort_by_key(|(i, _)| *i);
        assert_eq!(once, reports.into_iter().enumerate().collect::<Vec<_>>());
        let requests_before = |index| told.iter().find(|(i, _, _)| *i == index).unwrap().2;
        // The tokenless one before any request, the first answers with the first attempt's three requests,
        // t0 only once its third attempt has answered.
        assert_eq!([0, 1, 2, 3].map(requests_before), [5, 3, 3, 0], "{told:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn each_batch_is_told_as_it_answers() {
        let d = Scripted::new(2, |_, _| delivered());
        let config = DispatchConfig {
            max_in_flight_per_notifier: 1,
            ..config()
        };
        let (_, told) = told(&d, &lane(d.clone(), &config), &bindings(5), &message()).await;
        let when: Vec<(usize, usize)> = told.iter().map(|(i, _, calls)| (*i, *calls)).collect();
        assert_eq!(when, [(0, 1), (1, 1), (2, 2), (3, 2), (4, 3)]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_the_time_to_live_rules_out_is_told_as_expired() {
        let d = Scripted::new(1, |_, _| Outcome::RateLimited {
            reason: "busy".into(),
            retry_after: Some(Duration::from_secs(2)),
        });
        let short = Rendered::now(
            "m",
            PushMessage {
                options: Some(crate::proto::v1::PushOptions {
                    ttl: Some(prost_types::Duration {
                        seconds: 1,
                        nanos: 0,
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            },
        );
        let (reports, told) = told(&d, &lane(d.clone(), &config()), &bindings(1), &short).await;
        assert_eq!(reports[0].outcome.kind(), "expired");
        assert_eq!(told, [(0, reports[0].clone(), 1)]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_transient_failure_that_recovers_is_delivered() {
        let d = Scripted::new(1, |call, _| {
            if call == 0 {
                Outcome::retryable("reset")
            } else {
                delivered()
            }
        });
        let reports = lane(d, &config()).dispatch(&bindings(1), &message()).await;
        assert_eq!(
            (reports[0].outcome.clone(), reports[0].attempts),
            (delivered(), 2)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_past_the_time_to_live_is_not_made() {
        let d = Scripted::new(1, |_, _| Outcome::RateLimited {
            reason: "busy".into(),
            retry_after: Some(Duration::from_secs(2)),
        });
        let short = Rendered::now(
            "m",
            PushMessage {
                options: Some(crate::proto::v1::PushOptions {
                    ttl: Some(prost_types::Duration {
                        seconds: 1,
                        nanos: 0,
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            },
        );
        let reports = lane(d.clone(), &config())
            .dispatch(&bindings(1), &short)
            .await;
        assert_eq!(reports[0].outcome.kind(), "expired");
        assert_eq!(reports[0].attempts, 1);
        assert_eq!(d.calls.load(Ordering::SeqCst), 1);
        // Without a TTL the same answers are retried.
        let reports = lane(d.clone(), &config())
            .dispatch(&bindings(1), &message())
            .await;
        assert_eq!(reports[0].outcome.kind(), "rate_limited");
        assert_eq!(reports[0].attempts, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_waited_and_a_longer_one_ends_the_retries() {
        let d = Scripted::new(1, |call, _| match call {
            0 => Outcome::RateLimited {
                reason: "TooManyRequests".into(),
                retry_after: Some(Duration::from_secs(3)),
            },
            _ => delivered(),
        });
        let start = tokio::time::Instant::now();
        let reports = lane(d, &config()).dispatch(&bindings(1), &message()).await;
        assert_eq!(reports[0].outcome, delivered());
        assert!(start.elapsed() >= Duration::from_secs(3));

        let d = Scripted::new(1, |_, _| Outcome::RateLimited {
            reason: "TooManyRequests".into(),
            retry_after: Some(Duration::from_secs(60)),
        });
        let reports = lane(d.clone(), &config())
            .dispatch(&bindings(1), &message())
            .await;
        assert_eq!(reports[0].outcome.kind(), "rate_limited");
        assert_eq!(d.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_credential_is_retried_once() {
        let d = Scripted::new(1, |_, _| Outcome::AuthFailed {
            reason: "ExpiredProviderToken".into(),
            at_token_endpoint: false,
        });
        let reports = lane(d.clone(), &config())
            .dispatch(&bindings(1), &message())
            .await;
        assert_eq!(reports[0].outcome.kind(), "auth_failed");
        assert_eq!(d.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_quota_answer_rests_the_notifier() {
        let d = Scripted::new(1, |_, _| Outcome::QuotaExceeded {
            reason: "daily quota".into(),
            retry_after: Some(Duration::from_secs(600)),
        });
        let lane = lane(d.clone(), &config());
        lane.dispatch(&bindings(1), &message()).await;
        let reports = lane.dispatch(&bindings(2), &message()).await;
        assert!(reports.iter().all(|r| r.outcome.kind() == "quota_exceeded"));
        assert_eq!(
            d.calls.load(Ordering::SeqCst),
            1,
            "no request while resting"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_breaker_stops_requests_after_repeated_transient_failures() {
        let d = Scripted::new(1, |_, _| Outcome::retryable("503"));
        let config = DispatchConfig {
            breaker_failures: 4,
            max_attempts: 1,
            ..config()
        };
        let lane = lane(d.clone(), &config);
        for _ in 0..4 {
            lane.dispatch(&bindings(1), &message()).await;
        }
        assert_eq!(lane.breaker_state(), BreakerState::Open);
        let reports = lane.dispatch(&bindings(5), &message()).await;
        assert!(reports.iter().all(|r| r.outcome.is_retryable()));
        assert_eq!(d.calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn a_refused_message_makes_no_request() {
        let mut d = Scripted::new(1, |_, _| delivered());
        Arc::get_mut(&mut d).unwrap().refuse = Some(Outcome::InvalidVoip {
            reason: "no".into(),
        });
        let reports = lane(d.clone(), &config())
            .dispatch(&bindings(2), &message())
            .await;
        assert!(
            reports
                .iter()
                .all(|r| r.outcome.kind() == "invalid_voip" && r.attempts == 0)
        );
        assert_eq!(d.calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn bindings_are_batched_to_the_vendor_maximum_within_the_in_flight_bound() {
        let d = Scripted::new(2, |_, _| delivered());
        let config = DispatchConfig {
            max_in_flight_per_notifier: 3,
            ..config()
        };
        let reports = lane(d.clone(), &config)
            .dispatch(&bindings(41), &message())
            .await;
        assert_eq!(reports.len(), 41);
        assert!(reports.iter().all(|r| r.outcome == delivered()));
        assert_eq!(d.calls.load(Ordering::SeqCst), 21);
        assert_eq!(d.most_in_flight.load(Ordering::SeqCst), 3);
    }

    // Real time: governor's clock is not tokio's.
    #[tokio::test]
    async fn the_token_bucket_spaces_requests() {
        let d = Scripted::new(1, |_, _| delivered());
        let notifier = Notifier {
            qps_limit: 40,
            ..Default::default()
        };
        let lane = Lane::new(notifier, d, &config());
        let start = std::time::Instant::now();
        lane.dispatch(&bindings(60), &message()).await;
        // A burst of 40, then 40 per second: the last 20 need half a second.
        assert!(
            start.elapsed() >= Duration::from_millis(450),
            "{:?}",
            start.elapsed()
        );
    }
}
