//! The data directory: sled's database and, on either backend, the key files generated when none is
//! configured. Private to its owner whichever backend runs, since it holds secrets.

use std::path::Path;

/// Creates `dir` (and any missing parent) accessible to its owner only, as it will hold device tokens and
/// user ids; an existing one that group or others may access is made owner-only, with what is in it, and a
/// warning says so. The files created in it (sled's, generated keys) get the process's umask (see
/// `server::private_umask`).
pub(super) fn private_dir(dir: &Path) -> std::io::Result<()> {
    let existed = dir.exists();
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)?;
    #[cfg(unix)]
    if existed {
        tighten_if_open(dir);
    }
    #[cfg(not(unix))]
    let _ = existed;
    Ok(())
}

/// Makes `dir` and everything in it owner-only when group or others may access it. Best effort: a directory
/// the process does not own (a volume root that Kubernetes' fsGroup gave to root and the pod's group) cannot
/// be changed, and that is no reason to refuse to start, as the files created in it are owner-only anyway.
#[cfg(unix)]
fn tighten_if_open(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = match std::fs::metadata(dir) {
        Ok(meta) => meta.permissions().mode() & 0o777,
        Err(error) => {
            tracing::warn!(dir = %dir.display(), %error, "cannot read the data directory's permissions");
            return;
        }
    };
    if mode & 0o077 == 0 {
        return;
    }
    let mut outcome = Tightened::default();
    owner_only(dir, &mut outcome);
    let mode = format!("{mode:o}");
    match outcome.error {
        None => tracing::warn!(
            dir = %dir.display(),
            mode,
            tightened = outcome.changed,
            "the data directory was open to other users; made it and everything in it owner-only"
        ),
        Some(error) => tracing::warn!(
            dir = %dir.display(),
            mode,
            tightened = outcome.changed,
            failed = outcome.failed,
            %error,
            "the data directory is open to other users and not all of it could be made owner-only (is it \
             another user's?); the files pushgate creates in it are owner-only"
        ),
    }
}

/// What [`owner_only`] did.
#[cfg(unix)]
#[derive(Default)]
struct Tightened {
    /// Entries whose group and other permissions were taken off.
    changed: usize,
    /// Entries that could not be read or changed.
    failed: usize,
    /// The first of those failures.
    error: Option<std::io::Error>,
}

#[cfg(unix)]
impl Tightened {
    fn failed(&mut self, error: std::io::Error) {
        self.failed += 1;
        self.error.get_or_insert(error);
    }
}

/// Takes the group and other permissions off `path` and, for a directory, everything in it (symbolic links
/// are not followed), going on past entries it cannot change.
#[cfg(unix)]
fn owner_only(path: &Path, outcome: &mut Tightened) {
    use std::os::unix::fs::PermissionsExt;
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(error) => return outcome.failed(error),
    };
    if meta.file_type().is_symlink() {
        return;
    }
    if meta.is_dir() {
        match std::fs::read_dir(path) {
            Ok(entries) => {
                for entry in entries {
                    match entry {
                        Ok(entry) => owner_only(&entry.path(), outcome),
                        Err(error) => outcome.failed(error),
                    }
                }
            }
            Err(error) => outcome.failed(error),
        }
    }
    let mode = meta.permissions().mode();
    if mode & 0o077 != 0 {
        match std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & !0o077)) {
            Ok(()) => outcome.changed += 1,
            Err(error) => outcome.failed(error),
        }
    }
}

#[cfg(all(test, unix))]
mod dir_tests {
    // sled-only: the data directory and its permissions are this embedded backend's.
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path)
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    }

    fn set(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn a_new_data_directory_is_owner_only() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&tmp.path().join("a")), 0o700);
    }

    #[test]
    fn an_open_data_directory_is_tightened_without_following_links() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let outside = tmp.path().join("outside");
        std::fs::create_dir_all(dir.join("db")).unwrap();
        std::fs::write(dir.join("db/conf"), "x").unwrap();
        std::fs::write(&outside, "y").unwrap();
        std::os::unix::fs::symlink(&outside, dir.join("link")).unwrap();
        set(&dir, 0o755);
        set(&dir.join("db"), 0o750);
        set(&dir.join("db/conf"), 0o644);
        set(&outside, 0o644);
        private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("db")), 0o700);
        assert_eq!(mode(&dir.join("db/conf")), 0o600);
        assert_eq!(mode(&outside), 0o644, "a link's target is not the store's");

        // An owner-only directory is left as it is, whatever is in it.
        set(&dir.join("db/conf"), 0o640);
        private_dir(&dir).unwrap();
        assert_eq!(mode(&dir.join("db/conf")), 0o640);
    }
}
