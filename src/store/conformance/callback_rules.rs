//! [`CallbackRuleRepository`](crate::store::CallbackRuleRepository): rules per app, the count limit, and the
//! list of every app's rules.

use crate::store::{CallbackRuleRecord, Store, StoreError};

fn rule(name: &str) -> CallbackRuleRecord {
    CallbackRuleRecord {
        name: name.into(),
        url: "http://x".into(),
        ..Default::default()
    }
}

async fn rule_limit_counts_only_new_rules(s: Store) {
    assert!(
        s.callback_rules
            .put_rule("o#a", rule("a"), 2)
            .await
            .unwrap()
    );
    assert!(
        s.callback_rules
            .put_rule("o#a", rule("b"), 2)
            .await
            .unwrap()
    );
    assert!(
        !s.callback_rules
            .put_rule("o#a", rule("b"), 2)
            .await
            .unwrap()
    );
    assert!(matches!(
        s.callback_rules.put_rule("o#a", rule("c"), 2).await,
        Err(StoreError::LimitReached { limit: 2, .. })
    ));
}

/// A rule refused at the limit is not stored, and each app, even one whose name extends another's, has its
/// own count.
async fn a_refused_rule_is_not_stored_and_apps_count_apart(s: Store) {
    let rules = &s.callback_rules;
    for name in ["a", "b"] {
        rules.put_rule("o#a", rule(name), 2).await.unwrap();
    }
    assert!(rules.put_rule("o#a", rule("c"), 2).await.is_err());
    assert!(rules.get_rule("o#a", "c").await.unwrap().is_none());
    assert_eq!(rules.list_rules("o#a").await.unwrap().len(), 2);
    assert!(rules.put_rule("o#ab", rule("a"), 2).await.unwrap());
    assert!(rules.put_rule("o#ab", rule("b"), 2).await.unwrap());
}

/// A rule reads back whole, a put replaces it, and a delete says whether there was one.
async fn rules_read_back_replace_and_delete(s: Store) {
    let rules = &s.callback_rules;
    let first = CallbackRuleRecord {
        name: "hook".into(),
        url: "https://a.example/cb".into(),
        secret: String::new(),
        enabled: true,
        statuses: vec![1, 3],
        create_time_ms: 10,
        update_time_ms: 10,
        sealed_secret: vec![9, 8, 7],
    };
    assert!(rules.put_rule("o#a", first.clone(), 4).await.unwrap());
    assert_eq!(
        rules.get_rule("o#a", "hook").await.unwrap(),
        Some(first.clone())
    );
    assert!(rules.get_rule("o#ab", "hook").await.unwrap().is_none());

    let changed = CallbackRuleRecord {
        url: "https://b.example/cb".into(),
        enabled: false,
        statuses: vec![],
        update_time_ms: 20,
        ..first
    };
    assert!(!rules.put_rule("o#a", changed.clone(), 4).await.unwrap());
    assert_eq!(rules.get_rule("o#a", "hook").await.unwrap(), Some(changed));
    assert_eq!(rules.list_rules("o#a").await.unwrap().len(), 1);
    assert!(rules.put_rule("o#a", rule("a"), 1).await.is_err());

    assert!(rules.delete_rule("o#a", "hook").await.unwrap());
    assert!(!rules.delete_rule("o#a", "hook").await.unwrap());
    assert!(rules.get_rule("o#a", "hook").await.unwrap().is_none());
    assert!(rules.list_rules("o#a").await.unwrap().is_empty());
    // The freed place can be taken again.
    assert!(rules.put_rule("o#a", rule("a"), 1).await.unwrap());
}

/// `list_rules` is one app's rules in name order; `all_rules` is every app's, each with its app.
async fn rules_are_listed_per_app_and_all_together(s: Store) {
    let rules = &s.callback_rules;
    for (app, name) in [("o#b", "z"), ("o#a", "y"), ("o#a", "x"), ("o#ab", "x")] {
        rules.put_rule(app, rule(name), 10).await.unwrap();
    }
    let names: Vec<String> = rules
        .list_rules("o#a")
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(names, ["x", "y"]);
    assert!(rules.list_rules("o#c").await.unwrap().is_empty());

    let mut all: Vec<(String, String)> = rules
        .all_rules()
        .await
        .unwrap()
        .into_iter()
        .map(|(app, r)| (app, r.name))
        .collect();
    all.sort();
    let expected = [("o#a", "x"), ("o#a", "y"), ("o#ab", "x"), ("o#b", "z")];
    assert_eq!(all, expected.map(|(a, n)| (a.to_owned(), n.to_owned())));
}

/// Puts racing each other stay within the limit, and of many puts of one new rule exactly one says it
/// created it.
async fn concurrent_puts_keep_the_limit_and_create_once(s: Store) {
    let puts = (0..12).map(|i| {
        let s = s.clone();
        tokio::spawn(async move {
            s.callback_rules
                .put_rule("o#a", rule(&format!("r{i}")), 5)
                .await
        })
    });
    let mut created = 0;
    for put in puts.collect::<Vec<_>>() {
        match put.await.unwrap() {
            Ok(true) => created += 1,
            Err(StoreError::LimitReached { limit: 5, .. }) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(created, 5);
    assert_eq!(s.callback_rules.list_rules("o#a").await.unwrap().len(), 5);

    let puts = (0..8).map(|_| {
        let s = s.clone();
        tokio::spawn(async move { s.callback_rules.put_rule("o#b", rule("same"), 5).await })
    });
    let mut created = 0;
    for put in puts.collect::<Vec<_>>() {
        if put.await.unwrap().unwrap() {
            created += 1;
        }
    }
    assert_eq!(created, 1);
    assert_eq!(s.callback_rules.list_rules("o#b").await.unwrap().len(), 1);
}

conformance_tests! {
    rule_limit_counts_only_new_rules,
    a_refused_rule_is_not_stored_and_apps_count_apart,
    rules_read_back_replace_and_delete,
    rules_are_listed_per_app_and_all_together,
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    concurrent_puts_keep_the_limit_and_create_once,
}
