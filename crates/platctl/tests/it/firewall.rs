//! The node firewall (infra/terraform/modules/firewall) judged by the one
//! implementation of its requirements, `platctl check`'s FW001-FW004
//! (crates/check/src/firewall.rs, `LKE_REQUIREMENTS`), run through the real
//! binary on the repository and on copies of it with one thing broken; plus
//! its validation blocks exercised with the real terraform.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::{platctl, terraform};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repository root")
}

fn modules() -> PathBuf {
    repo_root().join("infra/terraform/modules")
}

fn schemas() -> PathBuf {
    std::env::var_os("PLATCTL_SCHEMAS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared/schemas"))
}

const FIREWALL_RULES: &str = "FW001,FW002,FW003,FW004";

/// `platctl check <root> --only FW001..FW004 --output json`: (rule, file, message) per finding.
fn firewall_findings(root: &Path) -> Vec<(String, String, String)> {
    let out = platctl()
        .arg("check")
        .arg(root)
        .arg("--schemas")
        .arg(schemas())
        .args(["--only", FIREWALL_RULES, "--output", "json"])
        .output()
        .expect("run platctl check");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("check output is not JSON ({e}): {}", String::from_utf8_lossy(&out.stderr))
    });
    let findings: Vec<(String, String, String)> = v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap_or("").to_owned();
            (s("rule"), s("file"), s("message"))
        })
        .collect();
    // Exit 1 exactly when there are errors (every firewall rule is one).
    assert_eq!(out.status.code(), Some(i32::from(!findings.is_empty())), "{findings:#?}");
    findings
}

/// A copy of the repository's Terraform tree with `old` replaced by `new`
/// in `file` (relative to infra/terraform/modules); its firewall findings.
fn findings_after(file: &str, old: &str, new: &str) -> Vec<(String, String, String)> {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dest = tmp.path().join("infra/terraform");
    copy_tree(&repo_root().join("infra/terraform"), &dest);
    let path = dest.join("modules").join(file);
    let text = std::fs::read_to_string(&path).expect("read module");
    assert!(text.contains(old), "mutation anchor {old:?} not in {file}");
    std::fs::write(&path, text.replacen(old, new, 1)).expect("write copy");
    firewall_findings(tmp.path())
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read dir") {
        let e = e.expect("entry");
        let name = e.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue; // .terraform, lock files of local runs
        }
        let (src, dst) = (e.path(), to.join(&name));
        if src.is_dir() {
            copy_tree(&src, &dst);
        } else if src.is_symlink() {
            // Shared settings are linked into each root (TF014): copy the target.
            std::fs::copy(std::fs::canonicalize(&src).expect("link"), &dst).expect("copy");
        } else {
            std::fs::copy(&src, &dst).expect("copy");
        }
    }
}

fn has(f: &[(String, String, String)], rule: &str, text: &str) -> bool {
    f.iter().any(|(r, _, m)| r == rule && m.contains(text))
}

#[test]
fn the_repository_passes_the_firewall_rules() {
    let f = firewall_findings(&repo_root());
    assert!(f.is_empty(), "the firewall module or the node pools break FW001-FW004:\n{f:#?}");
}

/// The real module, one thing broken at a time: `platctl check` names the
/// traffic, why it is needed and the page.
#[test]
fn the_firewall_rules_bite_on_the_real_module() {
    // IP-in-IP outbound gone.
    let f = findings_after(
        "firewall/main.tf",
        "    protocol    = \"IPENCAP\"\n    ipv4        = [var.lke_private_cidr]\n  }\n\n  outbound {\n    label       = \"dns-udp\"",
        "    protocol    = \"TCP\"\n    ports       = \"4\"\n    ipv4        = [var.lke_private_cidr]\n  }\n\n  outbound {\n    label       = \"dns-udp\"",
    );
    assert_eq!(f.len(), 1, "{f:#?}");
    assert!(
        has(&f, "FW002", "does not let out IP-in-IP (IPENCAP) to the LKE private range"),
        "{f:#?}"
    );
    assert!(has(&f, "FW002", "cloud-firewall-controller"), "{f:#?}");
    // IP-in-IP inbound gone.
    let f =
        findings_after("firewall/main.tf", "protocol    = \"IPENCAP\"", "protocol    = \"ICMP\"");
    assert!(
        has(&f, "FW002", "does not accept IP-in-IP (IPENCAP) from the LKE private range"),
        "{f:#?}"
    );
    // kube-proxy's 10256 dropped from the kubelet rule.
    let f = findings_after(
        "firewall/main.tf",
        "ports       = \"10250,10256\"",
        "ports       = \"10250\"",
    );
    assert!(has(&f, "FW002", "kubelet and kube-proxy health checks"), "{f:#?}");
    assert!(has(&f, "FW002", "lke-network-firewall-details"), "{f:#?}");
    // NodePorts narrowed (the dynamic rules are read through their for_each).
    let f = findings_after(
        "firewall/main.tf",
        "ports       = \"30000-32767\"",
        "ports       = \"30000-32000\"",
    );
    assert!(has(&f, "FW002", "NodePorts (TCP 30000-32767)"), "{f:#?}");
    // NTP gone.
    let f = findings_after("firewall/main.tf", "ports       = \"123\"", "ports       = \"1123\"");
    assert!(has(&f, "FW002", "NTP (UDP 123)"), "{f:#?}");
    // An ACCEPT outbound policy.
    let f = findings_after(
        "firewall/main.tf",
        "outbound_policy = \"DROP\"",
        "outbound_policy = \"ACCEPT\"",
    );
    assert!(has(&f, "FW001", "outbound_policy \"ACCEPT\""), "{f:#?}");
    // Attached by instance IDs.
    let f = findings_after(
        "firewall/main.tf",
        "  inbound_policy  = \"DROP\"",
        "  linodes = [1]\n  inbound_policy  = \"DROP\"",
    );
    assert!(has(&f, "FW004", "instance IDs"), "{f:#?}");
    // The optional GPU pool without the firewall.
    let f = findings_after(
        "lke-cluster/main.tf",
        "      tags = [\"pool:gpu\"]\n\n      firewall_id = var.firewall_id\n",
        "      tags = [\"pool:gpu\"]\n",
    );
    assert_eq!(f.len(), 1, "{f:#?}");
    assert!(has(&f, "FW004", "dynamic \"pool\" without firewall_id"), "{f:#?}");
}

/// Every rule of the module says why it exists (the issue's requirement;
/// the provider requires only the label).
#[test]
fn every_firewall_rule_has_a_label_and_a_description() {
    let text = std::fs::read_to_string(modules().join("firewall/main.tf")).expect("module");
    let body = hcl::parse(&text).expect("module parses");
    let mut rules = 0;
    for res in body.blocks().filter(|b| b.identifier() == "resource") {
        for b in res.body().blocks() {
            let rule = match b.identifier() {
                "inbound" | "outbound" => b.body(),
                "dynamic" => match b.body().blocks().find(|c| c.identifier() == "content") {
                    Some(c) => c.body(),
                    None => continue,
                },
                _ => continue,
            };
            rules += 1;
            for key in ["label", "description"] {
                let value =
                    rule.attributes().find(|a| a.key() == key).map(|a| a.expr().to_string());
                assert!(
                    value.as_deref().is_some_and(|v| v.trim_matches('"').trim().len() >= 3),
                    "a firewall rule without a {key}: {rule:?}"
                );
            }
        }
    }
    assert!(rules >= 16, "only {rules} rules read");
}

/// The env roots wire the firewall's id into the cluster module (whose
/// pools FW004 checks), never instance IDs.
#[test]
fn the_env_roots_attach_the_firewall_through_the_cluster_module() {
    let envs = modules().join("../envs");
    for (env, expected) in
        [("production", "module.firewall.id"), ("staging", "module.firewall[0].id")]
    {
        let text = std::fs::read_to_string(envs.join(env).join("main.tf")).expect("env root");
        let body = hcl::parse(&text).expect("env root parses");
        let cluster = body
            .blocks()
            .find(|b| {
                b.identifier() == "module"
                    && b.labels().first().is_some_and(|l| l.as_str() == "cluster")
            })
            .expect("module cluster");
        let fw = cluster
            .body()
            .attributes()
            .find(|a| a.key() == "firewall_id")
            .map(|a| a.expr().to_string())
            .unwrap_or_default();
        assert_eq!(fw, expected, "envs/{env}: the cluster's pools must attach the firewall");
        assert!(
            !text.contains("linode_ids") && !text.contains("node_instance_ids"),
            "envs/{env} still uses instance IDs"
        );
    }
}

/// `terraform plan` on a copy of a module's variables.tf (no provider
/// needed): accepted, or rejected with a message containing `expect`.
fn plan_cases(module: &str, cases: &[(&str, &str, Option<&str>)]) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(modules().join(module).join("variables.tf"), dir.path().join("variables.tf"))
        .expect("copy");
    let tf = |args: &[&str]| {
        Command::new(terraform())
            .args(args)
            .current_dir(dir.path())
            .env("TF_CLI_CONFIG_FILE", "/dev/null")
            .env("CHECKPOINT_DISABLE", "1")
            .env("TF_IN_AUTOMATION", "1")
            .env_remove("TF_CLI_ARGS")
            .output()
            .expect("terraform")
    };
    let init = tf(&["init", "-input=false", "-no-color"]);
    assert!(init.status.success(), "terraform init: {}", String::from_utf8_lossy(&init.stderr));
    for (name, tfvars, expect) in cases {
        std::fs::write(dir.path().join("case.auto.tfvars.json"), tfvars).expect("tfvars");
        let out = tf(&["plan", "-input=false", "-no-color", "-lock=false", "-refresh=false"]);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
        match expect {
            None => assert!(out.status.success(), "{module} {name}: expected acceptance:\n{text}"),
            Some(msg) => {
                assert!(
                    !out.status.success(),
                    "{module} {name}: expected a rejection, terraform accepted it"
                );
                assert!(text.contains(msg), "{module} {name}: expected {msg:?} in:\n{text}");
            }
        }
    }
}

#[test]
fn firewall_validation_blocks_with_the_real_terraform() {
    plan_cases(
        "firewall",
        &[
            ("defaults", r#"{"label": "platform-fr-par-nodes"}"#, None),
            ("short label", r#"{"label": "x"}"#, Some("3-32 characters")),
            (
                "private range opened to the world",
                r#"{"label": "fw-a", "lke_private_cidr": "0.0.0.0/0"}"#,
                Some("would open kubelet, BGP and IP-in-IP"),
            ),
            (
                "private range not IPv4",
                r#"{"label": "fw-a", "lke_private_cidr": "fd00::/8"}"#,
                Some("must be an IPv4 CIDR"),
            ),
            (
                "NodePorts to the world",
                r#"{"label": "fw-a", "nodebalancer_cidr": "0.0.0.0/0"}"#,
                Some("NodePorts would be open"),
            ),
            (
                "no HTTPS destination",
                r#"{"label": "fw-a", "https_egress_ipv4": []}"#,
                Some("would block image pulls"),
            ),
            (
                "HTTPS to an egress proxy",
                r#"{"label": "fw-a", "https_egress_ipv4": ["198.51.100.7/32"], "https_egress_ipv6": []}"#,
                None,
            ),
            (
                "HTTP self-check to the Gateways",
                r#"{"label": "fw-a", "http_egress_ipv4": ["198.51.100.7/32", "198.51.100.8/32"]}"#,
                None,
            ),
            (
                "HTTP destination not a CIDR",
                r#"{"label": "fw-a", "http_egress_ipv4": ["gateway"]}"#,
                Some("certificate issuance"),
            ),
            (
                "IPv6 in an IPv4 list",
                r#"{"label": "fw-a", "dns_egress_ipv4": ["::/0"]}"#,
                Some("dns_egress_ipv4 must list"),
            ),
            (
                "leading zero port",
                r#"{"label": "fw-a", "extra_outbound_tcp_ports": ["080"]}"#,
                Some("without leading zeros"),
            ),
            (
                "extra ports",
                r#"{"label": "fw-a", "extra_outbound_tcp_ports": ["5432", "8000-8100"]}"#,
                None,
            ),
            (
                "too many extra ports",
                r#"{"label": "fw-a", "extra_outbound_tcp_ports": ["1","2","3","4","5","6","7","8","9","10","11","12","13","14","15","16"]}"#,
                Some("at most 15 entries"),
            ),
        ],
    );
    plan_cases(
        "lke-cluster",
        &[
            (
                "firewall id",
                r#"{"label": "stg-a", "environment": "staging", "firewall_id": 1234}"#,
                None,
            ),
            (
                "negative firewall id",
                r#"{"label": "stg-a", "environment": "staging", "firewall_id": -3}"#,
                Some("numeric ID of a Cloud Firewall"),
            ),
            (
                "fractional firewall id",
                r#"{"label": "stg-a", "environment": "staging", "firewall_id": 1.5}"#,
                Some("numeric ID of a Cloud Firewall"),
            ),
        ],
    );
}
