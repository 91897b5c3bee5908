//! The modules' `validation` blocks, exercised by the real terraform: each
//! case plans a module's variables.tf alone (no provider is needed) with one
//! set of inputs and expects it accepted, or refused with a message that
//! names the problem. These are the V001-V016 cases check_hcl.py ran.

use std::path::{Path, PathBuf};
use std::process::Command;

/// (id, module, inputs as JSON, None = accepted / Some(part of the error))
type Case = (&'static str, &'static str, &'static str, Option<&'static str>);

const CASES: &[Case] = &[
    (
        "V001",
        "lke-cluster",
        r#"{"label": "prod-a", "environment": "production", "acl_allowed_ipv4": ["203.0.113.0/24"]}"#,
        None,
    ),
    (
        "V002",
        "lke-cluster",
        r#"{"label": "prod-a", "environment": "production", "high_availability": false, "acl_allowed_ipv4": ["203.0.113.0/24"]}"#,
        Some("high_availability = true"),
    ),
    (
        "V003",
        "lke-cluster",
        r#"{"label": "prod-a", "environment": "production", "acl_enabled": false, "acl_allowed_ipv4": ["203.0.113.0/24"]}"#,
        Some("acl_enabled = true"),
    ),
    (
        "V004",
        "lke-cluster",
        r#"{"label": "prod-a", "environment": "production"}"#,
        Some("at least one CIDR"),
    ),
    (
        "V005",
        "lke-cluster",
        r#"{"label": "prod-a", "environment": "production", "acl_allowed_ipv4": ["0.0.0.0/0"]}"#,
        Some("must not contain 0.0.0.0/0"),
    ),
    (
        "V006",
        "lke-cluster",
        r#"{"label": "stg-a", "environment": "staging", "high_availability": false, "acl_enabled": false}"#,
        None,
    ),
    (
        "V007",
        "lke-cluster",
        r#"{"label": "stg-a", "environment": "staging", "gpu_pool": {"enabled": true, "type": "g1-gpu-rtx6000-1", "min": 1, "max": 1}}"#,
        Some("Quadro RTX 6000"),
    ),
    (
        "V008",
        "lke-cluster",
        r#"{"label": "stg-a", "environment": "staging", "gpu_pool": {"enabled": true, "type": "g2-gpu-rtx4000a1-s", "min": 1, "max": 2}}"#,
        None,
    ),
    (
        "V009",
        "lke-cluster",
        r#"{"label": "stg-a", "environment": "staging", "gpu_pool": {"enabled": true, "type": "g3-gpu-rtxpro6000-blackwell-1", "min": 1, "max": 1}}"#,
        None,
    ),
    (
        "V010",
        "lke-cluster",
        r#"{"label": "stg-a", "environment": "staging", "workload_pool": {"type": "g6-standard-2", "min": 4, "max": 2}}"#,
        Some("min <= max"),
    ),
    (
        "V011",
        "lke-cluster",
        r#"{"label": "stg-a", "environment": "dev"}"#,
        Some("\"staging\" or \"production\""),
    ),
    (
        "V012",
        "state-bucket",
        r#"{"noncurrent_version_expiration_days": 1}"#,
        Some("between 7 and 3650"),
    ),
    ("V013", "state-bucket", r#"{}"#, None),
    ("V014", "firewall", r#"{"label": "x"}"#, Some("3-32 characters")),
    (
        "V015",
        "dns",
        r#"{"domain": "platform.example.com", "environments": {"dev": {}}}"#,
        Some("\"staging\" or \"production\""),
    ),
    (
        "V016",
        "dns",
        r#"{"domain": "platform.example.com", "environments": {"staging": {"gateway_ipv4": "not-an-ip"}}}"#,
        Some("IPv4 address"),
    ),
];

fn modules() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/terraform/modules")
}

fn terraform(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("terraform")
        .args(args)
        .current_dir(dir)
        .env("TF_IN_AUTOMATION", "1")
        .env("CHECKPOINT_DISABLE", "1")
        .env("TF_CLI_CONFIG_FILE", "/dev/null")
        .env_remove("TF_CLI_ARGS")
        .env_remove("TF_CLI_ARGS_plan")
        .env_remove("TF_CLI_ARGS_init")
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run terraform (install it with .ci/install-tools): {e}")
        });
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    // Terraform wraps long messages; compare on single spaces.
    (out.status.success(), text.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// Run the cases of one module in a folder holding only its variables.tf.
fn run_module(module: &str) -> Vec<String> {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::copy(modules().join(module).join("variables.tf"), tmp.path().join("variables.tf"))
        .expect("copy variables.tf");
    let (ok, out) = terraform(tmp.path(), &["init", "-input=false", "-no-color", "-backend=false"]);
    assert!(ok, "terraform init of {module}'s variables failed: {out}");
    let mut failures = Vec::new();
    for (id, _, inputs, expect) in CASES.iter().filter(|c| c.1 == module) {
        std::fs::write(tmp.path().join("case.auto.tfvars.json"), inputs).expect("write tfvars");
        let (ok, out) = terraform(
            tmp.path(),
            &["plan", "-input=false", "-no-color", "-lock=false", "-refresh=false"],
        );
        match expect {
            None if !ok => {
                failures.push(format!("{id} {module}: {inputs} must be accepted: {out}"))
            }
            Some(msg) if ok || !out.contains(msg) => failures.push(format!(
                "{id} {module}: {inputs} must be refused with {msg:?}; terraform said: {out}"
            )),
            _ => {}
        }
    }
    failures
}

#[test]
fn module_validation_blocks_accept_and_refuse_what_they_promise() {
    let mut names: Vec<&str> = CASES.iter().map(|c| c.1).collect();
    names.dedup();
    let failures: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = names.iter().map(|m| s.spawn(move || run_module(m))).collect();
        handles.into_iter().flat_map(|h| h.join().expect("module thread")).collect()
    });
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
