//! Terraform's machine-readable UI (`terraform plan -json`), read as a
//! stream of lines into typed messages.
//!
//! Only three message types matter for drift: `resource_drift` (real
//! infrastructure changed outside Terraform), `planned_change` (the
//! configuration is not applied) and `diagnostic`. Every other type, and any
//! line that is not JSON, is skipped. A cheap substring test decides whether a
//! line can be one of those types before any JSON parsing, which is what makes
//! the parser fast; memory is bounded by the line buffer and the caps on the
//! number of entries kept per class.

use std::io::BufRead;

use serde::{Deserialize, Serialize};

/// One change Terraform reported for a resource instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceChange {
    pub address: String,
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A Terraform diagnostic (error or warning).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    pub severity: String,
    pub summary: String,
    #[serde(default)]
    pub detail: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

/// A typed message. Types we do not use are not represented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Drift(ResourceChange),
    Planned(ResourceChange),
    Diagnostic(Diagnostic),
}

#[derive(Deserialize)]
struct RawLine<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
    change: Option<RawChange>,
    diagnostic: Option<RawDiagnostic>,
}

#[derive(Deserialize)]
struct RawChange {
    resource: RawResource,
    action: String,
    reason: Option<String>,
}

#[derive(Deserialize)]
struct RawResource {
    addr: String,
}

#[derive(Deserialize)]
struct RawDiagnostic {
    severity: String,
    summary: String,
    #[serde(default)]
    detail: String,
    address: Option<String>,
    range: Option<RawRange>,
}

#[derive(Deserialize)]
struct RawRange {
    filename: String,
    start: RawPos,
}

#[derive(Deserialize)]
struct RawPos {
    line: u64,
}

const WANTED: [&[u8]; 3] = [b"resource_drift", b"planned_change", b"diagnostic"];

/// Parse one line. `None` for lines of other types, blank lines, non-JSON.
pub fn parse_line(line: &[u8]) -> Option<Message> {
    // Every wanted message contains its type name; most lines (refresh hooks,
    // logs, outputs) contain none of them and are skipped without parsing.
    if !WANTED.iter().any(|w| memchr::memmem::find(line, w).is_some()) {
        return None;
    }
    let raw: RawLine<'_> = serde_json::from_slice(line).ok()?;
    match raw.kind.as_ref() {
        "resource_drift" | "planned_change" => {
            let c = raw.change?;
            let change =
                ResourceChange { address: c.resource.addr, action: c.action, reason: c.reason };
            Some(if raw.kind == "resource_drift" {
                Message::Drift(change)
            } else {
                Message::Planned(change)
            })
        }
        "diagnostic" => {
            let d = raw.diagnostic?;
            Some(Message::Diagnostic(Diagnostic {
                severity: d.severity,
                summary: d.summary,
                detail: d.detail,
                address: d.address,
                location: d.range.map(|r| format!("{}:{}", r.filename, r.start.line)),
            }))
        }
        _ => None,
    }
}

/// What one plan stream said, with at most `cap` entries kept per class.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanFindings {
    pub drift: Vec<ResourceChange>,
    pub pending: Vec<ResourceChange>,
    pub errors: Vec<Diagnostic>,
    pub warnings: Vec<Diagnostic>,
    pub drift_count: u64,
    pub pending_count: u64,
    pub error_count: u64,
    /// True when more entries were seen than kept.
    pub truncated: bool,
    /// Lines read, and bytes read.
    pub lines: u64,
    pub bytes: u64,
}

/// Entries kept per class; counts keep going past it.
pub const DEFAULT_CAP: usize = 10_000;

impl PlanFindings {
    fn keep<T>(list: &mut Vec<T>, item: T, cap: usize, truncated: &mut bool) {
        if list.len() < cap {
            list.push(item);
        } else {
            *truncated = true;
        }
    }

    pub fn add(&mut self, msg: Message, cap: usize) {
        match msg {
            Message::Drift(c) => {
                self.drift_count += 1;
                Self::keep(&mut self.drift, c, cap, &mut self.truncated);
            }
            // A no-op planned change is not pending work.
            Message::Planned(c) if c.action == "no-op" || c.action == "noop" => {}
            Message::Planned(c) => {
                self.pending_count += 1;
                Self::keep(&mut self.pending, c, cap, &mut self.truncated);
            }
            Message::Diagnostic(d) if d.severity == "error" => {
                self.error_count += 1;
                Self::keep(&mut self.errors, d, cap, &mut self.truncated);
            }
            Message::Diagnostic(d) => Self::keep(&mut self.warnings, d, cap, &mut self.truncated),
        }
    }
}

/// Read a whole stream. Lines longer than `max_line` bytes are skipped (after
/// being read past) so one absurd line cannot exhaust memory.
pub fn read_stream<R: BufRead>(mut reader: R, cap: usize) -> std::io::Result<PlanFindings> {
    const MAX_LINE: usize = 64 * 1024 * 1024;
    let mut findings = PlanFindings::default();
    let mut line = Vec::with_capacity(64 * 1024);
    loop {
        line.clear();
        let n = read_line_bounded(&mut reader, &mut line, MAX_LINE)?;
        if n == 0 {
            break;
        }
        findings.lines += 1;
        findings.bytes += n as u64;
        if let Some(msg) = parse_line(&line) {
            findings.add(msg, cap);
        }
        if line.capacity() > 1024 * 1024 {
            // Give back memory a huge line made us take.
            line = Vec::with_capacity(64 * 1024);
        }
    }
    Ok(findings)
}

/// Read one line (up to and including `\n`) into `buf`, keeping at most `max`
/// bytes; returns the number of bytes consumed from the reader.
fn read_line_bounded<R: BufRead>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<usize> {
    let mut consumed = 0;
    loop {
        let available = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(consumed);
        }
        let (chunk, done) = match memchr::memchr(b'\n', available) {
            Some(i) => (&available[..=i], true),
            None => (available, false),
        };
        let room = max.saturating_sub(buf.len());
        buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let len = chunk.len();
        reader.consume(len);
        consumed += len;
        if done {
            return Ok(consumed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHANGES: &str = include_str!("../tests/data/plan_changes.jsonl");
    const ERROR: &str = include_str!("../tests/data/plan_error.jsonl");
    const CLEAN: &str = include_str!("../tests/data/plan_clean.jsonl");

    #[test]
    fn recorded_plan_with_changes() {
        let f = read_stream(CHANGES.as_bytes(), DEFAULT_CAP).expect("read");
        let addrs: Vec<(&str, &str)> =
            f.pending.iter().map(|c| (c.address.as_str(), c.action.as_str())).collect();
        assert_eq!(
            addrs,
            [
                ("terraform_data.app[2]", "delete"),
                ("terraform_data.app[0]", "update"),
                ("terraform_data.app[1]", "update")
            ]
        );
        assert_eq!(f.pending[0].reason.as_deref(), Some("delete_because_count_index"));
        assert_eq!((f.drift_count, f.pending_count, f.error_count), (0, 3, 0));
    }

    #[test]
    fn recorded_plan_with_an_error_and_a_clean_plan() {
        let f = read_stream(ERROR.as_bytes(), DEFAULT_CAP).expect("read");
        assert_eq!(f.error_count, 1);
        assert_eq!(f.errors[0].summary, "Invalid reference");
        assert_eq!(f.errors[0].location.as_deref(), Some("bad.tf:1"));
        let f = read_stream(CLEAN.as_bytes(), DEFAULT_CAP).expect("read");
        assert_eq!((f.drift_count, f.pending_count, f.error_count), (0, 0, 0));
        assert!(f.lines > 3);
    }

    #[test]
    fn resource_drift_and_unknown_types() {
        // resource_drift has the planned_change shape (Terraform's views/json message types).
        let stream = concat!(
            r#"{"@level":"info","@message":"linode_firewall.nodes: Drift detected (update)","@module":"terraform.ui","change":{"resource":{"addr":"module.fw.linode_firewall.nodes","module":"module.fw","resource":"linode_firewall.nodes","implied_provider":"linode","resource_type":"linode_firewall","resource_name":"nodes","resource_key":null},"action":"update"},"type":"resource_drift"}"#,
            "\n",
            r#"{"type":"some_future_type","change":{"resource":{"addr":"x"},"action":"update"}}"#,
            "\n",
            "not json at all, mentions planned_change\n",
            r#"{"type":"planned_change","change":{"resource":{"addr":"a.b"},"action":"no-op"}}"#,
            "\n"
        );
        let f = read_stream(stream.as_bytes(), DEFAULT_CAP).expect("read");
        assert_eq!(
            f.drift,
            vec![ResourceChange {
                address: "module.fw.linode_firewall.nodes".into(),
                action: "update".into(),
                reason: None
            }]
        );
        assert_eq!(f.pending_count, 0, "unknown types and no-ops are not pending");
        assert_eq!(f.lines, 4);
    }

    #[test]
    fn caps_entries_but_keeps_counting() {
        let line =
            r#"{"type":"planned_change","change":{"resource":{"addr":"r"},"action":"create"}}"#;
        let stream = format!("{line}\n").repeat(50);
        let f = read_stream(stream.as_bytes(), 10).expect("read");
        assert_eq!((f.pending.len(), f.pending_count, f.truncated), (10, 50, true));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_lines_never_panic(lines in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..300), 0..40)) {
            let mut stream = Vec::new();
            for l in &lines {
                stream.extend_from_slice(l);
                stream.push(b'\n');
            }
            let f = read_stream(stream.as_slice(), 5).expect("in-memory read");
            proptest::prop_assert!(f.lines as usize >= lines.len());
        }

        #[test]
        fn json_shaped_noise_never_panics(kind in "(resource_drift|planned_change|diagnostic|x)", body in ".{0,200}") {
            let line = format!(r#"{{"type":"{kind}","change":{body},"diagnostic":{body}}}"#);
            let _ = parse_line(line.as_bytes());
        }
    }
}
