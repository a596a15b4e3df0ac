//! Where the throwaway server's programs (`initdb`, `pg_ctl`, `postgres`) come from: `PATH`, then the newest
//! of Debian's `/usr/lib/postgresql/<version>/bin`, and on a machine with neither, a PostgreSQL build that a
//! PyPI wheel ships, installed once into a cache directory.
//!
//! The wheel is `pgserver`'s: a manylinux build of PostgreSQL under `pgserver/pginstall` (`bin`, `lib`,
//! `share`, relocatable). Only its files are used, never its Python code, so it is fetched for a fixed
//! Python tag with `pip download` (from a throwaway virtual environment) and unpacked with Python's own
//! `zipfile`, whatever Python the machine has: the tools `tests/polyglot.rs` installs the Python client
//! with, and nothing installed into any Python. A missing binary is never a silent skip: without the wheel either, the error says what was tried.

use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use super::throwaway::ThrowawayError;

/// The wheel's requirement: pinned, so every machine runs the same server and the cache stays valid.
const WHEEL: &str = "pgserver==0.1.4";
/// The cache directory's name (under the directory the server's files go to): one per pinned wheel.
const CACHE_NAME: &str = "postgres-from-pypi-pgserver-0.1.4";
/// Where the programs lie inside the unpacked wheel.
const BIN_IN_WHEEL: &str = "pgserver/pginstall/bin";
/// How long the download and the unpacking may take, each.
const INSTALL_LIMIT: Duration = Duration::from_secs(300);

/// Whether `dir` holds every program the throwaway server runs.
fn has_all(dir: &Path) -> bool {
    ["initdb", "pg_ctl", "postgres"]
        .iter()
        .all(|p| dir.join(p).is_file())
}

/// The directory holding the server's programs: `PATH` first, then Debian's directories, then the wheel
/// (installed under `cache_root` on first use).
pub(super) fn find(cache_root: &Path) -> Result<PathBuf, ThrowawayError> {
    if let Some(dir) = installed() {
        return Ok(dir);
    }
    from_wheel(cache_root).map_err(|e| ThrowawayError::NoBinaries(e.to_string()))
}

/// The server's programs already on this machine, if any.
fn installed() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PATH")
        && let Some(dir) = std::env::split_paths(&path).find(|d| has_all(d))
    {
        return Some(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            has_all(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// The wheel's programs, installed under `cache_root` unless they are there already. Installs go to a
/// directory of their own and are renamed into place, so test binaries installing at once never see a half
/// unpacked one; the loser of that race removes its copy.
pub(super) fn from_wheel(cache_root: &Path) -> Result<PathBuf, ThrowawayError> {
    let cache = cache_root.join(CACHE_NAME);
    let bin = cache.join(BIN_IN_WHEEL);
    if has_all(&bin) {
        return Ok(bin);
    }
    let io = |what: &str| {
        let what = what.to_owned();
        move |source| ThrowawayError::Io { what, source }
    };
    std::fs::create_dir_all(cache_root).map_err(io("create the wheel's cache directory"))?;
    let staging = cache_root.join(format!(
        "{CACHE_NAME}.partial-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let wheels = staging.join("wheel");
    let tree = staging.join("tree");
    let log = staging.join("install.log");
    let result = (|| {
        std::fs::create_dir_all(&wheels).map_err(io("create the download directory"))?;
        // A manylinux wheel for this machine's architecture and a fixed Python tag: only its files are
        // used, so the local Python's version does not matter.
        let platform = format!("manylinux2014_{}", std::env::consts::ARCH);
        // pip from a virtual environment of its own, as `tests/polyglot.rs` gets it: a system Python may
        // come without pip (Debian's does), never without `venv` on a machine that runs the tests.
        let venv = staging.join("venv");
        let mut create = Command::new("python3");
        create.args(["-m", "venv"]).arg(&venv);
        run_limited(create, "python3 -m venv", &log)?;
        let mut download = Command::new(venv.join("bin/python"));
        download
            .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
            .args(["--python-version", "3.11", "--platform", &platform, "-d"])
            .arg(&wheels)
            .arg(WHEEL);
        run_limited(download, "pip download", &log)?;
        let wheel = std::fs::read_dir(&wheels)
            .map_err(io("read the downloaded wheel's directory"))?
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "whl"))
            .ok_or_else(|| ThrowawayError::Program {
                program: "pip download".into(),
                status: "no wheel".into(),
                output: format!("nothing in {}", wheels.display()),
            })?;
        let mut unpack = Command::new("python3");
        unpack.args(["-m", "zipfile", "-e"]).arg(&wheel).arg(&tree);
        run_limited(unpack, "python3 -m zipfile", &log)?;
        // A zip keeps no permissions as Python unpacks it: the programs become executable, and every file
        // readable by the server's user (`nobody` under root).
        open_to_all(&tree).map_err(io("make the wheel's files usable"))?;
        Ok(())
    })();
    let placed = result.and_then(|()| match std::fs::rename(&tree, &cache) {
        Ok(()) => Ok(()),
        // Another process placed it first.
        Err(_) if has_all(&bin) => Ok(()),
        Err(e) => Err(io("move the unpacked wheel into place")(e)),
    });
    let _ = std::fs::remove_dir_all(&staging);
    placed?;
    if has_all(&bin) {
        Ok(bin)
    } else {
        Err(ThrowawayError::Program {
            program: "the PostgreSQL wheel".into(),
            status: "incomplete".into(),
            output: format!("{WHEEL} has no initdb, pg_ctl and postgres under {BIN_IN_WHEEL}"),
        })
    }
}

/// Directories 0755, files 0755 under a `bin` directory and 0644 elsewhere, recursively.
fn open_to_all(dir: &Path) -> std::io::Result<()> {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
    let in_bin = dir.file_name().is_some_and(|n| n == "bin");
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            open_to_all(&path)?;
        } else {
            let mode = if in_bin { 0o755 } else { 0o644 };
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))?;
        }
    }
    Ok(())
}

/// Runs `command` to its end, killed after [`INSTALL_LIMIT`]; its output goes to the file `log`, so a chatty
/// installer cannot block on a full pipe, and comes back in the error when it fails.
fn run_limited(mut command: Command, program: &str, log: &Path) -> Result<(), ThrowawayError> {
    let failed = |source| ThrowawayError::Io {
        what: format!("run {program}"),
        source,
    };
    let out = std::fs::File::create(log).map_err(failed)?;
    let err = out.try_clone().map_err(failed)?;
    let mut child = command
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(failed)?;
    let deadline = Instant::now() + INSTALL_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(failed)? {
            if status.success() {
                return Ok(());
            }
            break status.to_string();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break format!("killed after {} s", INSTALL_LIMIT.as_secs());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let text = std::fs::read_to_string(log).unwrap_or_default();
    Err(ThrowawayError::program(program, status, &text))
}
