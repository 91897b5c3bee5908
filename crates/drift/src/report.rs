//! Drift reports: per env, compared with the previous report kept in the
//! store, rendered as a table, JSON or Markdown.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::parse::{Diagnostic, PlanFindings};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Clean,
    /// Pending changes only.
    Pending,
    /// Real infrastructure changed outside Terraform (maybe pending too).
    Drift,
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    Drift,
    Pending,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Drift => "drift",
            Class::Pending => "pending",
        }
    }
}

/// One drifted or pending resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub class: Class,
    pub address: String,
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When a check first saw this (class, address).
    #[serde(with = "time::serde::rfc3339")]
    pub first_seen: OffsetDateTime,
    /// First seen by this check.
    pub new: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub drift: u64,
    pub pending: u64,
    pub errors: u64,
    pub new: u64,
    pub resolved: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvReport {
    pub env: String,
    pub status: Status,
    #[serde(with = "time::serde::rfc3339")]
    pub checked_at: OffsetDateTime,
    pub duration_ms: u64,
    pub counts: Counts,
    pub entries: Vec<Entry>,
    /// Entries of the previous report that are gone now.
    pub resolved: Vec<Entry>,
    pub errors: Vec<Diagnostic>,
    #[serde(default)]
    pub truncated: bool,
    /// terraform's exit code for the plan (`-detailed-exitcode`), if it ran.
    pub terraform_exit_code: Option<i32>,
    /// Status of the previous report, if any.
    pub previous_status: Option<Status>,
}

impl EnvReport {
    /// Build from plan findings, carrying first-seen times over from `previous`.
    pub fn build(
        env: &str,
        findings: &PlanFindings,
        exit_code: Option<i32>,
        extra_errors: Vec<Diagnostic>,
        previous: Option<&EnvReport>,
        now: OffsetDateTime,
        duration_ms: u64,
    ) -> EnvReport {
        let seen: BTreeMap<(Class, &str), OffsetDateTime> = previous
            .map(|p| {
                p.entries.iter().map(|e| ((e.class, e.address.as_str()), e.first_seen)).collect()
            })
            .unwrap_or_default();
        let mut entries = Vec::new();
        for (class, list) in [(Class::Drift, &findings.drift), (Class::Pending, &findings.pending)]
        {
            for c in list {
                let first = seen.get(&(class, c.address.as_str())).copied();
                entries.push(Entry {
                    class,
                    address: c.address.clone(),
                    action: c.action.clone(),
                    reason: c.reason.clone(),
                    first_seen: first.unwrap_or(now),
                    new: first.is_none(),
                });
            }
        }
        let mut errors = findings.errors.clone();
        errors.extend(extra_errors);
        let error_count =
            findings.error_count + errors.len().saturating_sub(findings.errors.len()) as u64;
        let resolved: Vec<Entry> = match previous {
            // An errored check proves nothing about resolution.
            Some(p) if error_count == 0 => p
                .entries
                .iter()
                .filter(|e| !entries.iter().any(|n| n.class == e.class && n.address == e.address))
                .cloned()
                .collect(),
            _ => Vec::new(),
        };
        let status = if error_count > 0
            || exit_code == Some(1)
            || (exit_code.is_none() && errors.is_empty() && findings.lines == 0)
        {
            Status::Error
        } else if findings.drift_count > 0 {
            Status::Drift
        } else if findings.pending_count > 0 {
            Status::Pending
        } else {
            Status::Clean
        };
        let counts = Counts {
            drift: findings.drift_count,
            pending: findings.pending_count,
            errors: error_count.max(u64::from(status == Status::Error)),
            new: entries.iter().filter(|e| e.new).count() as u64,
            resolved: resolved.len() as u64,
        };
        EnvReport {
            env: env.to_owned(),
            status,
            checked_at: now,
            duration_ms,
            counts,
            entries,
            resolved,
            errors,
            truncated: findings.truncated,
            terraform_exit_code: exit_code,
            previous_status: previous.map(|p| p.status),
        }
    }

    /// A report for an env whose check could not run at all.
    pub fn failed(
        env: &str,
        message: String,
        previous: Option<&EnvReport>,
        now: OffsetDateTime,
        duration_ms: u64,
    ) -> EnvReport {
        let diag = Diagnostic {
            severity: "error".into(),
            summary: message,
            detail: String::new(),
            address: None,
            location: None,
        };
        EnvReport::build(
            env,
            &PlanFindings::default(),
            None,
            vec![diag],
            previous,
            now,
            duration_ms,
        )
    }
}

fn ts(t: OffsetDateTime) -> String {
    t.replace_nanosecond(0).ok().and_then(|t| t.format(&Rfc3339).ok()).unwrap_or_default()
}

fn since(t: OffsetDateTime, now: OffsetDateTime) -> String {
    let s = (now - t).whole_seconds().max(0);
    match s {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

pub fn render_table(reports: &[EnvReport]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<14} {:<8} {:>6} {:>8} {:>7} {:>4} {:>9}",
        "ENV", "STATUS", "DRIFT", "PENDING", "ERRORS", "NEW", "RESOLVED"
    );
    for r in reports {
        let _ = writeln!(
            out,
            "{:<14} {:<8} {:>6} {:>8} {:>7} {:>4} {:>9}",
            r.env,
            format!("{:?}", r.status).to_lowercase(),
            r.counts.drift,
            r.counts.pending,
            r.counts.errors,
            r.counts.new,
            r.counts.resolved
        );
    }
    for r in reports {
        for e in &r.entries {
            let tag = if e.new {
                "NEW".to_owned()
            } else {
                format!("for {}", since(e.first_seen, r.checked_at))
            };
            let reason = e.reason.as_deref().map(|x| format!(" ({x})")).unwrap_or_default();
            let _ = writeln!(
                out,
                "  {}: {:<7} {} {}{reason} [{tag}]",
                r.env,
                e.class.as_str(),
                e.action,
                e.address
            );
        }
        for e in &r.resolved {
            let _ = writeln!(
                out,
                "  {}: resolved {} {} (seen since {})",
                r.env,
                e.class.as_str(),
                e.address,
                ts(e.first_seen)
            );
        }
        for d in &r.errors {
            let loc = d.location.as_deref().map(|l| format!(" at {l}")).unwrap_or_default();
            let _ = writeln!(out, "  {}: error: {}{loc}", r.env, d.summary);
        }
    }
    out
}

/// Markdown for a GitHub job summary or issue body: one `## <env>` section per
/// env; a clean env's section says "No drift". Sections hold no volatile text
/// (no check time, no durations), so an unchanged drift renders identically.
pub fn render_markdown(reports: &[EnvReport]) -> String {
    let mut out = String::new();
    for r in reports {
        let _ = writeln!(out, "## {}\n", r.env);
        match r.status {
            Status::Clean => {
                let _ = writeln!(out, "No drift: the plan is empty.");
                if !r.resolved.is_empty() {
                    let _ = writeln!(out, "\nResolved since the previous check:\n");
                    for e in &r.resolved {
                        let _ = writeln!(
                            out,
                            "- `{}` ({}, seen since {})",
                            e.address,
                            e.class.as_str(),
                            ts(e.first_seen)
                        );
                    }
                }
            }
            Status::Error => {
                let _ = writeln!(
                    out,
                    "**The drift check failed**; nothing can be said about drift until it runs.\n"
                );
                for d in &r.errors {
                    let loc =
                        d.location.as_deref().map(|l| format!(" (`{l}`)")).unwrap_or_default();
                    let _ = writeln!(out, "- {}{loc}", d.summary);
                }
            }
            Status::Drift | Status::Pending => {
                let _ = writeln!(
                    out,
                    "**{} drifted**, **{} pending** ({} new since the previous check).\n",
                    r.counts.drift, r.counts.pending, r.counts.new
                );
                let _ = writeln!(
                    out,
                    "| class | address | action | reason | since |\n|---|---|---|---|---|"
                );
                for e in &r.entries {
                    let _ = writeln!(
                        out,
                        "| {}{} | `{}` | {} | {} | {} |",
                        e.class.as_str(),
                        if e.new { " (new)" } else { "" },
                        e.address,
                        e.action,
                        e.reason.as_deref().unwrap_or("-"),
                        ts(e.first_seen)
                    );
                }
                if r.truncated {
                    let _ = writeln!(out, "\n(The list is truncated; the counts are complete.)");
                }
                if !r.resolved.is_empty() {
                    let _ = writeln!(
                        out,
                        "\nResolved since the previous check: {}",
                        r.resolved
                            .iter()
                            .map(|e| format!("`{}`", e.address))
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                }
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{ResourceChange, read_stream};

    fn findings(pending: &[&str]) -> PlanFindings {
        let mut f = read_stream(&b""[..], 10).expect("empty");
        f.lines = 5;
        for a in pending {
            f.pending.push(ResourceChange {
                address: (*a).into(),
                action: "update".into(),
                reason: None,
            });
            f.pending_count += 1;
        }
        f
    }

    #[test]
    fn new_known_and_resolved() {
        let t0 = OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("t0");
        let t1 = t0 + time::Duration::hours(1);
        let first =
            EnvReport::build("staging", &findings(&["a", "b"]), Some(2), vec![], None, t0, 10);
        assert_eq!(first.counts.new, 2);
        let second = EnvReport::build(
            "staging",
            &findings(&["b", "c"]),
            Some(2),
            vec![],
            Some(&first),
            t1,
            10,
        );
        let b = second.entries.iter().find(|e| e.address == "b").expect("b");
        assert!(!b.new);
        assert_eq!(b.first_seen, t0, "known drift keeps its first-seen time");
        assert!(second.entries.iter().find(|e| e.address == "c").is_some_and(|e| e.new));
        assert_eq!(second.resolved.iter().map(|e| e.address.as_str()).collect::<Vec<_>>(), ["a"]);
        let md = render_markdown(std::slice::from_ref(&second));
        assert!(md.starts_with("## staging\n"));
        assert!(!md.contains("No drift"));
        let clean =
            EnvReport::build("staging", &findings(&[]), Some(0), vec![], Some(&second), t1, 10);
        assert_eq!(clean.status, Status::Clean);
        assert_eq!(clean.counts.resolved, 2);
        assert!(render_markdown(&[clean]).contains("No drift"));
    }

    #[test]
    fn unchanged_drift_renders_identically() {
        let t0 = OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("t0");
        let first = EnvReport::build("p", &findings(&["a"]), Some(2), vec![], None, t0, 10);
        let second = EnvReport::build(
            "p",
            &findings(&["a"]),
            Some(2),
            vec![],
            Some(&first),
            t0 + time::Duration::hours(3),
            99,
        );
        let strip = |s: String| s.replace(" (new)", "").replace("(1 new", "(0 new");
        assert_eq!(strip(render_markdown(&[first])), render_markdown(&[second]));
    }
}
