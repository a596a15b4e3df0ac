//! Push nicknames, display style and language.

use crate::common::settings::*;

#[tokio::test]
async fn push_nicknames_are_set_one_by_one_and_in_batches() {
    let server = TestServer::start();
    let app = create_app(&server, "acme#chat").await;
    let mut s = Settings::of(&server, &app).await;

    assert_eq!(s.nickname("alice", "Alice 🌸").await.unwrap(), "Alice 🌸");
    assert_eq!(s.nickname("carol", "Carol").await.unwrap(), "Carol");
    assert_eq!(s.nickname("carol", "").await.unwrap(), "", "empty clears");
    let stored = s
        .nicknames(&[("bob", "Bob"), ("dave", "大卫"), ("alice", "Ally")])
        .await
        .unwrap();
    let echoed: Vec<_> = stored
        .iter()
        .map(|n| (n.user.as_str(), n.nickname.as_str()))
        .collect();
    assert_eq!(
        echoed,
        [("bob", "Bob"), ("dave", "大卫"), ("alice", "Ally")]
    );

    // A batch with bad entries is refused whole, naming every bad entry.
    let long = "n".repeat(101);
    assert_invalid(
        s.nicknames(&[
            ("erin", "Erin"),
            ("bad user", "x"),
            ("erin", "again"),
            ("frank", &long),
        ])
        .await,
        &[
            "nicknames[1].user",
            "nicknames[2].user",
            "nicknames[3].nickname",
        ],
    );
    assert_invalid(s.nicknames(&[]).await, &["nicknames"]);
    assert_invalid(s.nickname("alice", &long).await, &["nickname"]);
    assert_invalid(s.nickname("alice", "tab\there").await, &["nickname"]);
    assert_invalid(s.nickname("", "x").await, &["user"]);

    drop(s);
    let (_server, store) = stop_and_open_store(server).await;
    let nickname = |user: &'static str| {
        let store = store.clone();
        async move {
            store
                .user_settings
                .get_user_settings("acme#chat", user)
                .await
                .unwrap()
                .map(|r| r.nickname)
        }
    };
    assert_eq!(nickname("alice").await.as_deref(), Some("Ally"));
    assert_eq!(nickname("bob").await.as_deref(), Some("Bob"));
    assert_eq!(nickname("dave").await.as_deref(), Some("大卫"));
    assert_eq!(nickname("carol").await.as_deref(), Some(""));
    // Nothing of the refused batch was written, not even its good entries.
    assert_eq!(nickname("erin").await, None);
    assert_eq!(nickname("frank").await, None);
    assert!(
        !store
            .user_settings
            .has_user("acme#chat", "erin")
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn display_style_is_set_and_reset() {
    let server = TestServer::start();
    let app = create_app(&server, "acme#chat").await;
    let mut s = Settings::of(&server, &app).await;

    let nickname_and_content = NotificationDisplayStyle::NicknameAndContent as i32;
    assert_eq!(
        s.display_style("u1", nickname_and_content).await.unwrap(),
        nickname_and_content
    );
    assert_invalid(s.display_style("u1", 7).await, &["display_style"]);
    assert_invalid(s.display_style("u 1", 1).await, &["user"]);
    s.display_style("u2", nickname_and_content).await.unwrap();
    assert_eq!(
        s.display_style("u2", NotificationDisplayStyle::Unspecified as i32)
            .await
            .unwrap(),
        NotificationDisplayStyle::Default as i32,
        "UNSPECIFIED resets to the default, which is returned as DEFAULT"
    );

    drop(s);
    let (_server, store) = stop_and_open_store(server).await;
    let style = |user: &'static str| {
        let store = store.clone();
        async move {
            store
                .user_settings
                .get_user_settings("acme#chat", user)
                .await
                .unwrap()
                .map(|r| r.display_style)
        }
    };
    assert_eq!(
        style("u1").await,
        Some(nickname_and_content),
        "7 was not stored"
    );
    assert_eq!(
        style("u2").await,
        Some(NotificationDisplayStyle::Default as i32)
    );
}

#[tokio::test]
async fn language_is_set_read_and_cleared() {
    let server = TestServer::start();
    let app = create_app(&server, "acme#chat").await;
    let mut s = Settings::of(&server, &app).await;

    assert_eq!(s.language("u1").await.unwrap(), "");
    assert_eq!(s.set_language("u1", "zh-Hans").await.unwrap(), "zh-Hans");
    assert_eq!(s.language("u1").await.unwrap(), "zh-Hans");
    for bad in ["e", "en_US", "en US", &"a".repeat(36)] {
        assert_invalid(s.set_language("u1", bad).await, &["language"]);
    }
    assert_invalid(s.language("").await, &["user"]);
    assert_eq!(
        s.language("u1").await.unwrap(),
        "zh-Hans",
        "bad input changed nothing"
    );
    assert_eq!(s.set_language("u1", "").await.unwrap(), "");
    assert_eq!(s.language("u1").await.unwrap(), "");
}
