//! The key layout of the sled store, in one place.
//!
//! Every tenant record's key starts with its app's name followed by [`SEP`], so a prefix scan over one app can
//! never reach another app's records, and deleting an app is a prefix delete in every tree. The app records
//! themselves are keyed by the bare app name. The only keys not scoped to an app are server-wide ones in the
//! `meta` tree (the admin token's hash), which no tenant can address.

use crate::store::ChatKind;

/// Separates the app from the rest of a key. App names cannot contain it.
pub const SEP: u8 = 0;

/// Tree of app records, keyed by app name.
pub const APPS: &str = "apps";
/// Tree of callback rules, keyed by app + rule name.
pub const CALLBACK_RULES: &str = "callback_rules";
/// Tree of server-wide values.
pub const META: &str = "meta";
/// Tree of device bindings, keyed by app + user + [`SEP`] + device + [`SEP`] + notifier.
pub const BINDINGS: &str = "bindings";
/// Index: which user a device belongs to, keyed by app + device.
pub const DEVICE_OWNERS: &str = "device_owners";
/// Index of bindings by notifier, keyed by app + notifier + [`SEP`] + user + [`SEP`] + device; empty values.
pub const NOTIFIER_BINDINGS: &str = "notifier_bindings";
/// Index of bindings by token, keyed by app + notifier + [`SEP`] + token; the value is user + [`SEP`] + device.
pub const TOKEN_BINDINGS: &str = "token_bindings";
/// Tree of notifiers, keyed by app + notifier name.
pub const NOTIFIERS: &str = "notifiers";
/// Tree of push labels, keyed by app + label name.
pub const LABELS: &str = "labels";
/// Tree of label memberships, keyed by app + label + [`SEP`] + user (a label's users are one prefix scan).
pub const LABEL_USERS: &str = "label_users";
/// Index of label memberships by user, keyed by app + user + [`SEP`] + label (a user's labels are one prefix
/// scan). Written in the same transaction as [`LABEL_USERS`].
pub const USER_LABELS: &str = "user_labels";
/// Tree of users' own push settings, keyed by app + user + [`SEP`].
pub const USER_SETTINGS: &str = "user_settings";
/// Tree of users' conversation-level notification settings, keyed by app + user + [`SEP`] + kind + id.
pub const CONVERSATION_SETTINGS: &str = "conversation_settings";
/// Tree of push templates, keyed by app + template name.
pub const TEMPLATES: &str = "templates";
/// Tree of stored push messages, keyed by app + message id.
pub const MESSAGES: &str = "messages";
/// Tree of idempotent answers, keyed by app + RPC + [`SEP`] + request id.
pub const IDEMPOTENT_ANSWERS: &str = "idempotent_answers";
/// Tree of delivery events, keyed by app + big-endian position.
pub const EVENTS: &str = "events";
/// Tree of the highest event position the retention removed, keyed by the app prefix alone.
pub const EVENT_HORIZONS: &str = "event_horizons";
/// Tree of each callback rule's place in the event log (a big-endian position), keyed by app + rule.
pub const OUTBOX_CURSORS: &str = "outbox_cursors";
/// Tree of callbacks waiting to be retried, keyed by app + rule + [`SEP`] + receiver + [`SEP`] + big-endian
/// position (a receiver's callbacks in order, the first one next).
pub const OUTBOX_PENDING: &str = "outbox_pending";
/// Tree of receivers with waiting callbacks, keyed by app + rule + [`SEP`] + receiver; the value is when the
/// first one is due (big-endian ms), which is its key in [`OUTBOX_DUE`].
pub const OUTBOX_HELD: &str = "outbox_held";
/// Index of receivers by when their first waiting callback is due, keyed by app + rule + [`SEP`] + big-endian
/// ms + receiver; empty values.
pub const OUTBOX_DUE: &str = "outbox_due";
/// Tree of callbacks given up on, keyed by app + big-endian position + rule (oldest event first).
pub const FAILED_CALLBACKS: &str = "failed_callbacks";
/// Tree of callback rules' pause state, keyed by app + rule.
pub const OUTBOX_PAUSES: &str = "outbox_pauses";
/// Tree of tasks, keyed by app + task id (ids sort newest first).
pub const TASKS: &str = "tasks";
/// Tree of the users of list tasks, keyed by app + task id + [`SEP`] + user; empty values.
pub const TASK_USERS: &str = "task_users";
/// Tree of accepted asynchronous pushes, keyed by app + a big-endian sequence number (acceptance order).
pub const PUSH_QUEUE: &str = "push_queue";
/// Tree of the claims on queued pushes, keyed as [`PUSH_QUEUE`]: who runs the push now, and until when.
pub const PUSH_QUEUE_CLAIMS: &str = "push_queue_claims";

/// Tree of own-channel inbox entries, keyed by app + device + [`SEP`] + position (8 bytes, big-endian, so
/// key order is position order and a device's oldest entry comes first).
pub const INBOX: &str = "inbox";
/// Tree of own-channel receipts, one per push to a device for a user, keyed by app + user + [`SEP`] +
/// device + [`SEP`] + message id. They outlive the inbox entry (a click may follow the delivered ack) until
/// the push expires, and a user's are one prefix scan.
pub const INBOX_RECEIPTS: &str = "inbox_receipts";
/// Expiry index of inbox entries and receipts, keyed by app + [`SEP`] + purge time (8 bytes, big-endian) +
/// position (8 bytes, big-endian): what is due is one range per app.
pub const INBOX_EXPIRY: &str = "inbox_expiry";
/// Tree of the number of entries in each device's inbox, keyed by app + device.
pub const INBOX_COUNTS: &str = "inbox_counts";
/// Tree of the devices that subscribed to the own channel as a user, keyed by app + user + [`SEP`] + device.
pub const CHANNEL_DEVICES: &str = "channel_devices";
/// Tree of fenced leases, keyed by lease name (store/leases.rs).
pub const LEASES: &str = "leases";
/// Tree of the deployment's replicas, keyed by replica id (store/replicas.rs).
pub const REPLICAS: &str = "replicas";
/// Tree of own-channel routes, keyed by app and device (store/routes.rs); a sled store's one process never
/// writes it, but the conformance suite does.
pub const CHANNEL_ROUTES: &str = "channel_routes";
/// Tree of shared rate limits' states, keyed by limit key (store/rates.rs).
pub const RATE_LIMITS: &str = "rate_limits";
/// Tree of own-channel ack counters, keyed by app + a kind byte (`m` message, `t` task) + the id.
pub const ACK_COUNTS: &str = "ack_counts";

/// Key of an app record.
pub fn app(name: &str) -> Vec<u8> {
    name.as_bytes().to_vec()
}

/// Prefix shared by every record of one app outside the `apps` tree.
pub fn app_prefix(app: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(app.len() + 1);
    key.extend_from_slice(app.as_bytes());
    key.push(SEP);
    key
}

/// Key of one callback rule of an app.
pub fn callback_rule(app: &str, rule: &str) -> Vec<u8> {
    scoped(app, rule.as_bytes())
}

/// Key of a chunk of delivery events, by its first event's position, big-endian so that keys sort in
/// position order.
pub fn event(app: &str, position: u64) -> Vec<u8> {
    scoped(app, &position.to_be_bytes())
}

/// Key of a callback rule's outbox records ([`OUTBOX_CURSORS`], [`OUTBOX_PAUSES`]).
pub fn outbox_rule(app: &str, rule: &str) -> Vec<u8> {
    scoped(app, rule.as_bytes())
}

/// Prefix of every key of one rule in [`OUTBOX_PENDING`], [`OUTBOX_HELD`] and [`OUTBOX_DUE`].
pub fn outbox_rule_prefix(app: &str, rule: &str) -> Vec<u8> {
    let mut key = scoped(app, rule.as_bytes());
    key.push(SEP);
    key
}

/// Prefix of one receiver's waiting callbacks in [`OUTBOX_PENDING`].
pub fn outbox_receiver(app: &str, rule: &str, receiver: &str) -> Vec<u8> {
    let mut key = outbox_rule_prefix(app, rule);
    key.extend_from_slice(receiver.as_bytes());
    key.push(SEP);
    key
}

/// Key of one waiting callback in [`OUTBOX_PENDING`].
pub fn outbox_pending(app: &str, rule: &str, receiver: &str, position: u64) -> Vec<u8> {
    let mut key = outbox_receiver(app, rule, receiver);
    key.extend_from_slice(&position.to_be_bytes());
    key
}

/// Key of a receiver in [`OUTBOX_HELD`].
pub fn outbox_held(app: &str, rule: &str, receiver: &str) -> Vec<u8> {
    let mut key = outbox_rule_prefix(app, rule);
    key.extend_from_slice(receiver.as_bytes());
    key
}

/// Key of a receiver's due time in [`OUTBOX_DUE`]; times before the epoch count as the epoch.
pub fn outbox_due(app: &str, rule: &str, due_ms: i64, receiver: &str) -> Vec<u8> {
    let mut key = outbox_rule_prefix(app, rule);
    key.extend_from_slice(&u64::try_from(due_ms.max(0)).unwrap_or(0).to_be_bytes());
    key.extend_from_slice(receiver.as_bytes());
    key
}

/// The due time and receiver of an [`OUTBOX_DUE`] key under `prefix` ([`outbox_rule_prefix`]).
pub fn parse_outbox_due<'k>(prefix: &[u8], key: &'k [u8]) -> Option<(i64, &'k str)> {
    let rest = key.strip_prefix(prefix)?;
    let (ms, receiver) = rest.split_at_checked(8)?;
    let ms = i64::try_from(u64::from_be_bytes(ms.try_into().ok()?)).ok()?;
    Some((ms, std::str::from_utf8(receiver).ok()?))
}

/// Key of a failed callback: the event's position first, so the oldest come first.
pub fn failed_callback(app: &str, position: u64, rule: &str) -> Vec<u8> {
    let mut key = scoped(app, &position.to_be_bytes());
    key.extend_from_slice(rule.as_bytes());
    key
}

/// The position and rule of a [`FAILED_CALLBACKS`] key of `app`.
pub fn parse_failed_callback<'k>(app: &str, key: &'k [u8]) -> Option<(u64, &'k str)> {
    let rest = key.strip_prefix(app_prefix(app).as_slice())?;
    let (position, rule) = rest.split_at_checked(8)?;
    Some((
        u64::from_be_bytes(position.try_into().ok()?),
        std::str::from_utf8(rule).ok()?,
    ))
}

/// Key of a task.
pub fn task(app: &str, id: &str) -> Vec<u8> {
    scoped(app, id.as_bytes())
}

/// Prefix of the users of one list task.
pub fn task_users_prefix(app: &str, id: &str) -> Vec<u8> {
    let mut key = joined(app, &[id]);
    key.push(SEP);
    key
}

/// Key of one user of a list task.
pub fn task_user(app: &str, id: &str, user: &str) -> Vec<u8> {
    joined(app, &[id, user])
}

/// The first key after every binding of `user`: where the next user's bindings begin (user ids never hold
/// a byte below [`SEP`] + 1).
pub fn after_user_bindings(app: &str, user: &str) -> Vec<u8> {
    let mut key = joined(app, &[user]);
    key.push(SEP + 1);
    key
}

/// Key of a stored message.
pub fn message(app: &str, id: &str) -> Vec<u8> {
    scoped(app, id.as_bytes())
}

/// Key of the answer kept for `request_id` of `rpc`; request ids are free text, so they come last.
pub fn idempotent_answer(app: &str, rpc: &str, request_id: &str) -> Vec<u8> {
    let mut key = joined(app, &[rpc]);
    key.push(SEP);
    key.extend_from_slice(request_id.as_bytes());
    key
}

/// Key of a queued push: the sequence number big-endian so that keys sort in acceptance order.
pub fn queued_push(app: &str, seq: u64) -> Vec<u8> {
    scoped(app, &seq.to_be_bytes())
}

/// Joins the parts of a key with [`SEP`]; user ids, device ids, notifier names and tokens cannot contain it.
fn joined(app: &str, parts: &[&str]) -> Vec<u8> {
    let mut key = app_prefix(app);
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            key.push(SEP);
        }
        key.extend_from_slice(part.as_bytes());
    }
    key
}

/// Key of one binding.
pub fn binding(app: &str, user: &str, device: &str, notifier: &str) -> Vec<u8> {
    joined(app, &[user, device, notifier])
}

/// Prefix of every binding of a user.
pub fn user_bindings_prefix(app: &str, user: &str) -> Vec<u8> {
    let mut key = joined(app, &[user]);
    key.push(SEP);
    key
}

/// Prefix of every binding of one device of a user.
pub fn device_bindings_prefix(app: &str, user: &str, device: &str) -> Vec<u8> {
    let mut key = joined(app, &[user, device]);
    key.push(SEP);
    key
}

/// Key of a device's owner.
pub fn device_owner(app: &str, device: &str) -> Vec<u8> {
    joined(app, &[device])
}

/// Key of a binding in the by-notifier index.
pub fn notifier_binding(app: &str, notifier: &str, user: &str, device: &str) -> Vec<u8> {
    joined(app, &[notifier, user, device])
}

/// Prefix of the by-notifier index for one notifier.
pub fn notifier_bindings_prefix(app: &str, notifier: &str) -> Vec<u8> {
    let mut key = joined(app, &[notifier]);
    key.push(SEP);
    key
}

/// Key of a token in the by-token index.
pub fn token_binding(app: &str, notifier: &str, token: &str) -> Vec<u8> {
    joined(app, &[notifier, token])
}

/// Key of one notifier of an app.
pub fn notifier(app: &str, name: &str) -> Vec<u8> {
    scoped(app, name.as_bytes())
}

/// Key of one push label of an app.
pub fn label(app: &str, label: &str) -> Vec<u8> {
    scoped(app, label.as_bytes())
}

/// Prefix of every membership of one label. The separator after the label keeps label `a` from reading the
/// users of label `ab`; label names and user ids cannot contain it.
pub fn label_users_prefix(app: &str, label: &str) -> Vec<u8> {
    let mut key = scoped(app, label.as_bytes());
    key.push(SEP);
    key
}

/// Key of one user's membership of one label.
pub fn label_user(app: &str, label: &str, user: &str) -> Vec<u8> {
    let mut key = label_users_prefix(app, label);
    key.extend_from_slice(user.as_bytes());
    key
}

/// Prefix of every label membership of one user (the by-user index). The separator keeps user `u` from
/// reading the labels of user `u2`.
pub fn user_labels_prefix(app: &str, user: &str) -> Vec<u8> {
    user_prefix(app, user)
}

/// Prefix of every record of one user of an app. The separator after the user id (which cannot contain it)
/// keeps user `a` from ever seeing user `ab`'s records in a prefix scan.
pub fn user_prefix(app: &str, user: &str) -> Vec<u8> {
    let mut key = scoped(app, user.as_bytes());
    key.push(SEP);
    key
}

/// Key of one label in one user's by-user index.
pub fn user_label(app: &str, user: &str, label: &str) -> Vec<u8> {
    let mut key = user_labels_prefix(app, user);
    key.extend_from_slice(label.as_bytes());
    key
}

/// Key of one user's own settings.
pub fn user_settings(app: &str, user: &str) -> Vec<u8> {
    user_prefix(app, user)
}

/// Key of one user's setting for one conversation: the user prefix, a byte for the kind (`u` one-to-one,
/// `g` group), then the conversation's id.
pub fn conversation_setting(app: &str, user: &str, kind: ChatKind, id: &str) -> Vec<u8> {
    let mut key = user_prefix(app, user);
    key.push(match kind {
        ChatKind::User => b'u',
        ChatKind::Group => b'g',
    });
    key.extend_from_slice(id.as_bytes());
    key
}

/// Key of one push template of an app.
pub fn template(app: &str, name: &str) -> Vec<u8> {
    scoped(app, name.as_bytes())
}

/// Prefix of every inbox entry of one device. The separator keeps device `d` from seeing device `d2`'s.
pub fn inbox_prefix(app: &str, device: &str) -> Vec<u8> {
    let mut key = joined(app, &[device]);
    key.push(SEP);
    key
}

/// Key of one inbox entry.
pub fn inbox_entry(app: &str, device: &str, position: u64) -> Vec<u8> {
    let mut key = inbox_prefix(app, device);
    key.extend_from_slice(&position.to_be_bytes());
    key
}

/// Key of one device's own-channel route.
pub fn channel_route(app: &str, device: &str) -> Vec<u8> {
    joined(app, &[device])
}

/// The position an inbox entry's key ends with (0 for a key too short to be one).
pub fn inbox_position(key: &[u8]) -> u64 {
    key.len()
        .checked_sub(8)
        .and_then(|start| key[start..].try_into().ok())
        .map_or(0, u64::from_be_bytes)
}

/// Key of the receipt of one push to one device for one user; the message id goes last, so it may hold
/// any byte.
pub fn inbox_receipt(app: &str, user: &str, device: &str, message_id: &str) -> Vec<u8> {
    let mut key = joined(app, &[user, device]);
    key.push(SEP);
    key.extend_from_slice(message_id.as_bytes());
    key
}

/// Prefix of every receipt of one user (all devices).
pub fn user_receipts_prefix(app: &str, user: &str) -> Vec<u8> {
    user_prefix(app, user)
}

/// Key of an inbox entry in the expiry index. Negative times sort as 0 (already due).
pub fn inbox_expiry(app: &str, purge_at_ms: i64, position: u64) -> Vec<u8> {
    let mut key = app_prefix(app);
    key.extend_from_slice(&(purge_at_ms.max(0) as u64).to_be_bytes());
    key.extend_from_slice(&position.to_be_bytes());
    key
}

/// End (exclusive) of an app's expiry-index entries due at `now_ms`, i.e. purged at or before it.
pub fn inbox_expiry_due_end(app: &str, now_ms: i64) -> Vec<u8> {
    let mut key = app_prefix(app);
    key.extend_from_slice(&(now_ms.max(0) as u64).saturating_add(1).to_be_bytes());
    key
}

/// The app a key of an app-scoped tree belongs to: what precedes the first [`SEP`].
pub fn app_of_key(key: &[u8]) -> Option<&str> {
    let end = key.iter().position(|b| *b == SEP)?;
    std::str::from_utf8(&key[..end]).ok()
}

/// The smallest key past every key of `app` in an app-scoped tree, to skip to the next app.
pub fn after_app(app: &str) -> Vec<u8> {
    let mut key = app.as_bytes().to_vec();
    key.push(SEP + 1);
    key
}

/// Key of a device's inbox entry count.
pub fn inbox_count(app: &str, device: &str) -> Vec<u8> {
    joined(app, &[device])
}

/// Key of a device that subscribed as a user.
pub fn channel_device(app: &str, user: &str, device: &str) -> Vec<u8> {
    joined(app, &[user, device])
}

/// Prefix of every own-channel device of a user.
pub fn channel_devices_prefix(app: &str, user: &str) -> Vec<u8> {
    user_prefix(app, user)
}

/// Key of the ack counters of one message id.
pub fn message_ack_count(app: &str, message_id: &str) -> Vec<u8> {
    let mut key = app_prefix(app);
    key.push(b'm');
    key.extend_from_slice(message_id.as_bytes());
    key
}

/// Key of the ack counters of one task id.
pub fn task_ack_count(app: &str, task_id: &str) -> Vec<u8> {
    let mut key = app_prefix(app);
    key.push(b't');
    key.extend_from_slice(task_id.as_bytes());
    key
}

fn scoped(app: &str, rest: &[u8]) -> Vec<u8> {
    let mut key = app_prefix(app);
    key.extend_from_slice(rest);
    key
}

#[cfg(test)]
mod tests {
    // sled-only: the key layout is this backend's own; the isolation it buys (apps, labels, users whose names
    // extend one another stay apart) is checked for every backend in `store::conformance`.
    use super::*;

    #[test]
    fn app_prefixes_never_overlap() {
        // "a#b" must not see "a#bc"'s records: the separator ends the app part of the key.
        let k = callback_rule("a#bc", "x");
        assert!(!k.starts_with(&app_prefix("a#b")));
        assert!(k.starts_with(&app_prefix("a#bc")));
    }

    #[test]
    fn labels_keys_never_see_a_longer_name() {
        // Label "a" must not see label "ab"'s users, nor user "u" the labels of user "u2".
        let k = label_user("o#a", "ab", "u");
        assert!(!k.starts_with(&label_users_prefix("o#a", "a")));
        assert!(k.starts_with(&label_users_prefix("o#a", "ab")));
        let k = user_label("o#a", "u2", "l");
        assert!(!k.starts_with(&user_labels_prefix("o#a", "u")));
        assert!(k.starts_with(&user_labels_prefix("o#a", "u2")));
        // And every label key stays inside its app.
        assert!(label("o#a", "x").starts_with(&app_prefix("o#a")));
        assert!(!label_user("o#ab", "x", "u").starts_with(&app_prefix("o#a")));
    }

    #[test]
    fn inbox_keys_sort_by_position_and_stay_in_their_device() {
        assert!(inbox_entry("o#a", "d", 2) < inbox_entry("o#a", "d", 256));
        assert!(inbox_entry("o#a", "d", 1).starts_with(&inbox_prefix("o#a", "d")));
        assert!(!inbox_entry("o#a", "d2", 1).starts_with(&inbox_prefix("o#a", "d")));
        assert!(
            !inbox_receipt("o#a", "u2", "d", "m").starts_with(&user_receipts_prefix("o#a", "u"))
        );
        assert!(inbox_receipt("o#a", "u", "d", "m").starts_with(&user_receipts_prefix("o#a", "u")));
        // The expiry index sorts by time within an app, and an app's due range never reaches another app.
        assert!(inbox_expiry("o#a", 5, 9) < inbox_expiry("o#a", 6, 1));
        assert!(inbox_expiry("o#a", 5, 9) < inbox_expiry_due_end("o#a", 5));
        assert!(inbox_expiry("o#a", 6, 0) >= inbox_expiry_due_end("o#a", 5));
        assert!(inbox_expiry("o#ab", 0, 0) >= after_app("o#a"));
        assert!(inbox_expiry("o#a", i64::MAX, u64::MAX) < after_app("o#a"));
        assert_eq!(app_of_key(&inbox_expiry("o#a", 1, 1)), Some("o#a"));
        assert_ne!(message_ack_count("o#a", "x"), task_ack_count("o#a", "x"));
    }

    #[test]
    fn user_prefixes_never_overlap() {
        // User "a" must not see user "ab"'s records, nor app "o#a" those of app "o#ab".
        let ab = conversation_setting("o#a", "ab", ChatKind::Group, "g1");
        assert!(!ab.starts_with(&user_prefix("o#a", "a")));
        assert!(ab.starts_with(&user_prefix("o#a", "ab")));
        assert!(user_settings("o#a", "ab").starts_with(&user_prefix("o#a", "ab")));
        assert!(!user_settings("o#ab", "u").starts_with(&user_prefix("o#a", "b")));
        // The kinds keep a one-to-one conversation apart from a group of the same id.
        assert_ne!(
            conversation_setting("o#a", "u", ChatKind::User, "x"),
            conversation_setting("o#a", "u", ChatKind::Group, "x")
        );
        assert!(template("o#a", "t").starts_with(&app_prefix("o#a")));
    }
}
