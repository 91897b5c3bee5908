//! The connectivity matrix (deploy/network/connectivity.toml) proven by
//! network-config-analyzer over the rendered platform, and mutation tests
//! showing the check bites: removing the DNS allow, the cross-environment
//! deny, or a platform namespace's deny fails it and names the flow.
//!
//! The render is the real one: `platctl render --env production` (the shared
//! cluster: platform, staging and production) run through the binary with the
//! chart cache, so the matrix is judged over exactly what that command
//! produces, the charts' own NetworkPolicies included.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use platctl_network::{CheckOptions, Matrix, Object, Report, Verdict, render};
use serde_json::{Value, json};

use crate::support::{ok, platctl, platctl_bin};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repository root")
}

fn charts_dir() -> PathBuf {
    std::env::var_os("PLATCTL_CHARTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared/charts"))
}

fn read_docs(path: &Path) -> Vec<Value> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let docs: Vec<Option<Value>> =
        serde_saphyr::from_multiple(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    docs.into_iter().flatten().filter(Value::is_object).collect()
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            out.extend(yaml_files(&path));
        } else if matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// `platctl render --env production --out-dir <out>`: the real command.
fn render_cluster(out: &Path) {
    let o = platctl()
        .current_dir(repo_root())
        .args(["render", "--env", "production", "--charts"])
        .arg(charts_dir())
        .arg("--out-dir")
        .arg(out)
        .output()
        .expect("run platctl render");
    let o = ok(o);
    for line in String::from_utf8_lossy(&o.stderr).lines().filter(|l| l.contains("warning")) {
        eprintln!("render: {line}");
    }
}

struct Rendered {
    dir: PathBuf,
    objects: Vec<Object>,
}

/// A digest of everything the render reads (the GitOps tree, the env roots
/// and bootstrap module, the chart cache) and of the platctl binary, so a
/// cached render is reused only while it is current.
fn render_inputs_digest() -> String {
    use sha2::{Digest, Sha256};
    let repo = repo_root();
    let mut files = Vec::new();
    for dir in ["deploy", "charts/sample-service", "infra/terraform"] {
        let mut stack = vec![repo.join(dir)];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).expect("read dir") {
                let p = e.expect("entry").path();
                let hidden = p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'));
                if p.is_dir() {
                    if !hidden {
                        stack.push(p);
                    }
                } else {
                    files.push(p);
                }
            }
        }
    }
    files.sort();
    let mut h = Sha256::new();
    let bin = std::fs::metadata(platctl_bin()).expect("platctl binary");
    h.update(bin.len().to_le_bytes());
    h.update(format!("{:?}", bin.modified().ok()).as_bytes());
    for f in files {
        h.update(f.strip_prefix(&repo).expect("in repo").to_string_lossy().as_bytes());
        h.update(std::fs::read(&f).expect("read input"));
    }
    let mut charts: Vec<_> =
        std::fs::read_dir(charts_dir()).expect("chart cache").flatten().collect();
    charts.sort_by_key(std::fs::DirEntry::path);
    for c in charts {
        h.update(c.file_name().to_string_lossy().as_bytes());
        h.update(c.metadata().map(|m| m.len()).unwrap_or(0).to_le_bytes());
    }
    hex::encode(&h.finalize()[..8])
}

/// The render, shared by the tests of one run (nextest runs each test in
/// its own process): rendered once into the target's test folder, under a
/// digest of its inputs, and published by an atomic rename.
fn rendered() -> &'static Rendered {
    static R: OnceLock<Rendered> = OnceLock::new();
    R.get_or_init(|| {
        let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let dir = base.join(format!("network-render-{}", render_inputs_digest()));
        if !dir.is_dir() {
            let tmp = tempfile::tempdir_in(&base).expect("tempdir");
            let out = tmp.path().join("render");
            render_cluster(&out);
            // Another test may have published the same render meanwhile.
            if std::fs::rename(&out, &dir).is_err() {
                assert!(dir.is_dir(), "could not publish the render at {}", dir.display());
            }
        }
        let objects = render::load(&dir).expect("render loads");
        Rendered { dir, objects }
    })
}

fn matrix() -> Matrix {
    Matrix::load(&repo_root().join("deploy/network/connectivity.toml"))
        .expect("the matrix is valid")
}

/// nca's inputs go to a temporary folder, or under
/// $PLATCTL_NETWORK_KEEP to read them after a failure.
fn options(default: PathBuf) -> CheckOptions {
    let work_dir = match std::env::var_os("PLATCTL_NETWORK_KEEP") {
        Some(keep) => {
            static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            PathBuf::from(keep).join(format!("run-{}-{n}", std::process::id()))
        }
        None => default,
    };
    CheckOptions { nca: PathBuf::from("nca"), work_dir }
}

fn run_check(objects: &[Object]) -> Report {
    let work = tempfile::tempdir().expect("tempdir");
    let report =
        platctl_network::check_objects(objects, &matrix(), &options(work.path().to_owned()))
            .expect("the check runs");
    eprintln!("{report}");
    report
}

fn violated(report: &Report) -> Vec<String> {
    report
        .violations()
        .map(|o| format!("{} {} -> {}", o.flow.expect.as_str(), o.flow.from, o.flow.to))
        .collect()
}

#[test]
fn matrix_holds_over_the_rendered_platform() {
    let r = rendered();
    let work = tempfile::tempdir().expect("tempdir");
    let report = platctl_network::check(&r.dir, &matrix(), &options(work.path().to_owned()))
        .expect("the check runs");
    eprintln!("{report}");
    for note in &report.notes {
        eprintln!("note: {note}");
    }
    assert!(report.holds(), "the platform contradicts the matrix:\n{report}");
    // Every flow was judged: no workload is optional, OpenBao's server
    // included (the render holds its StatefulSet).
    let judged = report.outcomes.iter().filter(|o| o.verdict == Verdict::Holds).count();
    assert!(judged >= 150, "only {judged} flows judged:\n{report}");
    let unchecked: Vec<String> = report.not_checked().map(|o| o.flow.to_string()).collect();
    assert!(unchecked.is_empty(), "flows not checked: {unchecked:#?}");
    assert!(report.policies >= 60, "{} policies analysed", report.policies);
}

/// Every NetworkPolicy and Calico policy under deploy/ is deployed by some
/// Application, so the analysis covers all of them.
#[test]
fn every_policy_under_deploy_is_in_the_render() {
    let repo = repo_root();
    let rendered: BTreeSet<(String, String, String)> = rendered()
        .objects
        .iter()
        .filter(|o| o.kind().ends_with("NetworkPolicy"))
        .map(|o| (o.kind().to_owned(), o.namespace().unwrap_or("").to_owned(), o.name().to_owned()))
        .collect();
    let mut missing = Vec::new();
    let mut count = 0;
    for f in yaml_files(&repo.join("deploy")) {
        for doc in read_docs(&f) {
            let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("");
            if !kind.ends_with("NetworkPolicy") {
                continue;
            }
            count += 1;
            let ns =
                doc.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("").to_owned();
            let name =
                doc.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_owned();
            if !rendered.contains(&(kind.to_owned(), ns.clone(), name.clone())) {
                missing.push(format!("{} {kind} {ns}/{name}", f.display()));
            }
        }
    }
    assert!(count >= 60, "only {count} policies found under deploy/");
    assert!(
        missing.is_empty(),
        "policies no Application deploys (the analysis would miss them):\n{}",
        missing.join("\n")
    );
}

fn is_kind(o: &Object, kind: &str, ns: Option<&str>, name: &str) -> bool {
    o.kind() == kind && o.namespace() == ns && o.name() == name
}

/// Whether a policy's egress allows anything towards kube-dns.
fn allows_dns(o: &Object) -> bool {
    let egress = o.value.pointer("/spec/egress").map(Value::to_string).unwrap_or_default();
    egress.contains("kube-dns")
}

fn dns_flows() -> BTreeSet<String> {
    matrix()
        .flows
        .iter()
        .filter(|f| f.to == "coredns" && f.ports.iter().any(|p| p.first == 53))
        .map(|f| format!("open {} -> coredns", f.from))
        .collect()
}

#[test]
fn mutation_without_the_dns_allows_the_check_fails_and_names_every_dns_flow() {
    let mut objects = rendered().objects.clone();
    let before = objects.len();
    // Drop every Kubernetes policy whose egress reaches kube-dns, and the
    // cluster-wide policy's DNS rules.
    objects.retain(|o| {
        !(o.kind() == "NetworkPolicy" && o.group() == "networking.k8s.io" && allows_dns(o))
    });
    assert!(objects.len() < before, "no DNS allow found to remove");
    for o in &mut objects {
        if is_kind(o, "GlobalNetworkPolicy", None, "default.platform-default-deny") {
            o.value["spec"]["egress"] = json!([]);
        }
    }
    let report = run_check(&objects);
    let got: BTreeSet<String> = violated(&report).into_iter().collect();
    assert_eq!(got, dns_flows(), "{report}");
}

#[test]
fn mutation_without_the_cluster_wide_dns_rule_new_namespaces_cannot_resolve() {
    let mut objects = rendered().objects.clone();
    for o in &mut objects {
        if is_kind(o, "GlobalNetworkPolicy", None, "default.platform-default-deny") {
            o.value["spec"]["egress"] = json!([]);
        }
    }
    let report = run_check(&objects);
    // Every namespace of the tree has its own DNS allow and keeps it (openbao
    // too: deploy/platform/openbao); only a namespace created later depends
    // on the cluster rule.
    assert_eq!(violated(&report), ["open new-namespace-probe -> coredns"], "{report}");
}

/// Teams open their namespaces wide: production admits every namespace's
/// pods, staging may send anywhere. Each is the kind of policy a team adds
/// to "fix" a connection problem.
fn permissive_team_policies() -> Vec<Object> {
    let policy = |ns: &str, spec: Value| Object {
        file: PathBuf::from("mutation"),
        value: json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "team-allow-all", "namespace": ns},
            "spec": spec
        }),
    };
    vec![
        policy(
            "production",
            json!({"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{"from": [{"namespaceSelector": {}}]}]}),
        ),
        policy(
            "staging",
            json!({"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"to": [{"namespaceSelector": {}}]}]}),
        ),
    ]
}

fn is_cross_environment_deny(o: &Object) -> bool {
    o.kind() == "GlobalNetworkPolicy" && o.name().ends_with("-cross-environment-deny")
}

#[test]
fn mutation_the_cross_environment_deny_holds_against_permissive_policies_and_bites_without_it() {
    let mut objects = rendered().objects.clone();
    objects.extend(permissive_team_policies());
    let guarded = run_check(&objects);
    assert!(
        guarded.holds(),
        "the cross-environment deny must keep staging out of production:\n{guarded}"
    );

    let before = objects.len();
    objects.retain(|o| !is_cross_environment_deny(o));
    assert_eq!(before - objects.len(), 2, "one cross-environment deny per environment");
    let report = run_check(&objects);
    let got = violated(&report);
    assert!(
        got.contains(&"closed sample-service-staging -> sample-service-production".to_owned()),
        "staging -> production not reported:\n{report}"
    );
    // Only flows from staging into production opened.
    assert!(got.iter().all(|f| f.ends_with("-> sample-service-production")), "{report}");

    // Without the permissive policies, each environment's own policies
    // still keep the other out: the deny is the backstop, not the only wall.
    let mut objects = rendered().objects.clone();
    objects.retain(|o| !is_cross_environment_deny(o));
    assert!(run_check(&objects).holds());
}

/// Takes `ns` out of the cluster-wide deny.
fn exempt_from_cluster_deny(objects: &mut [Object], ns: &str) {
    for o in objects {
        if is_kind(o, "GlobalNetworkPolicy", None, "default.platform-default-deny") {
            let sel = o.value["spec"]["namespaceSelector"].as_str().expect("selector").to_owned();
            let sel = sel.replacen("{\"kube-system\"", &format!("{{\"{ns}\", \"kube-system\""), 1);
            assert!(sel.contains(ns), "could not exempt {ns}: {sel}");
            o.value["spec"]["namespaceSelector"] = json!(sel);
        }
    }
}

#[test]
fn mutation_without_a_platform_namespace_deny_the_check_fails_and_names_the_flows() {
    // One layer at a time is not enough to open monitoring: its own
    // default deny and the cluster-wide one back each other up.
    let mut objects = rendered().objects.clone();
    objects.retain(|o| !is_kind(o, "NetworkPolicy", Some("monitoring"), "default-deny-all"));
    assert!(run_check(&objects).holds(), "the cluster-wide deny alone keeps monitoring closed");
    let mut objects = rendered().objects.clone();
    exempt_from_cluster_deny(&mut objects, "monitoring");
    assert!(run_check(&objects).holds(), "monitoring's own default deny alone keeps it closed");

    // The state issue 13 found: exempt from the cluster-wide deny and no
    // policy of its own.
    let mut objects = rendered().objects.clone();
    exempt_from_cluster_deny(&mut objects, "monitoring");
    objects.retain(|o| !(o.kind() == "NetworkPolicy" && o.namespace() == Some("monitoring")));
    let report = run_check(&objects);
    let got = violated(&report);
    for flow in [
        "closed internet -> grafana",
        "closed internet -> prometheus",
        "closed internet -> loki-gateway",
        "closed alloy -> prometheus",
        "closed tempo -> internet",
        "closed loki-gateway -> internet",
    ] {
        assert!(got.contains(&flow.to_owned()), "{flow} not reported:\n{report}");
    }
}

/// The policies added for the Pushgateway, loki-ingest and OpenBao are what
/// opens their flows: without them, exactly those flows are reported, and
/// nothing else opens.
#[test]
fn mutation_without_the_component_policies_their_flows_are_reported() {
    let named = |ns: &str, names: &[&str]| {
        let mut objects = rendered().objects.clone();
        let before = objects.len();
        objects.retain(|o| {
            !(o.kind() == "NetworkPolicy" && o.namespace() == Some(ns) && names.contains(&o.name()))
        });
        assert_eq!(before - objects.len(), names.len(), "policies {names:?} not all in the render");
        violated(&run_check(&objects))
    };
    assert_eq!(
        named("monitoring", &["allow-pushgateway", "allow-loki-ingest"]),
        [
            "open platctl-drift -> pushgateway",
            "open prometheus -> pushgateway",
            "open gateway-production -> loki-ingest",
            "open loki-ingest -> loki-gateway",
        ]
    );
    assert_eq!(
        named("openbao", &["openbao-server"]),
        [
            "open openbao-csi-provider -> openbao-server",
            "open openbao-server -> openbao-server",
            "open openbao-server -> kube-apiserver",
            "open prometheus -> openbao-server",
            "open openbao-snapshot -> openbao-server",
        ]
    );
}
