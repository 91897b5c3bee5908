//! Dashboards query only Loki labels that exist: every stream-selector label
//! and `by (...)` grouping of the Grafana dashboards in deploy/ is written by
//! the Alloy pipelines or platctl's audit streams (CI's source="ci" included);
//! a dashboard querying a label or value nothing writes is reported.

use platctl_config::labels;

use crate::support::*;

#[test]
fn the_dashboards_query_labels_the_tree_writes() {
    let root = repo_root();
    let produced = labels::produced(&root);
    let sources = &produced.labels["source"];
    for s in ["platctl", "ci", "argocd", "k8s-events", "pods"] {
        assert!(sources.contains(s), "source={s} is not written by anything: {sources:?}");
    }
    let unproduced = labels::check(&root);
    assert!(unproduced.is_empty(), "{unproduced:#?}");
}

#[test]
fn a_dashboard_querying_what_nothing_writes_is_reported() {
    let copy = repo_copy();
    let path = copy.path().join("deploy/platform/observability/dashboards/audit.json");
    let text = std::fs::read_to_string(&path).expect("dashboard");
    let broken = text
        .replace(
            r#"{source=\"ci\", env=~\"$env\", action=\"tf_run\"}"#,
            r#"{source=\"github\", team=\"x\", env=~\"$env\"}"#,
        )
        .replace("sum by (source, action)", "sum by (source, runner)");
    assert_ne!(broken, text, "the anchors moved");
    std::fs::write(&path, broken).expect("write");
    let got: Vec<(String, String, Option<String>)> =
        labels::check(copy.path()).into_iter().map(|u| (u.panel, u.label, u.value)).collect();
    assert_eq!(
        got,
        [
            ("platctl actions per hour".to_owned(), "runner".to_owned(), None),
            ("Terraform runs in CI".to_owned(), "source".to_owned(), Some("github".to_owned())),
            ("Terraform runs in CI".to_owned(), "team".to_owned(), None),
        ]
    );
}
