//! Observability rules: OBS001 (Loki retention, enforced by the compactor),
//! OBS002 (the stack is deployed per environment), OBS003 (Loki writes to the
//! bucket Terraform creates), OBS004 (the platform's alerts exist) and OBS005
//! (rules and dashboards use only metric names platctl exports); OBS006
//! (dashboards query only Loki labels the tree writes) is in [`crate::loki`];
//! OBS007 (dashboards and alerts use only PromQL labels their series carry)
//! is in [`crate::metric_labels`].

use std::collections::BTreeSet;

use crate::k8s::chart_names;
use crate::walk::{Kind, Repo, SourceFile};
use crate::yaml::{self, Node, Value};
use crate::{Context, Family, Finding, RuleId, finding};

pub const FAMILY: Family = Family {
    name: "observability",
    rules: &[
        RuleId::Obs001,
        RuleId::Obs002,
        RuleId::Obs003,
        RuleId::Obs004,
        RuleId::Obs005,
        RuleId::Obs006,
        RuleId::Obs007,
    ],
    run: check,
};

/// What the platform must alert on, and the expression fragment that shows it does.
pub const REQUIRED_ALERTS: &[(&str, &str)] = &[
    ("drift detected", "platctl_drift_resources"),
    ("a state lock held too long", "platctl_state_lock_age_seconds"),
    ("the state server down", "up{job=\"platctl-state\"}"),
    ("audit shipping failing", "platctl_audit_ship_errors_total"),
    ("certificates expiring", "certmanager_certificate_expiration_timestamp_seconds"),
    ("Argo CD applications out of sync", "argocd_app_info{sync_status=\"OutOfSync\"}"),
];

/// Terraform roots under infra/terraform/envs/ that are not workload environments
/// (account-wide resources such as the state bucket): OBS002 does not apply to them.
pub const NON_CLUSTER_ENVS: &[&str] = &["global", "shared", "common", "bootstrap"];

const STACK: &[(&str, &[&str])] = &[
    ("kube-prometheus-stack", &["kube-prometheus-stack"]),
    ("Loki", &["loki", "loki-distributed", "loki-stack"]),
    ("Tempo", &["tempo", "tempo-distributed"]),
    ("Alloy", &["alloy", "k8s-monitoring"]),
];

fn check(ctx: &Context<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    let loki = loki_sources(ctx);
    loki_retention(&loki, &mut out);
    loki_bucket(ctx, &loki, &mut out);
    observability_stack(ctx, &mut out);
    alerts(ctx, &mut out);
    metric_names(ctx.repo, &mut out);
    crate::loki::check(ctx.repo, &mut out);
    crate::metric_labels::check(ctx, &mut out);
    out
}

/// Duration in hours of a Prometheus/Loki duration (`720h`, `30d`, `4w`, `1y`).
pub fn duration_hours(s: &str) -> Option<f64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let mut total = 0.0;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        if c == 'm' && chars.peek() == Some(&'s') {
            unit.push('s');
            chars.next();
        }
        let n: f64 = num.parse().ok()?;
        num.clear();
        total += n * match unit.as_str() {
            "ms" => 1.0 / 3_600_000.0,
            "s" => 1.0 / 3600.0,
            "m" => 1.0 / 60.0,
            "h" => 1.0,
            "d" => 24.0,
            "w" => 168.0,
            "y" => 8760.0,
            _ => return None,
        };
    }
    if !num.is_empty() {
        total += num.parse::<f64>().ok()? / 3600.0; // bare number: seconds
    }
    Some(total)
}

fn find_key<'a>(node: &'a Node, key: &str, acc: &mut Vec<(usize, &'a Node)>) {
    match &node.value {
        Value::Map(entries) => {
            for e in entries {
                if e.key == key {
                    acc.push((e.key_line, &e.value));
                }
                find_key(&e.value, key, acc);
            }
        }
        Value::Seq(items) => items.iter().for_each(|i| find_key(i, key, acc)),
        _ => {}
    }
}

/// Loki configuration trees: (file, tree, line offset for trees parsed from a
/// string), and where Loki is deployed.
struct LokiSources<'a> {
    trees: Vec<(&'a SourceFile, Node, usize)>,
    deployed: Option<(&'a SourceFile, usize)>,
}

fn loki_sources<'a>(ctx: &Context<'a>) -> LokiSources<'a> {
    let mut trees = Vec::new();
    let mut deployed = None;
    for f in ctx.repo.files.iter().filter(|f| {
        matches!(f.kind, Kind::HelmValues | Kind::Manifest) && f.rel.to_lowercase().contains("loki")
    }) {
        for d in f.docs.iter().filter(|d| d.get("kind").is_none()) {
            trees.push((f, d.clone(), 0));
            deployed.get_or_insert((f, 1));
        }
    }
    for (o, app) in ctx.k8s.applications() {
        if !chart_names(app).iter().any(|c| c.starts_with("loki")) {
            continue;
        }
        deployed = Some((o.file, o.line()));
        for src in crate::k8s::sources(app) {
            let helm = src.field("helm");
            if let Some(v) = helm.get("valuesObject") {
                trees.push((o.file, v.clone(), 0));
            }
            if let Some(v) = helm.get("values")
                && let Some(text) = v.as_str()
                && let Ok(docs) = yaml::parse_documents(text)
            {
                let offset = helm.key_line("values");
                trees.extend(docs.into_iter().map(|d| (o.file, d, offset)));
            }
        }
    }
    LokiSources { trees, deployed }
}

fn loki_retention(loki: &LokiSources<'_>, out: &mut Vec<Finding>) {
    let mut seen = false;
    for (file, tree, offset) in &loki.trees {
        let mut hits = Vec::new();
        find_key(tree, "retention_period", &mut hits);
        for (l, v) in &hits {
            seen = true;
            let text = v.scalar_text().unwrap_or_default();
            match duration_hours(&text) {
                Some(h) if h == 0.0 || h >= 720.0 => {}
                Some(h) => out.push(finding(
                    RuleId::Obs001,
                    &file.rel,
                    l + offset,
                    format!("Loki retention_period {text} is {h}h, under 720h"),
                )),
                None => out.push(finding(
                    RuleId::Obs001,
                    &file.rel,
                    l + offset,
                    format!("Loki retention_period {text:?} is not a duration"),
                )),
            }
        }
        let Some((l, _)) = hits.first() else { continue };
        let mut compactors = Vec::new();
        find_key(tree, "compactor", &mut compactors);
        let enforced = compactors.iter().any(|(_, c)| {
            c.field("retention_enabled").as_bool() == Some(true)
                && c.field("delete_request_store").scalar_text().is_some_and(|s| !s.is_empty())
        });
        if !enforced {
            out.push(finding(
                RuleId::Obs001,
                &file.rel,
                l + offset,
                "Loki sets retention_period but its compactor does not enforce it (compactor.retention_enabled: true and compactor.delete_request_store are required)",
            ));
        }
    }
    if !seen && let Some((file, l)) = loki.deployed {
        out.push(finding(
            RuleId::Obs001,
            &file.rel,
            l,
            "Loki is deployed but no retention_period is set (720h or more required)",
        ));
    }
}

/// OBS003: the chunks bucket Loki is configured with is one Terraform creates.
fn loki_bucket(ctx: &Context<'_>, loki: &LokiSources<'_>, out: &mut Vec<Finding>) {
    let buckets = ctx.tf.resource_values("linode_object_storage_bucket", "label");
    if buckets.is_empty() {
        return; // no bucket in this tree's Terraform: nothing to compare with
    }
    for (file, tree, offset) in &loki.trees {
        let mut hits = Vec::new();
        find_key(tree, "bucketNames", &mut hits);
        for (_, names) in hits {
            let Some(chunks) = names.entry("chunks") else { continue };
            let bucket = chunks.value.scalar_text().unwrap_or_default();
            if !buckets.contains(&bucket) {
                let known: Vec<&str> = buckets.iter().map(String::as_str).collect();
                out.push(finding(
                    RuleId::Obs003,
                    &file.rel,
                    chunks.key_line + offset,
                    format!(
                        "Loki chunks bucket {bucket:?} is not a bucket Terraform creates ({})",
                        known.join(", ")
                    ),
                ));
            }
        }
    }
}

fn observability_stack(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    let repo = ctx.repo;
    let mut apps = ctx.k8s.applications().peekable();
    let Some((first, _)) = apps.peek().copied() else { return };
    // (component, env or "" for shared)
    let mut present: BTreeSet<(&str, String)> = BTreeSet::new();
    let envs_of = |text: &str| -> Vec<String> {
        repo.envs
            .iter()
            .filter(|e| text.split(['/', '-', '_', '.']).any(|p| p == e.as_str()))
            .cloned()
            .collect()
    };
    let mut add = |charts: &[&str], context: String| {
        for (comp, names) in STACK {
            if charts.iter().any(|c| names.contains(c)) {
                let envs = envs_of(&context);
                if envs.is_empty() {
                    present.insert((comp, String::new()));
                }
                for e in envs {
                    present.insert((comp, e));
                }
            }
        }
    };
    for (o, app) in apps {
        let dest =
            app.at(&["spec", "destination", "namespace"]).and_then(Node::as_str).unwrap_or("");
        let name = app.at(&["metadata", "name"]).and_then(Node::as_str).unwrap_or("");
        add(&chart_names(app), format!("{} {name} {dest}", o.file.rel).replace(' ', "/"));
    }
    for f in repo.files.iter().filter(|f| f.kind == Kind::ChartMeta) {
        for d in &f.docs {
            let deps: Vec<&str> = d
                .field("dependencies")
                .seq()
                .iter()
                .filter_map(|x| x.field("name").as_str())
                .collect();
            add(&deps, f.rel.clone());
        }
    }
    let cluster_envs: Vec<String> =
        repo.envs.iter().filter(|e| !NON_CLUSTER_ENVS.contains(&e.as_str())).cloned().collect();
    let envs: Vec<String> =
        if cluster_envs.is_empty() { vec![String::new()] } else { cluster_envs };
    for (comp, _) in STACK {
        for env in &envs {
            let ok = present.contains(&(*comp, String::new()))
                || present.contains(&(*comp, env.clone()));
            if !ok {
                let which =
                    if env.is_empty() { String::new() } else { format!(" for environment {env}") };
                out.push(finding(
                    RuleId::Obs002,
                    &first.file.rel,
                    0,
                    format!("no Argo CD Application deploys {comp}{which}"),
                ));
            }
        }
    }
}

/// The alert expressions of every PrometheusRule.
fn rule_exprs<'a>(ctx: &Context<'a>) -> Vec<&'a Node> {
    ctx.k8s
        .of("monitoring.coreos.com", "PrometheusRule")
        .flat_map(|o| o.spec().field("groups").seq())
        .flat_map(|g| g.field("rules").seq())
        .filter_map(|r| r.get("expr"))
        .collect()
}

/// OBS004: the alerts the platform's runbooks answer exist.
fn alerts(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    let Some(first) = ctx.k8s.of("monitoring.coreos.com", "PrometheusRule").next() else {
        return; // alerting is configured elsewhere (or not in this tree)
    };
    let exprs: Vec<String> = rule_exprs(ctx).iter().filter_map(|e| e.scalar_text()).collect();
    let compact = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    for (what, needle) in REQUIRED_ALERTS {
        if !exprs.iter().any(|e| compact(e).contains(&compact(needle))) {
            out.push(finding(
                RuleId::Obs004,
                &first.file.rel,
                first.line(),
                format!("no PrometheusRule alerts on {what} (an expression using {needle})"),
            ));
        }
    }
}

/// `platctl_*` metric names in a line (word-bounded).
fn platctl_metrics(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = line;
    let mut offset = 0;
    while let Some(i) = rest.find("platctl_") {
        let start = offset + i;
        let before = line[..start].chars().next_back();
        let len = line[start..]
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(line.len() - start);
        if before.is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_')) {
            out.push(&line[start..start + len]);
        }
        offset = start + len.max(1);
        rest = &line[offset..];
    }
    out
}

/// OBS005: PrometheusRules and dashboards (JSON under deploy/) name only exported metrics.
fn metric_names(repo: &Repo, out: &mut Vec<Finding>) {
    let exported = crate::metric_labels::platctl_metric_names();
    for file in repo.files.iter().filter(|f| {
        f.kind == Kind::Json
            || (f.kind == Kind::Manifest
                && f.docs.iter().any(|d| d.field("kind").as_str() == Some("PrometheusRule")))
    }) {
        for (i, line) in file.text.lines().enumerate() {
            for m in platctl_metrics(line) {
                if !exported.contains(m) {
                    out.push(finding(
                        RuleId::Obs005,
                        &file.rel,
                        i + 1,
                        format!("{m} is not a metric platctl exports"),
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration_hours("720h"), Some(720.0));
        assert_eq!(duration_hours("30d"), Some(720.0));
        assert_eq!(duration_hours("4w"), Some(672.0));
        assert_eq!(duration_hours("1h30m"), Some(1.5));
        assert_eq!(duration_hours("0s"), Some(0.0));
        assert_eq!(duration_hours("soon"), None);
    }

    #[test]
    fn metric_tokens() {
        assert_eq!(
            platctl_metrics(
                "max(platctl_drift_resources{a=\"b\"}) + xplatctl_no + platctl_x_total"
            ),
            ["platctl_drift_resources", "platctl_x_total"]
        );
    }

    /// The exported list stays true: each name (without the prefix and the
    /// counter/histogram suffix) is still registered by an exporting crate.
    #[test]
    fn exported_metrics_are_registered_by_platctl() {
        let crates = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut sources = String::new();
        for krate in ["backend", "drift", "audit-loki"] {
            for e in std::fs::read_dir(crates.join(krate).join("src")).expect("crate src") {
                sources.push_str(
                    &std::fs::read_to_string(e.expect("entry").path()).unwrap_or_default(),
                );
            }
        }
        for m in crate::metric_labels::platctl_metric_names() {
            let mut base = m.trim_start_matches("platctl_");
            for suffix in ["_bucket", "_sum", "_count", "_total"] {
                base = base.strip_suffix(suffix).unwrap_or(base);
            }
            assert!(sources.contains(base), "{m}: {base} is registered by no exporting crate");
        }
    }
}
