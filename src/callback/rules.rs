//! Callback rules of an app: validation, the per-app limit, and their storage.

use super::Outbox;
use crate::{
    clock::now_ms,
    proto::v1::DeliveryStatus,
    store::{CallbackRuleRecord, Store, StoreError},
    validate::{Violations, max_chars, name_chars},
};

/// Most rules an app may have (Easemob allows four callback addresses).
pub const MAX_RULES_PER_APP: usize = 4;
/// Longest receiver URL.
const MAX_URL: usize = 1024;
/// Longest secret.
const MAX_SECRET: usize = 256;

/// Why a rule operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    /// The rule breaks a field rule.
    #[error("invalid callback rule: {0}")]
    Invalid(Violations),
    /// The app has its maximum number of rules.
    #[error("the app already has {limit} callback rules")]
    LimitReached {
        /// The limit.
        limit: usize,
    },
    /// No such rule.
    #[error("callback rule {0} not found")]
    NotFound(String),
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for RuleError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::LimitReached { limit, .. } => RuleError::LimitReached { limit },
            e => RuleError::Store(e),
        }
    }
}

/// What a caller asks a rule to be.
#[derive(Debug, Clone, Default)]
pub struct RuleInput {
    /// Rule name.
    pub name: String,
    /// Receiver URL.
    pub url: String,
    /// New secret, or empty to keep the stored one.
    pub secret: String,
    /// Whether deliveries are sent.
    pub enabled: bool,
    /// `DeliveryStatus` numbers; empty means all.
    pub statuses: Vec<i32>,
}

/// Callback rules over the store, each change handed to the outbox that delivers them.
#[derive(Clone)]
pub struct CallbackRules {
    store: Store,
    outbox: Outbox,
}

impl CallbackRules {
    /// Rules kept in `store`, delivered by `outbox`.
    pub fn new(store: Store, outbox: Outbox) -> Self {
        Self { store, outbox }
    }

    /// The outbox delivering the rules.
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// Creates or replaces a rule; returns it and whether it was created.
    pub async fn put(
        &self,
        app: &str,
        input: RuleInput,
    ) -> Result<(CallbackRuleRecord, bool), RuleError> {
        let existing = if is_valid_name(&input.name) {
            self.store.callback_rules.get_rule(app, &input.name).await?
        } else {
            None
        };
        let mut v = Violations::new();
        v.check("rule.name", check_name(&input.name));
        v.check("rule.url", check_url(&input.url));
        v.check("rule.secret", max_chars(&input.secret, MAX_SECRET));
        if input.secret.is_empty() && existing.is_none() {
            v.add("rule.secret", "is required for a new rule");
        }
        for (i, s) in input.statuses.iter().enumerate() {
            match DeliveryStatus::try_from(*s) {
                Ok(DeliveryStatus::Unspecified) | Err(_) => v.add(
                    format!("rule.statuses[{i}]"),
                    format!("{s} is not a delivery status (SUCCESS, FAIL or ERROR)"),
                ),
                Ok(_) => {}
            }
        }
        v.into_result().map_err(RuleError::Invalid)?;
        let now = now_ms();
        let mut statuses = input.statuses;
        statuses.sort_unstable();
        statuses.dedup();
        // Sealed at rest; a rule stored in clear by an older version is sealed on its next change.
        let sealed_secret = match existing.as_ref() {
            _ if !input.secret.is_empty() => {
                self.outbox.seal_secret(app, &input.name, &input.secret)
            }
            Some(r) if r.sealed_secret.is_empty() => {
                self.outbox.seal_secret(app, &input.name, &r.secret)
            }
            Some(r) => r.sealed_secret.clone(),
            None => Vec::new(),
        };
        let record = CallbackRuleRecord {
            secret: String::new(),
            sealed_secret,
            create_time_ms: existing.as_ref().map_or(now, |r| r.create_time_ms),
            update_time_ms: now,
            name: input.name,
            url: input.url,
            enabled: input.enabled,
            statuses,
        };
        let created = self
            .store
            .callback_rules
            .put_rule(app, record.clone(), MAX_RULES_PER_APP)
            .await?;
        self.outbox.rule_put(app, &record).await?;
        Ok((record, created))
    }

    /// Whether the app has a rule `name`.
    pub async fn exists(&self, app: &str, name: &str) -> Result<bool, RuleError> {
        Ok(self
            .store
            .callback_rules
            .get_rule(app, name)
            .await?
            .is_some())
    }

    /// All rules of an app.
    pub async fn list(&self, app: &str) -> Result<Vec<CallbackRuleRecord>, RuleError> {
        Ok(self.store.callback_rules.list_rules(app).await?)
    }

    /// Deletes a rule.
    pub async fn delete(&self, app: &str, name: &str) -> Result<(), RuleError> {
        if let Err(e) = check_name(name) {
            return Err(RuleError::Invalid(Violations::single("name", e)));
        }
        if self.store.callback_rules.delete_rule(app, name).await? {
            self.outbox.rule_deleted(app, name).await?;
            Ok(())
        } else {
            Err(RuleError::NotFound(name.to_owned()))
        }
    }
}

fn check_name(name: &str) -> Result<(), String> {
    name_chars(
        name,
        64,
        |c| c.is_ascii_alphanumeric() || c == '_' || c == '-',
        "letters, digits, '_' and '-'",
    )
}

fn is_valid_name(name: &str) -> bool {
    check_name(name).is_ok()
}

fn check_url(url: &str) -> Result<(), String> {
    if url.is_empty() {
        return Err("is required".into());
    }
    max_chars(url, MAX_URL)?;
    let uri: http::Uri = url
        .parse()
        .map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => return Err(format!("{url:?} must use http or https")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("{url:?} has no host"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert!(check_url("https://example.com/cb").is_ok());
        assert!(check_url("http://127.0.0.1:8080").is_ok());
        for bad in ["", "example.com", "ftp://x/y", "http://", "not a url"] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }
}
