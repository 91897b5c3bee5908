//! platctl-scan: high-confidence credential patterns ([`patterns`]) and the
//! repository scan behind `platctl secrets scan` ([`scan`]): plaintext
//! Kubernetes Secrets and credentials in every file Git would see.
//!
//! Kept apart from platctl-secrets so that `platctl check` (which uses the
//! patterns for TF009) does not compile the sealing and OpenBao code.
//! Nothing here returns or logs a matched value: findings carry positions.

pub mod patterns;
pub mod scan;

pub use patterns::{CredentialFinding, CredentialKind, scan_text};
pub use scan::{ALLOWLIST_FILE, Allowlist, Finding, MAX_FILE_BYTES, ScanReport, scan_path};

use std::path::PathBuf;

/// What can stop a scan. Messages name the file and the fix, never a value.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid allowlist {path} line {line}: {detail}")]
    Allowlist { path: PathBuf, line: usize, detail: String },
}

pub type Result<T, E = ScanError> = std::result::Result<T, E>;
