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

/// A small CLI for DOC001's fixtures: `platctl state {versions,rollback,lock,unlock}`,
/// `platctl tf` and `platctl drift`, with their long flags.
pub fn cli() -> platctl_check::docs::Cli {
    use platctl_check::docs::Cli;
    let leaf = |flags: &[&str]| Cli {
        flags: flags.iter().chain(&["--help"]).map(|f| (*f).to_owned()).collect(),
        subcommands: Default::default(),
    };
    let mut state = leaf(&[]);
    for (name, flags) in [
        ("versions", &["--env"][..]),
        ("rollback", &["--env", "--to"][..]),
        ("lock", &["--env"][..]),
        ("unlock", &["--env"][..]),
    ] {
        state.subcommands.insert(name.to_owned(), leaf(flags));
    }
    let mut root = leaf(&["--version"]);
    root.subcommands.insert("state".into(), state);
    root.subcommands.insert("tf".into(), leaf(&["--env"]));
    root.subcommands.insert("drift".into(), leaf(&["--env", "--all"]));
    root
}
