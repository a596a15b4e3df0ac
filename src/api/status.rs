//! Domain errors as gRPC statuses: a stable code, a readable message and `google.rpc` details.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

use crate::{
    callback::rules::RuleError, channel::ChannelError, devices::DeviceError, labels::LabelError,
    notifier::NotifierError, settings::SettingsError, store::StoreError, tenant::TenantError,
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

impl From<DeviceError> for Status {
    fn from(e: DeviceError) -> Self {
        match e {
            DeviceError::Invalid(v) => invalid(&v),
            DeviceError::NoNotifier(name) => Status::with_error_details(
                Code::FailedPrecondition,
                format!("notifier {name} does not exist: create it before binding devices to it"),
                ErrorDetails::with_precondition_failure_violation(
                    "NOT_FOUND",
                    format!("notifier/{name}"),
                    "the binding's notifier must exist",
                ),
            ),
            DeviceError::LimitReached { limit } => quota(
                "devices.max_bindings_per_user",
                format!("a user may hold at most {limit} bindings"),
            ),
            DeviceError::Store(e) => e.into(),
        }
    }
}

impl From<NotifierError> for Status {
    fn from(e: NotifierError) -> Self {
        match e {
            NotifierError::Invalid(v) => invalid(&v),
            NotifierError::NotFound(name) => not_found("notifier", &name),
            NotifierError::Exists(name) => Status::with_error_details(
                Code::AlreadyExists,
                format!("{name} already exists"),
                ErrorDetails::with_resource_info("notifier", name, "", "already exists"),
            ),
            NotifierError::LimitReached { limit } => quota(
                "notifiers.max_per_app",
                format!("an app may have at most {limit} notifiers"),
            ),
            NotifierError::Sealed(e) => {
                tracing::error!(error = %e, "notifier credentials unreadable");
                Status::internal("stored notifier credentials cannot be read")
            }
            NotifierError::Store(e) => e.into(),
        }
    }
}

impl From<LabelError> for Status {
    fn from(e: LabelError) -> Self {
        match e {
            LabelError::Invalid(v) => invalid(&v),
            LabelError::NotFound(name) => not_found("label", &name),
            LabelError::UserNotFound { label, user } => Status::with_error_details(
                Code::NotFound,
                format!("user {user} is not a member of label {label}"),
                ErrorDetails::with_resource_info(
                    "label_user",
                    format!("{label}/{user}"),
                    "",
                    "not a member",
                ),
            ),
            LabelError::Exists(name) => Status::with_error_details(
                Code::AlreadyExists,
                format!("label {name} already exists"),
                ErrorDetails::with_resource_info("label", name, "", "already exists"),
            ),
            LabelError::TooManyLabels { limit } => {
                quota("labels", format!("an app may have at most {limit} labels"))
            }
            LabelError::LabelFull { label, limit } => quota(
                "label_users",
                format!(
                    "label {label} may hold at most {limit} users; the users new to it would exceed that, so none was added"
                ),
            ),
            e @ LabelError::InUse { .. } => Status::failed_precondition(e.to_string()),
            LabelError::Store(e) => e.into(),
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

impl From<ChannelError> for Status {
    fn from(e: ChannelError) -> Self {
        match e {
            ChannelError::Invalid(v) => invalid(&v),
            e @ ChannelError::Expired { .. } => Status::failed_precondition(e.to_string()),
            e @ ChannelError::Replaced => Status::aborted(e.to_string()),
            e @ ChannelError::TooSlow { .. } => quota("channel.stream_buffer", e.to_string()),
            e @ ChannelError::ShuttingDown => Status::unavailable(e.to_string()),
            ChannelError::Store(e) => e.into(),
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
    fn labels_errors_carry_their_details() {
        let status: Status = LabelError::UserNotFound {
            label: "l".into(),
            user: "u".into(),
        }
        .into();
        assert_eq!(status.code(), Code::NotFound);
        let info = status.get_error_details();
        let info = info.resource_info().expect("resource info");
        assert_eq!(info.resource_type, "label_user");
        let status: Status = LabelError::LabelFull {
            label: "l".into(),
            limit: 3,
        }
        .into();
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert!(status.get_details_quota_failure().is_some());
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
    fn channel_errors_have_stable_codes() {
        let status: Status = ChannelError::Replaced.into();
        assert_eq!(status.code(), Code::Aborted);
        let status: Status = ChannelError::TooSlow { buffer: 4 }.into();
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert!(
            status.message().contains("too slowly"),
            "{}",
            status.message()
        );
        assert!(status.message().contains("inbox"), "{}", status.message());
        let status: Status = ChannelError::ShuttingDown.into();
        assert_eq!(status.code(), Code::Unavailable);
        let status: Status = ChannelError::Invalid(Violations::single("device_id", "x")).into();
        assert_eq!(status.code(), Code::InvalidArgument);
    }

    #[test]
    fn backend_errors_do_not_leak() {
        let status: Status = StoreError::Backend("/secret/path broke".into()).into();
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("/secret"));
    }
}
