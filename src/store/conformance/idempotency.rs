//! [`IdempotencyRepository`](crate::store::IdempotencyRepository): one call claims a request id; its answer
//! is kept per app, RPC and request id until it expires; a claim ends when it is abandoned or runs out; the
//! sweep removes what expired.

use crate::store::{Begun, IdempotentAnswer, Store};

fn answer(response: &[u8], expire_ms: i64) -> IdempotentAnswer {
    IdempotentAnswer {
        response: response.to_vec(),
        expire_ms,
    }
}

/// The first call claims the request id; a second one while it runs is told until when; once the first
/// finishes every later call gets its answer, until the answer expires and the id can be claimed again.
async fn a_request_id_is_claimed_answered_and_expires(s: Store) {
    let idem = &s.idempotency;
    assert_eq!(
        idem.begin_idempotent("o#a", "Send", "r1", 0, 100)
            .await
            .unwrap(),
        Begun::Claimed
    );
    assert_eq!(
        idem.begin_idempotent("o#a", "Send", "r1", 50, 150)
            .await
            .unwrap(),
        Begun::Running { until_ms: 100 }
    );
    let first = answer(b"first", 1_000);
    idem.finish_idempotent("o#a", "Send", "r1", &first)
        .await
        .unwrap();
    for now in [60, 999] {
        assert_eq!(
            idem.begin_idempotent("o#a", "Send", "r1", now, now + 100)
                .await
                .unwrap(),
            Begun::Answered(first.clone()),
            "at {now}"
        );
    }
    assert_eq!(
        idem.begin_idempotent("o#a", "Send", "r1", 5_000, 5_100)
            .await
            .unwrap(),
        Begun::Claimed,
        "an expired answer no longer counts"
    );
    assert_eq!(
        idem.begin_idempotent("o#a", "Send", "r1", 5_050, 5_200)
            .await
            .unwrap(),
        Begun::Running { until_ms: 5_100 }
    );
}

/// Each app, RPC and request id is its own: a claim or answer of one is nothing to the others.
async fn request_ids_are_per_app_and_rpc(s: Store) {
    let idem = &s.idempotency;
    idem.begin_idempotent("o#a", "Send", "r1", 0, 100)
        .await
        .unwrap();
    let first = answer(b"first", 1_000);
    idem.finish_idempotent("o#a", "Send", "r1", &first)
        .await
        .unwrap();
    for (app, rpc, id) in [
        ("o#ab", "Send", "r1"),
        ("o#a", "SendAsync", "r1"),
        ("o#a", "Send", "r2"),
        ("o#a", "Sen", "dr1"),
    ] {
        assert_eq!(
            idem.begin_idempotent(app, rpc, id, 10, 100).await.unwrap(),
            Begun::Claimed,
            "{app} {rpc} {id}"
        );
    }
    let other = answer(b"other", 2_000);
    idem.finish_idempotent("o#a", "SendAsync", "r1", &other)
        .await
        .unwrap();
    assert_eq!(
        idem.begin_idempotent("o#a", "SendAsync", "r1", 20, 100)
            .await
            .unwrap(),
        Begun::Answered(other)
    );
    assert_eq!(
        idem.begin_idempotent("o#a", "Send", "r1", 20, 100)
            .await
            .unwrap(),
        Begun::Answered(first)
    );
}

/// A claim ends when its call abandons it (the retry runs again) or when its time runs out (its process
/// died); abandoning leaves an answer kept meanwhile alone.
async fn a_claim_ends_when_abandoned_or_run_out(s: Store) {
    let idem = &s.idempotency;
    idem.begin_idempotent("o#a", "Send", "r1", 0, 100)
        .await
        .unwrap();
    idem.abandon_idempotent("o#a", "Send", "r1").await.unwrap();
    assert_eq!(
        idem.begin_idempotent("o#a", "Send", "r1", 10, 100)
            .await
            .unwrap(),
        Begun::Claimed
    );
    // Nobody finishes or abandons it: the next call after its end claims the id.
    assert_eq!(
        idem.begin_idempotent("o#a", "Send", "r1", 150, 300)
            .await
            .unwrap(),
        Begun::Claimed
    );
    let kept = answer(b"kept", 1_000);
    idem.finish_idempotent("o#a", "Send", "r1", &kept)
        .await
        .unwrap();
    // The first call, late, gives up: the answer of the second stays.
    idem.abandon_idempotent("o#a", "Send", "r1").await.unwrap();
    assert_eq!(
        idem.begin_idempotent("o#a", "Send", "r1", 200, 300)
            .await
            .unwrap(),
        Begun::Answered(kept)
    );
    // Abandoning what was never claimed changes nothing.
    idem.abandon_idempotent("o#a", "Send", "r9").await.unwrap();
    assert_eq!(
        idem.begin_idempotent("o#a", "Send", "r9", 200, 300)
            .await
            .unwrap(),
        Begun::Claimed
    );
}

/// Calls racing with one request id: exactly one claims it, the others are told it runs.
async fn concurrent_calls_claim_once(s: Store) {
    let callers = (0..8).map(|_| {
        let s = s.clone();
        tokio::spawn(async move {
            s.idempotency
                .begin_idempotent("o#a", "Send", "r1", 10, 1_000)
                .await
                .unwrap()
        })
    });
    let mut claimed = 0;
    for caller in callers.collect::<Vec<_>>() {
        match caller.await.unwrap() {
            Begun::Claimed => claimed += 1,
            Begun::Running { until_ms } => assert_eq!(until_ms, 1_000),
            Begun::Answered(a) => panic!("nobody answered, yet {a:?}"),
        }
    }
    assert_eq!(claimed, 1);
}

/// The sweep removes expired answers and claims of every app, at most `limit` a call, and nothing that still
/// counts.
async fn the_sweep_removes_expired_answers_and_claims_in_batches(s: Store) {
    let idem = &s.idempotency;
    for (app, id, expire_ms) in [
        ("o#a", "r1", 100),
        ("o#b", "r2", 150),
        ("o#a", "r4", 10_000),
        ("o#b", "r5", 20_000),
    ] {
        idem.begin_idempotent(app, "Send", id, 0, 50).await.unwrap();
        idem.finish_idempotent(app, "Send", id, &answer(id.as_bytes(), expire_ms))
            .await
            .unwrap();
    }
    // A claim that ran out, and one that still runs.
    idem.begin_idempotent("o#a", "Send", "r3", 0, 200)
        .await
        .unwrap();
    idem.begin_idempotent("o#a", "Send", "r6", 0, 10_000)
        .await
        .unwrap();

    assert_eq!(idem.sweep_answers(50, 10).await.unwrap(), 0);
    assert_eq!(idem.sweep_answers(1_000, 2).await.unwrap(), 2);
    assert_eq!(idem.sweep_answers(1_000, 2).await.unwrap(), 1);
    assert_eq!(idem.sweep_answers(1_000, 2).await.unwrap(), 0);
    // What is left still counts.
    assert_eq!(
        idem.begin_idempotent("o#a", "Send", "r4", 1_000, 2_000)
            .await
            .unwrap(),
        Begun::Answered(answer(b"r4", 10_000))
    );
    assert_eq!(
        idem.begin_idempotent("o#a", "Send", "r6", 1_000, 2_000)
            .await
            .unwrap(),
        Begun::Running { until_ms: 10_000 }
    );
    // What was swept is gone even for a caller whose clock is behind.
    for (app, id) in [("o#a", "r1"), ("o#b", "r2"), ("o#a", "r3")] {
        assert_eq!(
            idem.begin_idempotent(app, "Send", id, 0, 10).await.unwrap(),
            Begun::Claimed,
            "{id}"
        );
    }
}

conformance_tests! {
    a_request_id_is_claimed_answered_and_expires,
    request_ids_are_per_app_and_rpc,
    a_claim_ends_when_abandoned_or_run_out,
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    concurrent_calls_claim_once,
    the_sweep_removes_expired_answers_and_claims_in_batches,
}
