//! sled implementation of [`InboxRepository`]: appends, replay pages, the expiry sweep and user deletion.
//! Acks, counters and device records are in `inbox_acks.rs`.
//!
//! Four trees change together (entries, receipts, the expiry index and per-device counts), always in one sled
//! transaction, so a crash never leaves an entry without its receipt or a count out of step. Every write to
//! a device's inbox holds that device's stripe of `inbox_locks`: the scans that precede a transaction (the
//! oldest entries to evict, a user's receipts) cannot run inside one.

use std::{collections::BTreeMap, ops::Bound};

use async_trait::async_trait;
use prost::Message;
use sled::{
    IVec, Transactional,
    transaction::{ConflictableTransactionResult, TransactionalTree},
};

use super::{SledStore, decode, keys, tx_decode};
use crate::store::{
    AckCountRecord, AckSubject, Appended, InboxEntry, InboxReceipt, InboxRepository, StoreError,
    inbox::{InboxCount, InboxExpiry},
};

/// Receipts handled per transaction when a user is deleted, so memory stays bounded.
const DELETE_PAGE: usize = 256;

/// Adds `delta` to a device's entry count inside a transaction; a count of zero is removed.
pub(super) fn tx_add_count(
    counts: &TransactionalTree,
    key: &[u8],
    delta: i64,
) -> ConflictableTransactionResult<(), StoreError> {
    let current = match counts.get(key)? {
        Some(bytes) => tx_decode::<InboxCount>(key, &bytes)?.entries,
        None => 0,
    };
    let entries = current.saturating_add_signed(delta);
    if entries == 0 {
        counts.remove(key)?;
    } else {
        counts.insert(key, InboxCount { entries }.encode_to_vec())?;
    }
    Ok(())
}

/// The device id in a receipt key (user prefix + device + separator + message id).
fn receipt_device(prefix: &[u8], key: &[u8]) -> Option<String> {
    let rest = key.strip_prefix(prefix)?;
    let end = rest.iter().position(|b| *b == keys::SEP)?;
    std::str::from_utf8(&rest[..end]).ok().map(str::to_owned)
}

impl SledStore {
    /// The four trees an inbox write changes, in the order every transaction over them uses.
    fn inbox_trees(&self) -> Result<(sled::Tree, sled::Tree, sled::Tree, sled::Tree), StoreError> {
        Ok((
            self.tree(keys::INBOX)?,
            self.tree(keys::INBOX_RECEIPTS)?,
            self.tree(keys::INBOX_EXPIRY)?,
            self.tree(keys::INBOX_COUNTS)?,
        ))
    }

    /// Deletes what one expiry-index entry names: the index entry, the receipt and the inbox entry.
    fn purge(&self, app: &str, index_key: &[u8], target: &InboxExpiry) -> Result<(), StoreError> {
        let _guard = self.inbox_lock(app, &target.device_id)?;
        let (inbox, receipts, expiry, counts) = self.inbox_trees()?;
        let entry_key = keys::inbox_entry(app, &target.device_id, target.position);
        let receipt_key =
            keys::inbox_receipt(app, &target.user, &target.device_id, &target.message_id);
        let count_key = keys::inbox_count(app, &target.device_id);
        (&inbox, &receipts, &expiry, &counts)
            .transaction(
                |(i, r, e, c)| -> ConflictableTransactionResult<(), StoreError> {
                    e.remove(index_key)?;
                    if let Some(bytes) = r.get(&receipt_key)? {
                        let receipt: InboxReceipt = tx_decode(&receipt_key, &bytes)?;
                        // Only the receipt of this very push: the ids are the same for no other one.
                        if receipt.position == target.position {
                            r.remove(receipt_key.as_slice())?;
                        }
                    }
                    if i.remove(entry_key.as_slice())?.is_some() {
                        tx_add_count(c, &count_key, -1)?;
                    }
                    Ok(())
                },
            )
            .map_err(StoreError::from)
    }

    /// Deletes one page of a user's receipts with their entries and index entries; returns the entries
    /// removed and whether there was anything to delete.
    fn delete_user_page(&self, app: &str, user: &str) -> Result<(u64, bool), StoreError> {
        let (inbox, receipts, expiry, counts) = self.inbox_trees()?;
        let prefix = keys::user_receipts_prefix(app, user);
        let page = receipts
            .scan_prefix(&prefix)
            .take(DELETE_PAGE)
            .collect::<Result<Vec<_>, _>>()?;
        if page.is_empty() {
            return Ok((0, false));
        }
        // Grouped by device, so each device's stripe is held once. A key without a readable device (none is
        // ever written) is still deleted, or the loop over pages would never end.
        let mut by_device: BTreeMap<Option<String>, Vec<(IVec, IVec)>> = BTreeMap::new();
        for (key, value) in page {
            by_device
                .entry(receipt_device(&prefix, &key))
                .or_default()
                .push((key, value));
        }
        let mut removed = 0u64;
        for (device, items) in by_device {
            let _guard = match &device {
                Some(device) => Some(self.inbox_lock(app, device)?),
                None => None,
            };
            removed += (&inbox, &receipts, &expiry, &counts)
                .transaction(
                    |(i, r, e, c)| -> ConflictableTransactionResult<u64, StoreError> {
                        let mut entries = 0u64;
                        for (key, value) in &items {
                            r.remove(key)?;
                            let Some(device) = &device else { continue };
                            let receipt: InboxReceipt = tx_decode(key, value)?;
                            e.remove(keys::inbox_expiry(
                                app,
                                receipt.purge_at_ms,
                                receipt.position,
                            ))?;
                            if i.remove(keys::inbox_entry(app, device, receipt.position))?
                                .is_some()
                            {
                                entries += 1;
                            }
                        }
                        if let (Some(device), true) = (&device, entries > 0) {
                            tx_add_count(c, &keys::inbox_count(app, device), -(entries as i64))?;
                        }
                        Ok(entries)
                    },
                )
                .map_err(StoreError::from)?;
        }
        Ok((removed, true))
    }
}

#[async_trait]
impl InboxRepository for SledStore {
    async fn append(
        &self,
        app: &str,
        entry: &InboxEntry,
        max_per_device: usize,
    ) -> Result<Appended, StoreError> {
        let written: Result<_, StoreError> = async {
            let device = entry.device_id.clone();
            let _guard = self.inbox_lock(app, &device)?;
            let (inbox, receipts, expiry, counts) = self.inbox_trees()?;
            let receipt_key = keys::inbox_receipt(app, &entry.user, &device, &entry.message_id);
            if let Some(bytes) = receipts.get(&receipt_key)? {
                let known: InboxReceipt = decode(&receipt_key, &bytes)?;
                let size = match counts.get(keys::inbox_count(app, &device))? {
                    Some(bytes) => decode::<InboxCount>(&receipt_key, &bytes)?.entries,
                    None => 0,
                };
                return Ok(Appended {
                    position: known.position,
                    duplicate: true,
                    evicted: 0,
                    size,
                    previous: 0,
                });
            }
            let count_key = keys::inbox_count(app, &device);
            let count = match counts.get(&count_key)? {
                Some(bytes) => decode::<InboxCount>(&count_key, &bytes)?.entries,
                None => 0,
            };
            let excess = (count + 1).saturating_sub(max_per_device.max(1) as u64);
            let oldest = inbox
                .scan_prefix(keys::inbox_prefix(app, &device))
                .keys()
                .take(excess as usize)
                .collect::<Result<Vec<_>, _>>()?;
            let previous = match inbox
                .scan_prefix(keys::inbox_prefix(app, &device))
                .keys()
                .next_back()
            {
                Some(key) => keys::inbox_position(&key?),
                None => 0,
            };
            // sled's ids start at 0; positions start at 1 so that `since = 0` replays the whole inbox.
            let position = self.db.generate_id()? + 1;
            let receipt = InboxReceipt {
                position,
                task_id: entry.task_id.clone(),
                purge_at_ms: entry.purge_at_ms,
                delivered: false,
                clicked: false,
            }
            .encode_to_vec();
            let index = InboxExpiry {
                device_id: device.clone(),
                user: entry.user.clone(),
                message_id: entry.message_id.clone(),
                position,
            }
            .encode_to_vec();
            let entry_key = keys::inbox_entry(app, &device, position);
            let index_key = keys::inbox_expiry(app, entry.purge_at_ms, position);
            let value = InboxEntry {
                position,
                ..entry.clone()
            }
            .encode_to_vec();
            let evicted = (&inbox, &receipts, &expiry, &counts)
                .transaction(
                    |(i, r, e, c)| -> ConflictableTransactionResult<u64, StoreError> {
                        let mut evicted = 0u64;
                        for key in &oldest {
                            if i.remove(key)?.is_some() {
                                evicted += 1;
                            }
                        }
                        i.insert(entry_key.as_slice(), value.as_slice())?;
                        r.insert(receipt_key.as_slice(), receipt.as_slice())?;
                        e.insert(index_key.as_slice(), index.as_slice())?;
                        tx_add_count(c, &count_key, 1 - evicted as i64)?;
                        Ok(evicted)
                    },
                )
                .map_err(StoreError::from)?;
            Ok(Appended {
                position,
                duplicate: false,
                evicted,
                size: (count + 1).saturating_sub(evicted),
                previous,
            })
        }
        .await;
        self.durably(written).await
    }

    async fn inbox_page(
        &self,
        app: &str,
        device: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<InboxEntry>, StoreError> {
        let prefix = keys::inbox_prefix(app, device);
        let start = keys::inbox_entry(app, device, after);
        self.tree(keys::INBOX)?
            .range((Bound::Excluded(start), Bound::Unbounded))
            .take_while(|entry| entry.as_ref().map_or(true, |(k, _)| k.starts_with(&prefix)))
            .take(limit)
            .map(|entry| {
                let (k, v) = entry?;
                decode(&k, &v)
            })
            .collect()
    }

    async fn ack(
        &self,
        app: &str,
        user: &str,
        device: &str,
        message_ids: &[String],
        clicked: bool,
        now_ms: i64,
    ) -> Result<Vec<String>, StoreError> {
        let written: Result<_, StoreError> =
            async { self.ack_receipts(app, user, device, message_ids, clicked, now_ms) }.await;
        self.durably(written).await
    }

    async fn ack_counts(
        &self,
        app: &str,
        subject: AckSubject<'_>,
    ) -> Result<AckCountRecord, StoreError> {
        self.read_ack_counts(app, subject)
    }

    async fn record_channel_device(
        &self,
        app: &str,
        user: &str,
        device: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let written: Result<_, StoreError> =
            async { self.put_channel_device(app, user, device, now_ms) }.await;
        self.durably(written).await
    }

    async fn channel_devices(&self, app: &str, user: &str) -> Result<Vec<String>, StoreError> {
        self.list_channel_devices(app, user, usize::MAX)
    }

    async fn has_channel_devices(&self, app: &str, user: &str) -> Result<bool, StoreError> {
        Ok(!self.list_channel_devices(app, user, 1)?.is_empty())
    }

    async fn delete_user_inbox(&self, app: &str, user: &str) -> Result<u64, StoreError> {
        let written: Result<_, StoreError> = async {
            let mut removed = 0u64;
            loop {
                let (entries, more) = self.delete_user_page(app, user)?;
                removed += entries;
                if !more {
                    break;
                }
            }
            self.remove_channel_devices(app, user)?;
            Ok(removed)
        }
        .await;
        self.durably(written).await
    }

    async fn sweep_expired(&self, now_ms: i64, limit: usize) -> Result<u64, StoreError> {
        let written: Result<_, StoreError> = async {
        let expiry = self.tree(keys::INBOX_EXPIRY)?;
        let mut processed = 0u64;
        // Skip-scan: each step finds the next app with index entries, then reads that app's due range, so
        // the cost follows the due entries and the number of apps, not everything kept.
        let mut from: Vec<u8> = Vec::new();
        while processed < limit as u64 {
            let Some(first) = expiry.range(from.as_slice()..).next() else {
                break;
            };
            let (key, _) = first?;
            let Some(app) = keys::app_of_key(&key).map(str::to_owned) else {
                tracing::warn!(key = %String::from_utf8_lossy(&key), "inbox expiry key without an app; removed");
                expiry.remove(&key)?;
                continue;
            };
            let due = expiry
                .range(keys::app_prefix(&app)..keys::inbox_expiry_due_end(&app, now_ms))
                .take(limit - processed as usize)
                .collect::<Result<Vec<_>, _>>()?;
            for (index_key, value) in due {
                match decode::<InboxExpiry>(&index_key, &value) {
                    Ok(target) => self.purge(&app, &index_key, &target)?,
                    Err(e) => {
                        // Left in place it would stop every later sweep at the same key.
                        tracing::warn!(error = %e, "corrupt inbox expiry entry removed");
                        expiry.remove(&index_key)?;
                    }
                }
                processed += 1;
            }
            from = keys::after_app(&app);
        }
        Ok(processed)
    }
        .await;
        self.durably(written).await
    }
}
