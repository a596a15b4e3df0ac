//! [`BindingRepository`](crate::store::BindingRepository): binding, moving and stealing devices and tokens,
//! the per-user limit, and the pages of a user's, a notifier's and the whole app's bindings.

use crate::store::{BindEffect, BindingCursor, BindingRecord, Store, StoreError};

fn b(user: &str, device: &str, notifier: &str, token: &str) -> BindingRecord {
    BindingRecord {
        user: user.into(),
        device_id: device.into(),
        device_token: token.into(),
        notifier_name: notifier.into(),
        vendor: 1,
        create_time_ms: 1,
        update_time_ms: 1,
    }
}

async fn all(s: &Store, user: &str) -> Vec<(String, String, String)> {
    s.bindings
        .user_bindings("o#a", user, None, 100)
        .await
        .unwrap()
        .0
        .into_iter()
        .map(|b| (b.device_id, b.notifier_name, b.device_token))
        .collect()
}

/// (user, device, notifier) of each binding.
fn keys(bindings: &[BindingRecord]) -> Vec<(&str, &str, &str)> {
    bindings
        .iter()
        .map(|b| {
            (
                b.user.as_str(),
                b.device_id.as_str(),
                b.notifier_name.as_str(),
            )
        })
        .collect()
}

async fn bind_update_move_and_steal(s: Store) {
    assert_eq!(
        s.bindings
            .bind("o#a", b("u1", "d1", "apns", "t1"), 10)
            .await
            .unwrap()
            .effect,
        BindEffect::Bound
    );
    assert_eq!(
        s.bindings
            .bind("o#a", b("u1", "d1", "apns", "t1"), 10)
            .await
            .unwrap()
            .effect,
        BindEffect::Unchanged
    );
    assert_eq!(
        s.bindings
            .bind("o#a", b("u1", "d1", "apns", "t2"), 10)
            .await
            .unwrap()
            .effect,
        BindEffect::Updated
    );
    s.bindings
        .bind("o#a", b("u1", "d1", "voip", "v1"), 10)
        .await
        .unwrap();
    // The device moves to u2: both of its bindings under u1 go.
    let moved = s
        .bindings
        .bind("o#a", b("u2", "d1", "apns", "t3"), 10)
        .await
        .unwrap();
    assert_eq!(
        moved.effect,
        BindEffect::Moved {
            previous_user: "u1".into()
        }
    );
    assert_eq!(moved.removed.len(), 2);
    assert!(all(&s, "u1").await.is_empty());
    assert!(!s.bindings.has_bindings("o#a", "u1").await.unwrap());
    // The same token on another device under the same notifier is taken from there.
    let stolen = s
        .bindings
        .bind("o#a", b("u3", "d9", "apns", "t3"), 10)
        .await
        .unwrap();
    assert_eq!(stolen.effect, BindEffect::Bound);
    assert_eq!(stolen.removed[0].device_id, "d1");
    assert!(all(&s, "u2").await.is_empty());
    // d1 has no bindings left, so binding it to u1 is a plain bind, not a move.
    assert_eq!(
        s.bindings
            .bind("o#a", b("u1", "d1", "apns", "t4"), 10)
            .await
            .unwrap()
            .effect,
        BindEffect::Bound
    );
    // The replaced token t2 is free again.
    assert_eq!(
        s.bindings
            .bind("o#a", b("u5", "d5", "apns", "t2"), 10)
            .await
            .unwrap()
            .removed
            .len(),
        0
    );
}

async fn limit_unbind_indexes_and_paging(s: Store) {
    for i in 0..3 {
        s.bindings
            .bind("o#a", b("u1", &format!("d{i}"), "n", &format!("t{i}")), 3)
            .await
            .unwrap();
    }
    assert!(matches!(
        s.bindings.bind("o#a", b("u1", "d9", "n", "t9"), 3).await,
        Err(StoreError::LimitReached { limit: 3, .. })
    ));
    // Replacing a token is not a new binding.
    s.bindings
        .bind("o#a", b("u1", "d0", "n", "t0b"), 3)
        .await
        .unwrap();
    let (first, cursor) = s
        .bindings
        .user_bindings("o#a", "u1", None, 2)
        .await
        .unwrap();
    assert_eq!(first.len(), 2);
    let (rest, end) = s
        .bindings
        .user_bindings("o#a", "u1", cursor.as_ref(), 2)
        .await
        .unwrap();
    assert_eq!((rest.len(), end), (1, None));
    let (by_n, _) = s
        .bindings
        .notifier_bindings("o#a", "n", None, 10)
        .await
        .unwrap();
    assert_eq!(by_n.len(), 3);
    assert!(
        s.bindings
            .unbind("o#a", "someone-else", "d1", None)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.bindings
            .unbind("o#a", "u1", "d1", Some("n"))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        s.bindings
            .notifier_bindings("o#a", "n", None, 10)
            .await
            .unwrap()
            .0
            .len(),
        2
    );
    assert_eq!(
        s.bindings.delete_user_bindings("o#a", "u1").await.unwrap(),
        2
    );
    assert!(
        s.bindings
            .app_bindings("o#a", None, 10)
            .await
            .unwrap()
            .0
            .is_empty()
    );
    assert!(
        s.bindings
            .notifier_bindings("o#a", "n", None, 10)
            .await
            .unwrap()
            .0
            .is_empty()
    );
}

async fn users_with_a_common_prefix_stay_apart(s: Store) {
    s.bindings
        .bind("o#a", b("u", "d1", "n", "t1"), 10)
        .await
        .unwrap();
    s.bindings
        .bind("o#a", b("u2", "d2", "n", "t2"), 10)
        .await
        .unwrap();
    s.bindings
        .bind("o#ab", b("u", "d1", "n", "t1"), 10)
        .await
        .unwrap();
    assert_eq!(all(&s, "u").await.len(), 1);
    assert_eq!(
        s.bindings
            .app_bindings("o#a", None, 10)
            .await
            .unwrap()
            .0
            .len(),
        2
    );
    assert_eq!(
        s.bindings.delete_user_bindings("o#a", "u").await.unwrap(),
        1
    );
    assert_eq!(all(&s, "u2").await.len(), 1);
    assert_eq!(
        s.bindings
            .app_bindings("o#ab", None, 10)
            .await
            .unwrap()
            .0
            .len(),
        1
    );
}

/// A binding reads back whole; `unbind` without a notifier removes every binding of the device, and only the
/// owner's.
async fn bindings_read_back_and_unbind_a_whole_device(s: Store) {
    let mut apns = b("u", "d", "apns", "t1");
    apns.vendor = 3;
    apns.create_time_ms = 5;
    apns.update_time_ms = 6;
    s.bindings.bind("o#a", apns.clone(), 10).await.unwrap();
    s.bindings
        .bind("o#a", b("u", "d", "voip", "v1"), 10)
        .await
        .unwrap();
    s.bindings
        .bind("o#a", b("u", "e", "apns", "t2"), 10)
        .await
        .unwrap();
    let (listed, end) = s
        .bindings
        .user_bindings("o#a", "u", None, 10)
        .await
        .unwrap();
    assert_eq!(end, None);
    assert_eq!(listed[0], apns, "every field as bound");
    assert_eq!(
        keys(&listed),
        [("u", "d", "apns"), ("u", "d", "voip"), ("u", "e", "apns")],
        "by device, then notifier"
    );

    // Unbinding a notifier the device has no binding under removes nothing.
    assert!(
        s.bindings
            .unbind("o#a", "u", "d", Some("fcm"))
            .await
            .unwrap()
            .is_empty()
    );
    let removed = s.bindings.unbind("o#a", "u", "d", None).await.unwrap();
    let mut removed = keys(&removed)
        .into_iter()
        .map(|(_, _, n)| n.to_owned())
        .collect::<Vec<_>>();
    removed.sort();
    assert_eq!(removed, ["apns", "voip"]);
    assert_eq!(
        all(&s, "u").await,
        [("e".into(), "apns".into(), "t2".into())]
    );
    assert!(s.bindings.has_bindings("o#a", "u").await.unwrap());
    // The device is free: binding it to another user is a plain bind.
    let again = s
        .bindings
        .bind("o#a", b("v", "d", "apns", "t3"), 10)
        .await
        .unwrap();
    assert_eq!(again.effect, BindEffect::Bound);
    assert!(again.removed.is_empty());
}

/// The same token under another notifier is another binding: nothing is taken from its holder.
async fn a_token_is_only_taken_under_the_same_notifier(s: Store) {
    s.bindings
        .bind("o#a", b("u1", "d1", "apns", "tok"), 10)
        .await
        .unwrap();
    let other = s
        .bindings
        .bind("o#a", b("u2", "d2", "fcm", "tok"), 10)
        .await
        .unwrap();
    assert_eq!(other.effect, BindEffect::Bound);
    assert!(other.removed.is_empty());
    assert_eq!(all(&s, "u1").await.len(), 1);
    // Nor from another app.
    let elsewhere = s
        .bindings
        .bind("o#b", b("u3", "d3", "apns", "tok"), 10)
        .await
        .unwrap();
    assert!(elsewhere.removed.is_empty());
    assert_eq!(all(&s, "u1").await.len(), 1);
}

/// The app's and a notifier's bindings page through everything once, in the documented order, with a cursor
/// that is `None` once nothing follows.
async fn app_and_notifier_bindings_page_through_everything(s: Store) {
    let mut bound = Vec::new();
    for (user, device) in [("u3", "d1"), ("u1", "d2"), ("u2", "d3"), ("u1", "d4")] {
        for notifier in ["n1", "n2"] {
            let token = format!("{device}-{notifier}");
            s.bindings
                .bind("o#a", b(user, device, notifier, &token), 10)
                .await
                .unwrap();
            bound.push((user, device, notifier));
        }
    }
    s.bindings
        .bind("o#b", b("u0", "d0", "n1", "x"), 10)
        .await
        .unwrap();
    bound.sort();

    let mut seen = Vec::new();
    let mut after: Option<BindingCursor> = None;
    for page in 0.. {
        assert!(page < 10, "the pages end");
        let (bindings, next) = s
            .bindings
            .app_bindings("o#a", after.as_ref(), 3)
            .await
            .unwrap();
        assert!(bindings.len() <= 3);
        seen.extend(bindings);
        match next {
            Some(cursor) => after = Some(cursor),
            None => break,
        }
    }
    assert_eq!(keys(&seen), bound, "by user, device, notifier");

    let mut seen = Vec::new();
    let mut after: Option<BindingCursor> = None;
    for page in 0.. {
        assert!(page < 10, "the pages end");
        let (bindings, next) = s
            .bindings
            .notifier_bindings("o#a", "n2", after.as_ref(), 3)
            .await
            .unwrap();
        assert!(bindings.len() <= 3);
        seen.extend(bindings);
        match next {
            Some(cursor) => after = Some(cursor),
            None => break,
        }
    }
    let mut seen = keys(&seen);
    seen.sort();
    let n2: Vec<_> = bound.iter().copied().filter(|k| k.2 == "n2").collect();
    assert_eq!(seen, n2);
    assert!(
        s.bindings
            .notifier_bindings("o#a", "n3", None, 10)
            .await
            .unwrap()
            .0
            .is_empty()
    );
}

/// `app_users` lists each user with bindings once, in user id order, resumable after the last of a page.
async fn app_users_are_distinct_and_paged(s: Store) {
    for (user, device) in [
        ("u3", "d1"),
        ("u1", "d2"),
        ("u1", "d3"),
        ("u10", "d4"),
        ("u2", "d5"),
    ] {
        for notifier in ["n1", "n2"] {
            let token = format!("{device}-{notifier}");
            s.bindings
                .bind("o#a", b(user, device, notifier, &token), 10)
                .await
                .unwrap();
        }
    }
    s.bindings
        .bind("o#ab", b("u0", "d0", "n1", "x"), 10)
        .await
        .unwrap();
    assert_eq!(
        s.bindings.app_users("o#a", None, 10).await.unwrap(),
        ["u1", "u10", "u2", "u3"]
    );
    assert_eq!(
        s.bindings.app_users("o#a", None, 2).await.unwrap(),
        ["u1", "u10"]
    );
    // After "u1" comes "u10": a user whose id extends another's is not skipped.
    assert_eq!(
        s.bindings.app_users("o#a", Some("u1"), 2).await.unwrap(),
        ["u10", "u2"]
    );
    assert_eq!(
        s.bindings.app_users("o#a", Some("u2"), 10).await.unwrap(),
        ["u3"]
    );
    assert!(
        s.bindings
            .app_users("o#a", Some("u3"), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        s.bindings
            .app_users("o#b", None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // A user whose last binding goes is no longer listed.
    s.bindings.delete_user_bindings("o#a", "u10").await.unwrap();
    assert_eq!(
        s.bindings.app_users("o#a", None, 10).await.unwrap(),
        ["u1", "u2", "u3"]
    );
}

/// A token taken from another device of the same user frees that binding's place under the limit.
async fn a_token_taken_from_the_users_own_device_frees_its_place(s: Store) {
    for i in 0..3 {
        s.bindings
            .bind("o#a", b("u1", &format!("d{i}"), "n", &format!("t{i}")), 3)
            .await
            .unwrap();
    }
    let taken = s
        .bindings
        .bind("o#a", b("u1", "d9", "n", "t0"), 3)
        .await
        .unwrap();
    assert_eq!(taken.effect, BindEffect::Bound);
    assert_eq!(keys(&taken.removed), [("u1", "d0", "n")]);
    let devices: Vec<String> = all(&s, "u1").await.into_iter().map(|(d, _, _)| d).collect();
    assert_eq!(devices, ["d1", "d2", "d9"]);
}

/// Binds racing to move the same devices between users, to take the same tokens and past the limit: each
/// device ends with one user, no user holds more than the limit, and each token is bound once.
async fn concurrent_binds_keep_one_owner_per_device_and_the_limit(s: Store) {
    let binders = (0..8).map(|w| {
        let s = s.clone();
        tokio::spawn(async move {
            for round in 0..10 {
                for d in 0..4 {
                    let user = format!("u{}", w % 4);
                    let device = format!("d{}", (w + d + round) % 6);
                    let token = format!("t{}", (w * 7 + d + round) % 5);
                    match s
                        .bindings
                        .bind("o#a", b(&user, &device, "n", &token), 2)
                        .await
                    {
                        Ok(_) | Err(StoreError::LimitReached { .. }) => {}
                        Err(e) => panic!("bind failed: {e}"),
                    }
                }
            }
        })
    });
    for binder in binders.collect::<Vec<_>>() {
        binder.await.unwrap();
    }
    let (bound, _) = s.bindings.app_bindings("o#a", None, 1000).await.unwrap();
    let mut owners = std::collections::BTreeMap::new();
    let mut held = std::collections::BTreeMap::<&str, usize>::new();
    let mut tokens = std::collections::BTreeSet::new();
    for binding in &bound {
        let owner = owners
            .entry(binding.device_id.as_str())
            .or_insert(binding.user.as_str());
        assert_eq!(*owner, binding.user, "{} has one user", binding.device_id);
        *held.entry(binding.user.as_str()).or_default() += 1;
        assert!(
            tokens.insert(binding.device_token.as_str()),
            "{} bound once",
            binding.device_token
        );
    }
    assert!(held.values().all(|&n| n <= 2), "{held:?}");
    for (user, n) in held {
        assert_eq!(all(&s, user).await.len(), n);
    }
}

/// Binds, unbinds and deletions of users racing over the same devices and tokens all succeed (or meet the
/// limit), and leave each device with one user and each token bound once.
async fn concurrent_binds_unbinds_and_deletions_keep_the_bindings_whole(s: Store) {
    let writers = (0..8).map(|w| {
        let s = s.clone();
        tokio::spawn(async move {
            for round in 0..20 {
                let user = format!("u{}", (w + round) % 3);
                let device = format!("d{}", (w * 3 + round) % 4);
                let notifier = ["n1", "n2"][(w + round) % 2];
                match (w + round) % 5 {
                    0 => {
                        s.bindings
                            .unbind("o#a", &user, &device, None)
                            .await
                            .unwrap();
                    }
                    1 => {
                        s.bindings
                            .unbind("o#a", &user, &device, Some(notifier))
                            .await
                            .unwrap();
                    }
                    2 => {
                        s.bindings.delete_user_bindings("o#a", &user).await.unwrap();
                    }
                    _ => {
                        let token = format!("t{}", (w + 2 * round) % 5);
                        let bound = b(&user, &device, notifier, &token);
                        match s.bindings.bind("o#a", bound, 3).await {
                            Ok(_) | Err(StoreError::LimitReached { .. }) => {}
                            Err(e) => panic!("bind failed: {e}"),
                        }
                    }
                }
            }
        })
    });
    for writer in writers.collect::<Vec<_>>() {
        writer.await.unwrap();
    }
    let (bound, _) = s.bindings.app_bindings("o#a", None, 1000).await.unwrap();
    let mut owners = std::collections::BTreeMap::new();
    let mut tokens = std::collections::BTreeSet::new();
    for binding in &bound {
        let owner = owners
            .entry(binding.device_id.as_str())
            .or_insert(binding.user.as_str());
        assert_eq!(*owner, binding.user, "{} has one user", binding.device_id);
        let token = (
            binding.notifier_name.as_str(),
            binding.device_token.as_str(),
        );
        assert!(tokens.insert(token), "{token:?} bound once");
    }
}

conformance_tests! {
    bind_update_move_and_steal,
    limit_unbind_indexes_and_paging,
    users_with_a_common_prefix_stay_apart,
    bindings_read_back_and_unbind_a_whole_device,
    a_token_is_only_taken_under_the_same_notifier,
    app_and_notifier_bindings_page_through_everything,
    app_users_are_distinct_and_paged,
    a_token_taken_from_the_users_own_device_frees_its_place,
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    concurrent_binds_keep_one_owner_per_device_and_the_limit,
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    concurrent_binds_unbinds_and_deletions_keep_the_bindings_whole,
}
