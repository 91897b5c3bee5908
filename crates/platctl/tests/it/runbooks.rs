//! Runbooks that resolve: every Application, namespace, workflow, alert, link
//! and platctl command (and flag) named in docs/runbooks exists — checked
//! against the tree and the real binary's --help; a runbook naming things
//! that do not exist is reported, each at its line.

use std::path::Path;
use std::process::Command;

use platctl_config::runbooks::{self, RefKind};

use crate::support::*;

/// `platctl <path> --help`, or None when that command does not exist.
fn help(path: &[String]) -> Option<String> {
    let o =
        Command::new(platctl_bin()).args(path).arg("--help").env("NO_COLOR", "1").output().ok()?;
    o.status.success().then(|| String::from_utf8_lossy(&o.stdout).into_owned())
}

fn check(root: &Path) -> Vec<runbooks::Unresolved> {
    runbooks::check(root, &help).expect("runbooks")
}

#[test]
fn every_name_in_the_runbooks_resolves() {
    let unresolved = check(&repo_root());
    assert!(unresolved.is_empty(), "names that do not resolve: {unresolved:#?}");
    // The check looks at what it should: the real runbooks name Applications and commands.
    let names = runbooks::names(&repo_root());
    for app in ["production-apps", "sample-service-production", "platform", "root"] {
        assert!(names.applications.contains(app), "{app}: {:?}", names.applications);
    }
}

#[test]
fn a_runbook_naming_what_does_not_exist_fails() {
    let copy = repo_copy();
    let root = copy.path();
    std::fs::write(
        root.join("docs/runbooks/broken.md"),
        "# Broken\n\
         \n\
         ```sh\n\
         argocd app sync platform-production --prune\n\
         argocd app sync <app>\n\
         kubectl -n nowhere get pods\n\
         platctl state frobnicate --env production\n\
         platctl drift --env production --colour\n\
         platctl tf --env production -- plan -no-color\n\
         ```\n\
         \n\
         The workflow `.github/workflows/deploy.yml` and the alert `PlatformNothingHappened`,\n\
         in namespace `staging` and namespace `nope`; see [the doc](../nope.md).\n",
    )
    .expect("write");
    let got: Vec<(usize, RefKind, String)> = check(root)
        .into_iter()
        .filter(|u| u.file == "docs/runbooks/broken.md")
        .map(|u| (u.line, u.kind, u.name))
        .collect();
    let want: Vec<(usize, RefKind, String)> = vec![
        (4, RefKind::Application, "platform-production".into()),
        (6, RefKind::Namespace, "nowhere".into()),
        (7, RefKind::Command, "platctl state frobnicate".into()),
        (8, RefKind::Flag, "platctl drift --colour".into()),
        (12, RefKind::Workflow, "deploy.yml".into()),
        (12, RefKind::Alert, "PlatformNothingHappened".into()),
        (13, RefKind::Namespace, "nope".into()),
        (13, RefKind::Link, "../nope.md".into()),
    ];
    assert_eq!(got, want);
}
