//! pushgate's benchmark harness: one command per scenario, each printing a one-line summary per case and
//! appending its figures, the command and the machine to BENCHMARKS.md.
//!
//! `cargo run --release --bin pushgate-bench -- <scenario>`; `--help` lists the scenarios, and
//! `<scenario> --help` their options.

mod backend;
mod broadcast;
mod channel;
mod copy;
mod dispatch;
mod fakes;
mod idle;
mod machine;
mod report;
mod send;
mod server;

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
    /// SendSync through a server process vs direct dispatch to the same fake vendor: sends/s, p50/p99
    /// latency, ratio (target ≥ 0.5).
    Send(send::Args),
    /// One broadcast task to N bound devices through a server process: wall time, devices/s, peak RSS
    /// (targets ≤ 60 s, ≤ 256 MB for 1,000,000); with `--replicas N` on PostgreSQL, one replica and then N
    /// in one sitting (target ≥ 0.8x of one replica's devices/s).
    Broadcast(broadcast::Args),
    /// N own-channel subscribers of a server process: RSS per subscriber (target ≤ 10 kB) and the time
    /// one broadcast takes to reach them all (target ≤ 2 s).
    Channel(channel::Args),
    /// RSS of a server with an empty store once start-up settles (target ≤ 30 MB).
    Idle(idle::Args),
    /// A sled store of N users (100,000 by default) moved to PostgreSQL by `pushgate store copy`'s code:
    /// wall time, records/s, and the same answers from a server on the copy.
    Copy(copy::Args),
    /// The server the scenarios start as a child process (run by them, not by hand).
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
        Scenario::Send(args) => send::run(args, command)?,
        Scenario::Broadcast(args) => broadcast::run(args, command)?,
        Scenario::Channel(args) => channel::run(args, command)?,
        Scenario::Idle(args) => idle::run(args, command)?,
        Scenario::Copy(args) => copy::run(args, command)?,
        Scenario::ServeChild => return server::serve_child(),
    };
    if !cli.no_append {
        run.append_to(&cli.out)?;
        println!("appended to {}", cli.out.display());
    }
    Ok(())
}
