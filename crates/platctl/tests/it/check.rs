//! `platctl check` driven through the real binary: exit codes, formats,
//! colour, usage errors, and the repository itself passing with zero errors.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_platctl");

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

fn schemas() -> PathBuf {
    if let Some(p) = std::env::var_os("PLATCTL_SCHEMAS") {
        return PathBuf::from(p);
    }
    let p = workspace_root().join("../shared/schemas");
    assert!(
        p.is_dir(),
        "schemas not found at {}: export PLATCTL_SCHEMAS or run scripts/test",
        p.display()
    );
    p
}

fn fixture(rel: &str) -> PathBuf {
    workspace_root().join("crates/check/tests/fixtures").join(rel)
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn check(args: &[&str], schemas_flag: bool) -> Run {
    let mut cmd = Command::new(BIN);
    cmd.arg("check").args(args).env_remove("PLATCTL_SCHEMAS").env_remove("NO_COLOR");
    if schemas_flag {
        cmd.arg("--schemas").arg(schemas());
    }
    let out = cmd.output().expect("run platctl");
    Run {
        code: out.status.code().expect("exit code"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn check_exits_1_on_errors_and_0_when_clean() {
    let bad = fixture("K8S007/bad");
    let r = check(&[bad.to_str().expect("utf-8")], true);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("error[K8S007] deploy/apps/shop/secret.yaml:7:"), "{}", r.stdout);
    assert!(!r.stdout.contains('\x1b'), "no colour when stdout is not a terminal");

    let good = fixture("K8S007/good");
    let r = check(&[good.to_str().expect("utf-8"), "--only", "K8S007,SCHEMA001,SCHEMA002"], true);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("0 error(s)"), "{}", r.stdout);
}

#[test]
fn check_json_and_sarif_outputs_parse_and_agree() {
    let bad = fixture("TF004/bad");
    let path = bad.to_str().expect("utf-8");
    let j = check(&[path, "--output", "json"], true);
    assert_eq!(j.code, 1, "{}", j.stderr);
    let v: Value = serde_json::from_str(&j.stdout).expect("json output parses");
    let f = v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["rule"] == "TF004")
        .expect("TF004 finding");
    assert_eq!(f["file"], "infra/terraform/modules/lke-cluster/main.tf");
    assert_eq!(f["line"], 1);
    assert_eq!(f["severity"], "error");

    let s = check(&[path, "--output", "sarif"], true);
    assert_eq!(s.code, 1);
    let sarif: Value = serde_json::from_str(&s.stdout).expect("sarif output parses");
    assert_eq!(sarif["version"], "2.1.0");
    let results = sarif["runs"][0]["results"].as_array().expect("results");
    assert_eq!(results.len(), v["findings"].as_array().map_or(0, Vec::len));
}

#[test]
fn warnings_only_exit_0() {
    // SUPP002 (an unused suppression) is a warning: it is reported, the exit code stays 0.
    let bad = fixture("SUPP002/bad");
    let r = check(&[bad.to_str().expect("utf-8"), "--only", "SUPP002", "--output", "json"], true);
    let v: Value = serde_json::from_str(&r.stdout).expect("json");
    assert_eq!(v["summary"]["warnings"], 1, "{}", r.stdout);
    assert_eq!(v["summary"]["errors"], 0);
    assert_eq!(r.code, 0);
}

#[test]
fn usage_errors_exit_2_and_say_how_to_fix() {
    let good = fixture("K8S007/good");
    let path = good.to_str().expect("utf-8");
    let r = check(&[path, "--only", "NOPE001"], true);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("NOPE001") && r.stderr.contains("docs/rules.md"), "{}", r.stderr);

    let r = check(&[path, "--schemas", "/nonexistent/schemas"], false);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--schemas") && r.stderr.contains("PLATCTL_SCHEMAS"), "{}", r.stderr);

    let r = check(&["/nonexistent/repo"], true);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("/nonexistent/repo"), "{}", r.stderr);

    let r = check(&[path, "--output", "xml"], true);
    assert_eq!(r.code, 2, "{}", r.stderr);
}

#[test]
fn the_repository_itself_passes_with_zero_errors() {
    let root = workspace_root();
    let r = check(&[root.to_str().expect("utf-8"), "--output", "json"], true);
    let v: Value = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("json: {e}\n{}\n{}", r.stdout, r.stderr));
    let errors: Vec<String> = v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["severity"] == "error")
        .map(|f| {
            format!(
                "{}:{} {} {}",
                f["file"].as_str().unwrap_or(""),
                f["line"],
                f["rule"].as_str().unwrap_or(""),
                f["message"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert!(
        errors.is_empty(),
        "platctl check on the repository found errors:\n{}",
        errors.join("\n")
    );
    assert_eq!(r.code, 0);
    assert!(v["summary"]["files"].as_u64().unwrap_or(0) > 0, "nothing checked: {}", r.stdout);
}

/// The rule of every finding of a JSON report, in order.
fn rules_of(report: &Value) -> Vec<&str> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["rule"].as_str())
        .collect()
}

/// A small render (crates/check/tests/data/render: the marker, a header, the
/// `render.platctl.io/*` annotations) checked by the real binary, with a
/// suppression file given on the command line.
#[test]
fn a_render_is_judged_with_its_suppression_file_and_suppressions_are_listed() {
    let data = workspace_root().join("crates/check/tests/data");
    let bad = data.join("render/bad");
    let bad = bad.to_str().expect("utf-8");
    let works = data.join("render-suppressions/works.yaml");
    let works = works.to_str().expect("utf-8");

    let j = check(&[bad, "--suppressions", works, "--output", "json"], true);
    assert_eq!(j.code, 1, "the agent's resources, probes, root and :latest remain: {}", j.stderr);
    let v: Value = serde_json::from_str(&j.stdout).expect("json");
    assert_eq!(v["summary"]["render"], true);
    let rules = rules_of(&v);
    assert_eq!(rules, ["K8S008", "K8S009", "K8S010", "K8S011", "K8S012"], "{}", j.stdout);
    let first = &v["findings"][0];
    assert_eq!(first["file"], "agent.yaml");
    assert_eq!(first["line"], 39);
    assert!(
        first["message"].as_str().is_some_and(
            |m| m.starts_with("Application agent: DaemonSet agent/agent container agent")
        ),
        "{first}"
    );
    let suppressed = v["suppressed"].as_array().expect("suppressed");
    assert_eq!(suppressed.len(), 3, "{}", j.stdout);
    for s in suppressed {
        assert!(s["reason"].as_str().is_some_and(|r| !r.is_empty()), "{s}");
        assert!(
            s["suppression_file"]
                .as_str()
                .is_some_and(|f| f.ends_with("render-suppressions/works.yaml")),
            "{s}"
        );
    }

    // SARIF: the same suppressions, `external`, located at the entry.
    let s = check(&[bad, "--suppressions", works, "--output", "sarif"], true);
    let sarif: Value = serde_json::from_str(&s.stdout).expect("sarif");
    let external: Vec<&Value> = sarif["runs"][0]["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter_map(|r| r["suppressions"].get(0))
        .collect();
    assert_eq!(external.len(), 3);
    assert!(external.iter().all(|x| x["kind"] == "external"
        && x["justification"].as_str().is_some_and(|j| !j.is_empty())
        && x["location"]["physicalLocation"]["region"]["startLine"].as_u64().is_some()));

    // Human: the suppressed findings are listed with their reason and the entry.
    let h = check(&[bad, "--suppressions", works], true);
    assert!(h.stdout.contains("suppressed (3):"), "{}", h.stdout);
    assert!(h.stdout.contains("(reason: the agent programs the node's network; "), "{}", h.stdout);

    // A bad entry is an error of its own and silences nothing.
    let bad_entries = data.join("render-suppressions/bad-entries.yaml");
    let b = check(
        &[
            bad,
            "--suppressions",
            bad_entries.to_str().expect("utf-8"),
            "--only",
            "SUPP003,K8S018",
            "--output",
            "json",
        ],
        true,
    );
    assert_eq!(b.code, 1);
    let v: Value = serde_json::from_str(&b.stdout).expect("json");
    let rules = rules_of(&v);
    assert_eq!(rules.iter().filter(|r| **r == "SUPP003").count(), 2, "{}", b.stdout);
    assert_eq!(rules.iter().filter(|r| **r == "K8S018").count(), 2, "{}", b.stdout);

    // The clean render passes; usage errors exit 2 and say why.
    let good = data.join("render/good");
    let g = check(&[good.to_str().expect("utf-8"), "--suppressions", works], true);
    assert_eq!(g.code, 0, "{}{}", g.stdout, g.stderr);
    assert!(
        g.stdout.contains("warning[SUPP004]"),
        "the clean render leaves every entry unused: {}",
        g.stdout
    );
    let u = check(&[bad, "--only", "ARGO001"], true);
    assert_eq!(u.code, 2, "{}", u.stderr);
    assert!(u.stderr.contains("ARGO001 does not judge a render"), "{}", u.stderr);
    let repo = fixture("K8S007/good");
    let u = check(&[repo.to_str().expect("utf-8"), "--suppressions", works], true);
    assert_eq!(u.code, 2, "{}", u.stderr);
    assert!(u.stderr.contains("--suppressions applies to a render"), "{}", u.stderr);
}
