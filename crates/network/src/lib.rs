//! `platctl-network`: proves the platform's connectivity matrix
//! (`deploy/network/connectivity.toml`) with network-config-analyzer over a
//! rendered platform.
//!
//! Inputs: a folder of rendered YAML (what `platctl render --out-dir DIR`
//! writes: every object the Applications deploy, the charts' own
//! NetworkPolicies included) and the matrix. [`check`]:
//! 1. builds the cluster's pods from the render ([`topology`]): workload
//!    templates, operator-created pods, the matrix's `provided` pods;
//! 2. collects every Kubernetes and Calico policy of the render, Calico ones
//!    converted to the form nca reads ([`calico`]);
//! 3. resolves every flow's workloads to rendered pods (a workload that
//!    matches nothing is an error, unless the matrix marks it optional);
//! 4. asks nca (`--scheme`, [`nca`]) one `permits` query over all open flows
//!    and one `forbids` query over all closed flows; when one fails, asks
//!    again flow by flow, so every violated flow is named.

pub mod calico;
pub mod matrix;
pub mod nca;
pub mod ports;
pub mod render;
pub mod topology;

use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::Value;

pub use matrix::{End, Expect, Flow, Matrix, MatrixError};
pub use render::{Object, RenderError};

/// Why the check could not run (as opposed to a flow being violated).
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error(transparent)]
    Matrix(#[from] MatrixError),
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error(transparent)]
    Topology(#[from] topology::TopologyError),
    #[error(transparent)]
    Nca(#[from] nca::NcaError),
    #[error("{object}: cannot hand it to the analyzer: {source}")]
    Calico { object: String, source: calico::CalicoError },
    #[error(
        "{0}: this policy kind is not analysed, so the result would leave it out; remove it or teach platctl-network to read it"
    )]
    UnsupportedPolicy(String),
    #[error(
        "{matrix}:{line}: workload {workload} ({namespace}, labels {labels}) matches no rendered pod; fix its labels, or mark it optional with the reason it may be absent"
    )]
    NoPods { matrix: PathBuf, line: usize, workload: String, namespace: String, labels: String },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

/// What the check concluded about one flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Holds,
    /// The platform contradicts the matrix; nca's evidence.
    Violated {
        evidence: String,
    },
    /// An optional workload is not in the render.
    NotChecked {
        reason: String,
    },
}

#[derive(Debug, Clone)]
pub struct FlowOutcome {
    pub flow: Flow,
    pub verdict: Verdict,
}

/// The result of a check.
#[derive(Debug, Clone)]
pub struct Report {
    pub matrix: PathBuf,
    pub outcomes: Vec<FlowOutcome>,
    pub pods: usize,
    pub policies: usize,
    /// What the model leaves out, and why.
    pub notes: Vec<String>,
}

impl Report {
    pub fn violations(&self) -> impl Iterator<Item = &FlowOutcome> {
        self.outcomes.iter().filter(|o| matches!(o.verdict, Verdict::Violated { .. }))
    }

    pub fn not_checked(&self) -> impl Iterator<Item = &FlowOutcome> {
        self.outcomes.iter().filter(|o| matches!(o.verdict, Verdict::NotChecked { .. }))
    }

    pub fn holds(&self) -> bool {
        self.violations().next().is_none()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.matrix.display();
        for o in self.violations() {
            let Verdict::Violated { evidence } = &o.verdict else { continue };
            let what = match o.flow.expect {
                Expect::Open => "is blocked",
                Expect::Closed => "is open",
            };
            writeln!(f, "VIOLATED {m}:{}: {} {what}", o.flow.line, o.flow)?;
            for line in evidence.lines().filter(|l| !l.trim().is_empty()) {
                writeln!(f, "    nca: {line}")?;
            }
        }
        for o in self.not_checked() {
            if let Verdict::NotChecked { reason } = &o.verdict {
                writeln!(f, "not checked {m}:{}: {} ({reason})", o.flow.line, o.flow)?;
            }
        }
        let total = self.outcomes.len();
        let bad = self.violations().count();
        let skipped = self.not_checked().count();
        write!(
            f,
            "{} flows: {} hold, {bad} violated, {skipped} not checked ({} pods, {} policies)",
            total,
            total - bad - skipped,
            self.pods,
            self.policies
        )
    }
}

/// Where nca is and where its inputs go.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// The nca executable (default: `nca` on PATH).
    pub nca: PathBuf,
    /// A folder for nca's inputs; kept so a failure can be re-read.
    pub work_dir: PathBuf,
}

/// The policies of a render, as nca reads them: Kubernetes NetworkPolicies
/// as they are, Calico policies converted. Any other policy kind is an
/// error, never silently left out.
pub fn policies(objects: &[Object]) -> Result<Vec<Value>, NetworkError> {
    let mut out = Vec::new();
    for o in objects {
        let group = o.group();
        let kind = o.kind();
        if group == "networking.k8s.io" && kind == "NetworkPolicy" {
            out.push(o.value.clone());
        } else if calico::is_calico(o.api_version()) {
            match kind {
                "NetworkPolicy" | "GlobalNetworkPolicy" => out.push(
                    calico::to_nca_form(&o.value)
                        .map_err(|source| NetworkError::Calico { object: o.describe(), source })?,
                ),
                "NetworkSet"
                | "GlobalNetworkSet"
                | "Tier"
                | "StagedNetworkPolicy"
                | "StagedGlobalNetworkPolicy"
                | "StagedKubernetesNetworkPolicy"
                | "HostEndpoint" => {
                    return Err(NetworkError::UnsupportedPolicy(o.describe()));
                }
                _ => {}
            }
        } else if matches!(
            (group, kind),
            ("policy.networking.k8s.io", _)
                | ("cilium.io", _)
                | ("networking.k8s.io", "ClusterNetworkPolicy")
        ) {
            return Err(NetworkError::UnsupportedPolicy(o.describe()));
        }
    }
    Ok(out)
}

/// Checks every flow of `matrix` against the render in `render_dir`.
pub fn check(
    render_dir: &Path,
    matrix: &Matrix,
    opts: &CheckOptions,
) -> Result<Report, NetworkError> {
    let objects = render::load(render_dir)?;
    check_objects(&objects, matrix, opts)
}

/// [`check`] over objects already loaded (tests mutate them first).
pub fn check_objects(
    objects: &[Object],
    matrix: &Matrix,
    opts: &CheckOptions,
) -> Result<Report, NetworkError> {
    let topo = topology::build(objects, matrix)?;
    let policies = policies(objects)?;

    // Resolve every workload a flow names.
    let mut outcomes: Vec<FlowOutcome> = Vec::new();
    let mut checked: Vec<&Flow> = Vec::new();
    for flow in &matrix.flows {
        let mut missing = None;
        for name in [&flow.from, &flow.to] {
            let End::Workload(_, w) = matrix.end(name) else { continue };
            if !topo.matching(w).is_empty() {
                continue;
            }
            match &w.optional {
                Some(reason) => missing = Some(format!("{name} is not in the render: {reason}")),
                None => {
                    let labels = w
                        .labels
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(",");
                    return Err(NetworkError::NoPods {
                        matrix: matrix.path.clone(),
                        line: flow.line,
                        workload: name.clone(),
                        namespace: w.namespace.clone(),
                        labels,
                    });
                }
            }
        }
        match missing {
            Some(reason) => outcomes
                .push(FlowOutcome { flow: flow.clone(), verdict: Verdict::NotChecked { reason } }),
            None => checked.push(flow),
        }
    }

    // nca's inputs.
    let write = |path: &Path, value: &Value| {
        std::fs::write(path, serde_json::to_string_pretty(value).unwrap_or_default())
            .map_err(|source| NetworkError::Write { path: path.to_owned(), source })
    };
    let dir = &opts.work_dir;
    let policy_dir = dir.join("policies");
    std::fs::create_dir_all(&policy_dir)
        .map_err(|source| NetworkError::Write { path: policy_dir.clone(), source })?;
    for (i, p) in policies.iter().enumerate() {
        write(&policy_dir.join(format!("{i:04}.json")), p)?;
    }
    let resources = dir.join("cluster.json");
    write(&resources, &topo.to_nca_resources())?;

    // One query per kind; flow by flow where it fails.
    let mut combined = Vec::new();
    for expect in [Expect::Open, Expect::Closed] {
        let flows: Vec<&&Flow> = checked.iter().filter(|f| f.expect == expect).collect();
        if flows.is_empty() {
            continue;
        }
        combined.push(nca::Query {
            name: format!("all-{}", expect.as_str()),
            expect,
            policies: flows.iter().flat_map(|f| nca::spec_policies(matrix, f)).collect(),
        });
    }
    let first = if combined.is_empty() {
        Vec::new()
    } else {
        nca::run(&opts.nca, &dir.join("all"), &resources, &policy_dir, &combined)?
    };
    // Flow by flow only where a combined query failed, and only for the
    // flows whose pods nca's evidence names (all of them if it names none).
    let mut single: Vec<nca::Query> = Vec::new();
    for (q, (_, a)) in combined.iter().zip(&first) {
        if a.holds {
            continue;
        }
        let flows: Vec<&Flow> = checked.iter().copied().filter(|f| f.expect == q.expect).collect();
        let named = suspects(&a.text, &flows, matrix, &topo);
        let pick = if named.is_empty() { flows } else { named };
        single.extend(pick.into_iter().map(|f| nca::Query {
            name: f.id(),
            expect: f.expect,
            policies: nca::spec_policies(matrix, f),
        }));
    }
    let answers = if single.is_empty() {
        Vec::new()
    } else {
        nca::run(&opts.nca, &dir.join("each"), &resources, &policy_dir, &single)?
    };
    let mut notes = topo.notes;
    for flow in checked {
        let verdict = match answers.iter().find(|(n, _)| *n == flow.id()) {
            Some((_, a)) if !a.holds => Verdict::Violated { evidence: a.text.clone() },
            _ => Verdict::Holds,
        };
        outcomes.push(FlowOutcome { flow: flow.clone(), verdict });
    }
    // A combined query can fail on a connection that only the union of the
    // flows' specs allows (two flows' selectors combined); no single flow is
    // violated then, and the per-flow answers above are the verdict.
    for (q, (_, a)) in combined.iter().zip(&first) {
        let named = outcomes
            .iter()
            .any(|o| o.flow.expect == q.expect && matches!(o.verdict, Verdict::Violated { .. }));
        if !a.holds && !named {
            notes.push(format!(
                "the combined {} query failed on connections no single flow declares:\n{}",
                q.expect.as_str(),
                a.text
            ));
        }
    }
    outcomes.sort_by_key(|o| (o.flow.expect, o.flow.index));
    Ok(Report {
        matrix: matrix.path.clone(),
        outcomes,
        pods: topo.pods.len(),
        policies: policies.len(),
        notes,
    })
}

/// The flows whose ends match a connection in nca's evidence
/// (`src: ['ns/pod-1', ...], dst: ['0.0.0.0-255.255.255.255'], conn: ...`).
fn suspects<'a>(
    evidence: &str,
    flows: &[&'a Flow],
    matrix: &Matrix,
    topo: &topology::Topology,
) -> Vec<&'a Flow> {
    let quoted =
        |s: &str| -> Vec<String> { s.split('\'').skip(1).step_by(2).map(str::to_owned).collect() };
    let mut pairs = Vec::new();
    for line in evidence.lines() {
        let Some(rest) = line.trim().strip_prefix("src: [") else { continue };
        let Some((src, rest)) = rest.split_once("], dst: [") else { continue };
        let dst = rest.split_once(']').map_or(rest, |(d, _)| d);
        pairs.push((quoted(src), quoted(dst)));
    }
    let all_pods: Vec<String> =
        topo.pods.iter().map(|p| format!("{}/{}", p.namespace, p.name)).collect();
    let covers = |name: &str, items: &[String]| match matrix.end(name) {
        End::Workload(_, w) => {
            let pods: Vec<String> =
                topo.matching(w).iter().map(|p| format!("{}/{}", p.namespace, p.name)).collect();
            items.iter().any(|i| pods.contains(i))
        }
        // Anything nca names that is not a pod is an address range.
        End::External(..) => items.iter().any(|i| !all_pods.contains(i)),
    };
    flows
        .iter()
        .copied()
        .filter(|f| pairs.iter().any(|(s, d)| covers(&f.from, s) && covers(&f.to, d)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suspects_are_the_flows_whose_ends_nca_names() {
        let m = Matrix::parse(
            "[externals.internet]\ncidr = \"0.0.0.0/0\"\nabout = \"public\"\n\
             [workloads.web]\nnamespace = \"shop\"\nlabels = { app = \"web\" }\nprovided = { ports = [\"TCP/80\"], about = \"t\" }\n\
             [workloads.db]\nnamespace = \"shop\"\nlabels = { app = \"db\" }\nprovided = { ports = [\"TCP/5432\"], about = \"t\" }\n\
             [[closed]]\nfrom = \"internet\"\nto = \"db\"\nwhy = \"a\"\n\
             [[closed]]\nfrom = \"web\"\nto = \"internet\"\nwhy = \"b\"\n\
             [[closed]]\nfrom = \"db\"\nto = \"web\"\nwhy = \"c\"\n",
            std::path::Path::new("m.toml"),
        )
        .expect("matrix");
        let topo = topology::build(&[], &m).expect("topology");
        let flows: Vec<&Flow> = m.flows.iter().collect();
        let evidence = "Both all-closed and platform allow the following connection(s):\n\
            src: ['0.0.0.0-9.255.255.255,11.0.0.0-255.255.255.255'], dst: ['shop/db-1', 'shop/db-2'], conn: All connections\n\
            src: ['shop/db-1'], dst: ['shop/web-2'], conn: {'protocols': 'TCP', 'dst_ports': '80'}\n";
        let got: Vec<usize> =
            suspects(evidence, &flows, &m, &topo).iter().map(|f| f.index).collect();
        assert_eq!(got, [1, 3]);
        assert!(suspects("no connections listed", &flows, &m, &topo).is_empty());
    }
}
