//! Runbooks that resolve (rule DOC001 of `platctl check`, driven through the
//! real binary): every Application, namespace, workflow, alert, link and
//! platctl command (and flag) named in docs/runbooks and
//! docs/getting-started.md exists — commands against the binary's own CLI; a
//! document naming things that do not exist is reported, each at its line.

use std::path::Path;

use serde_json::Value;

use crate::support::*;

/// DOC001's findings on ROOT: (exit code, (file, line, message)).
fn doc001(root: &Path) -> (i32, Vec<(String, u64, String)>) {
    let (code, findings) = check_only(root, "DOC001");
    let findings = findings
        .iter()
        .map(|f: &Value| {
            (
                f["file"].as_str().unwrap_or("").to_owned(),
                f["line"].as_u64().unwrap_or(0),
                f["message"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    (code, findings)
}

#[test]
fn every_name_in_the_runbooks_and_getting_started_resolves() {
    let (code, findings) = doc001(&repo_root());
    assert_eq!(code, 0, "names that do not resolve: {findings:#?}");
    assert!(findings.is_empty(), "names that do not resolve: {findings:#?}");
    // The check looks at what it should: the real documents name Applications and commands.
    let runbook = std::fs::read_to_string(repo_root().join("docs/runbooks/gitops-rollback.md"))
        .expect("runbook");
    assert!(runbook.contains("argocd app sync production-apps"));
    let guide =
        std::fs::read_to_string(repo_root().join("docs/getting-started.md")).expect("guide");
    assert!(guide.contains("platctl init") && guide.contains("platctl secrets bootstrap"));
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
    let (code, findings) = doc001(root);
    assert_eq!(code, 1, "{findings:#?}");
    let got: Vec<(u64, String)> = findings
        .into_iter()
        .filter(|(file, _, _)| file == "docs/runbooks/broken.md")
        .map(|(_, line, message)| (line, message))
        .collect();
    let want: Vec<(u64, &str)> = vec![
        (4, "Argo CD Application \"platform-production\" does not resolve"),
        (6, "namespace \"nowhere\" does not resolve"),
        (7, "platctl command \"platctl state frobnicate\" does not resolve"),
        (8, "platctl flag \"platctl drift --colour\" does not resolve"),
        (12, "alert \"PlatformNothingHappened\" does not resolve"),
        (12, "workflow \"deploy.yml\" does not resolve"),
        (13, "linked file \"../nope.md\" does not resolve"),
        (13, "namespace \"nope\" does not resolve"),
    ];
    assert_eq!(got.len(), want.len(), "{got:#?}");
    for ((line, msg), (want_line, want_msg)) in got.iter().zip(&want) {
        assert_eq!(line, want_line, "{msg}");
        assert!(msg.starts_with(want_msg), "{msg} !~ {want_msg}");
    }
}

#[test]
fn getting_started_is_checked_too() {
    let copy = repo_copy();
    let root = copy.path();
    let path = root.join("docs/getting-started.md");
    let text = std::fs::read_to_string(&path).expect("guide");
    std::fs::write(&path, format!("{text}\n```sh\nplatctl secrets unseal-everything\n```\n"))
        .expect("write");
    let (code, findings) = doc001(root);
    assert_eq!(code, 1, "{findings:#?}");
    assert!(
        findings.iter().any(|(f, _, m)| f == "docs/getting-started.md"
            && m.contains("\"platctl secrets unseal-everything\"")),
        "{findings:#?}"
    );
}
