//! The `pushgate` command: run the server, print its config, and talk to a running server over gRPC.

use std::{net::IpAddr, path::PathBuf, time::Duration};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use pushgate::{
    config::Config,
    proto::v1::{
        CreateAppRequest, DeleteAppRequest, IssueTokenRequest, ListAppsRequest,
        RotateAppSecretRequest, app_service_client::AppServiceClient,
        auth_service_client::AuthServiceClient,
    },
    sandbox::{Sandbox, SandboxConfig},
    tenant::ADMIN_TOKEN_FILE,
};
use tonic::{
    Request,
    metadata::MetadataValue,
    transport::{Channel, Endpoint},
};

#[derive(Parser)]
#[command(
    name = "pushgate",
    version,
    about = "Self-hosted push-notification gateway"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gRPC server.
    Serve {
        /// TOML config file (defaults < file < PUSHGATE_* environment).
        #[arg(long, env = "PUSHGATE_CONFIG")]
        config: Option<PathBuf>,
        /// Also start the sandbox vendors (every vendor fake) in this process, on
        /// their default ports, for a one-command demo; prints how to point notifiers at them.
        #[arg(long)]
        sandbox: bool,
    },
    /// Run fake vendor servers (APNs, FCM, Huawei, Honor, Xiaomi) that check requests like the real
    /// ones, until Ctrl-C.
    Sandbox(SandboxArgs),
    /// Inspect the configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Manage apps (tenants); needs the admin token.
    App {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: AppCommand,
    },
    /// Exchange app credentials for tokens.
    Token {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: TokenCommand,
    },
}

#[derive(Args, Clone)]
struct SandboxArgs {
    /// Address the fakes listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Port of the plain-HTTP control API.
    #[arg(long, default_value_t = 8600)]
    control_port: u16,
    /// Port of the APNs fake.
    #[arg(long, default_value_t = 8601)]
    apns_port: u16,
    /// Port of the FCM fake.
    #[arg(long, default_value_t = 8602)]
    fcm_port: u16,
    /// Port of the Huawei Push Kit fake.
    #[arg(long, default_value_t = 8603)]
    huawei_port: u16,
    /// Port of the Honor Push fake.
    #[arg(long, default_value_t = 8604)]
    honor_port: u16,
    /// Port of the Xiaomi MiPush fake.
    #[arg(long, default_value_t = 8605)]
    xiaomi_port: u16,
    /// Port of the OPPO fake.
    #[arg(long, default_value_t = 8606)]
    oppo_port: u16,
    /// Port of the vivo fake.
    #[arg(long, default_value_t = 8607)]
    vivo_port: u16,
    /// Port of the Meizu fake.
    #[arg(long, default_value_t = 8608)]
    meizu_port: u16,
    /// Where `ca.pem` and `notifiers.json` are written.
    #[arg(long, default_value = "./pushgate-sandbox")]
    out_dir: PathBuf,
}

impl Default for SandboxArgs {
    fn default() -> Self {
        #[derive(Parser)]
        struct Defaults {
            #[command(flatten)]
            args: SandboxArgs,
        }
        Defaults::parse_from(["defaults"]).args
    }
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print the effective configuration (secrets redacted).
    Print {
        /// TOML config file.
        #[arg(long, env = "PUSHGATE_CONFIG")]
        config: Option<PathBuf>,
    },
}

#[derive(Args)]
struct ClientArgs {
    /// Server address.
    #[arg(
        long,
        env = "PUSHGATE_ENDPOINT",
        default_value = "http://127.0.0.1:50051",
        global = true
    )]
    endpoint: String,
    /// Bearer token. For app commands without one, the admin token file of the default data directory
    /// (./pushgate-data/admin-token) is read, so the quick start needs no copying.
    #[arg(long, env = "PUSHGATE_TOKEN", hide_env_values = true, global = true)]
    token: Option<String>,
    /// Seconds to wait for the server.
    #[arg(long, default_value_t = 10, global = true)]
    timeout: u64,
}

#[derive(Subcommand)]
enum AppCommand {
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

#[derive(Subcommand)]
enum TokenCommand {
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

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config, sandbox } => serve(config, sandbox).await,
        Command::Sandbox(args) => {
            let sandbox = start_sandbox(&args).await?;
            shutdown_signal().await;
            sandbox.shutdown().await;
            Ok(())
        }
        Command::Config {
            command: ConfigCommand::Print { config },
        } => {
            let config = Config::load(config.as_deref())?;
            print!("{}", config.to_redacted_toml());
            Ok(())
        }
        Command::App { client, command } => app(client, command).await,
        Command::Token { client, command } => token(client, command).await,
    }
}

async fn serve(config_path: Option<PathBuf>, sandbox: bool) -> Result<()> {
    let config = Config::load(config_path.as_deref())?;
    pushgate::telemetry::init(&config.log.filter);
    // Kept alive until the server returns; dropping it with the process ends the fakes.
    let sandbox = match sandbox {
        true => Some(start_sandbox(&SandboxArgs::default()).await?),
        false => None,
    };
    pushgate::server::run(config, shutdown_signal()).await?;
    if let Some(sandbox) = sandbox {
        sandbox.shutdown().await;
    }
    Ok(())
}

/// Starts the sandbox vendors, writes their CA and notifier bodies to the out dir, and prints how to use
/// them.
async fn start_sandbox(args: &SandboxArgs) -> Result<Sandbox> {
    let sandbox = Sandbox::start(SandboxConfig {
        host: args.host,
        control_port: args.control_port,
        apns_port: args.apns_port,
        fcm_port: args.fcm_port,
        huawei_port: args.huawei_port,
        honor_port: args.honor_port,
        xiaomi_port: args.xiaomi_port,
        oppo_port: args.oppo_port,
        vivo_port: args.vivo_port,
        meizu_port: args.meizu_port,
        ..SandboxConfig::default()
    })
    .await
    .context("cannot start the sandbox vendors")?;
    let (ca, notifiers) = sandbox
        .write_files(&args.out_dir)
        .with_context(|| format!("cannot write into {}", args.out_dir.display()))?;
    println!("{}", sandbox.describe(&ca, &notifiers));
    Ok(sandbox)
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

async fn connect(args: &ClientArgs) -> Result<Channel> {
    Endpoint::from_shared(args.endpoint.clone())
        .context("invalid --endpoint")?
        .connect_timeout(Duration::from_secs(args.timeout))
        .timeout(Duration::from_secs(args.timeout))
        .connect()
        .await
        .with_context(|| format!("cannot reach pushgate at {}", args.endpoint))
}

fn with_token<T>(message: T, token: &str) -> Result<Request<T>> {
    let mut request = Request::new(message);
    let value: MetadataValue<_> = format!("Bearer {token}")
        .parse()
        .context("the token is not valid metadata")?;
    request.metadata_mut().insert("authorization", value);
    Ok(request)
}

fn admin_token(args: &ClientArgs) -> Result<String> {
    if let Some(token) = &args.token {
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

async fn app(args: ClientArgs, command: AppCommand) -> Result<()> {
    let token = admin_token(&args)?;
    let mut client = AppServiceClient::new(connect(&args).await?);
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

async fn token(args: ClientArgs, command: TokenCommand) -> Result<()> {
    let mut client = AuthServiceClient::new(connect(&args).await?);
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
