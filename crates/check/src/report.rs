//! Reporters: human (with the offending line in context), JSON, SARIF 2.1.0.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

use serde_json::{Value, json};

use crate::{Finding, RULES, Report, Severity, Suppressed};

/// Human output. `color` adds ANSI colour (the caller decides: TTY and NO_COLOR).
pub fn human(report: &Report, root: &Path, color: bool) -> String {
    let paint = |code: &str, s: &str| {
        if color { format!("\x1b[{code}m{s}\x1b[0m") } else { s.to_owned() }
    };
    let mut texts: HashMap<&str, Option<String>> = HashMap::new();
    let mut out = String::new();
    for f in &report.findings {
        let sev = match f.severity {
            Severity::Error => paint("1;31", "error"),
            Severity::Warning => paint("1;33", "warning"),
        };
        let loc = if f.line > 0 { format!("{}:{}", f.file, f.line) } else { f.file.clone() };
        let _ = writeln!(out, "{sev}[{}] {}: {}", f.rule, paint("1", &loc), f.message);
        if f.line > 0 {
            let text = texts
                .entry(f.file.as_str())
                .or_insert_with(|| std::fs::read_to_string(root.join(&f.file)).ok());
            if let Some(text) = text {
                let lines: Vec<&str> = text.lines().collect();
                let from = f.line.saturating_sub(2).max(1);
                let to = (f.line + 1).min(lines.len());
                for n in from..=to {
                    let Some(l) = lines.get(n - 1) else { continue };
                    let l: String = l.chars().take(160).collect();
                    if n == f.line {
                        let _ =
                            writeln!(out, "  {} {n:>4} | {}", paint("1;31", ">"), paint("1", &l));
                    } else {
                        let _ = writeln!(out, "    {n:>4} | {l}");
                    }
                }
            }
        }
        let _ = writeln!(out, "  {} {}\n", paint("36", "fix:"), f.fix);
    }
    if !report.suppressed.is_empty() {
        let _ = writeln!(out, "suppressed ({}):", report.suppressed.len());
        for s in &report.suppressed {
            let by = s
                .suppression_file
                .as_ref()
                .map(|f| format!("; {f}:{}", s.suppression_line))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  {}[{}] {}:{}: {} (reason: {}{by})",
                s.finding.severity.as_str(),
                s.finding.rule,
                s.finding.file,
                s.finding.line,
                s.finding.message,
                s.reason
            );
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "{} error(s), {} warning(s), {} suppressed; {} files, {} Kubernetes objects checked",
        report.errors(),
        report.warnings(),
        report.suppressed.len(),
        report.files_checked,
        report.objects_validated
    );
    out
}

fn finding_json(f: &Finding) -> Value {
    json!({"rule": f.rule, "severity": f.severity, "message": f.message, "file": f.file, "line": f.line, "fix": f.fix})
}

/// JSON output: `{findings, suppressed, summary}`.
pub fn json(report: &Report) -> Value {
    json!({
        "findings": report.findings.iter().map(finding_json).collect::<Vec<_>>(),
        "suppressed": report.suppressed.iter().map(|s| {
            let mut v = finding_json(&s.finding);
            v["reason"] = json!(s.reason);
            v["suppression_line"] = json!(s.suppression_line);
            if let Some(file) = &s.suppression_file {
                v["suppression_file"] = json!(file);
            }
            v
        }).collect::<Vec<_>>(),
        "summary": {
            "errors": report.errors(),
            "warnings": report.warnings(),
            "suppressed": report.suppressed.len(),
            "files": report.files_checked,
            "objects": report.objects_validated,
            "render": report.render,
            "suppressions_file": report.suppressions_file,
        }
    })
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

fn sarif_result(f: &Finding, suppression: Option<&Suppressed>) -> Value {
    let rule_index = RULES.iter().position(|r| r.id == f.rule).unwrap_or(0);
    let mut physical = json!({"artifactLocation": {"uri": f.file, "uriBaseId": "%SRCROOT%"}});
    if f.line > 0 {
        physical["region"] = json!({"startLine": f.line});
    }
    let mut r = json!({
        "ruleId": f.rule,
        "ruleIndex": rule_index,
        "level": level(f.severity),
        "message": {"text": format!("{} Fix: {}", f.message, f.fix)},
        "locations": [{"physicalLocation": physical}],
    });
    // An inline comment is `inSource`; an entry of the render suppression
    // file is `external`, located at that entry.
    match suppression {
        Some(Suppressed { reason, suppression_file: Some(file), suppression_line, .. }) => {
            r["suppressions"] = json!([{
                "kind": "external",
                "justification": reason,
                "location": {"physicalLocation": {
                    "artifactLocation": {"uri": file},
                    "region": {"startLine": suppression_line},
                }},
            }]);
        }
        Some(s) => {
            r["suppressions"] = json!([{"kind": "inSource", "justification": s.reason}]);
        }
        None => {}
    }
    r
}

/// SARIF 2.1.0 for GitHub code scanning. URIs are relative to `%SRCROOT%`.
pub fn sarif(report: &Report, version: &str) -> Value {
    let rules: Vec<Value> = RULES
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "name": r.id,
                "shortDescription": {"text": r.title},
                "fullDescription": {"text": r.title},
                "help": {"text": format!("{} Fix: {}. See docs/rules.md#{}", r.title, r.fix, r.id.code().to_lowercase())},
                "defaultConfiguration": {"level": level(r.severity)},
            })
        })
        .collect();
    let mut results: Vec<Value> = report.findings.iter().map(|f| sarif_result(f, None)).collect();
    results.extend(report.suppressed.iter().map(|s| sarif_result(&s.finding, Some(s))));
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "platctl check",
                "version": version,
                "informationUri": "https://github.com/platctl/platctl/blob/main/docs/rules.md",
                "rules": rules,
            }},
            "results": results,
        }]
    })
}
