//! [`RateRepository`](crate::store::RateRepository): a burst, then nothing until the interval has passed,
//! keys apart, and racing takes that never grant more than the burst together. The interval is a minute so
//! that the test's own pace cannot refill anything.

use crate::store::{RateShape, Store};

const SLOW: RateShape = RateShape {
    interval_us: 60_000_000,
    burst: 3,
};

async fn a_burst_then_nothing_until_the_interval_passed(s: Store) {
    let r = &s.rates;
    assert_eq!(
        r.take_admissions("sync/o#a", 2, SLOW)
            .await
            .unwrap()
            .granted,
        2
    );
    assert_eq!(
        r.take_admissions("sync/o#a", 5, SLOW)
            .await
            .unwrap()
            .granted,
        1
    );
    let refused = r.take_admissions("sync/o#a", 1, SLOW).await.unwrap();
    assert_eq!(refused.granted, 0);
    assert!(
        (55_000_000..=60_000_000).contains(&refused.wait_us),
        "the next one a minute after the burst began: {refused:?}"
    );
    assert_eq!(
        r.take_admissions("sync/o#b", 9, SLOW)
            .await
            .unwrap()
            .granted,
        3,
        "another key has its own burst"
    );
    assert_eq!(
        r.take_admissions("sync/o#c", 0, SLOW)
            .await
            .unwrap()
            .granted,
        0
    );
}

async fn racing_takes_share_one_burst(s: Store) {
    let takes = (0..12).map(|_| {
        let s = s.clone();
        tokio::spawn(async move { s.rates.take_admissions("sync/o#a", 1, SLOW).await.unwrap() })
    });
    let mut granted = 0;
    for take in takes {
        granted += take.await.unwrap().granted;
    }
    assert_eq!(granted, 3);
}

conformance_tests! {
    a_burst_then_nothing_until_the_interval_passed,
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    racing_takes_share_one_burst,
}
