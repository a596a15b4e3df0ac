//! The command line: the subcommands and what runs each.
//!
//! Every command that fails prints `error: ...` and exits 2, the code clap uses for a bad command line, so
//! that scripts can tell a failure to run from `task watch`'s 1 for a task that failed or was cancelled.

mod admin;
mod client;
mod output;
mod serve;
mod task;
mod watch;

use std::{path::PathBuf, process::ExitCode};

use anyhow::Result;
use clap::{Parser, Subcommand};

use self::{
    admin::{AppCommand, TokenCommand},
    client::ClientArgs,
    serve::{ConfigCommand, SandboxArgs},
    task::TaskArgs,
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
    /// Push one message to many users as a task (broadcast, label, list) and follow it; needs an app token.
    Task(TaskArgs),
}

/// Parses the command line, runs the command and turns its outcome into the exit code.
pub fn main() -> ExitCode {
    pushgate::server::limit_malloc_arenas();
    let cli = Cli::parse();
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
        Command::App { client, command } => admin::app(client, command).await?,
        Command::Token { client, command } => admin::token(client, command).await?,
        Command::Task(args) => return task::run(args).await,
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests;
