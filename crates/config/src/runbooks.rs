//! Runbooks that resolve: every Argo CD Application, namespace, workflow,
//! alert, linked file and `platctl` command named in `docs/runbooks/*.md`
//! exists in the tree or the CLI. The logic of a `platctl check` rule to come
//! (after the rule engine's restructuring); kept here, free of the engine, so
//! it moves as is. The CLI is asked through a callback, so this crate does not
//! depend on the binary.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;
use serde_json::Value;

use crate::{ConfigError, io};

/// What a name in a runbook refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RefKind {
    Application,
    Namespace,
    Workflow,
    Alert,
    Link,
    Command,
    Flag,
}

/// A name that does not resolve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unresolved {
    /// Relative to the repository root.
    pub file: String,
    pub line: usize,
    pub kind: RefKind,
    pub name: String,
}

/// The names the tree defines.
#[derive(Debug, Default)]
pub struct Names {
    pub applications: BTreeSet<String>,
    pub namespaces: BTreeSet<String>,
    pub workflows: BTreeSet<String>,
    pub alerts: BTreeSet<String>,
}

/// Namespaces every cluster has without the tree creating them.
const BUILTIN_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

/// Applications, namespaces, workflows and alerts of the tree at `root`.
pub fn names(root: &Path) -> Names {
    let mut n = Names::default();
    n.namespaces.extend(BUILTIN_NAMESPACES.iter().map(|s| (*s).to_owned()));
    let files = crate::tree::files_under(&root.join("deploy"));
    for f in files.iter().filter(|f| f.extension().is_some_and(|x| x == "yaml" || x == "yml")) {
        let Ok(text) = std::fs::read_to_string(f) else { continue };
        let Ok(docs) = serde_saphyr::from_multiple::<Value>(&text) else { continue };
        for d in docs {
            let kind = d["kind"].as_str().unwrap_or("");
            let name = d["metadata"]["name"].as_str().unwrap_or("");
            if let Some(ns) = d["metadata"]["namespace"].as_str() {
                n.namespaces.insert(ns.to_owned());
            }
            match kind {
                "Application" => {
                    n.applications.insert(name.to_owned());
                    if let Some(ns) = d["spec"]["destination"]["namespace"].as_str() {
                        n.namespaces.insert(ns.to_owned());
                    }
                }
                "Namespace" => {
                    n.namespaces.insert(name.to_owned());
                }
                "PrometheusRule" => {
                    for g in d["spec"]["groups"].as_array().into_iter().flatten() {
                        for r in g["rules"].as_array().into_iter().flatten() {
                            if let Some(a) = r["alert"].as_str() {
                                n.alerts.insert(a.to_owned());
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }
    // Applications Terraform creates (the argocd-apps release of argocd-bootstrap).
    static TF_APP: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?s)applications\s*=\s*\{\s*([a-z0-9-]+)\s*=")
            .unwrap_or_else(|e| unreachable!("{e}"))
    });
    if let Ok(tf) =
        std::fs::read_to_string(root.join("infra/terraform/modules/argocd-bootstrap/main.tf"))
    {
        n.applications.extend(TF_APP.captures_iter(&tf).map(|c| c[1].to_owned()));
        n.namespaces.insert("argocd".into());
    }
    if let Ok(rd) = std::fs::read_dir(root.join(".github/workflows")) {
        n.workflows.extend(rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()));
    }
    n
}

static ARGOCD_APP: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"argocd app (?:sync|wait|get|diff|rollback|set|history|manifests|terminate-op|refresh)\s+([A-Za-z0-9<>_.-]+)")
        .unwrap_or_else(|e| unreachable!("{e}"))
});
static KUBECTL_NS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:\s-n\s+|--namespace[ =])([A-Za-z0-9<>_.-]+)")
        .unwrap_or_else(|e| unreachable!("{e}"))
});
static PROSE_NS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[Nn]amespaces? `([a-z0-9-]+)`").unwrap_or_else(|e| unreachable!("{e}"))
});
static WORKFLOW: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\.github/workflows/([A-Za-z0-9_.-]+\.ya?ml)")
        .unwrap_or_else(|e| unreachable!("{e}"))
});
static ALERT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"`((?:Platform|Platctl|ArgoCD|Certificate|Audit)[A-Z][A-Za-z]+)`")
        .unwrap_or_else(|e| unreachable!("{e}"))
});
static LINK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\]\(([^)#:\s]+)(?:#[^)]*)?\)").unwrap_or_else(|e| unreachable!("{e}"))
});
static PLATCTL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:^|[\s`(;|&])platctl((?:\s+[a-z][a-z-]*)+)((?:\s+[^\s`]+)*)")
        .unwrap_or_else(|e| unreachable!("{e}"))
});
static FLAG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:^|\s)(--[a-z][a-z0-9-]*)").unwrap_or_else(|e| unreachable!("{e}"))
});

/// A name written as a placeholder for the reader (`<app>`, `E`, `ENV`).
fn is_slot(name: &str) -> bool {
    name.contains('<') || name.chars().all(|c| c.is_ascii_uppercase() || c == '_')
}

/// The code of a runbook line: the whole line inside a fenced block, else its
/// `inline code` spans.
fn code_of(line: &str, fenced: bool) -> Vec<String> {
    if fenced {
        return vec![line.to_owned()];
    }
    line.split('`').skip(1).step_by(2).map(str::to_owned).collect()
}

/// Check every runbook under `root/docs/runbooks`. `help(path)` returns the
/// `--help` text of `platctl <path...>`, or `None` when that command does not exist.
pub fn check(
    root: &Path,
    help: &dyn Fn(&[String]) -> Option<String>,
) -> Result<Vec<Unresolved>, ConfigError> {
    let names = names(root);
    let dir = root.join("docs/runbooks");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map_err(io("read folder", &dir))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).map_err(io("read", &path))?;
        let rel = format!(
            "docs/runbooks/{}",
            path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()
        );
        let mut fenced = false;
        for (i, line) in text.lines().enumerate() {
            let mut bad = |kind, name: &str| {
                out.push(Unresolved {
                    file: rel.clone(),
                    line: i + 1,
                    kind,
                    name: name.to_owned(),
                });
            };
            if line.trim_start().starts_with("```") {
                fenced = !fenced;
                continue;
            }
            for m in WORKFLOW.captures_iter(line) {
                if !names.workflows.contains(&m[1]) {
                    bad(RefKind::Workflow, &m[1]);
                }
            }
            for m in ALERT.captures_iter(line) {
                if !names.alerts.contains(&m[1]) {
                    bad(RefKind::Alert, &m[1]);
                }
            }
            for m in PROSE_NS.captures_iter(line) {
                if !names.namespaces.contains(&m[1]) {
                    bad(RefKind::Namespace, &m[1]);
                }
            }
            for m in LINK.captures_iter(line) {
                let target = path.parent().unwrap_or(&dir).join(&m[1]);
                if !target.exists() {
                    bad(RefKind::Link, &m[1]);
                }
            }
            for code in code_of(line, fenced) {
                for m in ARGOCD_APP.captures_iter(&code) {
                    if !is_slot(&m[1]) && !names.applications.contains(&m[1]) {
                        bad(RefKind::Application, &m[1]);
                    }
                }
                if code.contains("kubectl") {
                    for m in KUBECTL_NS.captures_iter(&code) {
                        if !is_slot(&m[1]) && !names.namespaces.contains(&m[1]) {
                            bad(RefKind::Namespace, &m[1]);
                        }
                    }
                }
                for m in PLATCTL.captures_iter(&code) {
                    let words: Vec<String> = m[1].split_whitespace().map(str::to_owned).collect();
                    // The longest prefix of words that is a command.
                    let mut path: Vec<String> = Vec::new();
                    let mut text = None;
                    for w in &words {
                        let mut next = path.clone();
                        next.push(w.clone());
                        match help(&next) {
                            Some(h) => {
                                path = next;
                                text = Some(h);
                            }
                            None => break,
                        }
                    }
                    let Some(help_text) = text else {
                        bad(
                            RefKind::Command,
                            &format!("platctl {}", words.first().map_or("", String::as_str)),
                        );
                        continue;
                    };
                    // A command group followed by a word that is none of its subcommands.
                    if path.len() < words.len() && help_text.contains("\nCommands:") {
                        let name = format!("platctl {} {}", path.join(" "), words[path.len()]);
                        bad(RefKind::Command, &name);
                        continue;
                    }
                    // Flags before a `--` belong to platctl (after it, to terraform).
                    let rest = format!("{}{}", &m[1], &m[2]);
                    let ours = rest.split(" -- ").next().unwrap_or("");
                    for f in FLAG.captures_iter(ours) {
                        if f[1].len() > 2 && !help_text.contains(&f[1]) {
                            bad(RefKind::Flag, &format!("platctl {} {}", path.join(" "), &f[1]));
                        }
                    }
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_is_fenced_lines_or_inline_spans() {
        assert_eq!(code_of("run `argocd app sync x` then `y`", false), ["argocd app sync x", "y"]);
        assert_eq!(code_of("argocd app sync x", true), ["argocd app sync x"]);
        assert!(is_slot("<app>") && is_slot("ENV") && !is_slot("production-apps"));
    }
}
