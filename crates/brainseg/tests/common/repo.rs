//! Where the repository is, for the test crates of the core and the trainer (the trainer's
//! `tests/common` includes this file by path).

use std::path::PathBuf;

/// The repository's root, for tests that read its files. Taken from `CARGO_MANIFEST_DIR` as
/// `cargo test` sets it when it runs a test, not as it was when the test compiled: every clone
/// shares one target folder, and cargo reuses a test binary another clone built, whose
/// compile-time path may be gone (then the fuzz corpus looks empty and the real-data tests skip
/// themselves).
pub fn repo_root() -> PathBuf {
    let crate_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into());
    crate_dir.join("../..")
}
