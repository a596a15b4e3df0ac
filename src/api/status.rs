//! Domain errors as gRPC statuses: a stable code, a readable message and `google.rpc` details.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

use crate::{
    callback::rules::RuleError, settings::SettingsError, store::StoreError, tenant::TenantError,
    validate::Violations,
};

/// `INVALID_ARGUMENT` with a `BadRequest` naming every violated field.
pub fn invalid(v: &Violations) -> Status {
    let violations: Vec<FieldViolation> = v
        .list()
        .iter()
        .map(|f| FieldViolation::new(f.field.clone(), f.description.clone()))
        .collect();
    Status::with_error_details(
        Code::InvalidArgument,
        format!("invalid request: {v}"),
        ErrorDetails::with_bad_request(violations),
    )
}

/// `RESOURCE_EXHAUSTED` with a `QuotaFailure` naming the limit.
pub fn quota(subject: &str, description: String) -> Status {
    Status::with_error_details(
        Code::ResourceExhausted,
        description.clone(),
        ErrorDetails::with_quota_failure_violation(subject, description),
    )
}

/// `NOT_FOUND` with a `ResourceInfo` naming the missing resource.
pub fn not_found(kind: &str, name: &str) -> Status {
    Status::with_error_details(
        Code::NotFound,
        format!("{kind} {name} not found"),
        ErrorDetails::with_resource_info(kind, name, "", "not found"),
    )
}

impl From<StoreError> for Status {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::AlreadyExists(what) => {
                Status::already_exists(format!("{what} already exists"))
            }
            StoreError::NotFound(what) => Status::not_found(format!("{what} not found")),
            StoreError::LimitReached { what, limit } => {
                quota(what, format!("at most {limit} {what} per app"))
            }
            e @ (StoreError::Backend(_) | StoreError::Corrupt { .. }) => {
                // The detail stays in the log; callers get a stable, non-leaking message.
                tracing::error!(error = %e, "store failure");
                Status::internal("storage failure")
            }
        }
    }
}

impl From<TenantError> for Status {
    fn from(e: TenantError) -> Self {
        match e {
            TenantError::Invalid(v) => invalid(&v),
            TenantError::Unauthenticated(why) => Status::unauthenticated(why),
            TenantError::AppNotFound(name) => not_found("app", &name),
            TenantError::AppExists(name) => Status::with_error_details(
                Code::AlreadyExists,
                format!("app {name} already exists"),
                ErrorDetails::with_resource_info("app", name, "", "already exists"),
            ),
            TenantError::Store(e) => e.into(),
            TenantError::KeyFile(e) => {
                tracing::error!(error = %e, "key file failure");
                Status::internal("key file failure")
            }
        }
    }
}

impl From<RuleError> for Status {
    fn from(e: RuleError) -> Self {
        match e {
            RuleError::Invalid(v) => invalid(&v),
            RuleError::LimitReached { limit } => quota(
                "callback_rules",
                format!("an app may have at most {limit} callback rules"),
            ),
            RuleError::NotFound(name) => not_found("callback rule", &name),
            RuleError::Store(e) => e.into(),
        }
    }
}

impl From<SettingsError> for Status {
    fn from(e: SettingsError) -> Self {
        match e {
            SettingsError::Invalid(v) => invalid(&v),
            SettingsError::TemplateNotFound(name) => not_found("template", &name),
            SettingsError::TemplateExists(name) => Status::with_error_details(
                Code::AlreadyExists,
                format!("template {name} already exists"),
                ErrorDetails::with_resource_info("template", name, "", "already exists"),
            ),
            SettingsError::TooManyTemplates { limit } => quota(
                "templates",
                format!("an app may have at most {limit} templates"),
            ),
            SettingsError::Store(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violations_become_bad_request_details() {
        let status = invalid(&Violations::single("name", "is required"));
        assert_eq!(status.code(), Code::InvalidArgument);
        let details = status.get_error_details();
        let bad = details.bad_request().expect("bad request details");
        assert_eq!(bad.field_violations[0].field, "name");
        assert_eq!(bad.field_violations[0].description, "is required");
    }

    #[test]
    fn settings_errors_keep_their_details() {
        let status: Status = SettingsError::TooManyTemplates { limit: 3 }.into();
        assert_eq!(status.code(), Code::ResourceExhausted);
        let quota = status.get_error_details().quota_failure().cloned();
        assert_eq!(
            quota.expect("quota failure").violations[0].subject,
            "templates"
        );
        let status: Status = SettingsError::TemplateNotFound("t1".into()).into();
        assert_eq!(status.code(), Code::NotFound);
        let status: Status = SettingsError::TemplateExists("t1".into()).into();
        assert_eq!(status.code(), Code::AlreadyExists);
    }

    #[test]
    fn backend_errors_do_not_leak() {
        let status: Status = StoreError::Backend("/secret/path broke".into()).into();
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("/secret"));
    }
}
