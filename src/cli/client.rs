//! What every subcommand that talks to a running server shares: the address, token and output flags, the
//! connection, the bearer token and deadline on each request, readable errors and paged lists.

use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use prost::{Message, Name};
use pushgate::{config::Config, tenant::ADMIN_TOKEN_FILE};
use tonic::{
    Code, Request, Response, Status,
    metadata::MetadataValue,
    transport::{Channel, Endpoint},
};
use tonic_types::StatusExt;

use super::output::{self, Output};

/// How to reach a server, who to be there, and how to print what it answers.
/// The variable that holds an app token for every command but `app`.
pub const APP_TOKEN_ENV: &str = "PUSHGATE_TOKEN";

#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Server")]
pub struct ClientArgs {
    /// Output format: text and tables for people, or JSON for scripts (each response in protobuf JSON on one
    /// line).
    // No heading of its own: it is listed with the command's options, not under "Server".
    #[arg(long, value_enum, default_value_t = Output::Human, global = true, help_heading = Option::<&str>::None)]
    pub output: Output,
    /// Server address.
    #[arg(
        long,
        env = "PUSHGATE_ENDPOINT",
        default_value = "http://127.0.0.1:50051",
        global = true
    )]
    pub endpoint: String,
    /// Bearer token. Without it, `app` commands read the admin token from ./pushgate-data/admin-token (so the
    /// quick start needs no copying), and every other command takes the app token in PUSHGATE_TOKEN (from
    /// `pushgate token issue`).
    // Not `env = PUSHGATE_TOKEN`: that variable holds an app token, which `app` commands must not pick up
    // (an exported app token would make every admin command fail with PERMISSION_DENIED).
    #[arg(long, global = true)]
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

    /// The token given with `--token`, else the admin token file of the default data directory;
    /// `PUSHGATE_TOKEN` is an app token and never used here.
    pub fn admin_token(&self) -> Result<String> {
        if let Some(token) = &self.token {
            return Ok(token.clone());
        }
        let config = Config::load(None)?;
        let path = config.store.data_dir.join(ADMIN_TOKEN_FILE);
        let token = std::fs::read_to_string(&path)
            .with_context(|| format!("no --token given and {} cannot be read", path.display()))?;
        Ok(token.trim().to_owned())
    }

    /// The app token given with `--token`, else `PUSHGATE_TOKEN`; there is no file to fall back on, since app
    /// tokens expire and belong to one app.
    pub fn app_token(&self) -> Result<String> {
        let from_env = std::env::var(APP_TOKEN_ENV).ok();
        match self.token.as_ref().or(from_env.as_ref()) {
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

/// Which token a command group's calls carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// The admin token (`app`).
    Admin,
    /// An app token (everything but `app` and `token issue`).
    App,
    /// None: `token issue` is how one gets a token.
    None,
}

/// A connection to the server with the token and settings every call of one command uses.
pub struct Session {
    channel: Channel,
    token: Option<String>,
    timeout: Duration,
    /// How to print the answers.
    pub output: Output,
}

impl ClientArgs {
    /// Finds the token `auth` asks for, then connects: a missing token is reported without a server.
    pub async fn session(&self, auth: Auth) -> Result<Session> {
        let token = match auth {
            Auth::Admin => Some(self.admin_token()?),
            Auth::App => Some(self.app_token()?),
            Auth::None => None,
        };
        Ok(Session {
            channel: self.connect().await?,
            token,
            timeout: self.timeout(),
            output: self.output,
        })
    }
}

impl Session {
    /// The connection, for a service client.
    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// `message` with the bearer token, and `--timeout` as its gRPC deadline, so that the server stops
    /// working on a call the CLI has given up on (and SendSync answers for the devices it could reach).
    pub fn request<T>(&self, message: T) -> Result<Request<T>> {
        let mut request = match &self.token {
            Some(token) => with_token(message, token)?,
            None => Request::new(message),
        };
        request.set_timeout(self.timeout);
        Ok(request)
    }

    /// Prints an answer: its protobuf JSON, or the text `human` makes of it.
    pub fn print<M: Message + Name>(
        &self,
        message: &M,
        human: impl FnOnce(&M) -> String,
    ) -> Result<()> {
        output::print(self.output, message, human)
    }
}

/// The answer of a unary call; a failure reads as the server's status, not tonic's debug dump.
pub async fn answer<T>(call: impl Future<Output = Result<Response<T>, Status>>) -> Result<T> {
    Ok(call.await.map_err(status_error)?.into_inner())
}

/// Every item of a paged list. `fetch` gets the page token (empty for the first page) and returns the page's
/// items and the next token (empty after the last page).
pub async fn all_pages<T>(
    mut fetch: impl AsyncFnMut(String) -> Result<(Vec<T>, String)>,
) -> Result<Vec<T>> {
    let mut items = Vec::new();
    let mut token = String::new();
    loop {
        let (page, next) = fetch(token.clone()).await?;
        items.extend(page);
        if next.is_empty() {
            return Ok(items);
        }
        // A server that hands back the token it was given would keep the CLI listing forever.
        if next == token {
            bail!("the server returned the same page token twice; stopping the listing");
        }
        token = next;
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
            output: Output::Human,
            endpoint: "http://127.0.0.1:1".into(),
            token: None,
            timeout: 1,
        };
        let err = args.app_token().unwrap_err().to_string();
        assert!(err.contains("--token"), "{err}");
        args.token = Some(" abc \n".into());
        assert_eq!(args.app_token().unwrap(), "abc");
    }

    #[tokio::test]
    async fn pages_are_joined_until_the_last_token() {
        let pages = [(vec![1, 2], "p2"), (vec![3], "p3"), (vec![], "")];
        let mut asked = Vec::new();
        let items = all_pages(async |token: String| {
            asked.push(token);
            let (items, next) = pages[asked.len() - 1].clone();
            Ok((items, next.to_owned()))
        })
        .await
        .unwrap();
        assert_eq!(items, [1, 2, 3]);
        assert_eq!(asked, ["", "p2", "p3"]);
    }

    #[tokio::test]
    async fn a_page_token_that_repeats_stops_the_listing() {
        let err = all_pages(async |_token: String| Ok((vec![1], "same".to_owned())))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("same page token"), "{err}");
    }
}
