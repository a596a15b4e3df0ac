//! `pushgate app` (tenants, with the admin token) and `pushgate token` (app credentials for tokens).

use anyhow::{Result, bail};
use clap::Subcommand;
use pushgate::proto::v1::{
    CreateAppRequest, DeleteAppRequest, IssueTokenRequest, ListAppsRequest, RotateAppSecretRequest,
    app_service_client::AppServiceClient, auth_service_client::AuthServiceClient,
};

use super::client::{ClientArgs, with_token};

/// The app subcommands.
#[derive(Subcommand, Debug)]
pub enum AppCommand {
    /// Create an app `org#app`; prints its client id and secret (shown once).
    Create {
        /// The app name, `org#app`.
        name: String,
        /// Time zone for do-not-disturb intervals (UTC, +08:00, Asia/Shanghai).
        #[arg(long, default_value = "")]
        time_zone: String,
    },
    /// List apps.
    List,
    /// Delete an app and everything it owns.
    Delete {
        /// The app name, `org#app`.
        name: String,
    },
    /// Replace an app's client secret; every token issued before stops working.
    RotateSecret {
        /// The app name, `org#app`.
        name: String,
    },
}

/// The token subcommands.
#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Issue an app token from a client id and secret; prints the token.
    Issue {
        /// The app's client id.
        #[arg(long, env = "PUSHGATE_CLIENT_ID")]
        client_id: String,
        /// The app's client secret.
        #[arg(long, env = "PUSHGATE_CLIENT_SECRET", hide_env_values = true)]
        client_secret: String,
        /// Token lifetime in seconds (0 = the server's default).
        #[arg(long, default_value_t = 0)]
        ttl: u64,
    },
}

/// Runs an app subcommand with the admin token.
pub async fn app(args: ClientArgs, command: AppCommand) -> Result<()> {
    let token = args.admin_token()?;
    let mut client = AppServiceClient::new(args.connect().await?);
    match command {
        AppCommand::Create { name, time_zone } => {
            let r = client
                .create_app(with_token(CreateAppRequest { name, time_zone }, &token)?)
                .await?
                .into_inner();
            let Some(app) = r.app else {
                bail!("the server answered without the app")
            };
            println!("app:           {}", app.name);
            println!("client_id:     {}", app.client_id);
            println!("client_secret: {}", r.client_secret);
            println!("(the secret is shown only now)");
        }
        AppCommand::List => {
            let mut page_token = String::new();
            loop {
                let r = client
                    .list_apps(with_token(
                        ListAppsRequest {
                            page_size: 100,
                            page_token,
                        },
                        &token,
                    )?)
                    .await?
                    .into_inner();
                for app in r.apps {
                    println!("{}\t{}\t{}", app.name, app.client_id, app.time_zone);
                }
                if r.next_page_token.is_empty() {
                    break;
                }
                page_token = r.next_page_token;
            }
        }
        AppCommand::Delete { name } => {
            let r = client
                .delete_app(with_token(DeleteAppRequest { name: name.clone() }, &token)?)
                .await?
                .into_inner();
            println!("deleted {name} ({} records)", r.removed_records);
        }
        AppCommand::RotateSecret { name } => {
            let r = client
                .rotate_app_secret(with_token(RotateAppSecretRequest { name }, &token)?)
                .await?
                .into_inner();
            println!("client_secret: {}", r.client_secret);
            println!("(the secret is shown only now; older tokens no longer work)");
        }
    }
    Ok(())
}

/// Runs a token subcommand (no token needed: it is how one gets a token).
pub async fn token(args: ClientArgs, command: TokenCommand) -> Result<()> {
    let mut client = AuthServiceClient::new(args.connect().await?);
    match command {
        TokenCommand::Issue {
            client_id,
            client_secret,
            ttl,
        } => {
            let r = client
                .issue_token(IssueTokenRequest {
                    client_id,
                    client_secret,
                    ttl: (ttl > 0).then_some(prost_types::Duration {
                        seconds: ttl as i64,
                        nanos: 0,
                    }),
                })
                .await?
                .into_inner();
            println!("{}", r.access_token);
            if let Some(t) = r.expire_time {
                eprintln!("app {} token expires at unix {}", r.app, t.seconds);
            }
        }
    }
    Ok(())
}
