//! [`TemplateRepository`](crate::store::TemplateRepository): templates per app, the count limit, atomic
//! updates.

use crate::store::{Store, StoreError, TemplateRecord};

fn template(name: &str, title: &str) -> TemplateRecord {
    TemplateRecord {
        name: name.into(),
        title_pattern: title.into(),
        ..Default::default()
    }
}

async fn names_are_unique_and_counted_per_app(s: Store) {
    s.templates
        .create_template("o#a", template("t1", "a"), 2)
        .await
        .unwrap();
    assert!(matches!(
        s.templates
            .create_template("o#a", template("t1", "b"), 2)
            .await,
        Err(StoreError::AlreadyExists(_))
    ));
    s.templates
        .create_template("o#a", template("t2", "b"), 2)
        .await
        .unwrap();
    assert!(matches!(
        s.templates
            .create_template("o#a", template("t3", "c"), 2)
            .await,
        Err(StoreError::LimitReached { limit: 2, .. })
    ));
    assert!(
        s.templates
            .get_template("o#a", "t3")
            .await
            .unwrap()
            .is_none()
    );
    // Another app, even one whose name extends this one's, has its own names and count.
    s.templates
        .create_template("o#ab", template("t1", "other"), 2)
        .await
        .unwrap();
    assert_eq!(
        s.templates
            .get_template("o#a", "t1")
            .await
            .unwrap()
            .unwrap()
            .title_pattern,
        "a"
    );
    assert!(s.templates.delete_template("o#a", "t1").await.unwrap());
    assert!(!s.templates.delete_template("o#a", "t1").await.unwrap());
    s.templates
        .create_template("o#a", template("t3", "c"), 2)
        .await
        .unwrap();
}

async fn updates_apply_decline_or_miss(s: Store) {
    s.templates
        .create_template("o#a", template("t", "a"), 5)
        .await
        .unwrap();
    let changed = s
        .templates
        .update_template("o#a", "t", &|t| {
            let mut next = t.clone();
            next.content_pattern = "body".into();
            Some(next)
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            changed.title_pattern.as_str(),
            changed.content_pattern.as_str()
        ),
        ("a", "body")
    );
    assert_eq!(
        s.templates
            .update_template("o#a", "t", &|_| None)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.templates.get_template("o#a", "t").await.unwrap(),
        Some(changed)
    );
    assert!(matches!(
        s.templates
            .update_template("o#a", "nope", &|t| Some(t.clone()))
            .await,
        Err(StoreError::NotFound(_))
    ));
}

/// A template reads back whole, and an update of one app's template leaves another app's of the same name.
async fn templates_read_back_whole_and_stay_in_their_app(s: Store) {
    let templates = &s.templates;
    let t = TemplateRecord {
        name: "t".into(),
        title_pattern: "{$fromNickname}".into(),
        content_pattern: "{$msg}".into(),
        create_time_ms: 3,
        update_time_ms: 4,
    };
    templates
        .create_template("o#a", t.clone(), 5)
        .await
        .unwrap();
    templates
        .create_template("o#ab", template("t", "other"), 5)
        .await
        .unwrap();
    assert_eq!(
        templates.get_template("o#a", "t").await.unwrap(),
        Some(t.clone())
    );
    templates
        .update_template("o#a", "t", &|t| {
            Some(TemplateRecord {
                update_time_ms: 9,
                ..t.clone()
            })
        })
        .await
        .unwrap();
    assert_eq!(
        templates
            .get_template("o#a", "t")
            .await
            .unwrap()
            .unwrap()
            .update_time_ms,
        9
    );
    assert_eq!(
        templates.get_template("o#ab", "t").await.unwrap(),
        Some(template("t", "other"))
    );
    assert!(matches!(
        templates
            .update_template("o#b", "t", &|t| Some(t.clone()))
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert!(templates.get_template("o#b", "t").await.unwrap().is_none());
}

/// Concurrent updates of one template each apply to the result of the others: none is lost.
async fn concurrent_updates_are_not_lost(s: Store) {
    s.templates
        .create_template("o#a", template("t", ""), 5)
        .await
        .unwrap();
    let writers = (0..4).map(|w| {
        let s = s.clone();
        tokio::spawn(async move {
            for _ in 0..25 {
                s.templates
                    .update_template("o#a", "t", &|t| {
                        let mut next = t.clone();
                        next.content_pattern.push(char::from(b'a' + w));
                        Some(next)
                    })
                    .await
                    .unwrap();
            }
        })
    });
    for writer in writers.collect::<Vec<_>>() {
        writer.await.unwrap();
    }
    let t = s.templates.get_template("o#a", "t").await.unwrap().unwrap();
    assert_eq!(t.content_pattern.len(), 100);
    for w in 0..4u8 {
        let mine = t
            .content_pattern
            .chars()
            .filter(|c| *c == char::from(b'a' + w));
        assert_eq!(mine.count(), 25);
    }
}

/// Creates racing each other stay within the limit and take a name once: of many new names only
/// `max_templates` are stored, and of many creates of one name one succeeds.
async fn concurrent_creates_keep_the_limit_and_names(s: Store) {
    let creates = (0..12).map(|i| {
        let s = s.clone();
        tokio::spawn(async move {
            s.templates
                .create_template("o#a", template(&format!("t{i}"), ""), 5)
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
    let mut stored = 0;
    for i in 0..12 {
        if s.templates
            .get_template("o#a", &format!("t{i}"))
            .await
            .unwrap()
            .is_some()
        {
            stored += 1;
        }
    }
    assert_eq!(stored, 5);

    let creates = (0..8).map(|i| {
        let s = s.clone();
        tokio::spawn(async move {
            s.templates
                .create_template("o#b", template("same", &i.to_string()), 5)
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
    names_are_unique_and_counted_per_app,
    updates_apply_decline_or_miss,
    templates_read_back_whole_and_stay_in_their_app,
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    concurrent_updates_are_not_lost,
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    concurrent_creates_keep_the_limit_and_names,
}
