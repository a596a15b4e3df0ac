//! What every subcommand that talks to a running server shares: the address and token flags, the
//! connection, and the bearer token on each request.

use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use pushgate::{config::Config, tenant::ADMIN_TOKEN_FILE};
use tonic::{
    Request,
    metadata::MetadataValue,
    transport::{Channel, Endpoint},
};

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
    /// Bearer token. For app commands without one, the admin token file of the default data directory
    /// (./pushgate-data/admin-token) is read, so the quick start needs no copying.
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

    /// Connects to the server, waiting at most `--timeout` for the connection and for each answer.
    pub async fn connect(&self) -> Result<Channel> {
        Endpoint::from_shared(self.endpoint.clone())
            .context("invalid --endpoint")?
            .connect_timeout(self.timeout())
            .timeout(self.timeout())
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
