//! `pushgate store copy`: moving a sled store into a PostgreSQL database, every record as it is, resumable
//! after an interruption, with the counts checked at the end.
//!
//! The records go through the portable form of `portable.rs`, not through the repositories' write methods,
//! which would give them new positions and times and check limits (see there). For each kind in turn, sled's
//! exporter (`sled/export.rs`) reads pages in key order on a blocking thread, a page or two ahead, while the
//! target (`postgres/import.rs`) writes each page as one transaction together with the kind's progress: the
//! last source key written and how many records were. A run that stops, whatever the reason, leaves the
//! progress of its last committed page, and the next run goes on after it; `--restart` empties the target
//! and begins again.
//!
//! A copy only starts into a database that is empty or that a copy from the same source began, and changes
//! nothing in it before it has found it so (not even its schema: the servers of a database in use would
//! refuse a newer one). It reads a sled store that nothing else has open (sled locks its directory), so the
//! source cannot change while it runs. At the end, for every kind: the records the source holds, the records the runs copied and the
//! records the target holds must be the same number, or the copy fails and says which differ (a source
//! that changed between an interrupted run and its resumption shows there).
//!
//! Its tests, from sled into a throwaway PostgreSQL database, are in `tests/`.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use super::{
    SledStore, StoreError,
    portable::{ExportPage, Kind},
    postgres::{CopyTarget, KindProgress},
};

#[cfg(test)]
mod tests;

/// How a copy runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyOptions {
    /// Records per batch (one transaction each).
    pub batch_size: usize,
    /// Forget an earlier copy into the target, with what it wrote, and begin again.
    pub restart: bool,
    /// A pause after each batch: none but in tests, which need a copy slow enough to interrupt.
    pub pause_between_batches: Duration,
}

impl Default for CopyOptions {
    fn default() -> Self {
        Self {
            batch_size: 1000,
            restart: false,
            pause_between_batches: Duration::ZERO,
        }
    }
}

/// One kind as a copy begins (or resumes): what the source holds and what earlier runs copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Planned {
    /// The kind.
    pub kind: Kind,
    /// Records of the kind in the source.
    pub in_source: u64,
    /// Records of the kind copied by earlier runs.
    pub copied: u64,
    /// Whether earlier runs copied the kind to its end.
    pub done: bool,
}

/// One kind's counts once every kind is copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// The kind.
    pub kind: Kind,
    /// Records of the kind in the source.
    pub in_source: u64,
    /// Records of the kind the copy's runs wrote.
    pub copied: u64,
    /// Records of the kind in the target.
    pub in_target: u64,
}

impl Verified {
    /// Whether the three counts agree.
    pub fn agrees(&self) -> bool {
        self.in_source == self.copied && self.copied == self.in_target
    }
}

/// What a copy did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyReport {
    /// Whether it went on from an earlier run.
    pub resumed: bool,
    /// Every kind's counts, all agreeing.
    pub counts: Vec<Verified>,
}

/// Hears how a copy goes, to show it (the CLI's progress bars).
pub trait CopyObserver: Send {
    /// Before the first batch: every kind, in copy order.
    fn planned(&mut self, _kinds: &[Planned]) {}
    /// A batch of `records` of `kind` committed.
    fn copied(&mut self, _kind: Kind, _records: u64) {}
    /// `kind` is copied to its end.
    fn finished(&mut self, _kind: Kind) {}
    /// Every kind is copied; the counts are being checked.
    fn verifying(&mut self) {}
}

/// An observer that shows nothing.
impl CopyObserver for () {}

/// Why a copy stopped.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// A store failed (the copy resumes after its last committed batch when run again).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The target holds records that no copy wrote.
    #[error(
        "the target database holds records already ({kinds}) and no copy was begun in it: copy into a new, \
         empty database"
    )]
    NotEmpty {
        /// The kinds it holds, by name.
        kinds: String,
    },
    /// The target is some other database: it has tables and no pushgate schema.
    #[error(
        "the target database is not pushgate's: it holds {tables} and no pushgate schema; copy into a new, \
         empty database"
    )]
    Foreign {
        /// Its tables (and views, sequences), by schema-qualified name.
        tables: String,
    },
    /// The target holds an earlier copy of another source.
    #[error(
        "this database holds a copy from {previous}, not from {from}: finish that one, or pass --restart \
         to delete what it copied and copy {from} instead"
    )]
    OtherSource {
        /// The earlier copy's source.
        previous: String,
        /// This one's.
        from: String,
    },
    /// The source holds records of a kind this version does not copy.
    #[error(
        "the sled store holds records this pushgate does not know how to copy, in {trees}: another pushgate \
         version wrote them; copy with the version that runs on this store"
    )]
    Unknown {
        /// The trees and their number of entries.
        trees: String,
    },
    /// The counts do not agree at the end.
    #[error(
        "the copy's counts do not agree (kind: in sled, copied, in PostgreSQL): {0}; if sled changed \
         since the copy began, copy again with --restart"
    )]
    Mismatch(String),
}

/// The first few of `names`, and how many more there are.
fn some_of(names: &[String]) -> String {
    const SHOWN: usize = 5;
    let shown = names[..names.len().min(SHOWN)].join(", ");
    match names.len().saturating_sub(SHOWN) {
        0 => shown,
        more => format!("{shown} and {more} more"),
    }
}

/// Runs `work` on a blocking thread (sled reads block).
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StoreError::Backend(format!("the sled reader stopped: {e}")))?
}

/// Copies every record of `source` (named `source_name`: its data directory, canonical) into `target`, or
/// goes on with an earlier copy of it; see the module docs.
pub async fn copy(
    source: Arc<SledStore>,
    source_name: &str,
    target: &mut CopyTarget,
    options: &CopyOptions,
    observer: &mut dyn CopyObserver,
) -> Result<CopyReport, CopyError> {
    let unknown = blocking({
        let source = source.clone();
        move || source.uncopied_trees()
    })
    .await?;
    if !unknown.is_empty() {
        let trees: Vec<String> = unknown
            .iter()
            .map(|(tree, entries)| format!("{tree} ({entries})"))
            .collect();
        return Err(CopyError::Unknown {
            trees: trees.join(", "),
        });
    }
    let mut progress = target.progress().await?;
    if options.restart && !progress.is_empty() {
        target.clear().await?;
        progress.clear();
    }
    let resumed = !progress.is_empty();
    if let Some(other) = progress.iter().find(|p| p.source != source_name) {
        return Err(CopyError::OtherSource {
            previous: other.source.clone(),
            from: source_name.to_owned(),
        });
    }
    if !resumed {
        let foreign = target.foreign_tables().await?;
        if !foreign.is_empty() {
            return Err(CopyError::Foreign {
                tables: some_of(&foreign),
            });
        }
        let occupied = target.occupied().await?;
        if !occupied.is_empty() {
            let kinds: Vec<&str> = occupied.iter().map(|k| k.name()).collect();
            return Err(CopyError::NotEmpty {
                kinds: kinds.join(", "),
            });
        }
    }
    target.begin(source_name).await?;
    let progress = target.progress().await?;

    let in_source: BTreeMap<Kind, u64> = blocking({
        let source = source.clone();
        move || {
            Kind::ALL
                .iter()
                .map(|kind| Ok((*kind, source.export_count(*kind)?)))
                .collect()
        }
    })
    .await?;
    let planned: Vec<Planned> = progress
        .iter()
        .map(|p| Planned {
            kind: p.kind,
            in_source: in_source.get(&p.kind).copied().unwrap_or(0),
            copied: p.copied,
            done: p.done,
        })
        .collect();
    observer.planned(&planned);

    for kind in progress.iter().filter(|p| !p.done) {
        copy_kind(&source, target, kind, options, observer).await?;
    }
    target.finish().await?;

    observer.verifying();
    let mut counts = Vec::new();
    for p in target.progress().await? {
        counts.push(Verified {
            kind: p.kind,
            in_source: in_source.get(&p.kind).copied().unwrap_or(0),
            copied: p.copied,
            in_target: target.count(p.kind).await?,
        });
    }
    let differing: Vec<String> = counts
        .iter()
        .filter(|c| !c.agrees())
        .map(|c| format!("{}: {}, {}, {}", c.kind, c.in_source, c.copied, c.in_target))
        .collect();
    if !differing.is_empty() {
        return Err(CopyError::Mismatch(differing.join("; ")));
    }
    Ok(CopyReport { resumed, counts })
}

/// Copies one kind from after its recorded progress to its end: sled's pages read a little ahead on a
/// blocking thread, each written as one transaction with the progress.
async fn copy_kind(
    source: &Arc<SledStore>,
    target: &mut CopyTarget,
    progress: &KindProgress,
    options: &CopyOptions,
    observer: &mut dyn CopyObserver,
) -> Result<(), CopyError> {
    let kind = progress.kind;
    let (pages, mut next_page) = tokio::sync::mpsc::channel::<Result<ExportPage, StoreError>>(2);
    let reader = {
        let source = source.clone();
        let mut after = progress.after_key.clone();
        let limit = options.batch_size.max(1);
        tokio::task::spawn_blocking(move || {
            loop {
                let page = source.export_page(kind, after.as_deref(), limit);
                let (last_key, end) = match &page {
                    Ok(page) => (page.last_key.clone(), page.end),
                    Err(_) => (None, true),
                };
                // A closed channel: the writer stopped (a failed batch), so reading on is pointless.
                if pages.blocking_send(page).is_err() || end {
                    return;
                }
                after = last_key;
            }
        })
    };
    let written: Result<(), CopyError> = async {
        while let Some(page) = next_page.recv().await {
            let page = page?;
            target
                .import(kind, &page.records, page.last_key.as_deref(), page.end)
                .await?;
            observer.copied(kind, page.records.len() as u64);
            if page.end {
                return Ok(());
            }
            if !options.pause_between_batches.is_zero() {
                tokio::time::sleep(options.pause_between_batches).await;
            }
        }
        Err(StoreError::Backend(format!("the sled reader stopped before the end of {kind}")).into())
    }
    .await;
    drop(next_page);
    reader
        .await
        .map_err(|e| StoreError::Backend(format!("the sled reader stopped: {e}")))?;
    written?;
    observer.finished(kind);
    Ok(())
}
