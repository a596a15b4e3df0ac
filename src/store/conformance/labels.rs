//! [`LabelRepository`](crate::store::LabelRepository): labels, their exact user counts, memberships in both
//! directions, the union of several labels' users, and deleting users and apps.

use crate::store::{LabelRecord, Store, StoreError};

fn label(name: &str) -> LabelRecord {
    LabelRecord {
        name: name.into(),
        create_time_ms: 1,
        ..Default::default()
    }
}

fn users(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| n.to_string()).collect()
}

async fn count(s: &Store, app: &str, name: &str) -> u64 {
    s.labels
        .get_label(app, name)
        .await
        .unwrap()
        .unwrap()
        .user_count
}

async fn members(s: &Store, app: &str, name: &str) -> Vec<String> {
    s.labels
        .list_label_users(app, name, None, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.user)
        .collect()
}

async fn labels_limit_counts_the_app_only_and_refuses_duplicates(s: Store) {
    s.labels.create_label("o#a", label("x"), 2).await.unwrap();
    s.labels.create_label("o#a", label("y"), 2).await.unwrap();
    // Another app's labels do not count, even one whose name extends this app's.
    s.labels.create_label("o#ab", label("x"), 2).await.unwrap();
    assert!(matches!(
        s.labels.create_label("o#a", label("x"), 5).await,
        Err(StoreError::AlreadyExists(_))
    ));
    assert!(matches!(
        s.labels.create_label("o#a", label("z"), 2).await,
        Err(StoreError::LimitReached { limit: 2, .. })
    ));
    let names: Vec<String> = s
        .labels
        .list_labels("o#a", None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.name)
        .collect();
    assert_eq!(names, ["x", "y"]);
    let after_x = s.labels.list_labels("o#a", Some("x"), 10).await.unwrap();
    assert_eq!(after_x.len(), 1);
    assert_eq!(after_x[0].name, "y");
}

async fn labels_with_a_common_prefix_keep_their_own_users(s: Store) {
    s.labels.create_label("o#a", label("a"), 10).await.unwrap();
    s.labels.create_label("o#a", label("ab"), 10).await.unwrap();

    s.labels
        .add_label_users("o#a", "a", &users(&["u1"]), 5, 10)
        .await
        .unwrap();
    s.labels
        .add_label_users("o#a", "ab", &users(&["u2", "u3"]), 5, 10)
        .await
        .unwrap();
    assert_eq!(members(&s, "o#a", "a").await, ["u1"]);
    assert_eq!(members(&s, "o#a", "ab").await, ["u2", "u3"]);
    assert_eq!(s.labels.delete_label("o#a", "a").await.unwrap(), Some(1));
    assert_eq!(members(&s, "o#a", "ab").await, ["u2", "u3"]);
    assert_eq!(count(&s, "o#a", "ab").await, 2);
    assert_eq!(s.labels.delete_label("o#a", "a").await.unwrap(), None);
}

async fn labels_add_is_idempotent_and_all_or_nothing_at_the_limit(s: Store) {
    s.labels.create_label("o#a", label("l"), 10).await.unwrap();

    let added = s
        .labels
        .add_label_users("o#a", "l", &users(&["u1", "u2", "u1"]), 5, 3)
        .await
        .unwrap();
    assert_eq!(added, 2);
    // Again, later: no new member, and the first add time stays.
    let added = s
        .labels
        .add_label_users("o#a", "l", &users(&["u1"]), 9, 3)
        .await
        .unwrap();
    assert_eq!(added, 0);
    let u1 = s
        .labels
        .get_label_user("o#a", "l", "u1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(u1.add_time_ms, 5);
    // Two new users do not fit into the one free place: neither is added.
    assert!(matches!(
        s.labels
            .add_label_users("o#a", "l", &users(&["u1", "u3", "u4"]), 9, 3)
            .await,
        Err(StoreError::LimitReached { limit: 3, .. })
    ));
    assert_eq!(count(&s, "o#a", "l").await, 2);
    assert_eq!(members(&s, "o#a", "l").await, ["u1", "u2"]);
    assert!(!s.labels.has_user("o#a", "u3").await.unwrap());
    // One new user does.
    s.labels
        .add_label_users("o#a", "l", &users(&["u3"]), 9, 3)
        .await
        .unwrap();
    assert_eq!(count(&s, "o#a", "l").await, 3);
    assert!(matches!(
        s.labels
            .add_label_users("o#a", "nope", &users(&["u1"]), 9, 3)
            .await,
        Err(StoreError::NotFound(_))
    ));
}

async fn labels_remove_counts_members_only(s: Store) {
    s.labels.create_label("o#a", label("l"), 10).await.unwrap();
    s.labels
        .add_label_users("o#a", "l", &users(&["u1", "u2"]), 5, 10)
        .await
        .unwrap();

    let removed = s
        .labels
        .remove_label_users("o#a", "l", &users(&["u1", "stranger", "u1"]))
        .await
        .unwrap();
    assert_eq!(removed, 1);
    assert_eq!(count(&s, "o#a", "l").await, 1);
    assert!(
        s.labels
            .labels_of_user("o#a", "u1")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        s.labels
            .remove_label_users("o#a", "nope", &users(&["u1"]))
            .await,
        Err(StoreError::NotFound(_))
    ));
}

async fn labels_of_a_user_and_deleting_the_user(s: Store) {
    for name in ["l1", "l2", "l3"] {
        s.labels.create_label("o#a", label(name), 10).await.unwrap();
    }
    s.labels
        .add_label_users("o#a", "l1", &users(&["u", "u2"]), 5, 10)
        .await
        .unwrap();
    s.labels
        .add_label_users("o#a", "l3", &users(&["u"]), 5, 10)
        .await
        .unwrap();
    // The same user in another app is another user.
    s.labels.create_label("o#b", label("l1"), 10).await.unwrap();
    s.labels
        .add_label_users("o#b", "l1", &users(&["u"]), 5, 10)
        .await
        .unwrap();

    assert_eq!(
        s.labels.labels_of_user("o#a", "u").await.unwrap(),
        ["l1", "l3"]
    );
    assert_eq!(s.labels.labels_of_user("o#a", "u2").await.unwrap(), ["l1"]);
    assert!(s.labels.has_user("o#a", "u").await.unwrap());
    assert!(!s.labels.has_user("o#a", "u9").await.unwrap());

    assert_eq!(s.labels.delete_user("o#a", "u").await.unwrap(), 2);
    assert_eq!(s.labels.delete_user("o#a", "u").await.unwrap(), 0);
    assert!(!s.labels.has_user("o#a", "u").await.unwrap());
    assert_eq!(count(&s, "o#a", "l1").await, 1);
    assert_eq!(count(&s, "o#a", "l3").await, 0);
    assert_eq!(members(&s, "o#a", "l1").await, ["u2"]);
    assert!(s.labels.has_user("o#b", "u").await.unwrap());
    assert_eq!(count(&s, "o#b", "l1").await, 1);
}

async fn labels_users_of_several_labels_page_through_the_union(s: Store) {
    s.labels.create_label("o#a", label("x"), 10).await.unwrap();
    s.labels.create_label("o#a", label("y"), 10).await.unwrap();
    s.labels
        .add_label_users("o#a", "x", &users(&["a", "c", "e"]), 5, 10)
        .await
        .unwrap();
    s.labels
        .add_label_users("o#a", "y", &users(&["b", "c", "d"]), 5, 10)
        .await
        .unwrap();
    let labels = users(&["x", "y", "x", "missing"]);

    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = s
            .labels
            .users_of_labels("o#a", &labels, after.as_deref(), 2)
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 2);
        after = page.last().cloned();
        seen.extend(page);
    }
    assert_eq!(seen, ["a", "b", "c", "d", "e"]);
}

/// `delete_app` counts records as its backend stores them, at least one per record the repositories return
/// (sled's exact count, with its by-user index entry, is checked in `store/sled/apps.rs`).
async fn labels_are_deleted_with_their_app(s: Store) {
    s.labels.create_label("o#a", label("l"), 10).await.unwrap();
    s.labels
        .add_label_users("o#a", "l", &users(&["u"]), 5, 10)
        .await
        .unwrap();
    s.labels.create_label("o#ab", label("l"), 10).await.unwrap();

    // At least the label and its membership.
    assert!(s.apps.delete_app("o#a").await.unwrap() >= 2);
    assert!(s.labels.get_label("o#a", "l").await.unwrap().is_none());
    assert!(!s.labels.has_user("o#a", "u").await.unwrap());
    assert!(s.labels.get_label("o#ab", "l").await.unwrap().is_some());
}

async fn labels_user_count_stays_exact_under_concurrent_writes(s: Store) {
    s.labels.create_label("o#a", label("l"), 10).await.unwrap();

    let mut tasks = Vec::new();
    for t in 0..8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            for round in 0..20 {
                // Overlapping users, so adds and removes of the same member race each other.
                let batch: Vec<String> = (0..5)
                    .map(|i| format!("u{}", (t + i + round) % 12))
                    .collect();
                if (t + round) % 3 == 0 {
                    s.labels
                        .remove_label_users("o#a", "l", &batch)
                        .await
                        .unwrap();
                } else {
                    s.labels
                        .add_label_users("o#a", "l", &batch, 5, 1000)
                        .await
                        .unwrap();
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let listed = members(&s, "o#a", "l").await;
    assert_eq!(count(&s, "o#a", "l").await, listed.len() as u64);
    for user in &listed {
        assert_eq!(s.labels.labels_of_user("o#a", user).await.unwrap(), ["l"]);
    }
}

/// A label reads back whole, with its count; `list_labels` pages in name order and stays in its app.
async fn labels_read_back_and_list_in_pages(s: Store) {
    let labels = &s.labels;
    let vip = LabelRecord {
        name: "vip".into(),
        description: "paying users".into(),
        create_time_ms: 42,
        user_count: 0,
    };
    labels.create_label("o#a", vip.clone(), 10).await.unwrap();
    assert_eq!(labels.get_label("o#a", "vip").await.unwrap(), Some(vip));
    assert!(
        labels.get_label("o#a", "VIP").await.unwrap().is_none(),
        "names are case-sensitive"
    );
    assert!(labels.get_label("o#ab", "vip").await.unwrap().is_none());
    for name in ["b", "a", "c"] {
        labels.create_label("o#a", label(name), 10).await.unwrap();
    }
    labels.create_label("o#ab", label("aa"), 10).await.unwrap();
    let names = |page: Vec<LabelRecord>| page.into_iter().map(|l| l.name).collect::<Vec<_>>();
    assert_eq!(
        names(labels.list_labels("o#a", None, 2).await.unwrap()),
        ["a", "b"]
    );
    assert_eq!(
        names(labels.list_labels("o#a", Some("b"), 2).await.unwrap()),
        ["c", "vip"]
    );
    assert_eq!(
        names(labels.list_labels("o#a", Some("bb"), 10).await.unwrap()),
        ["c", "vip"]
    );
    assert!(
        labels
            .list_labels("o#a", Some("vip"), 10)
            .await
            .unwrap()
            .is_empty()
    );
    // A deleted label's place and name are free again.
    assert_eq!(labels.delete_label("o#a", "vip").await.unwrap(), Some(0));
    labels.create_label("o#a", label("vip"), 4).await.unwrap();
}

/// A membership reads back with its add time; a label's members page in user id order after `after`.
async fn label_users_read_back_and_page(s: Store) {
    let labels = &s.labels;
    labels.create_label("o#a", label("l"), 10).await.unwrap();
    labels
        .add_label_users("o#a", "l", &users(&["u3", "u1", "u10", "u2"]), 7, 10)
        .await
        .unwrap();
    let u10 = labels
        .get_label_user("o#a", "l", "u10")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((u10.user.as_str(), u10.add_time_ms), ("u10", 7));
    assert!(
        labels
            .get_label_user("o#a", "l", "u4")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        labels
            .get_label_user("o#a", "nope", "u1")
            .await
            .unwrap()
            .is_none()
    );

    let page = |after: Option<&'static str>, limit| async move {
        labels
            .list_label_users("o#a", "l", after, limit)
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.user)
            .collect::<Vec<_>>()
    };
    assert_eq!(page(None, 2).await, ["u1", "u10"]);
    assert_eq!(page(Some("u1"), 2).await, ["u10", "u2"]);
    assert_eq!(page(Some("u2"), 2).await, ["u3"]);
    assert!(page(Some("u3"), 2).await.is_empty());
    assert!(
        labels
            .list_label_users("o#a", "nope", None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Deleting a label ends its memberships: its users lose it from their labels, and a user with no other label
/// no longer exists for labels.
async fn deleting_a_label_ends_its_memberships(s: Store) {
    let labels = &s.labels;
    for name in ["l1", "l2"] {
        labels.create_label("o#a", label(name), 10).await.unwrap();
    }
    labels
        .add_label_users("o#a", "l1", &users(&["u1", "u2"]), 5, 10)
        .await
        .unwrap();
    labels
        .add_label_users("o#a", "l2", &users(&["u2"]), 5, 10)
        .await
        .unwrap();
    assert_eq!(labels.delete_label("o#a", "l1").await.unwrap(), Some(2));
    assert!(labels.labels_of_user("o#a", "u1").await.unwrap().is_empty());
    assert!(!labels.has_user("o#a", "u1").await.unwrap());
    assert_eq!(labels.labels_of_user("o#a", "u2").await.unwrap(), ["l2"]);
    let l1 = users(&["l1"]);
    assert!(
        labels
            .users_of_labels("o#a", &l1, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // A new label of the same name starts empty.
    labels.create_label("o#a", label("l1"), 10).await.unwrap();
    assert_eq!(count(&s, "o#a", "l1").await, 0);
    assert!(members(&s, "o#a", "l1").await.is_empty());
}

/// Creations racing for the app's last label places: exactly as many succeed as there are places.
async fn concurrent_label_creations_stop_at_the_limit(s: Store) {
    let creators = (0..8).map(|i| {
        let s = s.clone();
        tokio::spawn(async move {
            s.labels
                .create_label("o#a", label(&format!("l{i}")), 3)
                .await
        })
    });
    let mut created = 0;
    for creator in creators.collect::<Vec<_>>() {
        match creator.await.unwrap() {
            Ok(()) => created += 1,
            Err(StoreError::LimitReached { limit: 3, .. }) => {}
            Err(e) => panic!("create failed: {e}"),
        }
    }
    assert_eq!(created, 3);
    assert_eq!(
        s.labels.list_labels("o#a", None, 10).await.unwrap().len(),
        3
    );
}

/// Adds, removes and deletions of users across several labels at once: every count stays exact and both
/// directions of the memberships agree.
async fn counts_stay_exact_when_users_leave_several_labels_at_once(s: Store) {
    let names: Vec<String> = (0..4).map(|i| format!("l{i}")).collect();
    for name in &names {
        s.labels.create_label("o#a", label(name), 10).await.unwrap();
    }
    let writers = (0..8).map(|t| {
        let s = s.clone();
        let names = names.clone();
        tokio::spawn(async move {
            for round in 0..15 {
                let label = &names[(t + round) % names.len()];
                let batch: Vec<String> = (0..4)
                    .map(|i| format!("u{}", (t + i + round) % 10))
                    .collect();
                match (t + round) % 3 {
                    0 => {
                        s.labels
                            .add_label_users("o#a", label, &batch, 5, 1000)
                            .await
                            .unwrap();
                    }
                    1 => {
                        s.labels
                            .remove_label_users("o#a", label, &batch)
                            .await
                            .unwrap();
                    }
                    _ => {
                        s.labels.delete_user("o#a", &batch[0]).await.unwrap();
                    }
                }
            }
        })
    });
    for writer in writers.collect::<Vec<_>>() {
        writer.await.unwrap();
    }
    let mut by_user = std::collections::BTreeMap::<String, Vec<String>>::new();
    for name in &names {
        let listed = members(&s, "o#a", name).await;
        assert_eq!(count(&s, "o#a", name).await, listed.len() as u64, "{name}");
        for user in listed {
            by_user.entry(user).or_default().push(name.clone());
        }
    }
    for i in 0..10 {
        let user = format!("u{i}");
        let expected = by_user.remove(&user).unwrap_or_default();
        assert_eq!(
            s.labels.labels_of_user("o#a", &user).await.unwrap(),
            expected
        );
    }
}

conformance_tests! {
    labels_limit_counts_the_app_only_and_refuses_duplicates,
    labels_with_a_common_prefix_keep_their_own_users,
    labels_add_is_idempotent_and_all_or_nothing_at_the_limit,
    labels_remove_counts_members_only,
    labels_of_a_user_and_deleting_the_user,
    labels_users_of_several_labels_page_through_the_union,
    labels_are_deleted_with_their_app,
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    labels_user_count_stays_exact_under_concurrent_writes,
    labels_read_back_and_list_in_pages,
    label_users_read_back_and_page,
    deleting_a_label_ends_its_memberships,
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    concurrent_label_creations_stop_at_the_limit,
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    counts_stay_exact_when_users_leave_several_labels_at_once,
}
