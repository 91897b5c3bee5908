//! Inline suppressions: `# platctl:ignore RULE-ID reason` (also `// ...` in HCL).
//!
//! A suppression on a line of its own applies to the next line that is not a
//! comment; a trailing one applies to its own line; one on line 1 also applies
//! to findings about the whole file. The reason is mandatory: a suppression
//! without one (or naming an unknown rule) is itself a finding (SUPP001) and
//! silences nothing. A suppression that silences nothing is SUPP002. The
//! placeholder gate's rules cannot be suppressed (SUPP001 as well): the deploy
//! workflows' `platctl init --check` runs the same scan and reads no comments.

use crate::walk::Repo;
use crate::{Finding, RuleId, Suppressed, finding};

const MARK: &str = "platctl:ignore";

#[derive(Debug)]
struct Supp {
    line: usize,
    target: usize,
    rule: RuleId,
    reason: String,
    used: bool,
}

fn is_comment_only(line: &str) -> bool {
    let t = line.trim_start();
    t.is_empty() || t.starts_with('#') || t.starts_with("//")
}

/// Split findings into kept and suppressed; add SUPP findings. `judged` says
/// whether a rule ran: an unused suppression of a rule that did not run
/// (`--only`/`--skip`) is not reported.
pub fn apply(
    repo: &Repo,
    findings: Vec<Finding>,
    judged: &dyn Fn(RuleId) -> bool,
) -> (Vec<Finding>, Vec<Suppressed>) {
    let mut out = Vec::new();
    let mut suppressed = Vec::new();
    let mut per_file: std::collections::HashMap<&str, Vec<Supp>> = std::collections::HashMap::new();
    for file in &repo.files {
        let lines: Vec<&str> = file.text.lines().collect();
        let mut list = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            let Some(pos) = line.find(MARK) else { continue };
            let before = &line[..pos];
            if !(before.contains('#') || before.contains("//")) {
                continue;
            }
            let n = i + 1;
            let rest = line[pos + MARK.len()..].trim();
            let (rule, reason) =
                rest.split_once(char::is_whitespace).map_or((rest, ""), |(a, b)| (a, b.trim()));
            let Some(rule_id) = RuleId::parse(rule) else {
                out.push(finding(
                    RuleId::Supp001,
                    &file.rel,
                    n,
                    format!("suppression names unknown rule {rule:?}"),
                ));
                continue;
            };
            if crate::configuration::UNSUPPRESSIBLE.contains(&rule_id) {
                out.push(finding(
                    RuleId::Supp001,
                    &file.rel,
                    n,
                    format!(
                        "{rule} cannot be suppressed: the deploy gate (`platctl init --check`) reads no suppressions"
                    ),
                ));
                continue;
            }
            if reason.is_empty() {
                out.push(finding(
                    RuleId::Supp001,
                    &file.rel,
                    n,
                    format!("suppression of {rule} has no reason"),
                ));
                continue;
            }
            let target = if is_comment_only(before) {
                (i + 1..lines.len()).find(|j| !is_comment_only(lines[*j])).map_or(n, |j| j + 1)
            } else {
                n
            };
            list.push(Supp {
                line: n,
                target,
                rule: rule_id,
                reason: reason.to_owned(),
                used: false,
            });
        }
        if !list.is_empty() {
            per_file.insert(file.rel.as_str(), list);
        }
    }
    for f in findings {
        let hit = per_file.get_mut(f.file.as_str()).and_then(|list| {
            list.iter_mut().find(|s| {
                s.rule == f.rule
                    && (s.line == f.line || s.target == f.line || (f.line == 0 && s.line == 1))
            })
        });
        match hit {
            Some(s) => {
                s.used = true;
                suppressed.push(Suppressed {
                    finding: f,
                    reason: s.reason.clone(),
                    suppression_line: s.line,
                    suppression_file: None,
                });
            }
            None => out.push(f),
        }
    }
    for (file, list) in per_file {
        for s in list.into_iter().filter(|s| !s.used && judged(s.rule)) {
            out.push(finding(
                RuleId::Supp002,
                file,
                s.line,
                format!("suppression of {} matches no finding", s.rule),
            ));
        }
    }
    (out, suppressed)
}
