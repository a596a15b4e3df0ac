//! sled side of own-channel acks, ack counters and the devices that subscribed as a user; the
//! [`InboxRepository`](crate::store::InboxRepository) impl in `inbox.rs` calls these.

use prost::Message;
use sled::{
    Transactional,
    transaction::{ConflictableTransactionResult, TransactionalTree},
};

use super::keys;
use super::{SledStore, decode, inbox::tx_add_count, tx_decode};
use crate::store::{AckCountRecord, AckSubject, ChannelDeviceRecord, InboxReceipt, StoreError};

/// Adds one delivered and/or one clicked ack to the counters at `key`.
fn tx_bump(
    acks: &TransactionalTree,
    key: &[u8],
    delivered: bool,
    clicked: bool,
) -> ConflictableTransactionResult<(), StoreError> {
    let mut record: AckCountRecord = match acks.get(key)? {
        Some(bytes) => tx_decode(key, &bytes)?,
        None => AckCountRecord::default(),
    };
    record.delivered += u64::from(delivered);
    record.clicked += u64::from(clicked);
    acks.insert(key, record.encode_to_vec())?;
    Ok(())
}

impl SledStore {
    /// See [`InboxRepository::ack`](crate::store::InboxRepository::ack).
    pub(super) fn ack_receipts(
        &self,
        app: &str,
        user: &str,
        device: &str,
        message_ids: &[String],
        clicked: bool,
        now_ms: i64,
    ) -> Result<Vec<String>, StoreError> {
        let _guard = self.inbox_lock(app, device)?;
        let inbox = self.tree(keys::INBOX)?;
        let receipts = self.tree(keys::INBOX_RECEIPTS)?;
        let counts = self.tree(keys::INBOX_COUNTS)?;
        let acks = self.tree(keys::ACK_COUNTS)?;
        let count_key = keys::inbox_count(app, device);
        (&inbox, &receipts, &counts, &acks)
            .transaction(
                |(i, r, c, a)| -> ConflictableTransactionResult<Vec<String>, StoreError> {
                    // Built afresh on every try: sled reruns the closure when a counter write raced another.
                    let mut unknown = Vec::new();
                    let mut removed = 0u64;
                    for id in message_ids {
                        let key = keys::inbox_receipt(app, user, device, id);
                        let Some(bytes) = r.get(&key)? else {
                            unknown.push(id.clone());
                            continue;
                        };
                        let mut receipt: InboxReceipt = tx_decode(&key, &bytes)?;
                        // Expired but not yet swept reads the same as swept, as the contract says.
                        if receipt.purge_at_ms <= now_ms {
                            unknown.push(id.clone());
                            continue;
                        }
                        if i.remove(keys::inbox_entry(app, device, receipt.position))?
                            .is_some()
                        {
                            removed += 1;
                        }
                        let delivered = !receipt.delivered;
                        let clicked = clicked && !receipt.clicked;
                        if !delivered && !clicked {
                            continue;
                        }
                        receipt.delivered = true;
                        receipt.clicked |= clicked;
                        r.insert(key, receipt.encode_to_vec())?;
                        tx_bump(a, &keys::message_ack_count(app, id), delivered, clicked)?;
                        if !receipt.task_id.is_empty() {
                            tx_bump(
                                a,
                                &keys::task_ack_count(app, &receipt.task_id),
                                delivered,
                                clicked,
                            )?;
                        }
                    }
                    if removed > 0 {
                        tx_add_count(c, &count_key, -(removed as i64))?;
                    }
                    Ok(unknown)
                },
            )
            .map_err(StoreError::from)
    }

    /// See [`InboxRepository::ack_counts`](crate::store::InboxRepository::ack_counts).
    pub(super) fn read_ack_counts(
        &self,
        app: &str,
        subject: AckSubject<'_>,
    ) -> Result<AckCountRecord, StoreError> {
        let key = match subject {
            AckSubject::Message(id) => keys::message_ack_count(app, id),
            AckSubject::Task(id) => keys::task_ack_count(app, id),
        };
        Ok(self
            .tree(keys::ACK_COUNTS)?
            .get(&key)?
            .map(|bytes| decode(&key, &bytes))
            .transpose()?
            .unwrap_or_default())
    }

    /// Records a Subscribe of `device` as `user`, keeping the time of the first.
    pub(super) fn put_channel_device(
        &self,
        app: &str,
        user: &str,
        device: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let key = keys::channel_device(app, user, device);
        let mut failure = None;
        self.tree(keys::CHANNEL_DEVICES)?
            .fetch_and_update(&key, |old| {
                // sled retries this closure when another write raced it, so nothing may carry over a try.
                failure = None;
                let first = match old.map(|bytes| decode::<ChannelDeviceRecord>(&key, bytes)) {
                    Some(Ok(record)) => record.first_subscribe_ms,
                    Some(Err(e)) => {
                        failure = Some(e);
                        return old.map(<[u8]>::to_vec);
                    }
                    None => now_ms,
                };
                Some(
                    ChannelDeviceRecord {
                        first_subscribe_ms: first,
                        last_subscribe_ms: now_ms,
                    }
                    .encode_to_vec(),
                )
            })?;
        failure.map_or(Ok(()), Err)
    }

    /// Up to `limit` devices that subscribed as `user`, by id.
    pub(super) fn list_channel_devices(
        &self,
        app: &str,
        user: &str,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let prefix = keys::channel_devices_prefix(app, user);
        self.tree(keys::CHANNEL_DEVICES)?
            .scan_prefix(&prefix)
            .keys()
            .take(limit)
            .map(|key| {
                let key = key?;
                key.strip_prefix(prefix.as_slice())
                    .and_then(|rest| std::str::from_utf8(rest).ok())
                    .map(str::to_owned)
                    .ok_or_else(|| StoreError::Corrupt {
                        key: String::from_utf8_lossy(&key).replace('\0', "/"),
                        reason: "key does not end in a device id".into(),
                    })
            })
            .collect()
    }

    /// Removes every device record of `user`.
    pub(super) fn remove_channel_devices(&self, app: &str, user: &str) -> Result<(), StoreError> {
        let tree = self.tree(keys::CHANNEL_DEVICES)?;
        for key in tree
            .scan_prefix(keys::channel_devices_prefix(app, user))
            .keys()
        {
            tree.remove(key?)?;
        }
        Ok(())
    }
}
