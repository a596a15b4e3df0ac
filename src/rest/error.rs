//! Easemob's error answer: `{error, exception, timestamp, duration, error_description}` with its HTTP status.
//! Every failure of the REST layer is one of these; gRPC statuses from the services it calls are translated
//! here (`From<Status>`), so a bad field named by `BadRequest` details reaches the caller by name.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::clock::now_ms;

/// One REST failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestError {
    /// The HTTP status.
    pub status: StatusCode,
    /// Easemob's `error` name.
    pub error: &'static str,
    /// Easemob's `exception` (the class name its Java server reports).
    pub exception: &'static str,
    /// What went wrong, for a person.
    pub description: String,
}

impl RestError {
    fn new(
        status: StatusCode,
        error: &'static str,
        exception: &'static str,
        description: impl Into<String>,
    ) -> Self {
        Self {
            status,
            error,
            exception,
            description: description.into(),
        }
    }

    /// 400: the request breaks a rule; `description` names the field.
    pub fn bad_request(description: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "illegal_argument",
            "java.lang.IllegalArgumentException",
            description,
        )
    }

    /// 400: the body is not the JSON the path takes.
    pub fn bad_json(description: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "json_parse",
            "com.fasterxml.jackson.core.JsonParseException",
            description,
        )
    }

    /// 401: no token, or one that is not valid (or not for this app).
    pub fn unauthorized(description: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "EasemobSecurityException",
            description,
        )
    }

    /// 401: a token that is malformed, or not one this server issued.
    pub fn bad_token(description: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "auth_bad_access_token",
            "org.apache.usergrid.rest.exceptions.SecurityException",
            description,
        )
    }

    /// 400: client credentials that do not match (the token path).
    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "org.apache.usergrid.rest.exceptions.InvalidGrantException",
            description,
        )
    }

    /// 403: refused by a rule of the account.
    pub fn forbidden(description: impl Into<String>) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden_op",
            "EasemobForbiddenOpException",
            description,
        )
    }

    /// 403: over Easemob's push task limits (its push pages: `LimitException`, "limit request").
    pub fn limit(description: impl Into<String>) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "limit_request",
            "LimitException",
            description,
        )
    }

    /// 404: no such resource.
    pub fn not_found(description: impl Into<String>) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "service_resource_not_found",
            "org.apache.usergrid.services.exceptions.ServiceResourceNotFoundException",
            description,
        )
    }

    /// 404: no such path (the push pages: "url is invalid").
    pub fn no_such_path() -> Self {
        Self::not_found("url is invalid")
    }

    /// 404: the path's org and app name no app.
    pub fn no_such_app(org: &str, app: &str, uri: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "organization_application_not_found",
            "org.apache.usergrid.rest.exceptions.OrganizationApplicationNotFoundException",
            format!("Could not find application for {org}/{app} from URI: {uri}"),
        )
    }

    /// 413: the body is larger than `rest.max_body_bytes`.
    pub fn too_large(description: impl Into<String>) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request_entity_too_large",
            "EasemobRequestEntityTooLargeException",
            description,
        )
    }

    /// 429: over a rate limit ("This request has reached api limit"; the detail follows).
    pub fn too_many(description: impl Into<String>) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "reach_limit",
            "EasemobReachLimitException",
            format!("This request has reached api limit: {}", description.into()),
        )
    }

    /// 503: the store is away; try again.
    pub fn unavailable(description: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            "EasemobServiceUnavailableException",
            description,
        )
    }

    /// 500: anything else.
    pub fn internal(description: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_server_error",
            "java.lang.RuntimeException",
            description,
        )
    }

    /// The answer, with `duration` the milliseconds since the request began.
    pub fn answer(self, began_ms: i64) -> Response {
        let now = now_ms();
        let body = serde_json::json!({
            "error": self.error,
            "exception": self.exception,
            "timestamp": now,
            "duration": (now - began_ms).max(0),
            "error_description": self.description,
        });
        (self.status, Json(body)).into_response()
    }
}

impl From<Status> for RestError {
    /// The gRPC service's refusal in Easemob's terms; a `BadRequest` detail's fields are named first.
    fn from(status: Status) -> Self {
        let fields: Vec<String> = status
            .get_details_bad_request()
            .map(|b| {
                b.field_violations
                    .iter()
                    .map(|v| format!("{}: {}", v.field, v.description))
                    .collect()
            })
            .unwrap_or_default();
        let text = if fields.is_empty() {
            status.message().to_owned()
        } else {
            fields.join("; ")
        };
        match status.code() {
            Code::InvalidArgument | Code::OutOfRange => Self::bad_request(text),
            Code::Unauthenticated => Self::unauthorized(text),
            Code::PermissionDenied | Code::FailedPrecondition => Self::forbidden(text),
            Code::NotFound => Self::not_found(text),
            // Task limits are Easemob's 403; a rate or size limit its 429.
            Code::ResourceExhausted if status.message().contains("task") => Self::limit(text),
            Code::ResourceExhausted => Self::too_many(text),
            Code::Unavailable | Code::DeadlineExceeded => Self::unavailable(text),
            _ => Self::internal(text),
        }
    }
}
