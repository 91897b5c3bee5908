//! Loki labels a dashboard queries must be labels something in the tree
//! writes. Produced: the Alloy pipelines in `deploy/` (`stage.label_keep`,
//! `stage.static_labels`, relabel `target_label`s and their constant
//! replacements) and platctl's audit streams (`source`, `env`, `action`; the
//! source `platctl`, or a `PLATCTL_LOKI_SOURCE` some workflow or manifest
//! sets). Used: the stream selectors and `by (...)` groupings of every Loki
//! query in the Grafana dashboards under `deploy/`. The logic of a coming
//! `platctl check` rule (its PromQL half needs the exporters' label sets and
//! is not here).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;
use serde_json::Value;

/// Labels written, with the constant values seen for each (empty: any value).
#[derive(Debug, Default)]
pub struct Produced {
    pub labels: BTreeMap<String, BTreeSet<String>>,
    /// Labels whose values are not all constants (relabelled from metadata).
    pub open: BTreeSet<String>,
}

/// A label a dashboard uses that nothing produces (or a value nothing writes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unproduced {
    pub file: String,
    pub panel: String,
    pub label: String,
    /// The value matched with `=`, when the label exists but never has it.
    pub value: Option<String>,
}

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

/// The Loki labels the tree at `root` writes.
pub fn produced(root: &Path) -> Produced {
    let mut p = Produced::default();
    let add = |p: &mut Produced, k: &str, v: Option<&str>| {
        let e = p.labels.entry(k.to_owned()).or_default();
        if let Some(v) = v {
            e.insert(v.to_owned());
        }
    };
    // platctl's audit streams.
    for k in ["source", "env", "action"] {
        add(&mut p, k, None);
    }
    add(&mut p, "source", Some("platctl"));
    p.open.extend(["env".to_owned(), "action".to_owned()]);
    let mut files = crate::tree::files_under(&root.join("deploy"));
    files.extend(crate::tree::files_under(&root.join(".github/workflows")));
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else { continue };
        for c in LOKI_SOURCE.captures_iter(&text) {
            add(&mut p, "source", Some(&c[1]));
        }
        let mut kept: Option<BTreeSet<String>> = None;
        for c in LABEL_KEEP.captures_iter(&text) {
            let names: BTreeSet<String> =
                QUOTED.captures_iter(&c[1]).map(|q| q[1].to_owned()).collect();
            for n in &names {
                add(&mut p, n, None);
            }
            kept.get_or_insert_with(BTreeSet::new).extend(names);
        }
        for c in STATIC.captures_iter(&text) {
            for kv in KV.captures_iter(&c[1]) {
                add(&mut p, &kv[1], Some(&kv[2]));
            }
        }
        // stage.labels and relabel rules set values from data: open.
        for c in LABELS_STAGE.captures_iter(&text) {
            for kv in KV.captures_iter(&c[1]) {
                add(&mut p, &kv[1], None);
                p.open.insert(kv[1].to_owned());
            }
        }
        // Relabel rules: a constant replacement without source labels is a
        // value; anything computed from metadata leaves the label open.
        for rule in RULE.captures_iter(&text) {
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
        // A label_keep drops what it does not list: a label only some other
        // pipeline keeps is still produced, so nothing is removed here.
        let _ = kept;
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

/// Every Loki label (and `=` value) the dashboards under `deploy/` use that
/// [`produced`] does not write.
pub fn check(root: &Path) -> Vec<Unproduced> {
    let produced = produced(root);
    let mut files = crate::tree::files_under(&root.join("deploy"));
    files.sort();
    let mut out = Vec::new();
    for f in files.iter().filter(|f| f.extension().is_some_and(|x| x == "json")) {
        let Ok(text) = std::fs::read_to_string(f) else { continue };
        let Ok(dash) = serde_json::from_str::<Value>(&text) else { continue };
        let rel = f.strip_prefix(root).unwrap_or(f).to_string_lossy().replace('\\', "/");
        let mut exprs = Vec::new();
        for p in dash["panels"].as_array().into_iter().flatten() {
            loki_exprs(p, &mut exprs);
        }
        for (panel, expr) in exprs {
            let mut bad = |label: &str, value: Option<&str>| {
                let u = Unproduced {
                    file: rel.clone(),
                    panel: panel.clone(),
                    label: label.to_owned(),
                    value: value.map(str::to_owned),
                };
                if !out.contains(&u) {
                    out.push(u);
                }
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
    out
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
