//! sled implementation of [`OutboxRepository`].
//!
//! A receiver's waiting callbacks, its held marker and its due-index entry change together in one transaction,
//! so after a crash a receiver is due exactly when it has callbacks waiting. Only the rule's worker (and a
//! redelivery holding the worker's lock) writes a rule's records, so the scans that precede a transaction
//! stay true until it commits.

use async_trait::async_trait;
use prost::Message;
use sled::{
    Transactional,
    transaction::{ConflictableTransactionResult, TransactionalTree},
};

use super::keys;
use super::{SledStore, decode, tx_decode};
use crate::{
    proto::v1::FailedCallback,
    store::{
        Fence, LeaseRecord, OutboxRepository, PauseRecord, PendingCallback, StoreError,
        leases::fence_holds,
    },
};

type TxResult<T> = ConflictableTransactionResult<T, StoreError>;

fn ms_bytes(ms: i64) -> [u8; 8] {
    ms.to_be_bytes()
}

fn ms_of(bytes: &[u8]) -> i64 {
    <[u8; 8]>::try_from(bytes).map_or(0, i64::from_be_bytes)
}

/// Makes `receiver` due at `due_ms` in a transaction, replacing the due entry it had.
/// Whether `fence` (if any) holds, read inside the transaction over the leases tree.
fn tx_fence_holds(leases: &TransactionalTree, fence: Option<&Fence>) -> TxResult<bool> {
    let Some(fence) = fence else {
        return Ok(true);
    };
    let current: Option<LeaseRecord> = leases
        .get(fence.name.as_bytes())?
        .map(|bytes| tx_decode(fence.name.as_bytes(), &bytes))
        .transpose()?;
    Ok(fence_holds(current.as_ref(), fence))
}

fn make_due(
    held: &TransactionalTree,
    due: &TransactionalTree,
    app: &str,
    rule: &str,
    receiver: &str,
    due_ms: i64,
) -> TxResult<()> {
    if let Some(old) = held.insert(keys::outbox_held(app, rule, receiver), &ms_bytes(due_ms))? {
        due.remove(keys::outbox_due(app, rule, ms_of(&old), receiver))?;
    }
    due.insert(keys::outbox_due(app, rule, due_ms, receiver), &[])?;
    Ok(())
}

/// Makes `receiver` no longer held (nothing of it waits).
fn release(
    held: &TransactionalTree,
    due: &TransactionalTree,
    app: &str,
    rule: &str,
    receiver: &str,
) -> TxResult<()> {
    if let Some(old) = held.remove(keys::outbox_held(app, rule, receiver))? {
        due.remove(keys::outbox_due(app, rule, ms_of(&old), receiver))?;
    }
    Ok(())
}

impl SledStore {
    fn outbox_trees(&self) -> Result<(sled::Tree, sled::Tree, sled::Tree), StoreError> {
        Ok((
            self.tree(keys::OUTBOX_PENDING)?,
            self.tree(keys::OUTBOX_HELD)?,
            self.tree(keys::OUTBOX_DUE)?,
        ))
    }

    /// The first waiting callback of `receiver` other than `except` (the one being settled), if any.
    fn next_waiting(
        &self,
        pending: &sled::Tree,
        app: &str,
        rule: &str,
        receiver: &str,
        except: &[u8],
    ) -> Result<Option<Vec<u8>>, StoreError> {
        for entry in pending
            .scan_prefix(keys::outbox_receiver(app, rule, receiver))
            .keys()
        {
            let key = entry?;
            if key.as_ref() != except {
                return Ok(Some(key.to_vec()));
            }
        }
        Ok(None)
    }

    fn remove_prefix(&self, tree: &str, prefix: &[u8]) -> Result<(), StoreError> {
        let tree = self.tree(tree)?;
        for key in tree.scan_prefix(prefix).keys() {
            tree.remove(key?)?;
        }
        Ok(())
    }
}

#[async_trait]
impl OutboxRepository for SledStore {
    async fn cursor(&self, app: &str, rule: &str) -> Result<Option<u64>, StoreError> {
        Ok(self
            .tree(keys::OUTBOX_CURSORS)?
            .get(keys::outbox_rule(app, rule))?
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map(u64::from_be_bytes))
    }

    async fn advance_fenced(
        &self,
        app: &str,
        rule: &str,
        position: u64,
        parked: Vec<PendingCallback>,
        fence: Option<&Fence>,
    ) -> Result<bool, StoreError> {
        let written: Result<_, StoreError> = async {
            let leases = self.tree(keys::LEASES)?;
            let cursors = self.tree(keys::OUTBOX_CURSORS)?;
            let (pending, held, due) = self.outbox_trees()?;
            let encoded: Vec<(String, Vec<u8>, Vec<u8>, i64)> = parked
                .iter()
                .map(|p| {
                    let receiver = p.order_key();
                    let key = keys::outbox_pending(app, rule, &receiver, p.position());
                    (receiver, key, p.encode_to_vec(), p.next_attempt_ms)
                })
                .collect();
            (&cursors, &pending, &held, &due, &leases)
                .transaction(|(c, p, h, d, l)| -> TxResult<bool> {
                    if !tx_fence_holds(l, fence)? {
                        return Ok(false);
                    }
                    c.insert(keys::outbox_rule(app, rule), &position.to_be_bytes())?;
                    for (receiver, key, value, due_ms) in &encoded {
                        p.insert(key.as_slice(), value.as_slice())?;
                        if h.get(keys::outbox_held(app, rule, receiver))?.is_none() {
                            make_due(h, d, app, rule, receiver, *due_ms)?;
                        }
                    }
                    Ok(true)
                })
                .map_err(StoreError::from)
        }
        .await;
        match written {
            Ok(false) => Ok(false),
            written => self.durably(written).await,
        }
    }

    async fn waiting_count(&self, app: &str, rule: &str) -> Result<u64, StoreError> {
        Ok(self
            .tree(keys::OUTBOX_PENDING)?
            .scan_prefix(keys::outbox_rule_prefix(app, rule))
            .keys()
            .count() as u64)
    }

    async fn is_held(&self, app: &str, rule: &str, order_key: &str) -> Result<bool, StoreError> {
        Ok(self
            .tree(keys::OUTBOX_HELD)?
            .contains_key(keys::outbox_held(app, rule, order_key))?)
    }

    async fn due(
        &self,
        app: &str,
        rule: &str,
        now_ms: i64,
        limit: usize,
    ) -> Result<Vec<PendingCallback>, StoreError> {
        let (pending, held, due) = self.outbox_trees()?;
        let prefix = keys::outbox_rule_prefix(app, rule);
        let mut out = Vec::new();
        let mut empty = Vec::new();
        for key in due.scan_prefix(&prefix).keys() {
            let key = key?;
            let Some((at, receiver)) = keys::parse_outbox_due(&prefix, &key) else {
                continue;
            };
            if at > now_ms || out.len() >= limit {
                break;
            }
            match pending
                .scan_prefix(keys::outbox_receiver(app, rule, receiver))
                .next()
            {
                Some(entry) => {
                    let (k, v) = entry?;
                    out.push(decode(&k, &v)?);
                }
                None => empty.push(receiver.to_owned()),
            }
        }
        // A receiver due with nothing waiting would be due forever: released, so it cannot spin the worker.
        for receiver in empty {
            (&held, &due)
                .transaction(|(h, d)| release(h, d, app, rule, &receiver))
                .map_err(StoreError::from)?;
        }
        Ok(out)
    }

    async fn next_due_ms(&self, app: &str, rule: &str) -> Result<Option<i64>, StoreError> {
        let prefix = keys::outbox_rule_prefix(app, rule);
        match self
            .tree(keys::OUTBOX_DUE)?
            .scan_prefix(&prefix)
            .keys()
            .next()
        {
            Some(key) => Ok(keys::parse_outbox_due(&prefix, &key?).map(|(at, _)| at)),
            None => Ok(None),
        }
    }

    async fn settle_fenced(
        &self,
        app: &str,
        rule: &str,
        settled: &PendingCallback,
        failed: Option<FailedCallback>,
        now_ms: i64,
        fence: Option<&Fence>,
    ) -> Result<bool, StoreError> {
        let written: Result<_, StoreError> = async {
            let leases = self.tree(keys::LEASES)?;
            let failed_tree = self.tree(keys::FAILED_CALLBACKS)?;
            let (pending, held, due) = self.outbox_trees()?;
            let receiver = settled.order_key();
            let key = keys::outbox_pending(app, rule, &receiver, settled.position());
            let next = self.next_waiting(&pending, app, rule, &receiver, &key)?;
            let failed = failed.map(|f| {
                (
                    keys::failed_callback(app, settled.position(), rule),
                    f.encode_to_vec(),
                )
            });
            (&pending, &held, &due, &failed_tree, &leases)
                .transaction(|(p, h, d, f, l)| -> TxResult<bool> {
                    if !tx_fence_holds(l, fence)? {
                        return Ok(false);
                    }
                    p.remove(key.as_slice())?;
                    if let Some((k, v)) = &failed {
                        f.insert(k.as_slice(), v.as_slice())?;
                    }
                    match next {
                        Some(_) => make_due(h, d, app, rule, &receiver, now_ms)?,
                        None => release(h, d, app, rule, &receiver)?,
                    }
                    Ok(true)
                })
                .map_err(StoreError::from)
        }
        .await;
        self.durably(written).await
    }

    async fn reschedule_fenced(
        &self,
        app: &str,
        rule: &str,
        updated: PendingCallback,
        fence: Option<&Fence>,
    ) -> Result<bool, StoreError> {
        let written: Result<_, StoreError> = async {
            let leases = self.tree(keys::LEASES)?;
            let (pending, held, due) = self.outbox_trees()?;
            let receiver = updated.order_key();
            let key = keys::outbox_pending(app, rule, &receiver, updated.position());
            let value = updated.encode_to_vec();
            let due_ms = updated.next_attempt_ms;
            (&pending, &held, &due, &leases)
                .transaction(|(p, h, d, l)| -> TxResult<bool> {
                    if !tx_fence_holds(l, fence)? {
                        return Ok(false);
                    }
                    // A callback settled meanwhile is not brought back.
                    if p.get(key.as_slice())?.is_some() {
                        p.insert(key.as_slice(), value.as_slice())?;
                        make_due(h, d, app, rule, &receiver, due_ms)?;
                    }
                    Ok(true)
                })
                .map_err(StoreError::from)
        }
        .await;
        self.durably(written).await
    }

    async fn failed(
        &self,
        app: &str,
        rule: Option<&str>,
        after: Option<(&str, u64)>,
        limit: usize,
    ) -> Result<Vec<FailedCallback>, StoreError> {
        let tree = self.tree(keys::FAILED_CALLBACKS)?;
        let prefix = keys::app_prefix(app);
        let start = match after {
            // Strictly after: the key with one more byte sorts right behind the given one.
            Some((r, position)) => {
                let mut key = keys::failed_callback(app, position, r);
                key.push(0);
                key
            }
            None => prefix.clone(),
        };
        let mut out = Vec::new();
        for entry in tree.range(start..) {
            let (key, value) = entry?;
            if !key.starts_with(&prefix) || out.len() >= limit {
                break;
            }
            let Some((_, of_rule)) = keys::parse_failed_callback(app, &key) else {
                continue;
            };
            if rule.is_none_or(|r| r == of_rule) {
                out.push(decode(&key, &value)?);
            }
        }
        Ok(out)
    }

    async fn requeue_failed(
        &self,
        app: &str,
        rule: &str,
        position: u64,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let written: Result<_, StoreError> = async {
            let failed_tree = self.tree(keys::FAILED_CALLBACKS)?;
            let (pending, held, due) = self.outbox_trees()?;
            let failed_key = keys::failed_callback(app, position, rule);
            (&failed_tree, &pending, &held, &due)
                .transaction(|(f, p, h, d)| -> TxResult<bool> {
                    let Some(value) = f.get(failed_key.as_slice())? else {
                        return Ok(false);
                    };
                    let failed: FailedCallback = tx_decode(&failed_key, &value)?;
                    let again = PendingCallback {
                        event: failed.event,
                        budget_from_ms: now_ms,
                        next_attempt_ms: now_ms,
                        ..Default::default()
                    };
                    let receiver = again.order_key();
                    f.remove(failed_key.as_slice())?;
                    p.insert(
                        keys::outbox_pending(app, rule, &receiver, position),
                        again.encode_to_vec(),
                    )?;
                    if h.get(keys::outbox_held(app, rule, &receiver))?.is_none() {
                        make_due(h, d, app, rule, &receiver, now_ms)?;
                    }
                    Ok(true)
                })
                .map_err(StoreError::from)
        }
        .await;
        self.durably(written).await
    }

    async fn pause(&self, app: &str, rule: &str) -> Result<PauseRecord, StoreError> {
        let key = keys::outbox_rule(app, rule);
        match self.tree(keys::OUTBOX_PAUSES)?.get(&key)? {
            Some(v) => decode(&key, &v),
            None => Ok(PauseRecord::default()),
        }
    }

    async fn set_pause(&self, app: &str, rule: &str, pause: PauseRecord) -> Result<(), StoreError> {
        let written: Result<_, StoreError> = async {
            self.tree(keys::OUTBOX_PAUSES)?
                .insert(keys::outbox_rule(app, rule), pause.encode_to_vec())?;
            Ok(())
        }
        .await;
        self.durably(written).await
    }

    async fn set_cursor(&self, app: &str, rule: &str, position: u64) -> Result<(), StoreError> {
        let written: Result<_, StoreError> = async {
            self.tree(keys::OUTBOX_CURSORS)?
                .insert(keys::outbox_rule(app, rule), &position.to_be_bytes())?;
            Ok(())
        }
        .await;
        self.durably(written).await
    }

    async fn forget_cursor(&self, app: &str, rule: &str) -> Result<(), StoreError> {
        let written: Result<_, StoreError> = async {
            self.tree(keys::OUTBOX_CURSORS)?
                .remove(keys::outbox_rule(app, rule))?;
            Ok(())
        }
        .await;
        self.durably(written).await
    }

    async fn remove_rule(&self, app: &str, rule: &str) -> Result<(), StoreError> {
        let written: Result<_, StoreError> = async {
            self.forget_cursor(app, rule).await?;
            self.tree(keys::OUTBOX_PAUSES)?
                .remove(keys::outbox_rule(app, rule))?;
            let prefix = keys::outbox_rule_prefix(app, rule);
            for tree in [keys::OUTBOX_PENDING, keys::OUTBOX_HELD, keys::OUTBOX_DUE] {
                self.remove_prefix(tree, &prefix)?;
            }
            let failed = self.tree(keys::FAILED_CALLBACKS)?;
            for key in failed.scan_prefix(keys::app_prefix(app)).keys() {
                let key = key?;
                if keys::parse_failed_callback(app, &key).is_some_and(|(_, r)| r == rule) {
                    failed.remove(&key)?;
                }
            }
            Ok(())
        }
        .await;
        self.durably(written).await
    }
}
