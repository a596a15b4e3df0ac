//! Users' push settings and the app's push templates: validation and the rules of `UserSettingsService`,
//! plus the pure functions the send path calls ([`dnd::held_back`], [`template::render_template`],
//! [`parse_time_zone`]).
//!
//! Every request is checked whole before anything is written: a bad request answers with every violated
//! field and changes nothing.

mod config;
pub use config::SettingsConfig;

pub mod dnd;
mod notification;
pub mod template;

pub use crate::time_zone::{AppTimeZone, parse_time_zone};
pub use notification::{ConversationInput, NotificationChange, NotificationView};

use crate::{
    clock::now_ms,
    proto::v1::NotificationDisplayStyle,
    store::{Store, StoreError, TemplateRecord, UserSettingsRecord},
    tenant::check_user_id,
    validate::{Violations, max_chars, name_chars},
};

/// Longest template name.
const MAX_TEMPLATE_NAME: usize = 64;
/// Shortest and longest language tag.
const LANGUAGE_CHARS: std::ops::RangeInclusive<usize> = 2..=35;

/// Why a settings operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The request breaks a field rule.
    #[error("invalid request: {0}")]
    Invalid(Violations),
    /// No template of this name.
    #[error("template {0} not found")]
    TemplateNotFound(String),
    /// A template of this name exists already.
    #[error("template {0} already exists")]
    TemplateExists(String),
    /// The app has its maximum number of templates.
    #[error("an app may have at most {limit} templates")]
    TooManyTemplates {
        /// The limit.
        limit: usize,
    },
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for SettingsError {
    fn from(e: StoreError) -> Self {
        SettingsError::Store(e)
    }
}

impl From<Violations> for SettingsError {
    fn from(v: Violations) -> Self {
        SettingsError::Invalid(v)
    }
}

/// Users' push settings and push templates over the store.
#[derive(Clone)]
pub struct UserSettings {
    store: Store,
    limits: SettingsConfig,
}

impl UserSettings {
    /// Applies `change` to a user's settings and stamps the change time: every single-field setter.
    async fn change_user(
        &self,
        app: &str,
        user: &str,
        change: &(dyn Fn(&mut UserSettingsRecord) + Send + Sync),
    ) -> Result<UserSettingsRecord, SettingsError> {
        let now = now_ms();
        Ok(self
            .store
            .user_settings
            .update_user_settings(app, user, &|r| {
                change(r);
                r.update_time_ms = now;
            })
            .await?)
    }

    /// Settings kept in `store`, within `limits`.
    pub fn new(store: Store, limits: SettingsConfig) -> Self {
        Self { store, limits }
    }

    /// Sets (or, with an empty name, clears) one user's push nickname; returns it as stored.
    pub async fn set_nickname(
        &self,
        app: &str,
        user: &str,
        nickname: &str,
    ) -> Result<String, SettingsError> {
        let mut v = Violations::new();
        v.check("user", check_user_id(user));
        v.check("nickname", self.check_nickname(nickname));
        v.into_result()?;
        let stored = self
            .change_user(app, user, &|r| r.nickname = nickname.to_owned())
            .await?;
        Ok(stored.nickname)
    }

    /// Sets several users' push nicknames, all or none; returns them in request order.
    pub async fn set_nicknames(
        &self,
        app: &str,
        entries: Vec<(String, String)>,
    ) -> Result<Vec<(String, String)>, SettingsError> {
        let mut v = Violations::new();
        let max = self.limits.max_nicknames_per_call;
        if entries.is_empty() || entries.len() > max {
            v.add(
                "nicknames",
                format!("has {} entries; 1 to {max} are allowed", entries.len()),
            );
        }
        let mut seen = std::collections::HashSet::new();
        for (i, (user, nickname)) in entries.iter().enumerate() {
            v.check(&format!("nicknames[{i}].user"), check_user_id(user));
            if !seen.insert(user.as_str()) {
                v.add(
                    format!("nicknames[{i}].user"),
                    format!("{user} is listed more than once"),
                );
            }
            v.check(
                &format!("nicknames[{i}].nickname"),
                self.check_nickname(nickname),
            );
        }
        v.into_result()?;
        self.store
            .user_settings
            .set_nicknames(app, &entries, now_ms())
            .await?;
        Ok(entries)
    }

    /// Sets one user's display style (`NotificationDisplayStyle` number; UNSPECIFIED resets it); returns it.
    pub async fn set_display_style(
        &self,
        app: &str,
        user: &str,
        style: i32,
    ) -> Result<NotificationDisplayStyle, SettingsError> {
        let mut v = Violations::new();
        v.check("user", check_user_id(user));
        let style = match NotificationDisplayStyle::try_from(style) {
            Ok(NotificationDisplayStyle::Unspecified) => NotificationDisplayStyle::Default,
            Ok(style) => style,
            Err(_) => {
                v.add(
                    "display_style",
                    format!("{style} is not a display style (DEFAULT or NICKNAME_AND_CONTENT)"),
                );
                NotificationDisplayStyle::Default
            }
        };
        v.into_result()?;
        self.change_user(app, user, &|r| r.display_style = style as i32)
            .await?;
        Ok(style)
    }

    /// Sets (or, with an empty tag, clears) a user's preferred language; returns it as stored.
    pub async fn set_language(
        &self,
        app: &str,
        user: &str,
        language: &str,
    ) -> Result<String, SettingsError> {
        let mut v = Violations::new();
        v.check("user", check_user_id(user));
        v.check("language", check_language(language));
        v.into_result()?;
        let stored = self
            .change_user(app, user, &|r| r.language = language.to_owned())
            .await?;
        Ok(stored.language)
    }

    /// A user's preferred language; empty when none is set.
    pub async fn get_language(&self, app: &str, user: &str) -> Result<String, SettingsError> {
        only("user", check_user_id(user))?;
        Ok(self
            .store
            .user_settings
            .get_user_settings(app, user)
            .await?
            .map(|r| r.language)
            .unwrap_or_default())
    }

    /// Creates a template; at least one pattern must be non-empty.
    pub async fn create_template(
        &self,
        app: &str,
        name: &str,
        title_pattern: &str,
        content_pattern: &str,
    ) -> Result<TemplateRecord, SettingsError> {
        let mut v = Violations::new();
        v.check("name", check_template_name(name));
        v.check("title_pattern", self.check_pattern(title_pattern));
        v.check("content_pattern", self.check_pattern(content_pattern));
        if title_pattern.is_empty() && content_pattern.is_empty() {
            for field in ["title_pattern", "content_pattern"] {
                v.add(
                    field,
                    "one of title_pattern and content_pattern must be non-empty",
                );
            }
        }
        v.into_result()?;
        let now = now_ms();
        let template = TemplateRecord {
            name: name.to_owned(),
            title_pattern: title_pattern.to_owned(),
            content_pattern: content_pattern.to_owned(),
            create_time_ms: now,
            update_time_ms: now,
        };
        self.store
            .templates
            .create_template(app, template.clone(), self.limits.max_templates_per_app)
            .await
            .map_err(|e| match e {
                StoreError::AlreadyExists(_) => SettingsError::TemplateExists(name.to_owned()),
                StoreError::LimitReached { limit, .. } => SettingsError::TooManyTemplates { limit },
                e => e.into(),
            })?;
        Ok(template)
    }

    /// One template.
    pub async fn get_template(
        &self,
        app: &str,
        name: &str,
    ) -> Result<TemplateRecord, SettingsError> {
        only("name", check_template_name(name))?;
        self.store
            .templates
            .get_template(app, name)
            .await?
            .ok_or_else(|| SettingsError::TemplateNotFound(name.to_owned()))
    }

    /// Replaces the given patterns of a template; the result must keep one pattern non-empty.
    pub async fn update_template(
        &self,
        app: &str,
        name: &str,
        title_pattern: Option<String>,
        content_pattern: Option<String>,
    ) -> Result<TemplateRecord, SettingsError> {
        let mut v = Violations::new();
        v.check("name", check_template_name(name));
        if let Some(p) = &title_pattern {
            v.check("title_pattern", self.check_pattern(p));
        }
        if let Some(p) = &content_pattern {
            v.check("content_pattern", self.check_pattern(p));
        }
        if title_pattern.is_none() && content_pattern.is_none() {
            v.add(
                "title_pattern",
                "give title_pattern, content_pattern or both",
            );
        }
        v.into_result()?;
        let now = now_ms();
        let updated = self
            .store
            .templates
            .update_template(app, name, &|current| {
                let mut next = current.clone();
                if let Some(p) = &title_pattern {
                    next.title_pattern = p.clone();
                }
                if let Some(p) = &content_pattern {
                    next.content_pattern = p.clone();
                }
                next.update_time_ms = now;
                // Declined when both would be empty; checked here so that it holds against racing updates.
                (!(next.title_pattern.is_empty() && next.content_pattern.is_empty()))
                    .then_some(next)
            })
            .await
            .map_err(|e| match e {
                StoreError::NotFound(_) => SettingsError::TemplateNotFound(name.to_owned()),
                e => e.into(),
            })?;
        updated.ok_or_else(|| {
            let field = if content_pattern.is_some() {
                "content_pattern"
            } else {
                "title_pattern"
            };
            SettingsError::Invalid(Violations::single(
                field,
                "would leave both patterns empty; one of them must be non-empty",
            ))
        })
    }

    /// Deletes a template. Users who chose it keep the choice, which counts again if the name is re-created.
    pub async fn delete_template(&self, app: &str, name: &str) -> Result<(), SettingsError> {
        only("name", check_template_name(name))?;
        if self.store.templates.delete_template(app, name).await? {
            Ok(())
        } else {
            Err(SettingsError::TemplateNotFound(name.to_owned()))
        }
    }

    /// Sets (or, with an empty name, clears) the template a user's notifications are rendered in.
    pub async fn set_user_template(
        &self,
        app: &str,
        user: &str,
        template: &str,
    ) -> Result<String, SettingsError> {
        let mut v = Violations::new();
        v.check("user", check_user_id(user));
        if !template.is_empty() {
            v.check("template_name", check_template_name(template));
        }
        v.into_result()?;
        if !template.is_empty()
            && self
                .store
                .templates
                .get_template(app, template)
                .await?
                .is_none()
        {
            return Err(SettingsError::TemplateNotFound(template.to_owned()));
        }
        let stored = self
            .change_user(app, user, &|r| r.template = template.to_owned())
            .await?;
        Ok(stored.template)
    }

    /// The template a user chose; empty when none is chosen or it has been deleted since.
    pub async fn get_user_template(&self, app: &str, user: &str) -> Result<String, SettingsError> {
        only("user", check_user_id(user))?;
        let chosen = self
            .store
            .user_settings
            .get_user_settings(app, user)
            .await?
            .map(|r| r.template)
            .unwrap_or_default();
        if chosen.is_empty()
            || self
                .store
                .templates
                .get_template(app, &chosen)
                .await?
                .is_none()
        {
            return Ok(String::new());
        }
        Ok(chosen)
    }

    fn check_nickname(&self, nickname: &str) -> Result<(), String> {
        max_chars(nickname, self.limits.max_nickname_chars)?;
        no_control_chars(nickname)
    }

    fn check_pattern(&self, pattern: &str) -> Result<(), String> {
        max_chars(pattern, self.limits.max_pattern_chars)?;
        no_control_chars(pattern)?;
        template::check_pattern(pattern)
    }
}

/// Template names are 1..64 characters of `[a-zA-Z0-9]`.
fn check_template_name(name: &str) -> Result<(), String> {
    name_chars(
        name,
        MAX_TEMPLATE_NAME,
        |c| c.is_ascii_alphanumeric(),
        "letters and digits",
    )
}

/// Language tags are empty (none) or 2..35 characters of `[a-zA-Z0-9-]`.
fn check_language(language: &str) -> Result<(), String> {
    if language.is_empty() {
        return Ok(());
    }
    name_chars(
        language,
        *LANGUAGE_CHARS.end(),
        |c| c.is_ascii_alphanumeric() || c == '-',
        "letters, digits and '-'",
    )?;
    if language.chars().count() < *LANGUAGE_CHARS.start() {
        return Err(format!(
            "is too short for a language tag; at least {} characters",
            LANGUAGE_CHARS.start()
        ));
    }
    Ok(())
}

/// A request with one field to check.
fn only(field: &str, result: Result<(), String>) -> Result<(), SettingsError> {
    result.map_err(|e| SettingsError::Invalid(Violations::single(field, e)))
}

fn no_control_chars(value: &str) -> Result<(), String> {
    match value.chars().find(|c| c.is_control()) {
        Some(c) => Err(format!("contains the control character {c:?}")),
        None => Ok(()),
    }
}

/// A service over a fresh temporary store (kept alive by the returned guard), for unit tests.
#[cfg(test)]
fn test_service() -> (tempfile::TempDir, UserSettings) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = crate::store::sled_for_tests(dir.path());
    (dir, UserSettings::new(store, SettingsConfig::default()))
}

/// The fields named by an `Invalid` error, for unit tests.
#[cfg(test)]
fn invalid_fields(e: SettingsError) -> Vec<String> {
    match e {
        SettingsError::Invalid(v) => v.list().iter().map(|f| f.field.clone()).collect(),
        e => panic!("expected invalid, got {e:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_tags() {
        for ok in ["", "en", "zh-Hans", "sr-Latn-RS", &"a".repeat(35)] {
            assert!(check_language(ok).is_ok(), "{ok}");
        }
        for bad in ["e", "en_US", "en US", "中文", &"a".repeat(36)] {
            assert!(check_language(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn template_updates_keep_one_pattern() {
        let (_dir, s) = test_service();
        s.create_template("o#a", "t", "title", "").await.unwrap();
        let err = s
            .update_template("o#a", "t", Some(String::new()), None)
            .await
            .unwrap_err();
        assert_eq!(invalid_fields(err), ["title_pattern"]);
        let swapped = s
            .update_template("o#a", "t", Some(String::new()), Some("{$msg}".into()))
            .await
            .unwrap();
        assert_eq!(
            (
                swapped.title_pattern.as_str(),
                swapped.content_pattern.as_str()
            ),
            ("", "{$msg}")
        );
        assert!(matches!(
            s.update_template("o#a", "missing", Some("x".into()), None)
                .await,
            Err(SettingsError::TemplateNotFound(_))
        ));
    }
}
