//! Loki labels a dashboard queries are labels something in the tree writes
//! (OBS006, run by the observability family).
//!
//! Produced: the Alloy pipelines (`stage.label_keep`, `stage.static_labels`,
//! `stage.labels`, relabel `target_label`s and their constant replacements)
//! and platctl's audit streams (`source`, `env`, `action`; the source
//! `platctl`, or a `PLATCTL_LOKI_SOURCE` a workflow or manifest sets), read
//! from every checked file's text. Used: the stream selectors and
//! `by (...)`/`without (...)` groupings of every Loki query in the Grafana
//! dashboards (JSON under `deploy/`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use crate::walk::{Kind, Repo, SourceFile};
use crate::{Finding, RuleId, finding};

/// Labels written, with the constant values seen for each (empty: any value).
#[derive(Debug, Default)]
pub struct Produced {
    pub labels: BTreeMap<String, BTreeSet<String>>,
    /// Labels whose values are not all constants (relabelled from metadata).
    pub open: BTreeSet<String>,
}

/// platctl's own audit stream labels (crates/audit-loki): always produced.
pub const AUDIT_LABELS: &[&str] = &["source", "env", "action"];

fn re(s: &str) -> Regex {
    Regex::new(s).unwrap_or_else(|e| unreachable!("static pattern {s}: {e}"))
}

static LABEL_KEEP: LazyLock<Regex> =
    LazyLock::new(|| re(r"stage\.label_keep\s*\{\s*values\s*=\s*\[([^\]]*)\]"));
static STATIC: LazyLock<Regex> =
    LazyLock::new(|| re(r"stage\.static_labels\s*\{\s*values\s*=\s*\{([^}]*)\}"));
static LABELS_STAGE: LazyLock<Regex> =
    LazyLock::new(|| re(r"stage\.labels\s*\{\s*values\s*=\s*\{([^}]*)\}"));
static KV: LazyLock<Regex> = LazyLock::new(|| re(r#"([a-z_][a-z0-9_]*)\s*=\s*"([^"]*)""#));
static RULE: LazyLock<Regex> = LazyLock::new(|| re(r"rule\s*\{([^}]*)\}"));
static TARGET: LazyLock<Regex> = LazyLock::new(|| re(r#"target_label\s*=\s*"([a-z_][a-z0-9_]*)""#));
static REPLACEMENT: LazyLock<Regex> = LazyLock::new(|| re(r#"replacement\s*=\s*"([^"$]*)""#));
static QUOTED: LazyLock<Regex> = LazyLock::new(|| re(r#""([a-z_][a-z0-9_]*)""#));
static LOKI_SOURCE: LazyLock<Regex> =
    LazyLock::new(|| re(r#"PLATCTL_LOKI_SOURCE:?\s*(?:value:\s*)?"?([a-z0-9_-]+)"#));
static SELECTOR: LazyLock<Regex> = LazyLock::new(|| re(r"\{([^{}]*)\}"));
static MATCHER: LazyLock<Regex> =
    LazyLock::new(|| re(r#"([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)""#));
static BY: LazyLock<Regex> = LazyLock::new(|| re(r"\b(?:by|without)\s*\(([^)]*)\)"));

/// The Loki labels the checked tree writes.
pub fn produced(repo: &Repo) -> Produced {
    let mut p = Produced::default();
    let add = |p: &mut Produced, k: &str, v: Option<&str>| {
        let e = p.labels.entry(k.to_owned()).or_default();
        if let Some(v) = v {
            e.insert(v.to_owned());
        }
    };
    for k in AUDIT_LABELS {
        add(&mut p, k, None);
    }
    add(&mut p, "source", Some("platctl"));
    p.open.extend(["env".to_owned(), "action".to_owned()]);
    for f in &repo.files {
        let text = &f.text;
        for c in LOKI_SOURCE.captures_iter(text) {
            add(&mut p, "source", Some(&c[1]));
        }
        // A label_keep drops what it does not list, but a label only some
        // other pipeline keeps is still produced: every listed name counts.
        for c in LABEL_KEEP.captures_iter(text) {
            for q in QUOTED.captures_iter(&c[1]) {
                add(&mut p, &q[1], None);
            }
        }
        for c in STATIC.captures_iter(text) {
            for kv in KV.captures_iter(&c[1]) {
                add(&mut p, &kv[1], Some(&kv[2]));
            }
        }
        // stage.labels sets values from log data: open.
        for c in LABELS_STAGE.captures_iter(text) {
            for kv in KV.captures_iter(&c[1]) {
                add(&mut p, &kv[1], None);
                p.open.insert(kv[1].to_owned());
            }
        }
        // Relabel rules: a constant replacement without source labels is a
        // value; anything computed from metadata leaves the label open.
        for rule in RULE.captures_iter(text) {
            let Some(t) = TARGET.captures(&rule[1]) else { continue };
            let target = &t[1];
            if target.starts_with("__") {
                continue;
            }
            let constant =
                REPLACEMENT.captures(&rule[1]).filter(|_| !rule[1].contains("source_labels"));
            match constant {
                Some(r) => add(&mut p, target, Some(&r[1])),
                None => {
                    add(&mut p, target, None);
                    p.open.insert(target.to_owned());
                }
            }
        }
    }
    p
}

fn loki_exprs(panel: &Value, out: &mut Vec<(String, String)>) {
    let is_loki = |v: &Value| v["datasource"]["type"] == "loki";
    let title = panel["title"].as_str().unwrap_or("").to_owned();
    if is_loki(panel) {
        for t in panel["targets"].as_array().into_iter().flatten() {
            if let Some(e) = t["expr"].as_str() {
                out.push((title.clone(), e.to_owned()));
            }
        }
    }
    for p in panel["panels"].as_array().into_iter().flatten() {
        loki_exprs(p, out);
    }
}

/// The line of a query in its dashboard file: where its JSON-escaped text
/// is, else where its panel's title is, else 0 (the file).
pub(crate) fn line_of(file: &SourceFile, panel: &str, expr: &str) -> usize {
    let escaped = serde_json::to_string(expr).unwrap_or_default();
    let inner = escaped.trim_matches('"');
    let title = serde_json::to_string(panel).unwrap_or_default();
    if let Some(pos) = file.text.find(inner).filter(|_| !inner.is_empty()) {
        return file.line_of(pos);
    }
    file.text.find(&format!("\"title\": {title}")).map_or(0, |pos| file.line_of(pos))
}

/// OBS006: every Loki label (and `=` value) the dashboards use that
/// [`produced`] does not write.
pub fn check(repo: &Repo, out: &mut Vec<Finding>) {
    let dashboards: Vec<&SourceFile> = repo
        .files
        .iter()
        .filter(|f| {
            f.kind == Kind::Json && f.json_value.as_ref().is_some_and(|v| v["panels"].is_array())
        })
        .collect();
    if dashboards.is_empty() {
        return;
    }
    let produced = produced(repo);
    let known = || produced.labels.keys().cloned().collect::<Vec<_>>().join(", ");
    for file in dashboards {
        let Some(dash) = &file.json_value else { continue };
        let mut exprs = Vec::new();
        for p in dash["panels"].as_array().into_iter().flatten() {
            loki_exprs(p, &mut exprs);
        }
        let mut seen = BTreeSet::new();
        for (panel, expr) in exprs {
            let line = line_of(file, &panel, &expr);
            let mut bad = |label: &str, value: Option<&str>| {
                if !seen.insert((panel.clone(), label.to_owned(), value.map(str::to_owned))) {
                    return;
                }
                let msg = match value {
                    None => format!(
                        "panel {panel:?} queries the Loki label {label:?}, which nothing in the tree writes (written: {})",
                        known()
                    ),
                    Some(v) => format!(
                        "panel {panel:?} queries {label}=\"{v}\", a value nothing in the tree writes (written: {})",
                        produced
                            .labels
                            .get(label)
                            .map(|s| s.iter().cloned().collect::<Vec<_>>().join(", "))
                            .unwrap_or_default()
                    ),
                };
                out.push(finding(RuleId::Obs006, &file.rel, line, msg));
            };
            for sel in SELECTOR.captures_iter(&expr) {
                // {{legend}} templates are not selectors.
                if sel[1].trim().is_empty() || !sel[1].contains(['=', '~']) {
                    continue;
                }
                for m in MATCHER.captures_iter(&sel[1]) {
                    let (label, op, value) = (&m[1], &m[2], &m[3]);
                    match produced.labels.get(label) {
                        None => bad(label, None),
                        Some(values) => {
                            let literal = op == "=" && !value.contains('$');
                            if literal
                                && !produced.open.contains(label)
                                && !values.is_empty()
                                && !values.contains(value)
                            {
                                bad(label, Some(value));
                            }
                        }
                    }
                }
            }
            for by in BY.captures_iter(&expr) {
                for label in by[1].split(',').map(str::trim).filter(|l| !l.is_empty()) {
                    if !produced.labels.contains_key(label) {
                        bad(label, None);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_matchers_and_groupings_are_read() {
        let m: Vec<(String, String, String)> = MATCHER
            .captures_iter(r#"source="ci", env=~"$env", action!="x""#)
            .map(|c| (c[1].to_owned(), c[2].to_owned(), c[3].to_owned()))
            .collect();
        assert_eq!(m.len(), 3);
        assert_eq!(m[1], ("env".into(), "=~".into(), "$env".into()));
        let by: Vec<String> =
            BY.captures_iter("sum by (source, action) (x)").map(|c| c[1].to_owned()).collect();
        assert_eq!(by, ["source, action"]);
    }
}
