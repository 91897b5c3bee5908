//! Grafana per environment (issue 14 §5): the observability tree, built with
//! the real kustomize (`kubectl kustomize`), gives one folder per environment
//! whose dashboards use only that environment's datasources and select only
//! its data. The build passes `platctl check`'s strict schemas. Whether every
//! label a query uses is produced is rules OBS006/OBS007 (it::labels).

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

#[test]
fn grafana_has_a_folder_per_environment_scoped_to_its_datasources_and_data() {
    let out = tempfile::tempdir().expect("tmp");
    let cms = built(out.path());
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
                // The labels themselves are rules OBS006 (LogQL) and OBS007 (PromQL) of
                // `platctl check`, run on the repository in it::labels.
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

    // The build is valid Kubernetes (strict schemas). Only the schema rules: the
    // build is one folder of the platform, not a repository the other rules can judge.
    let run = support::run(
        support::platctl()
            .args(["check"])
            .arg(out.path())
            .args(["--schemas"])
            .arg(root().join("../shared/schemas"))
            .args(["--only", "SCHEMA001,SCHEMA002,SCHEMA003"]),
    );
    assert!(run.status.success(), "{}\n{}", support::stdout(&run), support::stderr(&run));
}
