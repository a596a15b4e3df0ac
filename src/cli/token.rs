//! `pushgate token`: app credentials for an app token, and an app token for a user's own-channel token
//! (AuthService).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Subcommand;
use pushgate::proto::v1::{
    IssueTokenRequest, IssueUserTokenRequest, auth_service_client::AuthServiceClient,
};

use super::{
    client::{Auth, ClientArgs, answer},
    output::timestamp,
};

/// The token subcommands.
#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Issue an app token from a client id and secret; prints the token (its expiry goes to stderr).
    Issue {
        /// The app's client id.
        #[arg(
            long,
            env = "PUSHGATE_CLIENT_ID",
            required_unless_present = "credentials"
        )]
        client_id: Option<String>,
        /// The app's client secret.
        #[arg(
            long,
            env = "PUSHGATE_CLIENT_SECRET",
            hide_env_values = true,
            required_unless_present = "credentials"
        )]
        client_secret: Option<String>,
        /// Read the client id and secret from FILE: what `app create` or `app rotate-secret` printed with
        /// `--output json`.
        #[arg(long, value_name = "FILE", conflicts_with_all = ["client_id", "client_secret"])]
        credentials: Option<PathBuf>,
        /// Token lifetime in seconds (0 = the server's default, 24 h unless configured).
        #[arg(long, default_value_t = 0)]
        ttl: u64,
    },
    /// Issue a short-lived token with which one user's devices open the own channel
    /// (ChannelService.Subscribe); needs an app token. Prints the token (its expiry goes to stderr).
    User {
        /// The user id.
        user: String,
        /// Token lifetime in seconds (0 = the server's default, 1 h unless configured).
        #[arg(long, default_value_t = 0)]
        ttl: u64,
    },
}

/// The client id and secret in a CreateAppResponse or RotateAppSecretResponse printed as protobuf JSON.
fn read_credentials(file: &Path) -> Result<(String, String)> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read --credentials {}", file.display()))?;
    let json: serde_json::Value = serde_json::from_str(&text).with_context(|| {
        format!(
            "--credentials {} is not JSON (write it with `app create --output json`)",
            file.display()
        )
    })?;
    let field = |value: &serde_json::Value, name: &str| {
        value
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .with_context(|| format!("--credentials {} has no {name}", file.display()))
    };
    Ok((
        field(&json["app"]["clientId"], "app.clientId")?,
        field(&json["clientSecret"], "clientSecret")?,
    ))
}

/// `--ttl` as the request field: 0 leaves it to the server.
fn ttl(seconds: u64) -> Option<prost_types::Duration> {
    (seconds > 0).then(|| prost_types::Duration {
        seconds: i64::try_from(seconds).unwrap_or(i64::MAX),
        nanos: 0,
    })
}

/// The token alone on stdout, so that `$(pushgate token ...)` captures just it; the rest for people on
/// stderr.
fn token_text(token: &str, expiry: Option<&prost_types::Timestamp>, whose: &str) -> String {
    if let Some(expiry) = timestamp(expiry) {
        eprintln!("{whose} token expires at {expiry}");
    }
    format!("{token}\n")
}

/// Runs a token subcommand.
pub async fn run(args: ClientArgs, command: TokenCommand) -> Result<()> {
    match command {
        TokenCommand::Issue {
            client_id,
            client_secret,
            credentials,
            ttl: seconds,
        } => {
            let (client_id, client_secret) = match credentials {
                Some(file) => read_credentials(&file)?,
                None => (
                    client_id.unwrap_or_default(),
                    client_secret.unwrap_or_default(),
                ),
            };
            // No token: this is how one gets one.
            let session = args.session(Auth::None).await?;
            let mut client = AuthServiceClient::new(session.channel());
            let request = IssueTokenRequest {
                client_id,
                client_secret,
                ttl: ttl(seconds),
            };
            let r = answer(client.issue_token(session.request(request)?)).await?;
            session.print(&r, |r| {
                token_text(
                    &r.access_token,
                    r.expire_time.as_ref(),
                    &format!("app {}", r.app),
                )
            })?;
        }
        TokenCommand::User { user, ttl: seconds } => {
            let session = args.session(Auth::App).await?;
            let mut client = AuthServiceClient::new(session.channel());
            let request = IssueUserTokenRequest {
                user,
                ttl: ttl(seconds),
            };
            let r = answer(client.issue_user_token(session.request(request)?)).await?;
            session.print(&r, |r| {
                token_text(
                    &r.access_token,
                    r.expire_time.as_ref(),
                    &format!("user {}", r.user),
                )
            })?;
        }
    }
    Ok(())
}
