//! [`MetaRepository`](crate::store::MetaRepository): server-wide values by key.

use crate::store::{Store, meta::ADMIN_TOKEN_HASH};

/// A value reads back under its key only; setting it again replaces it.
async fn values_are_set_and_replaced(s: Store) {
    let meta = &s.meta;
    assert!(meta.get_meta(ADMIN_TOKEN_HASH).await.unwrap().is_none());
    meta.put_meta(ADMIN_TOKEN_HASH, vec![1, 2, 3])
        .await
        .unwrap();
    assert_eq!(
        meta.get_meta(ADMIN_TOKEN_HASH).await.unwrap(),
        Some(vec![1, 2, 3])
    );
    meta.put_meta(ADMIN_TOKEN_HASH, vec![4]).await.unwrap();
    assert_eq!(
        meta.get_meta(ADMIN_TOKEN_HASH).await.unwrap(),
        Some(vec![4])
    );
    assert!(meta.get_meta(b"other").await.unwrap().is_none());
    meta.put_meta(b"other", vec![]).await.unwrap();
    assert_eq!(meta.get_meta(b"other").await.unwrap(), Some(vec![]));
    assert_eq!(
        meta.get_meta(ADMIN_TOKEN_HASH).await.unwrap(),
        Some(vec![4])
    );
}

/// Server-wide values belong to no app: deleting an app leaves them.
async fn values_survive_deleting_an_app(s: Store) {
    s.meta.put_meta(ADMIN_TOKEN_HASH, vec![7]).await.unwrap();
    s.apps
        .create_app(crate::store::AppRecord {
            name: "admin_token_sha256".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    s.apps.delete_app("admin_token_sha256").await.unwrap();
    assert_eq!(
        s.meta.get_meta(ADMIN_TOKEN_HASH).await.unwrap(),
        Some(vec![7])
    );
}

conformance_tests! {
    values_are_set_and_replaced,
    values_survive_deleting_an_app,
}
