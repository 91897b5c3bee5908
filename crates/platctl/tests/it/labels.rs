//! Dashboards query only Loki labels that exist (rule OBS006 of `platctl
//! check`, driven through the real binary): every stream-selector label and
//! `by (...)` grouping of the Grafana dashboards in deploy/ is written by the
//! Alloy pipelines or platctl's audit streams (CI's source="ci" included); a
//! dashboard querying a label or value nothing writes is reported, and so is
//! one whose producer goes away.

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
