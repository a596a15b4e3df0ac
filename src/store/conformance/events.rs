//! [`EventRepository`](crate::store::EventRepository): the event log's positions, reads after a position, its
//! ends, and the retention's sweep with the horizon it leaves.

use crate::{clock::timestamp, proto::v1::DeliveryEvent, store::Store};

fn stamped(ms: i64) -> DeliveryEvent {
    DeliveryEvent {
        timestamp: Some(timestamp(ms)),
        ..Default::default()
    }
}

fn positions(events: &[DeliveryEvent]) -> Vec<u64> {
    events.iter().map(|e| e.position).collect()
}

/// The 300-event append crosses sled's chunk size (256 events), so reads start inside a chunk and cross one;
/// for any backend it is a long append read from its middle.
async fn reads_start_inside_a_chunk_and_cross_chunks_and_apps_stay_apart(s: Store) {
    let first = s
        .events
        .append_events("o#a", (0..300).map(|_| stamped(1_000)).collect())
        .await
        .unwrap();
    s.events
        .append_events("o#b", vec![stamped(1_000)])
        .await
        .unwrap();
    let second = s
        .events
        .append_events("o#a", (0..10).map(|_| stamped(5_000)).collect())
        .await
        .unwrap();
    let positions: Vec<u64> = first.iter().chain(&second).map(|e| e.position).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]));

    // From inside the first chunk, across the second, into the next append.
    let after = positions[100];
    let read = s.events.events_after("o#a", after, 1_000).await.unwrap();
    let read: Vec<u64> = read.iter().map(|e| e.position).collect();
    assert_eq!(read, positions[101..]);
    let read = s.events.events_after("o#a", after, 5).await.unwrap();
    assert_eq!(read.len(), 5);
    assert_eq!(read[0].position, positions[101]);
    assert!(
        s.events
            .events_after("o#a", positions[309], 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.events.events_after("o#b", 0, 10).await.unwrap().len(), 1);
    assert_eq!(
        s.events.first_event_position("o#a").await.unwrap(),
        Some(positions[0])
    );
    assert_eq!(
        s.events.last_event_position("o#a").await.unwrap(),
        Some(positions[309])
    );

    // The sweep takes the old append's chunks whole and moves the horizon past them.
    let removed = s.events.sweep_events(2_000, 1_000_000).await.unwrap();
    assert_eq!(removed, 301);
    assert_eq!(s.events.swept_through("o#a").await.unwrap(), positions[299]);
    let left = s.events.events_after("o#a", 0, 1_000).await.unwrap();
    assert_eq!(left.len(), 10);
    assert_eq!(
        s.events.first_event_position("o#a").await.unwrap(),
        Some(positions[300])
    );
}

/// An empty log has no ends and nothing swept; an app's log is its own.
async fn an_empty_log_has_no_positions(s: Store) {
    let events = &s.events;
    assert_eq!(events.first_event_position("o#a").await.unwrap(), None);
    assert_eq!(events.last_event_position("o#a").await.unwrap(), None);
    assert_eq!(events.swept_through("o#a").await.unwrap(), 0);
    assert!(events.events_after("o#a", 0, 10).await.unwrap().is_empty());
    assert_eq!(events.sweep_events(i64::MAX, 10).await.unwrap(), 0);
    assert!(
        events
            .append_events("o#a", vec![])
            .await
            .unwrap()
            .is_empty()
    );
    events
        .append_events("o#ab", vec![stamped(1)])
        .await
        .unwrap();
    assert_eq!(events.first_event_position("o#a").await.unwrap(), None);
    assert_eq!(events.last_event_position("o#a").await.unwrap(), None);
    assert!(events.events_after("o#a", 0, 10).await.unwrap().is_empty());
}

/// Appends return the events as stored, each with a new position above every earlier one, whatever position
/// they came with; reads give them back whole, in position order.
async fn appended_events_get_increasing_positions_and_read_back_whole(s: Store) {
    let events = &s.events;
    let mut event = stamped(1_000);
    event.position = 999_999;
    event.msg_id = "m1".into();
    event.target = "alice".into();
    event.device_id = "d1".into();
    event.data = "answer".into();
    let first = events
        .append_events("o#a", vec![event.clone(), stamped(1_001)])
        .await
        .unwrap();
    assert_eq!(first.len(), 2);
    assert_eq!(
        DeliveryEvent {
            position: event.position,
            ..first[0].clone()
        },
        event,
        "stored as given but for the position"
    );
    let other = events
        .append_events("o#b", vec![stamped(1_002)])
        .await
        .unwrap();
    let second = events
        .append_events("o#a", vec![stamped(1_003)])
        .await
        .unwrap();
    let mine: Vec<u64> = positions(&first)
        .into_iter()
        .chain(positions(&second))
        .collect();
    assert!(mine[0] >= 1, "position 0 is before every event");
    assert!(mine.windows(2).all(|w| w[0] < w[1]), "{mine:?}");

    let read = events.events_after("o#a", 0, 10).await.unwrap();
    assert_eq!(positions(&read), mine);
    assert_eq!(read[0], first[0]);
    assert_eq!(read[2], second[0]);
    assert_eq!(events.events_after("o#b", 0, 10).await.unwrap(), other);
    assert_eq!(
        positions(&events.events_after("o#a", mine[0], 1).await.unwrap()),
        [mine[1]]
    );
    assert_eq!(
        events.first_event_position("o#a").await.unwrap(),
        Some(mine[0])
    );
    assert_eq!(
        events.last_event_position("o#a").await.unwrap(),
        Some(mine[2])
    );
    assert!(events.events_after("o#a", 0, 0).await.unwrap().is_empty());
}

/// The sweep removes only what was recorded strictly before its time, of every app, at most `limit` events a
/// call (here each append is one event); `swept_through` follows the highest position removed.
async fn the_sweep_removes_old_events_in_batches_and_keeps_its_horizon(s: Store) {
    let events = &s.events;
    let mut old = Vec::new();
    for (app, ms) in [("o#a", 100), ("o#b", 110), ("o#a", 120), ("o#a", 130)] {
        let stored = events.append_events(app, vec![stamped(ms)]).await.unwrap();
        old.push((app, stored[0].position));
    }
    let kept = events
        .append_events("o#a", vec![stamped(200)])
        .await
        .unwrap();

    assert_eq!(
        events.sweep_events(100, 10).await.unwrap(),
        0,
        "strictly before"
    );
    assert_eq!(events.swept_through("o#a").await.unwrap(), 0);
    assert_eq!(events.sweep_events(200, 2).await.unwrap(), 2);
    assert_eq!(events.sweep_events(200, 2).await.unwrap(), 2);
    assert_eq!(events.sweep_events(200, 2).await.unwrap(), 0);

    let a_old: Vec<u64> = old
        .iter()
        .filter(|(a, _)| *a == "o#a")
        .map(|(_, p)| *p)
        .collect();
    assert_eq!(events.swept_through("o#a").await.unwrap(), a_old[2]);
    assert_eq!(events.swept_through("o#b").await.unwrap(), old[1].1);
    assert_eq!(events.swept_through("o#c").await.unwrap(), 0);
    assert_eq!(events.events_after("o#a", 0, 10).await.unwrap(), kept);
    assert!(events.events_after("o#b", 0, 10).await.unwrap().is_empty());
    assert_eq!(
        events.first_event_position("o#a").await.unwrap(),
        Some(kept[0].position)
    );
    assert_eq!(
        events.last_event_position("o#a").await.unwrap(),
        Some(kept[0].position)
    );
    assert_eq!(events.first_event_position("o#b").await.unwrap(), None);

    // New events after a sweep still get positions above everything before.
    let later = events
        .append_events("o#b", vec![stamped(300)])
        .await
        .unwrap();
    assert!(later[0].position > kept[0].position);
    assert_eq!(events.swept_through("o#b").await.unwrap(), old[1].1);
}

/// Positions become visible in order: while appends race, a reader that reads after the last position it
/// has seen never misses an event (none appears later below a position it passed). Eight appenders of 40
/// single-event appends race one reader; at the end the reader must have seen every event.
async fn positions_become_visible_in_order_while_appends_race(s: Store) {
    const WRITERS: usize = 8;
    const APPENDS: usize = 40;
    let writers: Vec<_> = (0..WRITERS)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move {
                for _ in 0..APPENDS {
                    s.events
                        .append_events("o#a", vec![stamped(1_000)])
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    let (mut last, mut seen) = (0, 0);
    while seen < WRITERS * APPENDS {
        for event in s.events.events_after("o#a", last, 1_000).await.unwrap() {
            assert!(event.position > last);
            last = event.position;
            seen += 1;
        }
        tokio::task::yield_now().await;
        let all_done = writers.iter().all(|w| w.is_finished());
        if all_done {
            // One more read after the last append; then every event must have been seen.
            seen += s
                .events
                .events_after("o#a", last, 1_000)
                .await
                .unwrap()
                .len();
            break;
        }
    }
    for w in writers {
        w.await.unwrap();
    }
    let everything = s.events.events_after("o#a", 0, 10_000).await.unwrap();
    assert_eq!(everything.len(), WRITERS * APPENDS);
    assert_eq!(
        seen,
        everything.len(),
        "the reader missed events that appeared below a position it had passed"
    );
}

/// Appends made at once, of several events each, come back each with its own events, in its order, at
/// increasing positions (a backend may write them together: PostgreSQL's group commit does), and the log
/// holds every one of them once.
async fn appends_made_at_once_each_get_their_own_events_back(s: Store) {
    const CALLERS: usize = 24;
    let callers: Vec<_> = (0..CALLERS)
        .map(|c| {
            let s = s.clone();
            tokio::spawn(async move {
                let events: Vec<DeliveryEvent> = (0..=c % 4)
                    .map(|i| DeliveryEvent {
                        target: format!("caller{c}"),
                        device_id: format!("event{i}"),
                        ..stamped(1_000)
                    })
                    .collect();
                let stored = s.events.append_events("o#a", events.clone()).await.unwrap();
                (events, stored)
            })
        })
        .collect();
    let mut total = 0;
    for caller in callers {
        let (sent, stored) = caller.await.unwrap();
        let mine: Vec<(String, String)> = stored
            .iter()
            .map(|e| (e.target.clone(), e.device_id.clone()))
            .collect();
        let expected: Vec<(String, String)> = sent
            .iter()
            .map(|e| (e.target.clone(), e.device_id.clone()))
            .collect();
        assert_eq!(mine, expected);
        assert!(positions(&stored).windows(2).all(|w| w[0] < w[1]));
        total += sent.len();
    }
    let everything = s.events.events_after("o#a", 0, 10_000).await.unwrap();
    assert_eq!(everything.len(), total);
    let distinct: std::collections::HashSet<(String, String)> = everything
        .iter()
        .map(|e| (e.target.clone(), e.device_id.clone()))
        .collect();
    assert_eq!(distinct.len(), total, "every event stored once");
}

conformance_tests! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    appends_made_at_once_each_get_their_own_events_back,
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    positions_become_visible_in_order_while_appends_race,
    reads_start_inside_a_chunk_and_cross_chunks_and_apps_stay_apart,
    an_empty_log_has_no_positions,
    appended_events_get_increasing_positions_and_read_back_whole,
    the_sweep_removes_old_events_in_batches_and_keeps_its_horizon,
}
