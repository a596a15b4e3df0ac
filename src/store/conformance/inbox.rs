//! [`InboxRepository`](crate::store::InboxRepository): positions, eviction, receipts and acks, ack counters,
//! the sweep, devices that subscribed, and user deletion.

use crate::store::{AckSubject, InboxEntry, Store};

const APP: &str = "o#a";
const FAR: i64 = i64::MAX / 2;

fn entry(user: &str, device: &str, message_id: &str, purge_at_ms: i64) -> InboxEntry {
    InboxEntry {
        user: user.into(),
        device_id: device.into(),
        message_id: message_id.into(),
        send_time_ms: 1,
        purge_at_ms,
        ..Default::default()
    }
}

fn ids(entries: &[InboxEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.message_id.as_str()).collect()
}

/// How many entries a device's inbox holds: its whole page (`inbox_page` returns every entry, of any user,
/// expired or not). The sled tests counted the entries tree's keys.
async fn entries(s: &Store, device: &str) -> usize {
    s.inbox
        .inbox_page(APP, device, 0, 100_000)
        .await
        .unwrap()
        .len()
}

async fn positions_increase_and_pages_follow_them(s: Store) {
    let a = s
        .inbox
        .append(APP, &entry("u", "d", "m1", FAR), 10)
        .await
        .unwrap();
    let b = s
        .inbox
        .append(APP, &entry("u", "d", "m2", FAR), 10)
        .await
        .unwrap();
    let c = s
        .inbox
        .append(APP, &entry("u", "d2", "m3", FAR), 10)
        .await
        .unwrap();
    assert!(a.position >= 1 && a.position < b.position && b.position < c.position);
    // Each names the device's newest entry before it; other devices' do not count.
    assert_eq!((a.previous, b.previous, c.previous), (0, a.position, 0));
    let page = s.inbox.inbox_page(APP, "d", 0, 10).await.unwrap();
    assert_eq!(ids(&page), ["m1", "m2"]);
    assert_eq!(page[1].position, b.position);
    let after = s.inbox.inbox_page(APP, "d", a.position, 10).await.unwrap();
    assert_eq!(ids(&after), ["m2"]);
    assert_eq!(
        ids(&s.inbox.inbox_page(APP, "d", 0, 1).await.unwrap()),
        ["m1"]
    );
    assert!(
        s.inbox
            .inbox_page("o#b", "d", 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        s.inbox
            .inbox_page(APP, "d", u64::MAX, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn a_full_inbox_drops_its_oldest_and_a_retry_is_not_stored_twice(s: Store) {
    for i in 0..5 {
        let done = s
            .inbox
            .append(APP, &entry("u", "d", &format!("m{i}"), FAR), 3)
            .await
            .unwrap();
        assert_eq!(done.evicted, u64::from(i >= 3), "push {i}");
    }
    let page = s.inbox.inbox_page(APP, "d", 0, 10).await.unwrap();
    assert_eq!(ids(&page), ["m2", "m3", "m4"]);
    let again = s
        .inbox
        .append(APP, &entry("u", "d", "m4", FAR), 3)
        .await
        .unwrap();
    assert!(again.duplicate);
    assert_eq!((again.position, again.previous), (page[2].position, 0));
    assert_eq!(entries(&s, "d").await, 3);
    // The same push for another user of the device is another push.
    assert!(
        !s.inbox
            .append(APP, &entry("u2", "d", "m4", FAR), 3)
            .await
            .unwrap()
            .duplicate
    );
}

async fn acks_remove_entries_and_count_once(s: Store) {
    let mut tasked = entry("u", "d", "m1", FAR);
    tasked.task_id = "t1".into();
    s.inbox.append(APP, &tasked, 10).await.unwrap();
    s.inbox
        .append(APP, &entry("u", "d", "m2", FAR), 10)
        .await
        .unwrap();
    let unknown = s
        .inbox
        .ack(APP, "u", "d", &["m1".into(), "nope".into()], false, 5)
        .await
        .unwrap();
    assert_eq!(unknown, ["nope"]);
    assert_eq!(
        ids(&s.inbox.inbox_page(APP, "d", 0, 10).await.unwrap()),
        ["m2"]
    );
    // Again, then clicked: delivered stays 1, clicked becomes 1.
    s.inbox
        .ack(APP, "u", "d", &["m1".into()], false, 5)
        .await
        .unwrap();
    s.inbox
        .ack(APP, "u", "d", &["m1".into()], true, 5)
        .await
        .unwrap();
    s.inbox
        .ack(APP, "u", "d", &["m1".into()], true, 5)
        .await
        .unwrap();
    for subject in [AckSubject::Message("m1"), AckSubject::Task("t1")] {
        let counts = s.inbox.ack_counts(APP, subject).await.unwrap();
        assert_eq!((counts.delivered, counts.clicked), (1, 1), "{subject:?}");
    }
    // A click alone implies delivery.
    s.inbox
        .ack(APP, "u", "d", &["m2".into()], true, 5)
        .await
        .unwrap();
    let counts = s
        .inbox
        .ack_counts(APP, AckSubject::Message("m2"))
        .await
        .unwrap();
    assert_eq!((counts.delivered, counts.clicked), (1, 1));
    assert_eq!(entries(&s, "d").await, 0);
    // Another user, device or app cannot ack these.
    for (app, user, device) in [("o#b", "u", "d"), (APP, "u2", "d"), (APP, "u", "d2")] {
        let unknown = s
            .inbox
            .ack(app, user, device, &["m1".into()], false, 5)
            .await
            .unwrap();
        assert_eq!(unknown, ["m1"]);
    }
    let none = s
        .inbox
        .ack_counts(APP, AckSubject::Task("m1"))
        .await
        .unwrap();
    assert_eq!((none.delivered, none.clicked), (0, 0));
}

async fn the_sweep_deletes_what_is_due_in_batches(s: Store) {
    for i in 0..5 {
        s.inbox
            .append(APP, &entry("u", "d", &format!("old{i}"), 100), 10)
            .await
            .unwrap();
    }
    s.inbox
        .append("o#b", &entry("u", "d", "other", 100), 10)
        .await
        .unwrap();
    s.inbox
        .append(APP, &entry("u", "d", "fresh", 1_000), 10)
        .await
        .unwrap();
    // Due but not swept: acks already say unknown.
    let unknown = s
        .inbox
        .ack(APP, "u", "d", &["old0".into()], false, 100)
        .await
        .unwrap();
    assert_eq!(unknown, ["old0"]);
    assert_eq!(s.inbox.sweep_expired(99, 10).await.unwrap(), 0);
    assert_eq!(s.inbox.sweep_expired(100, 4).await.unwrap(), 4);
    assert_eq!(s.inbox.sweep_expired(100, 4).await.unwrap(), 2);
    assert_eq!(s.inbox.sweep_expired(100, 4).await.unwrap(), 0);
    assert_eq!(
        ids(&s.inbox.inbox_page(APP, "d", 0, 10).await.unwrap()),
        ["fresh"]
    );
    assert!(
        s.inbox
            .inbox_page("o#b", "d", 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(entries(&s, "d").await, 1);
    // That only one receipt is left is checked on sled's trees in `store/sled/inbox_tests.rs`.
    // Counts follow: four more fit under a limit of five without evicting "fresh".
    for i in 0..4 {
        let done = s
            .inbox
            .append(APP, &entry("u", "d", &format!("n{i}"), FAR), 5)
            .await
            .unwrap();
        assert_eq!(done.evicted, 0);
    }
}

async fn deleting_a_user_removes_only_theirs(s: Store) {
    s.inbox
        .record_channel_device(APP, "u", "d", 1)
        .await
        .unwrap();
    s.inbox
        .record_channel_device(APP, "u", "d2", 2)
        .await
        .unwrap();
    s.inbox
        .record_channel_device(APP, "u", "d", 3)
        .await
        .unwrap();
    s.inbox
        .record_channel_device(APP, "u2", "d3", 3)
        .await
        .unwrap();
    assert_eq!(
        s.inbox.channel_devices(APP, "u").await.unwrap(),
        ["d", "d2"]
    );
    assert!(s.inbox.has_channel_devices(APP, "u2").await.unwrap());
    assert!(!s.inbox.has_channel_devices(APP, "u3").await.unwrap());
    for i in 0..300 {
        s.inbox
            .append(APP, &entry("u", "d", &format!("m{i}"), FAR), 1000)
            .await
            .unwrap();
    }
    s.inbox
        .append(APP, &entry("u", "d2", "x", FAR), 1000)
        .await
        .unwrap();
    s.inbox
        .append(APP, &entry("u2", "d", "y", FAR), 1000)
        .await
        .unwrap();
    // An acked push has no entry left but its receipt goes too.
    s.inbox
        .ack(APP, "u", "d", &["m0".into()], false, 5)
        .await
        .unwrap();
    assert_eq!(s.inbox.delete_user_inbox(APP, "u").await.unwrap(), 300);
    assert_eq!(
        ids(&s.inbox.inbox_page(APP, "d", 0, 10).await.unwrap()),
        ["y"]
    );
    assert!(
        s.inbox
            .inbox_page(APP, "d2", 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(s.inbox.channel_devices(APP, "u").await.unwrap().is_empty());
    assert_eq!(s.inbox.channel_devices(APP, "u2").await.unwrap(), ["d3"]);
    // That one receipt and one expiry index entry are left is checked on sled's trees in
    // `store/sled/inbox_tests.rs`.
    assert_eq!(entries(&s, "d").await, 1);
}

/// An entry reads back as appended but for its position; `size` is the inbox's size after the append, and
/// a duplicate reports the size as it is.
async fn entries_read_back_whole_and_appends_report_the_size(s: Store) {
    let inbox = &s.inbox;
    let mut sent = entry("u", "d", "m1", FAR);
    sent.position = 999_999;
    sent.task_id = "t1".into();
    sent.send_time_ms = 7;
    sent.expire_ms = Some(FAR - 1);
    sent.message = Some(Default::default());
    let first = inbox.append(APP, &sent, 3).await.unwrap();
    assert_eq!((first.duplicate, first.evicted, first.size), (false, 0, 1));
    let page = inbox.inbox_page(APP, "d", 0, 10).await.unwrap();
    assert_eq!(
        page,
        [InboxEntry {
            position: first.position,
            ..sent.clone()
        }]
    );
    let second = inbox
        .append(APP, &entry("u", "d", "m2", FAR), 3)
        .await
        .unwrap();
    assert_eq!(second.size, 2);
    let again = inbox.append(APP, &sent, 3).await.unwrap();
    assert_eq!(
        (again.duplicate, again.position, again.size),
        (true, first.position, 2)
    );
    for i in 3..6 {
        let full = inbox
            .append(APP, &entry("u", "d", &format!("m{i}"), FAR), 3)
            .await
            .unwrap();
        assert_eq!(full.size, 3);
    }
    // Another device's inbox has its own size.
    let other = inbox
        .append(APP, &entry("u", "d2", "m1", FAR), 3)
        .await
        .unwrap();
    assert_eq!((other.duplicate, other.size), (false, 1));
}

/// A receipt outlives its entry: a push evicted from a full inbox is still known to acks and counts, and is
/// still a duplicate when it is delivered again.
async fn an_evicted_push_can_still_be_acked(s: Store) {
    let inbox = &s.inbox;
    for i in 0..3 {
        inbox
            .append(APP, &entry("u", "d", &format!("m{i}"), FAR), 2)
            .await
            .unwrap();
    }
    assert_eq!(
        ids(&inbox.inbox_page(APP, "d", 0, 10).await.unwrap()),
        ["m1", "m2"]
    );
    assert!(
        inbox
            .append(APP, &entry("u", "d", "m0", FAR), 2)
            .await
            .unwrap()
            .duplicate
    );
    let unknown = inbox
        .ack(APP, "u", "d", &["m0".into()], true, 5)
        .await
        .unwrap();
    assert!(unknown.is_empty());
    let counts = inbox
        .ack_counts(APP, AckSubject::Message("m0"))
        .await
        .unwrap();
    assert_eq!((counts.delivered, counts.clicked), (1, 1));
    assert_eq!(
        ids(&inbox.inbox_page(APP, "d", 0, 10).await.unwrap()),
        ["m1", "m2"]
    );
}

/// Counters add up over devices and stay per app; a message and a task with the same id count apart.
async fn ack_counts_add_up_over_devices(s: Store) {
    let inbox = &s.inbox;
    for device in ["d1", "d2", "d3"] {
        let mut e = entry("u", device, "m", FAR);
        e.task_id = "t".into();
        inbox.append(APP, &e, 10).await.unwrap();
    }
    inbox
        .append("o#b", &entry("u", "d1", "m", FAR), 10)
        .await
        .unwrap();
    inbox
        .ack(APP, "u", "d1", &["m".into()], false, 5)
        .await
        .unwrap();
    inbox
        .ack(APP, "u", "d2", &["m".into()], true, 5)
        .await
        .unwrap();
    let by_message = inbox
        .ack_counts(APP, AckSubject::Message("m"))
        .await
        .unwrap();
    assert_eq!((by_message.delivered, by_message.clicked), (2, 1));
    let by_task = inbox.ack_counts(APP, AckSubject::Task("t")).await.unwrap();
    assert_eq!((by_task.delivered, by_task.clicked), (2, 1));
    // A click after the delivered ack counts the click only.
    inbox
        .ack(APP, "u", "d1", &["m".into()], true, 5)
        .await
        .unwrap();
    let by_message = inbox
        .ack_counts(APP, AckSubject::Message("m"))
        .await
        .unwrap();
    assert_eq!((by_message.delivered, by_message.clicked), (2, 2));
    let elsewhere = inbox
        .ack_counts("o#b", AckSubject::Message("m"))
        .await
        .unwrap();
    assert_eq!((elsewhere.delivered, elsewhere.clicked), (0, 0));
    let no_task = inbox.ack_counts(APP, AckSubject::Task("m")).await.unwrap();
    assert_eq!((no_task.delivered, no_task.clicked), (0, 0));
    // A push sent without a task counts for its message only.
    inbox
        .append(APP, &entry("u", "d1", "solo", FAR), 10)
        .await
        .unwrap();
    inbox
        .ack(APP, "u", "d1", &["solo".into()], false, 5)
        .await
        .unwrap();
    let solo = inbox
        .ack_counts(APP, AckSubject::Message("solo"))
        .await
        .unwrap();
    assert_eq!((solo.delivered, solo.clicked), (1, 0));
    let by_task = inbox.ack_counts(APP, AckSubject::Task("t")).await.unwrap();
    assert_eq!((by_task.delivered, by_task.clicked), (2, 2));
}

/// A push that expired is forgotten once swept: delivered again, it is a new entry, not a duplicate.
async fn a_swept_push_is_no_longer_known(s: Store) {
    let inbox = &s.inbox;
    let first = inbox
        .append(APP, &entry("u", "d", "m", 100), 10)
        .await
        .unwrap();
    assert!(
        inbox
            .append(APP, &entry("u", "d", "m", 100), 10)
            .await
            .unwrap()
            .duplicate
    );
    assert_eq!(inbox.sweep_expired(100, 10).await.unwrap(), 1);
    assert!(inbox.inbox_page(APP, "d", 0, 10).await.unwrap().is_empty());
    let again = inbox
        .append(APP, &entry("u", "d", "m", FAR), 10)
        .await
        .unwrap();
    assert!(!again.duplicate);
    assert!(again.position > first.position);
    assert_eq!(again.size, 1);
}

/// Deleting a user forgets the user's receipts too: an ack of a push the user had acked before names no push
/// any more, and the same push delivered again is new.
async fn deleting_a_user_forgets_their_receipts(s: Store) {
    let inbox = &s.inbox;
    inbox
        .append(APP, &entry("u", "d", "m0", FAR), 10)
        .await
        .unwrap();
    inbox
        .append(APP, &entry("u", "d", "m1", FAR), 10)
        .await
        .unwrap();
    inbox
        .ack(APP, "u", "d", &["m0".into()], false, 5)
        .await
        .unwrap();
    assert!(
        inbox
            .ack(APP, "u", "d", &["m0".into()], false, 5)
            .await
            .unwrap()
            .is_empty(),
        "still known after its ack"
    );
    assert_eq!(inbox.delete_user_inbox(APP, "u").await.unwrap(), 1);
    let unknown = inbox
        .ack(APP, "u", "d", &["m0".into(), "m1".into()], true, 5)
        .await
        .unwrap();
    assert_eq!(unknown, ["m0", "m1"]);
    assert!(
        !inbox
            .append(APP, &entry("u", "d", "m1", FAR), 10)
            .await
            .unwrap()
            .duplicate
    );
    // The counters already counted stay: they count what happened.
    let counts = inbox
        .ack_counts(APP, AckSubject::Message("m0"))
        .await
        .unwrap();
    assert_eq!((counts.delivered, counts.clicked), (1, 0));
}

/// Recording a device again keeps one record; devices list by id, per user and app.
async fn channel_devices_are_listed_once_by_id(s: Store) {
    let inbox = &s.inbox;
    for (user, device, ms) in [
        ("u", "d2", 1),
        ("u", "d10", 2),
        ("u", "d1", 3),
        ("u", "d2", 4),
    ] {
        inbox
            .record_channel_device(APP, user, device, ms)
            .await
            .unwrap();
    }
    inbox
        .record_channel_device(APP, "u2", "d9", 5)
        .await
        .unwrap();
    inbox
        .record_channel_device("o#ab", "u", "d8", 5)
        .await
        .unwrap();
    assert_eq!(
        inbox.channel_devices(APP, "u").await.unwrap(),
        ["d1", "d10", "d2"]
    );
    assert!(inbox.channel_devices(APP, "v").await.unwrap().is_empty());
    assert!(inbox.channel_devices("o#b", "u").await.unwrap().is_empty());
    assert!(inbox.has_channel_devices("o#ab", "u").await.unwrap());
    assert!(!inbox.has_channel_devices(APP, "v").await.unwrap());
    // Deleting a user with no inbox still removes the user's devices.
    assert_eq!(inbox.delete_user_inbox(APP, "u").await.unwrap(), 0);
    assert!(!inbox.has_channel_devices(APP, "u").await.unwrap());
    assert!(inbox.has_channel_devices(APP, "u2").await.unwrap());
    assert_eq!(inbox.channel_devices("o#ab", "u").await.unwrap(), ["d8"]);
}

/// Appends to one device are one step each, also when they race: eight appenders deliver the same twenty
/// pushes, so retries race first deliveries and evictions race each other. Each push is written once, the
/// evictions add up, and the inbox ends at its limit with its count right.
async fn racing_appends_to_one_device_keep_the_limit_and_write_each_push_once(s: Store) {
    const APPENDERS: usize = 8;
    const PUSHES: usize = 20;
    const LIMIT: usize = 5;
    let appenders: Vec<_> = (0..APPENDERS)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move {
                let mut done = Vec::new();
                for i in 0..PUSHES {
                    let push = entry("u", "d", &format!("m{i}"), FAR);
                    done.push((i, s.inbox.append(APP, &push, LIMIT).await.unwrap()));
                }
                done
            })
        })
        .collect();
    let mut written = vec![0; PUSHES];
    let mut evicted = 0;
    for appender in appenders {
        for (i, done) in appender.await.unwrap() {
            if !done.duplicate {
                written[i] += 1;
                evicted += done.evicted;
            }
            assert!(done.size as usize <= LIMIT, "{done:?}");
        }
    }
    assert_eq!(written, vec![1; PUSHES], "each push written once");
    assert_eq!(evicted, (PUSHES - LIMIT) as u64);
    let page = s.inbox.inbox_page(APP, "d", 0, 100).await.unwrap();
    assert_eq!(page.len(), LIMIT);
    assert!(page.windows(2).all(|w| w[0].position < w[1].position));
    let next = s
        .inbox
        .append(APP, &entry("u", "d", "last", FAR), LIMIT)
        .await
        .unwrap();
    assert_eq!((next.evicted, next.size), (1, LIMIT as u64));
}

/// An id acked twice in one call is acked once; each occurrence of an unknown id is reported.
/// `previous` is the newest entry still in the inbox, of any user: an acked newest entry no longer counts.
async fn previous_names_the_newest_entry_left(s: Store) {
    let one = s
        .inbox
        .append(APP, &entry("u", "d", "m1", FAR), 10)
        .await
        .unwrap();
    let two = s
        .inbox
        .append(APP, &entry("u2", "d", "m2", FAR), 10)
        .await
        .unwrap();
    assert_eq!(two.previous, one.position, "another user's entry counts");
    s.inbox
        .ack(APP, "u2", "d", &["m2".into()], false, 5)
        .await
        .unwrap();
    let three = s
        .inbox
        .append(APP, &entry("u", "d", "m3", FAR), 10)
        .await
        .unwrap();
    assert_eq!(three.previous, one.position);
}

async fn an_id_acked_twice_in_one_call_counts_once(s: Store) {
    let inbox = &s.inbox;
    let mut tasked = entry("u", "d", "m1", FAR);
    tasked.task_id = "t1".into();
    inbox.append(APP, &tasked, 10).await.unwrap();
    let unknown = inbox
        .ack(
            APP,
            "u",
            "d",
            &["m1".into(), "x".into(), "m1".into(), "x".into()],
            true,
            5,
        )
        .await
        .unwrap();
    assert_eq!(unknown, ["x", "x"]);
    for subject in [AckSubject::Message("m1"), AckSubject::Task("t1")] {
        let counts = inbox.ack_counts(APP, subject).await.unwrap();
        assert_eq!((counts.delivered, counts.clicked), (1, 1), "{subject:?}");
    }
    assert_eq!(entries(&s, "d").await, 0);
    assert!(
        inbox
            .ack(APP, "u", "d", &[], true, 5)
            .await
            .unwrap()
            .is_empty()
    );
}

conformance_tests! {
    positions_increase_and_pages_follow_them,
    a_full_inbox_drops_its_oldest_and_a_retry_is_not_stored_twice,
    acks_remove_entries_and_count_once,
    the_sweep_deletes_what_is_due_in_batches,
    deleting_a_user_removes_only_theirs,
    entries_read_back_whole_and_appends_report_the_size,
    an_evicted_push_can_still_be_acked,
    ack_counts_add_up_over_devices,
    a_swept_push_is_no_longer_known,
    deleting_a_user_forgets_their_receipts,
    channel_devices_are_listed_once_by_id,
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    racing_appends_to_one_device_keep_the_limit_and_write_each_push_once,
    an_id_acked_twice_in_one_call_counts_once,
    previous_names_the_newest_entry_left,
}
