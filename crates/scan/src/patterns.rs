//! High-confidence credential patterns, as a small reusable API
//! (`platctl secrets scan` uses it, `platctl check` can too).
//!
//! Only patterns with few false positives: a bare 64-hex string is also a
//! SHA-256 digest, so a Linode token is reported only in a token- or
//! linode-keyed assignment, and keys named like digests (`sha`, `hash`,
//! `digest`, `checksum`) are ignored. Findings carry the position, never the
//! matched text.

use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

/// What kind of credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    /// A 64-hex Linode API token assigned to a token/linode key.
    LinodeToken,
    /// A PEM private key block.
    PrivateKey,
    /// An S3 / Object Storage access key id in a keyed assignment.
    S3AccessKey,
    /// An S3 / Object Storage secret key in a keyed assignment.
    S3SecretKey,
    /// An AWS-style access key id (AKIA…/ASIA…).
    AwsAccessKeyId,
}

impl CredentialKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::LinodeToken => "linode_token",
            CredentialKind::PrivateKey => "private_key",
            CredentialKind::S3AccessKey => "s3_access_key",
            CredentialKind::S3SecretKey => "s3_secret_key",
            CredentialKind::AwsAccessKeyId => "aws_access_key_id",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            CredentialKind::LinodeToken => "Linode API token",
            CredentialKind::PrivateKey => "PEM private key",
            CredentialKind::S3AccessKey => "S3/Object Storage access key",
            CredentialKind::S3SecretKey => "S3/Object Storage secret key",
            CredentialKind::AwsAccessKeyId => "AWS-style access key id",
        }
    }
}

/// One match: where, and what kind. 1-based line and column (in characters).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CredentialFinding {
    pub kind: CredentialKind,
    pub line: usize,
    pub column: usize,
}

// An assignment: optional quotes around the key, then `:` `=` `:=` or `=>`,
// optional quote before the value. The key is captured for context checks.
const KEY: &str = r#"(?P<key>[A-Za-z0-9_.\-]+)["']?\s*(?::=|=>|[:=])\s*["']?"#;

static LINODE: LazyLock<Regex> =
    LazyLock::new(|| compiled(&format!(r"{KEY}(?P<v>[0-9a-fA-F]{{64}})")));
static S3_ACCESS: LazyLock<Regex> =
    LazyLock::new(|| compiled(&format!(r"{KEY}(?P<v>[A-Z0-9]{{20}})")));
static S3_SECRET: LazyLock<Regex> =
    LazyLock::new(|| compiled(&format!(r"{KEY}(?P<v>[A-Za-z0-9/+]{{40}})")));
static AWS_KEY_ID: LazyLock<Regex> =
    LazyLock::new(|| compiled(r"(?P<v>(?:AKIA|ASIA)[A-Z0-9]{16})"));
// Built from parts so this file does not itself contain a PEM header.
static PRIVATE_KEY: LazyLock<Regex> =
    LazyLock::new(|| compiled(&format!("-----{}(?: [A-Z0-9]+)* PRIVATE KEY-----", "BEGIN")));

#[allow(clippy::expect_used)]
fn compiled(re: &str) -> Regex {
    Regex::new(re).expect("static credential pattern compiles")
}

fn word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn key_is(key: &str, any: &[&str]) -> bool {
    let k = key.to_ascii_lowercase();
    any.iter().any(|w| k.contains(w))
}

const DIGEST_WORDS: [&str; 5] = ["sha", "hash", "digest", "checksum", "fingerprint"];

/// Documentation placeholders that are not credentials.
fn placeholder(v: &str) -> bool {
    let u = v.to_ascii_uppercase();
    u.contains("EXAMPLE")
        || u.contains("XXXXXXXX")
        || v.chars().all(|c| c == v.chars().next().unwrap_or('x'))
}

/// Scan one text. Findings are sorted by position; values are never returned.
pub fn scan_text(text: &str) -> Vec<CredentialFinding> {
    let mut out = Vec::new();
    for (idx, line) in text.lines().enumerate() {
        let lineno = idx + 1;
        let mut push = |kind, byte_col: usize| {
            let column = line.get(..byte_col).map_or(byte_col, |p| p.chars().count()) + 1;
            let f = CredentialFinding { kind, line: lineno, column };
            if !out.contains(&f) {
                out.push(f);
            }
        };
        let bounded = |start: usize, end: usize, extra: &dyn Fn(char) -> bool| {
            let before_ok = line
                .get(..start)
                .and_then(|p| p.chars().next_back())
                .is_none_or(|c| !word_char(c) && !extra(c));
            let after_ok = line
                .get(end..)
                .and_then(|p| p.chars().next())
                .is_none_or(|c| !word_char(c) && !extra(c));
            before_ok && after_ok
        };
        if let Some(m) = PRIVATE_KEY.find(line) {
            push(CredentialKind::PrivateKey, m.start());
        }
        for c in LINODE.captures_iter(line) {
            let (Some(k), Some(v)) = (c.name("key"), c.name("v")) else { continue };
            if key_is(k.as_str(), &["token", "linode"])
                && !key_is(k.as_str(), &DIGEST_WORDS)
                && bounded(v.start(), v.end(), &|_| false)
            {
                push(CredentialKind::LinodeToken, v.start());
            }
        }
        for c in S3_ACCESS.captures_iter(line) {
            let (Some(k), Some(v)) = (c.name("key"), c.name("v")) else { continue };
            if key_is(
                k.as_str(),
                &["access_key", "accesskey", "access-key", "access_key_id", "accesskeyid"],
            ) && bounded(v.start(), v.end(), &|_| false)
                && !placeholder(v.as_str())
                && v.as_str().chars().any(|c| c.is_ascii_digit())
                && v.as_str().chars().any(|c| c.is_ascii_uppercase())
            {
                push(CredentialKind::S3AccessKey, v.start());
            }
        }
        for c in S3_SECRET.captures_iter(line) {
            let (Some(k), Some(v)) = (c.name("key"), c.name("v")) else { continue };
            let value = v.as_str();
            let mixed = value.chars().any(|c| c.is_ascii_digit())
                && value.chars().any(|c| c.is_ascii_uppercase())
                && value.chars().any(|c| c.is_ascii_lowercase());
            if key_is(
                k.as_str(),
                &["secret_key", "secretkey", "secret-key", "secret_access_key", "secretaccesskey"],
            ) && bounded(v.start(), v.end(), &|c| c == '/' || c == '+')
                && mixed
                && !placeholder(value)
            {
                push(CredentialKind::S3SecretKey, v.start());
            }
        }
        for m in AWS_KEY_ID.find_iter(line) {
            if bounded(m.start(), m.end(), &|_| false) && !placeholder(m.as_str()) {
                push(CredentialKind::AwsAccessKeyId, m.start());
            }
        }
    }
    out.sort_by_key(|f| (f.line, f.column, f.kind));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // Credentials are assembled at run time so this file holds none.
    fn hex64() -> String {
        "9f3a1c7e5b2d4f60".repeat(4)
    }
    fn akia() -> String {
        format!("{}{}", "AKIA", "Q3ZT7RWJ2M5NX8KD")
    }
    fn s3_secret() -> String {
        format!("{}{}", "wJa1rXUtnFEMI/K7MDENG/", "bPxRfiCYz9Q4Lk2Tm8")
    }

    fn kinds(text: &str) -> Vec<CredentialKind> {
        scan_text(text).into_iter().map(|f| f.kind).collect()
    }

    #[test]
    fn linode_token_needs_a_token_or_linode_key() {
        let t = hex64();
        assert_eq!(kinds(&format!("linode_token = \"{t}\"")), vec![CredentialKind::LinodeToken]);
        assert_eq!(kinds(&format!("export LINODE_TOKEN={t}")), vec![CredentialKind::LinodeToken]);
        assert_eq!(kinds(&format!("  token: {t}")), vec![CredentialKind::LinodeToken]);
        assert_eq!(kinds(&format!(r#"{{"token": "{t}"}}"#)), vec![CredentialKind::LinodeToken]);
        // The same 64 hex characters as a digest are not a finding.
        assert!(kinds(&format!("sha256: {t}")).is_empty());
        assert!(kinds(&format!("token_sha256: {t}")).is_empty());
        assert!(kinds(&format!("checksum = \"{t}\"")).is_empty());
        assert!(kinds(&t).is_empty());
        // 65 hex characters are not a Linode token.
        assert!(kinds(&format!("token = {t}a")).is_empty());
    }

    #[test]
    fn reports_position_not_value() {
        let t = hex64();
        let text = format!("a: 1\nb: 2\n  linode_api_token: \"{t}\"\n");
        let f = scan_text(&text);
        assert_eq!(
            f,
            vec![CredentialFinding { kind: CredentialKind::LinodeToken, line: 3, column: 22 }]
        );
    }

    #[test]
    fn private_keys_s3_and_aws_keys() {
        let pem = format!("-----{} RSA PRIVATE KEY-----\nMIIE...\n", "BEGIN");
        assert_eq!(kinds(&pem), vec![CredentialKind::PrivateKey]);
        let pem = format!("x\n-----{} OPENSSH PRIVATE KEY-----\n", "BEGIN");
        assert_eq!(kinds(&pem), vec![CredentialKind::PrivateKey]);
        assert!(kinds(&format!("-----{} CERTIFICATE-----", "BEGIN")).is_empty());
        assert!(kinds(&format!("-----{} PUBLIC KEY-----", "BEGIN")).is_empty());

        let access = "Z1X2C3V4B5N6M7A8S9D0";
        assert_eq!(kinds(&format!("access_key = \"{access}\"")), vec![CredentialKind::S3AccessKey]);
        assert_eq!(
            kinds(&format!("AWS_SECRET_ACCESS_KEY={}", s3_secret())),
            vec![CredentialKind::S3SecretKey]
        );
        assert_eq!(
            kinds(&format!("secret_key: \"{}\"", s3_secret())),
            vec![CredentialKind::S3SecretKey]
        );
        // References and short test values are not keys.
        assert!(kinds("secret_key = linode_object_storage_key.state.secret_key").is_empty());
        assert!(kinds("access_key = \"test\"").is_empty());
        assert!(kinds(&format!("secret_key = {}", "a".repeat(40))).is_empty());

        assert_eq!(kinds(&format!("id = {}", akia())), vec![CredentialKind::AwsAccessKeyId]);
        assert!(
            kinds(&format!("{}{}", "AKIA", "IOSFODNN7EXAMPLE")).is_empty(),
            "AWS documentation example"
        );
        assert!(kinds(&format!("X{}", akia())).is_empty(), "must stand alone");
    }
}
