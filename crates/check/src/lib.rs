//! `platctl check`: one pass over a repository that enforces the platform's rules.
//!
//! The engine walks PATH once, parses Terraform (hcl-edit, via hcl-rs, with
//! byte spans turned into lines; no function evaluation), every YAML document
//! under `deploy/`, Helm values under `charts/`, and the workflows under
//! `.github/workflows/`, then runs every rule of [`rules::RULES`] over that
//! model. Each finding carries a stable rule ID, a severity, a one-line
//! message, `file:line` and a fix hint. Inline suppressions
//! (`# platctl:ignore RULE-ID reason`) are honoured and listed.

pub mod gha;
pub mod k8s;
pub mod report;
pub mod rules;
pub mod schema;
pub mod secrets;
pub mod suppress;
pub mod tf;
pub mod walk;
pub mod yaml;

use std::path::{Path, PathBuf};

use serde::Serialize;

pub use rules::{RULES, RuleInfo, Severity};

/// Errors that stop a check before any finding can be produced (usage-type
/// problems). Everything wrong *in the repository* is a [`Finding`] instead.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("{0} does not exist or is not a directory")]
    NoSuchPath(PathBuf),
    #[error(
        "no JSON schemas found (looked in: {looked}). Pass --schemas DIR (a folder holding \
kubernetes/<version>-local-strict/ and crds/{{group}}/{{kind}}_{{version}}.json) or set PLATCTL_SCHEMAS"
    )]
    NoSchemas { looked: String },
    #[error("schema folder {0} has no kubernetes/*-local-strict/ folder with _definitions.json")]
    BadSchemas(PathBuf),
    #[error("unknown rule ID {0:?} in --only/--skip (see docs/rules.md for the list)")]
    UnknownRule(String),
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// One problem found in the repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub rule: &'static str,
    pub severity: Severity,
    pub message: String,
    /// Path relative to the checked root, `/`-separated.
    pub file: String,
    /// 1-based line; 0 when the finding is about the file (or folder) as a whole.
    pub line: usize,
    pub fix: &'static str,
}

/// A finding silenced by an inline `# platctl:ignore` comment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Suppressed {
    #[serde(flatten)]
    pub finding: Finding,
    pub reason: String,
    /// Line of the suppression comment.
    pub suppression_line: usize,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub findings: Vec<Finding>,
    pub suppressed: Vec<Suppressed>,
    pub files_checked: usize,
    pub objects_validated: usize,
}

impl Report {
    pub fn errors(&self) -> usize {
        self.findings.iter().filter(|f| f.severity == Severity::Error).count()
    }
    pub fn warnings(&self) -> usize {
        self.findings.iter().filter(|f| f.severity == Severity::Warning).count()
    }
}

/// What to check and how.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The repository (or sub-folder) to check.
    pub root: PathBuf,
    /// Schema folder; `None` disables nothing: use [`resolve_schemas`] first.
    pub schemas: PathBuf,
    /// Run only these rule IDs (empty: all).
    pub only: Vec<String>,
    /// Skip these rule IDs.
    pub skip: Vec<String>,
}

/// Choose the schema folder: explicit, then `$PLATCTL_SCHEMAS` (passed in by
/// the caller as `env`), then `../shared/schemas` relative to the repository
/// root (the nearest ancestor of `root` holding `.git`, else `root`).
pub fn resolve_schemas(
    explicit: Option<&Path>,
    env: Option<&Path>,
    root: &Path,
) -> Result<PathBuf, CheckError> {
    let mut looked = Vec::new();
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(p) = explicit {
        candidates.push(p.to_path_buf());
    } else {
        if let Some(p) = env {
            candidates.push(p.to_path_buf());
        }
        let abs = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
        let repo = abs.ancestors().find(|a| a.join(".git").exists()).unwrap_or(&abs).to_path_buf();
        candidates.push(repo.join("../shared/schemas"));
    }
    for c in candidates {
        if c.is_dir() {
            return Ok(c);
        }
        looked.push(c.display().to_string());
    }
    Err(CheckError::NoSchemas { looked: looked.join(", ") })
}

/// Run every enabled rule over `opts.root`.
pub fn check(opts: &Options) -> Result<Report, CheckError> {
    if !opts.root.is_dir() {
        return Err(CheckError::NoSuchPath(opts.root.clone()));
    }
    for id in opts.only.iter().chain(&opts.skip) {
        if rules::info(id).is_none() {
            return Err(CheckError::UnknownRule(id.clone()));
        }
    }
    let schemas = schema::SchemaSet::open(&opts.schemas)?;
    let repo = walk::load(&opts.root);
    let mut findings = repo.findings.clone();
    findings.extend(tf::check(&repo));
    findings.extend(k8s::check(&repo));
    findings.extend(gha::check(&repo));
    let enabled = |id: &str| {
        (opts.only.is_empty() || opts.only.iter().any(|o| o == id))
            && !opts.skip.iter().any(|s| s == id)
    };
    let mut objects_validated = 0;
    if ["SCHEMA001", "SCHEMA002", "SCHEMA003"].iter().any(|id| enabled(id)) {
        let (schema_findings, n) = schema::check(&repo, &schemas);
        findings.extend(schema_findings);
        objects_validated = n;
    }
    let (mut findings, mut suppressed) = suppress::apply(&repo, findings);
    findings.retain(|f| enabled(f.rule));
    suppressed.retain(|s| enabled(s.finding.rule));
    findings.sort_by(|a, b| {
        (&a.file, a.line, a.rule, &a.message).cmp(&(&b.file, b.line, b.rule, &b.message))
    });
    findings.dedup();
    suppressed
        .sort_by(|a, b| (&a.finding.file, a.finding.line).cmp(&(&b.finding.file, b.finding.line)));
    Ok(Report { findings, suppressed, files_checked: repo.files.len(), objects_validated })
}

/// Build a finding from the rule table (severity and fix hint come from it).
pub(crate) fn finding(
    rule: &'static str,
    file: &str,
    line: usize,
    message: impl Into<String>,
) -> Finding {
    let info = rules::info(rule).unwrap_or_else(|| panic!("rule {rule} missing from RULES"));
    Finding {
        rule: info.id,
        severity: info.severity,
        message: message.into(),
        file: file.to_owned(),
        line,
        fix: info.fix,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_folder_resolution_order() {
        let base = tempfile::tempdir().expect("tempdir");
        let repo = base.path().join("main");
        let sub = repo.join("deploy/apps");
        std::fs::create_dir_all(repo.join(".git")).expect("mkdir");
        std::fs::create_dir_all(&sub).expect("mkdir");
        let shared = base.path().join("shared/schemas");
        let env = base.path().join("env-schemas");
        let explicit = base.path().join("explicit");
        for d in [&shared, &env, &explicit] {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        let canon = |p: PathBuf| std::fs::canonicalize(p).expect("canonical");
        // ../shared/schemas next to the repository root, found from a sub-folder
        assert_eq!(canon(resolve_schemas(None, None, &sub).expect("found")), canon(shared.clone()));
        // $PLATCTL_SCHEMAS first, then an explicit --schemas over both
        assert_eq!(resolve_schemas(None, Some(&env), &sub).expect("env"), env);
        assert_eq!(resolve_schemas(Some(&explicit), Some(&env), &sub).expect("explicit"), explicit);
        // an explicit folder that does not exist is an error naming it and the flag
        let err = resolve_schemas(Some(Path::new("/nonexistent/s")), Some(&env), &sub)
            .expect_err("missing");
        assert!(
            err.to_string().contains("/nonexistent/s") && err.to_string().contains("--schemas"),
            "{err}"
        );
        // nothing anywhere
        std::fs::remove_dir_all(base.path().join("shared")).expect("rm");
        assert!(matches!(resolve_schemas(None, None, &sub), Err(CheckError::NoSchemas { .. })));
    }
}
