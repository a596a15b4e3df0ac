//! [`LeaseRepository`](crate::store::LeaseRepository): one holder at a time, epochs that fence a lapsed
//! holder out, renewal, release, and acquirers racing for one lease.

use crate::store::Store;

/// A free lease goes to the first asker at epoch 1; while it runs another asker gets nothing and its holder
/// extends it at the same epoch; once it ran out the next holder gets epoch 2 and the lapsed one can neither
/// renew nor release it.
async fn one_holder_at_a_time_and_a_new_epoch_for_each_new_grant(s: Store) {
    let l = &s.leases;
    assert!(l.get_lease("task/o#a/t1").await.unwrap().is_none());
    let first = l
        .acquire_lease("task/o#a/t1", "r1", 1_000, 2_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (first.holder.as_str(), first.epoch, first.until_ms),
        ("r1", 1, 2_000)
    );
    assert!(
        l.acquire_lease("task/o#a/t1", "r2", 1_500, 3_000)
            .await
            .unwrap()
            .is_none()
    );
    let again = l
        .acquire_lease("task/o#a/t1", "r1", 1_500, 2_500)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((again.epoch, again.until_ms), (1, 2_500));
    assert_eq!(l.get_lease("task/o#a/t1").await.unwrap(), Some(again));
    // Other names are other leases.
    let other = l
        .acquire_lease("sweep/inbox", "r2", 1_500, 2_500)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(other.epoch, 1);

    // At 2,500 it ran out: r2 takes it with the next epoch.
    let second = l
        .acquire_lease("task/o#a/t1", "r2", 2_500, 4_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((second.holder.as_str(), second.epoch), ("r2", 2));
    assert!(
        !l.renew_lease("task/o#a/t1", "r1", 1, 2_600, 5_000)
            .await
            .unwrap()
    );
    assert!(!l.release_lease("task/o#a/t1", "r1", 1).await.unwrap());
    assert_eq!(l.get_lease("task/o#a/t1").await.unwrap(), Some(second));
}

/// A holder renews in time at its epoch only; a lapsed lease cannot be renewed, and its own holder asking
/// again gets a new epoch; a released lease goes to the next asker at once.
async fn renewal_is_in_time_and_release_frees_at_once(s: Store) {
    let l = &s.leases;
    let lease = l
        .acquire_lease("rule/o#a/hooks", "r1", 0, 1_000)
        .await
        .unwrap()
        .unwrap();
    assert!(
        !l.renew_lease("rule/o#a/hooks", "r1", 2, 500, 1_500)
            .await
            .unwrap()
    );
    assert!(
        !l.renew_lease("rule/o#a/hooks", "r2", 1, 500, 1_500)
            .await
            .unwrap()
    );
    assert!(
        l.renew_lease("rule/o#a/hooks", "r1", lease.epoch, 500, 1_500)
            .await
            .unwrap()
    );
    assert_eq!(
        l.get_lease("rule/o#a/hooks")
            .await
            .unwrap()
            .unwrap()
            .until_ms,
        1_500
    );
    assert!(
        !l.renew_lease("rule/o#a/hooks", "r1", 1, 1_500, 2_000)
            .await
            .unwrap()
    );
    let anew = l
        .acquire_lease("rule/o#a/hooks", "r1", 1_500, 2_500)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(anew.epoch, 2);

    assert!(l.release_lease("rule/o#a/hooks", "r1", 2).await.unwrap());
    assert!(!l.release_lease("rule/o#a/hooks", "r1", 2).await.unwrap());
    let next = l
        .acquire_lease("rule/o#a/hooks", "r2", 1_600, 3_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((next.holder.as_str(), next.epoch), ("r2", 3));
}

/// Sixteen acquirers racing for one free lease: exactly one gets it.
async fn racing_acquirers_get_the_lease_once(s: Store) {
    let racers: Vec<_> = (0..16)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move {
                s.leases
                    .acquire_lease("sweep/events", &format!("r{i}"), 0, 10_000)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut granted = Vec::new();
    for racer in racers {
        if let Some(lease) = racer.await.unwrap() {
            granted.push(lease);
        }
    }
    assert_eq!(granted.len(), 1, "{granted:?}");
    assert_eq!(granted[0].epoch, 1);
    assert_eq!(
        s.leases.get_lease("sweep/events").await.unwrap(),
        Some(granted.remove(0))
    );
}

/// Forgetting the leases (a store one process uses, at its start) frees every one for the next grant.
async fn forgotten_leases_are_free_for_anyone(s: Store) {
    let l = &s.leases;
    let held = l
        .acquire_lease("a", "r1", 0, i64::MAX)
        .await
        .unwrap()
        .unwrap();
    l.forget_leases().await.unwrap();
    assert_eq!(l.get_lease("a").await.unwrap(), None);
    let next = l.acquire_lease("a", "r2", 1, 1_000).await.unwrap().unwrap();
    assert_eq!(next.holder, "r2");
    assert!(held.epoch >= 1);
}

conformance_tests! {
    forgotten_leases_are_free_for_anyone,
    one_holder_at_a_time_and_a_new_epoch_for_each_new_grant,
    renewal_is_in_time_and_release_frees_at_once,
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    racing_acquirers_get_the_lease_once,
}
