//! [`OutboxRepository`](crate::store::OutboxRepository): a rule's cursor, its waiting callbacks in order per
//! receiver with the receiver's due time, the failed ones, the pause, and removing a rule.

use crate::{
    proto::v1::{DeliveryEvent, FailedCallback},
    store::{Fence, PauseRecord, PendingCallback, Store},
};

const APP: &str = "o#a";
const RULE: &str = "hook";

fn waiting(device: &str, position: u64, next_attempt_ms: i64) -> PendingCallback {
    PendingCallback {
        event: Some(DeliveryEvent {
            position,
            device_id: device.into(),
            ..Default::default()
        }),
        next_attempt_ms,
        ..Default::default()
    }
}

fn positions(p: &[PendingCallback]) -> Vec<u64> {
    p.iter().map(PendingCallback::position).collect()
}

async fn a_receiver_is_due_by_its_first_callback_and_the_next_follows_it(s: Store) {
    s.outbox
        .advance(
            APP,
            RULE,
            10,
            vec![
                waiting("d1", 3, 100),
                waiting("d1", 5, 0),
                waiting("d2", 4, 200),
            ],
        )
        .await
        .unwrap();
    assert_eq!(s.outbox.cursor(APP, RULE).await.unwrap(), Some(10));
    assert!(s.outbox.is_held(APP, RULE, "d1").await.unwrap());
    assert!(!s.outbox.is_held(APP, RULE, "d3").await.unwrap());
    assert_eq!(s.outbox.next_due_ms(APP, RULE).await.unwrap(), Some(100));
    assert!(s.outbox.due(APP, RULE, 99, 10).await.unwrap().is_empty());
    assert_eq!(
        positions(&s.outbox.due(APP, RULE, 250, 10).await.unwrap()),
        [3, 4]
    );

    // A later park for a held receiver queues behind, without moving its due time.
    s.outbox
        .advance(APP, RULE, 20, vec![waiting("d1", 12, 0)])
        .await
        .unwrap();
    assert_eq!(s.outbox.next_due_ms(APP, RULE).await.unwrap(), Some(100));

    // Failing again moves the receiver's due time.
    let mut first = waiting("d1", 3, 400);
    first.attempts = 2;
    s.outbox.reschedule(APP, RULE, first.clone()).await.unwrap();
    assert_eq!(
        positions(&s.outbox.due(APP, RULE, 300, 10).await.unwrap()),
        [4]
    );

    // Delivered: the next of the receiver is due at once, in position order.
    s.outbox.settle(APP, RULE, &first, None, 500).await.unwrap();
    assert_eq!(
        positions(&s.outbox.due(APP, RULE, 500, 10).await.unwrap()),
        [4, 5]
    );
    s.outbox
        .settle(APP, RULE, &waiting("d1", 5, 0), None, 600)
        .await
        .unwrap();
    s.outbox
        .settle(APP, RULE, &waiting("d1", 12, 0), None, 700)
        .await
        .unwrap();
    assert!(!s.outbox.is_held(APP, RULE, "d1").await.unwrap());
    assert_eq!(
        positions(&s.outbox.due(APP, RULE, 1_000, 10).await.unwrap()),
        [4]
    );
}

async fn a_given_up_callback_is_listed_and_can_be_queued_again(s: Store) {
    s.outbox
        .advance(APP, RULE, 9, vec![waiting("d1", 7, 0), waiting("d2", 9, 0)])
        .await
        .unwrap();
    for (device, position) in [("d1", 7), ("d2", 9)] {
        let failed = FailedCallback {
            id: crate::store::outbox::failed_id(RULE, position),
            rule_name: RULE.into(),
            event: waiting(device, position, 0).event,
            attempts: 3,
            ..Default::default()
        };
        s.outbox
            .settle(APP, RULE, &waiting(device, position, 0), Some(failed), 10)
            .await
            .unwrap();
    }
    assert!(
        s.outbox
            .due(APP, RULE, i64::MAX, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let listed = s.outbox.failed(APP, None, None, 10).await.unwrap();
    let ids: Vec<&str> = listed.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, ["hook/7", "hook/9"]);
    let after = s
        .outbox
        .failed(APP, Some(RULE), Some((RULE, 7)), 10)
        .await
        .unwrap();
    assert_eq!(after.len(), 1);
    assert!(
        s.outbox
            .failed(APP, Some("other"), None, 10)
            .await
            .unwrap()
            .is_empty()
    );

    assert!(s.outbox.requeue_failed(APP, RULE, 7, 50).await.unwrap());
    assert!(!s.outbox.requeue_failed(APP, RULE, 7, 50).await.unwrap());
    let due = s.outbox.due(APP, RULE, 50, 10).await.unwrap();
    assert_eq!(positions(&due), [7]);
    assert_eq!(due[0].budget_from_ms, 50, "a fresh retry budget");
    assert_eq!(s.outbox.failed(APP, None, None, 10).await.unwrap().len(), 1);

    s.outbox.remove_rule(APP, RULE).await.unwrap();
    assert!(
        s.outbox
            .failed(APP, None, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        s.outbox
            .due(APP, RULE, i64::MAX, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.outbox.cursor(APP, RULE).await.unwrap(), None);
}

/// A rule that never started has no cursor, no pause, nothing waiting; the cursor is set, moved and forgotten
/// on its own, and each rule of each app has its own.
async fn cursors_and_pauses_are_per_rule(s: Store) {
    let outbox = &s.outbox;
    assert_eq!(outbox.cursor(APP, RULE).await.unwrap(), None);
    assert_eq!(
        outbox.pause(APP, RULE).await.unwrap(),
        PauseRecord::default()
    );
    assert_eq!(outbox.waiting_count(APP, RULE).await.unwrap(), 0);
    assert_eq!(outbox.next_due_ms(APP, RULE).await.unwrap(), None);

    outbox.set_cursor(APP, RULE, 42).await.unwrap();
    outbox.set_cursor(APP, "hook2", 7).await.unwrap();
    outbox.set_cursor("o#ab", RULE, 9).await.unwrap();
    assert_eq!(outbox.cursor(APP, RULE).await.unwrap(), Some(42));
    // Moving back is allowed: the caller decides where the rule is.
    outbox.set_cursor(APP, RULE, 40).await.unwrap();
    assert_eq!(outbox.cursor(APP, RULE).await.unwrap(), Some(40));
    outbox.advance(APP, RULE, 45, vec![]).await.unwrap();
    assert_eq!(outbox.cursor(APP, RULE).await.unwrap(), Some(45));
    outbox.forget_cursor(APP, RULE).await.unwrap();
    assert_eq!(outbox.cursor(APP, RULE).await.unwrap(), None);
    outbox.forget_cursor(APP, RULE).await.unwrap();
    assert_eq!(outbox.cursor(APP, "hook2").await.unwrap(), Some(7));
    assert_eq!(outbox.cursor("o#ab", RULE).await.unwrap(), Some(9));

    let pause = PauseRecord {
        paused_until_ms: 1_000,
        pause_starts_ms: vec![100, 400],
    };
    outbox.set_pause(APP, RULE, pause.clone()).await.unwrap();
    assert_eq!(outbox.pause(APP, RULE).await.unwrap(), pause);
    assert_eq!(
        outbox.pause(APP, "hook2").await.unwrap(),
        PauseRecord::default()
    );
    assert_eq!(
        outbox.pause("o#ab", RULE).await.unwrap(),
        PauseRecord::default()
    );
    let cleared = PauseRecord {
        paused_until_ms: 0,
        pause_starts_ms: vec![400],
    };
    outbox.set_pause(APP, RULE, cleared.clone()).await.unwrap();
    assert_eq!(outbox.pause(APP, RULE).await.unwrap(), cleared);
}

/// `waiting_count` counts every waiting callback of the rule, not receivers; `due` gives each due receiver's
/// first callback, earliest due first, at most `limit`; a receiver without a device is ordered by its user.
async fn waiting_callbacks_are_counted_and_due_receivers_limited(s: Store) {
    let outbox = &s.outbox;
    let mut no_device = waiting("", 6, 20);
    no_device.event.as_mut().unwrap().target = "bob".into();
    outbox
        .advance(
            APP,
            RULE,
            10,
            vec![
                waiting("d1", 3, 100),
                waiting("d2", 4, 50),
                waiting("d1", 5, 0),
                waiting("d3", 7, 200),
                no_device,
            ],
        )
        .await
        .unwrap();
    outbox
        .advance(APP, "hook2", 10, vec![waiting("d1", 3, 0)])
        .await
        .unwrap();
    outbox
        .advance("o#ab", RULE, 10, vec![waiting("d9", 3, 0)])
        .await
        .unwrap();
    assert_eq!(outbox.waiting_count(APP, RULE).await.unwrap(), 5);
    assert_eq!(outbox.waiting_count(APP, "hook2").await.unwrap(), 1);
    assert!(outbox.is_held(APP, RULE, "@bob").await.unwrap());
    assert!(!outbox.is_held(APP, RULE, "bob").await.unwrap());
    assert!(!outbox.is_held(APP, RULE, "d9").await.unwrap());
    assert_eq!(outbox.next_due_ms(APP, RULE).await.unwrap(), Some(20));

    assert_eq!(
        positions(&outbox.due(APP, RULE, 300, 2).await.unwrap()),
        [6, 4]
    );
    assert_eq!(
        positions(&outbox.due(APP, RULE, 300, 10).await.unwrap()),
        [6, 4, 3, 7]
    );
    assert_eq!(
        positions(&outbox.due(APP, RULE, 100, 10).await.unwrap()),
        [6, 4, 3]
    );
    assert!(outbox.due(APP, RULE, 300, 0).await.unwrap().is_empty());

    // Settling takes one callback off the count.
    outbox
        .settle(APP, RULE, &waiting("d2", 4, 50), None, 300)
        .await
        .unwrap();
    assert_eq!(outbox.waiting_count(APP, RULE).await.unwrap(), 4);
    assert!(!outbox.is_held(APP, RULE, "d2").await.unwrap());
}

/// Removing a rule takes its cursor, waiting and failed callbacks and pause, and leaves the app's other rules
/// and another app's rule of the same name alone.
async fn removing_a_rule_leaves_other_rules(s: Store) {
    let outbox = &s.outbox;
    for (app, rule) in [(APP, RULE), (APP, "hook2"), ("o#ab", RULE)] {
        outbox
            .advance(
                app,
                rule,
                10,
                vec![waiting("d1", 3, 0), waiting("d2", 4, 0)],
            )
            .await
            .unwrap();
        let failed = FailedCallback {
            id: crate::store::outbox::failed_id(rule, 4),
            rule_name: rule.into(),
            event: waiting("d2", 4, 0).event,
            ..Default::default()
        };
        outbox
            .settle(app, rule, &waiting("d2", 4, 0), Some(failed), 5)
            .await
            .unwrap();
        let pause = PauseRecord {
            paused_until_ms: 99,
            pause_starts_ms: vec![1],
        };
        outbox.set_pause(app, rule, pause).await.unwrap();
    }
    outbox.remove_rule(APP, RULE).await.unwrap();
    assert_eq!(outbox.cursor(APP, RULE).await.unwrap(), None);
    assert_eq!(outbox.waiting_count(APP, RULE).await.unwrap(), 0);
    assert!(!outbox.is_held(APP, RULE, "d1").await.unwrap());
    assert_eq!(outbox.next_due_ms(APP, RULE).await.unwrap(), None);
    assert!(
        outbox
            .failed(APP, Some(RULE), None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        outbox.pause(APP, RULE).await.unwrap(),
        PauseRecord::default()
    );
    assert!(!outbox.requeue_failed(APP, RULE, 4, 10).await.unwrap());

    for (app, rule) in [(APP, "hook2"), ("o#ab", RULE)] {
        assert_eq!(outbox.cursor(app, rule).await.unwrap(), Some(10));
        assert_eq!(outbox.waiting_count(app, rule).await.unwrap(), 1);
        assert!(outbox.is_held(app, rule, "d1").await.unwrap());
        assert_eq!(outbox.pause(app, rule).await.unwrap().paused_until_ms, 99);
        let failed = outbox.failed(app, None, None, 10).await.unwrap();
        assert_eq!(failed.len(), 1, "{app} {rule}");
        assert_eq!(failed[0].rule_name, rule);
    }
}

/// Failed callbacks list oldest event first across rules, page after an id, and the rule filter applies before
/// the limit.
async fn failed_callbacks_page_in_event_order(s: Store) {
    let outbox = &s.outbox;
    for (rule, position) in [("b", 5), ("a", 8), ("b", 2), ("a", 5), ("b", 9)] {
        let callback = waiting(&format!("d{position}"), position, 0);
        outbox
            .advance(APP, rule, position, vec![callback.clone()])
            .await
            .unwrap();
        let failed = FailedCallback {
            id: crate::store::outbox::failed_id(rule, position),
            rule_name: rule.into(),
            event: callback.event.clone(),
            attempts: 4,
            last_http_status: 503,
            ..Default::default()
        };
        outbox
            .settle(APP, rule, &callback, Some(failed), 10)
            .await
            .unwrap();
    }
    let ids = |page: Vec<FailedCallback>| page.into_iter().map(|f| f.id).collect::<Vec<_>>();
    let all = outbox.failed(APP, None, None, 10).await.unwrap();
    assert_eq!(
        (all[0].attempts, all[0].last_http_status),
        (4, 503),
        "kept whole"
    );
    let positions: Vec<u64> = all
        .iter()
        .map(|f| f.event.as_ref().unwrap().position)
        .collect();
    assert_eq!(positions, [2, 5, 5, 8, 9]);
    assert_eq!(
        ids(outbox.failed(APP, None, Some(("b", 2)), 10).await.unwrap()).len(),
        4
    );
    assert_eq!(
        ids(outbox.failed(APP, Some("b"), None, 2).await.unwrap()),
        ["b/2", "b/5"]
    );
    assert_eq!(
        ids(outbox
            .failed(APP, Some("b"), Some(("b", 5)), 2)
            .await
            .unwrap()),
        ["b/9"]
    );
    assert_eq!(
        ids(outbox
            .failed(APP, Some("a"), Some(("a", 5)), 10)
            .await
            .unwrap()),
        ["a/8"]
    );
    assert!(
        outbox
            .failed("o#ab", None, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(outbox.failed(APP, None, None, 0).await.unwrap().is_empty());
}

/// A failed callback requeued while its receiver has newer callbacks waiting joins them in position order:
/// it is the receiver's first again, with a fresh retry budget.
async fn a_requeued_callback_rejoins_its_receivers_queue(s: Store) {
    let outbox = &s.outbox;
    let given_up = waiting("d1", 2, 0);
    outbox
        .advance(APP, RULE, 2, vec![given_up.clone()])
        .await
        .unwrap();
    let failed = FailedCallback {
        id: crate::store::outbox::failed_id(RULE, 2),
        rule_name: RULE.into(),
        event: given_up.event.clone(),
        ..Default::default()
    };
    outbox
        .settle(APP, RULE, &given_up, Some(failed), 10)
        .await
        .unwrap();
    outbox
        .advance(
            APP,
            RULE,
            5,
            vec![waiting("d1", 4, 300), waiting("d1", 5, 0)],
        )
        .await
        .unwrap();
    assert!(outbox.requeue_failed(APP, RULE, 2, 50).await.unwrap());
    assert!(outbox.is_held(APP, RULE, "d1").await.unwrap());
    assert_eq!(outbox.waiting_count(APP, RULE).await.unwrap(), 3);
    let due = outbox.due(APP, RULE, 300, 10).await.unwrap();
    assert_eq!(positions(&due), [2]);
    assert_eq!(due[0].budget_from_ms, 50);
    assert!(outbox.failed(APP, None, None, 10).await.unwrap().is_empty());
    outbox.settle(APP, RULE, &due[0], None, 400).await.unwrap();
    assert_eq!(
        positions(&outbox.due(APP, RULE, 400, 10).await.unwrap()),
        [4]
    );
}

/// A fenced advance writes only while its lease is the holder's at that epoch: once the lease went to
/// another replica (a new epoch), the old holder's cursor move and parked callbacks are refused whole.
async fn a_fenced_advance_is_refused_once_the_lease_moved_on(s: Store) {
    let name = "callback/o#a/r";
    let first = s
        .leases
        .acquire_lease(name, "r1", 0, 1_000)
        .await
        .unwrap()
        .unwrap();
    let fence = |l: &crate::store::LeaseRecord| Fence {
        name: name.into(),
        holder: l.holder.clone(),
        epoch: l.epoch,
    };
    let o = &s.outbox;
    assert!(
        o.advance_fenced("o#a", "r", 5, vec![], Some(&fence(&first)))
            .await
            .unwrap()
    );
    // r1 paused past its lease; r2 took it.
    let second = s
        .leases
        .acquire_lease(name, "r2", 2_000, 3_000)
        .await
        .unwrap()
        .unwrap();
    assert!(
        !o.advance_fenced(
            "o#a",
            "r",
            9,
            vec![waiting("d1", 7, 10)],
            Some(&fence(&first))
        )
        .await
        .unwrap(),
        "r1's late write"
    );
    assert_eq!(o.cursor("o#a", "r").await.unwrap(), Some(5));
    assert_eq!(o.waiting_count("o#a", "r").await.unwrap(), 0);
    assert!(
        o.advance_fenced("o#a", "r", 9, vec![], Some(&fence(&second)))
            .await
            .unwrap()
    );
    assert_eq!(o.cursor("o#a", "r").await.unwrap(), Some(9));
    // Released, the fence no longer holds either.
    assert!(
        s.leases
            .release_lease(name, "r2", second.epoch)
            .await
            .unwrap()
    );
    assert!(
        !o.advance_fenced("o#a", "r", 12, vec![], Some(&fence(&second)))
            .await
            .unwrap()
    );
}

/// A parked callback's retry by a lapsed holder is refused (settle and reschedule alike), and a reschedule
/// never brings back a callback that was settled meanwhile (which would put it before the receiver's later
/// callbacks again).
async fn late_retries_neither_undo_nor_revive_a_callback(s: Store) {
    let name = "callback/o#a/r";
    let lease = |holder: &str, now: i64| {
        let s = s.clone();
        let holder = holder.to_owned();
        async move {
            s.leases
                .acquire_lease(name, &holder, now, now + 1_000)
                .await
                .unwrap()
                .unwrap()
        }
    };
    let fence = |l: &crate::store::LeaseRecord| Fence {
        name: name.into(),
        holder: l.holder.clone(),
        epoch: l.epoch,
    };
    let o = &s.outbox;
    let first = lease("r1", 0).await;
    assert!(
        o.advance_fenced(
            "o#a",
            "r",
            8,
            vec![waiting("d1", 7, 10), waiting("d1", 8, 10)],
            Some(&fence(&first))
        )
        .await
        .unwrap()
    );
    let seven = o.due("o#a", "r", 100, 10).await.unwrap().remove(0);
    assert_eq!(seven.position(), 7);
    let second = lease("r2", 2_000).await;
    let mut late = seven.clone();
    late.attempts = 9;
    assert!(
        !o.reschedule_fenced("o#a", "r", late.clone(), Some(&fence(&first)))
            .await
            .unwrap()
    );
    assert!(
        !o.settle_fenced("o#a", "r", &seven, None, 100, Some(&fence(&first)))
            .await
            .unwrap()
    );
    assert_eq!(
        o.waiting_count("o#a", "r").await.unwrap(),
        2,
        "r1 changed nothing"
    );
    // r2 delivers 7; a reschedule of 7 arriving after that (from anyone) does not revive it.
    assert!(
        o.settle_fenced("o#a", "r", &seven, None, 200, Some(&fence(&second)))
            .await
            .unwrap()
    );
    assert!(
        o.reschedule_fenced("o#a", "r", late, Some(&fence(&second)))
            .await
            .unwrap()
    );
    let due = o.due("o#a", "r", 300, 10).await.unwrap();
    assert_eq!(positions(&due), [8], "7 stays delivered");
    assert_eq!(o.waiting_count("o#a", "r").await.unwrap(), 1);
}

conformance_tests! {
    late_retries_neither_undo_nor_revive_a_callback,
    a_fenced_advance_is_refused_once_the_lease_moved_on,
    a_receiver_is_due_by_its_first_callback_and_the_next_follows_it,
    a_given_up_callback_is_listed_and_can_be_queued_again,
    cursors_and_pauses_are_per_rule,
    waiting_callbacks_are_counted_and_due_receivers_limited,
    removing_a_rule_leaves_other_rules,
    failed_callbacks_page_in_event_order,
    a_requeued_callback_rejoins_its_receivers_queue,
}
