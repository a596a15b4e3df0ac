//! pushgate's benchmark harness: one command per scenario, each printing a one-line summary per case and
//! appending its figures, the command and the machine to BENCHMARKS.md.
//!
//! `cargo run --release --bin pushgate-bench -- dispatch`

mod broadcast;
mod dispatch;
mod machine;
mod report;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "pushgate-bench",
    about = "Measure pushgate against the sandbox vendors"
)]
struct Cli {
    /// Where the figures are appended.
    #[arg(long, default_value = "BENCHMARKS.md", global = true)]
    out: PathBuf,
    /// Print only; append nothing.
    #[arg(long, global = true)]
    no_append: bool,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// Sends/s and CPU per send from a dispatcher straight to each fake vendor.
    Dispatch(dispatch::Args),
    /// One broadcast task to N bound devices through a server process: wall time, devices/s, peak RSS.
    Broadcast(broadcast::Args),
    /// The server of the broadcast scenario (run by it, not by hand).
    #[command(hide = true)]
    ServeChild,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let command = format!(
        "cargo run --release --bin pushgate-bench -- {}",
        std::env::args().skip(1).collect::<Vec<_>>().join(" ")
    );
    let run = match cli.scenario {
        Scenario::Dispatch(args) => dispatch::run(args, command)?,
        Scenario::Broadcast(args) => broadcast::run(args, command)?,
        Scenario::ServeChild => return broadcast::serve_child(),
    };
    if !cli.no_append {
        run.append_to(&cli.out)?;
        println!("appended to {}", cli.out.display());
    }
    Ok(())
}
