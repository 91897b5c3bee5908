//! What the configuration determines elsewhere in the tree.
//!
//! Two mechanisms, chosen per file:
//! - **Rendered files** ([`generated`]): the Terraform inputs of each env root
//!   (`platform.auto.tfvars.json`, `topology.auto.tfvars.json`). They are
//!   written whole from the values, so a list (the ACL) can change length.
//! - **Replacement by known value** ([`tokens`], [`replacements`], [`rewrite`]):
//!   every other file carries derived values as text — the repository URL in
//!   each Argo CD Application, hostnames under the domain, the ACME contact,
//!   image references under the registry. `platctl init` replaces the values
//!   the tree carries now (platform.yaml's `applied:` section, and the
//!   template's placeholders) by the new ones, wherever they stand as whole
//!   tokens. Files it has never seen are handled the same way, so Applications
//!   added later need no change to platctl.

use std::ops::Range;

use serde_json::json;

use crate::values::{Topology, Values};

/// The template's all-zero image digest (the drift CronJob's placeholder pin).
pub const ZERO_DIGEST: &str =
    "@sha256:0000000000000000000000000000000000000000000000000000000000000000";

/// A value as it appears in the tree, and which configuration field it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub field: &'static str,
    pub text: String,
}

/// Field keys of the derived tokens, in a fixed order.
const KEYS: &[&str] = &[
    "repo_url",
    "repo_web",
    "registry",
    "org",
    "domain",
    "acme_email",
    "s3_host",
    "region",
    "digest",
];

fn token(v: &Values, key: &str) -> String {
    match key {
        "repo_url" => v.repo_url.clone(),
        "repo_web" => v.repo_web_url(),
        "registry" => v.registry.clone(),
        "org" => v.org.clone(),
        "domain" => v.domain.clone(),
        "acme_email" => v.acme_email.clone(),
        "s3_host" => format!("{}-1.linodeobjects.com", v.region),
        "region" => v.region.clone(),
        "digest" => v.drift_image_digest.as_ref().map(|d| format!("@{d}")).unwrap_or_default(),
        _ => String::new(),
    }
}

/// The derived values of `v` as they appear in files. An unconfigured
/// template also owns the all-zero digest.
pub fn tokens(v: &Values) -> Vec<Token> {
    let mut out: Vec<Token> = Vec::new();
    for key in KEYS {
        let text = token(v, key);
        if !text.is_empty() && !out.iter().any(|t| t.text == text) {
            out.push(Token { field: key, text });
        }
    }
    for c in v.admin_cidrs.iter().chain(&v.ci_cidrs) {
        if !out.iter().any(|t| t.text == *c) {
            out.push(Token { field: "acl", text: c.clone() });
        }
    }
    if v.drift_image_digest.is_none() && !v.placeholders().is_empty() {
        out.push(Token { field: "digest", text: ZERO_DIGEST.to_owned() });
    }
    out
}

/// Old text → new text, for every derived value that differs between one of
/// `olds` and `new`, plus the new values mapped to themselves (so that a value
/// that stays is matched whole and nothing inside it is replaced). In a configured tree the zero digest maps to the
/// configured digest (or is removed, leaving the tag).
pub fn replacements(olds: &[&Values], new: &Values) -> Vec<(Token, String)> {
    let mut out: Vec<(Token, String)> = Vec::new();
    let mut push = |field: &'static str, old: String, new_text: String| {
        if !old.is_empty() && old != new_text && !out.iter().any(|(t, _)| t.text == old) {
            out.push((Token { field, text: old }, new_text));
        }
    };
    for old in olds {
        for key in KEYS {
            if *key == "digest" {
                continue;
            }
            push(key, token(old, key), token(new, key));
        }
        if let Some(d) = &old.drift_image_digest {
            push("digest", format!("@{d}"), token(new, "digest"));
        }
    }
    // The template keeps its zero pin; a configured tree pins the real digest
    // or, until one is released, the tag alone.
    if new.drift_image_digest.is_some() || new.placeholders().is_empty() {
        push("digest", ZERO_DIGEST.to_owned(), token(new, "digest"));
    }
    // The new values themselves, unchanged: a repository URL that stays must
    // not have the organisation inside it replaced.
    for t in tokens(new) {
        if t.field != "acl" && !out.iter().any(|(o, _)| o.text == t.text) {
            let same = t.text.clone();
            out.push((t, same));
        }
    }
    out
}

fn word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// Whether `tok` stands as a whole token at `at` in `text`: a name-like edge
/// must not continue into a neighbouring name character.
fn whole_at(text: &str, at: usize, tok: &str) -> bool {
    if !text[at..].starts_with(tok) {
        return false;
    }
    let end = at + tok.len();
    let first = tok.chars().next();
    let last = tok.chars().next_back();
    if first.is_some_and(word) && text[..at].chars().next_back().is_some_and(word) {
        return false;
    }
    if last.is_some_and(word) && text[end..].chars().next().is_some_and(word) {
        return false;
    }
    true
}

/// Scan left to right; at each position the longest token that stands whole wins.
fn scan<'a>(text: &str, toks: &'a [&'a str], mut on: impl FnMut(usize, usize, usize)) {
    let mut order: Vec<usize> = (0..toks.len()).collect();
    order.sort_by_key(|i| std::cmp::Reverse(toks[*i].len()));
    let mut i = 0;
    while i < text.len() {
        if !text.is_char_boundary(i) {
            i += 1;
            continue;
        }
        match order.iter().find(|k| !toks[**k].is_empty() && whole_at(text, i, toks[**k])) {
            Some(&k) => {
                on(k, i, i + toks[k].len());
                i += toks[k].len();
            }
            None => i += 1,
        }
    }
}

/// Byte ranges of whole-token occurrences of `tokens` in `text`.
pub fn occurrences(text: &str, tokens: &[Token]) -> Vec<Range<usize>> {
    let toks: Vec<&str> = tokens.iter().map(|t| t.text.as_str()).collect();
    let mut out = Vec::new();
    scan(text, &toks, |_, s, e| out.push(s..e));
    out
}

/// `text` with every whole-token occurrence of an old value replaced; the
/// number of replacements per field.
pub fn rewrite(text: &str, pairs: &[(Token, String)]) -> (String, Vec<(&'static str, usize)>) {
    let toks: Vec<&str> = pairs.iter().map(|(t, _)| t.text.as_str()).collect();
    let mut out = String::with_capacity(text.len());
    let mut counts: Vec<(&'static str, usize)> = Vec::new();
    let mut last = 0;
    scan(text, &toks, |k, s, e| {
        out.push_str(&text[last..s]);
        out.push_str(&pairs[k].1);
        last = e;
        if pairs[k].0.text == pairs[k].1 {
            return;
        }
        let field = pairs[k].0.field;
        match counts.iter_mut().find(|(f, _)| *f == field) {
            Some((_, n)) => *n += 1,
            None => counts.push((field, 1)),
        }
    });
    out.push_str(&text[last..]);
    (out, counts)
}

/// [`rewrite`] applied only inside `ranges` (sorted, disjoint) of `text`.
pub fn rewrite_within(
    text: &str,
    ranges: &[Range<usize>],
    pairs: &[(Token, String)],
) -> (String, Vec<(&'static str, usize)>) {
    let mut out = String::with_capacity(text.len());
    let mut counts: Vec<(&'static str, usize)> = Vec::new();
    let mut last = 0;
    for r in ranges {
        out.push_str(&text[last..r.start]);
        let (part, c) = rewrite(&text[r.clone()], pairs);
        out.push_str(&part);
        for (f, n) in c {
            match counts.iter_mut().find(|(g, _)| *g == f) {
                Some((_, m)) => *m += n,
                None => counts.push((f, n)),
            }
        }
        last = r.end;
    }
    out.push_str(&text[last..]);
    (out, counts)
}

/// The env roots whose Terraform inputs come from the configuration.
pub const ENV_ROOTS: &[&str] = &["global", "staging", "production"];

/// The `terraform.tfvars` of an env root (`Some(env)`), else `None`.
pub fn tfvars_env(rel: &str) -> Option<&'static str> {
    ENV_ROOTS.iter().copied().find(|e| rel == format!("infra/terraform/envs/{e}/terraform.tfvars"))
}

/// The attributes of an env root's `terraform.tfvars` that the configuration
/// sets, as HCL expressions.
pub fn tfvars_settings(env: &str, v: &Values) -> Vec<(&'static str, String)> {
    let s = |x: &str| hcl_string(x);
    let list = |xs: &[String]| {
        format!("[{}]", xs.iter().map(|x| hcl_string(x)).collect::<Vec<_>>().join(", "))
    };
    let (v4, v6) = v.acl();
    match env {
        "global" => vec![
            ("region", s(&v.region)),
            ("domain", s(&v.domain)),
            ("soa_email", s(&v.acme_email)),
        ],
        _ => vec![
            ("region", s(&v.region)),
            ("domain", s(&v.domain)),
            ("repo_url", s(&v.repo_url)),
            ("acl_allowed_ipv4", list(&v4)),
            ("acl_allowed_ipv6", list(&v6)),
        ],
    }
}

/// An HCL string literal: JSON escapes, and template sequences kept literal.
fn hcl_string(x: &str) -> String {
    serde_json::to_string(x).unwrap_or_default().replace("${", "$${").replace("%{", "%%{")
}

/// Set top-level attributes of a `.tfvars` text, keeping everything else
/// (comments, order, alignment): an attribute's value expression is replaced
/// in place; a missing one is appended at the end. The fields changed are
/// returned. A text that does not parse is returned unchanged, with no field.
pub fn set_attributes(
    text: &str,
    settings: &[(&'static str, String)],
) -> (String, Vec<&'static str>) {
    use hcl::edit::Span;
    let Ok(body) = hcl::edit::parser::parse_body(text) else {
        return (text.to_owned(), Vec::new());
    };
    let mut edits: Vec<(std::ops::Range<usize>, String)> = Vec::new();
    let mut appended: Vec<(&'static str, &str)> = Vec::new();
    let mut changed = Vec::new();
    for (key, value) in settings {
        let attr = body.iter().filter_map(|s| s.as_attribute()).find(|a| a.key.as_str() == *key);
        match attr.and_then(|a| a.value.span()) {
            Some(span) => {
                if text[span.clone()].trim() != value {
                    edits.push((span, value.clone()));
                    changed.push(*key);
                }
            }
            None => {
                appended.push((*key, value.as_str()));
                changed.push(*key);
            }
        }
    }
    edits.sort_by_key(|(r, _)| std::cmp::Reverse(r.start));
    let mut out = text.to_owned();
    for (r, v) in edits {
        out.replace_range(r, &v);
    }
    if !appended.is_empty() {
        if !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str("\n# Set by `platctl init` from platform.yaml.\n");
        // Aligned as `terraform fmt` aligns consecutive attributes.
        let width = appended.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        for (k, v) in appended {
            out.push_str(&format!("{k:<width$} = {v}\n"));
        }
    }
    (out, changed)
}

/// Files rendered whole from the values: (path relative to the repository,
/// content). The per-root `topology.auto.tfvars.json` are symlinks to this one.
pub fn generated(v: &Values) -> Vec<(String, String)> {
    let mut topology = serde_json::to_string_pretty(
        &json!({ "staging_dedicated_cluster": v.topology == Topology::Dedicated }),
    )
    .unwrap_or_default();
    topology.push('\n');
    vec![("infra/terraform/envs/topology.auto.tfvars.json".into(), topology)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn team() -> Values {
        Values {
            org: "acme".into(),
            repo_url: "git@github.com:acme/infra.git".into(),
            domain: "plat.acme.io".into(),
            acme_email: "ops@acme.io".into(),
            region: "fr-par".into(),
            topology: Topology::Shared,
            admin_cidrs: vec!["81.2.69.0/28".into()],
            ci_cidrs: vec![],
            registry: "ghcr.io/acme".into(),
            drift_image_digest: None,
        }
    }

    #[test]
    fn rewrites_whole_tokens_longest_first() {
        let pairs = replacements(&[&Values::template()], &team());
        let text = "repoURL: https://github.com/example-org/platform.git\n\
                    url: https://github.com/example-org/platform/blob/main/docs/x.md\n\
                    image: ghcr.io/example-org/platctl-drift:0.1.0@sha256:0000000000000000000000000000000000000000000000000000000000000000\n\
                    g, example-org:platform-admins, role:admin\n\
                    host: argocd.production.platform.example.com\n\
                    email: platform-team@example.com\n\
                    keep: example-organisation my-example-org platform.example.community\n";
        let (out, counts) = rewrite(text, &pairs);
        assert_eq!(
            out,
            "repoURL: git@github.com:acme/infra.git\n\
             url: https://github.com/acme/infra/blob/main/docs/x.md\n\
             image: ghcr.io/acme/platctl-drift:0.1.0\n\
             g, acme:platform-admins, role:admin\n\
             host: argocd.production.plat.acme.io\n\
             email: ops@acme.io\n\
             keep: example-organisation my-example-org platform.example.community\n"
        );
        assert!(counts.contains(&("repo_url", 1)) && counts.contains(&("org", 1)), "{counts:?}");
        // Applying the same values again changes nothing.
        let again = replacements(&[&team(), &Values::template()], &team());
        assert_eq!(rewrite(&out, &again).0, out);
    }

    #[test]
    fn an_unchanged_value_shields_what_is_inside_it() {
        let mut renamed = team();
        renamed.org = "acme2".into();
        let pairs = replacements(&[&team()], &renamed);
        let text =
            "repoURL: git@github.com:acme/infra.git\nimage: ghcr.io/acme/x:1\ng, acme:admins\n";
        let (out, counts) = rewrite(text, &pairs);
        assert_eq!(
            out,
            "repoURL: git@github.com:acme/infra.git\nimage: ghcr.io/acme/x:1\ng, acme2:admins\n"
        );
        assert_eq!(counts, [("org", 1)]);
    }

    #[test]
    fn tfvars_attributes_are_set_in_place() {
        let mut v = team();
        v.ci_cidrs = vec!["172.104.10.7/32".into(), "2a01:7e01::f03c:1/128".into()];
        let text = "# keep me\nregion        = \"fr-par\"\ncluster_label = \"x\" # and me\nacl_allowed_ipv4 = [\"203.0.113.0/24\"]\n\nsystem_pool = {\n  type = \"g6\"\n}\n";
        let (out, changed) = set_attributes(text, &tfvars_settings("production", &v));
        assert_eq!(changed, ["domain", "repo_url", "acl_allowed_ipv4", "acl_allowed_ipv6"]);
        assert!(out.starts_with("# keep me\nregion        = \"fr-par\"\ncluster_label = \"x\" # and me\nacl_allowed_ipv4 = [\"81.2.69.0/28\", \"172.104.10.7/32\"]\n"), "{out}");
        assert!(out.contains("system_pool = {\n  type = \"g6\"\n}\n"), "{out}");
        assert!(out.ends_with("domain           = \"plat.acme.io\"\nrepo_url         = \"git@github.com:acme/infra.git\"\nacl_allowed_ipv6 = [\"2a01:7e01::f03c:1/128\"]\n"), "{out}");
        let (again, changed) = set_attributes(&out, &tfvars_settings("production", &v));
        assert!(changed.is_empty() && again == out, "idempotent");
    }
}
