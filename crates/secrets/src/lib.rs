//! platctl-secrets: OpenBao is the authoritative secret store; this crate
//! seals its values into kubeseal-compatible SealedSecrets for Git. The
//! repository credential scan lives in platctl-scan.
//!
//! - [`crypto`]: sealed-secrets' hybrid encryption (RSA-OAEP-SHA256 wrapping a
//!   fresh AES-256-GCM key per value), byte-compatible with `pkg/crypto`.
//! - [`cert`]: the controller certificate, from a file or `/v1/cert.pem`.
//! - [`seal`]: Secret manifest in, `bitnami.com/v1alpha1` SealedSecret out.
//! - [`bao`]: a small OpenBao (Vault-compatible) KV v2 client: token or AppRole.
//! - [`sync`]: the mapping file, and an all-or-nothing sync into the GitOps tree.
//! - [`openbao`]: operator calls (init with PGP-encrypted shares, unseal, raft
//!   snapshots, check-and-set KV writes, access configuration).
//! - [`keys`]: the platform-owned sealing keys: generated here, kept in
//!   OpenBao, certificates in Git, installed through the CSI provider.
//! - [`bootstrap`]: day-0 seeding of OpenBao from `infra/openbao/sources.yaml`.
//! - [`snapshot`]: raft snapshots to and from Object Storage.
//! - [`access`]: the idempotent OpenBao configuration (`platctl openbao configure`).
//!
//! Nothing here logs or returns a secret value in an error.

pub mod access;
pub mod bao;
pub mod bootstrap;
pub mod cert;
pub mod crypto;
pub mod keys;
pub mod openbao;
pub mod seal;
pub mod snapshot;
pub mod sync;

pub use cert::ControllerCert;
pub use seal::{Scope, SealedSecret, SecretInput};

use std::path::PathBuf;

/// Everything that can go wrong. Messages name the thing (file, path, key) and
/// the fix, never a secret value.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error(
        "{source_name} is not a PEM X.509 certificate ({detail}); pass the sealed-secrets controller's public certificate, e.g. the body of <controller>/v1/cert.pem"
    )]
    CertNotPem { source_name: String, detail: String },
    #[error(
        "certificate {source_name} expired at {not_after} (notAfter); rotate the env's sealing key (`platctl secrets key rotate --env ENV`), or fetch a self-managed controller's current certificate from <controller>/v1/cert.pem"
    )]
    CertExpired { source_name: String, not_after: String },
    #[error(
        "certificate {source_name} is not valid before {not_before} (notBefore); check the clock, or the certificate"
    )]
    CertNotYetValid { source_name: String, not_before: String },
    #[error(
        "certificate {source_name} has a {key_type} public key; sealed-secrets needs an RSA key (the controller's own certificate, not a TLS certificate)"
    )]
    CertKeyType { source_name: String, key_type: String },
    #[error(
        "certificate {source_name} has a {bits}-bit RSA key; platctl refuses RSA keys under 2048 bits (too weak to protect sealed secrets; the sealed-secrets controller generates 4096-bit keys). Use the controller's own certificate, from <controller>/v1/cert.pem"
    )]
    CertKeyTooSmall { source_name: String, bits: usize },
    #[error(
        "cannot fetch certificate from {url}: {detail}; check the URL (it ends in /v1/cert.pem) and that the controller is reachable, e.g. through `kubectl port-forward`"
    )]
    CertFetch { url: String, detail: String },
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Write(#[from] platctl_atomic_file::WriteError),
    #[error("invalid Secret manifest: {0}")]
    InvalidManifest(String),
    #[error("encryption failed: {0}")]
    Crypto(String),
    #[error("cannot encode output: {0}")]
    Encode(String),
    #[error(transparent)]
    Bao(#[from] bao::BaoError),
    #[error("invalid mapping file {path}: {detail}")]
    Mapping { path: PathBuf, detail: String },
    #[error("sealing key: {0}")]
    Keys(String),
    #[error("invalid {path}: {detail}")]
    Sources { path: PathBuf, detail: String },
    #[error(
        "{env} has no sealing key yet ({detail}); create it with `platctl secrets key generate --env {env}` (or `platctl secrets bootstrap`)"
    )]
    NoSealingKey { env: String, detail: String },
    #[error("snapshot: {0}")]
    Snapshot(String),
    #[error("snapshot: {0}")]
    SnapshotNotFound(String),
    #[error("snapshot: {0}")]
    SnapshotForeign(String),
}

pub type Result<T, E = SecretsError> = std::result::Result<T, E>;

pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> SecretsError {
    let path = path.into();
    move |source| SecretsError::Io { path, source }
}
