//! OBS007: every PromQL label a dashboard or an alert uses is a label the
//! series it queries carries once Prometheus has scraped it (run by the
//! observability family; OBS006 is the Loki half).
//!
//! Produced: the label sets of the exporters in [`EXPORTERS`] (platctl's own
//! metrics, read from its source; the upstream exporters', from their
//! source), but only for exporters something in the tree scrapes: a
//! ServiceMonitor or PodMonitor under `deploy/`, or a chart's own monitor
//! switched on in the Application that installs the chart. Scraping adds the
//! target labels (`job`, `instance`, `namespace`, `service`, `pod`,
//! `container`, `endpoint`) and the monitor's relabelling targets; a monitor
//! that does not honour labels renames an exporter's own label that collides
//! with a target label to `exported_<label>`. Recording rules produce their
//! result labels.
//!
//! Used: matchers, `by`/`without` groupings, `on`/`ignoring`/`group_*`
//! labels and `label_replace` sources of every Prometheus query in the
//! Grafana dashboards (JSON under `deploy/`) and every PrometheusRule
//! expression, and the `$labels.X` an alert's labels and annotations print.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value as Json;

use crate::k8s::{Obj, sources};
use crate::promql::{self, Expr};
use crate::walk::{Kind, SourceFile};
use crate::yaml::Node;
use crate::{Context, Finding, RuleId, finding};

/// How an exporter's series reach Prometheus.
#[derive(Debug, Clone, Copy)]
pub enum Scrape {
    /// A ServiceMonitor or PodMonitor in the tree selects `label: value`.
    Monitor { label: &'static str, value: &'static str },
    /// Pushed to the Pushgateway, which a monitor in the tree selects by
    /// `label: value`; every pushed series carries the grouping labels `job`
    /// and `instance` (the Pushgateway sets `instance=""` when the push has none).
    Pushed { label: &'static str, value: &'static str },
    /// The chart's own ServiceMonitor, switched on by the values path
    /// `enabled` of the Application installing `chart` (the chart's default
    /// second); its honorLabels likewise.
    Chart { chart: &'static str, enabled: (&'static str, bool), honor_labels: (&'static str, bool) },
}

/// One exporter: its series with their own labels, where those label sets
/// were read, how it is scraped, and the closed value sets of its labels.
#[derive(Debug)]
pub struct Exporter {
    pub name: &'static str,
    pub source: &'static str,
    pub scrape: Scrape,
    pub series: &'static [(&'static str, &'static [&'static str])],
    pub values: &'static [(&'static str, &'static [&'static str])],
}

const HTTP: &[&str] = &["method", "route", "status"];
const HTTP_LE: &[&str] = &["method", "route", "status", "le"];
const ENV: &[&str] = &["env"];
const CERT: &[&str] = &["name", "namespace", "issuer_name", "issuer_kind", "issuer_group"];

/// Every exporter whose series the platform's dashboards and alerts may query.
pub const EXPORTERS: &[Exporter] = &[
    Exporter {
        name: "the platctl state server",
        source: "crates/backend/src/metrics.rs",
        scrape: Scrape::Monitor { label: "app.kubernetes.io/name", value: "platctl-state" },
        series: &[
            ("platctl_http_requests_total", &["route", "method", "status"]),
            ("platctl_http_request_duration_seconds_bucket", &["route", "le"]),
            ("platctl_http_request_duration_seconds_sum", &["route"]),
            ("platctl_http_request_duration_seconds_count", &["route"]),
            ("platctl_state_locks_held", ENV),
            ("platctl_state_lock_age_seconds", ENV),
            ("platctl_state_bytes", ENV),
            ("platctl_store_errors_total", &["op"]),
            ("platctl_connections_refused_total", &[]),
        ],
        values: &[],
    },
    Exporter {
        name: "platctl drift (pushed by the drift CronJob)",
        source: "crates/drift/src/metrics.rs",
        scrape: Scrape::Pushed { label: "app.kubernetes.io/name", value: "prometheus-pushgateway" },
        series: &[
            ("platctl_drift_resources", &["env", "class"]),
            ("platctl_drift_check_success", ENV),
            ("platctl_drift_check_duration_seconds", ENV),
            ("platctl_drift_last_success_timestamp_seconds", ENV),
        ],
        values: &[("class", &["drift", "pending"])],
    },
    Exporter {
        name: "platctl audit ship (pushed by the drift CronJob)",
        source: "crates/audit-loki/src/ship.rs",
        scrape: Scrape::Pushed { label: "app.kubernetes.io/name", value: "prometheus-pushgateway" },
        series: &[
            ("platctl_audit_ship_errors_total", &[]),
            ("platctl_audit_spool_pending_events", &[]),
        ],
        values: &[],
    },
    Exporter {
        name: "sample-service",
        source: "crates/sample-service/src/metrics.rs",
        scrape: Scrape::Chart {
            chart: "sample-service",
            enabled: ("serviceMonitor.enabled", true),
            honor_labels: ("", false),
        },
        series: &[
            ("http_requests_total", HTTP),
            ("http_request_duration_seconds_bucket", HTTP_LE),
            ("http_request_duration_seconds_sum", HTTP),
            ("http_request_duration_seconds_count", HTTP),
            ("http_requests_in_flight", &[]),
        ],
        values: &[],
    },
    Exporter {
        name: "kube-state-metrics (kube-prometheus-stack)",
        source: "kube-state-metrics docs/metrics/workload/{pod,deployment}-metrics.md",
        scrape: Scrape::Chart {
            chart: "kube-prometheus-stack",
            enabled: ("kubeStateMetrics.enabled", true),
            honor_labels: ("kube-state-metrics.prometheus.monitor.honorLabels", true),
        },
        series: &[
            ("kube_pod_container_status_restarts_total", &["namespace", "pod", "uid", "container"]),
            ("kube_pod_status_phase", &["namespace", "pod", "uid", "phase"]),
            ("kube_deployment_status_replicas_unavailable", &["namespace", "deployment"]),
        ],
        values: &[("phase", &["Pending", "Running", "Succeeded", "Failed", "Unknown"])],
    },
    Exporter {
        name: "node-exporter (kube-prometheus-stack)",
        source: "prometheus/node_exporter collector/{cpu,meminfo,filesystem}_linux.go",
        scrape: Scrape::Chart {
            chart: "kube-prometheus-stack",
            enabled: ("nodeExporter.enabled", true),
            honor_labels: ("", false),
        },
        series: &[
            ("node_cpu_seconds_total", &["cpu", "mode"]),
            ("node_memory_MemAvailable_bytes", &[]),
            ("node_memory_MemTotal_bytes", &[]),
            ("node_filesystem_avail_bytes", &["device", "fstype", "mountpoint"]),
            ("node_filesystem_size_bytes", &["device", "fstype", "mountpoint"]),
        ],
        values: &[(
            "mode",
            &["idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user"],
        )],
    },
    Exporter {
        name: "cert-manager",
        source: "cert-manager pkg/metrics/certificates.go (v1.17)",
        scrape: Scrape::Chart {
            chart: "cert-manager",
            enabled: ("prometheus.servicemonitor.enabled", false),
            honor_labels: ("prometheus.servicemonitor.honorLabels", false),
        },
        series: &[
            ("certmanager_certificate_expiration_timestamp_seconds", CERT),
            ("certmanager_certificate_renewal_timestamp_seconds", CERT),
            (
                "certmanager_certificate_ready_status",
                &["name", "namespace", "condition", "issuer_name", "issuer_kind", "issuer_group"],
            ),
        ],
        values: &[("condition", &["True", "False", "Unknown"])],
    },
    Exporter {
        name: "the Argo CD application controller",
        source: "argo-cd controller/metrics/metrics.go (v3.0)",
        scrape: Scrape::Monitor { label: "app.kubernetes.io/part-of", value: "argocd" },
        series: &[(
            "argocd_app_info",
            &[
                "namespace",
                "name",
                "project",
                "autosync_enabled",
                "repo",
                "dest_server",
                "dest_namespace",
                "sync_status",
                "health_status",
                "operation",
            ],
        )],
        values: &[
            ("sync_status", &["Synced", "OutOfSync", "Unknown"]),
            (
                "health_status",
                &["Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"],
            ),
        ],
    },
];

/// Every metric name platctl exports (OBS005): the `platctl_` series of
/// [`EXPORTERS`] and each histogram's own name. A rule or dashboard naming
/// another `platctl_*` metric watches nothing.
pub fn platctl_metric_names() -> BTreeSet<&'static str> {
    let mut out = BTreeSet::new();
    for (name, _) in EXPORTERS.iter().flat_map(|e| e.series) {
        if name.starts_with("platctl_") {
            out.insert(*name);
            out.extend(name.strip_suffix("_bucket"));
        }
    }
    out
}

/// Labels Prometheus adds to every series a ServiceMonitor scrapes (a
/// PodMonitor's targets have no `service`).
const TARGET_LABELS: &[&str] =
    &["job", "instance", "namespace", "service", "pod", "container", "endpoint"];

/// Series Prometheus writes for every target itself.
const SCRAPE_SERIES: &[&str] =
    &["up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_series_added"];

/// A monitor in the tree: what it selects, whether it honours labels, the
/// labels its relabelling writes.
struct Monitor {
    selects: BTreeMap<String, String>,
    honor_labels: bool,
    relabel_targets: BTreeSet<String>,
}

fn monitors(ctx: &Context<'_>) -> Vec<Monitor> {
    let mut out = Vec::new();
    for kind in ["ServiceMonitor", "PodMonitor"] {
        for o in ctx.k8s.of("monitoring.coreos.com", kind) {
            let spec = o.spec();
            let selects = spec
                .at(&["selector", "matchLabels"])
                .map(|m| {
                    m.entries()
                        .iter()
                        .filter_map(|e| Some((e.key.clone(), e.value.scalar_text()?)))
                        .collect()
                })
                .unwrap_or_default();
            let endpoints: Vec<&Node> = spec
                .field("endpoints")
                .seq()
                .iter()
                .chain(spec.field("podMetricsEndpoints").seq())
                .collect();
            let honor_labels =
                endpoints.iter().any(|e| e.field("honorLabels").as_bool() == Some(true));
            let relabel_targets = endpoints
                .iter()
                .flat_map(|e| {
                    e.field("relabelings").seq().iter().chain(e.field("metricRelabelings").seq())
                })
                .filter_map(|r| r.field("targetLabel").as_str().map(str::to_owned))
                .collect();
            out.push(Monitor { selects, honor_labels, relabel_targets });
        }
    }
    out
}

/// A values path (`a.b.c`) in an Application's inline Helm values.
fn app_value(app: &Node, path: &str) -> Option<Node> {
    if path.is_empty() {
        return None;
    }
    let keys: Vec<&str> = path.split('.').collect();
    for src in sources(app) {
        let helm = src.field("helm");
        if let Some(v) = helm.get("valuesObject").and_then(|v| v.at(&keys)) {
            return Some(v.clone());
        }
        if let Some(text) = helm.get("values").and_then(Node::as_str)
            && let Ok(docs) = crate::yaml::parse_documents(text)
            && let Some(v) = docs.iter().find_map(|d| d.at(&keys))
        {
            return Some(v.clone());
        }
    }
    None
}

fn installs(app: &Node, chart: &str) -> bool {
    sources(app).any(|s| {
        s.field("chart").as_str() == Some(chart)
            || s.field("path").as_str().is_some_and(|p| {
                p.trim_end_matches('/').ends_with(&format!("/{chart}")) || p == chart
            })
    })
}

/// One series as Prometheus stores it.
#[derive(Debug, Clone)]
struct Series {
    labels: BTreeSet<String>,
    /// The exporter's own labels the scrape renamed to `exported_<label>`.
    renamed: BTreeSet<String>,
    values: BTreeMap<String, BTreeSet<String>>,
    exporter: &'static str,
    /// Why nothing scrapes it, when nothing does.
    unscraped: Option<String>,
}

/// The series the tree produces, by name.
struct Catalog {
    series: BTreeMap<String, Series>,
}

impl Catalog {
    fn build(ctx: &Context<'_>) -> Self {
        let monitors = monitors(ctx);
        let target: BTreeSet<String> = TARGET_LABELS.iter().map(|s| (*s).to_owned()).collect();
        let mut series = BTreeMap::new();
        let mut any_scrape = !monitors.is_empty();
        for exp in EXPORTERS {
            // (scraped, honours labels, relabelling targets, why not)
            let (scraped, honor, relabel, why): (bool, bool, BTreeSet<String>, String) = match exp
                .scrape
            {
                Scrape::Monitor { label, value } | Scrape::Pushed { label, value } => {
                    let hits: Vec<&Monitor> = monitors
                        .iter()
                        .filter(|m| m.selects.get(label).is_some_and(|v| v == value))
                        .collect();
                    (
                        !hits.is_empty(),
                        hits.iter().any(|m| m.honor_labels),
                        hits.iter().flat_map(|m| m.relabel_targets.iter().cloned()).collect(),
                        format!(
                            "no ServiceMonitor or PodMonitor under deploy/ selects {label}: {value}"
                        ),
                    )
                }
                Scrape::Chart { chart, enabled, honor_labels } => {
                    let apps: Vec<&Node> = ctx
                        .k8s
                        .applications()
                        .map(|(_, a)| a)
                        .filter(|a| installs(a, chart))
                        .collect();
                    let on = apps.iter().any(|a| {
                        app_value(a, enabled.0).and_then(|v| v.as_bool()).unwrap_or(enabled.1)
                    });
                    let honor = apps.iter().any(|a| {
                        app_value(a, honor_labels.0)
                            .and_then(|v| v.as_bool())
                            .unwrap_or(honor_labels.1)
                    });
                    let why = if apps.is_empty() {
                        format!("no Argo CD Application installs the {chart} chart")
                    } else {
                        format!(
                            "the {chart} chart's monitor is off (set {}: true in its Application's values)",
                            enabled.0
                        )
                    };
                    (on, honor, BTreeSet::new(), why)
                }
            };
            any_scrape |= scraped;
            let pushed = matches!(exp.scrape, Scrape::Pushed { .. });
            for (name, own) in exp.series {
                let mut own: BTreeSet<String> = own.iter().map(|s| (*s).to_owned()).collect();
                if pushed {
                    own.extend(["job".to_owned(), "instance".to_owned()]);
                }
                let renamed: BTreeSet<String> = if honor {
                    BTreeSet::new()
                } else {
                    own.intersection(&target).cloned().collect()
                };
                let mut labels: BTreeSet<String> = own.difference(&renamed).cloned().collect();
                labels.extend(renamed.iter().map(|l| format!("exported_{l}")));
                labels.extend(target.iter().cloned());
                labels.extend(relabel.iter().cloned());
                let values = exp
                    .values
                    .iter()
                    .filter(|(l, _)| own.contains(*l) && !renamed.contains(*l))
                    .map(|(l, v)| ((*l).to_owned(), v.iter().map(|s| (*s).to_owned()).collect()))
                    .collect();
                series.insert(
                    (*name).to_owned(),
                    Series {
                        labels,
                        renamed: renamed.clone(),
                        values,
                        exporter: exp.name,
                        unscraped: (!scraped).then(|| why.clone()),
                    },
                );
            }
        }
        let mut scrape_labels = target.clone();
        scrape_labels.extend(monitors.iter().flat_map(|m| m.relabel_targets.iter().cloned()));
        for name in SCRAPE_SERIES {
            series.insert(
                (*name).to_owned(),
                Series {
                    labels: scrape_labels.clone(),
                    renamed: BTreeSet::new(),
                    values: BTreeMap::new(),
                    exporter: "Prometheus (every scrape target)",
                    unscraped: (!any_scrape).then(|| "nothing in the tree is scraped".to_owned()),
                },
            );
        }
        Catalog { series }
    }

    fn labels_of(&self, e: &Expr) -> BTreeSet<String> {
        match e {
            Expr::Selector { metric: Some(m), .. } => {
                self.series.get(m).map(|s| s.labels.clone()).unwrap_or_default()
            }
            _ => BTreeSet::new(),
        }
    }

    /// Whether every selector under `e` names a known series (label-set
    /// questions about unknown series are not asked: the unknown name is the finding).
    fn all_known(&self, e: &Expr) -> bool {
        promql::selectors(e)
            .iter()
            .all(|(m, _)| m.as_ref().is_some_and(|m| self.series.contains_key(m)))
    }

    /// Adds recording rules: a recorded name carries its expression's result labels.
    fn record(&mut self, name: &str, expr: &Expr) {
        if !self.all_known(expr) {
            return;
        }
        let labels = promql::result_labels(expr, &|e| self.labels_of(e)).unwrap_or_default();
        self.series.insert(
            name.to_owned(),
            Series {
                labels,
                renamed: BTreeSet::new(),
                values: BTreeMap::new(),
                exporter: "a recording rule",
                unscraped: None,
            },
        );
    }
}

fn list(s: &BTreeSet<String>) -> String {
    if s.is_empty() { "none".to_owned() } else { s.iter().cloned().collect::<Vec<_>>().join(", ") }
}

fn renamed(metric: &str, label: &str, s: &Series) -> String {
    format!(
        "{label} on {metric} is the scrape target's {label}, not the one {} writes: its monitor does not honour labels, so that one is exported_{label}; set honorLabels: true on the monitor, or use exported_{label}",
        s.exporter
    )
}

/// The findings of one query, as messages (the caller places them).
fn judge(cat: &Catalog, expr: &Expr, out: &mut Vec<String>) {
    let mut push = |m: String| {
        if !out.contains(&m) {
            out.push(m);
        }
    };
    for (metric, matchers) in promql::selectors(expr) {
        let Some(metric) = metric else { continue };
        let Some(s) = cat.series.get(metric) else {
            // platctl_* names that are not exported are OBS005's.
            if !metric.starts_with("platctl_") {
                push(format!(
                    "{metric} is a series nothing in the tree produces (no exporter in OBS007's table scrapes it, no recording rule writes it)"
                ));
            }
            continue;
        };
        if let Some(why) = &s.unscraped {
            push(format!("{metric} comes from {}, which nothing scrapes: {why}", s.exporter));
            continue;
        }
        for m in matchers {
            if s.renamed.contains(&m.label) {
                push(renamed(metric, &m.label, s));
            } else if !s.labels.contains(&m.label) {
                push(format!("{metric} has no label {:?} (it has: {})", m.label, list(&s.labels)));
            } else if m.op == "="
                && !m.value.contains('$')
                && let Some(values) = s.values.get(&m.label)
                && !values.contains(&m.value)
            {
                push(format!(
                    "{metric}{{{}=\"{}\"}} never matches: {} writes {} as one of {}",
                    m.label,
                    m.value,
                    s.exporter,
                    m.label,
                    list(values)
                ));
            }
        }
    }
    promql::walk(expr, &mut |e| {
        let labels = |x: &Expr| promql::result_labels(x, &|s| cat.labels_of(s));
        match e {
            Expr::Aggregate { op, grouping: Some((_, used)), args } => {
                let Some(inner) = args.iter().rev().find(|a| labels(a).is_some()) else { return };
                if !cat.all_known(inner) {
                    return;
                }
                let have = labels(inner).unwrap_or_default();
                for l in used.iter().filter(|l| !have.contains(*l)) {
                    push(format!(
                        "{op} groups by {l:?}, a label its argument does not have (it has: {})",
                        list(&have)
                    ));
                }
                for (metric, _) in promql::selectors(inner) {
                    let Some(s) = metric.as_ref().and_then(|m| cat.series.get(m)) else { continue };
                    for l in used.iter().filter(|l| s.renamed.contains(*l)) {
                        push(renamed(metric.as_deref().unwrap_or_default(), l, s));
                    }
                }
            }
            Expr::Binary { left, right, matching, .. } => {
                if !cat.all_known(left) || !cat.all_known(right) {
                    return;
                }
                let (Some(l), Some(r)) = (labels(left), labels(right)) else { return };
                if let Some((_, on)) = &matching.on {
                    for x in on.iter().filter(|x| !l.contains(*x) && !r.contains(*x)) {
                        push(format!("on/ignoring names {x:?}, which neither side has"));
                    }
                }
                if let Some((left_side, extra)) = &matching.group {
                    let other = if *left_side { &r } else { &l };
                    for x in extra.iter().filter(|x| !other.contains(*x)) {
                        push(format!(
                            "group_left/group_right copies {x:?}, which the other side does not have (it has: {})",
                            list(other)
                        ));
                    }
                }
            }
            Expr::Call { func, args } if func == "label_replace" => {
                let Some(src) = promql::str_arg(args, 3) else { return };
                let Some(v) = args.first() else { return };
                if !cat.all_known(v) {
                    return;
                }
                let have = labels(v).unwrap_or_default();
                if !src.is_empty() && !have.contains(src) {
                    push(format!(
                        "label_replace reads {src:?}, a label its argument does not have (it has: {})",
                        list(&have)
                    ));
                }
            }
            _ => {}
        }
    });
}

static TEMPLATE_LABEL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:\$labels|\.Labels)\.([a-zA-Z_][a-zA-Z0-9_]*)")
        .unwrap_or_else(|e| unreachable!("static pattern: {e}"))
});

fn prometheus_exprs(panel: &Json, out: &mut Vec<(String, String)>) {
    let is_prom = |v: &Json| v["datasource"]["type"] == "prometheus";
    let title = panel["title"].as_str().unwrap_or("").to_owned();
    for t in panel["targets"].as_array().into_iter().flatten() {
        let own = &t["datasource"]["type"];
        let prom = if own.is_string() { is_prom(t) } else { is_prom(panel) };
        if prom && let Some(e) = t["expr"].as_str() {
            out.push((title.clone(), e.to_owned()));
        }
    }
    for p in panel["panels"].as_array().into_iter().flatten() {
        prometheus_exprs(p, out);
    }
}

/// OBS007 over the dashboards and PrometheusRules of the tree.
pub fn check(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    let mut cat = Catalog::build(ctx);
    let rules: Vec<&Obj<'_>> = ctx.k8s.of("monitoring.coreos.com", "PrometheusRule").collect();
    let rule_nodes = |o: &Obj<'_>| -> Vec<Node> {
        o.spec()
            .field("groups")
            .seq()
            .iter()
            .flat_map(|g| g.field("rules").seq().iter().cloned())
            .collect()
    };
    // Recording rules first (twice: a rule may use one recorded after it).
    for _ in 0..2 {
        for o in &rules {
            for r in rule_nodes(o) {
                if let (Some(name), Some(text)) =
                    (r.field("record").as_str(), r.field("expr").scalar_text())
                    && let Ok(e) = promql::parse(&text)
                {
                    cat.record(name, &e);
                }
            }
        }
    }
    for o in &rules {
        for r in rule_nodes(o) {
            let Some(text) = r.field("expr").scalar_text() else { continue };
            let line = r.key_line("expr");
            let what = r
                .field("alert")
                .as_str()
                .map(|a| format!("alert {a}"))
                .or_else(|| r.field("record").as_str().map(|n| format!("recording rule {n}")))
                .unwrap_or_else(|| "rule".to_owned());
            let expr = match promql::parse(&text) {
                Ok(e) => e,
                Err(e) => {
                    out.push(finding(
                        RuleId::Obs007,
                        &o.file.rel,
                        line,
                        format!("{what}: the expression is not PromQL ({e})"),
                    ));
                    continue;
                }
            };
            let mut msgs = Vec::new();
            judge(&cat, &expr, &mut msgs);
            out.extend(
                msgs.into_iter()
                    .map(|m| finding(RuleId::Obs007, &o.file.rel, line, format!("{what}: {m}"))),
            );
            // What the alert prints must be in what its expression returns.
            if cat.all_known(&expr)
                && let Some(result) = promql::result_labels(&expr, &|s| cat.labels_of(s))
            {
                for key in ["labels", "annotations"] {
                    for e in r.field(key).entries() {
                        let text = e.value.scalar_text().unwrap_or_default();
                        for c in TEMPLATE_LABEL.captures_iter(&text) {
                            if !result.contains(&c[1]) {
                                out.push(finding(
                                    RuleId::Obs007,
                                    &o.file.rel,
                                    e.key_line,
                                    format!(
                                        "{what}: {key}.{} prints $labels.{}, which the expression does not return (it returns: {})",
                                        e.key, &c[1], list(&result)
                                    ),
                                ));
                            }
                        }
                    }
                }
            }
        }
    }
    let dashboards = ctx.repo.files.iter().filter(|f: &&SourceFile| {
        f.kind == Kind::Json && f.json_value.as_ref().is_some_and(|v| v["panels"].is_array())
    });
    for file in dashboards {
        let Some(dash) = &file.json_value else { continue };
        let mut exprs = Vec::new();
        for p in dash["panels"].as_array().into_iter().flatten() {
            prometheus_exprs(p, &mut exprs);
        }
        for (panel, text) in exprs {
            let line = crate::loki::line_of(file, &panel, &text);
            match promql::parse(&text) {
                Err(e) => out.push(finding(
                    RuleId::Obs007,
                    &file.rel,
                    line,
                    format!("panel {panel:?}: the query is not PromQL ({e})"),
                )),
                Ok(expr) => {
                    let mut msgs = Vec::new();
                    judge(&cat, &expr, &mut msgs);
                    out.extend(msgs.into_iter().map(|m| {
                        finding(RuleId::Obs007, &file.rel, line, format!("panel {panel:?}: {m}"))
                    }));
                }
            }
        }
    }
}

/// The label names of every series in a Prometheus text exposition, by
/// series name (comments and `# EOF` skipped; quoted values may hold `,`, `}`).
pub fn exposition_labels(text: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let name_end = line.find(['{', ' ']).unwrap_or(line.len());
        let labels = out.entry(line[..name_end].to_owned()).or_default();
        if !line[name_end..].starts_with('{') {
            continue;
        }
        let (mut key, mut in_value, mut escaped) = (String::new(), false, false);
        for c in line[name_end + 1..].chars() {
            if in_value {
                match (escaped, c) {
                    (false, '\\') => escaped = true,
                    (false, '"') => in_value = false,
                    _ => escaped = false,
                }
                continue;
            }
            match c {
                '}' => break,
                '=' => {
                    labels.insert(std::mem::take(&mut key).trim().to_owned());
                }
                '"' => in_value = true,
                ',' => key.clear(),
                c => key.push(c),
            }
        }
    }
    out
}

/// Where a real exposition of `exporter` (an [`EXPORTERS`] name) and the
/// table disagree: a series the table lacks, or different label names. The
/// pushed exporters' grouping labels are not in an exposition before the push.
pub fn table_mismatches(exporter: &str, exposition: &str) -> Vec<String> {
    let Some(exp) = EXPORTERS.iter().find(|e| e.name == exporter) else {
        return vec![format!("no exporter named {exporter:?} in the table")];
    };
    let mut out = Vec::new();
    for (name, labels) in exposition_labels(exposition) {
        match exp.series.iter().find(|(n, _)| *n == name) {
            None => out.push(format!("{name} is exported but not in the table")),
            Some((_, table)) => {
                let table: BTreeSet<String> = table.iter().map(|s| (*s).to_owned()).collect();
                if table != labels {
                    out.push(format!(
                        "{name}: exported labels {} vs table {}",
                        list(&labels),
                        list(&table)
                    ));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_label_names_survive_braces_and_commas_in_values() {
        let text = "# HELP x y\nreq_total{route=\"/v1/{env}\",method=\"A,B\",status=\"200\"} 1\nplain 3\n# EOF\n";
        let got = exposition_labels(text);
        assert_eq!(
            got["req_total"],
            BTreeSet::from(["method".into(), "route".into(), "status".into()])
        );
        assert!(got["plain"].is_empty());
    }

    #[test]
    fn a_table_mismatch_is_named() {
        let bad = "platctl_store_errors_total{op=\"put\",bucket=\"b\"} 1\nplatctl_new_total 1\n";
        let m = table_mismatches("the platctl state server", bad);
        assert_eq!(m.len(), 2, "{m:?}");
        assert!(m[1].contains("bucket"), "{m:?}");
        assert!(
            table_mismatches(
                "the platctl state server",
                "platctl_store_errors_total{op=\"put\"} 1"
            )
            .is_empty()
        );
    }
}
