//! [`NotifierRepository`](crate::store::NotifierRepository): notifiers per app, the count limit, listing by
//! vendor, updates.

use crate::{
    proto::v1::Notifier,
    store::{NotifierRecord, Store, StoreError},
};

fn record(name: &str, vendor: i32) -> NotifierRecord {
    NotifierRecord {
        public: Some(Notifier {
            name: name.into(),
            vendor,
            ..Default::default()
        }),
        sealed_credentials: vec![1, 2, 3],
    }
}

async fn create_list_filter_and_limit(s: Store) {
    s.notifiers
        .create_notifier("o#a", record("n1", 1), 3)
        .await
        .unwrap();
    s.notifiers
        .create_notifier("o#a", record("n2", 2), 3)
        .await
        .unwrap();
    s.notifiers
        .create_notifier("o#ab", record("n1", 2), 3)
        .await
        .unwrap();
    assert!(matches!(
        s.notifiers.create_notifier("o#a", record("n1", 1), 3).await,
        Err(StoreError::AlreadyExists(_))
    ));
    s.notifiers
        .create_notifier("o#a", record("n3", 2), 3)
        .await
        .unwrap();
    assert!(matches!(
        s.notifiers.create_notifier("o#a", record("n4", 2), 3).await,
        Err(StoreError::LimitReached { limit: 3, .. })
    ));
    let all = s
        .notifiers
        .list_notifiers("o#a", None, 10, 0)
        .await
        .unwrap();
    assert_eq!(
        all.iter().map(|r| r.name()).collect::<Vec<_>>(),
        ["n1", "n2", "n3"]
    );
    let fcm = s
        .notifiers
        .list_notifiers("o#a", None, 10, 2)
        .await
        .unwrap();
    assert_eq!(fcm.len(), 2);
    let after = s
        .notifiers
        .list_notifiers("o#a", Some("n1"), 1, 0)
        .await
        .unwrap();
    assert_eq!(after[0].name(), "n2");
    assert!(s.notifiers.delete_notifier("o#a", "n1").await.unwrap());
    assert!(!s.notifiers.delete_notifier("o#a", "n1").await.unwrap());
    assert!(
        s.notifiers
            .get_notifier("o#ab", "n1")
            .await
            .unwrap()
            .is_some()
    );
}

/// A notifier reads back whole; an update replaces it, and one of a missing notifier is `NotFound` and
/// creates nothing.
async fn notifiers_read_back_and_update_in_place(s: Store) {
    let notifiers = &s.notifiers;
    let created = record("n", 1);
    notifiers
        .create_notifier("o#a", created.clone(), 3)
        .await
        .unwrap();
    assert_eq!(
        notifiers.get_notifier("o#a", "n").await.unwrap(),
        Some(created)
    );
    assert!(notifiers.get_notifier("o#a", "m").await.unwrap().is_none());
    assert!(notifiers.get_notifier("o#b", "n").await.unwrap().is_none());

    let mut changed = record("n", 1);
    changed.sealed_credentials = vec![4, 5];
    changed.public.as_mut().unwrap().description = "renewed".into();
    notifiers
        .update_notifier("o#a", changed.clone())
        .await
        .unwrap();
    assert_eq!(
        notifiers.get_notifier("o#a", "n").await.unwrap(),
        Some(changed)
    );

    assert!(matches!(
        notifiers.update_notifier("o#a", record("m", 1)).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(notifiers.get_notifier("o#a", "m").await.unwrap().is_none());
    assert!(matches!(
        notifiers.update_notifier("o#b", record("n", 1)).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        notifiers
            .list_notifiers("o#a", None, 10, 0)
            .await
            .unwrap()
            .len(),
        1
    );
}

/// The vendor filter applies before the limit: a page holds `limit` notifiers of the vendor when there are
/// that many, however many of other vendors lie between them.
async fn a_vendors_notifiers_page_by_name(s: Store) {
    let notifiers = &s.notifiers;
    for (name, vendor) in [("a", 1), ("b", 2), ("c", 2), ("d", 1), ("e", 2), ("f", 1)] {
        notifiers
            .create_notifier("o#a", record(name, vendor), 10)
            .await
            .unwrap();
    }
    let names =
        |page: Vec<NotifierRecord>| page.iter().map(|r| r.name().to_owned()).collect::<Vec<_>>();
    assert_eq!(
        names(notifiers.list_notifiers("o#a", None, 2, 1).await.unwrap()),
        ["a", "d"]
    );
    assert_eq!(
        names(
            notifiers
                .list_notifiers("o#a", Some("d"), 2, 1)
                .await
                .unwrap()
        ),
        ["f"]
    );
    assert_eq!(
        names(
            notifiers
                .list_notifiers("o#a", Some("a"), 10, 2)
                .await
                .unwrap()
        ),
        ["b", "c", "e"]
    );
    assert_eq!(
        names(
            notifiers
                .list_notifiers("o#a", Some("c"), 2, 0)
                .await
                .unwrap()
        ),
        ["d", "e"]
    );
    assert!(
        notifiers
            .list_notifiers("o#a", None, 10, 9)
            .await
            .unwrap()
            .is_empty()
    );
    // A deleted notifier frees its place.
    assert!(
        notifiers
            .create_notifier("o#a", record("g", 1), 6)
            .await
            .is_err()
    );
    notifiers.delete_notifier("o#a", "a").await.unwrap();
    notifiers
        .create_notifier("o#a", record("g", 1), 6)
        .await
        .unwrap();
}

/// Creates racing each other stay within the limit and take a name once.
async fn concurrent_creates_keep_the_limit_and_names(s: Store) {
    let creates = (0..12).map(|i| {
        let s = s.clone();
        tokio::spawn(async move {
            s.notifiers
                .create_notifier("o#a", record(&format!("n{i}"), 1 + i % 2), 5)
                .await
        })
    });
    let mut created = 0;
    for create in creates.collect::<Vec<_>>() {
        match create.await.unwrap() {
            Ok(()) => created += 1,
            Err(StoreError::LimitReached { limit: 5, .. }) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(created, 5);
    let listed = s
        .notifiers
        .list_notifiers("o#a", None, 20, 0)
        .await
        .unwrap();
    assert_eq!(listed.len(), 5);

    let creates = (0..8).map(|_| {
        let s = s.clone();
        tokio::spawn(async move {
            s.notifiers
                .create_notifier("o#b", record("same", 1), 5)
                .await
        })
    });
    let mut created = 0;
    for create in creates.collect::<Vec<_>>() {
        match create.await.unwrap() {
            Ok(()) => created += 1,
            Err(StoreError::AlreadyExists(_)) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(created, 1);
}

conformance_tests! {
    create_list_filter_and_limit,
    notifiers_read_back_and_update_in_place,
    a_vendors_notifiers_page_by_name,
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    concurrent_creates_keep_the_limit_and_names,
}
