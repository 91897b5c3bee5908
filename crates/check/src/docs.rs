//! Documents that resolve (DOC001): every Argo CD Application, namespace,
//! workflow, alert, linked file and `platctl` command (and flag) named in
//! `docs/runbooks/*.md` and `docs/getting-started.md` exists in the tree or
//! the CLI.
//!
//! The CLI is described by a [`Cli`] tree that the caller passes in
//! ([`crate::check_with_cli`]); the `platctl` binary builds it from its own
//! clap definition, so a runbook is checked against the commands the binary
//! really has. Without one, commands and flags are not judged (the rest is).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use crate::{Context, Family, Finding, RuleId, finding};

pub const FAMILY: Family = Family { name: "docs", rules: &[RuleId::Doc001], run: check };

/// A command of the CLI: its long flags (`--env`) and its subcommands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cli {
    pub flags: BTreeSet<String>,
    pub subcommands: BTreeMap<String, Cli>,
}

/// The documents checked, relative to the repository root: every runbook and these.
pub const GUIDES: &[&str] = &["docs/getting-started.md"];

/// What a name in a document refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefKind {
    Application,
    Namespace,
    Workflow,
    Alert,
    Link,
    Command,
    Flag,
}

impl RefKind {
    fn describe(self) -> &'static str {
        match self {
            RefKind::Application => "Argo CD Application",
            RefKind::Namespace => "namespace",
            RefKind::Workflow => "workflow",
            RefKind::Alert => "alert",
            RefKind::Link => "linked file",
            RefKind::Command => "platctl command",
            RefKind::Flag => "platctl flag",
        }
    }

    fn where_(self) -> &'static str {
        match self {
            RefKind::Application => {
                "no Application in deploy/ or the argocd-bootstrap module has that name"
            }
            RefKind::Namespace => "nothing in deploy/ creates or uses it",
            RefKind::Workflow => "there is no such file in .github/workflows/",
            RefKind::Alert => "no PrometheusRule in deploy/ defines it",
            RefKind::Link => "the file does not exist",
            RefKind::Command => "`platctl --help` has no such command",
            RefKind::Flag => "the command's --help has no such flag",
        }
    }
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

fn re(s: &str) -> Regex {
    Regex::new(s).unwrap_or_else(|e| unreachable!("static pattern {s}: {e}"))
}

/// Applications, namespaces, workflows and alerts of the tree at `root`:
/// read from disk, not from the walk, so the names are the same whatever
/// PATH holds.
pub fn names(root: &Path) -> Names {
    let mut n = Names::default();
    n.namespaces.extend(BUILTIN_NAMESPACES.iter().map(|s| (*s).to_owned()));
    let mut files = Vec::new();
    files_under(&root.join("deploy"), &mut files);
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
    static TF_APP: LazyLock<Regex> =
        LazyLock::new(|| re(r"(?s)applications\s*=\s*\{\s*([a-z0-9-]+)\s*="));
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

fn files_under(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        match e.file_type() {
            Ok(t) if t.is_dir() => files_under(&e.path(), out),
            Ok(t) if t.is_file() => out.push(e.path()),
            _ => {}
        }
    }
}

static ARGOCD_APP: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"argocd app (?:sync|wait|get|diff|rollback|set|history|manifests|terminate-op|refresh)\s+([A-Za-z0-9<>_.-]+)",
    )
});
static KUBECTL_NS: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?:\s-n\s+|--namespace[ =])([A-Za-z0-9<>_.-]+)"));
static PROSE_NS: LazyLock<Regex> = LazyLock::new(|| re(r"[Nn]amespaces? `([a-z0-9-]+)`"));
static WORKFLOW: LazyLock<Regex> =
    LazyLock::new(|| re(r"\.github/workflows/([A-Za-z0-9_.-]+\.ya?ml)"));
static ALERT: LazyLock<Regex> =
    LazyLock::new(|| re(r"`((?:Platform|Platctl|ArgoCD|Certificate|Audit)[A-Z][A-Za-z]+)`"));
static LINK: LazyLock<Regex> = LazyLock::new(|| re(r"\]\(([^)#:\s]+)(?:#[^)]*)?\)"));
static PLATCTL: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?:^|[\s`(;|&])platctl((?:\s+[a-z][a-z-]*)+)((?:\s+[^\s`]+)*)"));
static SHELL_SPLIT: LazyLock<Regex> = LazyLock::new(|| re(r"\$\(|<\(|\)|\|\|?|;|&&| > "));
static FLAG: LazyLock<Regex> = LazyLock::new(|| re(r"(?:^|\s)(--[a-z][a-z0-9-]*)"));

/// A name written as a placeholder for the reader (`<app>`, `E`, `ENV`).
fn is_slot(name: &str) -> bool {
    name.contains('<') || name.chars().all(|c| c.is_ascii_uppercase() || c == '_')
}

/// The code of a document line: the whole line inside a fenced block, else
/// its `inline code` spans.
fn code_of(line: &str, fenced: bool) -> Vec<String> {
    if fenced {
        return vec![line.to_owned()];
    }
    line.split('`').skip(1).step_by(2).map(str::to_owned).collect()
}

/// Whether the paragraph (the run of non-blank lines) holding line `i` speaks
/// of alerts.
fn about_alerts(lines: &[&str], i: usize) -> bool {
    let blank = |l: &&str| l.trim().is_empty();
    let start = lines[..i].iter().rposition(blank).map_or(0, |p| p + 1);
    let end = lines[i..].iter().position(blank).map_or(lines.len(), |p| i + p);
    lines[start..end].iter().any(|l| {
        let l = l.to_ascii_lowercase();
        l.contains("alert") || l.contains("fire") || l.contains("firing")
    })
}

/// The documents under `root` that DOC001 reads, relative and sorted.
pub fn documents(root: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(root.join("docs/runbooks"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".md"))
        .map(|n| format!("docs/runbooks/{n}"))
        .collect();
    out.extend(GUIDES.iter().filter(|g| root.join(g).is_file()).map(|g| (*g).to_owned()));
    out.sort();
    out
}

fn check(ctx: &Context<'_>) -> Vec<Finding> {
    let root = &ctx.repo.root;
    let docs = documents(root);
    if docs.is_empty() {
        return Vec::new();
    }
    let names = names(root);
    let mut out = Vec::new();
    for rel in docs {
        let path = root.join(&rel);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                out.push(finding(RuleId::Doc001, &rel, 0, format!("cannot read: {e}")));
                continue;
            }
        };
        for (line, kind, name) in unresolved(&text, &path, &names, ctx.cli) {
            out.push(finding(
                RuleId::Doc001,
                &rel,
                line,
                format!("{} {name:?} does not resolve: {}", kind.describe(), kind.where_()),
            ));
        }
    }
    out
}

/// The names in one document (at `path`, for its relative links) that do not
/// resolve: (line, kind, name).
pub fn unresolved(
    text: &str,
    path: &Path,
    names: &Names,
    cli: Option<&Cli>,
) -> Vec<(usize, RefKind, String)> {
    let mut out = Vec::new();
    let mut fenced = false;
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().copied().enumerate() {
        let mut bad = |kind, name: &str| out.push((i + 1, kind, name.to_owned()));
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        for m in WORKFLOW.captures_iter(line) {
            if !names.workflows.contains(&m[1]) {
                bad(RefKind::Workflow, &m[1]);
            }
        }
        // A name shaped like an alert is one only where its paragraph talks of
        // alerts (`PlatctlOwner` in a paragraph about JSON output is a field).
        if ALERT.is_match(line) && about_alerts(&lines, i) {
            for m in ALERT.captures_iter(line) {
                if !names.alerts.contains(&m[1]) {
                    bad(RefKind::Alert, &m[1]);
                }
            }
        }
        for m in PROSE_NS.captures_iter(line) {
            if !names.namespaces.contains(&m[1]) {
                bad(RefKind::Namespace, &m[1]);
            }
        }
        if !fenced {
            for m in LINK.captures_iter(line) {
                let target = path.parent().unwrap_or(path).join(&m[1]);
                if !target.exists() {
                    bad(RefKind::Link, &m[1]);
                }
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
            let Some(cli) = cli else { continue };
            // Each command of a shell line on its own: `a | b`, `a && b`, `$(b)`, `<(b)`.
            let segments = SHELL_SPLIT.split(&code);
            for m in segments.flat_map(|seg| PLATCTL.captures_iter(seg)) {
                let words: Vec<&str> = m[1].split_whitespace().collect();
                // The longest prefix of words that is a command.
                let mut path: Vec<&str> = Vec::new();
                let mut cmd = cli;
                for w in &words {
                    match cmd.subcommands.get(*w) {
                        Some(sub) => {
                            path.push(*w);
                            cmd = sub;
                        }
                        None => break,
                    }
                }
                if path.is_empty() {
                    bad(
                        RefKind::Command,
                        &format!("platctl {}", words.first().copied().unwrap_or("")),
                    );
                    continue;
                }
                // A command group followed by a word that is none of its subcommands.
                if path.len() < words.len() && !cmd.subcommands.is_empty() {
                    bad(
                        RefKind::Command,
                        &format!("platctl {} {}", path.join(" "), words[path.len()]),
                    );
                    continue;
                }
                // Flags before a `--` belong to platctl (after it, to terraform).
                let rest = format!("{}{}", &m[1], &m[2]);
                let ours = rest.split(" -- ").next().unwrap_or("");
                for f in FLAG.captures_iter(ours) {
                    if f[1].len() > 2 && !cmd.flags.contains(&f[1]) {
                        bad(RefKind::Flag, &format!("platctl {} {}", path.join(" "), &f[1]));
                    }
                }
            }
        }
    }
    out
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

    #[test]
    fn alert_shaped_names_are_alerts_only_in_a_paragraph_about_alerts() {
        let text =
            "The alert `PlatformGone` and\n`PlatctlAlsoGone` fire.\n\nJSON shows `PlatctlOwner`.\n";
        let got: Vec<String> = unresolved(text, Path::new("x.md"), &Names::default(), None)
            .into_iter()
            .map(|(_, _, n)| n)
            .collect();
        assert_eq!(got, ["PlatformGone", "PlatctlAlsoGone"]);
    }

    #[test]
    fn commands_resolve_against_the_cli_tree() {
        let leaf = |flags: &[&str]| Cli {
            flags: flags.iter().map(|f| (*f).to_owned()).collect(),
            subcommands: BTreeMap::new(),
        };
        let mut state = Cli::default();
        state.subcommands.insert("lock".into(), leaf(&["--env", "--help"]));
        let mut cli = Cli::default();
        cli.subcommands.insert("state".into(), state);
        cli.subcommands.insert("tf".into(), leaf(&["--env", "--help"]));
        let text = "```sh\nplatctl state lock --env x\nplatctl state frob\nplatctl tf --env p -- plan -no-color --x\nplatctl tf --colour\nplatctl nope\n```\n";
        let got: Vec<(usize, RefKind, String)> =
            unresolved(text, Path::new("docs/runbooks/x.md"), &Names::default(), Some(&cli));
        assert_eq!(
            got,
            [
                (3, RefKind::Command, "platctl state frob".to_owned()),
                (5, RefKind::Flag, "platctl tf --colour".to_owned()),
                (6, RefKind::Command, "platctl nope".to_owned()),
            ]
        );
        // A nested command's flags are its own, not the outer command's.
        let nested = "`platctl tf --env \"$(platctl state lock --colour)\" | platctl nope`\n";
        let got = unresolved(nested, Path::new("x.md"), &Names::default(), Some(&cli));
        assert_eq!(
            got,
            [
                (1, RefKind::Flag, "platctl state lock --colour".to_owned()),
                (1, RefKind::Command, "platctl nope".to_owned()),
            ]
        );
        // Without a CLI, commands are not judged.
        assert!(unresolved(text, Path::new("x.md"), &Names::default(), None).is_empty());
    }
}
