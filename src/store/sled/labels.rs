//! sled implementation of [`LabelRepository`].
//!
//! Three trees: the labels (with their user counts), the memberships by label and the same memberships by
//! user. Every write that touches more than one of them runs in one sled transaction, so a crash never leaves
//! a count or an index out of step with the memberships. Writers also hold the store's `limited_write` lock:
//! the prefix scans that precede a transaction (counting labels, listing a label's members) cannot run inside
//! one, and the lock keeps what they saw true until the transaction commits.

use std::{collections::BTreeSet, ops::Bound};

use async_trait::async_trait;
use prost::Message;
use sled::{
    IVec, Transactional,
    transaction::{ConflictableTransactionError, ConflictableTransactionResult},
};

use super::keys;
use super::{SledStore, decode, tx_decode};
use crate::store::{LabelRecord, LabelRepository, LabelUserRecord, StoreError, UserLabelRecord};

/// The entries under `prefix`, strictly after `prefix + after` when `after` is given, in key order.
fn scan_after(
    tree: &sled::Tree,
    prefix: Vec<u8>,
    after: Option<&str>,
) -> impl Iterator<Item = sled::Result<(IVec, IVec)>> {
    let start = match after {
        Some(after) => {
            let mut key = prefix.clone();
            key.extend_from_slice(after.as_bytes());
            Bound::Excluded(key)
        }
        None => Bound::Included(prefix.clone()),
    };
    // Errors pass through so the caller's `collect` reports them instead of stopping short silently.
    tree.range((start, Bound::Unbounded))
        .take_while(move |entry| entry.as_ref().map_or(true, |(k, _)| k.starts_with(&prefix)))
}

/// The name a key holds after `prefix` (a user of a label, or a label of a user).
fn name_after(prefix: &[u8], key: &[u8]) -> Result<String, StoreError> {
    key.strip_prefix(prefix)
        .and_then(|rest| std::str::from_utf8(rest).ok())
        .map(str::to_owned)
        .ok_or_else(|| StoreError::Corrupt {
            key: String::from_utf8_lossy(key).replace('\0', "/"),
            reason: "key does not end in a UTF-8 name".into(),
        })
}

impl SledStore {
    /// The three label trees, in the order every transaction over them uses.
    fn label_trees(&self) -> Result<(sled::Tree, sled::Tree, sled::Tree), StoreError> {
        Ok((
            self.tree(keys::LABELS)?,
            self.tree(keys::LABEL_USERS)?,
            self.tree(keys::USER_LABELS)?,
        ))
    }

    /// The names under `prefix` in `tree`, in key order.
    fn names_under(&self, tree: &sled::Tree, prefix: &[u8]) -> Result<Vec<String>, StoreError> {
        tree.scan_prefix(prefix)
            .keys()
            .map(|key| name_after(prefix, &key?))
            .collect()
    }
}

#[async_trait]
impl LabelRepository for SledStore {
    async fn create_label(
        &self,
        app: &str,
        label: LabelRecord,
        max_labels: usize,
    ) -> Result<(), StoreError> {
        let written: Result<_, StoreError> = async {
            let _guard = self.limited_write()?;
            let tree = self.tree(keys::LABELS)?;
            let key = keys::label(app, &label.name);
            if tree.contains_key(&key)? {
                return Err(StoreError::AlreadyExists(format!("label {}", label.name)));
            }
            if tree.scan_prefix(keys::app_prefix(app)).count() >= max_labels {
                return Err(StoreError::LimitReached {
                    what: "labels",
                    limit: max_labels,
                });
            }
            tree.insert(key, label.encode_to_vec())?;
            Ok(())
        }
        .await;
        self.durably(written).await
    }

    async fn get_label(&self, app: &str, name: &str) -> Result<Option<LabelRecord>, StoreError> {
        let key = keys::label(app, name);
        self.tree(keys::LABELS)?
            .get(&key)?
            .map(|v| decode(&key, &v))
            .transpose()
    }

    async fn list_labels(
        &self,
        app: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<LabelRecord>, StoreError> {
        scan_after(&self.tree(keys::LABELS)?, keys::app_prefix(app), after)
            .take(limit)
            .map(|entry| {
                let (k, v) = entry?;
                decode(&k, &v)
            })
            .collect()
    }

    async fn delete_label(&self, app: &str, name: &str) -> Result<Option<u64>, StoreError> {
        let written: Result<_, StoreError> = async {
            let _guard = self.limited_write()?;
            let (labels, label_users, user_labels) = self.label_trees()?;
            let label_key = keys::label(app, name);
            if !labels.contains_key(&label_key)? {
                return Ok(None);
            }
            let members = self.names_under(&label_users, &keys::label_users_prefix(app, name))?;
            (&labels, &label_users, &user_labels)
                .transaction(
                    |(l, lu, ul)| -> ConflictableTransactionResult<(), StoreError> {
                        l.remove(label_key.as_slice())?;
                        for user in &members {
                            lu.remove(keys::label_user(app, name, user))?;
                            ul.remove(keys::user_label(app, user, name))?;
                        }
                        Ok(())
                    },
                )
                .map_err(StoreError::from)?;
            Ok(Some(members.len() as u64))
        }
        .await;
        self.durably(written).await
    }

    async fn add_label_users(
        &self,
        app: &str,
        label: &str,
        users: &[String],
        add_time_ms: i64,
        max_users: usize,
    ) -> Result<u64, StoreError> {
        let written: Result<_, StoreError> = async {
            let _guard = self.limited_write()?;
            let (labels, label_users, user_labels) = self.label_trees()?;
            let label_key = keys::label(app, label);
            (&labels, &label_users, &user_labels)
                .transaction(
                    |(l, lu, ul)| -> ConflictableTransactionResult<u64, StoreError> {
                        let Some(bytes) = l.get(&label_key)? else {
                            return Err(ConflictableTransactionError::Abort(StoreError::NotFound(
                                format!("label {label}"),
                            )));
                        };
                        let mut record: LabelRecord = tx_decode(&label_key, &bytes)?;
                        let mut added = 0u64;
                        for user in users {
                            let key = keys::label_user(app, label, user);
                            // Reads see this transaction's own writes, so a user listed twice is added once.
                            if lu.get(&key)?.is_some() {
                                continue;
                            }
                            let member = LabelUserRecord {
                                user: user.clone(),
                                add_time_ms,
                            };
                            lu.insert(key, member.encode_to_vec())?;
                            let index = UserLabelRecord {
                                label: label.to_owned(),
                                add_time_ms,
                            };
                            ul.insert(keys::user_label(app, user, label), index.encode_to_vec())?;
                            added += 1;
                        }
                        if added == 0 {
                            return Ok(0);
                        }
                        // Checked after the fact because only the writes tell which users are new; the abort
                        // discards them all, so a refused call adds no one.
                        if record.user_count + added > max_users as u64 {
                            return Err(ConflictableTransactionError::Abort(
                                StoreError::LimitReached {
                                    what: "label users",
                                    limit: max_users,
                                },
                            ));
                        }
                        record.user_count += added;
                        l.insert(label_key.as_slice(), record.encode_to_vec())?;
                        Ok(added)
                    },
                )
                .map_err(StoreError::from)
        }
        .await;
        self.durably(written).await
    }

    async fn remove_label_users(
        &self,
        app: &str,
        label: &str,
        users: &[String],
    ) -> Result<u64, StoreError> {
        let written: Result<_, StoreError> = async {
            let _guard = self.limited_write()?;
            let (labels, label_users, user_labels) = self.label_trees()?;
            let label_key = keys::label(app, label);
            (&labels, &label_users, &user_labels)
                .transaction(
                    |(l, lu, ul)| -> ConflictableTransactionResult<u64, StoreError> {
                        let Some(bytes) = l.get(&label_key)? else {
                            return Err(ConflictableTransactionError::Abort(StoreError::NotFound(
                                format!("label {label}"),
                            )));
                        };
                        let mut record: LabelRecord = tx_decode(&label_key, &bytes)?;
                        let mut removed = 0u64;
                        for user in users {
                            if lu.remove(keys::label_user(app, label, user))?.is_some() {
                                ul.remove(keys::user_label(app, user, label))?;
                                removed += 1;
                            }
                        }
                        if removed > 0 {
                            record.user_count = record.user_count.saturating_sub(removed);
                            l.insert(label_key.as_slice(), record.encode_to_vec())?;
                        }
                        Ok(removed)
                    },
                )
                .map_err(StoreError::from)
        }
        .await;
        self.durably(written).await
    }

    async fn get_label_user(
        &self,
        app: &str,
        label: &str,
        user: &str,
    ) -> Result<Option<LabelUserRecord>, StoreError> {
        let key = keys::label_user(app, label, user);
        self.tree(keys::LABEL_USERS)?
            .get(&key)?
            .map(|v| decode(&key, &v))
            .transpose()
    }

    async fn list_label_users(
        &self,
        app: &str,
        label: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<LabelUserRecord>, StoreError> {
        let tree = self.tree(keys::LABEL_USERS)?;
        scan_after(&tree, keys::label_users_prefix(app, label), after)
            .take(limit)
            .map(|entry| {
                let (k, v) = entry?;
                decode(&k, &v)
            })
            .collect()
    }

    async fn users_of_labels(
        &self,
        app: &str,
        labels: &[String],
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let tree = self.tree(keys::LABEL_USERS)?;
        let distinct: BTreeSet<&String> = labels.iter().collect();
        // The first `limit` users of the union are among the first `limit` of each label, so reading that
        // many per label is enough; memory stays bounded by labels × limit.
        let mut users = BTreeSet::new();
        for label in distinct {
            let prefix = keys::label_users_prefix(app, label);
            for entry in scan_after(&tree, prefix.clone(), after).take(limit) {
                let (k, _) = entry?;
                users.insert(name_after(&prefix, &k)?);
            }
        }
        Ok(users.into_iter().take(limit).collect())
    }

    async fn labels_of_user(&self, app: &str, user: &str) -> Result<Vec<String>, StoreError> {
        let tree = self.tree(keys::USER_LABELS)?;
        self.names_under(&tree, &keys::user_labels_prefix(app, user))
    }

    async fn delete_user(&self, app: &str, user: &str) -> Result<u64, StoreError> {
        let written: Result<_, StoreError> = async {
            let _guard = self.limited_write()?;
            let (labels, label_users, user_labels) = self.label_trees()?;
            let of_user = self.names_under(&user_labels, &keys::user_labels_prefix(app, user))?;
            if of_user.is_empty() {
                return Ok(0);
            }
            (&labels, &label_users, &user_labels)
                .transaction(
                    |(l, lu, ul)| -> ConflictableTransactionResult<u64, StoreError> {
                        let mut removed = 0u64;
                        for label in &of_user {
                            ul.remove(keys::user_label(app, user, label))?;
                            if lu.remove(keys::label_user(app, label, user))?.is_none() {
                                continue;
                            }
                            removed += 1;
                            let label_key = keys::label(app, label);
                            if let Some(bytes) = l.get(&label_key)? {
                                let mut record: LabelRecord = tx_decode(&label_key, &bytes)?;
                                record.user_count = record.user_count.saturating_sub(1);
                                l.insert(label_key, record.encode_to_vec())?;
                            }
                        }
                        Ok(removed)
                    },
                )
                .map_err(StoreError::from)
        }
        .await;
        self.durably(written).await
    }

    async fn has_user(&self, app: &str, user: &str) -> Result<bool, StoreError> {
        Ok(self
            .tree(keys::USER_LABELS)?
            .scan_prefix(keys::user_labels_prefix(app, user))
            .next()
            .transpose()?
            .is_some())
    }
}
