//! GitHub Actions workflow rules (GHA001-GHA008): least privilege, pinned
//! actions, approval and concurrency for Terraform, hourly drift, delivery on
//! push, no printed secrets, and what the pull-request workflow must run.

use std::sync::LazyLock;

use regex::Regex;

use crate::walk::{Kind, SourceFile};
use crate::yaml::Node;
use crate::{Context, Family, Finding, RuleId, finding};

pub const FAMILY: Family = Family {
    name: "workflows",
    rules: &[
        RuleId::Gha001,
        RuleId::Gha002,
        RuleId::Gha003,
        RuleId::Gha004,
        RuleId::Gha005,
        RuleId::Gha006,
        RuleId::Gha007,
        RuleId::Gha008,
    ],
    run: check,
};

#[allow(clippy::unwrap_used)] // literal patterns, exercised by the tests
static VERSION_COMMENT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"#\s*v\d+\.\d+\.\d+\b").unwrap());
#[allow(clippy::unwrap_used)]
static PRINTS_SECRET: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b(echo|printf)\b[^\n]*\$\{\{\s*secrets\.").unwrap());
#[allow(clippy::unwrap_used)]
static SET_X: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^\s*set\s+-[a-zA-Z]*x").unwrap());
#[allow(clippy::unwrap_used)]
static TERRAFORM_RUN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(--\s+(plan|apply)\b)|(\bterraform\s+(plan|apply)\b)").unwrap());

/// What the pull-request workflow must run: (what, any of these in its `run:` steps).
pub const PULL_REQUEST_STEPS: &[(&str, &[&str])] = &[
    ("the test suite (.ci/run)", &[".ci/run"]),
    ("terraform fmt -check", &["terraform fmt -check"]),
    ("a plan of the changed environments (platctl tf --env X -- plan)", &["-- plan"]),
    ("the plan in the job summary (GITHUB_STEP_SUMMARY)", &["GITHUB_STEP_SUMMARY"]),
    ("helm lint", &["helm lint", "scripts/check-chart"]),
    ("helm template", &["helm template", "scripts/check-chart"]),
    (
        "the repository checks (scripts/check-iac or platctl check)",
        &["scripts/check-iac", "platctl check"],
    ),
];

/// A workflow's `on:` (YAML 1.1 readers turn the key into `true`).
fn on(doc: &Node) -> &Node {
    doc.get("on").or_else(|| doc.get("true")).unwrap_or_else(|| doc.field("on"))
}

fn has_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        let boundary = |c: Option<char>| c.is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        boundary(before) && boundary(after)
    })
}

fn is_sha(r: &str) -> bool {
    r.len() == 40 && r.chars().all(|c| c.is_ascii_hexdigit())
}

/// Hourly when the minute is fixed and the hour is every hour.
fn hourly(cron: &str) -> bool {
    let f: Vec<&str> = cron.split_whitespace().collect();
    f.len() == 5
        && f[0].parse::<u8>().is_ok()
        && (f[1] == "*" || f[1] == "*/1")
        && f[2..].iter().all(|x| *x == "*")
}

/// Everything the rules need of one job.
struct Job<'a> {
    id: &'a str,
    line: usize,
    node: &'a Node,
    run: String,
    /// The job's matrix, env, defaults, inputs and steps' env/working-directory/with, as text.
    context: String,
}

impl Job<'_> {
    fn mentions(&self, word: &str) -> bool {
        has_word(&self.run, word)
            || has_word(&self.context, word)
            || self.id.contains(word)
            || has_word(self.node.field("name").as_str().unwrap_or(""), word)
    }
    fn applies(&self) -> bool {
        has_word(&self.run, "apply")
    }
    fn environment(&self) -> Option<&str> {
        self.node
            .get("environment")
            .map(|e| e.as_str().or_else(|| e.field("name").as_str()).unwrap_or(""))
    }
}

fn jobs(doc: &Node) -> Vec<Job<'_>> {
    doc.field("jobs")
        .entries()
        .iter()
        .map(|job| {
            let jn = &job.value;
            let mut run = String::new();
            let mut context: Vec<String> = ["strategy", "env", "defaults", "with"]
                .iter()
                .filter_map(|k| jn.get(k).map(|m| m.to_json().to_string()))
                .collect();
            for step in jn.field("steps").seq() {
                if let Some(r) = step.get("run").and_then(Node::as_str) {
                    run.push_str(r);
                    run.push('\n');
                }
                for k in ["env", "working-directory", "with"] {
                    if let Some(v) = step.get(k) {
                        context.push(v.to_json().to_string());
                    }
                }
            }
            Job { id: &job.key, line: job.key_line, node: jn, run, context: context.join(" ") }
        })
        .collect()
}

fn check(ctx: &Context<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    let workflows: Vec<(&SourceFile, &Node)> = ctx
        .repo
        .files
        .iter()
        .filter(|f| f.kind == Kind::Workflow)
        .filter_map(|f| Some((f, f.docs.first()?)))
        .collect();
    let Some((first, _)) = workflows.first().copied() else { return out };
    let mut drift_hourly = false;
    let mut drift_seen: Option<(String, usize)> = None;
    for (file, doc) in &workflows {
        let f = &file.rel;
        let jobs = jobs(doc);
        permissions(file, doc, &jobs, &mut out);
        printed_secrets(file, &mut out);
        let mut all_run = String::new();
        for job in &jobs {
            pinned_actions(file, job, &mut out);
            // GHA003: production applies need the environment's reviewers.
            if job.applies() && job.mentions("production") {
                let env = job.environment();
                if !env.is_some_and(|e| e == "production" || e.contains("${{")) {
                    out.push(finding(
                        RuleId::Gha003,
                        f,
                        job.line,
                        format!(
                            "job {} applies production without environment: production",
                            job.id
                        ),
                    ));
                }
            }
            concurrency(ctx, file, job, &mut out);
            all_run.push_str(&job.run);
        }
        // GHA004: an hourly schedule that runs `platctl drift --all`.
        let is_drift = f.to_lowercase().contains("drift") || has_word(&all_run, "drift");
        let runs_drift =
            all_run.lines().any(|l| l.contains("platctl drift") && l.contains("--all"));
        if is_drift {
            for s in on(doc).field("schedule").seq() {
                if let Some(c) = s.get("cron").and_then(Node::as_str) {
                    if hourly(c) && runs_drift {
                        drift_hourly = true;
                    } else {
                        drift_seen = Some((f.clone(), s.key_line("cron")));
                    }
                }
            }
        }
    }
    if !drift_hourly {
        let (f, l, msg) = match drift_seen {
            Some((f, l)) => (
                f,
                l,
                "the drift workflow does not run `platctl drift --all` hourly (cron \"0 * * * *\")"
                    .to_owned(),
            ),
            None => {
                (first.rel.clone(), 0, "no workflow runs `platctl drift --all` hourly".to_owned())
            }
        };
        out.push(finding(RuleId::Gha004, &f, l, msg));
    }
    delivery(ctx, &workflows, &mut out);
    pull_request(&workflows, &mut out);
    out
}

/// GHA001: explicit, never write-all.
fn permissions(file: &SourceFile, doc: &Node, jobs: &[Job<'_>], out: &mut Vec<Finding>) {
    let f = &file.rel;
    match doc.get("permissions") {
        None => {
            let bare: Vec<&str> =
                jobs.iter().filter(|j| j.node.get("permissions").is_none()).map(|j| j.id).collect();
            if jobs.is_empty() || !bare.is_empty() {
                out.push(finding(RuleId::Gha001, f, 1, format!("workflow has no top-level permissions: and jobs [{}] have none either (defaults can be write-all)", bare.join(", "))));
            }
        }
        Some(p) if p.as_str() == Some("write-all") => {
            out.push(finding(
                RuleId::Gha001,
                f,
                doc.key_line("permissions"),
                "workflow permissions are write-all",
            ));
        }
        Some(_) => {}
    }
    for j in jobs {
        if j.node.field("permissions").as_str() == Some("write-all") {
            out.push(finding(
                RuleId::Gha001,
                f,
                j.node.key_line("permissions"),
                format!("job {} has write-all permissions", j.id),
            ));
        }
    }
}

/// GHA002: a full commit SHA and the release it is, as a comment.
fn pinned_actions(file: &SourceFile, job: &Job<'_>, out: &mut Vec<Finding>) {
    let f = &file.rel;
    let mut uses: Vec<(usize, &str)> = Vec::new();
    if let Some(u) = job.node.get("uses").and_then(Node::as_str) {
        uses.push((job.node.key_line("uses"), u));
    }
    for step in job.node.field("steps").seq() {
        if let Some(u) = step.get("uses").and_then(Node::as_str) {
            uses.push((step.key_line("uses"), u));
        }
    }
    for (l, u) in uses {
        if u.starts_with("./") || (u.starts_with("docker://") && u.contains("@sha256:")) {
            continue;
        }
        match u.rsplit_once('@') {
            Some((action, r)) if is_sha(r) => {
                let text = file.line_text(l).unwrap_or("");
                if !VERSION_COMMENT.is_match(text) {
                    out.push(finding(
                        RuleId::Gha002,
                        f,
                        l,
                        format!("{action} is pinned to a SHA without a `# vX.Y.Z` comment naming the release"),
                    ));
                }
            }
            Some((action, r)) => out.push(finding(
                RuleId::Gha002,
                f,
                l,
                format!("{action} is pinned to {r:?}, not a commit SHA"),
            )),
            None => out.push(finding(RuleId::Gha002, f, l, format!("{u} has no ref at all"))),
        }
    }
}

/// GHA006: terraform jobs are serialized per environment.
fn concurrency(ctx: &Context<'_>, file: &SourceFile, job: &Job<'_>, out: &mut Vec<Finding>) {
    if !TERRAFORM_RUN.is_match(&job.run) {
        return;
    }
    let c = job.node.field("concurrency");
    let group =
        c.get("group").and_then(Node::scalar_text).or_else(|| c.scalar_text()).unwrap_or_default();
    let envs: Vec<&str> = if ctx.repo.envs.is_empty() {
        vec!["global", "staging", "production"]
    } else {
        ctx.repo.envs.iter().map(String::as_str).collect()
    };
    let per_env = group.contains("matrix.env") || envs.iter().any(|e| has_word(&group, e));
    if !(group.contains("terraform") && per_env) {
        out.push(finding(
            RuleId::Gha006,
            &file.rel,
            job.line,
            format!("job {} runs terraform plan/apply without a per-environment concurrency group (found {group:?})", job.id),
        ));
    }
}

/// GHA007: nothing prints a secret; no shell tracing.
fn printed_secrets(file: &SourceFile, out: &mut Vec<Finding>) {
    for (i, line) in file.text.lines().enumerate() {
        if PRINTS_SECRET.is_match(line) {
            out.push(finding(
                RuleId::Gha007,
                &file.rel,
                i + 1,
                "a step prints a secret: pass it through env: and never echo it",
            ));
        } else if SET_X.is_match(line) {
            out.push(finding(
                RuleId::Gha007,
                &file.rel,
                i + 1,
                "`set -x` traces every command with its expanded secrets into the log",
            ));
        }
    }
}

fn triggered_by(doc: &Node, event: &str) -> bool {
    let on = on(doc);
    on.get(event).is_some()
        || on.as_str() == Some(event)
        || on.seq().iter().any(|e| e.as_str() == Some(event))
}

/// GHA005: pushes to main deliver staging automatically and production after approval.
fn delivery(ctx: &Context<'_>, workflows: &[(&SourceFile, &Node)], out: &mut Vec<Finding>) {
    let has = |env: &str| ctx.repo.envs.iter().any(|e| e == env);
    if !has("staging") && !has("production") {
        return; // no environment roots in this tree
    }
    let push: Vec<(&SourceFile, Vec<Job<'_>>)> = workflows
        .iter()
        .filter(|(_, doc)| triggered_by(doc, "push"))
        .map(|(f, doc)| (*f, jobs(doc)))
        .collect();
    let at =
        push.first().map_or_else(|| (workflows[0].0.rel.clone(), 0), |(f, _)| (f.rel.clone(), 1));
    let all = || push.iter().flat_map(|(_, jobs)| jobs.iter());
    if has("staging")
        && !all()
            .any(|j| j.applies() && j.mentions("staging") && j.environment() != Some("production"))
    {
        out.push(finding(
            RuleId::Gha005,
            &at.0,
            at.1,
            "no push-triggered workflow applies staging automatically",
        ));
    }
    if has("production")
        && !all().any(|j| {
            j.applies() && j.mentions("production") && j.environment() == Some("production")
        })
    {
        out.push(finding(
            RuleId::Gha005,
            &at.0,
            at.1,
            "no push-triggered workflow applies production in an environment: production job",
        ));
    }
}

/// GHA008: the pull-request workflow runs what a reviewer relies on.
fn pull_request(workflows: &[(&SourceFile, &Node)], out: &mut Vec<Finding>) {
    let pr: Vec<&(&SourceFile, &Node)> =
        workflows.iter().filter(|(_, doc)| triggered_by(doc, "pull_request")).collect();
    let Some((file, _)) = pr.first() else {
        out.push(finding(
            RuleId::Gha008,
            &workflows[0].0.rel,
            0,
            "no workflow runs on pull_request",
        ));
        return;
    };
    let text: String = pr.iter().flat_map(|(_, doc)| jobs(doc)).map(|j| j.run).collect();
    for (what, any) in PULL_REQUEST_STEPS {
        if !any.iter().any(|needle| text.contains(needle)) {
            out.push(finding(
                RuleId::Gha008,
                &file.rel,
                0,
                format!("the pull-request workflow does not run {what}"),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn crons_words_and_patterns() {
        assert!(VERSION_COMMENT.is_match("uses: a/b@0123 # v4.2.2"));
        assert!(!VERSION_COMMENT.is_match("uses: a/b@0123 # main"));
        assert!(PRINTS_SECRET.is_match("echo ${{ secrets.TOKEN }}"));
        assert!(!PRINTS_SECRET.is_match("TOKEN: ${{ secrets.TOKEN }}"));
        assert!(SET_X.is_match("  set -ex") && !SET_X.is_match("set +e"));
        assert!(TERRAFORM_RUN.is_match("platctl tf --env x -- apply -input=false"));
        assert!(hourly("0 * * * *"));
        assert!(hourly("17 * * * *"));
        assert!(!hourly("0 */6 * * *"));
        assert!(!hourly("*/5 * * * *"));
        assert!(has_word("platctl tf --env production -- apply", "apply"));
        assert!(!has_word("applying", "apply"));
    }
}
