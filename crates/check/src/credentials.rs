//! Literal credentials in Terraform files (TF009).
//!
//! Credential-shaped text (Linode tokens, S3 keys, AWS key IDs, PEM private
//! keys) is matched by `platctl_scan::scan_text`, the same matcher as
//! `platctl secrets scan`. On top of it, this crate flags any
//! credential-named HCL attribute that holds a literal string (the AST tells
//! a literal from a `var.` reference, which a text matcher cannot).

use std::sync::LazyLock;

use regex::Regex;

/// A credential match: 1-based line, and what was found (never the value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub line: usize,
    pub what: &'static str,
}

/// Scan raw text for credential-shaped literals.
pub fn scan_text(text: &str) -> Vec<Hit> {
    platctl_scan::scan_text(text)
        .into_iter()
        .map(|f| Hit { line: f.line, what: f.kind.describe() })
        .collect()
}

/// Attribute names that must never hold a literal value.
static CREDENTIAL_NAME: LazyLock<Regex> = LazyLock::new(|| {
    #[allow(clippy::unwrap_used)] // a literal pattern, exercised by the tests
    Regex::new(r"(?i)(^|_)(token|api_token|access_key|secret_key|secret|password|private_key)$")
        .unwrap()
});

/// Whether an attribute named `name` holding the literal `value` is a credential.
pub fn is_credential_assignment(name: &str, value: &str) -> bool {
    CREDENTIAL_NAME.is_match(name) && value.len() >= 16 && !value.contains(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_built_fakes_and_ignores_references() {
        // Built at run time so no credential-shaped literal sits in the source.
        let tok = format!("linode_token = \"{}\"\n", "a1".repeat(32));
        assert_eq!(scan_text(&tok).len(), 1);
        assert!(scan_text("token = var.linode_token\n").is_empty());
        assert!(is_credential_assignment("linode_token", "abcdefghijklmnopqrstu"));
        assert!(!is_credential_assignment("token_ttl", "abcdefghijklmnopqrstu"));
        assert!(!is_credential_assignment("linode_token", ""));
    }
}
