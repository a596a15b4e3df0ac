//! In-process tests of the own channel over a real sled store in a temporary directory.

use std::time::Duration;

use futures::StreamExt;

use super::*;

const APP: &str = "o#a";

fn config() -> ChannelConfig {
    ChannelConfig {
        keepalive_interval: Duration::from_secs(60),
        ..ChannelConfig::default()
    }
}

async fn open(dir: &std::path::Path, config: ChannelConfig) -> Channel {
    let store = crate::store::sled_for_tests(dir);
    // The one replica of a sled store, as the server joins it.
    let membership = Membership::join(store.clone(), &Default::default())
        .await
        .unwrap();
    Channel::new(store, config, &membership)
}

fn push(id: &str) -> ChannelPush {
    ChannelPush {
        message_id: id.into(),
        message: PushMessage {
            title: format!("title of {id}"),
            ..Default::default()
        },
        send_time_ms: now_ms(),
        expire_ms: None,
        task_id: String::new(),
    }
}

/// The next item, failing the test after 5 s.
async fn next(s: &mut Subscription) -> Result<StreamItem, ChannelError> {
    tokio::time::timeout(Duration::from_secs(5), s.next())
        .await
        .expect("an item within 5 s")
        .expect("the stream goes on")
}

async fn message(s: &mut Subscription) -> Delivered {
    match next(s).await {
        Ok(StreamItem::Message(m)) => *m,
        other => panic!("expected a push, got {other:?}"),
    }
}

async fn replay_complete(s: &mut Subscription) -> u32 {
    match next(s).await {
        Ok(StreamItem::ReplayComplete { replayed }) => replayed,
        other => panic!("expected the end of the replay, got {other:?}"),
    }
}

async fn replayed_ids(s: &mut Subscription) -> Vec<String> {
    let mut ids = Vec::new();
    loop {
        match next(s).await {
            Ok(StreamItem::Message(m)) => {
                assert!(m.from_inbox, "replayed pushes are from the inbox");
                ids.push(m.message_id);
            }
            Ok(StreamItem::ReplayComplete { replayed }) => {
                assert_eq!(replayed as usize, ids.len());
                return ids;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

fn fields(e: ChannelError) -> Vec<String> {
    match e {
        ChannelError::Invalid(v) => v.list().iter().map(|f| f.field.clone()).collect(),
        other => panic!("expected invalid, got {other:?}"),
    }
}

#[tokio::test]
async fn offline_pushes_are_replayed_in_order_then_live_ones_follow() {
    let dir = tempfile::tempdir().unwrap();
    let ch = open(dir.path(), config()).await;
    let first = ch.deliver(APP, "u", "d", push("m1")).await.unwrap();
    let second = ch.deliver(APP, "u", "d", push("m2")).await.unwrap();
    assert!(!first.live && !second.live);
    assert!(first.position < second.position);
    assert!(!ch.is_online(APP, "d"));

    let mut s = ch.subscribe(APP, "u", "d", 0).await.unwrap();
    assert!(ch.is_online(APP, "d") && ch.inner.hub.is_online_as(APP, "d", "u"));
    let m = message(&mut s).await;
    assert_eq!((m.message_id.as_str(), m.position), ("m1", first.position));
    assert_eq!(m.message.unwrap().title, "title of m1");
    assert!(m.from_inbox && m.expire_ms.is_none());
    assert_eq!(message(&mut s).await.message_id, "m2");
    assert_eq!(replay_complete(&mut s).await, 2);

    let mut p = push("m3");
    p.task_id = "t1".into();
    p.expire_ms = Some(now_ms() + 60_000);
    let third = ch.deliver(APP, "u", "d", p.clone()).await.unwrap();
    assert!(third.live);
    let m = message(&mut s).await;
    assert!(!m.from_inbox);
    assert_eq!(m.position, third.position);
    assert_eq!(m.task_id, "t1");
    assert_eq!(m.expire_ms, p.expire_ms);
    // A retried delivery is neither stored nor sent twice.
    let again = ch.deliver(APP, "u", "d", p).await.unwrap();
    assert_eq!(
        again,
        Delivery {
            position: third.position,
            live: false
        }
    );

    drop(s);
    assert!(!ch.is_online(APP, "d"), "presence ends with the stream");
    let mut s = ch.subscribe(APP, "u", "d", first.position).await.unwrap();
    assert_eq!(
        replayed_ids(&mut s).await,
        ["m2", "m3"],
        "since skips what was processed"
    );
    assert_eq!(ch.devices(APP, "u").await.unwrap(), ["d"]);
}

#[tokio::test]
async fn an_empty_inbox_completes_at_once_and_idle_streams_get_keepalives() {
    let dir = tempfile::tempdir().unwrap();
    let ch = open(
        dir.path(),
        ChannelConfig {
            keepalive_interval: Duration::from_millis(30),
            ..config()
        },
    )
    .await;
    let mut s = ch.subscribe(APP, "u", "d", 0).await.unwrap();
    assert_eq!(replay_complete(&mut s).await, 0);
    for _ in 0..2 {
        match next(&mut s).await {
            Ok(StreamItem::Keepalive { server_time_ms }) => {
                assert!((server_time_ms - now_ms()).abs() < 5_000)
            }
            other => panic!("expected a keepalive, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_push_stored_during_the_replay_is_sent_once() {
    let dir = tempfile::tempdir().unwrap();
    let ch = open(
        dir.path(),
        ChannelConfig {
            keepalive_interval: Duration::from_millis(50),
            ..config()
        },
    )
    .await;
    // Registered but not yet read: the push is both in the inbox (replayed) and queued live.
    let mut s = ch.subscribe(APP, "u", "d", 0).await.unwrap();
    assert!(ch.deliver(APP, "u", "d", push("m1")).await.unwrap().live);
    assert_eq!(replayed_ids(&mut s).await, ["m1"]);
    assert!(
        matches!(next(&mut s).await, Ok(StreamItem::Keepalive { .. })),
        "the live copy was skipped"
    );
    assert!(ch.deliver(APP, "u", "d", push("m2")).await.unwrap().live);
    assert_eq!(message(&mut s).await.message_id, "m2");
}

#[tokio::test]
async fn expired_pushes_are_neither_kept_nor_replayed_and_the_sweep_deletes_them() {
    let dir = tempfile::tempdir().unwrap();
    let ch = open(
        dir.path(),
        ChannelConfig {
            inbox_retention: Duration::from_millis(300),
            sweep_interval: Duration::from_secs(3600),
            ..config()
        },
    )
    .await;
    let mut stale = push("stale");
    stale.expire_ms = Some(now_ms() - 1);
    assert!(matches!(
        ch.deliver(APP, "u", "d", stale).await,
        Err(ChannelError::Expired { .. })
    ));
    let mut old = push("old");
    old.send_time_ms -= 250;
    let mut short = push("short");
    short.expire_ms = Some(now_ms() + 30);
    let mut kept = push("kept");
    kept.expire_ms = Some(now_ms() + 60_000);
    for p in [old, short, kept] {
        ch.deliver(APP, "u", "d", p).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut s = ch.subscribe(APP, "u", "d", 0).await.unwrap();
    assert_eq!(
        replayed_ids(&mut s).await,
        ["kept"],
        "retention and TTL both expire"
    );
    drop(s);
    // Before the sweep the expired entries are still stored; after it they are gone.
    let stored = ch
        .inner
        .store
        .inbox
        .inbox_page(APP, "d", 0, 10)
        .await
        .unwrap();
    assert_eq!(stored.len(), 3);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sweeper::sweep(&ch.inner).await, 3);
    assert!(
        ch.inner
            .store
            .inbox
            .inbox_page(APP, "d", 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn the_background_sweeper_runs_on_its_interval() {
    let dir = tempfile::tempdir().unwrap();
    let ch = open(
        dir.path(),
        ChannelConfig {
            inbox_retention: Duration::from_millis(50),
            sweep_interval: Duration::from_millis(20),
            ..config()
        },
    )
    .await;
    ch.deliver(APP, "u", "d", push("m1")).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !ch
        .inner
        .store
        .inbox
        .inbox_page(APP, "d", 0, 10)
        .await
        .unwrap()
        .is_empty()
    {
        assert!(std::time::Instant::now() < deadline, "not swept within 5 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_device_that_moved_never_sees_the_other_users_pushes() {
    let dir = tempfile::tempdir().unwrap();
    let ch = open(dir.path(), config()).await;
    ch.deliver(APP, "alice", "d", push("for-alice"))
        .await
        .unwrap();
    let mut s = ch.subscribe(APP, "bob", "d", 0).await.unwrap();
    assert!(replayed_ids(&mut s).await.is_empty());
    let d = ch
        .deliver(APP, "alice", "d", push("alice-2"))
        .await
        .unwrap();
    assert!(!d.live, "bob's stream does not get alice's push");
    assert!(ch.is_online(APP, "d") && !ch.inner.hub.is_online_as(APP, "d", "alice"));
    assert!(
        ch.deliver(APP, "bob", "d", push("for-bob"))
            .await
            .unwrap()
            .live
    );
    assert_eq!(message(&mut s).await.message_id, "for-bob");
    // Acks are per user too.
    let unknown = ch
        .ack(
            APP,
            "bob",
            "d",
            &["for-alice".into()],
            Some(AckKind::Delivered),
        )
        .await
        .unwrap();
    assert_eq!(unknown, ["for-alice"]);
    drop(s);
    let mut s = ch.subscribe(APP, "alice", "d", 0).await.unwrap();
    assert_eq!(replayed_ids(&mut s).await, ["for-alice", "alice-2"]);
}

#[tokio::test]
async fn a_newer_subscribe_aborts_the_older() {
    let dir = tempfile::tempdir().unwrap();
    let ch = open(dir.path(), config()).await;
    let mut old = ch.subscribe(APP, "u", "d", 0).await.unwrap();
    assert_eq!(replay_complete(&mut old).await, 0);
    let mut new = ch.subscribe(APP, "u", "d", 0).await.unwrap();
    assert!(matches!(next(&mut old).await, Err(ChannelError::Replaced)));
    assert!(old.next().await.is_none(), "the older stream has ended");
    drop(old);
    assert!(
        ch.is_online(APP, "d"),
        "the newer stream keeps the presence"
    );
    assert_eq!(replay_complete(&mut new).await, 0);
    assert!(ch.deliver(APP, "u", "d", push("m1")).await.unwrap().live);
    assert_eq!(message(&mut new).await.message_id, "m1");
}

#[tokio::test]
async fn a_slow_consumer_is_cut_off_and_its_pushes_stay_in_the_inbox() {
    let dir = tempfile::tempdir().unwrap();
    let ch = open(
        dir.path(),
        ChannelConfig {
            stream_buffer: 2,
            ..config()
        },
    )
    .await;
    let mut s = ch.subscribe(APP, "u", "d", 0).await.unwrap();
    assert_eq!(replay_complete(&mut s).await, 0);
    let live: Vec<bool> = {
        let mut live = Vec::new();
        for id in ["m1", "m2", "m3", "m4"] {
            live.push(ch.deliver(APP, "u", "d", push(id)).await.unwrap().live);
        }
        live
    };
    assert_eq!(live, [true, true, false, false]);
    assert!(!ch.is_online(APP, "d"));
    match next(&mut s).await {
        Err(e @ ChannelError::TooSlow { buffer: 2 }) => {
            assert!(e.to_string().contains("stay in the inbox"), "{e}")
        }
        other => panic!("expected a cut-off, got {other:?}"),
    }
    assert!(s.next().await.is_none());
    let mut s = ch.subscribe(APP, "u", "d", 0).await.unwrap();
    assert_eq!(replayed_ids(&mut s).await, ["m1", "m2", "m3", "m4"]);
}

#[tokio::test]
async fn acks_remove_from_the_inbox_count_once_and_report_unknown_ids() {
    let dir = tempfile::tempdir().unwrap();
    let ch = open(dir.path(), config()).await;
    let mut tasked = push("m1");
    tasked.task_id = "t1".into();
    ch.deliver(APP, "u", "d", tasked).await.unwrap();
    ch.deliver(APP, "u", "d", push("m2")).await.unwrap();
    ch.deliver(APP, "u", "d2", push("m1")).await.unwrap();

    let ids = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let unknown = ch
        .ack(
            APP,
            "u",
            "d",
            &ids(&["m1", "nope", "m1"]),
            Some(AckKind::Delivered),
        )
        .await
        .unwrap();
    assert_eq!(unknown, ["nope"]);
    ch.ack(APP, "u", "d", &ids(&["m1"]), Some(AckKind::Delivered))
        .await
        .unwrap();
    ch.ack(APP, "u", "d", &ids(&["m1"]), Some(AckKind::Clicked))
        .await
        .unwrap();
    ch.ack(APP, "u", "d2", &ids(&["m1"]), Some(AckKind::Clicked))
        .await
        .unwrap();
    assert_eq!(
        ch.ack_counts(APP, "m1").await.unwrap(),
        AckCounts {
            delivered: 2,
            clicked: 2
        }
    );
    assert_eq!(
        ch.task_ack_counts(APP, "t1").await.unwrap(),
        AckCounts {
            delivered: 1,
            clicked: 1
        },
        "only the entry that named the task"
    );
    assert_eq!(
        ch.ack_counts(APP, "m2").await.unwrap(),
        AckCounts::default()
    );
    let mut s = ch.subscribe(APP, "u", "d", 0).await.unwrap();
    assert_eq!(
        replayed_ids(&mut s).await,
        ["m2"],
        "acked pushes are not replayed"
    );
}

#[tokio::test]
async fn bad_requests_name_their_fields_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ch = open(dir.path(), config()).await;
    ch.deliver(APP, "u", "d", push("m1")).await.unwrap();
    let one = vec!["m1".to_string()];
    let bad = ch.ack(APP, "u", "d", &one, None).await.unwrap_err();
    assert_eq!(fields(bad), ["kind"]);
    let bad = ch
        .ack(APP, "u", "", &[], Some(AckKind::Delivered))
        .await
        .unwrap_err();
    assert_eq!(fields(bad), ["device_id", "message_ids"]);
    let many: Vec<String> = (0..101).map(|i| format!("m{i}")).collect();
    let bad = ch
        .ack(APP, "u", "d", &many, Some(AckKind::Delivered))
        .await
        .unwrap_err();
    assert_eq!(fields(bad), ["message_ids"]);
    let bad = ch
        .ack(
            APP,
            "u",
            "d",
            &["m1".into(), String::new()],
            Some(AckKind::Clicked),
        )
        .await
        .unwrap_err();
    assert_eq!(fields(bad), ["message_ids[1]"]);
    assert_eq!(
        ch.ack_counts(APP, "m1").await.unwrap(),
        AckCounts::default()
    );
    for device in ["", "a b", &"d".repeat(65)] {
        let Err(bad) = ch.subscribe(APP, "u", device, 0).await else {
            panic!("{device:?} accepted");
        };
        assert_eq!(fields(bad), ["device_id"]);
    }
    assert!(ch.subscribe(APP, "u", &"d".repeat(64), 0).await.is_ok());
    let bad = ch.deliver(APP, "", "d", push("")).await.unwrap_err();
    assert_eq!(fields(bad), ["user", "message_id"]);
    let mut s = ch.subscribe(APP, "u", "d", 0).await.unwrap();
    assert_eq!(replayed_ids(&mut s).await, ["m1"]);
}

/// A push relayed from another replica may arrive after a later one stored here: the later one names the
/// earlier as its `previous`, so the stream reads the inbox and sends both in position order, and the late
/// copy is then skipped.
#[tokio::test]
async fn a_push_that_overtook_an_earlier_one_waits_for_it() {
    use prost::Message;
    let dir = tempfile::tempdir().unwrap();
    let ch = open(dir.path(), config()).await;
    let mut s = ch.subscribe(APP, "u", "d", 0).await.unwrap();
    assert_eq!(replay_complete(&mut s).await, 0);
    // Stored by "another replica": in the inbox, its relay still on the way.
    let early = InboxEntry {
        user: "u".into(),
        device_id: "d".into(),
        message_id: "early".into(),
        message: Some(PushMessage::default()),
        send_time_ms: now_ms(),
        purge_at_ms: now_ms() + 60_000,
        ..Default::default()
    };
    let stored = ch.inner.store.inbox.append(APP, &early, 100).await.unwrap();
    let late = ch.deliver(APP, "u", "d", push("late")).await.unwrap();
    assert!(late.live);
    let (first, second) = (message(&mut s).await, message(&mut s).await);
    assert_eq!(
        [first.message_id.as_str(), second.message_id.as_str()],
        ["early", "late"]
    );
    assert_eq!(
        (first.position, first.from_inbox, second.position),
        (stored.position, false, late.position)
    );
    // The relayed copy arrives at last: queued, but not sent twice.
    let entry = InboxEntry {
        position: stored.position,
        ..early
    };
    assert!(ch.inner.hub.is_online(APP, "d"));
    ch.deliver(APP, "u", "d", push("after")).await.unwrap();
    let relayed_late = Box::new(Delivered::from_entry(entry.clone(), false));
    assert_eq!(
        ch.inner.hub.offer(APP, "d", "u", None, relayed_late),
        Ok(true)
    );
    ch.deliver(APP, "u", "d", push("last")).await.unwrap();
    assert_eq!(message(&mut s).await.message_id, "after");
    assert_eq!(message(&mut s).await.message_id, "last");
    // A relayed entry for a stream number that is not open here is refused.
    assert!(
        !ch.take_relayed(APP, &entry.encode_to_vec(), 0, u64::MAX)
            .await
            .unwrap()
    );
    assert!(matches!(
        ch.take_relayed(APP, b"\xff\xff", 0, 1).await,
        Err(ChannelError::Invalid(_))
    ));
}

#[tokio::test]
async fn the_inbox_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let first = {
        let ch = open(dir.path(), config()).await;
        let d = ch.deliver(APP, "u", "d", push("m1")).await.unwrap();
        ch.deliver(APP, "u", "d", push("m2")).await.unwrap();
        ch.ack(APP, "u", "d", &["m2".into()], Some(AckKind::Delivered))
            .await
            .unwrap();
        ch.inner.store.flush().await.unwrap();
        // Dropped without a shutdown: the sweeper holds no reference, so the store closes and reopens.
        d
    };
    let ch = open(dir.path(), config()).await;
    let mut s = ch.subscribe(APP, "u", "d", 0).await.unwrap();
    let m = message(&mut s).await;
    assert_eq!((m.message_id.as_str(), m.position), ("m1", first.position));
    assert_eq!(replay_complete(&mut s).await, 1);
    let later = ch.deliver(APP, "u", "d", push("m3")).await.unwrap();
    assert!(later.position > first.position, "positions keep increasing");
    assert_eq!(
        ch.ack_counts(APP, "m2").await.unwrap(),
        AckCounts {
            delivered: 1,
            clicked: 0
        }
    );
}

#[tokio::test]
async fn deleting_a_user_empties_their_inboxes() {
    let dir = tempfile::tempdir().unwrap();
    let ch = open(dir.path(), config()).await;
    drop(ch.subscribe(APP, "u", "d", 0).await.unwrap());
    ch.deliver(APP, "u", "d", push("m1")).await.unwrap();
    ch.deliver(APP, "u", "d2", push("m2")).await.unwrap();
    ch.deliver(APP, "v", "d", push("m3")).await.unwrap();
    assert_eq!(ch.delete_user(APP, "u").await.unwrap(), 2);
    assert!(ch.devices(APP, "u").await.unwrap().is_empty());
    assert_eq!(ch.delete_user(APP, "u").await.unwrap(), 0);
    let mut s = ch.subscribe(APP, "v", "d", 0).await.unwrap();
    assert_eq!(replayed_ids(&mut s).await, ["m3"]);
}

#[tokio::test]
async fn shutdown_ends_streams_and_refuses_new_ones() {
    let dir = tempfile::tempdir().unwrap();
    let ch = open(dir.path(), config()).await;
    let mut s = ch.subscribe(APP, "u", "d", 0).await.unwrap();
    assert_eq!(replay_complete(&mut s).await, 0);
    ch.shutdown();
    assert!(matches!(
        next(&mut s).await,
        Err(ChannelError::ShuttingDown)
    ));
    assert!(matches!(
        ch.subscribe(APP, "u", "d", 0).await,
        Err(ChannelError::ShuttingDown)
    ));
    assert_eq!(ch.online_count(), 0);
    // The inbox still takes pushes for later.
    assert!(!ch.deliver(APP, "u", "d", push("m1")).await.unwrap().live);
}
