//! `platctl init` on fresh copies of this repository: a team's values land
//! in every derived file (repo URLs, hostnames, ACME contact, the ACL), no
//! placeholder remains anywhere deployable, the result passes `platctl
//! check`; a second run changes nothing; `--check` catches stale files; every
//! bad value is refused with nothing written; the shipped tree is an
//! unconfigured template whose placeholders all belong to platform.yaml.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::support::*;

const ORG: &str = "acme-platform";
const REPO: &str = "https://github.com/acme-platform/platform.git";
const DOMAIN: &str = "platform.acme.io";
const EMAIL: &str = "platform@acme.io";
const ADMIN: &str = "81.2.69.0/28";
const CI: &str = "172.104.10.7/32";

fn init(dir: &Path) -> Command {
    let mut cmd = platctl();
    cmd.arg("init").arg("--dir").arg(dir);
    cmd
}

const TEAM: [(&str, &str); 7] = [
    ("--org", ORG),
    ("--repo", REPO),
    ("--domain", DOMAIN),
    ("--acme-email", EMAIL),
    ("--admin-cidr", ADMIN),
    ("--ci-cidr", CI),
    ("--region", "fr-par"),
];

fn team_args(cmd: &mut Command) -> &mut Command {
    team_args_with(cmd, "", "")
}

/// The team's values with one flag's value replaced.
fn team_args_with<'a>(cmd: &'a mut Command, flag: &str, value: &str) -> &'a mut Command {
    for (f, v) in TEAM {
        cmd.arg(f).arg(if f == flag { value } else { v });
    }
    cmd
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exit code")
}

fn yaml_docs(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("read yaml");
    serde_saphyr::from_multiple::<Value>(&text)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn yaml_files(dir: &Path) -> Vec<std::path::PathBuf> {
    fn walk(d: &Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(d).expect("read_dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "yaml") {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, &mut out);
    out.sort();
    out
}

/// Every Argo CD source's repoURL under deploy/ that is not an upstream project.
fn own_repo_urls(root: &Path) -> Vec<String> {
    let mut urls = Vec::new();
    for f in yaml_files(&root.join("deploy")) {
        for doc in yaml_docs(&f) {
            if doc["kind"] != "Application" {
                continue;
            }
            let spec = &doc["spec"];
            let sources =
                spec["sources"].as_array().cloned().unwrap_or_else(|| vec![spec["source"].clone()]);
            for s in sources {
                // Our own tree: a Git path under deploy/ or charts/.
                if let (Some(url), Some(path)) = (s["repoURL"].as_str(), s["path"].as_str())
                    && (path.starts_with("deploy/") || path.starts_with("charts/"))
                {
                    urls.push(url.to_owned());
                }
            }
        }
    }
    urls
}

#[test]
fn team_values_land_everywhere_and_pass_check() {
    let copy = repo_copy();
    let root = copy.path();
    let before = own_repo_urls(root);
    assert!(before.len() >= 15, "the tree has its Applications: {before:?}");

    let o = run(team_args(&mut init(root)).arg("--yes"));
    assert_eq!(code(&o), 0, "{}\n{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("file(s) written"), "{}", stdout(&o));

    // Repository URLs: every Application of our own tree.
    let after = own_repo_urls(root);
    assert_eq!(after.len(), before.len());
    assert!(after.iter().all(|u| u == REPO), "{after:?}");
    for f in [
        "deploy/platform/argocd/projects/platform.yaml",
        "deploy/platform/argocd/projects/apps-production.yaml",
    ] {
        let docs = yaml_docs(&root.join(f));
        assert_eq!(docs[0]["spec"]["sourceRepos"][0], REPO, "{f}");
    }
    // Hostnames: Gateway listeners and HTTPRoutes live under the domain.
    let mut hostnames = Vec::new();
    for env in ["staging", "production"] {
        for doc in yaml_docs(&root.join(format!("deploy/envs/{env}/foundation/gateway.yaml"))) {
            for l in doc["spec"]["listeners"].as_array().into_iter().flatten() {
                hostnames.extend(l["hostname"].as_str().map(str::to_owned));
            }
            for h in doc["spec"]["hostnames"].as_array().into_iter().flatten() {
                hostnames.extend(h.as_str().map(str::to_owned));
            }
        }
    }
    assert!(hostnames.contains(&format!("staging.{DOMAIN}")), "{hostnames:?}");
    assert!(hostnames.contains(&format!("argocd.production.{DOMAIN}")), "{hostnames:?}");
    assert!(hostnames.iter().all(|h| h.ends_with(&format!(".{DOMAIN}"))), "{hostnames:?}");
    let app = &yaml_docs(&root.join("deploy/apps/production/sample-service.yaml"))[0];
    assert_eq!(
        app["spec"]["source"]["helm"]["valuesObject"]["route"]["hostname"],
        format!("production.{DOMAIN}")
    );
    // ACME contact of both ClusterIssuers.
    let issuers = yaml_docs(&root.join("deploy/platform/cert-manager/cluster-issuers.yaml"));
    assert_eq!(issuers.len(), 2);
    for i in &issuers {
        assert_eq!(i["spec"]["acme"]["email"], EMAIL);
    }
    // The ACL and the other inputs of the env roots (admin + CI addresses).
    for env in ["production", "staging"] {
        let tfvars = std::fs::read_to_string(
            root.join(format!("infra/terraform/envs/{env}/terraform.tfvars")),
        )
        .expect("tfvars");
        assert!(
            tfvars.contains(&format!("acl_allowed_ipv4  = [\"{ADMIN}\", \"{CI}\"]"))
                || tfvars.contains(&format!("acl_allowed_ipv4 = [\"{ADMIN}\", \"{CI}\"]")),
            "{env}: {tfvars}"
        );
        assert!(
            tfvars.contains(&format!("\"{REPO}\"")) && tfvars.contains(&format!("\"{DOMAIN}\"")),
            "{env}: {tfvars}"
        );
    }
    let global = std::fs::read_to_string(root.join("infra/terraform/envs/global/terraform.tfvars"))
        .expect("tfvars");
    assert!(global.contains(&format!("\"{EMAIL}\"")), "{global}");
    // Images follow the registry; the drift CronJob no longer pins zeros.
    let cron =
        std::fs::read_to_string(root.join("deploy/platform/drift/cronjob.yaml")).expect("cronjob");
    assert!(cron.contains(&format!("image: ghcr.io/{ORG}/platctl-drift:")), "{cron}");
    // The RBAC groups name the organisation.
    let rbac = std::fs::read_to_string(root.join("deploy/platform/argocd/argocd-rbac-cm.yaml"))
        .expect("rbac");
    assert!(rbac.contains(&format!("g, {ORG}:platform-admins, role:admin")), "{rbac}");

    // No placeholder anywhere deployable: the rules (CONF001 for one platform.yaml
    // does not own, CONF002 for one it does), and the gate.
    let left = placeholder_findings(root);
    assert!(left.is_empty(), "placeholders remain: {left:#?}");
    let o = run(init(root).args(["--check", "--output", "json"]));
    assert_eq!(code(&o), 0, "{}\n{}", stdout(&o), stderr(&o));
    let rep = json(&o);
    assert_eq!(rep["configured"], true);
    assert_eq!(rep["stale"], serde_json::json!([]));

    // The result passes the platform's rules, and terraform fmt.
    let o = run(platctl().arg("check").arg(root).arg("--schemas").arg(schemas_dir()));
    assert_eq!(
        code(&o),
        0,
        "platctl check on the initialised copy:\n{}\n{}",
        stdout(&o),
        stderr(&o)
    );
    let o = run(Command::new(terraform())
        .args(["fmt", "-check", "-recursive"])
        .arg(root.join("infra/terraform")));
    assert!(o.status.success(), "terraform fmt after init:\n{}", stdout(&o));
}

/// CONF001/CONF002 findings on ROOT: (rule, severity, file, line, message).
fn placeholder_findings(root: &Path) -> Vec<(String, String, String, u64, String)> {
    check_only(root, "CONF001,CONF002")
        .1
        .iter()
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap_or("").to_owned();
            (s("rule"), s("severity"), s("file"), f["line"].as_u64().unwrap_or(0), s("message"))
        })
        .collect()
}

#[test]
fn second_run_changes_nothing() {
    let copy = repo_copy();
    let root = copy.path();
    let o = run(team_args(&mut init(root)).arg("--yes"));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let snapshot = tree_snapshot(root);
    let mtimes: Vec<_> = snapshot
        .keys()
        .map(|p| std::fs::metadata(root.join(p)).and_then(|m| m.modified()).expect("mtime"))
        .collect();
    // Same values again, with and without flags (no terminal, no --yes needed when nothing changes).
    for args in [vec!["--yes"], vec![]] {
        let mut cmd = init(root);
        if !args.is_empty() {
            team_args(&mut cmd);
        }
        let o = run(cmd.args(&args));
        assert_eq!(code(&o), 0, "{}\n{}", stdout(&o), stderr(&o));
        assert!(stdout(&o).contains("Nothing to change"), "{}", stdout(&o));
    }
    assert_eq!(tree_snapshot(root), snapshot, "a second run must not change a byte");
    let mtimes_after: Vec<_> = snapshot
        .keys()
        .map(|p| std::fs::metadata(root.join(p)).and_then(|m| m.modified()).expect("mtime"))
        .collect();
    assert_eq!(mtimes_after, mtimes, "nor rewrite a file");
}

#[test]
fn check_fails_on_stale_files_until_init_applies_a_hand_edit() {
    let copy = repo_copy();
    let root = copy.path();
    let o = run(team_args(&mut init(root)).arg("--yes"));
    assert_eq!(code(&o), 0, "{}", stderr(&o));

    // A hand edit of the configuration: every file carrying the domain is stale.
    let cfg = root.join("platform.yaml");
    let text = std::fs::read_to_string(&cfg).expect("config");
    let edited = text.replacen(&format!("domain: \"{DOMAIN}\""), "domain: \"apps.acme.io\"", 1);
    assert_ne!(edited, text);
    std::fs::write(&cfg, edited).expect("write");
    let o = run(init(root).args(["--check", "--output", "json"]));
    assert_eq!(code(&o), 3, "{}\n{}", stdout(&o), stderr(&o));
    let stale: Vec<String> = json(&o)["stale"]
        .as_array()
        .expect("stale")
        .iter()
        .map(|v| v.as_str().unwrap_or("").to_owned())
        .collect();
    for f in [
        "deploy/envs/production/foundation/gateway.yaml",
        "infra/terraform/envs/production/terraform.tfvars",
        "platform.yaml",
    ] {
        assert!(stale.iter().any(|s| s == f), "{f} not reported stale: {stale:?}");
    }
    // `platctl init` without flags applies the hand edit, from the recorded values.
    let o = run(init(root).arg("--yes"));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let gw = std::fs::read_to_string(root.join("deploy/envs/production/foundation/gateway.yaml"))
        .expect("gateway");
    assert!(gw.contains("argocd.production.apps.acme.io") && !gw.contains(DOMAIN), "{gw}");
    let o = run(init(root).arg("--check"));
    assert_eq!(code(&o), 0, "{}\n{}", stdout(&o), stderr(&o));

    // A derived file edited by hand (the ACL) is stale too.
    let tfvars = root.join("infra/terraform/envs/production/terraform.tfvars");
    let t = std::fs::read_to_string(&tfvars).expect("tfvars");
    std::fs::write(&tfvars, t.replace(&format!("\"{ADMIN}\", "), "")).expect("write");
    let o = run(init(root).arg("--check"));
    assert_eq!(code(&o), 3, "{}", stdout(&o));
    assert!(
        stdout(&o).contains("stale: infra/terraform/envs/production/terraform.tfvars"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn every_bad_value_is_refused_and_changes_no_file() {
    let copy = repo_copy();
    let root = copy.path();
    let snapshot = tree_snapshot(root);
    let cases: &[(&str, &str, &str)] = &[
        ("--domain", "not a domain", "is not a DNS name"),
        ("--domain", "platform_acme.io", "is not a DNS name"),
        ("--acme-email", "platform", "not an e-mail address (no @domain)"),
        ("--acme-email", "platform@", "without a domain"),
        ("--admin-cidr", "81.2.69.0/33", "is not a CIDR"),
        ("--admin-cidr", "eighty-one", "is not a CIDR"),
        ("--admin-cidr", "0.0.0.0/0", "admits every address on the internet"),
        ("--ci-cidr", "10.1.2.3/8", "has host bits set"),
        ("--repo", "ftp://github.com/acme/platform.git", "neither an https nor an ssh Git URL"),
        ("--repo", "http://github.com/acme/platform.git", "plain http"),
        ("--domain", "platform.example.com", "is a placeholder"),
        ("--admin-cidr", "203.0.113.0/24", "is a placeholder"),
    ];
    for (flag, value, expect) in cases {
        let mut cmd = init(root);
        team_args_with(&mut cmd, flag, value);
        let o = run(cmd.arg("--yes"));
        let err = stderr(&o);
        assert_eq!(code(&o), 2, "{flag} {value}: {err}");
        assert!(
            err.contains(flag) && err.contains(expect),
            "{flag} {value}: expected {expect:?} in: {err}"
        );
        assert!(err.contains("nothing was written"), "{err}");
        assert_eq!(tree_snapshot(root), snapshot, "{flag} {value} changed a file");
    }
    // Several at once: each is named.
    let o = run(init(root)
        .args(["--org", ORG, "--repo", "nope", "--domain", "x", "--acme-email", "y"])
        .args(["--admin-cidr", "0.0.0.0/0", "--yes"]));
    assert_eq!(code(&o), 2);
    let err = stderr(&o);
    for flag in ["--repo", "--domain", "--acme-email", "--admin-cidr"] {
        assert!(err.contains(flag), "{flag} not named: {err}");
    }
    assert_eq!(tree_snapshot(root), snapshot);
    // Without --yes and without a terminal nothing is written either.
    let o = run(team_args(&mut init(root)).stdin(std::process::Stdio::null()));
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("pass --yes"), "{}", stderr(&o));
    assert_eq!(tree_snapshot(root), snapshot);
}

#[test]
fn asks_for_each_value_on_a_terminal() {
    // util-linux `script` gives platctl a pseudo-terminal and feeds it our answers.
    let copy = repo_copy();
    let root = copy.path();
    let answers = format!("{ORG}\n{REPO}\n{DOMAIN}\n{EMAIL}\n{ADMIN}\n{CI}\n\ny\n");
    let cmdline = format!("NO_COLOR=1 {} init --dir {}", platctl_bin(), root.display());
    let mut child = Command::new("script")
        .args(["-qec", &cmdline, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("util-linux script is required (apt-get install bsdutils)");
    {
        use std::io::Write;
        child.stdin.take().expect("stdin").write_all(answers.as_bytes()).expect("answers");
    }
    let o = child.wait_with_output().expect("wait");
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    for prompt in ["GitHub organisation: ", "Base domain: ", "Write these"] {
        assert!(
            out.contains(prompt),
            "prompt {prompt:?} missing (placeholders have no default):\n{out}"
        );
    }
    let o = run(init(root).arg("--check"));
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    let cfg = std::fs::read_to_string(root.join("platform.yaml")).expect("config");
    assert!(cfg.contains(&format!("domain: \"{DOMAIN}\"")) && cfg.contains(CI), "{cfg}");
}

#[test]
fn shipped_tree_is_an_unconfigured_template() {
    // The repository as shipped: the gate refuses it, every placeholder anywhere
    // deployable is derived from platform.yaml (init replaces them all), and no
    // derived file is stale.
    let o = run(init(&repo_root()).args(["--check", "--output", "json"]));
    assert_eq!(code(&o), 3, "{}\n{}", stdout(&o), stderr(&o));
    let rep = json(&o);
    assert_eq!(rep["configured"], false);
    assert_eq!(rep["stale"], serde_json::json!([]), "the template's derived files are current");
    let fields: Vec<&str> = rep["unconfigured"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    for f in ["org", "repo_url", "domain", "acme_email", "admin_cidrs"] {
        assert!(fields.contains(&f), "{f}: {fields:?}");
    }
    let placeholders = rep["placeholders"].as_array().expect("placeholders");
    assert!(!placeholders.is_empty());
    let stray: Vec<&Value> = placeholders.iter().filter(|p| p["owned"] != true).collect();
    assert!(stray.is_empty(), "placeholders platform.yaml does not own: {stray:#?}");
    // And the rules pass on it (the suite's requirement): `platctl check` sees
    // the same placeholders as the gate, all owned, as one CONF002 warning.
    let o = run(platctl().arg("check").arg(repo_root()).arg("--schemas").arg(schemas_dir()));
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    let found = placeholder_findings(&repo_root());
    assert_eq!(found.len(), 1, "{found:#?}");
    let (rule, severity, file, _, message) = &found[0];
    assert_eq!(
        (rule.as_str(), severity.as_str(), file.as_str()),
        ("CONF002", "warning", "platform.yaml")
    );
    assert!(
        message.contains("unconfigured template")
            && message.contains(&format!("{} placeholder value(s)", placeholders.len())),
        "the rule and the gate count the same placeholders: {message}"
    );
}

#[test]
fn a_stray_placeholder_is_reported_and_fails_the_gate() {
    let copy = repo_copy();
    let root = copy.path();
    let o = run(team_args(&mut init(root)).arg("--yes"));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // A file added later with a placeholder init does not own.
    std::fs::write(
        root.join("deploy/platform/apps/99-new.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: monitoring\ndata:\n  receiver: https://oncall.invalid/hook # CHANGEME in a comment is not deployed\n",
    )
    .expect("write");
    let o = run(init(root).args(["--check", "--output", "json"]));
    assert_eq!(code(&o), 3, "{}", stdout(&o));
    let p = &json(&o)["placeholders"];
    assert_eq!(p.as_array().map(Vec::len), Some(1), "{p:#}");
    assert_eq!(p[0]["file"], "deploy/platform/apps/99-new.yaml");
    assert_eq!(p[0]["line"], 7);
    assert_eq!(p[0]["kind"], "invalid-domain");
    assert_eq!(p[0]["owned"], false);
    // `platctl check` reports the same one, as an error.
    let found = placeholder_findings(root);
    let stray: Vec<(&str, &str, u64)> =
        found.iter().map(|(r, _, f, l, _)| (r.as_str(), f.as_str(), *l)).collect();
    assert_eq!(stray, [("CONF001", "deploy/platform/apps/99-new.yaml", 7)], "{found:#?}");
    assert!(found[0].4.contains("oncall.invalid"), "{found:#?}");
    // init itself warns about it (it cannot replace what it does not own).
    let o = run(init(root).arg("--yes"));
    assert_eq!(code(&o), 0);
    assert!(stderr(&o).contains("99-new.yaml:7: oncall.invalid"), "{}", stderr(&o));
}
