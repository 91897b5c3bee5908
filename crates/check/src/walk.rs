//! One walk over the repository: discover, read and parse every checked file.
//! Problems with files themselves (unreadable, binary, huge, malformed)
//! become findings here; nothing in this module panics on bad input.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use hcl::edit::structure::Body;
use rayon::prelude::*;

use crate::yaml::{self, Node};
use crate::{Finding, RuleId, finding};

/// Files larger than this are reported (PARSE004) and not parsed.
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// Top-level folders checked when PATH is a repository root.
pub const ROOTS: &[&str] = &["infra", "deploy", "charts", ".github/workflows"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Terraform,
    TfVars,
    /// `*.tfvars.json`: parsed as JSON into `json`.
    TfVarsJson,
    Manifest,
    HelmValues,
    ChartMeta,
    Workflow,
    /// JSON under deploy/ (Grafana dashboards, generator inputs): parsed into `json_value`.
    Json,
    /// `Dockerfile`, `Dockerfile.*`, `*.Dockerfile`: text only.
    Dockerfile,
}

#[derive(Debug)]
pub struct SourceFile {
    /// Relative to the checked root, `/`-separated.
    pub rel: String,
    pub kind: Kind,
    pub text: String,
    line_starts: Vec<usize>,
    /// YAML documents (YAML kinds only).
    pub docs: Vec<Node>,
    /// Terraform body (`.tf`, `.tfvars`).
    pub hcl: Option<Body>,
    /// Top-level object of a `.tfvars.json`.
    pub json: Option<serde_json::Map<String, serde_json::Value>>,
    /// A `.json` file under deploy/.
    pub json_value: Option<serde_json::Value>,
    /// Where the file really is, when it was reached through a symlink.
    pub link_target: Option<PathBuf>,
}

impl SourceFile {
    /// 1-based line of a byte offset.
    pub fn line_of(&self, offset: usize) -> usize {
        match self.line_starts.binary_search(&offset) {
            Ok(i) => i + 1,
            Err(i) => i,
        }
    }

    /// The text of a 1-based line.
    pub fn line_text(&self, line: usize) -> Option<&str> {
        self.text.lines().nth(line.checked_sub(1)?)
    }

    pub fn is_yaml(&self) -> bool {
        matches!(self.kind, Kind::Manifest | Kind::HelmValues | Kind::ChartMeta | Kind::Workflow)
    }
}

#[derive(Debug, Default)]
pub struct Repo {
    pub root: PathBuf,
    pub files: Vec<SourceFile>,
    pub findings: Vec<Finding>,
    /// Environment names: the folders of infra/terraform/envs/.
    pub envs: Vec<String>,
    /// Terraform state and saved plans found under the checked folders (not read).
    pub state_files: Vec<String>,
}

impl Repo {
    pub fn file(&self, rel: &str) -> Option<&SourceFile> {
        self.files.iter().find(|f| f.rel == rel)
    }
}

/// Whether a file name is a Dockerfile.
pub fn is_dockerfile(name: &str) -> bool {
    name == "Dockerfile" || name.starts_with("Dockerfile.") || name.ends_with(".Dockerfile")
}

/// Terraform state and saved plans: never committed, never read (they may hold secrets).
fn is_state_file(name: &str) -> bool {
    name.ends_with(".tfstate") || name.ends_with(".tfstate.backup") || name.ends_with(".tfplan")
}

fn classify(rel: &str) -> Option<Kind> {
    let parts: Vec<&str> = rel.split('/').collect();
    let name = *parts.last()?;
    if name.ends_with(".tfvars.json") {
        return Some(Kind::TfVarsJson);
    }
    if is_dockerfile(name) {
        return Some(Kind::Dockerfile);
    }
    let ext = name.rsplit_once('.').map(|(_, e)| e)?;
    match ext {
        "tf" => return Some(Kind::Terraform),
        "tfvars" => return Some(Kind::TfVars),
        "json" if parts.first() == Some(&"deploy") => return Some(Kind::Json),
        "yaml" | "yml" => {}
        _ => return None,
    }
    if rel.starts_with(".github/workflows/") || rel.contains("/.github/workflows/") {
        return Some(Kind::Workflow);
    }
    if parts.contains(&".github") {
        return None;
    }
    if let Some(pos) = parts.iter().position(|p| *p == "charts") {
        let inside = &parts[pos + 1..];
        if inside.contains(&"templates") || inside.contains(&"crds") {
            return None; // Go templates, not YAML until rendered
        }
        if name == "Chart.yaml" {
            return Some(Kind::ChartMeta);
        }
        if name.starts_with("values") {
            return Some(Kind::HelmValues);
        }
        return None;
    }
    Some(Kind::Manifest)
}

struct Walker {
    root: PathBuf,
    visited: HashSet<PathBuf>,
    /// (relative path, path, kind, reached through a symlink)
    found: Vec<(String, PathBuf, Kind, bool)>,
    state_files: Vec<String>,
    findings: Vec<Finding>,
    /// PATH itself is a `.github/workflows` folder: its YAML files are workflows.
    workflows_root: bool,
}

impl Walker {
    fn rel(&self, p: &Path) -> String {
        let r = p.strip_prefix(&self.root).unwrap_or(p);
        r.components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/")
    }

    fn dir(&mut self, dir: &Path, skip_hidden: bool) {
        let canon = match fs::canonicalize(dir) {
            Ok(c) => c,
            Err(e) => {
                let rel = self.rel(dir);
                self.findings.push(finding(
                    RuleId::Parse005,
                    &rel,
                    0,
                    format!("cannot resolve folder: {e}"),
                ));
                return;
            }
        };
        if !self.visited.insert(canon) {
            return; // reached twice through symlinks; checked once
        }
        let entries = match fs::read_dir(dir) {
            Ok(rd) => rd,
            Err(e) => {
                let rel = self.rel(dir);
                self.findings.push(finding(
                    RuleId::Parse005,
                    &rel,
                    0,
                    format!("cannot read folder: {e}"),
                ));
                return;
            }
        };
        let mut entries: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
        entries.sort();
        for path in entries {
            let name =
                path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if matches!(name.as_str(), ".git" | "target" | ".terraform" | "node_modules") {
                continue;
            }
            if skip_hidden && name.starts_with('.') && name != ".github" {
                continue;
            }
            let rel = self.rel(&path);
            let lmeta = match fs::symlink_metadata(&path) {
                Ok(m) => m,
                Err(e) => {
                    self.findings.push(finding(
                        RuleId::Parse005,
                        &rel,
                        0,
                        format!("cannot stat: {e}"),
                    ));
                    continue;
                }
            };
            let is_link = lmeta.file_type().is_symlink();
            let meta = if is_link {
                match fs::metadata(&path) {
                    Ok(m) => m,
                    Err(e) => {
                        let what = if e.raw_os_error() == Some(40) {
                            "symlink loop"
                        } else {
                            "dangling or unreadable symlink"
                        };
                        self.findings.push(finding(
                            RuleId::Parse005,
                            &rel,
                            0,
                            format!("{what}: {e}"),
                        ));
                        continue;
                    }
                }
            } else {
                lmeta
            };
            if meta.is_dir() {
                if is_link
                    && let Ok(target) = fs::canonicalize(&path)
                    && let Ok(here) = fs::canonicalize(path.parent().unwrap_or(&self.root))
                    && here.starts_with(&target)
                {
                    self.findings.push(finding(
                        RuleId::Parse005,
                        &rel,
                        0,
                        format!("symlink loop: points at its own ancestor {}", target.display()),
                    ));
                    continue;
                }
                self.dir(&path, skip_hidden);
            } else if meta.is_file() && is_state_file(&name) {
                self.state_files.push(rel);
            } else if meta.is_file()
                && let Some(kind) = classify(&rel).map(|k| match k {
                    Kind::Manifest if self.workflows_root => Kind::Workflow,
                    k => k,
                })
            {
                if meta.len() > MAX_FILE_BYTES {
                    self.findings.push(finding(
                        RuleId::Parse004,
                        &rel,
                        0,
                        format!(
                            "file is {} bytes, over the {} byte limit; not parsed",
                            meta.len(),
                            MAX_FILE_BYTES
                        ),
                    ));
                    continue;
                }
                self.found.push((rel, path, kind, is_link));
            }
        }
    }
}

/// Discover, read and parse. Never fails: every problem is a finding.
pub fn load(root: &Path) -> Repo {
    let mut w = Walker {
        root: root.to_path_buf(),
        visited: HashSet::new(),
        found: Vec::new(),
        state_files: Vec::new(),
        findings: Vec::new(),
        workflows_root: fs::canonicalize(root).is_ok_and(|c| c.ends_with(".github/workflows")),
    };
    let present: Vec<&str> = ROOTS.iter().copied().filter(|r| root.join(r).exists()).collect();
    if present.is_empty() {
        w.dir(root, true);
    } else {
        for r in present {
            w.dir(&root.join(r), false);
        }
        // Dockerfiles at the root: the images the platform builds.
        let mut dockerfiles: Vec<(String, PathBuf)> = fs::read_dir(root)
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
                    .filter(|(n, p)| is_dockerfile(n) && p.is_file())
                    .collect()
            })
            .unwrap_or_default();
        dockerfiles.sort();
        w.found.extend(dockerfiles.into_iter().map(|(n, p)| (n, p, Kind::Dockerfile, false)));
    }
    let found = std::mem::take(&mut w.found);
    let loaded: Vec<Result<SourceFile, Finding>> = found
        .into_par_iter()
        .map(|(rel, path, kind, is_link)| {
            let mut file = read(rel, &path, kind)?;
            if is_link {
                file.link_target = fs::canonicalize(&path).ok();
            }
            Ok(file)
        })
        .collect();
    let mut files = Vec::new();
    for l in loaded {
        match l {
            Ok(f) => files.push(f),
            Err(f) => w.findings.push(f),
        }
    }
    let mut envs: Vec<String> = fs::read_dir(root.join("infra/terraform/envs"))
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    envs.sort();
    Repo {
        root: root.to_path_buf(),
        files,
        findings: w.findings,
        envs,
        state_files: std::mem::take(&mut w.state_files),
    }
}

fn read(rel: String, path: &Path, kind: Kind) -> Result<SourceFile, Finding> {
    let bytes = fs::read(path)
        .map_err(|e| finding(RuleId::Parse005, &rel, 0, format!("cannot read: {e}")))?;
    if bytes.iter().take(8192).any(|b| *b == 0) {
        return Err(finding(
            RuleId::Parse003,
            &rel,
            0,
            "binary file (NUL bytes) where text is expected; not parsed",
        ));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        finding(
            RuleId::Parse003,
            &rel,
            0,
            format!(
                "not UTF-8 text (invalid byte at offset {}); not parsed",
                e.utf8_error().valid_up_to()
            ),
        )
    })?;
    let mut line_starts = vec![0];
    line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
    let mut file = SourceFile {
        rel,
        kind,
        text,
        line_starts,
        docs: Vec::new(),
        hcl: None,
        json: None,
        json_value: None,
        link_target: None,
    };
    match kind {
        Kind::Terraform | Kind::TfVars => match hcl::edit::parser::parse_body(&file.text) {
            Ok(body) => file.hcl = Some(body),
            Err(e) => {
                let msg = e.to_string();
                let first = msg
                    .lines()
                    .find(|l| l.contains("expected") || l.contains("invalid"))
                    .unwrap_or("invalid HCL")
                    .trim();
                return Err(finding(
                    RuleId::Parse002,
                    &file.rel,
                    e.location().line(),
                    format!("invalid HCL: {first}"),
                ));
            }
        },
        Kind::TfVarsJson => match serde_json::from_str::<serde_json::Value>(&file.text) {
            Ok(serde_json::Value::Object(map)) => file.json = Some(map),
            Ok(_) => {
                return Err(finding(
                    RuleId::Parse002,
                    &file.rel,
                    1,
                    "a .tfvars.json file must hold one JSON object",
                ));
            }
            Err(e) => {
                return Err(finding(
                    RuleId::Parse002,
                    &file.rel,
                    e.line(),
                    format!("invalid JSON: {e}"),
                ));
            }
        },
        Kind::Json => match serde_json::from_str::<serde_json::Value>(&file.text) {
            Ok(v) => file.json_value = Some(v),
            Err(e) => {
                return Err(finding(
                    RuleId::Parse001,
                    &file.rel,
                    e.line(),
                    format!("invalid JSON: {e}"),
                ));
            }
        },
        Kind::Dockerfile => {}
        _ => match yaml::parse_documents(&file.text) {
            Ok(docs) => file.docs = docs,
            Err(e) => {
                return Err(finding(
                    RuleId::Parse001,
                    &file.rel,
                    e.line,
                    format!("malformed YAML: {}", e.message),
                ));
            }
        },
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        assert_eq!(classify("infra/terraform/envs/production/main.tf"), Some(Kind::Terraform));
        assert_eq!(
            classify("infra/terraform/envs/production/terraform.tfvars"),
            Some(Kind::TfVars)
        );
        assert_eq!(classify("deploy/apps/x.yaml"), Some(Kind::Manifest));
        assert_eq!(classify(".github/workflows/pr.yml"), Some(Kind::Workflow));
        assert_eq!(classify(".github/dependabot.yml"), None);
        assert_eq!(classify("charts/app/values.yaml"), Some(Kind::HelmValues));
        assert_eq!(classify("charts/app/values-production.yaml"), Some(Kind::HelmValues));
        assert_eq!(classify("charts/app/Chart.yaml"), Some(Kind::ChartMeta));
        assert_eq!(classify("charts/app/templates/deployment.yaml"), None);
        assert_eq!(classify("README.md"), None);
        assert_eq!(classify("deploy/platform/dashboards/a.json"), Some(Kind::Json));
        assert_eq!(classify("charts/app/values.schema.json"), None);
        assert_eq!(classify("Dockerfile.drift"), Some(Kind::Dockerfile));
    }
}
