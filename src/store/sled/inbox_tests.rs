//! Unit tests of the sled inbox: positions, eviction, receipts and acks, the sweep and user deletion.

use super::keys;
use super::test_support::temp_store;
use crate::store::{AckSubject, InboxEntry, InboxRepository};

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

fn count_entries(s: &super::SledStore, device: &str) -> usize {
    s.tree(keys::INBOX)
        .unwrap()
        .scan_prefix(keys::inbox_prefix(APP, device))
        .count()
}

#[tokio::test]
async fn positions_increase_and_pages_follow_them() {
    let (_dir, s) = temp_store();
    let a = s
        .append(APP, &entry("u", "d", "m1", FAR), 10)
        .await
        .unwrap();
    let b = s
        .append(APP, &entry("u", "d", "m2", FAR), 10)
        .await
        .unwrap();
    let c = s
        .append(APP, &entry("u", "d2", "m3", FAR), 10)
        .await
        .unwrap();
    assert!(a.position >= 1 && a.position < b.position && b.position < c.position);
    let page = s.inbox_page(APP, "d", 0, 10).await.unwrap();
    assert_eq!(ids(&page), ["m1", "m2"]);
    assert_eq!(page[1].position, b.position);
    let after = s.inbox_page(APP, "d", a.position, 10).await.unwrap();
    assert_eq!(ids(&after), ["m2"]);
    assert_eq!(ids(&s.inbox_page(APP, "d", 0, 1).await.unwrap()), ["m1"]);
    assert!(s.inbox_page("o#b", "d", 0, 10).await.unwrap().is_empty());
    assert!(
        s.inbox_page(APP, "d", u64::MAX, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_full_inbox_drops_its_oldest_and_a_retry_is_not_stored_twice() {
    let (_dir, s) = temp_store();
    for i in 0..5 {
        let done = s
            .append(APP, &entry("u", "d", &format!("m{i}"), FAR), 3)
            .await
            .unwrap();
        assert_eq!(done.evicted, u64::from(i >= 3), "push {i}");
    }
    let page = s.inbox_page(APP, "d", 0, 10).await.unwrap();
    assert_eq!(ids(&page), ["m2", "m3", "m4"]);
    let again = s.append(APP, &entry("u", "d", "m4", FAR), 3).await.unwrap();
    assert!(again.duplicate);
    assert_eq!(again.position, page[2].position);
    assert_eq!(count_entries(&s, "d"), 3);
    // The same push for another user of the device is another push.
    assert!(
        !s.append(APP, &entry("u2", "d", "m4", FAR), 3)
            .await
            .unwrap()
            .duplicate
    );
}

#[tokio::test]
async fn acks_remove_entries_and_count_once() {
    let (_dir, s) = temp_store();
    let mut tasked = entry("u", "d", "m1", FAR);
    tasked.task_id = "t1".into();
    s.append(APP, &tasked, 10).await.unwrap();
    s.append(APP, &entry("u", "d", "m2", FAR), 10)
        .await
        .unwrap();
    let unknown = s
        .ack(APP, "u", "d", &["m1".into(), "nope".into()], false, 5)
        .await
        .unwrap();
    assert_eq!(unknown, ["nope"]);
    assert_eq!(ids(&s.inbox_page(APP, "d", 0, 10).await.unwrap()), ["m2"]);
    // Again, then clicked: delivered stays 1, clicked becomes 1.
    s.ack(APP, "u", "d", &["m1".into()], false, 5)
        .await
        .unwrap();
    s.ack(APP, "u", "d", &["m1".into()], true, 5).await.unwrap();
    s.ack(APP, "u", "d", &["m1".into()], true, 5).await.unwrap();
    for subject in [AckSubject::Message("m1"), AckSubject::Task("t1")] {
        let counts = s.ack_counts(APP, subject).await.unwrap();
        assert_eq!((counts.delivered, counts.clicked), (1, 1), "{subject:?}");
    }
    // A click alone implies delivery.
    s.ack(APP, "u", "d", &["m2".into()], true, 5).await.unwrap();
    let counts = s.ack_counts(APP, AckSubject::Message("m2")).await.unwrap();
    assert_eq!((counts.delivered, counts.clicked), (1, 1));
    assert_eq!(count_entries(&s, "d"), 0);
    // Another user, device or app cannot ack these.
    for (app, user, device) in [("o#b", "u", "d"), (APP, "u2", "d"), (APP, "u", "d2")] {
        let unknown = s
            .ack(app, user, device, &["m1".into()], false, 5)
            .await
            .unwrap();
        assert_eq!(unknown, ["m1"]);
    }
    let none = s.ack_counts(APP, AckSubject::Task("m1")).await.unwrap();
    assert_eq!((none.delivered, none.clicked), (0, 0));
}

#[tokio::test]
async fn the_sweep_deletes_what_is_due_in_batches() {
    let (_dir, s) = temp_store();
    for i in 0..5 {
        s.append(APP, &entry("u", "d", &format!("old{i}"), 100), 10)
            .await
            .unwrap();
    }
    s.append("o#b", &entry("u", "d", "other", 100), 10)
        .await
        .unwrap();
    s.append(APP, &entry("u", "d", "fresh", 1_000), 10)
        .await
        .unwrap();
    // Due but not swept: acks already say unknown.
    let unknown = s
        .ack(APP, "u", "d", &["old0".into()], false, 100)
        .await
        .unwrap();
    assert_eq!(unknown, ["old0"]);
    assert_eq!(s.sweep_expired(99, 10).await.unwrap(), 0);
    assert_eq!(s.sweep_expired(100, 4).await.unwrap(), 4);
    assert_eq!(s.sweep_expired(100, 4).await.unwrap(), 2);
    assert_eq!(s.sweep_expired(100, 4).await.unwrap(), 0);
    assert_eq!(
        ids(&s.inbox_page(APP, "d", 0, 10).await.unwrap()),
        ["fresh"]
    );
    assert!(s.inbox_page("o#b", "d", 0, 10).await.unwrap().is_empty());
    assert_eq!(count_entries(&s, "d"), 1);
    assert!(s.tree(keys::INBOX_RECEIPTS).unwrap().len() == 1);
    // Counts follow: four more fit under a limit of five without evicting "fresh".
    for i in 0..4 {
        let done = s
            .append(APP, &entry("u", "d", &format!("n{i}"), FAR), 5)
            .await
            .unwrap();
        assert_eq!(done.evicted, 0);
    }
}

#[tokio::test]
async fn deleting_a_user_removes_only_theirs() {
    let (_dir, s) = temp_store();
    s.record_channel_device(APP, "u", "d", 1).await.unwrap();
    s.record_channel_device(APP, "u", "d2", 2).await.unwrap();
    s.record_channel_device(APP, "u", "d", 3).await.unwrap();
    s.record_channel_device(APP, "u2", "d3", 3).await.unwrap();
    assert_eq!(s.channel_devices(APP, "u").await.unwrap(), ["d", "d2"]);
    assert!(s.has_channel_devices(APP, "u2").await.unwrap());
    assert!(!s.has_channel_devices(APP, "u3").await.unwrap());
    for i in 0..300 {
        s.append(APP, &entry("u", "d", &format!("m{i}"), FAR), 1000)
            .await
            .unwrap();
    }
    s.append(APP, &entry("u", "d2", "x", FAR), 1000)
        .await
        .unwrap();
    s.append(APP, &entry("u2", "d", "y", FAR), 1000)
        .await
        .unwrap();
    // An acked push has no entry left but its receipt goes too.
    s.ack(APP, "u", "d", &["m0".into()], false, 5)
        .await
        .unwrap();
    assert_eq!(s.delete_user_inbox(APP, "u").await.unwrap(), 300);
    assert_eq!(ids(&s.inbox_page(APP, "d", 0, 10).await.unwrap()), ["y"]);
    assert!(s.inbox_page(APP, "d2", 0, 10).await.unwrap().is_empty());
    assert!(s.channel_devices(APP, "u").await.unwrap().is_empty());
    assert_eq!(s.channel_devices(APP, "u2").await.unwrap(), ["d3"]);
    assert_eq!(s.tree(keys::INBOX_RECEIPTS).unwrap().len(), 1);
    assert_eq!(s.tree(keys::INBOX_EXPIRY).unwrap().len(), 1);
    assert_eq!(count_entries(&s, "d"), 1);
}
