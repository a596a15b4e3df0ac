//! [`AppRepository`](crate::store::AppRepository): apps are unique by name, listed in name order, and deleted
//! with everything they own.

use crate::store::{AppRecord, CallbackRuleRecord, Store, StoreError};

fn rule(name: &str) -> CallbackRuleRecord {
    CallbackRuleRecord {
        name: name.into(),
        url: "http://x".into(),
        ..Default::default()
    }
}

fn app(name: &str) -> AppRecord {
    AppRecord {
        name: name.into(),
        ..Default::default()
    }
}

fn names(apps: &[AppRecord]) -> Vec<&str> {
    apps.iter().map(|a| a.name.as_str()).collect()
}

async fn apps_are_isolated_and_deleted_whole(s: Store) {
    s.apps.create_app(app("o#a")).await.unwrap();
    s.apps.create_app(app("o#ab")).await.unwrap();
    assert!(matches!(
        s.apps.create_app(app("o#a")).await,
        Err(StoreError::AlreadyExists(_))
    ));
    s.callback_rules
        .put_rule("o#a", rule("r"), 4)
        .await
        .unwrap();
    s.callback_rules
        .put_rule("o#ab", rule("r"), 4)
        .await
        .unwrap();
    s.callback_rules
        .put_rule("o#ab", rule("s"), 4)
        .await
        .unwrap();
    assert_eq!(s.callback_rules.list_rules("o#a").await.unwrap().len(), 1);
    assert_eq!(s.callback_rules.list_rules("o#ab").await.unwrap().len(), 2);
    assert_eq!(s.apps.delete_app("o#a").await.unwrap(), 2);
    assert_eq!(s.callback_rules.list_rules("o#ab").await.unwrap().len(), 2);
    assert!(s.apps.get_app("o#a").await.unwrap().is_none());
    let listed = s.apps.list_apps(None, 10).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, "o#ab");
}

async fn update_of_missing_app_is_not_found(s: Store) {
    assert!(matches!(
        s.apps.update_app(app("o#x")).await,
        Err(StoreError::NotFound(_))
    ));
}

/// An app reads back as it was created, and an update replaces the whole record.
async fn apps_read_back_and_update_in_place(s: Store) {
    let created = AppRecord {
        name: "o#a".into(),
        client_id: "client".into(),
        secret_hash: vec![1, 2, 3],
        secret_id: 7,
        create_time_ms: 10,
        secret_time_ms: 10,
        time_zone: "Europe/Berlin".into(),
    };
    s.apps.create_app(created.clone()).await.unwrap();
    assert_eq!(s.apps.get_app("o#a").await.unwrap(), Some(created.clone()));

    let rotated = AppRecord {
        secret_hash: vec![4, 5, 6],
        secret_id: 8,
        secret_time_ms: 20,
        time_zone: String::new(),
        ..created
    };
    s.apps.update_app(rotated.clone()).await.unwrap();
    assert_eq!(s.apps.get_app("o#a").await.unwrap(), Some(rotated));
    assert_eq!(names(&s.apps.list_apps(None, 10).await.unwrap()), ["o#a"]);
    // An update of a missing app creates nothing.
    assert!(s.apps.update_app(app("o#x")).await.is_err());
    assert!(s.apps.get_app("o#x").await.unwrap().is_none());
}

/// `list_apps` pages in name order: at most `limit`, strictly after `after` (which need not exist).
async fn apps_are_listed_in_name_order_and_paged(s: Store) {
    for name in ["o#c", "o#a", "p#a", "o#b"] {
        s.apps.create_app(app(name)).await.unwrap();
    }
    let all = s.apps.list_apps(None, 10).await.unwrap();
    assert_eq!(names(&all), ["o#a", "o#b", "o#c", "p#a"]);
    let first = s.apps.list_apps(None, 2).await.unwrap();
    assert_eq!(names(&first), ["o#a", "o#b"]);
    let next = s.apps.list_apps(Some("o#b"), 2).await.unwrap();
    assert_eq!(names(&next), ["o#c", "p#a"]);
    let between = s.apps.list_apps(Some("o#bb"), 10).await.unwrap();
    assert_eq!(names(&between), ["o#c", "p#a"]);
    assert!(s.apps.list_apps(Some("p#a"), 10).await.unwrap().is_empty());
    assert!(s.apps.list_apps(None, 0).await.unwrap().is_empty());
}

conformance_tests! {
    apps_are_isolated_and_deleted_whole,
    update_of_missing_app_is_not_found,
    apps_read_back_and_update_in_place,
    apps_are_listed_in_name_order_and_paged,
}
