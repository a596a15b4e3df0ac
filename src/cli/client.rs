//! What every subcommand that talks to a running server shares: the address and token flags, the
//! connection, and the bearer token on each request.

use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use clap::Args;
use pushgate::{config::Config, tenant::ADMIN_TOKEN_FILE};
use tonic::{
    Code, Request, Status,
    metadata::MetadataValue,
    transport::{Channel, Endpoint},
};
use tonic_types::StatusExt;

/// How to reach a server and who to be there.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Server")]
pub struct ClientArgs {
    /// Server address.
    #[arg(
        long,
        env = "PUSHGATE_ENDPOINT",
        default_value = "http://127.0.0.1:50051",
        global = true
    )]
    pub endpoint: String,
    /// Bearer token: the admin token for `app` (without one, ./pushgate-data/admin-token is read, so the
    /// quick start needs no copying); an app token, from `pushgate token issue`, for `task`.
    #[arg(long, env = "PUSHGATE_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// Seconds to wait for the server.
    #[arg(long, default_value_t = 10, global = true)]
    pub timeout: u64,
}

impl ClientArgs {
    /// The bound on each wait for the server.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout)
    }

    /// The token given with `--token` / `PUSHGATE_TOKEN`, else the admin token file of the default data
    /// directory.
    pub fn admin_token(&self) -> Result<String> {
        if let Some(token) = &self.token {
            return Ok(token.clone());
        }
        let config = Config::load(None)?;
        let path = config.store.data_dir.join(ADMIN_TOKEN_FILE);
        let token = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "no --token / PUSHGATE_TOKEN given and {} cannot be read",
                path.display()
            )
        })?;
        Ok(token.trim().to_owned())
    }

    /// The app token given with `--token` / `PUSHGATE_TOKEN`; there is no file to fall back on, since app
    /// tokens expire and belong to one app.
    pub fn app_token(&self) -> Result<String> {
        match &self.token {
            Some(token) if !token.trim().is_empty() => Ok(token.trim().to_owned()),
            _ => Err(anyhow!(
                "an app token is needed: pass --token or set PUSHGATE_TOKEN \
                 (get one with `pushgate token issue`)"
            )),
        }
    }

    /// Connects to the server, waiting at most `--timeout` for the connection and for each answer.
    pub async fn connect(&self) -> Result<Channel> {
        Endpoint::from_shared(self.endpoint.clone())
            .context("invalid --endpoint")?
            .connect_timeout(self.timeout())
            // Bounds the wait for an answer's headers only; streams bound each item themselves.
            .timeout(self.timeout())
            // A long watch must notice a connection that died silently instead of waiting on it forever.
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_timeout(self.timeout())
            .keep_alive_while_idle(true)
            .connect()
            .await
            .with_context(|| format!("cannot reach pushgate at {}", self.endpoint))
    }
}

/// `message` with `authorization: Bearer <token>`.
pub fn with_token<T>(message: T, token: &str) -> Result<Request<T>> {
    let mut request = Request::new(message);
    let value: MetadataValue<_> = format!("Bearer {token}")
        .parse()
        .context("the token is not valid metadata")?;
    request.metadata_mut().insert("authorization", value);
    Ok(request)
}

/// An error for a failed call, readable by a person: the code, the message, and the field violations or
/// quota failures the server attached, rather than tonic's debug dump.
pub fn status_error(status: Status) -> anyhow::Error {
    anyhow!(describe_status(&status))
}

/// The text of [`status_error`].
pub fn describe_status(status: &Status) -> String {
    let mut text = match (status.code(), status.message()) {
        // The server predates the service (or is not pushgate): say so rather than a bare code.
        (Code::Unimplemented, _) => {
            "the server does not offer this call (UNIMPLEMENTED)".to_owned()
        }
        (code, "") => code_name(code).to_owned(),
        (code, message) => format!("{message} ({})", code_name(code)),
    };
    if let Some(bad) = status.get_details_bad_request() {
        for v in bad.field_violations {
            text.push_str(&format!("\n  {}: {}", v.field, v.description));
        }
    }
    if let Some(quota) = status.get_details_quota_failure() {
        for v in quota.violations {
            text.push_str(&format!("\n  {}: {}", v.subject, v.description));
        }
    }
    if let Some(retry) = status.get_details_retry_info()
        && let Some(delay) = retry.retry_delay
    {
        text.push_str(&format!("\n  retry in {} s", delay.as_secs()));
    }
    text
}

/// The gRPC name of a code (`NOT_FOUND`), as the API documentation spells it.
fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic_types::{ErrorDetails, StatusExt};

    #[test]
    fn a_status_reads_as_its_message_code_and_violations() {
        let status = Status::with_error_details(
            Code::InvalidArgument,
            "bad request",
            ErrorDetails::with_bad_request_violation("users", "at most 10000 users"),
        );
        assert_eq!(
            describe_status(&status),
            "bad request (INVALID_ARGUMENT)\n  users: at most 10000 users"
        );
    }

    #[test]
    fn unimplemented_says_the_server_lacks_the_call() {
        let status = Status::unimplemented("");
        assert_eq!(
            describe_status(&status),
            "the server does not offer this call (UNIMPLEMENTED)"
        );
        assert_eq!(describe_status(&Status::not_found("")), "NOT_FOUND");
    }

    #[test]
    fn an_app_token_is_required_and_trimmed() {
        let mut args = ClientArgs {
            endpoint: "http://127.0.0.1:1".into(),
            token: None,
            timeout: 1,
        };
        let err = args.app_token().unwrap_err().to_string();
        assert!(err.contains("--token"), "{err}");
        args.token = Some(" abc \n".into());
        assert_eq!(args.app_token().unwrap(), "abc");
    }
}
