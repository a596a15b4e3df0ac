//! [`PushQueueRepository`](crate::store::PushQueueRepository): accepted pushes are queued claimed by their
//! acceptor, in acceptance order per app; a claim keeps every other holder off an entry until it is
//! released, runs out or is forgotten; only the holder completes an entry.

use crate::{
    proto::v1::PushMessage,
    store::{QueueClaim, QueueKey, QueuedPush, Store},
};

fn push(app: &str, user: &str, accepted_ms: i64) -> QueuedPush {
    QueuedPush {
        app: app.into(),
        user: user.into(),
        message_id: format!("m-{user}"),
        strategy: 2,
        message: Some(PushMessage::default()),
        accepted_ms,
    }
}

fn claim(holder: &str, until_ms: i64) -> QueueClaim {
    QueueClaim {
        holder: holder.into(),
        until_ms,
    }
}

fn keys_of(entries: &[(QueueKey, QueuedPush)]) -> Vec<QueueKey> {
    entries.iter().map(|(key, _)| key.clone()).collect()
}

/// Everything `holder` can claim at `now_ms`, paging with `limit`.
async fn claim_pages(
    s: &Store,
    limit: usize,
    holder: &QueueClaim,
    now_ms: i64,
) -> Vec<(QueueKey, QueuedPush)> {
    let mut out: Vec<(QueueKey, QueuedPush)> = Vec::new();
    loop {
        let after = out.last().map(|(key, _)| key.clone());
        let page = s
            .push_queue
            .claim_queued(after.as_ref(), limit, holder, now_ms)
            .await
            .unwrap();
        assert!(page.len() <= limit);
        if page.is_empty() {
            return out;
        }
        out.extend(page);
    }
}

/// Enqueued pushes read back whole by their keys and are counted; the holder completes them one by one.
async fn queued_pushes_read_back_and_complete(s: Store) {
    let q = &s.push_queue;
    let mine = claim("p1", 1_000);
    assert_eq!(q.queue_len().await.unwrap(), 0);
    assert!(q.enqueue(&[], &mine).await.unwrap().is_empty());
    let pushes = [push("o#a", "u1", 10), push("o#a", "u2", 10)];
    let keys = q.enqueue(&pushes, &mine).await.unwrap();
    assert_eq!(keys.len(), 2);
    assert_ne!(keys[0], keys[1]);
    assert_eq!(q.queue_len().await.unwrap(), 2);
    assert_eq!(
        q.queued_push(&keys[0]).await.unwrap(),
        Some(pushes[0].clone())
    );
    assert_eq!(
        q.queued_push(&keys[1]).await.unwrap(),
        Some(pushes[1].clone())
    );

    assert!(q.complete_queued(&keys[0], "p1").await.unwrap());
    assert!(q.queued_push(&keys[0]).await.unwrap().is_none());
    assert_eq!(q.queue_len().await.unwrap(), 1);
    assert!(
        !q.complete_queued(&keys[0], "p1").await.unwrap(),
        "gone already"
    );
    assert!(q.complete_queued(&keys[1], "p1").await.unwrap());
    assert_eq!(q.queue_len().await.unwrap(), 0);
    assert!(
        q.claim_queued(None, 10, &claim("p2", 1_000), i64::MAX)
            .await
            .unwrap()
            .is_empty()
    );
}

/// An entry is its acceptor's while the claim lasts: nobody else claims or completes it. Once the claim runs
/// out another holder takes it, and then the first can no longer complete it.
async fn a_claim_keeps_others_off_until_it_runs_out(s: Store) {
    let q = &s.push_queue;
    let keys = q
        .enqueue(&[push("o#a", "u1", 10)], &claim("p1", 100))
        .await
        .unwrap();
    let other = claim("p2", 500);
    assert!(
        q.claim_queued(None, 10, &other, 50)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(!q.complete_queued(&keys[0], "p2").await.unwrap());
    assert!(q.queued_push(&keys[0]).await.unwrap().is_some());

    let taken = q.claim_queued(None, 10, &other, 150).await.unwrap();
    assert_eq!(keys_of(&taken), keys);
    assert_eq!(taken[0].1, push("o#a", "u1", 10));
    // p2 holds it now, until 500.
    assert!(
        q.claim_queued(None, 10, &claim("p3", 900), 200)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(!q.complete_queued(&keys[0], "p1").await.unwrap());
    assert_eq!(q.queue_len().await.unwrap(), 1);
    assert!(q.complete_queued(&keys[0], "p2").await.unwrap());
    assert_eq!(q.queue_len().await.unwrap(), 0);
}

/// A released entry stays queued for anyone to claim; only the holder's release counts. `forget_claims`
/// ends every claim at once.
async fn released_and_forgotten_claims_free_their_entries(s: Store) {
    let q = &s.push_queue;
    let keys = q
        .enqueue(
            &[
                push("o#a", "u1", 10),
                push("o#a", "u2", 10),
                push("o#b", "u3", 10),
            ],
            &claim("p1", 1_000),
        )
        .await
        .unwrap();
    q.release_queued(&keys[1], "p2").await.unwrap();
    assert!(
        q.claim_queued(None, 10, &claim("p2", 2_000), 10)
            .await
            .unwrap()
            .is_empty()
    );
    q.release_queued(&keys[1], "p1").await.unwrap();
    assert_eq!(q.queue_len().await.unwrap(), 3, "released, not removed");
    let taken = q
        .claim_queued(None, 10, &claim("p2", 2_000), 10)
        .await
        .unwrap();
    assert_eq!(keys_of(&taken), [keys[1].clone()]);
    assert!(!q.complete_queued(&keys[1], "p1").await.unwrap());

    q.forget_claims().await.unwrap();
    let taken = q
        .claim_queued(None, 10, &claim("p3", 2_000), 10)
        .await
        .unwrap();
    let mut taken = keys_of(&taken);
    taken.sort();
    let mut all = keys.clone();
    all.sort();
    assert_eq!(taken, all);
    for key in &keys {
        assert!(q.complete_queued(key, "p3").await.unwrap());
    }
    assert_eq!(q.queue_len().await.unwrap(), 0);
}

/// `claim_queued` pages through every free entry once, in key order; within an app that is the order of
/// acceptance, across calls as within one `enqueue`; held entries are skipped without using up the limit.
async fn claims_page_in_acceptance_order_per_app(s: Store) {
    let q = &s.push_queue;
    let acceptor = claim("acceptor", 100);
    let mut accepted: Vec<(QueueKey, QueuedPush)> = Vec::new();
    for round in 0..4 {
        let batch: Vec<QueuedPush> = ["o#b", "o#a", "o#ab"]
            .iter()
            .flat_map(|app| (0..2).map(move |i| push(app, &format!("u{round}{i}"), round)))
            .collect();
        let keys = q.enqueue(&batch, &acceptor).await.unwrap();
        assert_eq!(keys.len(), batch.len());
        accepted.extend(keys.into_iter().zip(batch));
    }
    assert_eq!(q.queue_len().await.unwrap(), 24);
    // One entry is still held by someone else when the scan comes.
    let busy = q
        .claim_queued(None, 1, &claim("busy", 10_000), 200)
        .await
        .unwrap();

    let all = claim_pages(&s, 5, &claim("scanner", 1_000), 200).await;
    assert_eq!(all.len(), 23);
    assert!(all.iter().all(|(key, _)| *key != busy[0].0));
    assert!(all.windows(2).all(|w| w[0].0 < w[1].0), "key order");
    for (key, pushed) in &accepted {
        let found = all
            .iter()
            .chain(&busy)
            .find(|(k, _)| k == key)
            .map(|(_, p)| p);
        assert_eq!(found, Some(pushed));
    }
    for app in ["o#a", "o#ab", "o#b"] {
        let listed: Vec<&str> = all
            .iter()
            .chain(&busy)
            .filter(|(_, p)| p.app == app)
            .map(|(_, p)| p.user.as_str())
            .collect();
        let mut listed_sorted = listed.clone();
        listed_sorted.sort();
        let in_order: Vec<&str> = accepted
            .iter()
            .filter(|(_, p)| p.app == app)
            .map(|(_, p)| p.user.as_str())
            .collect();
        let mut in_order_sorted = in_order.clone();
        in_order_sorted.sort();
        assert_eq!(listed_sorted, in_order_sorted, "{app}: every push");
        let scanned: Vec<&QueueKey> = accepted
            .iter()
            .filter(|(_, p)| p.app == app)
            .map(|(k, _)| k)
            .collect();
        assert!(
            scanned.windows(2).all(|w| w[0] < w[1]),
            "{app}: acceptance order"
        );
    }
    // Nothing is free any more; a page after the last key is empty.
    assert!(
        claim_pages(&s, 5, &claim("late", 1_000), 200)
            .await
            .is_empty()
    );
    let last = all.last().unwrap().0.clone();
    q.forget_claims().await.unwrap();
    assert!(
        q.claim_queued(Some(&last), 10, &claim("late", 1_000), 200)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        q.claim_queued(None, 0, &claim("late", 1_000), 200)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Scanners racing over the same entries: each entry goes to exactly one of them.
async fn concurrent_claimers_never_share_an_entry(s: Store) {
    let pushes: Vec<QueuedPush> = (0..40)
        .map(|i| push("o#a", &format!("u{i:02}"), i))
        .collect();
    let keys = s
        .push_queue
        .enqueue(&pushes, &claim("acceptor", 10))
        .await
        .unwrap();
    let scanners = (0..4).map(|w| {
        let s = s.clone();
        tokio::spawn(async move {
            let mine = claim(&format!("scanner{w}"), 10_000);
            let mut taken = Vec::new();
            for _ in 0..20 {
                let page = s
                    .push_queue
                    .claim_queued(None, 3, &mine, 100)
                    .await
                    .unwrap();
                taken.extend(page.into_iter().map(|(key, _)| key));
            }
            taken
        })
    });
    let mut all: Vec<QueueKey> = Vec::new();
    for scanner in scanners.collect::<Vec<_>>() {
        all.extend(scanner.await.unwrap());
    }
    all.sort();
    let mut expected = keys;
    expected.sort();
    assert_eq!(all, expected, "every entry claimed exactly once");
}

/// Claims of holders that are gone end, and only those: not a live holder's, not one made too recently to
/// judge (its `until_ms` after the bound), and each entry stays queued for the next claimer.
async fn claims_of_gone_holders_end_and_live_ones_stay(s: Store) {
    let q = &s.push_queue;
    let live = q
        .enqueue(&[push("o#a", "u1", 10)], &claim("alive", 1_000))
        .await
        .unwrap();
    let gone = q
        .enqueue(
            &[push("o#a", "u2", 10), push("o#b", "u3", 10)],
            &claim("dead", 1_000),
        )
        .await
        .unwrap();
    let recent = q
        .enqueue(&[push("o#a", "u4", 10)], &claim("new", 5_000))
        .await
        .unwrap();
    let released = q
        .release_gone_claims(&["alive".to_owned()], 2_000)
        .await
        .unwrap();
    assert_eq!(released, 2);
    assert_eq!(
        q.release_gone_claims(&["alive".to_owned()], 2_000)
            .await
            .unwrap(),
        0,
        "released already"
    );
    let taken = q
        .claim_queued(None, 10, &claim("taker", 9_000), 10)
        .await
        .unwrap();
    let mut taken = keys_of(&taken);
    taken.sort();
    assert_eq!(taken, gone, "only the gone holder's entries");
    assert!(!q.complete_queued(&gone[0], "dead").await.unwrap());
    assert!(q.complete_queued(&live[0], "alive").await.unwrap());
    assert!(q.complete_queued(&recent[0], "new").await.unwrap());
    assert_eq!(q.queue_len().await.unwrap(), 2);
}

conformance_tests! {
    claims_of_gone_holders_end_and_live_ones_stay,
    queued_pushes_read_back_and_complete,
    a_claim_keeps_others_off_until_it_runs_out,
    released_and_forgotten_claims_free_their_entries,
    claims_page_in_acceptance_order_per_app,
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    concurrent_claimers_never_share_an_entry,
}
