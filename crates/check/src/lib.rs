//! `platctl check`: one pass over a repository that enforces the platform's rules.
//!
//! The engine walks PATH once ([`walk`]): Terraform (hcl-edit, via hcl-rs,
//! with byte spans turned into lines; never evaluated), every YAML and JSON
//! document under `deploy/`, Helm values under `charts/`, the workflows under
//! `.github/workflows/` and the Dockerfiles at the root. It builds one
//! [`Context`] (the parsed files, the Kubernetes objects, the Terraform
//! directories) and runs every rule family of [`FAMILIES`] over it, in
//! parallel. Each finding carries a typed rule ID ([`RuleId`]), a severity, a
//! one-line message, `file:line` and a fix hint. Inline suppressions
//! (`# platctl:ignore RULE-ID reason`) are honoured and listed.
//!
//! A rule family is one module with a `FAMILY` constant: the rules it reports
//! and a function from the [`Context`] to findings. Adding a family means that
//! module, its lines in the rule table ([`rules`]), one entry in [`FAMILIES`],
//! and `tests/fixtures/<RULE>/{bad,good}` for each rule.

pub mod argocd;
pub mod configuration;
pub mod credentials;
pub mod docker;
pub mod docs;
pub mod firewall;
pub mod gha;
pub mod k8s;
pub mod linode;
pub mod loki;
pub mod metric_labels;
pub mod observability;
pub mod promql;
pub mod render;
pub mod report;
pub mod rules;
pub mod schema;
pub mod suppress;
pub mod sync_order;
pub mod tf;
pub mod walk;
pub mod yaml;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;
use serde::Serialize;

pub use rules::{RULES, RuleId, RuleInfo, Severity};

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
    #[error(
        "{0} does not judge a render: it checks the repository's sources (the rules of a render are \
listed in docs/render.md); run it on the repository instead"
    )]
    NotForRender(String),
    #[error(
        "--suppressions applies to a render, and {} is not one (no .platctl-render marker): \
pass the folder `platctl render` wrote", .0.display()
    )]
    NotARender(PathBuf),
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
    pub rule: RuleId,
    pub severity: Severity,
    pub message: String,
    /// Path relative to the checked root, `/`-separated.
    pub file: String,
    /// 1-based line; 0 when the finding is about the file (or folder) as a whole.
    pub line: usize,
    pub fix: &'static str,
}

/// A finding silenced by an inline `# platctl:ignore` comment, or by an entry
/// of the render suppression file ([`render`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Suppressed {
    #[serde(flatten)]
    pub finding: Finding,
    pub reason: String,
    /// Line of the suppression comment (or of the suppression file's entry).
    pub suppression_line: usize,
    /// The render suppression file, for a suppression that comes from it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suppression_file: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub findings: Vec<Finding>,
    pub suppressed: Vec<Suppressed>,
    pub files_checked: usize,
    pub objects_validated: usize,
    /// The checked folder is a render (`platctl render`'s output).
    pub render: bool,
    /// The render suppression file that was applied (or, for a repository, validated).
    pub suppressions_file: Option<String>,
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
    /// Schema folder (see [`resolve_schemas`]).
    pub schemas: PathBuf,
    /// Run only these rule IDs (empty: all).
    pub only: Vec<String>,
    /// Skip these rule IDs.
    pub skip: Vec<String>,
}

/// A rule family: the rules it reports and the check that reports them.
pub struct Family {
    pub name: &'static str,
    pub rules: &'static [RuleId],
    pub run: fn(&Context<'_>) -> Vec<Finding>,
}

/// Every rule family. The walk (PARSE*) and suppressions (SUPP*) are the
/// engine's own and not listed here.
pub const FAMILIES: &[Family] = &[
    tf::FAMILY,
    linode::FAMILY,
    firewall::FAMILY,
    k8s::network::FAMILY,
    k8s::tls::FAMILY,
    k8s::workload::FAMILY,
    argocd::FAMILY,
    observability::FAMILY,
    gha::FAMILY,
    docker::FAMILY,
    schema::FAMILY,
    configuration::FAMILY,
    docs::FAMILY,
    sync_order::FAMILY,
];

/// Everything a rule family may look at, built once per run.
pub struct Context<'a> {
    pub repo: &'a walk::Repo,
    pub schemas: &'a schema::SchemaSet,
    /// Kubernetes objects of the manifests, with namespace resolution.
    pub k8s: k8s::Objects<'a>,
    /// Terraform directories (modules and roots) and their files.
    pub tf: tf::Model<'a>,
    /// The CLI documents' `platctl` commands resolve against (DOC001), when the caller has one.
    pub cli: Option<&'a docs::Cli>,
    objects_validated: AtomicUsize,
}

impl<'a> Context<'a> {
    pub fn new(repo: &'a walk::Repo, schemas: &'a schema::SchemaSet) -> Self {
        Context {
            repo,
            schemas,
            k8s: k8s::Objects::new(repo),
            tf: tf::Model::new(repo),
            cli: None,
            objects_validated: AtomicUsize::new(0),
        }
    }

    /// Record how many objects the schema family validated (for the summary).
    pub fn add_objects_validated(&self, n: usize) {
        self.objects_validated.fetch_add(n, Ordering::Relaxed);
    }
}

/// Whether a path, name or namespace belongs to production (a part named production/prod).
pub fn is_production(text: &str) -> bool {
    names_env(text, &["production", "prod"])
}

/// Whether a path, name or namespace belongs to staging (a part named staging/stage).
pub fn is_staging(text: &str) -> bool {
    names_env(text, &["staging", "stage"])
}

fn names_env(text: &str, words: &[&str]) -> bool {
    text.split(['/', '-', '_', '.', ' ']).any(|p| words.contains(&p))
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

fn parse_rule_list(list: &[String]) -> Result<BTreeSet<RuleId>, CheckError> {
    list.iter()
        .map(|id| RuleId::parse(id).ok_or_else(|| CheckError::UnknownRule(id.clone())))
        .collect()
}

/// Run every enabled rule over `opts.root`. A render folder is checked in
/// render mode with the suppression file of its repository ([`render`]);
/// `platctl` commands named in documents are not judged (see [`check_full`]).
pub fn check(opts: &Options) -> Result<Report, CheckError> {
    check_full(opts, None, None)
}

/// [`check`], with the render suppression file given (`--suppressions`), for
/// a render outside its repository.
pub fn check_with(opts: &Options, suppressions: Option<&Path>) -> Result<Report, CheckError> {
    check_full(opts, suppressions, None)
}

/// [`check`], with DOC001 resolving the `platctl` commands and flags that
/// documents name against `cli`.
pub fn check_with_cli(opts: &Options, cli: Option<&docs::Cli>) -> Result<Report, CheckError> {
    check_full(opts, None, cli)
}

/// Both: a render suppression file and the command tree for DOC001.
pub fn check_full(
    opts: &Options,
    suppressions: Option<&Path>,
    cli: Option<&docs::Cli>,
) -> Result<Report, CheckError> {
    if !opts.root.is_dir() {
        return Err(CheckError::NoSuchPath(opts.root.clone()));
    }
    let is_render = render::is_render(&opts.root);
    if !is_render && suppressions.is_some() {
        return Err(CheckError::NotARender(opts.root.clone()));
    }
    let only = parse_rule_list(&opts.only)?;
    let skip = parse_rule_list(&opts.skip)?;
    if is_render && let Some(r) = only.iter().find(|r| !render::judges(**r)) {
        return Err(CheckError::NotForRender(r.to_string()));
    }
    let enabled = |id: RuleId| {
        (only.is_empty() || only.contains(&id))
            && !skip.contains(&id)
            && (!is_render || render::judges(id))
    };
    // A render is judged against its repository's suppression file; a
    // repository's own file is validated (SUPP003) before any render uses it.
    let supp_file = match (is_render, suppressions) {
        (true, Some(p)) => Some(render::SuppressionFile::load(p)?),
        (true, None) => {
            render::discover(&opts.root).map(|p| render::SuppressionFile::load(&p)).transpose()?
        }
        (false, _) => Some(opts.root.join(render::SUPPRESSIONS_FILE))
            .filter(|p| p.is_file())
            .map(|p| render::SuppressionFile::load_as(&p, render::SUPPRESSIONS_FILE.to_owned()))
            .transpose()?,
    };
    let mut schemas = schema::SchemaSet::open(&opts.schemas)?;
    if is_render {
        schemas = schemas.with_own_crds(render::own_crd_schemas(&opts.root));
    }
    let repo = walk::load(&opts.root);
    let mut ctx = Context::new(&repo, &schemas);
    ctx.cli = cli;
    // A family runs when one of its rules is enabled, or, for SUPP002 (an
    // unused suppression), when one of its rules is not skipped outright.
    let supp002 = enabled(RuleId::Supp002);
    let runs = |f: &Family| {
        f.rules.iter().any(|r| enabled(*r) || (supp002 && !skip.contains(r)))
            && (!is_render || f.rules.iter().any(|r| render::judges(*r)))
    };
    let per_family: Vec<Vec<Finding>> =
        FAMILIES.par_iter().filter(|f| runs(f)).map(|f| (f.run)(&ctx)).collect();
    let mut findings = repo.findings.clone();
    findings.extend(per_family.into_iter().flatten());
    let judged = |rule: RuleId| FAMILIES.iter().all(|f| !f.rules.contains(&rule) || runs(f));
    let (mut findings, mut suppressed) = suppress::apply(&repo, findings, &judged);
    let suppressions_file = supp_file.as_ref().map(|f| f.display.clone());
    if let Some(file) = supp_file {
        if is_render {
            let judged_here = |rule: RuleId| judged(rule) && enabled(rule);
            let (kept, by_file) = file.apply(&repo, findings, &judged_here);
            findings = kept;
            suppressed.extend(by_file);
        } else {
            findings.extend(file.findings);
        }
    }
    findings.retain(|f| enabled(f.rule));
    suppressed.retain(|s| enabled(s.finding.rule));
    findings.sort_by(|a, b| {
        (&a.file, a.line, a.rule.code(), &a.message).cmp(&(
            &b.file,
            b.line,
            b.rule.code(),
            &b.message,
        ))
    });
    findings.dedup();
    suppressed
        .sort_by(|a, b| (&a.finding.file, a.finding.line).cmp(&(&b.finding.file, b.finding.line)));
    Ok(Report {
        findings,
        suppressed,
        files_checked: repo.files.len(),
        objects_validated: ctx.objects_validated.load(Ordering::Relaxed),
        render: is_render,
        suppressions_file,
    })
}

/// Build a finding from the rule table (severity and fix hint come from it).
pub fn finding(rule: RuleId, file: &str, line: usize, message: impl Into<String>) -> Finding {
    let info = rule.info();
    Finding {
        rule,
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
    fn every_rule_belongs_to_exactly_one_family_or_the_engine() {
        for id in RuleId::ALL {
            let owners: Vec<&str> =
                FAMILIES.iter().filter(|f| f.rules.contains(id)).map(|f| f.name).collect();
            let engine = id.code().starts_with("PARSE") || id.code().starts_with("SUPP");
            assert_eq!(
                owners.len(),
                usize::from(!engine),
                "{id} is reported by {owners:?}: every rule has one owner"
            );
        }
    }

    #[test]
    fn environment_names() {
        assert!(is_production("deploy/apps/production/x.yaml"));
        assert!(is_production("prod-eu"));
        assert!(!is_production("products"));
        assert!(is_staging("sample-service-staging"));
        assert!(!is_staging("stagingx"));
    }

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
