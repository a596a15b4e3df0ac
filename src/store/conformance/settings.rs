//! [`UserSettingsRepository`](crate::store::UserSettingsRepository): a user's own settings and per-conversation
//! settings, changed atomically field by field, read together for the send path, deleted per user and with
//! the app.

use crate::store::{
    ChatKind, ConversationKey, DailyInterval, NotificationRecord, PushProfile, Store,
    TemplateRecord, UserSettingsRecord,
};

fn group(id: &str) -> ConversationKey {
    ConversationKey {
        kind: ChatKind::Group,
        key: id.into(),
    }
}

fn peer(id: &str) -> ConversationKey {
    ConversationKey {
        kind: ChatKind::User,
        key: id.into(),
    }
}

async fn user_settings_change_field_by_field(s: Store) {
    assert!(
        s.user_settings
            .get_user_settings("o#a", "u")
            .await
            .unwrap()
            .is_none()
    );
    assert!(!s.user_settings.has_user("o#a", "u").await.unwrap());
    s.user_settings
        .update_user_settings("o#a", "u", &|r| r.nickname = "Nick".into())
        .await
        .unwrap();
    let after = s
        .user_settings
        .update_user_settings("o#a", "u", &|r| r.language = "en".into())
        .await
        .unwrap();
    assert_eq!(
        after.nickname, "Nick",
        "an earlier change survives a later one"
    );
    assert_eq!(after.language, "en");
    assert_eq!(
        s.user_settings.get_user_settings("o#a", "u").await.unwrap(),
        Some(after)
    );
    assert!(s.user_settings.has_user("o#a", "u").await.unwrap());
}

async fn users_and_apps_with_shared_prefixes_stay_apart(s: Store) {
    s.user_settings
        .update_user_settings("o#a", "ab", &|r| r.nickname = "AB".into())
        .await
        .unwrap();
    s.user_settings
        .update_conversation_setting("o#a", "ab", &group("g"), 0, &|r| r.notification_type = 4)
        .await
        .unwrap();
    s.user_settings
        .update_user_settings("o#ab", "u", &|r| r.nickname = "other app".into())
        .await
        .unwrap();
    assert!(!s.user_settings.has_user("o#a", "a").await.unwrap());
    assert!(
        s.user_settings
            .get_user_settings("o#a", "a")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        s.user_settings.delete_user("o#a", "a").await.unwrap(),
        (0, 0)
    );
    assert!(
        s.user_settings
            .get_user_settings("o#ab", "b")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        s.user_settings.delete_user("o#a", "ab").await.unwrap(),
        (1, 1)
    );
    assert_eq!(
        s.user_settings
            .get_user_settings("o#ab", "u")
            .await
            .unwrap()
            .unwrap()
            .nickname,
        "other app"
    );
}

async fn nicknames_are_set_together(s: Store) {
    s.user_settings
        .update_user_settings("o#a", "u1", &|r| r.language = "de".into())
        .await
        .unwrap();
    s.user_settings
        .set_nicknames(
            "o#a",
            &[("u1".into(), "One".into()), ("u2".into(), "Two".into())],
            7,
        )
        .await
        .unwrap();
    let u1 = s
        .user_settings
        .get_user_settings("o#a", "u1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((u1.nickname.as_str(), u1.language.as_str()), ("One", "de"));
    assert_eq!(u1.update_time_ms, 7);
    let u2 = s
        .user_settings
        .get_user_settings("o#a", "u2")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(u2.nickname, "Two");
}

async fn conversation_settings_are_per_kind_and_removed_at_defaults(s: Store) {
    let set = s
        .user_settings
        .update_conversation_setting("o#a", "u", &peer("x"), 1_000, &|r| r.notification_type = 3)
        .await
        .unwrap();
    assert_eq!(set.notification_type, 3);
    assert!(
        s.user_settings
            .get_conversation_setting("o#a", "u", &group("x"))
            .await
            .unwrap()
            .is_none(),
        "a group is not the one-to-one chat of the same id"
    );
    assert_eq!(
        s.user_settings
            .get_conversation_setting("o#a", "u", &peer("x"))
            .await
            .unwrap(),
        Some(set)
    );
    // Back to "follow the app level" with a period that has already ended: nothing is kept.
    s.user_settings
        .update_conversation_setting("o#a", "u", &peer("x"), 1_000, &|r| {
            r.notification_type = 0;
            r.ignore_until_ms = 500;
        })
        .await
        .unwrap();
    assert!(
        s.user_settings
            .get_conversation_setting("o#a", "u", &peer("x"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(!s.user_settings.has_user("o#a", "u").await.unwrap());
    // A running period alone is kept.
    s.user_settings
        .update_conversation_setting("o#a", "u", &peer("x"), 1_000, &|r| {
            r.ignore_until_ms = 5_000
        })
        .await
        .unwrap();
    assert!(s.user_settings.has_user("o#a", "u").await.unwrap());
    assert_eq!(
        s.user_settings.delete_user("o#a", "u").await.unwrap(),
        (0, 1)
    );
}

async fn push_profile_reads_everything_at_once(s: Store) {
    let empty = s
        .user_settings
        .push_profile("o#a", "u", Some(&group("g")))
        .await
        .unwrap();
    assert_eq!(empty, PushProfile::default());

    let template = TemplateRecord {
        name: "t1".into(),
        title_pattern: "{$fromNickname}".into(),
        ..Default::default()
    };
    s.templates
        .create_template("o#a", template.clone(), 10)
        .await
        .unwrap();
    s.user_settings
        .update_user_settings("o#a", "u", &|r| {
            r.nickname = "N".into();
            r.display_style = 2;
            r.template = "t1".into();
            r.notification = Some(NotificationRecord {
                notification_type: 3,
                ignore_interval: Some(DailyInterval {
                    start_minute: 60,
                    end_minute: 120,
                }),
                ..Default::default()
            });
        })
        .await
        .unwrap();
    s.user_settings
        .update_conversation_setting("o#a", "u", &group("g"), 0, &|r| r.notification_type = 4)
        .await
        .unwrap();

    let p = s
        .user_settings
        .push_profile("o#a", "u", Some(&group("g")))
        .await
        .unwrap();
    assert_eq!(p.user.nickname, "N");
    assert_eq!(p.user.display_style, 2);
    assert_eq!(p.user.notification.as_ref().unwrap().notification_type, 3);
    let (key, setting) = p.conversation.unwrap();
    assert_eq!((key, setting.notification_type), (group("g"), 4));
    assert_eq!(p.template, Some(template));

    let other = s
        .user_settings
        .push_profile("o#a", "u", Some(&group("h")))
        .await
        .unwrap();
    assert!(other.conversation.is_none());
    // A deleted template reads as no template; the choice itself stays.
    s.templates.delete_template("o#a", "t1").await.unwrap();
    let p = s
        .user_settings
        .push_profile("o#a", "u", None)
        .await
        .unwrap();
    assert!(p.template.is_none() && p.conversation.is_none());
    assert_eq!(p.user.template, "t1");
}

async fn deleting_an_app_removes_its_settings(s: Store) {
    s.user_settings
        .update_user_settings("o#a", "u", &|r| r.nickname = "N".into())
        .await
        .unwrap();
    s.user_settings
        .update_conversation_setting("o#a", "u", &group("g"), 0, &|r| r.notification_type = 4)
        .await
        .unwrap();
    s.templates
        .create_template("o#a", TemplateRecord::default(), 10)
        .await
        .unwrap();
    s.user_settings
        .update_user_settings("o#ab", "u", &|r| r.nickname = "N".into())
        .await
        .unwrap();
    assert_eq!(s.apps.delete_app("o#a").await.unwrap(), 3);
    assert!(!s.user_settings.has_user("o#a", "u").await.unwrap());
    assert!(s.user_settings.has_user("o#ab", "u").await.unwrap());
}

/// Deleting a user removes the user record and every conversation setting of the user, and nothing of another
/// user; the send path then reads the defaults.
async fn deleting_a_user_removes_every_conversation(s: Store) {
    let settings = &s.user_settings;
    settings
        .update_user_settings("o#a", "u", &|r| r.nickname = "N".into())
        .await
        .unwrap();
    for c in [group("g1"), group("g2"), peer("g1")] {
        settings
            .update_conversation_setting("o#a", "u", &c, 0, &|r| r.notification_type = 2)
            .await
            .unwrap();
    }
    settings
        .update_conversation_setting("o#a", "u2", &group("g1"), 0, &|r| r.notification_type = 2)
        .await
        .unwrap();
    assert_eq!(settings.delete_user("o#a", "u").await.unwrap(), (1, 3));
    assert_eq!(settings.delete_user("o#a", "u").await.unwrap(), (0, 0));
    assert!(!settings.has_user("o#a", "u").await.unwrap());
    assert!(
        settings
            .get_user_settings("o#a", "u")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        settings
            .get_conversation_setting("o#a", "u", &group("g1"))
            .await
            .unwrap()
            .is_none()
    );
    let profile = settings
        .push_profile("o#a", "u", Some(&group("g2")))
        .await
        .unwrap();
    assert_eq!(profile, PushProfile::default());
    assert!(settings.has_user("o#a", "u2").await.unwrap());
    assert!(
        settings
            .get_conversation_setting("o#a", "u2", &group("g1"))
            .await
            .unwrap()
            .is_some()
    );
}

/// A user record stays when a change brings it back to the defaults (it records that the user was set up),
/// and `update_user_settings` returns what it stored.
async fn a_user_record_at_the_defaults_is_kept(s: Store) {
    let settings = &s.user_settings;
    let set = settings
        .update_user_settings("o#a", "u", &|r| {
            r.language = "fr".into();
            r.update_time_ms = 3;
        })
        .await
        .unwrap();
    assert_eq!((set.language.as_str(), set.update_time_ms), ("fr", 3));
    let reset = settings
        .update_user_settings("o#a", "u", &|r| *r = UserSettingsRecord::default())
        .await
        .unwrap();
    assert_eq!(reset, UserSettingsRecord::default());
    assert_eq!(
        settings.get_user_settings("o#a", "u").await.unwrap(),
        Some(UserSettingsRecord::default())
    );
    assert!(settings.has_user("o#a", "u").await.unwrap());
}

/// Concurrent changes to one user's settings and to one conversation's each apply to the result of the
/// others: none is lost.
async fn concurrent_changes_are_not_lost(s: Store) {
    let writers = (0..4).map(|w| {
        let s = s.clone();
        tokio::spawn(async move {
            for _ in 0..25 {
                s.user_settings
                    .update_user_settings("o#a", "u", &|r| {
                        r.nickname.push(char::from(b'a' + w));
                    })
                    .await
                    .unwrap();
                s.user_settings
                    .update_conversation_setting("o#a", "u", &group("g"), 0, &|r| {
                        r.ignore_until_ms += 1;
                    })
                    .await
                    .unwrap();
            }
        })
    });
    for writer in writers.collect::<Vec<_>>() {
        writer.await.unwrap();
    }
    let user = s
        .user_settings
        .get_user_settings("o#a", "u")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.nickname.len(), 100);
    let conversation = s
        .user_settings
        .get_conversation_setting("o#a", "u", &group("g"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(conversation.ignore_until_ms, 100);
}

/// The send path's profile follows the user's choice of template: a new choice reads the new template, a
/// cleared one none, and setting nicknames leaves the choice as it is.
async fn push_profile_follows_the_chosen_template(s: Store) {
    for name in ["t1", "t2"] {
        let template = TemplateRecord {
            name: name.into(),
            title_pattern: name.into(),
            ..Default::default()
        };
        s.templates
            .create_template("o#a", template, 10)
            .await
            .unwrap();
    }
    let chosen = |s: Store| async move {
        s.user_settings
            .push_profile("o#a", "u", None)
            .await
            .unwrap()
            .template
            .map(|t| t.name)
    };
    s.user_settings
        .update_user_settings("o#a", "u", &|r| r.template = "t1".into())
        .await
        .unwrap();
    assert_eq!(chosen(s.clone()).await.as_deref(), Some("t1"));
    s.user_settings
        .update_user_settings("o#a", "u", &|r| r.template = "t2".into())
        .await
        .unwrap();
    s.user_settings
        .set_nicknames("o#a", &[("u".into(), "N".into())], 5)
        .await
        .unwrap();
    assert_eq!(chosen(s.clone()).await.as_deref(), Some("t2"));
    s.user_settings
        .update_user_settings("o#a", "u", &|r| r.template.clear())
        .await
        .unwrap();
    assert_eq!(chosen(s.clone()).await, None);
    // Another user's or app's choice is not this user's.
    s.user_settings
        .update_user_settings("o#ab", "u", &|r| r.template = "t1".into())
        .await
        .unwrap();
    assert_eq!(chosen(s.clone()).await, None);
}

/// Setting nicknames while other changes to the same users run, some of them creating the users' records,
/// loses neither: every user ends with one nickname from the calls and every other change applied.
async fn nicknames_and_changes_racing_are_not_lost(s: Store) {
    let users: Vec<String> = (0..4).map(|u| format!("u{u}")).collect();
    let writers = (0..4u8).map(|w| {
        let s = s.clone();
        let users = users.clone();
        tokio::spawn(async move {
            for round in 0..10 {
                if w % 2 == 0 {
                    let nicknames: Vec<(String, String)> = users
                        .iter()
                        .map(|u| (u.clone(), format!("{w}-{round}")))
                        .collect();
                    s.user_settings
                        .set_nicknames("o#a", &nicknames, round)
                        .await
                        .unwrap();
                } else {
                    for u in &users {
                        s.user_settings
                            .update_user_settings("o#a", u, &|r| r.language.push('x'))
                            .await
                            .unwrap();
                    }
                }
            }
        })
    });
    for writer in writers.collect::<Vec<_>>() {
        writer.await.unwrap();
    }
    for u in &users {
        let record = s
            .user_settings
            .get_user_settings("o#a", u)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(record.language.len(), 20, "{u}");
        assert!(!record.nickname.is_empty(), "{u}");
    }
}

conformance_tests! {
    user_settings_change_field_by_field,
    users_and_apps_with_shared_prefixes_stay_apart,
    nicknames_are_set_together,
    conversation_settings_are_per_kind_and_removed_at_defaults,
    push_profile_reads_everything_at_once,
    deleting_an_app_removes_its_settings,
    deleting_a_user_removes_every_conversation,
    a_user_record_at_the_defaults_is_kept,
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    concurrent_changes_are_not_lost,
    push_profile_follows_the_chosen_template,
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    nicknames_and_changes_racing_are_not_lost,
}
