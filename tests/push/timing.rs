//! Waits and limits: a TTL that runs out during retries, SendSync's deadline, and SendSync's rate limit.

use std::time::Duration;

use tonic_types::StatusExt;

use crate::common::push::*;

fn with_ttl(seconds: i64) -> PushMessage {
    with_options(PushOptions {
        ttl: Some(prost_types::Duration { seconds, nanos: 0 }),
        ..Default::default()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_whose_time_to_live_runs_out_before_a_retry_is_an_expired_message() {
    let mut env = Env::start().await;
    let token = env.bind_new("late", "phone", FCM).await;
    env.fake(FCM).add_fault(FaultRule {
        device_token: Some(token),
        action: FaultAction::Error {
            status: 503,
            reason: "UNAVAILABLE".into(),
            retry_after_secs: Some(3),
        },
        times: None,
    });
    let r = env
        .send_sync("late", Strategy::Unspecified, with_ttl(1))
        .await
        .unwrap();
    let result = of(&r, "phone");
    assert_eq!(reason(result), FailureReason::ExpireMessage, "{result:?}");
    assert_eq!(result.desc, "expire message");
    assert_eq!(status(result), DeliveryStatus::Fail);
    assert_eq!(env.sends(FCM).len(), 1, "no retry after the time to live");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_sync_answers_by_its_deadline_and_the_push_goes_on() {
    let mut env = Env::start().await;
    let slow = env.bind_new("wait", "slow", HUAWEI).await;
    env.bind_new("wait", "fast", MEIZU).await;
    env.fake(HUAWEI).add_fault(FaultRule {
        device_token: Some(slow.clone()),
        action: FaultAction::Delay { millis: 3_000 },
        times: Some(1),
    });
    let mut request = tonic::Request::new(SendSyncRequest {
        user: "wait".into(),
        message_source: Some(send_sync_request::MessageSource::Message(hello())),
        ..Default::default()
    });
    request.set_timeout(Duration::from_millis(1_500));
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", env.app.token).parse().unwrap(),
    );
    let started = std::time::Instant::now();
    let r = env.push.send_sync(request).await.unwrap().into_inner();
    assert!(
        started.elapsed() < Duration::from_millis(1_500),
        "{:?}",
        started.elapsed()
    );
    let fast = of(&r, "fast");
    assert_eq!(status(fast), DeliveryStatus::Success);
    let pending = of(&r, "slow");
    assert_eq!(status(pending), DeliveryStatus::Error, "{pending:?}");
    assert_eq!(pending.notifier_name, HUAWEI);
    assert!(pending.error_message.contains("deadline"), "{pending:?}");
    // The push went on in the background.
    let sends = env.wait_for_sends(HUAWEI, 1).await;
    assert_eq!(sends[0].device_token.as_deref(), Some(slow.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_sync_is_rate_limited_per_app() {
    let mut env = Env::start_with(&[("PUSHGATE_PUSH_SYNC_PER_SECOND_PER_APP", "2")]).await;
    env.bind_new("r", "phone", VIVO).await;
    let mut refused = None;
    for _ in 0..3 {
        if let Err(e) = env.send_sync("r", Strategy::Unspecified, hello()).await {
            refused = Some(e);
        }
    }
    let e = refused.expect("the third call within a second is refused");
    assert_eq!(e.code(), Code::ResourceExhausted);
    let quota = e.get_details_quota_failure().expect("QuotaFailure");
    assert_eq!(quota.violations[0].subject, "SendSync calls per app");
    assert_eq!(env.sends(VIVO).len(), 2);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    env.send_sync("r", Strategy::Unspecified, hello())
        .await
        .unwrap();
}
