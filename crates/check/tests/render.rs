//! `platctl check` on a render (the folder `platctl render` writes): the
//! workload rules over rendered objects, findings that name the Application,
//! and the render suppression file (tests/data/render*, built like a real
//! render: header comment, `render.platctl.io/*` annotations, the marker).

use std::path::{Path, PathBuf};

use platctl_check::{CheckError, Options, Report, check, check_with, render};

mod common;
use common::schemas;

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(rel)
}

fn opts(root: &Path, only: &[&str]) -> Options {
    Options {
        root: root.to_path_buf(),
        schemas: schemas(),
        only: only.iter().map(|s| (*s).to_owned()).collect(),
        skip: vec![],
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("render data") {
        let p = e.expect("entry").path();
        let dst = to.join(p.file_name().expect("name"));
        if p.is_dir() {
            copy_dir(&p, &dst)
        } else {
            std::fs::copy(&p, dst).map(drop).expect("copy")
        }
    }
}

/// A copy of a render folder outside any repository (so no suppression file is found).
fn copy_render(rel: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("tempdir");
    copy_dir(&data(rel), tmp.path());
    tmp
}

fn lines(rep: &Report) -> Vec<String> {
    rep.findings.iter().map(|f| format!("{} {}:{} {}", f.rule, f.file, f.line, f.message)).collect()
}

const AGENT: &str = "Application agent: DaemonSet agent/agent";

fn bad_render_findings() -> Vec<String> {
    let c = format!("{AGENT} container agent");
    vec![
        format!("K8S008 agent.yaml:39 {c} has no resources.requests.cpu, resources.requests.memory, resources.limits.memory"),
        format!("K8S009 agent.yaml:39 {c} has no livenessProbe and readinessProbe"),
        format!("K8S010 agent.yaml:39 {c} may run as root (runAsNonRoot is not true)"),
        format!("K8S011 agent.yaml:39 {c} has a writable root filesystem"),
        format!("K8S017 agent.yaml:39 {c}: allowPrivilegeEscalation is not false, capabilities.drop has no ALL, no RuntimeDefault or Localhost seccomp profile"),
        format!("K8S018 agent.yaml:39 {c} is privileged (root on the node)"),
        format!("K8S018 agent.yaml:68 {AGENT} sets hostNetwork: true (it shares the node's namespace)"),
        "K8S012 shop.yaml:26 Application shop: Deployment shop/shop container shop: image ghcr.io/example/shop:latest uses :latest".to_owned(),
    ]
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn a_render_is_judged_by_the_workload_rules_and_findings_name_the_application() {
    let dir = copy_render("render/bad");
    let rep = check(&opts(dir.path(), &[])).expect("check");
    assert!(rep.render, "the marker makes the folder a render");
    assert_eq!(rep.suppressions_file, None, "outside a repository no suppression file is found");
    // The chart's generated Secret is not K8S007 (that rule is about Git); the
    // objects validate strictly (SCHEMA001/002 run and find nothing).
    assert_eq!(sorted(lines(&rep)), sorted(bad_render_findings()));
    assert_eq!(rep.objects_validated, 3);
    assert!(rep.suppressed.is_empty());
}

#[test]
fn a_clean_render_has_no_findings() {
    // Its Widget's schema is only in the render's own .schemas/crds (a CRD the
    // tree installs), which SCHEMA001 falls back to: no SCHEMA002.
    let dir = copy_render("render/good");
    let rep = check(&opts(dir.path(), &[])).expect("check");
    assert_eq!(lines(&rep), Vec::<String>::new());
    assert_eq!(rep.objects_validated, 4);
    std::fs::remove_dir_all(dir.path().join(".schemas")).expect("rm");
    let rep = check(&opts(dir.path(), &["SCHEMA002"])).expect("check");
    assert_eq!(
        lines(&rep).len(),
        1,
        "without its schema the Widget is SCHEMA002: {:?}",
        lines(&rep)
    );
}

#[test]
fn a_rule_about_the_sources_is_refused_on_a_render_and_every_render_rule_exists() {
    let dir = copy_render("render/bad");
    let err = check(&opts(dir.path(), &["K8S007"])).expect_err("K8S007 judges Git, not a render");
    assert!(matches!(err, CheckError::NotForRender(ref r) if r == "K8S007"), "{err}");
    assert!(err.to_string().contains("run it on the repository"), "{err}");
    // --suppressions on a folder that is not a render is a usage error, not silence.
    let err = check_with(
        &opts(&data("render-suppressions"), &[]),
        Some(&data("render-suppressions/works.yaml")),
    )
    .expect_err("not a render");
    assert!(matches!(err, CheckError::NotARender(_)), "{err}");
    // Every family with a render rule has fixtures too; the list holds no engine-less rule.
    for r in render::rules() {
        assert!(platctl_check::RULES.iter().any(|i| i.id == r));
    }
    // What a render is judged by: the workload rules but K8S007, the sync order, schemas.
    assert!(render::judges(platctl_check::RuleId::K8s008));
    assert!(render::judges(platctl_check::RuleId::Sync001));
    assert!(!render::judges(platctl_check::RuleId::K8s007));
    assert!(!render::judges(platctl_check::RuleId::Obs007));
}

#[test]
fn suppressions_with_reasons_silence_findings_and_are_listed_with_them() {
    let dir = copy_render("render/bad");
    let file = data("render-suppressions/works.yaml");
    let rep = check_with(&opts(dir.path(), &[]), Some(&file)).expect("check");
    let c = format!("{AGENT} container agent");
    assert_eq!(
        sorted(lines(&rep)),
        sorted(vec![
            format!("K8S008 agent.yaml:39 {c} has no resources.requests.cpu, resources.requests.memory, resources.limits.memory"),
            format!("K8S009 agent.yaml:39 {c} has no livenessProbe and readinessProbe"),
            format!("K8S010 agent.yaml:39 {c} may run as root (runAsNonRoot is not true)"),
            format!("K8S011 agent.yaml:39 {c} has a writable root filesystem"),
            "K8S012 shop.yaml:26 Application shop: Deployment shop/shop container shop: image ghcr.io/example/shop:latest uses :latest".to_owned(),
        ])
    );
    let listed: Vec<String> = rep
        .suppressed
        .iter()
        .map(|s| {
            format!(
                "{} {}:{} <- {}:{} {}",
                s.finding.rule,
                s.finding.file,
                s.finding.line,
                s.suppression_file.as_deref().unwrap_or("inline"),
                s.suppression_line,
                s.reason
            )
        })
        .collect();
    let f = rep.suppressions_file.clone().expect("the file is named in the report");
    assert!(f.ends_with("render-suppressions/works.yaml"), "{f}");
    assert_eq!(
        sorted(listed),
        sorted(vec![
            format!(
                "K8S017 agent.yaml:39 <- {f}:7 privileged already; a restricted context means nothing here"
            ),
            format!("K8S018 agent.yaml:39 <- {f}:3 the agent programs the node's network"),
            format!("K8S018 agent.yaml:68 <- {f}:3 the agent programs the node's network"),
        ])
    );
}

#[test]
fn an_entry_without_reason_or_with_an_unknown_rule_is_supp003_and_silences_nothing() {
    let dir = copy_render("render/bad");
    let file = data("render-suppressions/bad-entries.yaml");
    let rep = check_with(&opts(dir.path(), &[]), Some(&file)).expect("check");
    assert!(rep.suppressed.is_empty());
    let f = rep.suppressions_file.clone().expect("file");
    let mut want = bad_render_findings();
    want.push(format!("SUPP003 {f}:2 suppression of K8S018 has no reason"));
    want.push(format!("SUPP003 {f}:5 suppression names unknown rule \"K8S01\""));
    assert_eq!(sorted(lines(&rep)), sorted(want));
    assert!(
        rep.findings.iter().filter(|f| f.rule == "SUPP003").all(|f| f.severity.as_str() == "error")
    );
}

#[test]
fn an_entry_that_matches_nothing_is_a_supp004_warning_when_its_rule_ran() {
    let dir = copy_render("render/bad");
    let file = data("render-suppressions/unmatched.yaml");
    let rep = check_with(&opts(dir.path(), &[]), Some(&file)).expect("check");
    let f = rep.suppressions_file.clone().expect("file");
    let supp004: Vec<String> =
        lines(&rep).into_iter().filter(|l| l.starts_with("SUPP004")).collect();
    // The reloader entry: hostNetwork is the pod's (line 68, after the last
    // container's lines) and only the agent container is privileged.
    assert_eq!(
        supp004,
        [
            format!("SUPP004 {f}:2 suppression of K8S018 matches no finding of this render"),
            format!("SUPP004 {f}:11 suppression of K8S009 matches no finding of this render"),
        ]
    );
    assert!(
        rep.findings
            .iter()
            .filter(|f| f.rule == "SUPP004")
            .all(|f| f.severity.as_str() == "warning")
    );
    assert_eq!(rep.suppressed.len(), 1, "the :latest image is suppressed by its entry");
    assert!(lines(&rep).iter().any(|l| l.starts_with("K8S018 agent.yaml:68")));
    // A rule that did not run (--only) does not make its entries unused.
    let only = check_with(&opts(dir.path(), &["K8S012", "SUPP004"]), Some(&file)).expect("check");
    assert_eq!(lines(&only), Vec::<String>::new());
    assert_eq!(only.suppressed.len(), 1);
}

#[test]
fn a_render_inside_a_repository_uses_that_repositorys_suppression_file() {
    let repo = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(repo.path().join(".git")).expect("git");
    std::fs::create_dir_all(repo.path().join("deploy")).expect("deploy");
    std::fs::copy(
        data("render-suppressions/works.yaml"),
        repo.path().join(render::SUPPRESSIONS_FILE),
    )
    .expect("copy");
    let out = repo.path().join(".platctl/render/test");
    std::fs::create_dir_all(&out).expect("out");
    copy_dir(&data("render/bad"), &out);
    let rep = check(&opts(&out, &[])).expect("check");
    assert_eq!(rep.suppressions_file.as_deref(), Some(render::SUPPRESSIONS_FILE));
    assert_eq!(rep.suppressed.len(), 3);
    // The repository check validates the same file (SUPP003), without a render.
    std::fs::write(
        repo.path().join(render::SUPPRESSIONS_FILE),
        "suppressions:\n  - rule: K8S018\n    application: agent\n    objects: [DaemonSet/agent]\n",
    )
    .expect("write");
    let rep = check(&opts(repo.path(), &["SUPP003"])).expect("check");
    assert_eq!(
        lines(&rep),
        ["SUPP003 deploy/render-suppressions.yaml:2 suppression of K8S018 has no reason"]
    );
}
