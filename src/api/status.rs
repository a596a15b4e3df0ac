//! Domain errors as gRPC statuses: a stable code, a readable message and `google.rpc` details.
//!
//! Every status the API answers with is built here, and stays small whatever the request held: a status
//! travels in HTTP/2 headers (the message, and the details again in `grpc-status-details-bin`), and a
//! client refuses headers past its limit (16 KiB for many) with an error that hides the real one. So each
//! name or value a message or detail quotes is clipped (see [`validate::clip`] and [`validate::bound`]),
//! the message is at most [`MAX_MESSAGE_BYTES`] and the details' strings at most [`MAX_DETAILS_BYTES`].

use std::{fmt::Write as _, time::Duration};

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

use crate::{
    callback::rules::RuleError,
    channel::ChannelError,
    devices::DeviceError,
    labels::LabelError,
    notifier::NotifierError,
    push::MessageError,
    settings::SettingsError,
    store::StoreError,
    tenant::TenantError,
    validate::{self, Violations, clip},
};

/// Most bytes of a status message.
pub const MAX_MESSAGE_BYTES: usize = 1024;
/// Most bytes of one string of a status: a violation's field or description, a resource name.
pub const MAX_TEXT_BYTES: usize = 400;
/// Most bytes the strings of a status's details add up to; field violations past it are left out.
pub const MAX_DETAILS_BYTES: usize = 4096;
/// Room kept at the end of an `invalid request` message to say how many violations it left out.
const MORE_BYTES: usize = 40;

/// `text` bounded to [`MAX_TEXT_BYTES`], each quoted value in it clipped.
fn text(text: &str) -> String {
    validate::bound(text, MAX_TEXT_BYTES).into_owned()
}

/// A status without details; `message` is bounded to [`MAX_MESSAGE_BYTES`], each quoted value in it clipped.
pub fn plain(code: Code, message: impl AsRef<str>) -> Status {
    Status::new(
        code,
        validate::bound(message.as_ref(), MAX_MESSAGE_BYTES).into_owned(),
    )
}

/// A status with `details`, whose strings the caller has bounded; the message is bounded here.
fn detailed(code: Code, message: &str, details: ErrorDetails) -> Status {
    Status::with_error_details(
        code,
        validate::bound(message, MAX_MESSAGE_BYTES).into_owned(),
        details,
    )
}

/// `INVALID_ARGUMENT` with a `BadRequest` naming every violated field (as many as fit in
/// [`MAX_DETAILS_BYTES`]); the message lists as many as fit in it and says how many it left out.
pub fn invalid(v: &Violations) -> Status {
    let all = v.list();
    let mut message = String::from("invalid request: ");
    let mut listed = 0;
    let mut violations: Vec<FieldViolation> = Vec::new();
    let mut detail_bytes = 0;
    for f in all {
        let field = text(&f.field);
        let description = text(&f.description);
        detail_bytes += field.len() + description.len();
        if detail_bytes > MAX_DETAILS_BYTES {
            break;
        }
        // The message lists violations in order while they fit; after the first that does not, none.
        if listed == violations.len() {
            let separator = if listed == 0 { "" } else { "; " };
            let part_bytes = separator.len() + field.len() + 2 + description.len();
            if message.len() + part_bytes + MORE_BYTES <= MAX_MESSAGE_BYTES {
                let _ = write!(message, "{separator}{field}: {description}");
                listed += 1;
            }
        }
        violations.push(FieldViolation::new(field, description));
    }
    if listed < all.len() {
        let _ = write!(message, "; and {} more violations", all.len() - listed);
    }
    detailed(
        Code::InvalidArgument,
        &message,
        ErrorDetails::with_bad_request(violations),
    )
}

/// `RESOURCE_EXHAUSTED` with a `QuotaFailure` naming the limit.
pub fn quota(subject: &str, description: String) -> Status {
    quota_retry(subject, description, None)
}

/// `RESOURCE_EXHAUSTED` with a `QuotaFailure` naming the limit and, when given, a `RetryInfo`.
pub fn quota_retry(subject: &str, description: String, retry_after: Option<Duration>) -> Status {
    let mut details = ErrorDetails::with_quota_failure_violation(text(subject), text(&description));
    if let Some(wait) = retry_after {
        details.set_retry_info(Some(wait));
    }
    detailed(Code::ResourceExhausted, &description, details)
}

/// `NOT_FOUND` with a `ResourceInfo` naming the missing resource.
pub fn not_found(kind: &str, name: &str) -> Status {
    resource(Code::NotFound, kind, name, "not found")
}

/// `ALREADY_EXISTS` with a `ResourceInfo` naming the resource.
fn exists(kind: &str, name: &str) -> Status {
    resource(Code::AlreadyExists, kind, name, "already exists")
}

/// `code` for the resource `kind` `name`: "`kind` `name` `what`", and a `ResourceInfo`.
fn resource(code: Code, kind: &str, name: &str, what: &str) -> Status {
    let name = clip(name);
    detailed(
        code,
        &format!("{kind} {name} {what}"),
        ErrorDetails::with_resource_info(kind, name, "", what),
    )
}

impl From<StoreError> for Status {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::AlreadyExists(what) => {
                plain(Code::AlreadyExists, format!("{what} already exists"))
            }
            StoreError::NotFound(what) => plain(Code::NotFound, format!("{what} not found")),
            StoreError::LimitReached { what, limit } => {
                quota(what, format!("at most {limit} {what} per app"))
            }
            e @ StoreError::Unavailable(_) => {
                tracing::warn!(error = %e, "store unavailable");
                Status::unavailable("storage unavailable; try again")
            }
            e @ (StoreError::Backend(_)
            | StoreError::Corrupt { .. }
            | StoreError::SchemaNewer { .. }) => {
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
            TenantError::Unauthenticated(why) => plain(Code::Unauthenticated, why),
            TenantError::AppNotFound(name) => not_found("app", &name),
            TenantError::AppExists(name) => exists("app", &name),
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
            DeviceError::NoNotifier(name) => {
                let name = clip(&name);
                detailed(
                    Code::FailedPrecondition,
                    &format!(
                        "notifier {name} does not exist: create it before binding devices to it"
                    ),
                    ErrorDetails::with_precondition_failure_violation(
                        "NOT_FOUND",
                        format!("notifier/{name}"),
                        "the binding's notifier must exist",
                    ),
                )
            }
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
            NotifierError::Exists(name) => exists("notifier", &name),
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
            LabelError::UserNotFound { label, user } => {
                let (label, user) = (clip(&label), clip(&user));
                detailed(
                    Code::NotFound,
                    &format!("user {user} is not a member of label {label}"),
                    ErrorDetails::with_resource_info(
                        "label_user",
                        format!("{label}/{user}"),
                        "",
                        "not a member",
                    ),
                )
            }
            LabelError::Exists(name) => exists("label", &name),
            LabelError::TooManyLabels { limit } => {
                quota("labels", format!("an app may have at most {limit} labels"))
            }
            LabelError::LabelFull { label, limit } => quota(
                "label_users",
                format!(
                    "label {} may hold at most {limit} users; the users new to it would exceed that, so none was added",
                    clip(&label)
                ),
            ),
            e @ LabelError::InUse { .. } => plain(Code::FailedPrecondition, e.to_string()),
            LabelError::Store(e) => e.into(),
        }
    }
}

impl From<SettingsError> for Status {
    fn from(e: SettingsError) -> Self {
        match e {
            SettingsError::Invalid(v) => invalid(&v),
            SettingsError::TemplateNotFound(name) => not_found("template", &name),
            SettingsError::TemplateExists(name) => exists("template", &name),
            SettingsError::TooManyTemplates { limit } => quota(
                "templates",
                format!("an app may have at most {limit} templates"),
            ),
            SettingsError::Store(e) => e.into(),
        }
    }
}

impl From<MessageError> for Status {
    fn from(e: MessageError) -> Self {
        match e {
            MessageError::UnknownMessage(id) => not_found("message", &id),
            MessageError::UnknownTemplate(name) => not_found("template", &name),
            MessageError::Store(e) => e.into(),
        }
    }
}

impl From<ChannelError> for Status {
    fn from(e: ChannelError) -> Self {
        match e {
            ChannelError::Invalid(v) => invalid(&v),
            e @ ChannelError::Expired { .. } => plain(Code::FailedPrecondition, e.to_string()),
            e @ ChannelError::Replaced => plain(Code::Aborted, e.to_string()),
            e @ ChannelError::TooSlow { .. } => quota("channel.stream_buffer", e.to_string()),
            e @ ChannelError::ShuttingDown => plain(Code::Unavailable, e.to_string()),
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

    #[test]
    fn long_names_are_clipped_in_message_and_details() {
        let long = "a".repeat(20_000);
        let status = not_found("app", &long);
        assert_eq!(status.code(), Code::NotFound);
        assert!(status.message().len() < 200, "{}", status.message());
        assert!(
            status.message().starts_with("app aaaa"),
            "{}",
            status.message()
        );
        assert!(
            status.message().ends_with("… (20000 characters) not found"),
            "{}",
            status.message()
        );
        let info = status.get_details_resource_info().expect("resource info");
        assert!(info.resource_name.ends_with("… (20000 characters)"));
        assert!(status.details().len() < 1024, "{}", status.details().len());

        let status: Status = LabelError::UserNotFound {
            label: long.clone(),
            user: long.clone(),
        }
        .into();
        assert!(status.message().len() < 400, "{}", status.message());
        let info = status.get_details_resource_info().expect("resource info");
        assert!(info.resource_name.len() < 400, "{}", info.resource_name);

        let status: Status = StoreError::NotFound(format!("label {long}")).into();
        assert!(
            status.message().ends_with("… (20000 characters) not found"),
            "{}",
            status.message()
        );
    }

    #[test]
    fn violations_keep_their_field_and_clip_the_value() {
        let long = "a".repeat(20_000);
        let status = invalid(&Violations::single(
            "rule.url",
            format!("{long:?} is not a URL"),
        ));
        assert!(
            status.message().len() <= MAX_MESSAGE_BYTES,
            "{}",
            status.message()
        );
        let expected = format!(
            "\"{}…\" (20000 characters) is not a URL",
            "a".repeat(validate::QUOTE_CHARS - 1)
        );
        assert_eq!(
            status.message(),
            format!("invalid request: rule.url: {expected}")
        );
        let bad = status.get_details_bad_request().expect("bad request");
        assert_eq!(bad.field_violations[0].field, "rule.url");
        assert_eq!(bad.field_violations[0].description, expected);
    }

    #[test]
    fn many_violations_stay_within_the_bounds() {
        let long = "a".repeat(20_000);
        let mut v = Violations::new();
        for i in 0..300 {
            v.add(
                format!("nicknames[{i}].user"),
                format!("{long:?} is not a user id"),
            );
        }
        let status = invalid(&v);
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(
            status.message().len() <= MAX_MESSAGE_BYTES,
            "{}",
            status.message()
        );
        assert!(
            status
                .message()
                .starts_with("invalid request: nicknames[0].user: \"aaa")
        );
        assert!(
            status.message().ends_with(" more violations"),
            "{}",
            status.message()
        );
        // The details carry more of them than the message, within their own bound.
        let bad = status.get_details_bad_request().expect("bad request");
        assert!(
            bad.field_violations.len() > 1,
            "{}",
            bad.field_violations.len()
        );
        assert!(
            status.details().len() <= 2 * MAX_DETAILS_BYTES,
            "{}",
            status.details().len()
        );
        let listed = status.message().matches("nicknames[").count();
        let more: usize = status
            .message()
            .rsplit("; and ")
            .next()
            .and_then(|t| t.split(' ').next())
            .and_then(|n| n.parse().ok())
            .expect("a count of those left out");
        assert_eq!(listed + more, 300, "{}", status.message());
    }

    #[test]
    fn plain_messages_are_bounded() {
        let status = plain(Code::FailedPrecondition, "x ".repeat(20_000));
        assert!(status.message().len() <= MAX_MESSAGE_BYTES);
        assert!(status.message().ends_with("(40000 characters)"));
        let status: Status = TenantError::AppExists("a".repeat(20_000)).into();
        assert_eq!(status.code(), Code::AlreadyExists);
        assert!(
            status
                .message()
                .ends_with("(20000 characters) already exists")
        );
    }
}
