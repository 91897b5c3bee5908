//! Finds Terraform's change summary in its human output, as it streams.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct ChangeSummary {
    pub add: u64,
    pub change: u64,
    pub destroy: u64,
    /// "plan" for "Plan: ..." lines, "apply" / "destroy" for completion lines.
    pub kind: &'static str,
}

#[derive(Default)]
pub struct Detector {
    line: Vec<u8>,
    found: Option<ChangeSummary>,
}

impl Detector {
    pub fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if b == b'\n' {
                let line = std::mem::take(&mut self.line);
                self.line_done(&line);
            } else if self.line.len() < 4096 {
                self.line.push(b);
            }
        }
    }

    pub fn finish(mut self) -> Option<ChangeSummary> {
        let line = std::mem::take(&mut self.line);
        self.line_done(&line);
        self.found
    }

    fn line_done(&mut self, raw: &[u8]) {
        let text = strip_ansi(&String::from_utf8_lossy(raw));
        let text = text.trim();
        if let Some(s) = parse_line(text) {
            // Completion lines win over plan lines printed before them.
            if self.found.is_none_or(|f| f.kind == "plan" || s.kind != "plan") {
                self.found = Some(s);
            }
        }
    }
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn numbers(s: &str) -> Vec<u64> {
    s.split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty())
        .filter_map(|p| p.parse().ok())
        .collect()
}

pub(crate) fn parse_line(line: &str) -> Option<ChangeSummary> {
    if let Some(rest) = line.strip_prefix("Plan: ") {
        let n = numbers(rest);
        return (n.len() >= 3).then(|| ChangeSummary {
            add: n[0],
            change: n[1],
            destroy: n[2],
            kind: "plan",
        });
    }
    if let Some(rest) = line.strip_prefix("Apply complete! Resources: ") {
        let n = numbers(rest);
        // "N added, N changed, N destroyed" (an import count may come first).
        return (n.len() >= 3).then(|| {
            let k = n.len() - 3;
            ChangeSummary { add: n[k], change: n[k + 1], destroy: n[k + 2], kind: "apply" }
        });
    }
    if let Some(rest) = line.strip_prefix("Destroy complete! Resources: ") {
        let n = numbers(rest);
        return n.first().map(|&d| ChangeSummary {
            add: 0,
            change: 0,
            destroy: d,
            kind: "destroy",
        });
    }
    if line.starts_with("No changes.") {
        return Some(ChangeSummary { kind: "plan", ..ChangeSummary::default() });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_plan_apply_and_destroy_lines_through_colour_codes() {
        let mut d = Detector::default();
        d.feed(b"\x1b[1mPlan:\x1b[0m 3 to add, 1 to change, 0 to destroy.\n");
        d.feed(
            b"\x1b[0m\x1b[1m\x1b[32mApply complete! Resources: 3 added, 1 changed, 0 destroyed.\n",
        );
        assert_eq!(
            d.finish(),
            Some(ChangeSummary { add: 3, change: 1, destroy: 0, kind: "apply" })
        );
        assert_eq!(
            parse_line("Destroy complete! Resources: 7 destroyed."),
            Some(ChangeSummary { destroy: 7, kind: "destroy", ..Default::default() })
        );
        assert_eq!(parse_line("Plan: x"), None);
        assert!(
            parse_line("Apply complete! Resources: 2 imported, 3 added, 0 changed, 0 destroyed.")
                .is_some_and(|s| s.add == 3)
        );
    }
}
