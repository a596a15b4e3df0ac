//! `idle`: the resident memory of a server with an empty store once its start-up has settled.
//!
//! The server is started on a fresh data directory (so its first start generates the admin token and the
//! credentials key, as a new deployment's does) and left alone: no call is made, since one would leave
//! connection buffers and allocator caches behind that an idle server does not have.

use std::time::{Duration, Instant};

use anyhow::Result;

use crate::{
    machine,
    report::{self, Run},
    server::{self, Server},
};

/// The target: 30 MB, in MiB as `/proc` reports.
const TARGET_MIB: f64 = 30.0 * 1_000_000.0 / 1_048_576.0;

/// Options of the idle scenario.
#[derive(clap::Args)]
pub struct Args {
    /// Seconds the server's resident memory must stay within 1 % before it is read.
    #[arg(long, default_value_t = 5)]
    settle_seconds: u64,
    /// Longest wait for it to settle, in seconds; read anyway then (and said so).
    #[arg(long, default_value_t = 60)]
    max_wait_seconds: u64,
}

/// Runs the scenario and returns its report.
pub fn run(args: Args, command: String) -> Result<Run> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let dir = server::data_dir("idle")?;
    let result = runtime.block_on(async {
        let started = Instant::now();
        let server = Server::start(&dir, &[])?;
        let ready = started.elapsed();
        let (memory, settled) = server
            .settled_memory(
                Duration::from_secs(args.settle_seconds),
                Duration::from_secs(args.max_wait_seconds),
            )
            .await;
        server.stop()?;
        Ok::<_, anyhow::Error>((ready, memory, settled))
    });
    server::remove_data_dir(&dir);
    let (ready, m, settled) = result?;
    let met = m.rss_mib() <= TARGET_MIB;
    let settled_text = if settled {
        "it settled".to_string()
    } else {
        format!("it had NOT settled after {} s", args.max_wait_seconds)
    };
    println!(
        "idle: server RSS {:.1} MiB ({:.1} MiB heap and stacks, {:.1} MiB binary and libraries), peak {:.1} MiB, \
         {} threads ({settled_text}); accepting calls {:.0} ms after start; target ≤ 30 MB {}",
        m.rss_mib(),
        m.anon_kib as f64 / 1024.0,
        m.file_kib as f64 / 1024.0,
        m.hwm_kib as f64 / 1024.0,
        m.threads,
        ready.as_secs_f64() * 1000.0,
        if met { "met" } else { "MISSED" },
    );
    Ok(Run {
        title: "idle: a server with an empty store, after start-up settles".into(),
        command,
        machine: machine::describe(),
        columns: [
            "RSS MiB",
            "heap and stacks MiB",
            "binary and libraries MiB",
            "peak RSS MiB",
            "threads",
            "ready ms",
            "≤ 30 MB",
        ]
        .map(String::from)
        .to_vec(),
        rows: vec![vec![
            format!("{:.1}", m.rss_mib()),
            format!("{:.1}", m.anon_kib as f64 / 1024.0),
            format!("{:.1}", m.file_kib as f64 / 1024.0),
            format!("{:.1}", m.hwm_kib as f64 / 1024.0),
            m.threads.to_string(),
            format!("{:.0}", ready.as_secs_f64() * 1000.0),
            report::target(met),
        ]],
        notes: vec![format!(
            "VmRSS of the server process (`serve-child`: telemetry and `server::run` as in `pushgate serve`, \
             default settings, admin port served) on a fresh data directory, read once it had stayed within 1 % \
             for {} s ({settled_text}); no call was made. \"Binary and libraries\" are file pages (RssFile) of \
             the bench binary, which runs the server with the same library code as `pushgate`, and of the shared \
             libraries; the rest is RssAnon. 30 MB = {TARGET_MIB:.1} MiB. \
             \"ready\": from spawning the process until it accepted calls. The runtime starts a worker per core, \
             so the thread count (and their stacks) follows the machine.",
            args.settle_seconds
        )],
    })
}
