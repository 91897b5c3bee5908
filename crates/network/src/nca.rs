//! Driving network-config-analyzer (`nca`) in `--scheme` mode and reading
//! its answers.
//!
//! Every flow becomes a small "specification" policy set that explicitly
//! allows exactly that flow (an ingress policy on a destination pod, an
//! egress policy on a source pod). `permits: [platform, spec]` asks whether
//! the platform allows everything the spec allows; `forbids: [platform,
//! spec]` whether it allows none of it.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::matrix::{End, Expect, Flow, Matrix};

/// A peer of a NetworkPolicy rule for one end of a flow.
fn peer(end: &End<'_>) -> Value {
    match end {
        End::Workload(_, w) => json!({
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": w.namespace}},
            "podSelector": {"matchLabels": w.labels},
        }),
        End::External(_, e) => {
            let mut block = json!({"cidr": e.cidr});
            if !e.except.is_empty() {
                block["except"] = json!(e.except);
            }
            json!({"ipBlock": block})
        }
    }
}

/// The policies that explicitly allow `flow` (and nothing else).
pub fn spec_policies(matrix: &Matrix, flow: &Flow) -> Vec<Value> {
    let from = matrix.end(&flow.from);
    let to = matrix.end(&flow.to);
    let ports: Vec<Value> = flow.ports.iter().map(|p| p.to_k8s()).collect();
    let mut rule = json!({});
    if !ports.is_empty() {
        rule["ports"] = Value::Array(ports);
    }
    let mut out = Vec::new();
    if let End::Workload(_, w) = to {
        let mut r = rule.clone();
        r["from"] = json!([peer(&from)]);
        out.push(json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": format!("{}-in", flow.id()), "namespace": w.namespace},
            "spec": {"podSelector": {"matchLabels": w.labels}, "policyTypes": ["Ingress"], "ingress": [r]},
        }));
    }
    if let End::Workload(_, w) = from {
        let mut r = rule;
        r["to"] = json!([peer(&to)]);
        out.push(json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": format!("{}-out", flow.id()), "namespace": w.namespace},
            "spec": {"podSelector": {"matchLabels": w.labels}, "policyTypes": ["Egress"], "egress": [r]},
        }));
    }
    out
}

/// One nca query: a name, the kind, and the spec policies it checks.
#[derive(Debug, Clone)]
pub struct Query {
    pub name: String,
    pub expect: Expect,
    pub policies: Vec<Value>,
}

/// nca's answer to one query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub holds: bool,
    /// nca's own lines for the query (the connections at fault when it fails).
    pub text: String,
}

/// Why nca could not answer.
#[derive(Debug, thiserror::Error)]
pub enum NcaError {
    #[error(
        "network-config-analyzer ({0}) is not installed: .ci/install-tools installs it from PyPI (pip install network-config-analyzer)"
    )]
    Missing(PathBuf),
    #[error("cannot write nca's input under {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("cannot run {bin}: {source}")]
    Spawn { bin: PathBuf, source: std::io::Error },
    #[error("nca gave no verdict for query {query} (exit status {status}); its output:\n{output}")]
    NoVerdict { query: String, status: String, output: String },
}

/// Writes a scheme for `queries` over the platform's policies and runs nca.
/// `dir` receives the inputs (kept for reading when a query fails).
pub fn run(
    bin: &Path,
    dir: &Path,
    resources: &Path,
    platform_policies: &Path,
    queries: &[Query],
) -> Result<Vec<(String, Answer)>, NcaError> {
    let write = |path: &Path, value: &Value| {
        let text = serde_json::to_string_pretty(value).unwrap_or_default();
        std::fs::write(path, text)
            .map_err(|source| NcaError::Write { path: path.to_owned(), source })
    };
    let specs = dir.join("specs");
    std::fs::create_dir_all(&specs)
        .map_err(|source| NcaError::Write { path: specs.clone(), source })?;
    let mut configs = vec![json!({"name": "platform", "networkPolicyList": [platform_policies]})];
    let mut qs = Vec::new();
    for q in queries {
        let file = specs.join(format!("{}.json", q.name));
        write(&file, &json!({"apiVersion": "v1", "kind": "List", "items": q.policies}))?;
        configs.push(json!({"name": q.name, "networkPolicyList": [file]}));
        let verb = match q.expect {
            Expect::Open => "permits",
            Expect::Closed => "forbids",
        };
        // fullExplanation: every connection at fault, not the first one,
        // so a failed combined query names every violated flow.
        qs.push(json!({
            "name": q.name,
            verb: ["platform", q.name],
            "expected": 0,
            "outputConfiguration": {"fullExplanation": true},
        }));
    }
    let scheme = dir.join("scheme.yaml");
    write(
        &scheme,
        &json!({"resourceList": [resources], "networkConfigList": configs, "queries": qs}),
    )?;
    let output = Command::new(bin)
        .arg("--scheme")
        .arg(&scheme)
        .current_dir(dir)
        // Never fall back to a live cluster for missing inputs.
        .env("KUBECONFIG", dir.join("no-kubeconfig"))
        .output()
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => NcaError::Missing(bin.to_owned()),
            _ => NcaError::Spawn { bin: bin.to_owned(), source },
        })?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let status = output.status.code().map_or_else(|| "killed".to_owned(), |c| c.to_string());
    queries
        .iter()
        .map(|q| {
            answer(&q.name, q.expect, &stdout, &stderr).map(|a| (q.name.clone(), a)).ok_or_else(
                || NcaError::NoVerdict {
                    query: q.name.clone(),
                    status: status.clone(),
                    output: tail(&format!("{stdout}\n{stderr}"), 60),
                },
            )
        })
        .collect()
}

/// Reads nca's verdict on one query from its output. `None` when nca said
/// neither yes nor no (it did not run the query, or failed to parse).
pub fn answer(name: &str, expect: Expect, stdout: &str, stderr: &str) -> Option<Answer> {
    let start = stdout.find(&format!("Running query {name}\n"))?;
    let body = &stdout[start..];
    let end = body.find(&format!("Query {name} finished")).unwrap_or(body.len());
    let text = body[..end].lines().skip(1).collect::<Vec<_>>().join("\n");
    let (yes, no) = match expect {
        Expect::Open => (
            format!("platform permits all connections specified in {name}"),
            format!("platform does not permit connections specified in {name}"),
        ),
        Expect::Closed => (
            format!("platform forbids connections specified in {name}"),
            format!("platform does not forbid connections specified in {name}"),
        ),
    };
    let unexpected = stderr.contains(&format!("Unexpected result for query {name}:"));
    if text.contains(&no) {
        Some(Answer { holds: false, text })
    } else if text.contains(&yes) && !unexpected {
        Some(Answer { holds: true, text })
    } else {
        None
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flow_between_pods_is_allowed_on_both_sides_and_an_external_on_one() {
        let m = Matrix::parse(
            "[externals.internet]\ncidr = \"0.0.0.0/0\"\nexcept = [\"10.0.0.0/8\"]\nabout = \"public\"\n\
             [workloads.web]\nnamespace = \"shop\"\nlabels = { app = \"web\" }\n\
             [workloads.db]\nnamespace = \"data\"\nlabels = { app = \"db\" }\n\
             [[open]]\nfrom = \"web\"\nto = \"db\"\nports = [\"TCP/5432\"]\nwhy = \"queries\"\n\
             [[closed]]\nfrom = \"internet\"\nto = \"db\"\nwhy = \"private\"\n",
            Path::new("m.toml"),
        )
        .expect("matrix");
        let both = spec_policies(&m, &m.flows[0]);
        assert_eq!(both.len(), 2);
        assert_eq!(both[0]["metadata"], json!({"name": "open-001-in", "namespace": "data"}));
        assert_eq!(
            both[0]["spec"]["ingress"][0],
            json!({"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "shop"}},
                             "podSelector": {"matchLabels": {"app": "web"}}}],
                   "ports": [{"protocol": "TCP", "port": 5432}]})
        );
        assert_eq!(
            both[1]["spec"]["egress"][0]["to"][0]["podSelector"],
            json!({"matchLabels": {"app": "db"}})
        );
        let one = spec_policies(&m, &m.flows[1]);
        assert_eq!(one.len(), 1, "no policy can select the internet");
        assert_eq!(
            one[0]["spec"]["ingress"][0],
            json!({"from": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}]}),
            "a closed flow without ports covers every port"
        );
    }

    const OUT: &str = "global: cluster has 3 unique endpoints, 2 namespaces\n\
Running query open-001\n\
platform permits all connections specified in open-001\n\
\n\
Query open-001 finished in   0.01 seconds\n\
Running query closed-001\n\
platform does not forbid connections specified in closed-001\n\
Both closed-001 and platform allow the following connection(s):\n\
src: ['prod/web-1'], dst: ['prod/db-1'], conn: {'protocols': 'TCP', 'dst_ports': '5432'}\n\
\n\
Query closed-001 finished in   0.02 seconds\n";

    #[test]
    fn reads_verdicts_and_evidence() {
        let err = "scheme.yaml:18:3: Warning: Unexpected result for query closed-001: Expected 0, got 1\n";
        let ok = answer("open-001", Expect::Open, OUT, err).expect("answered");
        assert!(ok.holds);
        let bad = answer("closed-001", Expect::Closed, OUT, err).expect("answered");
        assert!(!bad.holds);
        assert!(bad.text.contains("src: ['prod/web-1'], dst: ['prod/db-1']"), "{}", bad.text);
        assert_eq!(answer("open-002", Expect::Open, OUT, err), None);
        // A permits verdict read as a forbids query is no verdict at all.
        assert_eq!(answer("open-001", Expect::Closed, OUT, err), None);
    }

    #[test]
    fn a_pass_that_nca_flags_as_unexpected_is_no_verdict() {
        let err = "Warning: Unexpected result for query open-001: Expected 0, got 1\n";
        assert_eq!(answer("open-001", Expect::Open, OUT, err), None);
    }
}
