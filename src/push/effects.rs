//! What a vendor's answer changes beside the outcome: an invalid token unbinds its binding, refused
//! credentials ban the notifier.

use super::engine::Pusher;
use crate::{proto::v1::Notifier, store::BindingRecord};

impl Pusher {
    /// Removes a binding whose token the vendor called invalid, unless it was re-bound with another token
    /// since; answers whether it was removed.
    pub(super) async fn unbind(&self, app: &str, binding: &BindingRecord) -> bool {
        let store = &self.inner.store;
        let current = store
            .bindings
            .user_bindings(
                app,
                &binding.user,
                None,
                self.inner.max_bindings_per_user.max(1) + 1,
            )
            .await;
        let still_same = current.is_ok_and(|(all, _)| {
            all.iter().any(|b| {
                b.device_id == binding.device_id
                    && b.notifier_name == binding.notifier_name
                    && b.device_token == binding.device_token
            })
        });
        if !still_same {
            return false;
        }
        match store
            .bindings
            .unbind(
                app,
                &binding.user,
                &binding.device_id,
                Some(&binding.notifier_name),
            )
            .await
        {
            Ok(removed) => !removed.is_empty(),
            Err(e) => {
                tracing::error!(app, error = %e, "cannot remove an invalid binding");
                false
            }
        }
    }

    pub(super) async fn ban(&self, app: &str, notifier: &Notifier, reason: &str) {
        let fingerprint = notifier
            .credential_summary
            .as_ref()
            .map(|s| s.fingerprint.as_str())
            .unwrap_or_default();
        match self
            .inner
            .notifiers
            .ban(app, &notifier.name, fingerprint, reason)
            .await
        {
            Ok(true) => {
                tracing::warn!(app, notifier = %notifier.name, reason, "notifier banned: the vendor refused its credentials")
            }
            Ok(false) => {}
            Err(e) => {
                tracing::error!(app, notifier = %notifier.name, error = %e, "cannot ban a notifier")
            }
        }
    }
}
