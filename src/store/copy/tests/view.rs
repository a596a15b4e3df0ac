//! Everything the repositories answer about what `populate.rs` wrote, as lines of text: the same lines from
//! the source and from the copy mean the copy answers as the source did.

use super::{APPS, user};
use crate::store::{
    AckSubject, ChatKind, ConversationKey, QueueClaim, Store, meta::ADMIN_TOKEN_HASH,
};

/// Everything the repositories answer about what `populate` wrote, as text; cursors and queue keys, which are each
/// backend's own, left out.
pub(super) async fn view(s: &Store, users: usize) -> Vec<String> {
    let mut out = vec![
        format!("{:?}", s.apps.list_apps(None, 100).await.unwrap()),
        format!("{:?}", s.meta.get_meta(ADMIN_TOKEN_HASH).await.unwrap()),
        format!("{:?}", s.callback_rules.all_rules().await.unwrap()),
        format!("{:?}", s.tasks.open_tasks().await.unwrap()),
    ];
    for app in APPS {
        out.push(format!(
            "{:?}",
            s.notifiers.list_notifiers(app, None, 100, 0).await.unwrap()
        ));
        out.push(format!(
            "{:?}",
            s.templates.get_template(app, "t1").await.unwrap()
        ));
        out.push(format!(
            "{:?}",
            s.messages.get_message(app, "m1").await.unwrap()
        ));
        out.push(format!(
            "{:?}",
            s.labels.list_labels(app, None, 100).await.unwrap()
        ));
        for label in ["l1", "l2"] {
            out.push(format!(
                "{:?}",
                s.labels
                    .list_label_users(app, label, None, 100_000)
                    .await
                    .unwrap()
            ));
        }
        out.push(format!(
            "{:?}",
            s.labels
                .users_of_labels(app, &["l1".into(), "l2".into()], None, 100_000)
                .await
                .unwrap()
        ));
        let (bindings, more) = s.bindings.app_bindings(app, None, 100_000).await.unwrap();
        out.push(format!("{bindings:?} {}", more.is_some()));
        let (bindings, _) = s
            .bindings
            .notifier_bindings(app, "fcm", None, 100_000)
            .await
            .unwrap();
        out.push(format!("{bindings:?}"));
        out.push(format!(
            "{:?}",
            s.bindings.app_users(app, None, 100_000).await.unwrap()
        ));
        for n in 0..users {
            let who = user(n);
            out.push(format!(
                "{:?} {:?}",
                s.user_settings.get_user_settings(app, &who).await.unwrap(),
                s.labels.labels_of_user(app, &who).await.unwrap(),
            ));
        }
        let peer = ConversationKey {
            kind: ChatKind::Group,
            key: "peer".into(),
        };
        out.push(format!(
            "{:?}",
            s.user_settings
                .push_profile(app, &user(0), Some(&peer))
                .await
                .unwrap()
        ));
        out.push(format!(
            "{:?}",
            s.tasks.list_tasks(app, None, 100).await.unwrap()
        ));
        out.push(format!(
            "{:?}",
            s.tasks
                .list_task_users(app, "t-finished", None, 100)
                .await
                .unwrap()
        ));
    }
    for app in APPS {
        let e = &s.events;
        out.push(format!(
            "{:?} {:?} {:?} {:?}",
            e.events_after(app, 0, 100).await.unwrap(),
            e.first_event_position(app).await.unwrap(),
            e.last_event_position(app).await.unwrap(),
            e.swept_through(app).await.unwrap(),
        ));
        let o = &s.outbox;
        out.push(format!(
            "{:?} {} {} {} {:?} {:?} {:?} {:?}",
            o.cursor(app, "hook").await.unwrap(),
            o.waiting_count(app, "hook").await.unwrap(),
            o.is_held(app, "hook", "d000").await.unwrap(),
            o.is_held(app, "hook", "@u001").await.unwrap(),
            o.due(app, "hook", i64::MAX, 100).await.unwrap(),
            o.next_due_ms(app, "hook").await.unwrap(),
            o.failed(app, None, None, 100).await.unwrap(),
            o.pause(app, "hook").await.unwrap(),
        ));
        let i = &s.inbox;
        out.push(format!(
            "{:?} {:?} {:?} {:?}",
            i.inbox_page(app, "d000", 0, 100).await.unwrap(),
            i.ack_counts(app, AckSubject::Message("p0")).await.unwrap(),
            i.ack_counts(app, AckSubject::Task("t-finished"))
                .await
                .unwrap(),
            i.channel_devices(app, &user(0)).await.unwrap(),
        ));
    }
    out.push(format!("{}", s.push_queue.queue_len().await.unwrap()));
    // Every queued push, in order, as a server that starts finds them: it forgets the claims of the run
    // before it (which a copy leaves behind), then claims.
    s.push_queue.forget_claims().await.unwrap();
    let claim = QueueClaim {
        holder: "new-server".into(),
        until_ms: 2,
    };
    let claimed = s.push_queue.claim_queued(None, 100, &claim, 1).await;
    out.push(format!(
        "{:?}",
        claimed
            .unwrap()
            .into_iter()
            .map(|(_, push)| push)
            .collect::<Vec<_>>()
    ));
    out
}
