//! Shared by the test binaries of platctl-check: where the schemas and the fixtures are.

#![allow(dead_code)] // each test binary uses its own subset

use std::path::{Path, PathBuf};

/// The schema folder: $PLATCTL_SCHEMAS, else ../shared/schemas next to the repository.
pub fn schemas() -> PathBuf {
    if let Some(p) = std::env::var_os("PLATCTL_SCHEMAS") {
        return PathBuf::from(p);
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/schemas");
    assert!(
        p.is_dir(),
        "schemas not found at {}: export PLATCTL_SCHEMAS or run scripts/test",
        p.display()
    );
    p
}

/// tests/fixtures, one folder per rule with bad/ and good/ repositories.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The workspace root (the repository).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}
