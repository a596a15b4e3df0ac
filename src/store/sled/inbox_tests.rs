//! sled-only tests of the inbox: that the sweep and user deletion leave nothing behind in sled's trees
//! (receipts and the expiry index cannot be seen through the trait). What the inbox does is in
//! `store::conformance::inbox`.

use super::keys;
use super::test_support::temp_store;
use crate::store::{InboxEntry, InboxRepository};

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

fn count_entries(s: &super::SledStore, device: &str) -> usize {
    s.tree(keys::INBOX)
        .unwrap()
        .scan_prefix(keys::inbox_prefix(APP, device))
        .count()
}

/// A duplicate writes no entry, and acks remove theirs from the tree.
#[tokio::test]
async fn duplicates_and_acks_leave_the_entries_tree_exact() {
    let (_dir, s) = temp_store();
    for i in 0..5 {
        s.append(APP, &entry("u", "d", &format!("m{i}"), FAR), 3)
            .await
            .unwrap();
    }
    s.append(APP, &entry("u", "d", "m4", FAR), 3).await.unwrap();
    assert_eq!(count_entries(&s, "d"), 3);
    let acked: Vec<String> = (2..5).map(|i| format!("m{i}")).collect();
    s.ack(APP, "u", "d", &acked, true, 5).await.unwrap();
    assert_eq!(count_entries(&s, "d"), 0);
}

/// The sweep removes the entries and the receipts it processes.
#[tokio::test]
async fn the_sweep_leaves_no_receipt_behind() {
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
    while s.sweep_expired(100, 4).await.unwrap() > 0 {}
    assert_eq!(count_entries(&s, "d"), 1);
    assert!(s.tree(keys::INBOX_RECEIPTS).unwrap().len() == 1);
    assert_eq!(s.tree(keys::INBOX_EXPIRY).unwrap().len(), 1);
}

/// Deleting a user removes the user's entries, receipts (of acked pushes too) and expiry index entries.
#[tokio::test]
async fn deleting_a_user_leaves_no_receipt_or_expiry_entry_behind() {
    let (_dir, s) = temp_store();
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
    assert_eq!(s.tree(keys::INBOX_RECEIPTS).unwrap().len(), 1);
    assert_eq!(s.tree(keys::INBOX_EXPIRY).unwrap().len(), 1);
    assert_eq!(count_entries(&s, "d"), 1);
}
