//! Dashboards query only Loki labels that exist (rule OBS006 of `platctl
//! check`, driven through the real binary): every stream-selector label and
//! `by (...)` grouping of the Grafana dashboards in deploy/ is written by the
//! Alloy pipelines or platctl's audit streams (CI's source="ci" included); a
//! dashboard querying a label or value nothing writes is reported, and so is
//! one whose producer goes away. The PromQL half (OBS007) is at the end.

use std::path::Path;

use serde_json::Value;

use crate::support::*;

fn obs006(root: &Path) -> (i32, Vec<Value>) {
    check_only(root, "OBS006")
}

fn messages(findings: &[Value]) -> Vec<String> {
    findings
        .iter()
        .map(|f| {
            format!(
                "{}:{} {}",
                f["file"].as_str().unwrap_or(""),
                f["line"],
                f["message"].as_str().unwrap_or("")
            )
        })
        .collect()
}

const AUDIT: &str = "deploy/platform/observability/dashboards/audit.json";

#[test]
fn the_dashboards_query_labels_the_tree_writes() {
    let (code, findings) = obs006(&repo_root());
    assert_eq!(code, 0, "{:#?}", messages(&findings));
    assert!(findings.is_empty(), "{:#?}", messages(&findings));
}

#[test]
fn a_dashboard_querying_what_nothing_writes_is_reported() {
    let copy = repo_copy();
    let path = copy.path().join(AUDIT);
    let text = std::fs::read_to_string(&path).expect("dashboard");
    let broken = text
        .replace(
            r#"{source=\"ci\", env=~\"$env\", action=\"tf_run\"}"#,
            r#"{source=\"github\", team=\"x\", env=~\"$env\"}"#,
        )
        .replace("sum by (source, action)", "sum by (source, runner)");
    assert_ne!(broken, text, "the anchors moved");
    std::fs::write(&path, broken).expect("write");
    let (code, findings) = obs006(copy.path());
    assert_eq!(code, 1, "an error-level rule: {:#?}", messages(&findings));
    let got = messages(&findings);
    let want = [
        ("platctl actions per hour", "the Loki label \"runner\""),
        ("Terraform runs in CI", "source=\"github\""),
        ("Terraform runs in CI", "the Loki label \"team\""),
    ];
    assert_eq!(got.len(), want.len(), "{got:#?}");
    for (m, (panel, what)) in got.iter().zip(want) {
        assert!(m.starts_with(&format!("{AUDIT}:")), "{m}");
        assert!(m.contains(&format!("panel {panel:?}")) && m.contains(what), "{m}");
    }
    // Each finding points at the query's line in the dashboard.
    let text = std::fs::read_to_string(&path).expect("dashboard");
    for f in &findings {
        let line = f["line"].as_u64().expect("line") as usize;
        let at = text.lines().nth(line - 1).expect("line exists");
        assert!(at.contains("\"expr\""), "line {line} is not a query: {at}");
    }
}

#[test]
fn a_label_value_whose_producer_goes_away_is_reported() {
    // source="ci" is written only by the workflows' PLATCTL_LOKI_SOURCE: take it
    // out and the "Terraform runs in CI" panel queries a value nothing writes.
    let copy = repo_copy();
    let mut changed = 0;
    for entry in std::fs::read_dir(copy.path().join(".github/workflows")).expect("workflows") {
        let p = entry.expect("entry").path();
        let text = std::fs::read_to_string(&p).expect("read");
        let edited = text.replace("PLATCTL_LOKI_SOURCE: ci", "PLATCTL_LOKI_SOURCE: github");
        if edited != text {
            changed += 1;
            std::fs::write(&p, edited).expect("write");
        }
    }
    assert!(changed > 0, "no workflow sets PLATCTL_LOKI_SOURCE: ci any more");
    let (code, findings) = obs006(copy.path());
    assert_eq!(code, 1);
    let got = messages(&findings);
    assert!(
        got.iter()
            .any(|m| m.contains("panel \"Terraform runs in CI\"") && m.contains("source=\"ci\"")),
        "{got:#?}"
    );
}

// PromQL (rule OBS007): the dashboards' Prometheus queries and every alert use
// only labels their series carry as the tree's scrapes produce them.

#[test]
fn dashboards_and_alerts_use_promql_labels_their_series_carry() {
    let (code, findings) = check_only(&repo_root(), "OBS007");
    assert_eq!(code, 0, "{:#?}", messages(&findings));
    assert!(findings.is_empty(), "{:#?}", messages(&findings));
}

#[test]
fn promql_labels_a_scrape_does_not_produce_are_reported() {
    let copy = repo_copy();
    // cert-manager's monitor without honorLabels: the certificates' namespace
    // arrives as exported_namespace, and `namespace` is cert-manager's own.
    let app = copy.path().join("deploy/platform/apps/30-cert-manager.yaml");
    let text = std::fs::read_to_string(&app).expect("app");
    std::fs::write(&app, text.replace("honorLabels: true", "honorLabels: false")).expect("write");
    // An alert grouping by a label its series does not have, and printing one
    // its expression does not return.
    let rules = copy.path().join("deploy/platform/observability/rules/platform-rules.yaml");
    let text = std::fs::read_to_string(&rules).expect("rules");
    let broken = text
        .replace(
            "max by (env) (platctl_drift_check_success) == 0",
            "max by (environment) (platctl_drift_check_success) == 0",
        )
        .replace("on {{ $labels.op }}\"", "on {{ $labels.bucket }}\"");
    assert_ne!(broken, text, "the anchors moved");
    std::fs::write(&rules, broken).expect("write");
    let (code, findings) = check_only(copy.path(), "OBS007");
    assert_eq!(code, 1, "an error-level rule: {:#?}", messages(&findings));
    let got = messages(&findings);
    let want = [
        (
            "env-production.json",
            "namespace on certmanager_certificate_expiration_timestamp_seconds",
        ),
        ("env-staging.json", "namespace on certmanager_certificate_expiration_timestamp_seconds"),
        ("platform-rules.yaml", "alert PlatformDriftCheckFailing: max groups by \"environment\""),
        ("platform-rules.yaml", "$labels.bucket, which the expression does not return"),
        (
            "platform-rules.yaml",
            "alert CertificateNotReady: namespace on certmanager_certificate_ready_status",
        ),
    ];
    for (file, what) in want {
        assert!(
            got.iter().any(|m| m.contains(file) && m.contains(what)),
            "{file}: {what}\n{got:#?}"
        );
    }
}
