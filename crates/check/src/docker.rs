//! Dockerfiles at the repository root (DOCKER001-DOCKER003): multi-stage
//! builds whose runtime stages only copy artefacts, pinned base images, and
//! runtime stages that run as a non-root user.

use std::collections::{BTreeMap, BTreeSet};

use crate::walk::{Kind, SourceFile};
use crate::{Context, Family, Finding, RuleId, finding};

pub const FAMILY: Family = Family {
    name: "docker",
    rules: &[RuleId::Docker001, RuleId::Docker002, RuleId::Docker003],
    run: check,
};

/// One instruction: 1-based line, upper-case keyword, arguments (continuations joined).
#[derive(Debug)]
pub struct Instruction {
    pub line: usize,
    pub keyword: String,
    pub args: String,
}

#[derive(Debug)]
pub struct Stage {
    pub line: usize,
    /// The base as written (`rust:${RUST_VERSION}-slim`).
    pub from: String,
    pub name: Option<String>,
    pub instructions: Vec<Instruction>,
}

/// Instructions of a Dockerfile: comments dropped, `\` continuations joined.
pub fn instructions(text: &str) -> Vec<Instruction> {
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let trimmed = raw.trim();
        if pending.is_none() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        if pending.is_some() && trimmed.starts_with('#') {
            continue; // a comment inside a continued instruction
        }
        let (start, mut acc) = pending.take().unwrap_or((i + 1, String::new()));
        let (body, continues) = match trimmed.strip_suffix('\\') {
            Some(b) => (b, true),
            None => (trimmed, false),
        };
        if !acc.is_empty() {
            acc.push(' ');
        }
        acc.push_str(body.trim());
        if continues {
            pending = Some((start, acc));
            continue;
        }
        let (keyword, args) = acc.split_once(char::is_whitespace).unwrap_or((&acc, ""));
        out.push(Instruction {
            line: start,
            keyword: keyword.to_uppercase(),
            args: args.trim().to_owned(),
        });
    }
    if let Some((start, acc)) = pending {
        let (keyword, args) = acc.split_once(char::is_whitespace).unwrap_or((&acc, ""));
        out.push(Instruction {
            line: start,
            keyword: keyword.to_uppercase(),
            args: args.trim().to_owned(),
        });
    }
    out
}

/// Global `ARG` defaults (before the first FROM) and the stages.
pub fn parse(text: &str) -> (BTreeMap<String, String>, Vec<Stage>) {
    let mut args = BTreeMap::new();
    let mut stages: Vec<Stage> = Vec::new();
    for ins in instructions(text) {
        match (ins.keyword.as_str(), stages.last_mut()) {
            ("ARG", None) => {
                if let Some((k, v)) = ins.args.split_once('=') {
                    args.insert(k.trim().to_owned(), v.trim().trim_matches('"').to_owned());
                }
            }
            ("FROM", _) => {
                let words: Vec<&str> =
                    ins.args.split_whitespace().filter(|w| !w.starts_with("--")).collect();
                let name = match words.as_slice() {
                    [_, kw, name, ..] if kw.eq_ignore_ascii_case("as") => Some((*name).to_owned()),
                    _ => None,
                };
                stages.push(Stage {
                    line: ins.line,
                    from: words.first().copied().unwrap_or("").to_owned(),
                    name,
                    instructions: Vec::new(),
                });
            }
            (_, Some(stage)) => stage.instructions.push(ins),
            (_, None) => {}
        }
    }
    (args, stages)
}

/// Substitute `${VAR}` / `$VAR` from the global ARG defaults; unknown names are returned.
fn substitute(text: &str, args: &BTreeMap<String, String>) -> (String, Vec<String>) {
    let mut out = String::new();
    let mut missing = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (name, len) = if let Some(inner) = after.strip_prefix('{') {
            let end = inner.find('}').unwrap_or(inner.len());
            (&inner[..end], end + 2)
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        let name = name.split(":-").next().unwrap_or(name);
        match args.get(name) {
            Some(v) => out.push_str(v),
            None => missing.push(name.to_owned()),
        }
        rest = &after[len.min(after.len())..];
    }
    out.push_str(rest);
    (out, missing)
}

/// Why an image reference is not pinned, if it is not.
pub fn unpinned(image: &str) -> Option<&'static str> {
    if image == "scratch" || image.contains("@sha256:") {
        return None;
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        None => Some("has no tag (means :latest)"),
        Some((_, "latest")) => Some("uses :latest"),
        Some((_, "")) => Some("has an empty tag"),
        Some(_) => None,
    }
}

/// Stage names other stages build on or copy from.
fn referenced(stages: &[Stage]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for s in stages {
        out.insert(s.from.clone());
        for ins in &s.instructions {
            for word in ins.args.split_whitespace() {
                if let Some(from) = word.strip_prefix("--from=") {
                    out.insert(from.to_owned());
                }
                if ins.keyword == "RUN" && word.starts_with("--mount=") {
                    for part in word.split(',') {
                        if let Some(from) = part.strip_prefix("from=") {
                            out.insert(from.to_owned());
                        }
                    }
                }
            }
        }
    }
    out
}

fn non_root(user: &str) -> bool {
    let uid = user.split(':').next().unwrap_or(user);
    match uid.parse::<u32>() {
        Ok(n) => n >= 10000,
        Err(_) => uid != "root" && !uid.is_empty(),
    }
}

fn check(ctx: &Context<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for file in ctx.repo.files.iter().filter(|f| f.kind == Kind::Dockerfile) {
        dockerfile(file, &mut out);
    }
    out
}

fn dockerfile(file: &SourceFile, out: &mut Vec<Finding>) {
    let f = &file.rel;
    let (args, stages) = parse(&file.text);
    let Some(first) = stages.first() else {
        out.push(finding(RuleId::Docker001, f, 0, "no FROM instruction"));
        return;
    };
    let names: BTreeSet<&str> = stages.iter().filter_map(|s| s.name.as_deref()).collect();
    let used = referenced(&stages);
    for s in &stages {
        if names.contains(s.from.as_str()) {
            continue; // built on an earlier stage
        }
        let (image, missing) = substitute(&s.from, &args);
        if !missing.is_empty() {
            out.push(finding(
                RuleId::Docker002,
                f,
                s.line,
                format!(
                    "base image {} depends on ARG {} with no default",
                    s.from,
                    missing.join(", ")
                ),
            ));
        } else if let Some(why) = unpinned(&image) {
            out.push(finding(RuleId::Docker002, f, s.line, format!("base image {image} {why}")));
        }
    }
    if stages.len() < 2 {
        out.push(finding(
            RuleId::Docker001,
            f,
            first.line,
            "a single stage: the build toolchain ships in the image; build in one stage and copy the artefacts into a runtime stage",
        ));
    }
    let finals: Vec<&Stage> =
        stages.iter().filter(|s| s.name.as_deref().is_none_or(|n| !used.contains(n))).collect();
    for s in finals {
        let label = s.name.as_deref().unwrap_or("the last stage");
        let copies_artefacts = s.instructions.iter().any(|i| {
            i.keyword == "COPY" && i.args.split_whitespace().any(|w| w.starts_with("--from="))
        });
        if stages.len() >= 2 && !copies_artefacts {
            out.push(finding(
                RuleId::Docker001,
                f,
                s.line,
                format!("final stage {label} copies nothing from a build stage (COPY --from=...)"),
            ));
        }
        // The effective user: the last USER of the stage or of the stages it builds on.
        let mut user = None;
        let mut cur = Some(s);
        let mut hops = 0;
        while let Some(stage) = cur {
            if let Some(u) = stage.instructions.iter().rev().find(|i| i.keyword == "USER") {
                user = Some(u.args.clone());
                break;
            }
            cur = stages.iter().find(|p| p.name.as_deref() == Some(stage.from.as_str()));
            hops += 1;
            if hops > stages.len() {
                break;
            }
        }
        match user {
            Some(u) if non_root(&u) => {}
            Some(u) => out.push(finding(
                RuleId::Docker003,
                f,
                s.line,
                format!("final stage {label} runs as USER {u}: root or a uid below 10000 (which may exist on the node)"),
            )),
            None => out.push(finding(
                RuleId::Docker003,
                f,
                s.line,
                format!("final stage {label} sets no USER: it runs as the base image's user, often root"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stages_args_and_continuations() {
        let text = "# syntax=docker/dockerfile:1.7\nARG V=1.95\nFROM rust:${V}-slim AS build\nRUN a \\\n  && b\nFROM gcr.io/distroless/cc:nonroot AS app\nCOPY --from=build /x /x\nUSER 65532:65532\n";
        let (args, stages) = parse(text);
        assert_eq!(args.get("V").map(String::as_str), Some("1.95"));
        assert_eq!(stages.len(), 2);
        assert_eq!(stages[0].instructions[0].args, "a && b");
        assert_eq!(stages[1].line, 6);
        assert_eq!(substitute(&stages[0].from, &args).0, "rust:1.95-slim");
        assert_eq!(substitute("x:${NOPE}", &args).1, ["NOPE"]);
        assert!(referenced(&stages).contains("build"));
        assert!(unpinned("debian").is_some() && unpinned("debian:latest").is_some());
        assert!(unpinned("debian:bookworm-slim").is_none() && unpinned("x@sha256:ab").is_none());
        assert!(
            non_root("65532:65532") && !non_root("0") && !non_root("root") && !non_root("1000")
        );
    }
}
