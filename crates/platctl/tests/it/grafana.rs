//! Grafana per environment (issue 14 §5): the observability tree, built with
//! the real kustomize (`kubectl kustomize`), gives one folder per environment
//! whose dashboards use only that environment's datasources and select only
//! its data, and every label a query uses is produced by something in the tree.
//! The build passes `platctl check` (strict schemas).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

/// The ConfigMaps kustomize builds from deploy/platform/observability.
fn built(out: &Path) -> Vec<Value> {
    let o = Command::new("kubectl")
        .args(["kustomize", "deploy/platform/observability"])
        .current_dir(root())
        .output()
        .expect("kubectl 1.34 (see .ci/install-tools)");
    assert!(o.status.success(), "kustomize: {}", String::from_utf8_lossy(&o.stderr));
    std::fs::write(out.join("observability.yaml"), &o.stdout).expect("write");
    let text = String::from_utf8(o.stdout).expect("utf8");
    text.split("\n---\n")
        .filter_map(|d| serde_saphyr::from_str::<Value>(d).ok())
        .filter(|v| v["kind"] == "ConfigMap")
        .collect()
}

fn dashboard(cms: &[Value], name: &str) -> (String, Value) {
    let cm = cms.iter().find(|c| c["metadata"]["name"] == name).unwrap_or_else(|| panic!("{name}"));
    let folder =
        cm["metadata"]["annotations"]["grafana_folder"].as_str().expect("folder").to_owned();
    assert_eq!(
        cm["metadata"]["labels"]["grafana_dashboard"], "1",
        "{name} is not picked up by the sidecar"
    );
    let (_, json) = cm["data"].as_object().expect("data").iter().next().expect("one file");
    (folder, serde_json::from_str(json.as_str().expect("text")).expect("dashboard JSON"))
}

fn datasource_uids(cms: &[Value], name: &str) -> BTreeSet<String> {
    let cm = cms.iter().find(|c| c["metadata"]["name"] == name).unwrap_or_else(|| panic!("{name}"));
    assert_eq!(cm["metadata"]["labels"]["grafana_datasource"], "1");
    let (_, yaml) = cm["data"].as_object().expect("data").iter().next().expect("one file");
    let v: Value = serde_saphyr::from_str(yaml.as_str().expect("text")).expect("datasource YAML");
    v["datasources"]
        .as_array()
        .expect("datasources")
        .iter()
        .map(|d| d["uid"].as_str().expect("uid").to_owned())
        .collect()
}

/// Label names in a PromQL/LogQL expression: matcher names and `by (...)`.
fn labels(expr: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = expr.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'{' {
            let end = expr[i..].find('}').map_or(bytes.len(), |e| i + e);
            for m in expr[i + 1..end].split(',') {
                let name: String = m
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.insert(name);
                }
            }
            i = end;
        } else if expr[i..].starts_with("by (") {
            let end = expr[i..].find(')').map_or(bytes.len(), |e| i + e);
            for n in expr[i + 4..end].split(',') {
                out.insert(n.trim().to_owned());
            }
            i = end;
        }
        i += 1;
    }
    out
}

/// Where each label a dashboard may use is produced, checked against the tree:
/// (label, file that produces it, text that shows it there).
const PRODUCERS: &[(&str, &str, &str)] = &[
    // Prometheus' Kubernetes service discovery adds namespace and pod to every
    // scraped target; Alloy relabels namespace onto every log stream.
    ("namespace", "deploy/platform/apps/73-alloy.yaml", "target_label  = \"namespace\""),
    ("pod", "deploy/platform/apps/70-kube-prometheus-stack.yaml", "kube-prometheus-stack"),
    // sample-service's own metrics.
    ("route", "crates/sample-service/src/metrics.rs", "route"),
    ("status", "crates/sample-service/src/metrics.rs", "status"),
    ("le", "crates/sample-service/src/metrics.rs", "http_request_duration_seconds"),
    // cert-manager's certificate metrics and Argo CD's argocd_app_info.
    ("name", "deploy/platform/apps/30-cert-manager.yaml", "servicemonitor"),
    (
        "sync_status",
        "deploy/platform/observability/monitors/servicemonitors.yaml",
        "argocd_app_info",
    ),
    (
        "health_status",
        "deploy/platform/observability/monitors/servicemonitors.yaml",
        "argocd_app_info",
    ),
    (
        "dest_namespace",
        "deploy/platform/observability/monitors/servicemonitors.yaml",
        "argocd-metrics",
    ),
    // platctl drift's metrics, and Alloy's env and source on every log stream.
    ("class", "crates/drift/src/metrics.rs", "class"),
    ("env", "deploy/platform/apps/73-alloy.yaml", "target_label  = \"env\""),
    ("source", "deploy/platform/apps/73-alloy.yaml", "target_label = \"source\""),
];

#[test]
fn grafana_has_a_folder_per_environment_scoped_to_its_datasources_and_data() {
    let out = tempfile::tempdir().expect("tmp");
    let cms = built(out.path());
    for (label, file, shows) in PRODUCERS {
        let text =
            std::fs::read_to_string(root().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(
            text.contains(shows),
            "label {label}: {file} no longer shows {shows:?}; update the dashboards or this table"
        );
    }
    let produced: BTreeSet<&str> = PRODUCERS.iter().map(|(l, _, _)| *l).collect();

    let mut envs = Vec::new();
    for env in ["staging", "production"] {
        let (folder, d) = dashboard(&cms, &format!("dashboard-env-{env}"));
        assert_eq!(folder.to_lowercase(), env, "the {env} dashboard is in the {env} folder");
        let uids = datasource_uids(&cms, &format!("datasources-{env}"));
        assert_eq!(uids, BTreeSet::from([format!("prometheus-{env}"), format!("loki-{env}")]));
        let var = &d["templating"]["list"][0];
        assert_eq!(
            (var["name"].as_str(), var["type"].as_str(), var["query"].as_str()),
            (Some("env"), Some("constant"), Some(env))
        );
        let panels = d["panels"].as_array().expect("panels");
        assert!(panels.len() >= 6, "{env}: a useful dashboard");
        for p in panels {
            for t in p["targets"].as_array().expect("targets") {
                let uid = t["datasource"]["uid"]
                    .as_str()
                    .or(p["datasource"]["uid"].as_str())
                    .expect("datasource");
                assert!(
                    uids.contains(uid),
                    "{env}: panel {} uses datasource {uid}, not one of its env's",
                    p["title"]
                );
                let expr = t["expr"].as_str().expect("expr");
                // Every selector is scoped to the env (the constant $env).
                for sel in expr.split('{').skip(1) {
                    let sel = sel.split('}').next().unwrap_or_default();
                    assert!(
                        sel.contains("\"$env\"")
                            || sel.contains("\"gateway-$env\"")
                            || sel.contains("\"$env|gateway-$env\""),
                        "{env}: panel {} selects {{{sel}}} without the env",
                        p["title"]
                    );
                }
                for l in labels(expr) {
                    assert!(
                        produced.contains(l.as_str()),
                        "{env}: panel {} uses label {l}, which nothing in the tree produces",
                        p["title"]
                    );
                }
            }
        }
        envs.push(d);
    }
    // The two folders differ only by the environment: they cannot drift apart.
    let as_production = serde_json::to_string(&envs[0])
        .expect("json")
        .replace("staging", "production")
        .replace("Staging", "Production");
    assert_eq!(as_production, serde_json::to_string(&envs[1]).expect("json"));

    // The build is valid Kubernetes (strict schemas).
    let run = support::run(
        support::platctl()
            .args(["check"])
            .arg(out.path())
            .args(["--schemas"])
            .arg(root().join("../shared/schemas")),
    );
    assert!(run.status.success(), "{}\n{}", support::stdout(&run), support::stderr(&run));
}

#[test]
fn label_extraction_sees_matchers_and_grouping() {
    let l = labels(
        r#"sum by (route, status) (rate(http_requests_total{namespace="$env", status=~"5.."}[5m]))"#,
    );
    assert_eq!(l, BTreeSet::from(["namespace".into(), "route".into(), "status".into()]));
    assert_eq!(
        labels(r#"{env="$env", source="pods"}"#),
        BTreeSet::from(["env".into(), "source".into()])
    );
}
