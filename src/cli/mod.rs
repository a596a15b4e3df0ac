//! The command line: the subcommands and what runs each.
//!
//! One file per command group: `send`, `task` (with `watch`), `app`, `token`, `notifier`, `device`,
//! `label`, `serve` for the server side and `store` (`migrate`, `store copy`) for the store's own commands. Every command that talks to a server takes the flags of
//! `client.rs` (`--endpoint`, `--token`, `--timeout`, `--output`) and prints through `output/` (tables)
//! or `protojson.rs` (JSON).
//!
//! Every command that fails prints `error: ...` and exits 2, the code clap uses for a bad command line, so
//! that scripts can tell a failure to run from the 1 of `task watch` (a task that failed or was cancelled)
//! and of `send` (a push that did not succeed on every device).

mod app;
mod client;
mod device;
mod input;
mod label;
mod notifier;
mod output;
mod protojson;
mod send;
mod serve;
mod store;
mod task;
mod token;
mod watch;

use std::{path::PathBuf, process::ExitCode};

use anyhow::Result;
use clap::{Parser, Subcommand};

use self::{
    app::AppCommand,
    client::ClientArgs,
    device::DeviceCommand,
    label::LabelCommand,
    notifier::NotifierCommand,
    send::SendArgs,
    serve::{ConfigCommand, SandboxArgs},
    store::StoreCommand,
    task::TaskArgs,
    token::TokenCommand,
};

/// The exit code of a command that could not do its work.
const EXIT_ERROR: u8 = 2;

/// `pushgate`: the whole command line.
#[derive(Parser, Debug)]
#[command(
    name = "pushgate",
    version,
    about = "Self-hosted push-notification gateway"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
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
    /// Run fake vendor servers (APNs, FCM, Huawei, Honor, Xiaomi, OPPO, vivo, Meizu) that check requests
    /// like the real ones, until Ctrl-C.
    Sandbox(SandboxArgs),
    /// Bring the PostgreSQL store's schema up to date (the server also does it at start).
    Migrate {
        /// TOML config file (defaults < file < PUSHGATE_* environment).
        #[arg(long, env = "PUSHGATE_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Commands on the store itself, run while no server uses it (`store copy`: sled to PostgreSQL).
    Store {
        #[command(subcommand)]
        command: StoreCommand,
    },
    /// Inspect the configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Push a message to a few users now and print every device's outcome (SendSync); needs an app token.
    ///
    /// Exits 0 when every device's push succeeded, 1 when some failed, 2 on errors. With `--output json`:
    /// one line per user, the SendSyncResponse with a "user" key.
    Send(SendArgs),
    /// Push one message to many users as a task (broadcast, label, list) and follow it; needs an app token.
    Task(TaskArgs),
    /// Manage apps (tenants) and their callback rules; needs the admin token.
    App {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: AppCommand,
    },
    /// Exchange app credentials for an app token, or an app token for a user's own-channel token.
    Token {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Manage notifiers: the vendor credentials and settings pushes go out with; needs an app token.
    Notifier {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: NotifierCommand,
    },
    /// Bind and unbind users' device tokens; needs an app token.
    Device {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: DeviceCommand,
    },
    /// Manage push labels (groups of users that label tasks push to); needs an app token.
    Label {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: LabelCommand,
    },
}

/// Parses the command line, runs the command and turns its outcome into the exit code.
pub fn main() -> ExitCode {
    pushgate::server::limit_malloc_arenas();
    let cli = Cli::parse();
    if matches!(cli.command, Command::Serve { .. }) {
        // Before the runtime starts its threads; see private_umask. Only for the server: the client
        // commands' files (a task's users file, a notifier body) are the caller's, made as the caller
        // would make them.
        pushgate::server::private_umask();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Serve { config, sandbox } => serve::serve(config, sandbox).await?,
        Command::Sandbox(args) => serve::sandbox(args).await?,
        Command::Config { command } => serve::config(command)?,
        Command::Migrate { config } => store::migrate(config).await?,
        Command::Store { command } => match command {
            StoreCommand::Copy(args) => store::copy(args).await?,
        },
        Command::Send(args) => return send::run(args).await,
        Command::Task(args) => return task::run(args).await,
        Command::App { client, command } => app::run(client, command).await?,
        Command::Token { client, command } => token::run(client, command).await?,
        Command::Notifier { client, command } => notifier::run(client, command).await?,
        Command::Device { client, command } => device::run(client, command).await?,
        Command::Label { client, command } => label::run(client, command).await?,
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests;
