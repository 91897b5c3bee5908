//! Repository scan: plaintext Kubernetes Secrets in YAML, and the credential
//! patterns of [`crate::patterns`], in every file that Git would see (the
//! tree walked honouring `.gitignore`, `.git/` and `target/` skipped), minus
//! binary and huge files and the paths of the allowlist.
//!
//! Allowlist: `.platctl-scan-allow` at the scan root, one `GLOB  # reason`
//! per line (the reason is mandatory); `#` lines are comments. Globs are
//! relative to the root; `*` stays within a directory, `**` crosses them.

use std::path::{Path, PathBuf};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use serde::Serialize;

use crate::patterns::scan_text;
use crate::{Result, ScanError};

/// Allowlist file name, at the scan root.
pub const ALLOWLIST_FILE: &str = ".platctl-scan-allow";
/// Files larger than this are skipped (and counted).
pub const MAX_FILE_BYTES: u64 = 2 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Relative to the scan root, `/`-separated.
    pub path: String,
    pub line: usize,
    pub column: usize,
    /// `kubernetes_secret` or a [`crate::CredentialKind`] name.
    pub kind: String,
    pub description: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ScanReport {
    pub findings: Vec<Finding>,
    pub files_scanned: usize,
    /// Files skipped because an allowlist glob matched them.
    pub files_allowlisted: usize,
    /// Binary or larger than [`MAX_FILE_BYTES`].
    pub files_skipped: usize,
}

struct AllowEntry {
    glob: String,
}

pub struct Allowlist {
    set: GlobSet,
    entries: Vec<AllowEntry>,
}

impl Allowlist {
    pub fn empty() -> Self {
        Allowlist { set: GlobSet::empty(), entries: Vec::new() }
    }

    /// Parse `GLOB  # reason` lines.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let mut builder = GlobSetBuilder::new();
        let mut entries = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |detail: &str| ScanError::Allowlist {
                path: path.to_owned(),
                line: i + 1,
                detail: detail.to_owned(),
            };
            let (glob, reason) = match line.split_once(" #").or_else(|| line.split_once("\t#")) {
                Some((g, r)) => (g.trim(), r.trim()),
                None => (line, ""),
            };
            if reason.is_empty() {
                return Err(bad(
                    "every entry needs a reason: `path/glob/**  # why this is not a credential`",
                ));
            }
            let compiled = GlobBuilder::new(glob)
                .literal_separator(true)
                .build()
                .map_err(|e| bad(&format!("bad glob {glob:?}: {e}")))?;
            builder.add(compiled);
            entries.push(AllowEntry { glob: glob.to_owned() });
        }
        let set = builder.build().map_err(|e| ScanError::Allowlist {
            path: path.to_owned(),
            line: 0,
            detail: e.to_string(),
        })?;
        Ok(Allowlist { set, entries })
    }

    pub fn load(path: &Path) -> Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::empty()),
            Err(e) => Err(ScanError::Io { path: path.to_owned(), source: e }),
        }
    }

    pub fn is_allowed(&self, rel: &str) -> bool {
        self.set.is_match(rel)
    }

    pub fn globs(&self) -> Vec<&str> {
        self.entries.iter().map(|e| e.glob.as_str()).collect()
    }
}

fn is_yaml(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"))
}

fn doc_separator(line: &str) -> bool {
    line == "---"
        || line.starts_with("--- ")
        || line.starts_with("---\t")
        || line.starts_with("---#")
}

fn non_empty_map(v: Option<&serde_json::Value>) -> bool {
    v.and_then(|d| d.as_object()).is_some_and(|m| !m.is_empty())
}

/// Plaintext Kubernetes Secrets (kind `Secret` with `data` or `stringData`) in
/// a YAML text, multi-document. Returns the 1-based line of each Secret's
/// `data`/`stringData` key (or of its `kind`). Documents that do not parse
/// (templates) are checked line by line.
pub fn find_plaintext_secrets(text: &str) -> Vec<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let mut docs: Vec<(usize, usize)> = Vec::new(); // [start, end) line indexes
    let mut start = 0;
    for (i, l) in lines.iter().enumerate() {
        if doc_separator(l) {
            docs.push((start, i));
            start = i + 1;
        }
    }
    docs.push((start, lines.len()));
    let mut out = Vec::new();
    for (s, e) in docs {
        let doc_lines = lines.get(s..e).unwrap_or_default();
        let kind_line = doc_lines.iter().position(|l| {
            let t = l.trim_end();
            t.strip_prefix("kind:")
                .is_some_and(|v| v.trim().trim_matches(|c| c == '"' || c == '\'') == "Secret")
        });
        let data_line =
            doc_lines.iter().position(|l| l.starts_with("data:") || l.starts_with("stringData:"));
        let report = s + data_line.or(kind_line).unwrap_or(0) + 1;
        let doc = doc_lines.join("\n");
        if doc.trim().is_empty() {
            continue;
        }
        match serde_saphyr::from_str::<serde_json::Value>(&doc) {
            Ok(v) => {
                if is_plaintext_secret(&v)
                    || v.get("items")
                        .and_then(|i| i.as_array())
                        .is_some_and(|items| items.iter().any(is_plaintext_secret))
                {
                    out.push(report);
                }
            }
            Err(_) => {
                // Unparseable (e.g. a Helm template): a top-level `kind: Secret`
                // and a top-level data/stringData followed by an indented
                // entry, or an inline non-empty map.
                let (Some(_), Some(d)) = (kind_line, data_line) else { continue };
                let head = doc_lines.get(d).copied().unwrap_or_default();
                let inline = head.split_once(':').map(|(_, r)| r.trim()).unwrap_or_default();
                let has_inline =
                    inline.starts_with('{') && inline.trim_start_matches('{').trim() != "}";
                let has_block = doc_lines
                    .get(d + 1..)
                    .unwrap_or_default()
                    .iter()
                    .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
                    .is_some_and(|l| l.starts_with(' ') || l.starts_with('\t'));
                if has_inline || has_block {
                    out.push(report);
                }
            }
        }
    }
    out
}

fn is_plaintext_secret(v: &serde_json::Value) -> bool {
    v.get("kind").and_then(|k| k.as_str()) == Some("Secret")
        && v.get("apiVersion").and_then(|a| a.as_str()).is_none_or(|a| a == "v1")
        && (non_empty_map(v.get("data")) || non_empty_map(v.get("stringData")))
}

/// Scan one file's text; `rel` is its path for the findings.
pub fn scan_file_text(rel: &str, path: &Path, text: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    if is_yaml(path) {
        for line in find_plaintext_secrets(text) {
            out.push(Finding {
                path: rel.to_owned(),
                line,
                column: 1,
                kind: "kubernetes_secret".into(),
                description: "plaintext Kubernetes Secret (data/stringData): seal it with `platctl secrets seal`, or map it in deploy/secrets/mapping.yaml".into(),
            });
        }
    }
    for f in scan_text(text) {
        out.push(Finding {
            path: rel.to_owned(),
            line: f.line,
            column: f.column,
            kind: f.kind.as_str().into(),
            description: format!("{}: move it to OpenBao and rotate it", f.kind.describe()),
        });
    }
    out
}

fn rel_path(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}

/// Scan the tree under `root` (a file is scanned alone). The allowlist is
/// `root/.platctl-scan-allow` unless `allowlist` is given.
pub fn scan_path(root: &Path, allowlist: Option<&Path>) -> Result<ScanReport> {
    let meta = std::fs::metadata(root)
        .map_err(|source| ScanError::Io { path: root.to_owned(), source })?;
    let base = if meta.is_file() {
        root.parent().unwrap_or(Path::new(".")).to_path_buf()
    } else {
        root.to_path_buf()
    };
    let allow =
        Allowlist::load(&allowlist.map_or_else(|| base.join(ALLOWLIST_FILE), Path::to_path_buf))?;
    let mut report = ScanReport::default();
    let walker = ignore::WalkBuilder::new(root)
        .hidden(false)
        .git_ignore(true)
        .git_exclude(true)
        .git_global(false)
        .require_git(false)
        .ignore(false)
        .parents(true)
        .filter_entry(|e| {
            let name = e.file_name();
            !(e.file_type().is_some_and(|t| t.is_dir()) && (name == ".git" || name == "target"))
        })
        .build();
    let mut files: Vec<PathBuf> = Vec::new();
    for entry in walker {
        let entry = entry.map_err(|e| ScanError::Io {
            path: root.to_owned(),
            source: std::io::Error::other(e.to_string()),
        })?;
        if entry.file_type().is_some_and(|t| t.is_file()) {
            files.push(entry.into_path());
        }
    }
    files.sort();
    for path in files {
        let rel = rel_path(&base, &path);
        if allow.is_allowed(&rel) {
            report.files_allowlisted += 1;
            continue;
        }
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        if size > MAX_FILE_BYTES {
            report.files_skipped += 1;
            continue;
        }
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue, // removed meanwhile
            Err(e) => return Err(ScanError::Io { path, source: e }),
        };
        if bytes.get(..bytes.len().min(8000)).unwrap_or_default().contains(&0) {
            report.files_skipped += 1;
            continue;
        }
        let text = String::from_utf8_lossy(&bytes);
        report.files_scanned += 1;
        report.findings.extend(scan_file_text(&rel, &path, &text));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_secrets_in_any_document_shape() {
        let block = "apiVersion: v1\nkind: ConfigMap\ndata: {a: b}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData:\n  k: v\n";
        assert_eq!(find_plaintext_secrets(block), vec![8]);
        let flow = "{apiVersion: v1, kind: Secret, metadata: {name: s}, data: {k: dg==}}\n";
        assert_eq!(find_plaintext_secrets(flow), vec![1]);
        let list = "apiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    kind: Secret\n    metadata: {name: s}\n    data: {k: dg==}\n";
        assert_eq!(find_plaintext_secrets(list), vec![1]);
        let template = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  k: {{ .Values.k | b64enc }}\n";
        assert_eq!(find_plaintext_secrets(template), vec![5]);
        // Not findings: sealed, empty, other kinds, a Secret-shaped key inside another object.
        for text in [
            "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nspec:\n  encryptedData: {k: AgB}\n",
            "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ntype: kubernetes.io/service-account-token\n",
            "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {}\n",
            "kind: ConfigMap\ndata:\n  secret.yaml: |\n    kind: Secret\n",
            "---\n---\n",
        ] {
            assert!(find_plaintext_secrets(text).is_empty(), "{text}");
        }
    }

    #[test]
    fn allowlist_needs_reasons_and_matches_globs() {
        let a = Allowlist::parse(
            "# comment\n\ntests/fixtures/**  # fake secrets for tests\ndocs/*.md\t# examples\n",
            Path::new("allow"),
        )
        .expect("valid");
        assert!(a.is_allowed("tests/fixtures/a/b/secret.yaml"));
        assert!(a.is_allowed("docs/x.md"));
        assert!(!a.is_allowed("docs/sub/x.md"), "`*` stays within a directory");
        assert!(!a.is_allowed("src/tests/fixtures/x"));
        let err = Allowlist::parse("ok/**  # fine\nno-reason/**\n", Path::new("allow"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("line 2") && err.contains("needs a reason"), "{err}");
        let err = Allowlist::parse("bad/[  # reason\n", Path::new("allow"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("bad glob"), "{err}");
    }
}
