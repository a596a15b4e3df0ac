//! Reading the sled store out as [`Record`]s, for `pushgate store copy`: one tree per [`Kind`], in key order,
//! a page at a time from after a given key, so that a copy interrupted after any page resumes where it was.
//!
//! Every key part a record is stored under is read from its sled key (`keys.rs`), not from the record, so the
//! target finds each record under the same names sled did.

use std::ops::Bound;

use super::{SledStore, decode, events, keys};
use crate::store::{
    ChatKind, ConversationKey, StoreError,
    inbox::InboxCount,
    portable::{AckedBy, ExportPage, Kind, Record},
};

/// The trees a copy leaves behind on purpose, with why: indexes the target keeps by itself, and state of
/// use only to the server that wrote it. A tree holding records that is neither a kind's ([`tree_of`]) nor
/// listed here stops a copy ([`SledStore::uncopied_trees`]), so nothing is dropped unnoticed.
pub const NOT_COPIED: &[(&str, &str)] = &[
    (
        keys::DEVICE_OWNERS,
        "an index of the bindings, which the target keeps itself",
    ),
    (
        keys::NOTIFIER_BINDINGS,
        "an index of the bindings, which the target keeps itself",
    ),
    (
        keys::TOKEN_BINDINGS,
        "an index of the bindings, which the target keeps itself",
    ),
    (
        keys::USER_LABELS,
        "an index of the label users, which the target keeps itself",
    ),
    (
        keys::OUTBOX_DUE,
        "an index of the waiting callbacks, which the target keeps itself",
    ),
    (
        keys::INBOX_EXPIRY,
        "an index of the inbox entries, which the target keeps itself",
    ),
    (
        keys::IDEMPOTENT_ANSWERS,
        "answers kept minutes for retried requests; a retry across the move runs again",
    ),
    (
        keys::PUSH_QUEUE_CLAIMS,
        "the stopped server's claims on queued pushes, which its next start would end anyway",
    ),
    (
        keys::LEASES,
        "the leases of the stopped server's background work, which its replicas take anew",
    ),
    (
        keys::CHANNEL_ROUTES,
        "where the stopped server's own-channel streams were open; devices subscribe again",
    ),
    (
        keys::RATE_LIMITS,
        "the pace of rate-limited calls, which starts afresh",
    ),
    (
        keys::REPLICAS,
        "the replicas that ran on the store, which register again when they start",
    ),
];

/// sled's own tree, which the store never writes.
const DEFAULT_TREE: &[u8] = b"__sled__default";

/// The tree a kind is stored in.
pub fn tree_of(kind: Kind) -> &'static str {
    match kind {
        Kind::Meta => keys::META,
        Kind::Apps => keys::APPS,
        Kind::Notifiers => keys::NOTIFIERS,
        Kind::CallbackRules => keys::CALLBACK_RULES,
        Kind::Templates => keys::TEMPLATES,
        Kind::Messages => keys::MESSAGES,
        Kind::UserSettings => keys::USER_SETTINGS,
        Kind::ConversationSettings => keys::CONVERSATION_SETTINGS,
        Kind::Labels => keys::LABELS,
        Kind::LabelUsers => keys::LABEL_USERS,
        Kind::Bindings => keys::BINDINGS,
        Kind::Tasks => keys::TASKS,
        Kind::TaskUsers => keys::TASK_USERS,
        Kind::QueuedPushes => keys::PUSH_QUEUE,
        Kind::Events => keys::EVENTS,
        Kind::EventHorizons => keys::EVENT_HORIZONS,
        Kind::OutboxCursors => keys::OUTBOX_CURSORS,
        Kind::OutboxPauses => keys::OUTBOX_PAUSES,
        Kind::OutboxWaiting => keys::OUTBOX_PENDING,
        Kind::OutboxReceivers => keys::OUTBOX_HELD,
        Kind::FailedCallbacks => keys::FAILED_CALLBACKS,
        Kind::InboxEntries => keys::INBOX,
        Kind::InboxCounts => keys::INBOX_COUNTS,
        Kind::InboxReceipts => keys::INBOX_RECEIPTS,
        Kind::ChannelDevices => keys::CHANNEL_DEVICES,
        Kind::AckCounts => keys::ACK_COUNTS,
    }
}

/// Reads the parts of one key, front to back.
struct KeyParts<'k> {
    key: &'k [u8],
    rest: &'k [u8],
}

impl<'k> KeyParts<'k> {
    fn new(key: &'k [u8]) -> Self {
        Self { key, rest: key }
    }

    fn corrupt(&self, reason: &str) -> StoreError {
        StoreError::Corrupt {
            key: String::from_utf8_lossy(self.key).replace('\0', "/"),
            reason: reason.into(),
        }
    }

    fn text(&self, bytes: &'k [u8]) -> Result<String, StoreError> {
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| self.corrupt("a key part is not UTF-8"))
    }

    /// The text up to the next separator, which is consumed.
    fn part(&mut self) -> Result<String, StoreError> {
        let end = self
            .rest
            .iter()
            .position(|b| *b == keys::SEP)
            .ok_or_else(|| self.corrupt("a key part has no separator after it"))?;
        let part = self.text(&self.rest[..end])?;
        self.rest = &self.rest[end + 1..];
        Ok(part)
    }

    /// The rest of the key as text (possibly empty).
    fn last(&mut self) -> Result<String, StoreError> {
        let part = self.text(self.rest)?;
        self.rest = &[];
        Ok(part)
    }

    /// A big-endian number of 8 bytes.
    fn number(&mut self) -> Result<u64, StoreError> {
        let (bytes, rest) = self
            .rest
            .split_first_chunk::<8>()
            .ok_or_else(|| self.corrupt("the key ends early"))?;
        self.rest = rest;
        Ok(u64::from_be_bytes(*bytes))
    }

    /// One byte.
    fn byte(&mut self) -> Result<u8, StoreError> {
        let (first, rest) = self
            .rest
            .split_first()
            .ok_or_else(|| self.corrupt("the key ends early"))?;
        self.rest = rest;
        Ok(*first)
    }

    /// The whole key was read.
    fn end(&self) -> Result<(), StoreError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(self.corrupt("the key is longer than its kind's"))
        }
    }
}

/// A value that is one big-endian number of 8 bytes (cursors, horizons, due times).
fn number_value(key: &[u8], value: &[u8]) -> Result<u64, StoreError> {
    <[u8; 8]>::try_from(value)
        .map(u64::from_be_bytes)
        .map_err(|_| KeyParts::new(key).corrupt("the value is not an 8-byte number"))
}

/// The records at one entry of `kind`'s tree, added to `out`: one, but for the event log, whose entries
/// are chunks of events.
fn push_records(
    kind: Kind,
    key: &[u8],
    value: &[u8],
    out: &mut Vec<Record>,
) -> Result<(), StoreError> {
    if kind == Kind::Events {
        let mut k = KeyParts::new(key);
        let app = k.part()?;
        k.number()?;
        k.end()?;
        out.extend(
            events::decode_chunk(key, value)?
                .into_iter()
                .map(|record| Record::Event {
                    app: app.clone(),
                    record,
                }),
        );
    } else {
        out.push(record(kind, key, value)?);
    }
    Ok(())
}

/// How many records one entry of `kind`'s tree holds.
fn records_in(kind: Kind, key: &[u8], value: &[u8]) -> Result<u64, StoreError> {
    Ok(match kind {
        Kind::Events => u64::from(events::header(key, value)?.count),
        _ => 1,
    })
}

/// The record at one entry of `kind`'s tree (any kind but the event log's chunks).
fn record(kind: Kind, key: &[u8], value: &[u8]) -> Result<Record, StoreError> {
    let mut k = KeyParts::new(key);
    let record = match kind {
        // Server-wide keys are whole, not scoped by an app.
        Kind::Meta => {
            return Ok(Record::Meta {
                key: key.to_vec(),
                value: value.to_vec(),
            });
        }
        Kind::Apps => Record::App {
            name: k.last()?,
            record: decode(key, value)?,
        },
        Kind::Notifiers => Record::Notifier {
            app: k.part()?,
            name: k.last()?,
            record: decode(key, value)?,
        },
        Kind::CallbackRules => Record::CallbackRule {
            app: k.part()?,
            name: k.last()?,
            record: decode(key, value)?,
        },
        Kind::Templates => Record::Template {
            app: k.part()?,
            name: k.last()?,
            record: decode(key, value)?,
        },
        Kind::Messages => Record::Message {
            app: k.part()?,
            id: k.last()?,
            record: decode(key, value)?,
        },
        Kind::UserSettings => {
            let app = k.part()?;
            let user = k.part()?;
            Record::UserSettings {
                app,
                user,
                record: decode(key, value)?,
            }
        }
        Kind::ConversationSettings => {
            let app = k.part()?;
            let user = k.part()?;
            let kind = match k.byte()? {
                b'u' => ChatKind::User,
                b'g' => ChatKind::Group,
                _ => return Err(k.corrupt("unknown conversation kind")),
            };
            Record::ConversationSetting {
                app,
                user,
                conversation: ConversationKey {
                    kind,
                    key: k.last()?,
                },
                record: decode(key, value)?,
            }
        }
        Kind::Labels => Record::Label {
            app: k.part()?,
            name: k.last()?,
            record: decode(key, value)?,
        },
        Kind::LabelUsers => Record::LabelUser {
            app: k.part()?,
            label: k.part()?,
            user: k.last()?,
            record: decode(key, value)?,
        },
        Kind::Bindings => Record::Binding {
            app: k.part()?,
            user: k.part()?,
            device: k.part()?,
            notifier: k.last()?,
            record: decode(key, value)?,
        },
        Kind::Tasks => Record::Task {
            app: k.part()?,
            id: k.last()?,
            record: decode(key, value)?,
        },
        Kind::TaskUsers => Record::TaskUser {
            app: k.part()?,
            task: k.part()?,
            user: k.last()?,
        },
        Kind::QueuedPushes => Record::QueuedPush {
            app: k.part()?,
            seq: k.number()?,
            record: decode(key, value)?,
        },
        Kind::Events => {
            return Err(k.corrupt("an event chunk read as one record"));
        }
        Kind::EventHorizons => Record::EventHorizon {
            app: k.part()?,
            swept_through: number_value(key, value)?,
        },
        Kind::OutboxCursors => Record::OutboxCursor {
            app: k.part()?,
            rule: k.last()?,
            position: number_value(key, value)?,
        },
        Kind::OutboxPauses => Record::OutboxPause {
            app: k.part()?,
            rule: k.last()?,
            record: decode(key, value)?,
        },
        Kind::OutboxWaiting => Record::OutboxWaiting {
            app: k.part()?,
            rule: k.part()?,
            receiver: k.part()?,
            position: k.number()?,
            record: decode(key, value)?,
        },
        // The value is the due time as the receiver's first callback had it (`make_due`).
        Kind::OutboxReceivers => Record::OutboxReceiver {
            app: k.part()?,
            rule: k.part()?,
            receiver: k.last()?,
            due_ms: i64::from_be_bytes(number_value(key, value)?.to_be_bytes()),
        },
        Kind::FailedCallbacks => Record::FailedCallback {
            app: k.part()?,
            position: k.number()?,
            rule: k.last()?,
            record: decode(key, value)?,
        },
        Kind::InboxEntries => Record::InboxEntry {
            app: k.part()?,
            device: k.part()?,
            position: k.number()?,
            record: decode(key, value)?,
        },
        Kind::InboxCounts => Record::InboxCount {
            app: k.part()?,
            device: k.last()?,
            entries: decode::<InboxCount>(key, value)?.entries,
        },
        // The message id comes last in the key and may hold any byte.
        Kind::InboxReceipts => Record::InboxReceipt {
            app: k.part()?,
            user: k.part()?,
            device: k.part()?,
            message_id: k.last()?,
            record: decode(key, value)?,
        },
        Kind::ChannelDevices => Record::ChannelDevice {
            app: k.part()?,
            user: k.part()?,
            device: k.last()?,
            record: decode(key, value)?,
        },
        Kind::AckCounts => {
            let app = k.part()?;
            let of = match k.byte()? {
                b'm' => AckedBy::Message,
                b't' => AckedBy::Task,
                _ => return Err(k.corrupt("unknown ack counter kind")),
            };
            Record::AckCount {
                app,
                of,
                id: k.last()?,
                record: decode(key, value)?,
            }
        }
    };
    k.end()?;
    Ok(record)
}

impl SledStore {
    /// Opens the sled store in `dir` to copy it: refused when there is none (rather than creating an empty
    /// one), or when a server (or another copy) has it open, which sled's lock on its directory tells.
    pub fn open_to_copy(dir: &std::path::Path) -> Result<Self, StoreError> {
        if !dir.join("db").join("conf").is_file() {
            return Err(StoreError::Backend(format!(
                "{} holds no sled store (no db/conf in it): give the data directory of the server to move",
                dir.display()
            )));
        }
        Self::open(dir).map_err(|e| match e {
            StoreError::Backend(reason) if reason.contains("could not acquire lock") => {
                StoreError::Backend(format!(
                    "the sled store in {} is in use by another process (a pushgate server running on \
                     it?): stop it first, the copy reads a store nobody writes",
                    dir.display()
                ))
            }
            other => other,
        })
    }

    /// Up to about `limit` records of `kind` after the key `after` (from the first when `None`), in key
    /// order; whole entries, so a page may end a little past `limit` when one entry holds several records.
    pub fn export_page(
        &self,
        kind: Kind,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<ExportPage, StoreError> {
        let start = match after {
            Some(key) => Bound::Excluded(key.to_vec()),
            None => Bound::Unbounded,
        };
        let mut page = ExportPage {
            records: Vec::new(),
            last_key: None,
            end: true,
        };
        for entry in self
            .tree(tree_of(kind))?
            .range::<Vec<u8>, _>((start, Bound::Unbounded))
        {
            let (key, value) = entry?;
            if page.records.len() >= limit.max(1) {
                page.end = false;
                break;
            }
            push_records(kind, &key, &value, &mut page.records)?;
            page.last_key = Some(key.to_vec());
        }
        Ok(page)
    }

    /// How many records of `kind` the store holds.
    pub fn export_count(&self, kind: Kind) -> Result<u64, StoreError> {
        let mut count = 0;
        for entry in self.tree(tree_of(kind))?.iter() {
            let (key, value) = entry?;
            count += records_in(kind, &key, &value)?;
        }
        Ok(count)
    }

    /// The trees that hold entries a copy would not take (no kind's, not left out on purpose), with their
    /// number of entries: a copy refuses to start while there is any.
    pub fn uncopied_trees(&self) -> Result<Vec<(String, usize)>, StoreError> {
        let mut out = Vec::new();
        for name in self.db.tree_names() {
            if name.as_ref() == DEFAULT_TREE {
                continue;
            }
            let text = String::from_utf8_lossy(&name).into_owned();
            let known = Kind::ALL.iter().any(|k| tree_of(*k) == text)
                || NOT_COPIED.iter().any(|(tree, _)| *tree == text);
            if known {
                continue;
            }
            let entries = self.db.open_tree(&name)?.len();
            if entries > 0 {
                out.push((text, entries));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    // sled-only: the key parsing reads sled's key layout. What a copy carries over is checked end to end,
    // through both backends' repositories, in `store/copy/tests/`.
    use prost::Message;

    use super::*;

    #[test]
    fn conversation_keys_are_read_back() {
        let key = keys::conversation_setting("o#a", "u1", ChatKind::Group, "g/1");
        let record = record(
            Kind::ConversationSettings,
            &key,
            &crate::store::NotificationRecord::default().encode_to_vec(),
        )
        .unwrap();
        let Record::ConversationSetting {
            app,
            user,
            conversation,
            ..
        } = record
        else {
            panic!("a conversation setting");
        };
        assert_eq!((app.as_str(), user.as_str()), ("o#a", "u1"));
        assert_eq!(conversation.kind, ChatKind::Group);
        assert_eq!(conversation.key, "g/1");
    }

    #[test]
    fn malformed_keys_are_corrupt_not_guessed() {
        let value = crate::store::UserSettingsRecord::default().encode_to_vec();
        // A user key without its closing separator, and one with bytes after it.
        assert!(matches!(
            record(Kind::UserSettings, b"o#a\0u1", &value),
            Err(StoreError::Corrupt { .. })
        ));
        assert!(matches!(
            record(Kind::UserSettings, b"o#a\0u1\0x", &value),
            Err(StoreError::Corrupt { .. })
        ));
        assert!(record(Kind::UserSettings, b"o#a\0u1\0", &value).is_ok());
    }
}
