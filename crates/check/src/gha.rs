//! GitHub Actions workflow rules (GHA001..GHA004).

use crate::walk::{Kind, Repo, SourceFile};
use crate::yaml::Node;
use crate::{Finding, finding};

/// A workflow's `on:` (YAML 1.1 readers turn the key into `true`).
fn on(doc: &Node) -> &Node {
    doc.get("on").or_else(|| doc.get("true")).unwrap_or_else(|| doc.g("on"))
}

fn has_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        let boundary = |c: Option<char>| c.is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        boundary(before) && boundary(after)
    })
}

fn is_sha(r: &str) -> bool {
    r.len() == 40 && r.chars().all(|c| c.is_ascii_hexdigit())
}

/// Hourly when the minute is fixed and the hour is every hour.
fn hourly(cron: &str) -> bool {
    let f: Vec<&str> = cron.split_whitespace().collect();
    f.len() == 5
        && f[0].parse::<u8>().is_ok()
        && (f[1] == "*" || f[1] == "*/1")
        && f[2..].iter().all(|x| *x == "*")
}

pub fn check(repo: &Repo) -> Vec<Finding> {
    let mut out = Vec::new();
    let workflows: Vec<&SourceFile> =
        repo.files.iter().filter(|f| f.kind == Kind::Workflow).collect();
    let mut drift_hourly = false;
    let mut drift_seen: Option<(String, usize)> = None;
    for file in &workflows {
        let Some(doc) = file.docs.first() else {
            continue;
        };
        let f = &file.rel;
        let jobs = doc.g("jobs").entries();
        // GHA001
        if doc.get("permissions").is_none() {
            let bare: Vec<_> =
                jobs.iter().filter(|j| j.value.get("permissions").is_none()).collect();
            if jobs.is_empty() || !bare.is_empty() {
                let names: Vec<&str> = bare.iter().map(|j| j.key.as_str()).collect();
                out.push(finding("GHA001", f, 1, format!("workflow has no top-level permissions: and jobs [{}] have none either (defaults can be write-all)", names.join(", "))));
            }
        }
        let mut all_run = String::new();
        for job in jobs {
            let jn = &job.value;
            // GHA002: reusable workflows and steps
            let mut uses: Vec<(usize, &str)> = Vec::new();
            if let Some(u) = jn.get("uses").and_then(Node::as_str) {
                uses.push((jn.key_line("uses"), u));
            }
            let mut run_text = String::new();
            for step in jn.g("steps").seq() {
                if let Some(u) = step.get("uses").and_then(Node::as_str) {
                    uses.push((step.key_line("uses"), u));
                }
                if let Some(r) = step.get("run").and_then(Node::as_str) {
                    run_text.push_str(r);
                    run_text.push('\n');
                }
            }
            for (l, u) in uses {
                if u.starts_with("./") || (u.starts_with("docker://") && u.contains("@sha256:")) {
                    continue;
                }
                match u.rsplit_once('@') {
                    Some((_, r)) if is_sha(r) => {}
                    Some((action, r)) => out.push(finding(
                        "GHA002",
                        f,
                        l,
                        format!("{action} is pinned to {r:?}, not a commit SHA"),
                    )),
                    None => out.push(finding("GHA002", f, l, format!("{u} has no ref at all"))),
                }
            }
            // GHA003
            // Where "production" may be named besides the commands: the matrix, the job's
            // and steps' env and working-directory, and a reusable workflow's inputs.
            let mut context: Vec<String> = ["strategy", "env", "defaults", "with"]
                .iter()
                .filter_map(|k| jn.get(k).map(|m| m.to_json().to_string()))
                .collect();
            for step in jn.g("steps").seq() {
                for k in ["env", "working-directory", "with"] {
                    if let Some(v) = step.get(k) {
                        context.push(v.to_json().to_string());
                    }
                }
            }
            let matrix = context.join(" ");
            let name = jn.g("name").as_str().unwrap_or("");
            let mentions_prod = has_word(&run_text, "production")
                || has_word(&matrix, "production")
                || job.key.contains("production")
                || has_word(name, "production");
            let applies = has_word(&run_text, "apply");
            if applies && mentions_prod {
                let env = jn
                    .get("environment")
                    .map(|e| e.as_str().or_else(|| e.g("name").as_str()).unwrap_or(""));
                let ok = env.is_some_and(|e| e == "production" || e.contains("${{"));
                if !ok {
                    out.push(finding(
                        "GHA003",
                        f,
                        job.key_line,
                        format!(
                            "job {} applies production without environment: production",
                            job.key
                        ),
                    ));
                }
            }
            all_run.push_str(&run_text);
        }
        // GHA004
        let is_drift = f.to_lowercase().contains("drift") || has_word(&all_run, "drift");
        let schedules = on(doc).g("schedule").seq();
        if is_drift {
            for s in schedules {
                if let Some(c) = s.get("cron").and_then(Node::as_str) {
                    if hourly(c) {
                        drift_hourly = true;
                    } else {
                        drift_seen = Some((f.clone(), s.key_line("cron")));
                    }
                }
            }
        }
    }
    if !drift_hourly && let Some(first) = workflows.first() {
        let (f, l, msg) = match drift_seen {
            Some((f, l)) => {
                (f, l, "the drift workflow does not run hourly (cron \"0 * * * *\")".to_owned())
            }
            None => (first.rel.clone(), 0, "no workflow runs drift detection hourly".to_owned()),
        };
        out.push(finding("GHA004", &f, l, msg));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn crons_and_words() {
        assert!(hourly("0 * * * *"));
        assert!(hourly("17 * * * *"));
        assert!(!hourly("0 */6 * * *"));
        assert!(!hourly("*/5 * * * *"));
        assert!(has_word("platctl tf --env production -- apply", "apply"));
        assert!(!has_word("applying", "apply"));
    }
}
