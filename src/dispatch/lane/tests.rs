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
