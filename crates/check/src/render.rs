//! A render (the folder `platctl render` writes) judged by `platctl check`.
//!
//! A folder holding the render marker is checked in render mode: only the
//! rules that judge what a cluster receives run ([`rules`]): parsing, strict
//! schemas (a kind the schema folder lacks is validated against the render's
//! own CRD schemas, [`own_crd_schemas`]), and the workload rules over every
//! rendered Pod template. Rules
//! about the repository's sources (Terraform, workflows, Argo CD's layout, no
//! plain Secret committed) do not: a chart's generated Secret is not a secret
//! in Git. A finding about a rendered object names its Application
//! ([`subject`]).
//!
//! Render files are generated, so a finding an upstream chart may keep cannot
//! be silenced by an inline comment. It is listed, with its reason, in the one
//! suppression file of the repository ([`SUPPRESSIONS_FILE`]):
//!
//! ```yaml
//! suppressions:
//!   - rule: K8S018
//!     application: secrets-store-csi-driver
//!     objects: [DaemonSet/secrets-store-csi-driver]
//!     containers: [secrets-store]          # optional: every container when absent
//!     reason: a CSI node plugin mounts volumes into pods' directories on the node
//! ```
//!
//! `application`, the kind and name of `objects`, and `containers` are globs
//! (`*`, `?`, `[ab]`, `{a,b}`). An entry without a reason, naming an unknown
//! rule or lacking a selector is SUPP003 and silences nothing; an entry that
//! matches no finding of the render is SUPP004 (a warning). Suppressed findings
//! are reported with their reason and the entry's line, never dropped.

use std::path::{Path, PathBuf};

use globset::{Glob, GlobMatcher};

use crate::k8s::Obj;
use crate::walk::Repo;
use crate::yaml::{self, Node};
use crate::{CheckError, Finding, RuleId, Suppressed, finding};

/// The repository's render suppression file, relative to its root.
pub const SUPPRESSIONS_FILE: &str = "deploy/render-suppressions.yaml";

/// Where a render keeps the JSON schemas of the CRDs it installs (written by
/// `platctl render`): SCHEMA001 falls back to them for kinds the schema folder lacks.
pub fn own_crd_schemas(render: &Path) -> PathBuf {
    render.join(platctl_render::output::SCHEMAS_DIR).join("crds")
}

/// The annotation naming the Application (or bootstrap release) of a rendered object.
pub use platctl_render::model::ANNOTATION_APPLICATION;

/// The engine's own rules that also judge a render: parsing, suppressions,
/// strict schemas.
const ENGINE_RULES: &[RuleId] = &[
    RuleId::Parse001,
    RuleId::Parse002,
    RuleId::Parse003,
    RuleId::Parse004,
    RuleId::Parse005,
    RuleId::Supp001,
    RuleId::Supp002,
    RuleId::Supp003,
    RuleId::Supp004,
    RuleId::Schema001,
    RuleId::Schema002,
    RuleId::Schema003,
];

/// The rules that judge a render: [`ENGINE_RULES`], the workload family but
/// K8S007 (a plain Secret committed to Git is about the sources: a chart's
/// generated Secret is not one), and the sync-order family, which judges only
/// renders. Every other rule is about the repository's sources; `--only`
/// naming one of those on a render is a usage error.
pub fn rules() -> impl Iterator<Item = RuleId> {
    let workload =
        crate::k8s::workload::FAMILY.rules.iter().copied().filter(|r| *r != RuleId::K8s007);
    ENGINE_RULES
        .iter()
        .copied()
        .chain(workload)
        .chain(crate::sync_order::FAMILY.rules.iter().copied())
}

/// Whether `id` judges a render (one of [`rules`]).
pub fn judges(id: RuleId) -> bool {
    rules().any(|r| r == id)
}

/// Whether `root` is a render folder (it holds the marker `platctl render` writes).
pub fn is_render(root: &Path) -> bool {
    root.join(platctl_render::output::MARKER).is_file()
}

/// How a finding names an object: `Application <app>: <Kind> <namespace>/<name>`
/// for a rendered object, `<Kind> <name>` for a manifest of the repository.
pub fn subject(o: &Obj<'_>) -> String {
    match o.annotation(ANNOTATION_APPLICATION).and_then(Node::as_str) {
        Some(app) => {
            let ns = o.node.at(&["metadata", "namespace"]).and_then(Node::as_str);
            let ns = ns.map(|n| format!("{n}/")).unwrap_or_default();
            format!("Application {app}: {} {ns}{}", o.kind, o.name())
        }
        None => o.label(),
    }
}

/// The suppression file of the repository that holds `render` (the nearest
/// ancestor with `.git`), when it has one.
pub fn discover(render: &Path) -> Option<PathBuf> {
    let abs = std::fs::canonicalize(render).ok()?;
    let repo = abs.ancestors().skip(1).find(|a| a.join(".git").exists())?;
    Some(repo.join(SUPPRESSIONS_FILE)).filter(|p| p.is_file())
}

/// One entry of the suppression file.
#[derive(Debug)]
struct Entry {
    line: usize,
    rule: RuleId,
    application: GlobMatcher,
    /// (kind, name) of `objects: [Kind/name]`.
    objects: Vec<(GlobMatcher, GlobMatcher)>,
    containers: Option<Vec<GlobMatcher>>,
    reason: String,
    used: bool,
}

/// A parsed suppression file: its valid entries and the SUPP003 findings of the others.
#[derive(Debug)]
pub struct SuppressionFile {
    /// How findings name the file: relative to its repository, else as given.
    pub display: String,
    entries: Vec<Entry>,
    /// SUPP003: entries that silence nothing (and a file that does not parse).
    pub findings: Vec<Finding>,
}

const ENTRY_KEYS: &[&str] = &["rule", "application", "objects", "containers", "reason"];

fn glob(pattern: &str) -> Result<GlobMatcher, String> {
    Glob::new(pattern)
        .map(|g| g.compile_matcher())
        .map_err(|e| format!("bad glob {pattern:?}: {e}"))
}

fn display_path(path: &Path) -> String {
    let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    abs.ancestors()
        .skip(1)
        .find(|a| a.join(".git").exists())
        .and_then(|repo| abs.strip_prefix(repo).ok())
        .map_or_else(|| path.display().to_string(), |rel| rel.to_string_lossy().replace('\\', "/"))
}

impl SuppressionFile {
    /// Read and validate `path`. A file that cannot be read is an error (the
    /// caller named it, or found it); everything wrong inside it is SUPP003.
    /// Findings name the file relative to its repository (else as given).
    pub fn load(path: &Path) -> Result<SuppressionFile, CheckError> {
        Self::load_as(path, display_path(path))
    }

    /// [`load`](Self::load), with the name findings use for the file.
    pub fn load_as(path: &Path, display: String) -> Result<SuppressionFile, CheckError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| CheckError::Io { path: path.to_path_buf(), source })?;
        Ok(Self::parse(&text, display))
    }

    /// Parse the text of a suppression file named `display` in findings.
    pub fn parse(text: &str, display: String) -> SuppressionFile {
        let mut file = SuppressionFile { display, entries: Vec::new(), findings: Vec::new() };
        let docs = match yaml::parse_documents(text) {
            Ok(docs) => docs,
            Err(e) => {
                file.bad(e.line, format!("the render suppression file is not YAML: {}", e.message));
                return file;
            }
        };
        let Some(doc) = docs.first() else { return file };
        for e in doc.entries().iter().filter(|e| e.key != "suppressions") {
            file.bad(
                e.key_line,
                format!("unknown key {:?} (the file holds `suppressions:`)", e.key),
            );
        }
        let listed = doc
            .get("suppressions")
            .is_none_or(|s| s.is_null() || matches!(s.value, yaml::Value::Seq(_)));
        if !doc.is_map() || !listed {
            file.bad(
                doc.line,
                "the render suppression file holds `suppressions:`, a list of entries",
            );
        }
        for item in doc.field("suppressions").seq() {
            match entry(item) {
                Ok(e) => file.entries.push(e),
                Err(problem) => file.bad(item.line, problem),
            }
        }
        file
    }

    fn bad(&mut self, line: usize, message: impl Into<String>) {
        self.findings.push(finding(RuleId::Supp003, &self.display, line, message));
    }

    /// Split `findings` of the render into kept and suppressed, adding SUPP004
    /// for each entry of a `judged` rule that matched nothing.
    pub fn apply(
        mut self,
        repo: &Repo,
        findings: Vec<Finding>,
        judged: &dyn Fn(RuleId) -> bool,
    ) -> (Vec<Finding>, Vec<Suppressed>) {
        let mut kept = std::mem::take(&mut self.findings);
        let mut suppressed = Vec::new();
        for f in findings {
            let located = locate(repo, &f);
            let hit = located
                .as_ref()
                .and_then(|at| self.entries.iter_mut().find(|e| e.rule == f.rule && e.matches(at)));
            match hit {
                Some(e) => {
                    e.used = true;
                    suppressed.push(Suppressed {
                        finding: f,
                        reason: e.reason.clone(),
                        suppression_line: e.line,
                        suppression_file: Some(self.display.clone()),
                    });
                }
                None => kept.push(f),
            }
        }
        for e in self.entries.iter().filter(|e| !e.used && judged(e.rule)) {
            kept.push(finding(
                RuleId::Supp004,
                &self.display,
                e.line,
                format!("suppression of {} matches no finding of this render", e.rule),
            ));
        }
        (kept, suppressed)
    }
}

fn entry(item: &Node) -> Result<Entry, String> {
    if !item.is_map() {
        return Err("an entry is a map: rule, application, objects, reason".into());
    }
    if let Some(e) = item.entries().iter().find(|e| !ENTRY_KEYS.contains(&e.key.as_str())) {
        return Err(format!("unknown key {:?} (an entry has {})", e.key, ENTRY_KEYS.join(", ")));
    }
    let text = |key: &str| item.get(key).and_then(Node::scalar_text).map(|s| s.trim().to_owned());
    let rule_text = text("rule").ok_or("the entry names no rule")?;
    let rule = RuleId::parse(&rule_text)
        .ok_or_else(|| format!("suppression names unknown rule {rule_text:?}"))?;
    let reason = text("reason").filter(|r| !r.is_empty());
    let reason = reason.ok_or_else(|| format!("suppression of {rule} has no reason"))?;
    let application = text("application")
        .filter(|a| !a.is_empty())
        .ok_or_else(|| format!("suppression of {rule} names no application"))?;
    let objects_node = item.field("objects");
    if objects_node.seq().is_empty() {
        return Err(format!(
            "suppression of {rule} lists no objects (`objects: [Kind/name]`; `*/*` for all of them)"
        ));
    }
    let mut objects = Vec::new();
    for o in objects_node.seq() {
        let s = o.as_str().unwrap_or_default();
        let (kind, name) = s
            .split_once('/')
            .filter(|(k, n)| !k.is_empty() && !n.is_empty() && !n.contains('/'))
            .ok_or_else(|| format!("object {s:?} is not Kind/name"))?;
        objects.push((glob(kind)?, glob(name)?));
    }
    let containers = match item.get("containers") {
        None => None,
        Some(c) if c.seq().is_empty() => {
            return Err("`containers` is a non-empty list of container names (or absent)".into());
        }
        Some(c) => Some(
            c.seq()
                .iter()
                .map(|n| glob(&n.scalar_text().unwrap_or_default()))
                .collect::<Result<_, _>>()?,
        ),
    };
    Ok(Entry {
        line: item.line,
        rule,
        application: glob(&application)?,
        objects,
        containers,
        reason,
        used: false,
    })
}

/// Where a finding sits in the render: the object of the document that holds
/// its line, and the container whose lines hold it.
#[derive(Debug, PartialEq, Eq)]
struct Located {
    application: String,
    kind: String,
    name: String,
    container: Option<String>,
}

impl Entry {
    fn matches(&self, at: &Located) -> bool {
        self.application.is_match(&at.application)
            && self.objects.iter().any(|(k, n)| k.is_match(&at.kind) && n.is_match(&at.name))
            && self.containers.as_ref().is_none_or(|list| {
                at.container.as_ref().is_some_and(|c| list.iter().any(|g| g.is_match(c)))
            })
    }
}

/// The last line of a node (its deepest last descendant).
fn last_line(n: &Node) -> usize {
    let children: Box<dyn Iterator<Item = usize>> = match &n.value {
        yaml::Value::Seq(items) => Box::new(items.iter().map(last_line)),
        yaml::Value::Map(entries) => {
            Box::new(entries.iter().map(|e| e.key_line.max(last_line(&e.value))))
        }
        _ => Box::new(std::iter::empty()),
    };
    children.max().unwrap_or(n.line).max(n.line)
}

fn locate(repo: &Repo, f: &Finding) -> Option<Located> {
    if f.line == 0 {
        return None;
    }
    let file = repo.file(&f.file)?;
    let doc = file.docs.iter().take_while(|d| d.line <= f.line).last()?;
    let application = doc
        .at(&["metadata", "annotations", ANNOTATION_APPLICATION])
        .and_then(Node::as_str)?
        .to_owned();
    let kind = doc.field("kind").as_str()?.to_owned();
    let name = doc.at(&["metadata", "name"]).and_then(Node::as_str).unwrap_or("").to_owned();
    let api = doc.field("apiVersion").as_str().unwrap_or("");
    let obj = Obj { file, node: doc, api, kind: &kind };
    let container = crate::k8s::workload::pod_spec(&obj).and_then(|(pod, _)| {
        ["containers", "initContainers"]
            .iter()
            .flat_map(|k| pod.field(k).seq())
            .find(|c| c.line <= f.line && f.line <= last_line(c))
            .and_then(|c| c.field("name").scalar_text())
    });
    Some(Located { application, kind, name, container })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn findings_of(text: &str) -> Vec<String> {
        SuppressionFile::parse(text, "s.yaml".into())
            .findings
            .iter()
            .map(|f| format!("{}:{} {}", f.rule, f.line, f.message))
            .collect()
    }

    #[test]
    fn entries_need_a_known_rule_a_reason_an_application_and_objects() {
        let text = "suppressions:
  - rule: K8S010
    application: alloy
    objects: [DaemonSet/alloy]
    reason: reads /var/log/pods
  - rule: K8S999
    application: alloy
    objects: [DaemonSet/alloy]
    reason: x
  - rule: K8S010
    application: alloy
    objects: [DaemonSet/alloy]
  - rule: K8S010
    application: alloy
    objects: [alloy]
    reason: x
  - rule: K8S010
    objects: [DaemonSet/alloy]
    reason: x
  - rule: K8S010
    application: alloy
    reason: x
  - rule: K8S010
    application: alloy
    objects: [DaemonSet/alloy]
    reasn: typo
";
        assert_eq!(
            findings_of(text),
            [
                "SUPP003:6 suppression names unknown rule \"K8S999\"",
                "SUPP003:10 suppression of K8S010 has no reason",
                "SUPP003:13 object \"alloy\" is not Kind/name",
                "SUPP003:17 suppression of K8S010 names no application",
                "SUPP003:20 suppression of K8S010 lists no objects (`objects: [Kind/name]`; `*/*` for all of them)",
                "SUPP003:23 unknown key \"reasn\" (an entry has rule, application, objects, containers, reason)",
            ]
        );
        assert_eq!(SuppressionFile::parse(text, "s.yaml".into()).entries.len(), 1);
        let malformed = findings_of("suppressions: [\n");
        assert!(
            malformed.len() == 1
                && malformed[0].starts_with("SUPP003:")
                && malformed[0].contains("is not YAML"),
            "{malformed:?}"
        );
        assert!(findings_of("suppresions: []\n")[0].contains("unknown key \"suppresions\""));
        assert!(findings_of("suppressions: []\n").is_empty(), "an empty list is a valid file");
    }

    #[test]
    fn last_line_reaches_the_deepest_descendant() {
        let docs = yaml::parse_documents("a:\n  b:\n    - c: 1\n      d:\n        e: 2\nf: 3\n")
            .expect("yaml");
        let a = docs[0].field("a");
        assert_eq!(last_line(a), 5);
        assert_eq!(last_line(&docs[0]), 6);
    }
}
