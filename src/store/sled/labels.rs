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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::store::{AppRepository, sled::test_support::temp_store};

    fn label(name: &str) -> LabelRecord {
        LabelRecord {
            name: name.into(),
            create_time_ms: 1,
            ..Default::default()
        }
    }

    fn users(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    async fn count(s: &SledStore, app: &str, name: &str) -> u64 {
        s.get_label(app, name).await.unwrap().unwrap().user_count
    }

    async fn members(s: &SledStore, app: &str, name: &str) -> Vec<String> {
        s.list_label_users(app, name, None, 1000)
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.user)
            .collect()
    }

    #[tokio::test]
    async fn labels_limit_counts_the_app_only_and_refuses_duplicates() {
        let (_dir, s) = temp_store();

        s.create_label("o#a", label("x"), 2).await.unwrap();
        s.create_label("o#a", label("y"), 2).await.unwrap();
        // Another app's labels do not count, even one whose name extends this app's.
        s.create_label("o#ab", label("x"), 2).await.unwrap();
        assert!(matches!(
            s.create_label("o#a", label("x"), 5).await,
            Err(StoreError::AlreadyExists(_))
        ));
        assert!(matches!(
            s.create_label("o#a", label("z"), 2).await,
            Err(StoreError::LimitReached { limit: 2, .. })
        ));
        let names: Vec<String> = s
            .list_labels("o#a", None, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|l| l.name)
            .collect();
        assert_eq!(names, ["x", "y"]);
        let after_x = s.list_labels("o#a", Some("x"), 10).await.unwrap();
        assert_eq!(after_x.len(), 1);
        assert_eq!(after_x[0].name, "y");
    }

    #[tokio::test]
    async fn labels_with_a_common_prefix_keep_their_own_users() {
        let (_dir, s) = temp_store();
        s.create_label("o#a", label("a"), 10).await.unwrap();
        s.create_label("o#a", label("ab"), 10).await.unwrap();

        s.add_label_users("o#a", "a", &users(&["u1"]), 5, 10)
            .await
            .unwrap();
        s.add_label_users("o#a", "ab", &users(&["u2", "u3"]), 5, 10)
            .await
            .unwrap();
        assert_eq!(members(&s, "o#a", "a").await, ["u1"]);
        assert_eq!(members(&s, "o#a", "ab").await, ["u2", "u3"]);
        assert_eq!(s.delete_label("o#a", "a").await.unwrap(), Some(1));
        assert_eq!(members(&s, "o#a", "ab").await, ["u2", "u3"]);
        assert_eq!(count(&s, "o#a", "ab").await, 2);
        assert_eq!(s.delete_label("o#a", "a").await.unwrap(), None);
    }

    #[tokio::test]
    async fn labels_add_is_idempotent_and_all_or_nothing_at_the_limit() {
        let (_dir, s) = temp_store();
        s.create_label("o#a", label("l"), 10).await.unwrap();

        let added = s
            .add_label_users("o#a", "l", &users(&["u1", "u2", "u1"]), 5, 3)
            .await
            .unwrap();
        assert_eq!(added, 2);
        // Again, later: no new member, and the first add time stays.
        let added = s
            .add_label_users("o#a", "l", &users(&["u1"]), 9, 3)
            .await
            .unwrap();
        assert_eq!(added, 0);
        let u1 = s.get_label_user("o#a", "l", "u1").await.unwrap().unwrap();
        assert_eq!(u1.add_time_ms, 5);
        // Two new users do not fit into the one free place: neither is added.
        assert!(matches!(
            s.add_label_users("o#a", "l", &users(&["u1", "u3", "u4"]), 9, 3)
                .await,
            Err(StoreError::LimitReached { limit: 3, .. })
        ));
        assert_eq!(count(&s, "o#a", "l").await, 2);
        assert_eq!(members(&s, "o#a", "l").await, ["u1", "u2"]);
        assert!(!s.has_user("o#a", "u3").await.unwrap());
        // One new user does.
        s.add_label_users("o#a", "l", &users(&["u3"]), 9, 3)
            .await
            .unwrap();
        assert_eq!(count(&s, "o#a", "l").await, 3);
        assert!(matches!(
            s.add_label_users("o#a", "nope", &users(&["u1"]), 9, 3)
                .await,
            Err(StoreError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn labels_remove_counts_members_only() {
        let (_dir, s) = temp_store();
        s.create_label("o#a", label("l"), 10).await.unwrap();
        s.add_label_users("o#a", "l", &users(&["u1", "u2"]), 5, 10)
            .await
            .unwrap();

        let removed = s
            .remove_label_users("o#a", "l", &users(&["u1", "stranger", "u1"]))
            .await
            .unwrap();
        assert_eq!(removed, 1);
        assert_eq!(count(&s, "o#a", "l").await, 1);
        assert!(s.labels_of_user("o#a", "u1").await.unwrap().is_empty());
        assert!(matches!(
            s.remove_label_users("o#a", "nope", &users(&["u1"])).await,
            Err(StoreError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn labels_of_a_user_and_deleting_the_user() {
        let (_dir, s) = temp_store();
        for name in ["l1", "l2", "l3"] {
            s.create_label("o#a", label(name), 10).await.unwrap();
        }
        s.add_label_users("o#a", "l1", &users(&["u", "u2"]), 5, 10)
            .await
            .unwrap();
        s.add_label_users("o#a", "l3", &users(&["u"]), 5, 10)
            .await
            .unwrap();
        // The same user in another app is another user.
        s.create_label("o#b", label("l1"), 10).await.unwrap();
        s.add_label_users("o#b", "l1", &users(&["u"]), 5, 10)
            .await
            .unwrap();

        assert_eq!(s.labels_of_user("o#a", "u").await.unwrap(), ["l1", "l3"]);
        assert_eq!(s.labels_of_user("o#a", "u2").await.unwrap(), ["l1"]);
        assert!(s.has_user("o#a", "u").await.unwrap());
        assert!(!s.has_user("o#a", "u9").await.unwrap());

        assert_eq!(s.delete_user("o#a", "u").await.unwrap(), 2);
        assert_eq!(s.delete_user("o#a", "u").await.unwrap(), 0);
        assert!(!s.has_user("o#a", "u").await.unwrap());
        assert_eq!(count(&s, "o#a", "l1").await, 1);
        assert_eq!(count(&s, "o#a", "l3").await, 0);
        assert_eq!(members(&s, "o#a", "l1").await, ["u2"]);
        assert!(s.has_user("o#b", "u").await.unwrap());
        assert_eq!(count(&s, "o#b", "l1").await, 1);
    }

    #[tokio::test]
    async fn labels_users_of_several_labels_page_through_the_union() {
        let (_dir, s) = temp_store();
        s.create_label("o#a", label("x"), 10).await.unwrap();
        s.create_label("o#a", label("y"), 10).await.unwrap();
        s.add_label_users("o#a", "x", &users(&["a", "c", "e"]), 5, 10)
            .await
            .unwrap();
        s.add_label_users("o#a", "y", &users(&["b", "c", "d"]), 5, 10)
            .await
            .unwrap();
        let labels = users(&["x", "y", "x", "missing"]);

        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = s
                .users_of_labels("o#a", &labels, after.as_deref(), 2)
                .await
                .unwrap();
            if page.is_empty() {
                break;
            }
            assert!(page.len() <= 2);
            after = page.last().cloned();
            seen.extend(page);
        }
        assert_eq!(seen, ["a", "b", "c", "d", "e"]);
    }

    #[tokio::test]
    async fn labels_are_deleted_with_their_app() {
        let (_dir, s) = temp_store();
        s.create_label("o#a", label("l"), 10).await.unwrap();
        s.add_label_users("o#a", "l", &users(&["u"]), 5, 10)
            .await
            .unwrap();
        s.create_label("o#ab", label("l"), 10).await.unwrap();

        // The label, its membership and the by-user index entry.
        assert_eq!(s.delete_app("o#a").await.unwrap(), 3);
        assert!(s.get_label("o#a", "l").await.unwrap().is_none());
        assert!(!s.has_user("o#a", "u").await.unwrap());
        assert!(s.get_label("o#ab", "l").await.unwrap().is_some());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn labels_user_count_stays_exact_under_concurrent_writes() {
        let (_dir, s) = temp_store();
        let s = Arc::new(s);
        s.create_label("o#a", label("l"), 10).await.unwrap();

        let mut tasks = Vec::new();
        for t in 0..8 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                for round in 0..20 {
                    // Overlapping users, so adds and removes of the same member race each other.
                    let batch: Vec<String> = (0..5)
                        .map(|i| format!("u{}", (t + i + round) % 12))
                        .collect();
                    if (t + round) % 3 == 0 {
                        s.remove_label_users("o#a", "l", &batch).await.unwrap();
                    } else {
                        s.add_label_users("o#a", "l", &batch, 5, 1000)
                            .await
                            .unwrap();
                    }
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let listed = members(&s, "o#a", "l").await;
        assert_eq!(count(&s, "o#a", "l").await, listed.len() as u64);
        for user in &listed {
            assert_eq!(s.labels_of_user("o#a", user).await.unwrap(), ["l"]);
        }
    }
}
