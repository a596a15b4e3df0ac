//! sled implementation of [`BindingRepository`].
//!
//! A binding lives in `bindings` and in three indexes (device owner, by notifier, by token). Writes hold the
//! store's write lock while they read what they will change, then apply every change to the four trees in one
//! sled transaction, so a crash never leaves an index pointing at a missing binding.

use std::ops::Bound;

use async_trait::async_trait;
use prost::Message;
use sled::{Transactional, transaction::ConflictableTransactionError};

use super::keys;
use super::{SledStore, decode};
use crate::store::{
    BindEffect, BindOutcome, BindingCursor, BindingRecord, BindingRepository, StoreError,
};

struct Trees {
    bindings: sled::Tree,
    owners: sled::Tree,
    by_notifier: sled::Tree,
    by_token: sled::Tree,
}

/// Changes to apply in one transaction.
#[derive(Default)]
struct Changes {
    remove: Vec<BindingRecord>,
    put: Option<BindingRecord>,
    /// The token index entry of a binding whose token is being replaced.
    drop_token: Option<(String, String)>,
    /// Devices left without bindings: their owner entry goes.
    drop_owners: Vec<String>,
}

impl SledStore {
    fn binding_trees(&self) -> Result<Trees, StoreError> {
        Ok(Trees {
            bindings: self.tree(keys::BINDINGS)?,
            owners: self.tree(keys::DEVICE_OWNERS)?,
            by_notifier: self.tree(keys::NOTIFIER_BINDINGS)?,
            by_token: self.tree(keys::TOKEN_BINDINGS)?,
        })
    }
}

fn scan(tree: &sled::Tree, prefix: &[u8]) -> Result<Vec<BindingRecord>, StoreError> {
    tree.scan_prefix(prefix)
        .map(|entry| {
            let (k, v) = entry?;
            decode(&k, &v)
        })
        .collect()
}

fn apply(app: &str, t: &Trees, changes: &Changes) -> Result<(), StoreError> {
    (&t.bindings, &t.owners, &t.by_notifier, &t.by_token)
        .transaction(|(bindings, owners, by_notifier, by_token)| {
            for r in &changes.remove {
                bindings.remove(keys::binding(app, &r.user, &r.device_id, &r.notifier_name))?;
                by_notifier.remove(keys::notifier_binding(
                    app,
                    &r.notifier_name,
                    &r.user,
                    &r.device_id,
                ))?;
                by_token.remove(keys::token_binding(app, &r.notifier_name, &r.device_token))?;
            }
            if let Some((notifier, token)) = &changes.drop_token {
                by_token.remove(keys::token_binding(app, notifier, token))?;
            }
            for device in &changes.drop_owners {
                owners.remove(keys::device_owner(app, device))?;
            }
            if let Some(b) = &changes.put {
                bindings.insert(
                    keys::binding(app, &b.user, &b.device_id, &b.notifier_name),
                    b.encode_to_vec(),
                )?;
                owners.insert(keys::device_owner(app, &b.device_id), b.user.as_bytes())?;
                by_notifier.insert(
                    keys::notifier_binding(app, &b.notifier_name, &b.user, &b.device_id),
                    &[] as &[u8],
                )?;
                let mut holder = b.user.as_bytes().to_vec();
                holder.push(keys::SEP);
                holder.extend_from_slice(b.device_id.as_bytes());
                by_token.insert(
                    keys::token_binding(app, &b.notifier_name, &b.device_token),
                    holder,
                )?;
            }
            Ok::<(), ConflictableTransactionError<StoreError>>(())
        })
        .map_err(StoreError::from)
}

/// A page of records under `prefix`, continuing after `after` (a key without the app prefix).
fn page<T, F>(
    tree: &sled::Tree,
    app: &str,
    prefix: &[u8],
    after: Option<&BindingCursor>,
    limit: usize,
    mut load: F,
) -> Result<(Vec<T>, Option<BindingCursor>), StoreError>
where
    F: FnMut(&[u8], &[u8]) -> Result<Option<T>, StoreError>,
{
    let app_prefix = keys::app_prefix(app);
    let start = match after {
        Some(rest) => {
            let mut key = app_prefix.clone();
            key.extend_from_slice(rest.as_bytes());
            Bound::Excluded(key)
        }
        None => Bound::Included(prefix.to_vec()),
    };
    let mut out = Vec::new();
    let mut last: Option<Vec<u8>> = None;
    for entry in tree.range((start, Bound::Unbounded)) {
        let (k, v) = entry?;
        if !k.starts_with(prefix) {
            return Ok((out, None));
        }
        if out.len() == limit {
            // There is at least one more: the page ends at the last key taken.
            return Ok((
                out,
                last.map(|key| BindingCursor::from_bytes(key[app_prefix.len()..].to_vec())),
            ));
        }
        if let Some(item) = load(&k, &v)? {
            out.push(item);
        }
        last = Some(k.to_vec());
    }
    Ok((out, None))
}

#[async_trait]
impl BindingRepository for SledStore {
    async fn bind(
        &self,
        app: &str,
        binding: BindingRecord,
        max_per_user: usize,
    ) -> Result<BindOutcome, StoreError> {
        let written: Result<_, StoreError> = async {
            let _guard = self.limited_write()?;
            let t = self.binding_trees()?;
            let user = binding.user.as_str();
            let device = binding.device_id.as_str();
            let mut changes = Changes::default();
            let mut effect = None;

            let owner = t
                .owners
                .get(keys::device_owner(app, device))?
                .map(|v| String::from_utf8_lossy(&v).into_owned());
            if let Some(previous) = owner.filter(|o| o != user) {
                changes.remove = scan(
                    &t.bindings,
                    &keys::device_bindings_prefix(app, &previous, device),
                )?;
                effect = Some(BindEffect::Moved {
                    previous_user: previous,
                });
            }

            let key = keys::binding(app, user, device, &binding.notifier_name);
            let existing: Option<BindingRecord> = t
                .bindings
                .get(&key)?
                .map(|v| decode(&key, &v))
                .transpose()?;
            match &existing {
                Some(e) if e.device_token == binding.device_token => {
                    return Ok(BindOutcome {
                        effect: BindEffect::Unchanged,
                        removed: Vec::new(),
                    });
                }
                Some(e) => {
                    changes.drop_token = Some((e.notifier_name.clone(), e.device_token.clone()));
                    effect.get_or_insert(BindEffect::Updated);
                }
                None => {
                    effect.get_or_insert(BindEffect::Bound);
                }
            }

            // A token identifies one app install: bound elsewhere under the same notifier, it moves here.
            if let Some(holder) = t.by_token.get(keys::token_binding(
                app,
                &binding.notifier_name,
                &binding.device_token,
            ))? {
                let holder = String::from_utf8_lossy(&holder).into_owned();
                if let Some((u2, d2)) = holder.split_once(char::from(keys::SEP))
                    && (u2, d2) != (user, device)
                    && !changes
                        .remove
                        .iter()
                        .any(|r| r.user == u2 && r.device_id == d2)
                {
                    let k2 = keys::binding(app, u2, d2, &binding.notifier_name);
                    if let Some(v) = t.bindings.get(&k2)? {
                        let stolen: BindingRecord = decode(&k2, &v)?;
                        let left = t
                            .bindings
                            .scan_prefix(keys::device_bindings_prefix(app, u2, d2))
                            .count();
                        if left == 1 && d2 != device {
                            changes.drop_owners.push(d2.to_owned());
                        }
                        changes.remove.push(stolen);
                    }
                }
            }

            if existing.is_none() {
                let held = t
                    .bindings
                    .scan_prefix(keys::user_bindings_prefix(app, user))
                    .count();
                let leaving = changes.remove.iter().filter(|r| r.user == user).count();
                if held - leaving.min(held) >= max_per_user {
                    return Err(StoreError::LimitReached {
                        what: "bindings per user",
                        limit: max_per_user,
                    });
                }
            }

            let mut put = binding;
            if let Some(e) = &existing {
                put.create_time_ms = e.create_time_ms;
            }
            changes.put = Some(put);
            apply(app, &t, &changes)?;
            Ok(BindOutcome {
                effect: effect.unwrap_or(BindEffect::Bound),
                removed: changes.remove,
            })
        }
        .await;
        self.durably(written).await
    }

    async fn unbind(
        &self,
        app: &str,
        user: &str,
        device_id: &str,
        notifier: Option<&str>,
    ) -> Result<Vec<BindingRecord>, StoreError> {
        let written: Result<_, StoreError> = async {
            let _guard = self.limited_write()?;
            let t = self.binding_trees()?;
            let owner = t.owners.get(keys::device_owner(app, device_id))?;
            if owner.as_deref() != Some(user.as_bytes()) {
                return Ok(Vec::new());
            }
            let all = scan(
                &t.bindings,
                &keys::device_bindings_prefix(app, user, device_id),
            )?;
            let remove: Vec<BindingRecord> = all
                .iter()
                .filter(|b| notifier.is_none_or(|n| b.notifier_name == n))
                .cloned()
                .collect();
            if remove.is_empty() {
                return Ok(remove);
            }
            let mut changes = Changes {
                remove,
                ..Default::default()
            };
            if changes.remove.len() == all.len() {
                changes.drop_owners.push(device_id.to_owned());
            }
            apply(app, &t, &changes)?;
            Ok(changes.remove)
        }
        .await;
        self.durably(written).await
    }

    async fn user_bindings(
        &self,
        app: &str,
        user: &str,
        after: Option<&BindingCursor>,
        limit: usize,
    ) -> Result<(Vec<BindingRecord>, Option<BindingCursor>), StoreError> {
        let tree = self.tree(keys::BINDINGS)?;
        let prefix = keys::user_bindings_prefix(app, user);
        page(&tree, app, &prefix, after, limit, |k, v| {
            decode(k, v).map(Some)
        })
    }

    async fn app_bindings(
        &self,
        app: &str,
        after: Option<&BindingCursor>,
        limit: usize,
    ) -> Result<(Vec<BindingRecord>, Option<BindingCursor>), StoreError> {
        let tree = self.tree(keys::BINDINGS)?;
        let prefix = keys::app_prefix(app);
        page(&tree, app, &prefix, after, limit, |k, v| {
            decode(k, v).map(Some)
        })
    }

    async fn notifier_bindings(
        &self,
        app: &str,
        notifier: &str,
        after: Option<&BindingCursor>,
        limit: usize,
    ) -> Result<(Vec<BindingRecord>, Option<BindingCursor>), StoreError> {
        let index = self.tree(keys::NOTIFIER_BINDINGS)?;
        let bindings = self.tree(keys::BINDINGS)?;
        let prefix = keys::notifier_bindings_prefix(app, notifier);
        page(&index, app, &prefix, after, limit, |k, _| {
            let rest = &k[prefix.len()..];
            let text = String::from_utf8_lossy(rest);
            let Some((user, device)) = text.split_once(char::from(keys::SEP)) else {
                return Ok(None);
            };
            let key = keys::binding(app, user, device, notifier);
            bindings.get(&key)?.map(|v| decode(&key, &v)).transpose()
        })
    }

    async fn app_users(
        &self,
        app: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let tree = self.tree(keys::BINDINGS)?;
        let prefix = keys::app_prefix(app);
        let mut start = match after {
            Some(user) => keys::after_user_bindings(app, user),
            None => prefix.clone(),
        };
        let mut users = Vec::new();
        // One seek per user: after a user's first binding, jump past all of its bindings.
        while users.len() < limit {
            let Some(entry) = tree.range(start.clone()..).next() else {
                break;
            };
            let (key, _) = entry?;
            if !key.starts_with(&prefix) {
                break;
            }
            let rest = &key[prefix.len()..];
            let end = rest
                .iter()
                .position(|b| *b == keys::SEP)
                .unwrap_or(rest.len());
            let user = String::from_utf8_lossy(&rest[..end]).into_owned();
            start = keys::after_user_bindings(app, &user);
            users.push(user);
        }
        Ok(users)
    }

    async fn delete_user_bindings(&self, app: &str, user: &str) -> Result<u64, StoreError> {
        let written: Result<_, StoreError> = async {
            let _guard = self.limited_write()?;
            let t = self.binding_trees()?;
            let remove = scan(&t.bindings, &keys::user_bindings_prefix(app, user))?;
            let mut devices: Vec<String> = remove.iter().map(|b| b.device_id.clone()).collect();
            devices.dedup();
            let changes = Changes {
                drop_owners: devices,
                remove,
                ..Default::default()
            };
            apply(app, &t, &changes)?;
            Ok(changes.remove.len() as u64)
        }
        .await;
        self.durably(written).await
    }

    async fn has_bindings(&self, app: &str, user: &str) -> Result<bool, StoreError> {
        Ok(self
            .tree(keys::BINDINGS)?
            .scan_prefix(keys::user_bindings_prefix(app, user))
            .next()
            .transpose()?
            .is_some())
    }
}
