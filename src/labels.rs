//! Push labels: named groups of an app's users that label tasks push to (Easemob's 推送标签).
//!
//! Here are the rules — names, descriptions, the configured limits, the per-user results of membership
//! changes; the records live behind the store's [`LabelRepository`](crate::store::LabelRepository), which keeps
//! the user counts exact.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::{
    clock::now_ms,
    store::{LabelRecord, LabelUserRecord, Store, StoreError},
    tenant::check_user_id,
    validate::{Violations, max_chars, name_chars},
};

/// Limits of push labels.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LabelsConfig {
    /// Labels an app may have.
    pub max_labels_per_app: usize,
    /// Users one label may hold.
    pub max_users_per_label: usize,
    /// Distinct users one `AddLabelUsers` or `RemoveLabelUsers` call may name.
    pub max_users_per_call: usize,
}

impl Default for LabelsConfig {
    fn default() -> Self {
        Self {
            max_labels_per_app: 100,
            max_users_per_label: 20_000,
            max_users_per_call: 100,
        }
    }
}

/// Longest label name, in characters.
pub const MAX_NAME: usize = 64;
/// Longest label description, in characters.
pub const MAX_DESCRIPTION: usize = 255;

/// Why a label operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LabelError {
    /// The request breaks a field rule or a per-call limit; nothing was written.
    #[error("invalid request: {0}")]
    Invalid(Violations),
    /// No label of this name in the app.
    #[error("label {0} not found")]
    NotFound(String),
    /// The user is not a member of the label.
    #[error("user {user} is not a member of label {label}")]
    UserNotFound {
        /// The label.
        label: String,
        /// The user.
        user: String,
    },
    /// A label of this name exists already.
    #[error("label {0} already exists")]
    Exists(String),
    /// The app has its maximum number of labels.
    #[error("an app may have at most {limit} labels")]
    TooManyLabels {
        /// The limit.
        limit: usize,
    },
    /// The users new to the label would take it past its maximum; none was added.
    #[error("label {label} may hold at most {limit} users")]
    LabelFull {
        /// The label.
        label: String,
        /// The limit.
        limit: usize,
    },
    /// A label task that has not ended pushes to the label.
    #[error(
        "label {label} is used by task {task}, which has not ended; cancel it or wait for it to end"
    )]
    InUse {
        /// The label.
        label: String,
        /// The task.
        task: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why one user of an add or remove call was not handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserFailure {
    /// The user id breaks the user id rule.
    InvalidUser,
}

/// The per-user outcome of adding users to or removing them from a label.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsersOutcome {
    /// Users in the state asked for (members after an add, non-members after a remove), in request order.
    pub success: Vec<String>,
    /// Users that were not handled, with the reason, in request order.
    pub fail: Vec<(String, UserFailure)>,
    /// How many of `success` this call changed: new members of an add, ended memberships of a remove.
    pub changed: u64,
}

/// Push labels over the store, with the configured limits.
#[derive(Clone)]
pub struct Labels {
    store: Store,
    limits: LabelsConfig,
}

impl Labels {
    /// Labels kept in `store`, bounded by `limits`.
    pub fn new(store: Store, limits: LabelsConfig) -> Self {
        Self { store, limits }
    }

    /// Creates an empty label.
    pub async fn create(
        &self,
        app: &str,
        name: &str,
        description: &str,
    ) -> Result<LabelRecord, LabelError> {
        let mut v = Violations::new();
        v.check("name", check_label_name(name));
        v.check("description", max_chars(description, MAX_DESCRIPTION));
        v.into_result().map_err(LabelError::Invalid)?;
        let record = LabelRecord {
            name: name.to_owned(),
            description: description.to_owned(),
            create_time_ms: now_ms(),
            user_count: 0,
        };
        self.store
            .labels
            .create_label(app, record.clone(), self.limits.max_labels_per_app)
            .await
            .map_err(|e| match e {
                StoreError::AlreadyExists(_) => LabelError::Exists(name.to_owned()),
                StoreError::LimitReached { limit, .. } => LabelError::TooManyLabels { limit },
                e => e.into(),
            })?;
        Ok(record)
    }

    /// One label with its user count.
    pub async fn get(&self, app: &str, name: &str) -> Result<LabelRecord, LabelError> {
        valid_label("name", name)?;
        self.store
            .labels
            .get_label(app, name)
            .await?
            .ok_or_else(|| LabelError::NotFound(name.to_owned()))
    }

    /// Up to `limit` labels in name order after `after`.
    pub async fn list(
        &self,
        app: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<LabelRecord>, LabelError> {
        Ok(self.store.labels.list_labels(app, after, limit).await?)
    }

    /// Deletes a label with its memberships; returns how many memberships went.
    pub async fn delete(&self, app: &str, name: &str) -> Result<u64, LabelError> {
        valid_label("name", name)?;
        // A scheduled or running label task still pages through the label's users.
        if let Some((_, task)) = self
            .store
            .tasks
            .open_tasks()
            .await?
            .into_iter()
            .find(|(a, t)| a == app && t.labels.iter().any(|l| l == name))
        {
            return Err(LabelError::InUse {
                label: name.to_owned(),
                task: task.id,
            });
        }
        self.store
            .labels
            .delete_label(app, name)
            .await?
            .ok_or_else(|| LabelError::NotFound(name.to_owned()))
    }

    /// Adds users to a label: invalid user ids are reported one by one, the valid ones are added together or,
    /// when they would overfill the label, not at all.
    pub async fn add_users(
        &self,
        app: &str,
        label: &str,
        users: &[String],
    ) -> Result<UsersOutcome, LabelError> {
        let mut outcome = self.judge_users(label, users)?;
        outcome.changed = self
            .store
            .labels
            .add_label_users(
                app,
                label,
                &outcome.success,
                now_ms(),
                self.limits.max_users_per_label,
            )
            .await
            .map_err(|e| match e {
                StoreError::NotFound(_) => LabelError::NotFound(label.to_owned()),
                StoreError::LimitReached { limit, .. } => LabelError::LabelFull {
                    label: label.to_owned(),
                    limit,
                },
                e => e.into(),
            })?;
        Ok(outcome)
    }

    /// Removes users from a label; users that were no members count as removed, and `changed` tells how many
    /// were.
    pub async fn remove_users(
        &self,
        app: &str,
        label: &str,
        users: &[String],
    ) -> Result<UsersOutcome, LabelError> {
        let mut outcome = self.judge_users(label, users)?;
        outcome.changed = self
            .store
            .labels
            .remove_label_users(app, label, &outcome.success)
            .await
            .map_err(|e| match e {
                StoreError::NotFound(_) => LabelError::NotFound(label.to_owned()),
                e => e.into(),
            })?;
        Ok(outcome)
    }

    /// One user's membership of a label.
    pub async fn get_user(
        &self,
        app: &str,
        label: &str,
        user: &str,
    ) -> Result<LabelUserRecord, LabelError> {
        let mut v = Violations::new();
        v.check("label", check_label_name(label));
        v.check("user", check_user_id(user));
        v.into_result().map_err(LabelError::Invalid)?;
        if let Some(member) = self.store.labels.get_label_user(app, label, user).await? {
            return Ok(member);
        }
        // Only on a miss, so the common answer costs one read; the caller learns which of the two is missing.
        if self.store.labels.get_label(app, label).await?.is_none() {
            return Err(LabelError::NotFound(label.to_owned()));
        }
        Err(LabelError::UserNotFound {
            label: label.to_owned(),
            user: user.to_owned(),
        })
    }

    /// Up to `limit` members of a label in user id order after user `after`.
    pub async fn list_users(
        &self,
        app: &str,
        label: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<LabelUserRecord>, LabelError> {
        valid_label("label", label)?;
        // An unknown label is NOT_FOUND rather than an empty page, so a typo does not look like "no users".
        if self.store.labels.get_label(app, label).await?.is_none() {
            return Err(LabelError::NotFound(label.to_owned()));
        }
        Ok(self
            .store
            .labels
            .list_label_users(app, label, after, limit)
            .await?)
    }

    /// Checks the call as a whole (label name, number of users), then splits its distinct users, in request
    /// order, into valid ones (as `success`, for the store to act on) and failures.
    fn judge_users(&self, label: &str, users: &[String]) -> Result<UsersOutcome, LabelError> {
        let mut seen = HashSet::new();
        let distinct: Vec<&String> = users.iter().filter(|u| seen.insert(*u)).collect();
        let max = self.limits.max_users_per_call;
        let mut v = Violations::new();
        v.check("label", check_label_name(label));
        if distinct.is_empty() {
            v.add("users", format!("is required: name 1 to {max} users"));
        } else if distinct.len() > max {
            v.add(
                "users",
                format!(
                    "names {} distinct users; at most {max} are allowed per call",
                    distinct.len()
                ),
            );
        }
        v.into_result().map_err(LabelError::Invalid)?;
        let mut outcome = UsersOutcome::default();
        for user in distinct {
            match check_user_id(user) {
                Ok(()) => outcome.success.push(user.clone()),
                Err(_) => outcome.fail.push((user.clone(), UserFailure::InvalidUser)),
            }
        }
        Ok(outcome)
    }
}

/// Label names are 1..64 characters of `[a-zA-Z0-9_.-]`, case-sensitive.
pub fn check_label_name(name: &str) -> Result<(), String> {
    name_chars(
        name,
        MAX_NAME,
        |c| c.is_ascii_alphanumeric() || "_.-".contains(c),
        "letters, digits, '_', '.' and '-'",
    )
}

/// `Invalid` naming `field` unless `name` is a label name.
fn valid_label(field: &str, name: &str) -> Result<(), LabelError> {
    check_label_name(name).map_err(|e| LabelError::Invalid(Violations::single(field, e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(max_users_per_call: usize) -> (tempfile::TempDir, Labels) {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::sled_for_tests(dir.path());
        let limits = LabelsConfig {
            max_labels_per_app: 2,
            max_users_per_label: 3,
            max_users_per_call,
        };
        (dir, Labels::new(store, limits))
    }

    fn users(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    fn fields(e: LabelError) -> Vec<String> {
        match e {
            LabelError::Invalid(v) => v.list().iter().map(|f| f.field.clone()).collect(),
            e => panic!("expected invalid, got {e:?}"),
        }
    }

    #[test]
    fn labels_names_follow_the_alphabet() {
        for ok in ["a", "A-b_c.d", "0", &"x".repeat(64)] {
            assert!(check_label_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a b", "a/b", "a#b", "ä", "a\0b", &"x".repeat(65)] {
            assert!(check_label_name(bad).is_err(), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn labels_calls_are_judged_whole_then_user_by_user() {
        let (_dir, l) = labels(2);
        l.create("o#a", "l", "").await.unwrap();

        let e = l.add_users("o#a", "bad name", &[]).await.unwrap_err();
        assert_eq!(fields(e), ["label", "users"]);
        let e = l
            .add_users("o#a", "l", &users(&["a", "b", "c"]))
            .await
            .unwrap_err();
        assert_eq!(fields(e), ["users"]);
        // A user listed twice counts once; a bad id is reported, not fatal.
        let out = l
            .add_users("o#a", "l", &users(&["a", "bad user", "a"]))
            .await
            .unwrap();
        assert_eq!(out.success, ["a"]);
        assert_eq!(
            out.fail,
            [("bad user".to_string(), UserFailure::InvalidUser)]
        );
        assert!(matches!(
            l.add_users("o#a", "none", &users(&["a"])).await,
            Err(LabelError::NotFound(_))
        ));
        assert_eq!(l.get("o#a", "l").await.unwrap().user_count, 1);
    }

    #[tokio::test]
    async fn labels_limits_map_to_their_errors() {
        let (_dir, l) = labels(10);
        l.create("o#a", "x", "").await.unwrap();
        l.create("o#a", "y", "").await.unwrap();
        assert!(matches!(
            l.create("o#a", "z", "").await,
            Err(LabelError::TooManyLabels { limit: 2 })
        ));
        assert!(matches!(
            l.create("o#a", "x", "").await,
            Err(LabelError::Exists(_))
        ));
        let e = l
            .create("o#a", "", &"d".repeat(MAX_DESCRIPTION + 1))
            .await
            .unwrap_err();
        assert_eq!(fields(e), ["name", "description"]);
        assert!(matches!(
            l.add_users("o#a", "x", &users(&["a", "b", "c", "d"])).await,
            Err(LabelError::LabelFull { limit: 3, .. })
        ));
        assert_eq!(l.get("o#a", "x").await.unwrap().user_count, 0);
    }

    #[tokio::test]
    async fn labels_membership_misses_say_what_is_missing() {
        let (_dir, l) = labels(10);
        l.create("o#a", "x", "").await.unwrap();
        assert!(matches!(
            l.get_user("o#a", "x", "u").await,
            Err(LabelError::UserNotFound { .. })
        ));
        assert!(matches!(
            l.get_user("o#a", "y", "u").await,
            Err(LabelError::NotFound(_))
        ));
        let e = l.get_user("o#a", "x", "").await.unwrap_err();
        assert_eq!(fields(e), ["user"]);
        assert!(matches!(
            l.list_users("o#a", "y", None, 10).await,
            Err(LabelError::NotFound(_))
        ));
    }
}
