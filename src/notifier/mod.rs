//! Notifiers (push certificates): validated on the way in, sealed at rest, never shown with their secrets.

mod config;
pub use config::NotifiersConfig;

pub mod credentials;
pub mod endpoints;
pub mod sealing;

use prost::Message;

use crate::{
    clock::now_ms,
    clock::timestamp,
    proto::v1::{
        Notifier, NotifierCredentialSummary, NotifierState, Vendor, notifier::Credentials,
    },
    store::{NotifierRecord, Store, StoreError},
    telemetry::metrics,
    validate::{Violations, max_chars, name_chars},
};
use credentials::{CredentialFacts, field_of, vendor_of};
use endpoints::EndpointRules;
use sealing::{OpenError, Sealer, context};

/// Why a notifier operation failed.
#[derive(Debug, thiserror::Error)]
pub enum NotifierError {
    /// The request breaks a rule.
    #[error("invalid notifier: {0}")]
    Invalid(Violations),
    /// No notifier of that name.
    #[error("notifier {0} not found")]
    NotFound(String),
    /// A notifier of that name exists.
    #[error("notifier {0} already exists")]
    Exists(String),
    /// The app has its maximum number of notifiers.
    #[error("an app may have at most {limit} notifiers")]
    LimitReached {
        /// The limit.
        limit: usize,
    },
    /// Stored credentials cannot be decrypted.
    #[error(transparent)]
    Sealed(#[from] OpenError),
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for NotifierError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::LimitReached { limit, .. } => NotifierError::LimitReached { limit },
            // The store names the record kind ("notifier n1"); the error names the notifier.
            StoreError::NotFound(what) => {
                NotifierError::NotFound(what.trim_start_matches("notifier ").to_owned())
            }
            StoreError::AlreadyExists(what) => {
                NotifierError::Exists(what.trim_start_matches("notifier ").to_owned())
            }
            e => NotifierError::Store(e),
        }
    }
}

/// A notifier with its credentials opened: what a dispatcher needs.
#[derive(Debug, Clone)]
pub struct OpenedNotifier {
    /// The notifier as callers see it.
    pub public: Notifier,
    /// Its credentials, secrets included.
    pub credentials: Credentials,
}

/// The update-mask paths that name plain settings.
const SETTING_PATHS: &[&str] = &[
    "state",
    "description",
    "send_base_url",
    "token_base_url",
    "extra_ca_certificates_pem",
    "qps_limit",
    "default_channel_id",
    "default_click_action",
];

/// Notifiers of every app, over the store.
#[derive(Clone)]
pub struct Notifiers {
    store: Store,
    sealer: Sealer,
    max_per_app: usize,
    endpoints: EndpointRules,
}

impl Notifiers {
    /// Notifiers kept in `store`, sealed with `sealer`, at most `max_per_app` per app, aimed only where
    /// `endpoints` allows.
    pub fn new(store: Store, sealer: Sealer, max_per_app: usize, endpoints: EndpointRules) -> Self {
        Self {
            store,
            sealer,
            max_per_app,
            endpoints,
        }
    }

    /// What the operator lets notifiers be aimed at.
    pub fn endpoint_rules(&self) -> &EndpointRules {
        &self.endpoints
    }

    /// Validates and stores a new notifier; returns it as callers see it.
    pub async fn create(&self, app: &str, input: Notifier) -> Result<Notifier, NotifierError> {
        let mut v = Violations::new();
        v.check("notifier.name", check_name(&input.name));
        let mut notifier = input;
        let facts = match notifier.credentials.as_mut() {
            None => {
                v.add(
                    "notifier.credentials",
                    "is required: one of apns, fcm, huawei, honor, xiaomi, oppo, vivo, meizu",
                );
                CredentialFacts::default()
            }
            Some(c) => {
                let at = format!("notifier.{}", field_of(vendor_of(c)));
                credentials::check(c, &at, &mut v)
            }
        };
        notifier.vendor = notifier
            .credentials
            .as_ref()
            .map_or(Vendor::Unspecified, vendor_of) as i32;
        match NotifierState::try_from(notifier.state) {
            Ok(NotifierState::Unspecified) => notifier.state = NotifierState::Enabled as i32,
            Ok(NotifierState::Banned) => v.add("notifier.state", BANNED_BY_SERVER),
            Ok(_) => {}
            Err(_) => v.add(
                "notifier.state",
                format!("{} is not a notifier state", notifier.state),
            ),
        }
        check_settings(&notifier, &mut v);
        self.endpoints
            .check(&notifier, notifier.credentials.as_ref(), |_| true, &mut v);
        v.into_result().map_err(NotifierError::Invalid)?;

        let now = now_ms();
        notifier.state_reason.clear();
        notifier.create_time = Some(timestamp(now));
        notifier.update_time = Some(timestamp(now));
        let record = self.seal(app, notifier, &facts, now);
        self.store
            .notifiers
            .create_notifier(app, record.clone(), self.max_per_app)
            .await?;
        metrics::notifier_known(field_of(vendor_of_record(&record)), record.name());
        Ok(record.public.unwrap_or_default())
    }

    /// Gives every stored notifier its metric series, so that each shows on `/metrics` before its first
    /// push (run at start-up); answers how many there are.
    pub async fn announce_stored(&self) -> Result<usize, StoreError> {
        const PAGE: usize = 256;
        let mut count = 0;
        let mut after_app: Option<String> = None;
        loop {
            let apps = self
                .store
                .apps
                .list_apps(after_app.as_deref(), PAGE)
                .await?;
            for app in &apps {
                let mut after: Option<String> = None;
                loop {
                    let page = self
                        .store
                        .notifiers
                        .list_notifiers(&app.name, after.as_deref(), PAGE, 0)
                        .await?;
                    for record in &page {
                        metrics::notifier_known(field_of(vendor_of_record(record)), record.name());
                    }
                    count += page.len();
                    match page.last() {
                        Some(last) if page.len() == PAGE => after = Some(last.name().to_owned()),
                        _ => break,
                    }
                }
            }
            match apps.last() {
                Some(last) if apps.len() == PAGE => after_app = Some(last.name.clone()),
                _ => break,
            }
        }
        Ok(count)
    }

    /// One notifier as callers see it.
    pub async fn get(&self, app: &str, name: &str) -> Result<Notifier, NotifierError> {
        Ok(self.record(app, name).await?.public.unwrap_or_default())
    }

    /// Up to `limit` notifiers after `after`, of `vendor` unless it is unspecified.
    pub async fn list(
        &self,
        app: &str,
        after: Option<&str>,
        limit: usize,
        vendor: i32,
    ) -> Result<Vec<Notifier>, NotifierError> {
        if Vendor::try_from(vendor).is_err() {
            return Err(NotifierError::Invalid(Violations::single(
                "vendor",
                format!("{vendor} is not a vendor"),
            )));
        }
        Ok(self
            .store
            .notifiers
            .list_notifiers(app, after, limit, vendor)
            .await?
            .into_iter()
            .filter_map(|r| r.public)
            .collect())
    }

    /// Changes the fields of `input` named by `paths`.
    pub async fn update(
        &self,
        app: &str,
        input: Notifier,
        paths: &[String],
    ) -> Result<Notifier, NotifierError> {
        let mut v = Violations::new();
        v.check("notifier.name", check_name(&input.name));
        if paths.is_empty() {
            v.add("update_mask", "is required: name the fields to change");
        }
        v.clone().into_result().map_err(NotifierError::Invalid)?;
        let stored = self.record(app, &input.name).await?;
        let opened = self.open(app, &stored)?;
        let mut notifier = opened.public.clone();
        let vendor = Vendor::try_from(notifier.vendor).unwrap_or(Vendor::Unspecified);
        let own_path = field_of(vendor);
        let mut new_credentials = None;
        for path in paths {
            match path.as_str() {
                "state" => notifier.state = input.state,
                "description" => notifier.description = input.description.clone(),
                "send_base_url" => notifier.send_base_url = input.send_base_url.clone(),
                "token_base_url" => notifier.token_base_url = input.token_base_url.clone(),
                "extra_ca_certificates_pem" => {
                    notifier.extra_ca_certificates_pem = input.extra_ca_certificates_pem.clone()
                }
                "qps_limit" => notifier.qps_limit = input.qps_limit,
                "default_channel_id" => {
                    notifier.default_channel_id = input.default_channel_id.clone()
                }
                "default_click_action" => {
                    notifier.default_click_action = input.default_click_action.clone()
                }
                p if p == own_path => match &input.credentials {
                    Some(c) if vendor_of(c) == vendor => new_credentials = Some(c.clone()),
                    Some(_) => v.add(
                        format!("notifier.{own_path}"),
                        "holds credentials of another vendor: create a new notifier instead",
                    ),
                    None => v.add(
                        format!("notifier.{own_path}"),
                        "is named in update_mask but not set",
                    ),
                },
                p => v.add(
                    "update_mask",
                    format!(
                        "{p:?} cannot be updated; allowed: {}, {own_path}",
                        SETTING_PATHS.join(", ")
                    ),
                ),
            }
        }
        let state_updated = paths.iter().any(|p| p == "state");
        if state_updated {
            match NotifierState::try_from(notifier.state) {
                Ok(NotifierState::Enabled | NotifierState::Disabled) => {}
                Ok(NotifierState::Banned) => v.add("notifier.state", BANNED_BY_SERVER),
                _ => v.add("notifier.state", "must be ENABLED or DISABLED"),
            }
        }
        let now = now_ms();
        let facts = match new_credentials.as_mut() {
            Some(c) => {
                credentials::keep_stored_secrets(c, &opened.credentials);
                let facts = credentials::check(c, &format!("notifier.{own_path}"), &mut v);
                // New credentials lift a ban: the vendor refused the old ones.
                if notifier.state == NotifierState::Banned as i32 && !state_updated {
                    notifier.state = NotifierState::Enabled as i32;
                }
                facts
            }
            None => facts_of(&notifier),
        };
        check_settings(&notifier, &mut v);
        self.endpoints.check(
            &notifier,
            Some(new_credentials.as_ref().unwrap_or(&opened.credentials)),
            |path| paths.iter().any(|p| p == path),
            &mut v,
        );
        v.into_result().map_err(NotifierError::Invalid)?;

        if state_updated || new_credentials.is_some() {
            notifier.state_reason.clear();
        }
        notifier.update_time = Some(timestamp(now));
        let secret_time = match &new_credentials {
            Some(_) => now,
            None => secret_time_of(&notifier),
        };
        notifier.credentials = Some(new_credentials.unwrap_or(opened.credentials));
        let record = self.seal(app, notifier, &facts, secret_time);
        self.store
            .notifiers
            .update_notifier(app, record.clone())
            .await?;
        Ok(record.public.unwrap_or_default())
    }

    /// Bans notifier `name` because its vendor refused its credentials: pushes to its bindings then fail with
    /// `notifier is ban` until the caller enables it or gives new credentials. Nothing changes (and `false` is
    /// answered) when the notifier is gone, no longer enabled, or its credentials changed since the refused
    /// push used those with `fingerprint`.
    pub async fn ban(
        &self,
        app: &str,
        name: &str,
        fingerprint: &str,
        reason: &str,
    ) -> Result<bool, NotifierError> {
        let Some(mut record) = self.store.notifiers.get_notifier(app, name).await? else {
            return Ok(false);
        };
        let Some(public) = record.public.as_mut() else {
            return Ok(false);
        };
        let same_credentials = public
            .credential_summary
            .as_ref()
            .is_some_and(|s| s.fingerprint == fingerprint);
        if !same_credentials || public.state != NotifierState::Enabled as i32 {
            return Ok(false);
        }
        public.state = NotifierState::Banned as i32;
        public.state_reason = reason.chars().take(MAX_STATE_REASON_CHARS).collect();
        public.update_time = Some(timestamp(now_ms()));
        self.store.notifiers.update_notifier(app, record).await?;
        Ok(true)
    }

    /// Deletes a notifier.
    pub async fn delete(&self, app: &str, name: &str) -> Result<(), NotifierError> {
        if let Err(e) = check_name(name) {
            return Err(NotifierError::Invalid(Violations::single("name", e)));
        }
        if self.store.notifiers.delete_notifier(app, name).await? {
            Ok(())
        } else {
            Err(NotifierError::NotFound(name.to_owned()))
        }
    }

    /// A notifier with its credentials opened, or `None` when it does not exist.
    pub async fn load(
        &self,
        app: &str,
        name: &str,
    ) -> Result<Option<OpenedNotifier>, NotifierError> {
        match self.store.notifiers.get_notifier(app, name).await? {
            Some(record) => Ok(Some(self.open(app, &record)?)),
            None => Ok(None),
        }
    }

    async fn record(&self, app: &str, name: &str) -> Result<NotifierRecord, NotifierError> {
        if let Err(e) = check_name(name) {
            return Err(NotifierError::Invalid(Violations::single("name", e)));
        }
        self.store
            .notifiers
            .get_notifier(app, name)
            .await?
            .ok_or_else(|| NotifierError::NotFound(name.to_owned()))
    }

    fn open(&self, app: &str, record: &NotifierRecord) -> Result<OpenedNotifier, NotifierError> {
        let plain = self
            .sealer
            .open(&context(app, record.name()), &record.sealed_credentials)?;
        let secret = Notifier::decode(plain.as_slice()).map_err(|_| OpenError)?;
        Ok(OpenedNotifier {
            public: record.public.clone().unwrap_or_default(),
            credentials: secret.credentials.ok_or(OpenError)?,
        })
    }

    /// Splits a checked notifier (full credentials) into its public part and its sealed secrets.
    fn seal(
        &self,
        app: &str,
        mut notifier: Notifier,
        facts: &CredentialFacts,
        secret_time: i64,
    ) -> NotifierRecord {
        let full = notifier.credentials.take();
        let secret = Notifier {
            credentials: full.clone(),
            ..Default::default()
        }
        .encode_to_vec();
        notifier.credential_summary = Some(NotifierCredentialSummary {
            fingerprint: self.sealer.fingerprint(&secret),
            secret_update_time: Some(timestamp(secret_time)),
            certificate_expire_time: facts.certificate_expire_ms.map(timestamp),
            certificate_subject: facts.certificate_subject.clone(),
        });
        notifier.credentials = full.as_ref().map(credentials::redacted);
        NotifierRecord {
            sealed_credentials: self.sealer.seal(&context(app, &notifier.name), &secret),
            public: Some(notifier),
        }
    }
}

/// Longest vendor answer kept as a ban's `state_reason`.
const MAX_STATE_REASON_CHARS: usize = 512;

const BANNED_BY_SERVER: &str =
    "BANNED is set by the server when the vendor refuses the credentials; use ENABLED or DISABLED";

fn vendor_of_record(record: &NotifierRecord) -> Vendor {
    Vendor::try_from(record.vendor()).unwrap_or(Vendor::Unspecified)
}

fn facts_of(n: &Notifier) -> CredentialFacts {
    let summary = n.credential_summary.clone().unwrap_or_default();
    CredentialFacts {
        certificate_expire_ms: summary
            .certificate_expire_time
            .map(|t| t.seconds * 1000 + i64::from(t.nanos) / 1_000_000),
        certificate_subject: summary.certificate_subject,
    }
}

fn secret_time_of(n: &Notifier) -> i64 {
    n.credential_summary
        .as_ref()
        .and_then(|s| s.secret_update_time)
        .map_or(0, |t| t.seconds * 1000 + i64::from(t.nanos) / 1_000_000)
}

/// Notifier names: 1..64 characters of `[a-zA-Z0-9_.-]`.
pub fn check_name(name: &str) -> Result<(), String> {
    name_chars(
        name,
        64,
        |c| c.is_ascii_alphanumeric() || "_.-".contains(c),
        "letters, digits, '_', '.' and '-'",
    )
}

/// The settings every vendor shares, checked against the notifier's vendor.
fn check_settings(n: &Notifier, v: &mut Violations) {
    let vendor = Vendor::try_from(n.vendor).unwrap_or(Vendor::Unspecified);
    v.check("notifier.description", max_chars(&n.description, 255));
    v.check("notifier.send_base_url", check_base_url(&n.send_base_url));
    v.check("notifier.token_base_url", check_base_url(&n.token_base_url));
    if !n.token_base_url.is_empty()
        && matches!(vendor, Vendor::Apns | Vendor::Xiaomi | Vendor::Meizu)
    {
        v.add(
            "notifier.token_base_url",
            "this vendor has no token endpoint",
        );
    }
    v.check(
        "notifier.extra_ca_certificates_pem",
        check_ca_pem(&n.extra_ca_certificates_pem),
    );
    if n.qps_limit > 1_000_000 {
        v.add("notifier.qps_limit", "is above 1,000,000");
    }
    v.check(
        "notifier.default_channel_id",
        max_chars(&n.default_channel_id, 200),
    );
    if !n.default_channel_id.is_empty()
        && !matches!(
            vendor,
            Vendor::Fcm | Vendor::Huawei | Vendor::Xiaomi | Vendor::Oppo
        )
    {
        v.add(
            "notifier.default_channel_id",
            "this vendor has no notification channel id",
        );
    }
    v.check(
        "notifier.default_click_action",
        max_chars(&n.default_click_action, 1024),
    );
}

fn check_base_url(url: &str) -> Result<(), String> {
    if url.is_empty() {
        return Ok(());
    }
    max_chars(url, 1024)?;
    let uri: http::Uri = url
        .parse()
        .map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
        return Err(format!("{url:?} must be an absolute http or https URL"));
    }
    if uri.query().is_some() || url.contains('#') {
        return Err(format!("{url:?} must not have a query or fragment"));
    }
    Ok(())
}

fn check_ca_pem(pem: &str) -> Result<(), String> {
    use rustls_pki_types::{CertificateDer, pem::PemObject};
    if pem.is_empty() {
        return Ok(());
    }
    if pem.len() > 64 * 1024 {
        return Err("is larger than 64 KiB".into());
    }
    let mut count = 0;
    for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        let cert = cert.map_err(|e| format!("holds a malformed PEM block: {e}"))?;
        x509_parser::parse_x509_certificate(&cert)
            .map_err(|e| format!("holds a certificate that does not parse: {e}"))?;
        count += 1;
    }
    if count == 0 {
        return Err("holds no PEM CERTIFICATE block".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        assert!(check_base_url("").is_ok());
        assert!(check_base_url("https://127.0.0.1:8443/hw").is_ok());
        for bad in [
            "ftp://x",
            "/relative",
            "https://x/?q=1",
            "https://x/#f",
            "not a url",
        ] {
            assert!(check_base_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ca_pem() {
        let (cert, _) = credentials::test_keys::cert_and_key("ca");
        assert!(check_ca_pem(&cert).is_ok());
        assert!(check_ca_pem(&format!("{cert}{cert}")).is_ok());
        assert!(check_ca_pem("junk").is_err());
    }
}
