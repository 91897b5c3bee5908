//! Table-driven rule tests over tests/fixtures/<RULE>/{bad,good}/.
//!
//! Each fixture folder is a small repository. In `bad/`, every line that must
//! produce a finding carries a trailing `# expect: RULE` marker (a file-level
//! finding: `# expect-file: RULE`); an `expect.txt` lists `path:line` where a
//! marker cannot sit on the line itself. The test runs only that rule and
//! requires exactly those (file, line) findings; `good/` must have none.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use platctl_check::{Options, RULES, check, check_with_cli};

mod common;
use common::{cli, fixtures, schemas};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("fixture dir readable") {
        let p = e.expect("entry").path();
        if p.is_dir() { files(&p, out) } else { out.push(p) }
    }
}

fn expected(dir: &Path, rule: &str) -> BTreeSet<(String, usize)> {
    let mut all = Vec::new();
    files(dir, &mut all);
    let mut out = BTreeSet::new();
    for p in all {
        let rel = p.strip_prefix(dir).expect("under dir").to_string_lossy().replace('\\', "/");
        let text = std::fs::read_to_string(&p).expect("fixture is text");
        if rel == "expect.txt" {
            for l in text.lines().filter(|l| !l.trim().is_empty()) {
                let (f, n) = l.trim().rsplit_once(':').expect("expect.txt: path:line");
                out.insert((f.to_owned(), n.parse().expect("line number")));
            }
            continue;
        }
        for (i, line) in text.lines().enumerate() {
            if line.contains(&format!("# expect: {rule}")) {
                out.insert((rel.clone(), i + 1));
            }
            if line.contains(&format!("# expect-file: {rule}")) {
                out.insert((rel.clone(), 0));
            }
        }
    }
    out
}

fn run(dir: &Path, rule: &str) -> BTreeSet<(String, usize)> {
    let opts = Options {
        root: dir.to_path_buf(),
        schemas: schemas(),
        only: vec![rule.to_owned()],
        skip: vec![],
    };
    let rep = check_with_cli(&opts, Some(&cli()))
        .unwrap_or_else(|e| panic!("{rule} on {}: {e}", dir.display()));
    for f in &rep.findings {
        assert_eq!(f.rule, rule, "--only {rule} leaked {f:?}");
        assert!(
            !f.message.is_empty() && !f.message.contains('\n'),
            "message must be one line: {f:?}"
        );
    }
    rep.findings.iter().map(|f| (f.file.clone(), f.line)).collect()
}

/// Rules whose fixtures are built at run time (binary, huge, symlinks): tests/files.rs.
/// SUPP004 needs a render and a suppression file outside it: tests/render.rs.
const RUNTIME: &[&str] = &["PARSE003", "PARSE004", "PARSE005", "TF015", "SUPP004"];

#[test]
fn every_rule_fails_its_bad_fixture_at_the_right_line_and_passes_its_good_one() {
    let mut failures = Vec::new();
    for rule in RULES.iter().map(|r| r.id.code()).filter(|id| !RUNTIME.contains(id)) {
        let base = fixtures().join(rule);
        let (bad, good) = (base.join("bad"), base.join("good"));
        if !bad.is_dir() || !good.is_dir() {
            failures.push(format!("{rule}: missing fixtures {}/{{bad,good}}", base.display()));
            continue;
        }
        let want = expected(&bad, rule);
        if want.is_empty() {
            failures.push(format!("{rule}: bad fixture has no `# expect: {rule}` marker"));
        }
        let got = run(&bad, rule);
        if got != want {
            failures.push(format!("{rule}: bad fixture\n  expected {want:?}\n  got      {got:?}"));
        }
        let got_good = run(&good, rule);
        if !got_good.is_empty() {
            failures.push(format!("{rule}: good fixture has findings {got_good:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn fixtures_only_name_known_rules() {
    for e in std::fs::read_dir(fixtures()).expect("fixtures") {
        let name = e.expect("entry").file_name().to_string_lossy().into_owned();
        assert!(RULES.iter().any(|r| r.id.code() == name), "fixture folder {name} names no rule");
    }
}

#[test]
fn obs002_names_each_missing_component_and_environment_but_not_global_roots() {
    let opts = Options {
        root: fixtures().join("OBS002/bad"),
        schemas: schemas(),
        only: vec!["OBS002".into()],
        skip: vec![],
    };
    let rep = check(&opts).expect("check");
    let msgs: Vec<&str> = rep.findings.iter().map(|f| f.message.as_str()).collect();
    assert_eq!(
        msgs,
        [
            "no Argo CD Application deploys Alloy for environment production",
            "no Argo CD Application deploys Loki for environment production",
            "no Argo CD Application deploys Tempo for environment production",
            "no Argo CD Application deploys Tempo for environment staging",
        ]
    );
}

fn messages(dir: &Path, rule: &str, schema_folder: PathBuf) -> Vec<String> {
    let opts = Options {
        root: dir.to_path_buf(),
        schemas: schema_folder,
        only: vec![rule.into()],
        skip: vec![],
    };
    let rep = check(&opts).unwrap_or_else(|e| panic!("{rule}: {e}"));
    rep.findings.iter().map(|f| format!("{}:{} {}", f.file, f.line, f.message)).collect()
}

#[test]
fn linode_findings_name_the_argument_the_block_and_the_provider_version() {
    let got = messages(&fixtures().join("LINODE002/bad"), "LINODE002", schemas());
    let main = "infra/terraform/modules/lke-cluster/main.tf";
    for want in [
        format!(
            "{main}:3 linode_lke_cluster.this: unknown argument k8s_verison (linode provider 3.9.0); did you mean k8s_version?"
        ),
        format!(
            "{main}:40 linode_lke_cluster.this: unknown argument node_count in pool (dynamic \"pool\") (linode provider 3.9.0)"
        ),
        format!(
            "{main}:42 linode_lke_cluster.this: unknown block taints in pool (dynamic \"pool\") (linode provider 3.9.0); did you mean taint?"
        ),
    ] {
        assert!(got.contains(&want), "missing {want:?} in {got:#?}");
    }
    let got = messages(&fixtures().join("LINODE003/bad"), "LINODE003", schemas());
    let want = format!(
        "{main}:15 linode_lke_cluster.this: required argument max in pool.autoscaler (dynamic \"pool\") is not set (linode provider 3.9.0)"
    );
    assert!(got.contains(&want), "missing {want:?} in {got:#?}");
}

#[test]
fn a_schema_folder_without_the_provider_schema_is_a_finding_not_a_pass() {
    // The same Kubernetes schemas, but no terraform/linode/: every linode_* directory is reported.
    let tmp = tempfile::tempdir().expect("tempdir");
    for sub in ["kubernetes", "crds"] {
        std::os::unix::fs::symlink(schemas().join(sub), tmp.path().join(sub)).expect("symlink");
    }
    let got = messages(&fixtures().join("LINODE002/bad"), "LINODE004", tmp.path().to_path_buf());
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].contains("available: none"), "{got:?}");
    assert!(
        messages(&fixtures().join("LINODE002/bad"), "LINODE002", tmp.path().to_path_buf())
            .is_empty()
    );
}

#[test]
fn firewall_requirements_cover_both_directions_and_protocols_without_ports() {
    use platctl_check::firewall::{
        Direction, LKE_PRIVATE, Peer, Requirement, requirement_findings,
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let module = dir.path().join("infra/terraform/modules/firewall");
    std::fs::create_dir_all(&module).expect("mkdir");
    std::fs::write(
        module.join("main.tf"),
        r#"resource "linode_firewall" "nodes" {
  label           = "nodes"
  inbound_policy  = "DROP"
  outbound_policy = "DROP"

  inbound {
    label    = "ipip-in"
    action   = "ACCEPT"
    protocol = "IPENCAP"
    ipv4     = ["192.168.128.0/17"]
  }

  outbound {
    label    = "https"
    action   = "ACCEPT"
    protocol = "TCP"
    ports    = "443"
    ipv4     = ["0.0.0.0/0"]
  }
}
"#,
    )
    .expect("write");
    let req = |direction, protocol, ports, peer, traffic| Requirement {
        direction,
        protocol,
        ports,
        peer,
        traffic,
        why: "test",
        source: "test",
    };
    let requirements = [
        req(Direction::Inbound, "IPENCAP", None, Peer::Range(LKE_PRIVATE), "IP-in-IP in"),
        req(Direction::Outbound, "IPENCAP", None, Peer::Range(LKE_PRIVATE), "IP-in-IP out"),
        req(Direction::Outbound, "TCP", Some(&[(443, 443)][..]), Peer::Public, "HTTPS out"),
        req(
            Direction::Outbound,
            "TCP",
            Some(&[(80, 80), (443, 443)][..]),
            Peer::Public,
            "HTTP and HTTPS out",
        ),
    ];
    let repo = platctl_check::walk::load(dir.path());
    let schemas = platctl_check::schema::SchemaSet::open(&schemas()).expect("schemas");
    let ctx = platctl_check::Context::new(&repo, &schemas);
    let msgs: Vec<String> = requirement_findings(&ctx, &requirements)
        .into_iter()
        .filter(|f| f.rule == "FW002")
        .map(|f| f.message)
        .collect();
    assert_eq!(msgs.len(), 2, "{msgs:#?}");
    assert!(msgs[0].contains("does not let out IP-in-IP out"), "{msgs:#?}");
    assert!(msgs[1].contains("does not let out HTTP and HTTPS out"), "{msgs:#?}");
}

/// A firewall with exactly one rule per requirement of [`LKE_REQUIREMENTS`],
/// written the way the requirement asks.
fn rule_for(r: &platctl_check::firewall::Requirement, action: &str, cidr: Option<&str>) -> String {
    use platctl_check::firewall::{Direction, Peer};
    let block = match r.direction {
        Direction::Inbound => "inbound",
        Direction::Outbound => "outbound",
    };
    let ports = r
        .ports
        .map(|ranges| {
            let list: Vec<String> = ranges
                .iter()
                .map(|(a, b)| if a == b { a.to_string() } else { format!("{a}-{b}") })
                .collect();
            format!("    ports    = \"{}\"\n", list.join(","))
        })
        .unwrap_or_default();
    let cidr = cidr.unwrap_or(match r.peer {
        Peer::Range(c) => c,
        Peer::Public => "0.0.0.0/0",
    });
    format!(
        "  {block} {{\n    label    = \"r\"\n    action   = \"{action}\"\n    protocol = \"{}\"\n{ports}    ipv4     = [\"{cidr}\"]\n  }}\n",
        r.protocol
    )
}

fn fw002_messages(rules: &[String]) -> Vec<String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let module = dir.path().join("infra/terraform/modules/firewall");
    std::fs::create_dir_all(&module).expect("mkdir");
    let text = format!(
        "resource \"linode_firewall\" \"nodes\" {{\n  label           = \"nodes\"\n  inbound_policy  = \"DROP\"\n  outbound_policy = \"DROP\"\n\n{}}}\n",
        rules.join("\n")
    );
    std::fs::write(module.join("main.tf"), text).expect("write");
    messages(dir.path(), "FW002", schemas())
}

/// Every requirement FW002 checks (LKE's documented rules, IP-in-IP both
/// ways, the platform's egress) has a good case (its rule present: no
/// finding) and bad ones (its rule missing, dropping instead of accepting,
/// or from/to a range that does not cover the required one: a narrower
/// range, or only private addresses where public ones are needed), and each bad
/// case names exactly that requirement's traffic, reason and page.
#[test]
fn fw002_every_requirement_has_a_good_and_a_bad_case() {
    use platctl_check::firewall::{LKE_REQUIREMENTS, Peer};
    let all: Vec<String> = LKE_REQUIREMENTS.iter().map(|r| rule_for(r, "ACCEPT", None)).collect();
    assert_eq!(fw002_messages(&all), Vec::<String>::new(), "every rule present: no finding");
    assert!(
        LKE_REQUIREMENTS.iter().any(|r| r.protocol == "IPENCAP"
            && r.direction == platctl_check::firewall::Direction::Inbound)
    );
    assert!(
        LKE_REQUIREMENTS.iter().any(|r| r.protocol == "IPENCAP"
            && r.direction == platctl_check::firewall::Direction::Outbound)
    );
    for (i, r) in LKE_REQUIREMENTS.iter().enumerate() {
        let mut variants = vec![("missing", None), ("dropped", Some(rule_for(r, "DROP", None)))];
        let elsewhere = match r.peer {
            Peer::Range(_) => "192.168.200.0/24",
            Peer::Public => "10.0.0.0/8",
        };
        variants.push(("wrong peer", Some(rule_for(r, "ACCEPT", Some(elsewhere)))));
        for (case, replacement) in variants {
            let mut rules = all.clone();
            match replacement {
                Some(rule) => rules[i] = rule,
                None => {
                    rules.remove(i);
                }
            }
            let got = fw002_messages(&rules);
            assert_eq!(got.len(), 1, "{} ({case}): {got:#?}", r.traffic);
            for part in [r.traffic, r.why, r.source] {
                assert!(got[0].contains(part), "{} ({case}): {part:?} not in {got:?}", r.traffic);
            }
        }
    }
}
