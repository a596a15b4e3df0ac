//! Device bindings with Easemob's semantics: bind, replace, move between users, unbind; and the users they
//! make exist.

use serde::{Deserialize, Serialize};

use crate::{
    clock::now_ms,
    proto::v1::Vendor,
    store::{BindEffect, BindingCursor, BindingRecord, Store, StoreError},
    tenant::check_user_id,
    validate::Violations,
};

/// Device bindings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DevicesConfig {
    /// Most bindings one user may hold.
    pub max_bindings_per_user: usize,
}

impl Default for DevicesConfig {
    fn default() -> Self {
        Self {
            max_bindings_per_user: 100,
        }
    }
}

/// Longest device id.
const MAX_DEVICE_ID: usize = 128;
/// Longest device token.
const MAX_TOKEN: usize = 4096;

/// Why a binding operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// The request breaks a rule.
    #[error("invalid request: {0}")]
    Invalid(Violations),
    /// The notifier to bind to does not exist.
    #[error("notifier {0} does not exist")]
    NoNotifier(String),
    /// The user holds the maximum number of bindings.
    #[error("a user may hold at most {limit} bindings")]
    LimitReached {
        /// The limit.
        limit: usize,
    },
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for DeviceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::LimitReached { limit, .. } => DeviceError::LimitReached { limit },
            e => DeviceError::Store(e),
        }
    }
}

/// What a bind request did.
#[derive(Debug, Clone)]
pub struct Bound {
    /// The effect; `None` means the request unbound (`removed` says what).
    pub effect: Option<BindEffect>,
    /// Bindings the call removed.
    pub removed: Vec<BindingRecord>,
    /// All of the user's bindings afterwards.
    pub bindings: Vec<BindingRecord>,
}

/// What `DeleteUser` removed, per kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserRemoval {
    /// Device bindings.
    pub bindings: u64,
    /// The user-level settings record (0 or 1).
    pub user_settings: u64,
    /// Per-conversation notification settings.
    pub conversation_settings: u64,
    /// Label memberships.
    pub label_memberships: u64,
    /// Pushes waiting in the user's own-channel inboxes.
    pub inbox_messages: u64,
}

/// Device bindings over the store.
#[derive(Clone)]
pub struct Devices {
    store: Store,
    max_bindings_per_user: usize,
}

impl Devices {
    /// Bindings kept in `store`, at most `max_bindings_per_user` per user.
    pub fn new(store: Store, max_bindings_per_user: usize) -> Self {
        Self {
            store,
            max_bindings_per_user,
        }
    }

    /// Binds, replaces or (with an empty token) unbinds, as Easemob's binding call does.
    pub async fn bind(
        &self,
        app: &str,
        user: &str,
        device_id: &str,
        device_token: &str,
        notifier_name: &str,
    ) -> Result<Bound, DeviceError> {
        if device_token.is_empty() {
            let (removed, bindings) = self.unbind(app, user, device_id, notifier_name).await?;
            return Ok(Bound {
                effect: None,
                removed,
                bindings,
            });
        }
        let mut v = Violations::new();
        v.check("user", check_user_id(user));
        v.check("device_id", check_device_id(device_id));
        v.check("notifier_name", crate::notifier::check_name(notifier_name));
        v.check("device_token", check_token(device_token));
        v.clone().into_result().map_err(DeviceError::Invalid)?;
        let notifier = self
            .store
            .notifiers
            .get_notifier(app, notifier_name)
            .await?
            .ok_or_else(|| DeviceError::NoNotifier(notifier_name.to_owned()))?;
        let vendor = notifier.vendor();
        let token = if vendor == Vendor::Apns as i32 {
            if !device_token.len().is_multiple_of(2)
                || !device_token.chars().all(|c| c.is_ascii_hexdigit())
            {
                v.add(
                    "device_token",
                    "an APNs token is an even number of hex digits",
                );
            }
            device_token.to_ascii_lowercase()
        } else {
            device_token.to_owned()
        };
        v.into_result().map_err(DeviceError::Invalid)?;
        let now = now_ms();
        let outcome = self
            .store
            .bindings
            .bind(
                app,
                BindingRecord {
                    user: user.to_owned(),
                    device_id: device_id.to_owned(),
                    device_token: token,
                    notifier_name: notifier_name.to_owned(),
                    vendor,
                    create_time_ms: now,
                    update_time_ms: now,
                },
                self.max_bindings_per_user,
            )
            .await?;
        Ok(Bound {
            effect: Some(outcome.effect),
            removed: outcome.removed,
            bindings: self.all_of(app, user).await?,
        })
    }

    /// Removes one binding of a device, or all of them; returns the removed ones and what is left.
    pub async fn unbind(
        &self,
        app: &str,
        user: &str,
        device_id: &str,
        notifier_name: &str,
    ) -> Result<(Vec<BindingRecord>, Vec<BindingRecord>), DeviceError> {
        let mut v = Violations::new();
        v.check("user", check_user_id(user));
        v.check("device_id", check_device_id(device_id));
        if !notifier_name.is_empty() {
            v.check("notifier_name", crate::notifier::check_name(notifier_name));
        }
        v.into_result().map_err(DeviceError::Invalid)?;
        let notifier = (!notifier_name.is_empty()).then_some(notifier_name);
        let removed = self
            .store
            .bindings
            .unbind(app, user, device_id, notifier)
            .await?;
        Ok((removed, self.all_of(app, user).await?))
    }

    /// A page of a user's bindings.
    pub async fn list(
        &self,
        app: &str,
        user: &str,
        after: Option<&BindingCursor>,
        limit: usize,
    ) -> Result<(Vec<BindingRecord>, Option<BindingCursor>), DeviceError> {
        check_user_id(user).map_err(|e| DeviceError::Invalid(Violations::single("user", e)))?;
        Ok(self
            .store
            .bindings
            .user_bindings(app, user, after, limit)
            .await?)
    }

    /// Removes what is recorded for a user: bindings, settings, label memberships and the own channel's
    /// inbox entries and device records (the same store call as `Channel::delete_user`).
    pub async fn delete_user(&self, app: &str, user: &str) -> Result<UserRemoval, DeviceError> {
        check_user_id(user).map_err(|e| DeviceError::Invalid(Violations::single("user", e)))?;
        let (user_settings, conversation_settings) =
            self.store.user_settings.delete_user(app, user).await?;
        Ok(UserRemoval {
            bindings: self.store.bindings.delete_user_bindings(app, user).await?,
            user_settings,
            conversation_settings,
            label_memberships: self.store.labels.delete_user(app, user).await?,
            inbox_messages: self.store.inbox.delete_user_inbox(app, user).await?,
        })
    }

    /// Whether anything is recorded for the user (the send path reports `no user exist` otherwise); a
    /// device that subscribed to the own channel as the user counts.
    pub async fn user_exists(&self, app: &str, user: &str) -> Result<bool, DeviceError> {
        Ok(self.store.bindings.has_bindings(app, user).await?
            || self.store.labels.has_user(app, user).await?
            || self.store.user_settings.has_user(app, user).await?
            || self.store.inbox.has_channel_devices(app, user).await?)
    }

    async fn all_of(&self, app: &str, user: &str) -> Result<Vec<BindingRecord>, DeviceError> {
        // A user holds at most `max_bindings_per_user` bindings, so one page holds them all.
        let limit = self.max_bindings_per_user.max(1) + 1;
        Ok(self
            .store
            .bindings
            .user_bindings(app, user, None, limit)
            .await?
            .0)
    }
}

/// Device ids: 1..128 printable ASCII characters, no spaces.
fn check_device_id(id: &str) -> Result<(), String> {
    check_device_id_chars(id, MAX_DEVICE_ID)
}

/// The device-id alphabet (printable ASCII without spaces) at 1..`max` characters; the own channel uses it
/// with its own length.
pub fn check_device_id_chars(id: &str, max: usize) -> Result<(), String> {
    crate::validate::name_chars(
        id,
        max,
        |c| c.is_ascii_graphic(),
        "printable ASCII characters without spaces",
    )
}

/// Tokens: at most 4096 printable ASCII characters (the caller sends the vendor's token as it is).
fn check_token(token: &str) -> Result<(), String> {
    crate::validate::name_chars(
        token,
        MAX_TOKEN,
        |c| c.is_ascii_graphic(),
        "printable ASCII characters without spaces",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_ids_and_tokens() {
        assert!(check_device_id("ios-2f9c").is_ok());
        assert!(check_device_id("").is_err());
        assert!(check_device_id("a b").is_err());
        assert!(check_device_id(&"d".repeat(129)).is_err());
        assert!(check_token(&"a".repeat(4096)).is_ok());
        assert!(check_token(&"a".repeat(4097)).is_err());
        assert!(check_token("tok\u{e9}").is_err());
    }

    #[tokio::test]
    async fn a_user_exists_once_anything_is_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::sled_for_tests(dir.path());
        let devices = Devices::new(store.clone(), 10);
        let exists = |user: &'static str| {
            let devices = devices.clone();
            async move { devices.user_exists("o#a", user).await.unwrap() }
        };
        assert!(!exists("by-binding").await);
        let binding = BindingRecord {
            user: "by-binding".into(),
            device_id: "d".into(),
            device_token: "t".into(),
            notifier_name: "n".into(),
            ..Default::default()
        };
        store.bindings.bind("o#a", binding, 10).await.unwrap();
        assert!(exists("by-binding").await);

        store
            .user_settings
            .set_nicknames("o#a", &[("by-setting".into(), "Nick".into())], 1)
            .await
            .unwrap();
        assert!(exists("by-setting").await);

        let label = crate::store::labels::LabelRecord {
            name: "l".into(),
            ..Default::default()
        };
        store.labels.create_label("o#a", label, 10).await.unwrap();
        store
            .labels
            .add_label_users("o#a", "l", &["by-label".into()], 1, 10)
            .await
            .unwrap();
        assert!(exists("by-label").await);
        assert!(!exists("nobody").await);
        assert!(
            !devices.user_exists("o#b", "by-label").await.unwrap(),
            "per app"
        );

        devices.delete_user("o#a", "by-label").await.unwrap();
        assert!(!exists("by-label").await, "deleted users no longer exist");

        store
            .inbox
            .record_channel_device("o#a", "by-channel", "d", 1)
            .await
            .unwrap();
        assert!(exists("by-channel").await);
        let entry = crate::store::InboxEntry {
            user: "by-channel".into(),
            device_id: "d".into(),
            message_id: "m".into(),
            purge_at_ms: i64::MAX,
            ..Default::default()
        };
        store.inbox.append("o#a", &entry, 10).await.unwrap();
        let removed = devices.delete_user("o#a", "by-channel").await.unwrap();
        assert_eq!(removed.inbox_messages, 1);
        assert!(!exists("by-channel").await);
    }
}
