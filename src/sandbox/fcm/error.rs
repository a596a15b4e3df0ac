//! Google's error shapes: `google.rpc.Status` JSON for the FCM API and the OAuth token endpoint's
//! `{"error", "error_description"}`.

use axum::response::Response;
use serde_json::{Value, json};

use crate::sandbox::core::{json_response, retry_after};

/// The canonical `google.rpc.Code` name Google pairs with an HTTP status.
pub fn canonical_status(http: u16) -> &'static str {
    match http {
        200 => "OK",
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ABORTED",
        429 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        500 => "INTERNAL",
        501 => "UNIMPLEMENTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "UNKNOWN",
    }
}

/// The detail naming an FCM `ErrorCode`.
pub fn fcm_error(code: &str) -> Value {
    json!({"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code})
}

/// A `google.rpc.BadRequest` detail with one field violation.
pub fn bad_request(field: &str, description: &str) -> Value {
    json!({
        "@type": "type.googleapis.com/google.rpc.BadRequest",
        "fieldViolations": [{"field": field, "description": description}],
    })
}

/// A `google.rpc.ErrorInfo` detail as Google's front end adds to auth failures.
pub fn error_info(reason: &str) -> Value {
    json!({
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": reason,
        "domain": "googleapis.com",
        "metadata": {
            "service": "fcm.googleapis.com",
            "method": "google.firebase.fcm.v1.FcmService.SendMessage",
        },
    })
}

/// An FCM API error answer.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// Human-readable message.
    pub message: String,
    /// `details` entries.
    pub details: Vec<Value>,
    /// `Retry-After` seconds.
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    /// An error without details.
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            details: vec![],
            retry_after_secs: None,
        }
    }

    /// Adds a detail.
    pub fn with(mut self, detail: Value) -> Self {
        self.details.push(detail);
        self
    }

    /// `400 INVALID_ARGUMENT` for a JSON body that does not fit the API's messages.
    pub fn bad_json(field: &str, message: String) -> Self {
        Self::new(400, message.clone()).with(bad_request(field, &message))
    }

    /// The JSON body.
    pub fn body(&self) -> String {
        let mut error = json!({
            "code": self.status,
            "message": self.message,
            "status": canonical_status(self.status),
        });
        if !self.details.is_empty() {
            error["details"] = Value::Array(self.details.clone());
        }
        json!({ "error": error }).to_string()
    }

    /// The HTTP response, given its already rendered body.
    pub fn response(&self, body: &str) -> Response {
        json_response(self.status, body, &retry_after(self.retry_after_secs))
    }
}

/// A failed OAuth token exchange, as Google's token endpoint words it.
#[derive(Debug, Clone, PartialEq)]
pub struct OAuthError {
    /// `invalid_grant`, `invalid_request`, `invalid_scope`, `unsupported_grant_type`.
    pub error: &'static str,
    /// The explanation.
    pub description: String,
}

impl OAuthError {
    /// An `invalid_grant` refusal.
    pub fn grant(description: impl Into<String>) -> Self {
        Self {
            error: "invalid_grant",
            description: description.into(),
        }
    }

    /// The JSON body (always sent with status 400).
    pub fn body(&self) -> String {
        json!({"error": self.error, "error_description": self.description}).to_string()
    }
}
