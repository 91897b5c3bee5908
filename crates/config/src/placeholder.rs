//! Placeholder values: things that look like configuration but that no one
//! can deploy with. Documentation names (RFC 2606: example.com/.net/.org and
//! the .example, .test, .invalid and .localhost top-level domains),
//! documentation addresses (RFC 5737: 192.0.2.0/24, 198.51.100.0/24,
//! 203.0.113.0/24; RFC 3849: 2001:db8::/32), all-zero digests, the
//! `example-org` organisation and `CHANGEME`.
//!
//! [`scan`] finds them anywhere deployable (see [`crate::text`] for what
//! counts as deployed) and marks those the configuration owns: occurrences
//! of a value derived from platform.yaml, which `platctl init` replaces. The
//! repository as shipped is an unconfigured template in which every
//! placeholder must be owned; a configured tree has none at all
//! (docs/configuration.md).

use std::ops::Range;
use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

use crate::derive::{self, Token};
use crate::text::{self, Format};
use crate::values::Values;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// RFC 2606 / RFC 6761 documentation and test names.
    DocumentationDomain,
    /// The `.invalid` top-level domain (RFC 2606): guaranteed never to resolve.
    InvalidDomain,
    /// RFC 5737 / RFC 3849 documentation addresses.
    DocumentationAddress,
    /// A digest of all zeros.
    ZeroDigest,
    /// The template's GitHub organisation.
    ExampleOrg,
    /// CHANGEME and friends.
    ChangeMe,
}

impl Kind {
    pub fn describe(self) -> &'static str {
        match self {
            Kind::DocumentationDomain => "a documentation domain, RFC 2606",
            Kind::InvalidDomain => "an .invalid name, RFC 2606: it never resolves",
            Kind::DocumentationAddress => "a documentation address, RFC 5737/3849",
            Kind::ZeroDigest => "an all-zero digest",
            Kind::ExampleOrg => "the template organisation example-org",
            Kind::ChangeMe => "a CHANGEME marker",
        }
    }
}

/// One placeholder in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    pub range: Range<usize>,
    pub kind: Kind,
    pub text: String,
}

struct Pattern {
    re: Regex,
    kind: fn(&str) -> Kind,
    /// Characters that must not touch the match on either side.
    word: fn(char) -> bool,
}

fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

fn addr_char(c: char) -> bool {
    c.is_ascii_digit() || c == '.'
}

static PATTERNS: LazyLock<Vec<Pattern>> = LazyLock::new(|| {
    let re = |s: &str| Regex::new(s).unwrap_or_else(|e| unreachable!("static pattern {s}: {e}"));
    vec![
        Pattern {
            re: re(
                r"(?i)(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)*(?:example\.(?:com|net|org)|[a-z0-9-]+\.(?:example|test|invalid|localhost))",
            ),
            kind: |m| {
                if m.to_ascii_lowercase().ends_with(".invalid") {
                    Kind::InvalidDomain
                } else {
                    Kind::DocumentationDomain
                }
            },
            word: name_char,
        },
        Pattern {
            re: re(r"(?:192\.0\.2|198\.51\.100|203\.0\.113)\.[0-9]{1,3}(?:/[0-9]{1,2})?"),
            kind: |_| Kind::DocumentationAddress,
            word: addr_char,
        },
        Pattern {
            re: re(r"(?i)2001:0{0,2}db8:[0-9a-f:]*(?:/[0-9]{1,3})?"),
            kind: |_| Kind::DocumentationAddress,
            word: |c| c.is_ascii_hexdigit() || c == ':',
        },
        Pattern {
            re: re(r"(?i)(?:sha256|sha384|sha512):0{32,}"),
            kind: |_| Kind::ZeroDigest,
            word: |c| c.is_ascii_hexdigit(),
        },
        Pattern { re: re(r"(?i)example-org"), kind: |_| Kind::ExampleOrg, word: name_char },
        Pattern { re: re(r"(?i)change[-_]?me"), kind: |_| Kind::ChangeMe, word: name_char },
    ]
});

/// Every placeholder in `text`, in order (the longest at a position).
pub fn find(text: &str) -> Vec<Match> {
    let mut out: Vec<Match> = Vec::new();
    for p in PATTERNS.iter() {
        for m in p.re.find_iter(text) {
            let before = text[..m.start()].chars().next_back();
            let after = text[m.end()..].chars().next();
            let after2 = text[m.end()..].chars().nth(1);
            if before.is_some_and(p.word) || after.is_some_and(p.word) {
                continue;
            }
            // "example.com.au" or "foo.test.enabled" continue the name: not a match.
            if after == Some('.') && after2.is_some_and(|c| c.is_ascii_alphanumeric()) {
                continue;
            }
            out.push(Match {
                range: m.range(),
                kind: (p.kind)(m.as_str()),
                text: m.as_str().to_owned(),
            });
        }
    }
    out.sort_by_key(|m| (m.range.start, std::cmp::Reverse(m.range.end)));
    out.dedup_by(|b, a| b.range.start >= a.range.start && b.range.end <= a.range.end);
    out
}

/// A placeholder in a deployable file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Found {
    /// Relative to the repository root, `/`-separated.
    pub file: String,
    pub line: usize,
    pub text: String,
    pub kind: Kind,
    /// A derived value of the configuration: `platctl init` replaces it.
    pub owned: bool,
}

/// Placeholders in one file's deployed text. `owners` are the derived values
/// whose occurrences count as owned.
pub fn scan_text(rel: &str, text: &str, owners: &[Token]) -> Vec<Found> {
    let Some(format) = Format::of(rel) else { return Vec::new() };
    let owned_ranges: Vec<Range<usize>> = derive::occurrences(text, owners);
    let mut out = Vec::new();
    for r in text::deployed_ranges(format, text) {
        for m in find(&text[r.clone()]) {
            let start = r.start + m.range.start;
            let end = r.start + m.range.end;
            // Inside a derived value (example-org in the repository URL), or a
            // name that ends in one (staging.<domain>, argocd.production.<domain>).
            let owned = owned_ranges
                .iter()
                .any(|o| o.start <= start && end <= o.end || start <= o.start && o.end == end);
            out.push(Found {
                file: rel.to_owned(),
                line: text::line_of(text, start),
                text: m.text,
                kind: m.kind,
                owned,
            });
        }
    }
    out
}

/// Placeholders anywhere deployable under `root` (the folders of
/// [`crate::tree::DEPLOYABLE_ROOTS`]). Those inside a value derived from
/// `owner` (normally the configuration's applied values) are `owned`.
pub fn scan(root: &Path, owner: Option<&Values>) -> Result<Vec<Found>, crate::ConfigError> {
    let owners = owner.map(derive::tokens).unwrap_or_default();
    let mut out = Vec::new();
    for rel in crate::tree::deployable_files(root)? {
        let path = root.join(&rel);
        let Ok(text) = std::fs::read_to_string(&path) else { continue };
        out.extend(scan_text(&rel, &text, &owners));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(String, Kind)> {
        find(text).into_iter().map(|m| (m.text, m.kind)).collect()
    }

    #[test]
    fn finds_each_kind() {
        let k = kinds(
            "a staging.platform.example.com b oncall.invalid c 203.0.113.0/24 d 2001:db8::/32 \
             e sha256:0000000000000000000000000000000000000000000000000000000000000000 \
             f ghcr.io/example-org/x g CHANGEME h svc.test i platform-team@example.com",
        );
        let got: Vec<&str> = k.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(
            got,
            [
                "staging.platform.example.com",
                "oncall.invalid",
                "203.0.113.0/24",
                "2001:db8::/32",
                "sha256:0000000000000000000000000000000000000000000000000000000000000000",
                "example-org",
                "CHANGEME",
                "svc.test",
                "example.com",
            ]
        );
        assert_eq!(k[1].1, Kind::InvalidDomain);
        assert_eq!(k[3].1, Kind::DocumentationAddress);
    }

    #[test]
    fn leaves_real_values_alone() {
        for t in [
            "platform.acme.io",
            "examples.com",
            "myexample.com",
            "example.community",
            "203.0.1130.1",
            "10.203.0.113",
            "sha256:0000000000000000000000000000000000000000000000000000000000000001",
            "example-organisation",
            "exchangemeta",
            "{{ .Values.test.enabled }}",
            "2001:db80::1",
        ] {
            assert!(find(t).is_empty(), "{t}: {:?}", find(t));
        }
    }
}
