//! [`MessageRepository`](crate::store::MessageRepository): stored messages by app and id.

use crate::{
    clock::timestamp,
    proto::v1::{PushMessage, StoredMessage},
    store::Store,
};

fn message(id: &str, ms: i64) -> StoredMessage {
    StoredMessage {
        id: id.into(),
        message: Some(PushMessage::default()),
        create_time: Some(timestamp(ms)),
    }
}

/// A message reads back whole under its app and id only; putting it again replaces it.
async fn messages_read_back_per_app(s: Store) {
    let messages = &s.messages;
    assert!(messages.get_message("o#a", "m1").await.unwrap().is_none());
    messages
        .put_message("o#a", &message("m1", 1))
        .await
        .unwrap();
    messages
        .put_message("o#ab", &message("m1", 2))
        .await
        .unwrap();
    messages
        .put_message("o#a", &message("m10", 3))
        .await
        .unwrap();
    assert_eq!(
        messages.get_message("o#a", "m1").await.unwrap(),
        Some(message("m1", 1))
    );
    assert_eq!(
        messages.get_message("o#ab", "m1").await.unwrap(),
        Some(message("m1", 2))
    );
    assert_eq!(
        messages.get_message("o#a", "m10").await.unwrap(),
        Some(message("m10", 3))
    );
    assert!(messages.get_message("o#b", "m1").await.unwrap().is_none());
    assert!(messages.get_message("o#a", "m").await.unwrap().is_none());
    messages
        .put_message("o#a", &message("m1", 4))
        .await
        .unwrap();
    assert_eq!(
        messages.get_message("o#a", "m1").await.unwrap(),
        Some(message("m1", 4))
    );
}

conformance_tests! {
    messages_read_back_per_app,
}
