//! The GitHub workflows, taken at their word: code from a pull request holds
//! no credential, values reach `run:` only through `env:`, the deploy jobs
//! refuse placeholders before anything else and reach the clusters from the
//! platform-ci runner, zizmor finds nothing (and does find an injection when
//! one is planted), and a CI run's audit trail arrives in Loki with
//! source="ci" when platctl runs with the workflow's own environment.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use platctl_audit_loki::receiver::Receiver;
use serde_json::Value;

use crate::support::*;

fn workflows_dir() -> PathBuf {
    repo_root().join(".github/workflows")
}

fn workflow(name: &str) -> Value {
    let text = std::fs::read_to_string(workflows_dir().join(name)).expect("workflow");
    serde_saphyr::from_str::<Value>(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn jobs(wf: &Value) -> Vec<(String, Value)> {
    wf["jobs"].as_object().expect("jobs").iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn runs_of(job: &Value) -> Vec<String> {
    job["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["run"].as_str().map(str::to_owned))
        .collect()
}

fn triggers(wf: &Value) -> Vec<String> {
    match &wf["on"] {
        Value::Object(m) => m.keys().cloned().collect(),
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
        _ => Vec::new(),
    }
}

/// runs-on as a list of labels, matrix `include` runners expanded.
fn runners(job: &Value) -> Vec<Vec<String>> {
    let labels = |v: &Value| -> Vec<String> {
        match v {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect(),
            _ => Vec::new(),
        }
    };
    let r = &job["runs-on"];
    if r.as_str().is_some_and(|s| s.contains("matrix.runner")) {
        return job["strategy"]["matrix"]["include"]
            .as_array()
            .expect("matrix include with runner")
            .iter()
            .map(|i| labels(&i["runner"]))
            .collect();
    }
    vec![labels(r)]
}

#[test]
fn pull_request_code_never_holds_a_credential() {
    let text = std::fs::read_to_string(workflows_dir().join("pull-request.yml")).expect("read");
    let wf = workflow("pull-request.yml");
    assert_eq!(triggers(&wf), ["pull_request"], "pull_request only (never pull_request_target)");
    assert!(!text.contains("secrets."), "the pull-request workflow must not reference a secret");
    for (name, job) in jobs(&wf) {
        assert!(
            job.get("environment").is_none(),
            "{name}: no environment (its secrets) for PR code"
        );
        for labels in runners(&job) {
            assert!(
                !labels.iter().any(|l| l == "self-hosted"),
                "{name}: PR code on a self-hosted runner"
            );
        }
        for perm in job["permissions"].as_object().into_iter().flatten() {
            assert!(
                perm.1 != "write" || perm.0 == "security-events",
                "{name}: {} write for PR code",
                perm.0
            );
        }
        for run in runs_of(&job) {
            assert!(
                !run.contains("PLATCTL_STORE") && !run.contains("LINODE_TOKEN"),
                "{name}: {run}"
            );
        }
    }
    // The deploy workflows never run for a pull request.
    for name in ["main.yml", "drift.yml", "drift-image.yml"] {
        let t = triggers(&workflow(name));
        for bad in ["pull_request", "pull_request_target", "workflow_run"] {
            assert!(!t.iter().any(|x| x == bad), "{name} is triggered by {bad}");
        }
    }
}

#[test]
fn no_template_expansion_reaches_a_shell() {
    for entry in std::fs::read_dir(workflows_dir()).expect("workflows") {
        let path = entry.expect("entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("").to_owned();
        for (job_name, job) in jobs(&workflow(&name)) {
            for run in runs_of(&job) {
                assert!(
                    !run.contains("${{"),
                    "{name}/{job_name}: expression in run:, pass it through env: instead:\n{run}"
                );
            }
        }
    }
}

#[test]
fn deploy_jobs_refuse_placeholders_and_reach_clusters_from_the_ci_runner() {
    for name in ["main.yml", "drift.yml"] {
        let wf = workflow(name);
        let all = jobs(&wf);
        let (_, build) = all.iter().find(|(n, _)| n == "build").expect("build job");
        assert!(
            runs_of(build).iter().any(|r| r.contains("platctl init --check")),
            "{name}: the build job must run the placeholder gate"
        );
        for (job_name, job) in &all {
            let uses_cloud = job.to_string().contains("secrets.LINODE_TOKEN");
            if !uses_cloud {
                continue;
            }
            // Every job holding a Linode token runs after the gate.
            let needs = job["needs"].to_string();
            assert!(
                needs.contains("build")
                    || needs.contains("staging")
                    || needs.contains("production-plan"),
                "{name}/{job_name}: runs before the gate"
            );
            // Cluster roots (staging, production, drift of all) only from platform-ci.
            let text = runs_of(job).join("\n") + &job["strategy"].to_string();
            let reaches_cluster = text.contains("--env staging")
                || text.contains("production")
                || text.contains("drift --all");
            if reaches_cluster {
                let rs = runners(job);
                let include =
                    job["strategy"]["matrix"]["include"].as_array().cloned().unwrap_or_default();
                for (i, labels) in rs.iter().enumerate() {
                    let env = include.get(i).and_then(|x| x["env"].as_str()).unwrap_or("");
                    if env == "global" {
                        continue; // the Linode API only
                    }
                    assert!(
                        labels.iter().any(|l| l == "platform-ci"),
                        "{name}/{job_name} ({env}): not on the platform-ci runner: {labels:?}"
                    );
                }
            }
        }
    }
    // The runner's address is what the ACL admits: ci_cidrs of platform.yaml land in the env roots
    // (tests/it/init.rs checks the rendering); the shipped template documents it.
    let cfg = std::fs::read_to_string(repo_root().join("platform.yaml")).expect("platform.yaml");
    assert!(cfg.contains("ci_cidrs") && cfg.contains("docs/ci-access.md"), "{cfg}");
}

#[test]
fn zizmor_is_clean_and_finds_a_planted_injection() {
    let zizmor = |dir: &Path| {
        Command::new("zizmor")
            .args(["--offline", "--no-config", "--no-ignores"])
            .arg(dir)
            .output()
            .expect("zizmor is required (pip install zizmor; .ci/install-tools installs it)")
    };
    let o = zizmor(&workflows_dir());
    assert!(o.status.success(), "zizmor on .github/workflows:\n{}{}", stdout(&o), stderr(&o));
    let tmp = tempfile::tempdir().expect("tempdir");
    let copy = tmp.path().join(".github/workflows");
    std::fs::create_dir_all(&copy).expect("mkdir");
    for entry in std::fs::read_dir(workflows_dir()).expect("workflows") {
        let p = entry.expect("entry").path();
        let mut text = std::fs::read_to_string(&p).expect("read");
        if p.ends_with("pull-request.yml") {
            let planted = text.replace(
                "run: terraform -chdir=\"infra/terraform/envs/$ENV_NAME\" validate -no-color",
                "run: terraform -chdir=\"infra/terraform/envs/${{ matrix.env }}\" validate -no-color",
            );
            assert_ne!(planted, text, "the anchor of the planted injection moved");
            text = planted;
        }
        std::fs::write(copy.join(p.file_name().expect("name")), text).expect("write");
    }
    let o = zizmor(&copy);
    assert!(!o.status.success(), "zizmor missed a template injection");
    assert!(stdout(&o).contains("template-injection"), "{}", stdout(&o));
}

/// The environment a CI job gives platctl: workflow env, then job env.
fn job_env(wf: &Value, job: &str) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for scope in [&wf["env"], &wf["jobs"][job]["env"]] {
        for (k, v) in scope.as_object().into_iter().flatten() {
            env.insert(k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_owned));
        }
    }
    env
}

#[test]
fn a_ci_runs_audit_trail_reaches_loki_with_source_ci() {
    let wf = workflow("main.yml");
    let env = job_env(&wf, "staging");
    assert_eq!(env.get("PLATCTL_LOKI_SOURCE").map(String::as_str), Some("ci"), "{env:?}");
    let url = env.get("PLATCTL_LOKI_URL").expect("PLATCTL_LOKI_URL");
    assert!(url.starts_with("https://logs.production."), "{url}");
    assert_eq!(
        env.get("PLATCTL_LOKI_PASSWORD").map(String::as_str),
        Some("${{ secrets.PLATCTL_LOKI_PASSWORD }}")
    );
    assert_eq!(
        env.get("PLATCTL_AUDIT_LOG").map(String::as_str),
        Some("${{ github.workspace }}/.platctl/audit.jsonl"),
        "the trail the ship step and the artifact read"
    );
    let ship = runs_of(&wf["jobs"]["staging"])
        .into_iter()
        .find(|r| r.contains("platctl audit ship"))
        .expect("a ship step in the staging job");

    let rx = Receiver::start(SocketAddr::from(([127, 0, 0, 1], 0)), true).expect("receiver");
    // A checkout with platctl's default audit log (.platctl/audit.jsonl at its root), as on a runner.
    let checkout = tempfile::tempdir().expect("checkout");
    std::fs::create_dir(checkout.path().join(".git")).expect(".git");
    let store = tempfile::tempdir().expect("store");
    let root = TfRoot::demo();
    let ci_env = |cmd: &mut Command| {
        for (k, v) in &env {
            let v = v.replace("${{ github.workspace }}", &checkout.path().display().to_string());
            if !v.contains("${{") && !k.starts_with("AWS_") && k != "PLATCTL_STORE" {
                cmd.env(k, v);
            }
        }
        cmd.env("PLATCTL_LOKI_URL", rx.url())
            .env("PLATCTL_LOKI_USERNAME", "ci")
            .env("PLATCTL_LOKI_PASSWORD", "pw-not-logged")
            .env("PLATCTL_LOKI_MIN_BACKOFF_MS", "20")
            .env("PLATCTL_LOKI_BATCH_WAIT_MS", "50")
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_ACTOR", "octocat")
            .env_remove("PLATCTL_ACTOR")
            .env("PLATCTL_STORE", format!("file://{}", store.path().join("s").display()))
            .current_dir(checkout.path());
    };
    for args in [
        &["init", "-input=false", "-no-color"][..],
        &["apply", "-auto-approve", "-input=false", "-no-color"],
    ] {
        let mut cmd = platctl();
        ci_env(&mut cmd);
        cmd.args(["tf", "--env", "staging", "--dir"]).arg(root.path()).arg("--").args(args);
        ok(run(&mut cmd));
    }
    // The workflow's own ship step, in the checkout.
    let bin_dir = Path::new(platctl_bin()).parent().expect("bin dir");
    let mut cmd = Command::new("bash");
    ci_env(&mut cmd);
    cmd.env("PATH", format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default()))
        .args(["-eo", "pipefail", "-c", &ship]);
    let o = run(&mut cmd);
    assert!(o.status.success(), "{ship}\n{}{}", stdout(&o), stderr(&o));
    assert!(!stderr(&o).contains("pw-not-logged"), "a credential in the log");

    let entries = rx.entries();
    assert!(!entries.is_empty(), "nothing reached the receiver");
    for e in &entries {
        assert_eq!(e.labels.get("source").map(String::as_str), Some("ci"), "{:?}", e.labels);
        assert_eq!(e.labels.get("env").map(String::as_str), Some("staging"), "{:?}", e.labels);
    }
    let actions: std::collections::BTreeSet<&str> =
        entries.iter().filter_map(|e| e.labels.get("action").map(String::as_str)).collect();
    for a in ["lock", "state_write", "unlock", "tf_run"] {
        assert!(actions.contains(a), "no {a} event: {actions:?}");
    }
    let tf_run = entries.iter().find(|e| e.labels["action"] == "tf_run").expect("tf_run");
    let event: Value = serde_json::from_str(&tf_run.line).expect("line is the event");
    assert_eq!(event["actor"], "github:octocat");
    let auth =
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("ci:pw-not-logged"));
    assert!(
        rx.headers().iter().all(|h| h.get("authorization") == Some(&auth)),
        "{:?}",
        rx.headers().first()
    );
    // And the artifact the workflow keeps is the same trail.
    assert!(checkout.path().join(".platctl/audit.jsonl").is_file());
}
