//! `pushgate migrate`: the store's schema brought up to date without starting a server (a server does the
//! same at start; operators who apply schema changes in their own deploy step run this first).
//! `pushgate store copy`: a sled store moved into PostgreSQL (`pushgate::store::copy`), with progress bars.

use std::{
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Subcommand};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use pushgate::{
    config::{Config, Secret},
    store::{
        Backend, SledStore, StoreError,
        copy::{self, CopyError, CopyObserver, CopyOptions, Planned},
        portable::Kind,
        postgres::{self, CopyTarget},
    },
};

use super::output::{Align, Table};

/// Applies the PostgreSQL schema's pending migrations and says what it did.
pub async fn migrate(config: Option<PathBuf>) -> Result<()> {
    let config = Config::load(config.as_deref())?;
    if config.store.backend != Backend::Postgres {
        bail!(
            "store.backend is \"sled\", whose layout has no migrations; migrate applies to \
             store.backend = \"postgres\" (with store.postgres.url)"
        );
    }
    let migrated = postgres::migrate_database(&config.store.postgres).await?;
    match migrated.applied.last() {
        None => println!("schema at version {}: up to date", migrated.from),
        Some(to) => println!(
            "schema migrated from version {} to {to} (applied {})",
            migrated.from,
            migrated
                .applied
                .iter()
                .map(i32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
    Ok(())
}

/// `pushgate store …`: commands on the store itself, run while no server uses it.
#[derive(Subcommand, Debug)]
pub enum StoreCommand {
    /// Copy a sled store (a stopped server's data directory) into a PostgreSQL database: every record as
    /// it is, resumable after an interruption, the counts checked at the end.
    ///
    /// Run it again after an interruption to go on from the last batch that committed; `--restart` begins
    /// again. The database must be empty, or hold an earlier copy of the same directory.
    Copy(CopyArgs),
}

/// `pushgate store copy`.
#[derive(Args, Debug)]
pub struct CopyArgs {
    /// The data directory of the sled store to copy (`store.data_dir` of the server, which must be
    /// stopped: sled lets one process at a time open it).
    #[arg(long, value_name = "DIR")]
    from: PathBuf,
    /// The PostgreSQL database to copy into, `postgres://user:password@host:port/database`; the rest of
    /// `[store.postgres]` (TLS, timeouts) comes from the configuration.
    #[arg(
        long,
        value_name = "URL",
        env = "PUSHGATE_STORE_POSTGRES_URL",
        hide_env_values = true
    )]
    to: String,
    /// TOML config file (defaults < file < PUSHGATE_* environment), for `[store.postgres]`.
    #[arg(long, env = "PUSHGATE_CONFIG")]
    config: Option<PathBuf>,
    /// Records per batch; each batch is one transaction, and an interrupted copy resumes after the last
    /// one that committed.
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    batch_size: u64,
    /// Empty a database an earlier copy wrote into (finished or not, with anything written since) and copy
    /// again from the start: after the sled store changed, or to copy another one. Never once a server has
    /// run on the database.
    #[arg(long)]
    restart: bool,
    /// Milliseconds to wait after each batch: for the tests that interrupt a copy.
    #[arg(long, hide = true, value_name = "MS", default_value_t = 0)]
    pause_after_batch_ms: u64,
}

/// Copies the sled store into PostgreSQL with progress bars, and prints the counts it checked.
pub async fn copy(args: CopyArgs) -> Result<()> {
    let started = Instant::now();
    let mut config = Config::load(args.config.as_deref())?;
    config.store.postgres.url = Some(Secret::new(args.to));
    let source = std::fs::canonicalize(&args.from)
        .with_context(|| format!("cannot read {}", args.from.display()))?;
    let sled = Arc::new(SledStore::open_to_copy(&source)?);
    let mut target = CopyTarget::connect(&config.store.postgres).await?;
    let options = CopyOptions {
        batch_size: usize::try_from(args.batch_size).unwrap_or(usize::MAX),
        restart: args.restart,
        pause_between_batches: Duration::from_millis(args.pause_after_batch_ms),
    };
    let mut bars = Bars::new();
    let report = copy::copy(
        sled,
        &source.display().to_string(),
        &mut target,
        &options,
        &mut bars,
    )
    .await
    .map_err(|e| match e {
        CopyError::Store(StoreError::Unavailable(_)) => anyhow!(
            "{e}; run the same command again when the database is back: the copy goes on after its last \
             committed batch"
        ),
        other => other.into(),
    })?;
    drop(bars);
    let records: u64 = report.counts.iter().map(|c| c.in_target).sum();
    let mut table = Table::new(&[
        ("KIND", Align::Left),
        ("IN SLED", Align::Right),
        ("IN POSTGRESQL", Align::Right),
    ]);
    for c in report.counts.iter().filter(|c| c.in_source > 0) {
        table.row(vec![
            c.kind.name().to_owned(),
            c.in_source.to_string(),
            c.in_target.to_string(),
        ]);
    }
    print!("{}", table.render());
    println!(
        "copied {records} records{} from {} in {:.1} s; every kind's count checked",
        if report.resumed {
            " (resuming an earlier copy)"
        } else {
            ""
        },
        source.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The copy's progress bars: the whole copy, and the kind being copied.
struct Bars {
    multi: MultiProgress,
    total: ProgressBar,
    kind: Option<(Kind, ProgressBar)>,
    planned: Vec<Planned>,
}

impl Bars {
    fn new() -> Self {
        let multi = MultiProgress::new();
        let style = ProgressStyle::with_template(
            "[{elapsed_precise}] {wide_bar} {pos}/{len} records  {per_sec}  eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        let total = multi.add(ProgressBar::new(0).with_style(style));
        Self {
            multi,
            total,
            kind: None,
            planned: Vec::new(),
        }
    }

    /// Prints a line above the bars (or alone, when they are not shown: output that is not a terminal).
    fn say(&self, line: String) {
        if self.multi.is_hidden() {
            println!("{line}");
        } else {
            let _ = self.multi.println(line);
        }
    }
}

/// The bars leave the screen when the copy ends, however it ends.
impl Drop for Bars {
    fn drop(&mut self) {
        if let Some((_, bar)) = self.kind.take() {
            bar.finish_and_clear();
        }
        self.total.finish_and_clear();
    }
}

impl CopyObserver for Bars {
    fn planned(&mut self, kinds: &[Planned]) {
        self.planned = kinds.to_vec();
        self.total
            .set_length(kinds.iter().map(|k| k.in_source).sum());
        self.total
            .set_position(kinds.iter().map(|k| k.copied).sum());
        let earlier: u64 = kinds.iter().map(|k| k.copied).sum();
        if earlier > 0 {
            self.say(format!(
                "resuming an earlier copy: {earlier} records were copied before"
            ));
        }
    }

    fn copied(&mut self, kind: Kind, records: u64) {
        if self.kind.as_ref().is_none_or(|(shown, _)| *shown != kind) {
            let planned = self.planned.iter().find(|p| p.kind == kind);
            let style = ProgressStyle::with_template("{prefix:>22} {wide_bar} {pos}/{len}")
                .unwrap_or_else(|_| ProgressStyle::default_bar());
            let bar = self.multi.add(
                ProgressBar::new(planned.map_or(0, |p| p.in_source))
                    .with_style(style)
                    .with_prefix(kind.name())
                    .with_position(planned.map_or(0, |p| p.copied)),
            );
            if let Some((_, old)) = self.kind.replace((kind, bar)) {
                old.finish_and_clear();
            }
        }
        if let Some((_, bar)) = &self.kind {
            bar.inc(records);
        }
        self.total.inc(records);
    }

    fn finished(&mut self, kind: Kind) {
        let copied = self
            .kind
            .as_ref()
            .filter(|(shown, _)| *shown == kind)
            .map_or(0, |(_, bar)| bar.position());
        if copied > 0 {
            self.say(format!("{kind}: {copied} copied"));
        }
    }

    fn verifying(&mut self) {
        self.say("checking the counts".into());
    }
}
