//! Helpers for the sled-only tests (what every backend must do is tested in `store::conformance`).

use super::SledStore;

/// A store in a fresh temporary directory (kept alive by the returned guard).
pub fn temp_store() -> (tempfile::TempDir, SledStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SledStore::open(dir.path()).expect("open store");
    (dir, store)
}
