//! A copy answers as its source did, through every repository, whether it ran whole or was interrupted and
//! resumed; and what the target numbers next continues above what was copied.

use std::time::Duration;

use super::{
    FAR, assert_same, copy_dir, open_source, populated, postgres_store, sled_store, target, user,
    view,
};
use crate::{
    proto::v1::DeliveryEvent,
    store::{
        AckSubject, InboxEntry, QueueClaim, QueuedPush, Store,
        conformance::postgres_database,
        copy::CopyOptions,
        portable::{Kind, Record},
    },
};

#[tokio::test]
async fn a_copy_answers_as_the_source_did() {
    let users = 5;
    let (dir, before) = populated(users).await;
    let url = postgres_database().await;
    let mut to = target(&url).await;
    let report = copy_dir(
        &dir,
        &mut to,
        &CopyOptions {
            batch_size: 4,
            ..CopyOptions::default()
        },
    )
    .await
    .expect("copy");
    assert!(!report.resumed);
    assert!(report.counts.iter().all(|c| c.agrees()));
    let count = |kind: Kind| {
        report
            .counts
            .iter()
            .find(|c| c.kind == kind)
            .map(|c| c.in_target)
    };
    assert_eq!(count(Kind::Bindings), Some(2 * users as u64));
    assert_eq!(
        count(Kind::LabelUsers),
        Some(2 * (users + users / 2) as u64)
    );
    assert_eq!(count(Kind::QueuedPushes), Some(6));
    // Per app: the recent append's three events, past the swept one's horizon; d000's second callback
    // and u001's waiting, d000's first failed; two pushes left in the inbox of the three with receipts,
    // counters of the acked one's message and task.
    assert_eq!(count(Kind::Events), Some(6));
    assert_eq!(count(Kind::EventHorizons), Some(2));
    assert_eq!(count(Kind::OutboxWaiting), Some(4));
    assert_eq!(count(Kind::OutboxReceivers), Some(4));
    assert_eq!(count(Kind::FailedCallbacks), Some(2));
    assert_eq!(count(Kind::InboxEntries), Some(4));
    assert_eq!(count(Kind::InboxReceipts), Some(6));
    assert_eq!(count(Kind::AckCounts), Some(4));
    assert_eq!(count(Kind::ChannelDevices), Some(2));
    drop(to);

    let pg = postgres_store(&url).await;
    assert_same(&view(&pg, users).await, &before);

    // What the target numbers next continues above what was copied: queue numbers, event positions above
    // every copied one (of any app), and inbox positions.
    let last = pg.events.last_event_position("o#b").await.unwrap().unwrap();
    assert_numbered_above(&pg, 6, last).await;
    let copied_inbox = pg.inbox.inbox_page("o#a", "d000", 0, 100).await.unwrap();
    let next = pg
        .inbox
        .append(
            "o#a",
            &InboxEntry {
                user: user(0),
                device_id: "d000".into(),
                message_id: "after".into(),
                purge_at_ms: FAR,
                ..Default::default()
            },
            10,
        )
        .await
        .unwrap();
    assert!(!next.duplicate);
    assert!(copied_inbox.iter().all(|e| e.position < next.position));
    // A push known before the copy is still known: acking it again counts nothing twice.
    let unknown = pg
        .inbox
        .ack(
            "o#a",
            &user(0),
            "d000",
            &["p0".into(), "p1".into()],
            true,
            70,
        )
        .await
        .unwrap();
    assert!(unknown.is_empty());
    let counts = pg
        .inbox
        .ack_counts("o#a", AckSubject::Message("p0"))
        .await
        .unwrap();
    assert_eq!((counts.delivered, counts.clicked), (1, 1));
}

/// Returns once the copy into `url` has committed at least `records` records (its progress says so; there
/// is no progress table before the copy has begun), failing the test after a minute.
async fn until_copied(url: &str, records: i64) {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let begun: bool = client
            .query_one(
                "SELECT to_regclass('pushgate_copy_progress') IS NOT NULL",
                &[],
            )
            .await
            .expect("look for the progress")
            .get(0);
        let copied: i64 = if begun {
            client
                .query_one(
                    "SELECT coalesce(sum(copied), 0)::bigint FROM pushgate_copy_progress",
                    &[],
                )
                .await
                .expect("read the progress")
                .get(0)
        } else {
            0
        };
        if copied >= records {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no progress in a minute"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn an_interrupted_copy_resumes_after_its_last_batch() {
    let users = 40;
    let (dir, before) = populated(users).await;
    let url = postgres_database().await;
    let slow = CopyOptions {
        batch_size: 3,
        pause_between_batches: Duration::from_millis(5),
        ..CopyOptions::default()
    };
    // Stopped part-way, once a few batches committed: the future dropped mid-copy, its connection with
    // it (a batch in flight rolls back).
    {
        let mut to = target(&url).await;
        tokio::select! {
            done = copy_dir(&dir, &mut to, &slow) => {
                panic!("the copy ended before it was stopped: {:?}", done.map(|r| r.counts.len()));
            }
            () = until_copied(&url, 12) => {}
        }
    }
    let to = target(&url).await;
    let progress = to.progress().await.unwrap();
    let copied: u64 = progress.iter().map(|p| p.copied).sum();
    assert!(copied > 0, "some batches committed");
    assert!(progress.iter().any(|p| !p.done), "some kinds are left");
    for p in &progress {
        assert_eq!(to.count(p.kind).await.unwrap(), p.copied, "{}", p.kind);
    }
    drop(to);

    let mut to = target(&url).await;
    let report = copy_dir(&dir, &mut to, &CopyOptions::default())
        .await
        .expect("resume");
    assert!(report.resumed);
    drop(to);
    assert_same(&view(&postgres_store(&url).await, users).await, &before);
}

/// A store whose first number went to a queued push and whose callback rule was enabled before any event:
/// the push's number is sled's first id, 0, and the rule's cursor is 0 with no event anywhere. Neither is a
/// number a sequence can be set to (they start at 1); the target's numbers still continue above them.
#[tokio::test]
async fn numbers_at_zero_are_copied_and_continued() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = sled_store(dir.path());
        let claim = QueueClaim {
            holder: "old-server".into(),
            until_ms: i64::MAX,
        };
        let first = QueuedPush {
            app: "o#a".into(),
            user: user(0),
            message_id: "first".into(),
            ..Default::default()
        };
        store.push_queue.enqueue(&[first], &claim).await.unwrap();
        store.outbox.set_cursor("o#a", "hook", 0).await.unwrap();
        store.flush().await.unwrap();
    }
    let page = open_source(&dir)
        .export_page(Kind::QueuedPushes, None, 10)
        .unwrap();
    assert!(
        matches!(&page.records[..], [Record::QueuedPush { seq: 0, .. }]),
        "{page:?}"
    );
    let url = postgres_database().await;
    let mut to = target(&url).await;
    copy_dir(&dir, &mut to, &CopyOptions::default())
        .await
        .expect("copy");
    drop(to);

    let pg = postgres_store(&url).await;
    assert_eq!(pg.outbox.cursor("o#a", "hook").await.unwrap(), Some(0));
    assert_numbered_above(&pg, 1, 0).await;
}

/// A push queued now comes after the `queued` copied ones, and an event appended now is above `last_event`.
async fn assert_numbered_above(pg: &Store, queued: usize, last_event: u64) {
    let claim = QueueClaim {
        holder: "h".into(),
        until_ms: 10,
    };
    let copied = pg
        .push_queue
        .claim_queued(None, 100, &claim, 5)
        .await
        .unwrap();
    assert_eq!(copied.len(), queued);
    let fresh = pg
        .push_queue
        .enqueue(&[QueuedPush::default()], &claim)
        .await
        .unwrap();
    assert!(copied.iter().all(|(key, _)| *key < fresh[0]));
    let appended = pg
        .events
        .append_events("o#a", vec![DeliveryEvent::default()])
        .await
        .unwrap();
    assert!(appended[0].position > last_event);
}
