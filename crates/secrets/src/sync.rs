//! `platctl secrets sync`: OpenBao KV v2 → SealedSecret files in the GitOps tree.
//!
//! All-or-nothing: every source is read and every Secret sealed in memory
//! before the first file is written, so a missing path or field, or a denied
//! read, leaves every file as it was. A file is rewritten only when what it
//! was sealed from changed: a source KV version (recorded in the
//! `platctl.dev/source-versions` annotation), the mapping of keys, the
//! template, the scope, or the controller certificate (`platctl.dev/sealed-with`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::bao::{BaoClient, BaoError, KvVersion};
use crate::cert::ControllerCert;
use crate::seal::{SealedSecret, SecretInput, seal};
use crate::{Result, Scope, SecretsError};

/// Annotation recording, per Secret key, `mount/path#field@version`.
pub const ANNOTATION_SOURCE_VERSIONS: &str = "platctl.dev/source-versions";
/// Annotation recording `sha256:<hex of the controller certificate DER>`.
pub const ANNOTATION_SEALED_WITH: &str = "platctl.dev/sealed-with";
/// The default certificate file name inside `<mapping dir>/<env>/`.
pub const CERT_FILE: &str = "sealed-secrets-cert.pem";

/// `latest` or a pinned KV version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum VersionPolicy {
    #[default]
    Latest,
    Pinned(u64),
}

impl Serialize for VersionPolicy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            VersionPolicy::Latest => s.serialize_str("latest"),
            VersionPolicy::Pinned(v) => s.serialize_u64(*v),
        }
    }
}

impl<'de> Deserialize<'de> for VersionPolicy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(0) => Err(serde::de::Error::custom("version must be `latest` or a number >= 1")),
            Raw::N(n) => Ok(VersionPolicy::Pinned(n)),
            Raw::S(s) if s == "latest" => Ok(VersionPolicy::Latest),
            Raw::S(s) => match s.parse::<u64>() {
                Ok(n) if n >= 1 => Ok(VersionPolicy::Pinned(n)),
                _ => Err(serde::de::Error::custom(format!(
                    "version {s:?} must be `latest` or a number >= 1"
                ))),
            },
        }
    }
}

/// Where one Secret key comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySource {
    /// The KV v2 mount, e.g. `secret`.
    pub mount: String,
    /// The secret's path under the mount, e.g. `staging/sample-service/db`.
    pub path: String,
    /// The field of that KV secret.
    pub field: String,
    #[serde(default)]
    pub version: VersionPolicy,
}

impl KeySource {
    fn location(&self) -> String {
        format!("{}/{}", self.mount.trim_matches('/'), self.path.trim_matches('/'))
    }
}

/// One Kubernetes Secret of an environment.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretMapping {
    pub name: String,
    pub namespace: String,
    #[serde(default)]
    pub scope: Scope,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub secret_type: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    pub keys: BTreeMap<String, KeySource>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvMapping {
    /// Controller certificate, relative to the mapping file's directory.
    /// Default `<env>/sealed-secrets-cert.pem`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<PathBuf>,
    #[serde(default)]
    pub secrets: Vec<SecretMapping>,
}

/// The whole mapping file (`deploy/secrets/mapping.yaml`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    pub environments: BTreeMap<String, EnvMapping>,
}

impl Mapping {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(crate::io_err(path))?;
        let bad = |detail: String| SecretsError::Mapping { path: path.to_owned(), detail };
        let mapping: Mapping = serde_saphyr::from_str(&text).map_err(|e| bad(e.to_string()))?;
        for (env, em) in &mapping.environments {
            if env.is_empty()
                || !env.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(bad(format!(
                    "environment name {env:?} must be letters, digits, '-' or '_'"
                )));
            }
            let mut files = BTreeSet::new();
            for s in &em.secrets {
                let probe = SecretInput {
                    name: s.name.clone(),
                    namespace: Some(s.namespace.clone()),
                    ..Default::default()
                };
                probe.validate().map_err(|e| bad(format!("{env}: {e}")))?;
                if s.keys.is_empty() {
                    return Err(bad(format!(
                        "{env}: secret {}/{} has no keys",
                        s.namespace, s.name
                    )));
                }
                for (k, src) in &s.keys {
                    if !crate::seal::valid_key(k) {
                        return Err(bad(format!(
                            "{env}: secret {}/{}: key {k:?} is not a valid Secret key",
                            s.namespace, s.name
                        )));
                    }
                    if src.mount.trim_matches('/').is_empty()
                        || src.path.trim_matches('/').is_empty()
                        || src.field.is_empty()
                    {
                        return Err(bad(format!(
                            "{env}: secret {}/{} key {k}: mount, path and field must be set",
                            s.namespace, s.name
                        )));
                    }
                }
                if !files.insert(file_name(s)) {
                    return Err(bad(format!(
                        "{env}: secret {}/{} is listed twice",
                        s.namespace, s.name
                    )));
                }
            }
        }
        Ok(mapping)
    }
}

/// `<namespace>-<name>.yaml`.
pub fn file_name(s: &SecretMapping) -> String {
    format!("{}-{}.yaml", s.namespace, s.name)
}

/// What a sync does (or would do) to one Secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Create,
    Update,
    Unchanged,
}

impl fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChangeKind::Create => "create",
            ChangeKind::Update => "update",
            ChangeKind::Unchanged => "unchanged",
        })
    }
}

/// One Secret in the report. Holds names, paths and versions, never values.
#[derive(Debug, Clone, Serialize)]
pub struct SecretChange {
    pub name: String,
    pub namespace: String,
    pub file: PathBuf,
    pub change: ChangeKind,
    /// Why it changes (empty when unchanged).
    pub reasons: Vec<String>,
    /// Per key: `mount/path#field@version` actually used.
    pub sources: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SyncReport {
    pub env: String,
    pub dry_run: bool,
    pub secrets: Vec<SecretChange>,
    /// SealedSecret files written by sync earlier whose Secret is no longer in
    /// the mapping. Reported, never deleted: remove them in the same commit.
    pub stale_files: Vec<PathBuf>,
}

impl SyncReport {
    pub fn changed(&self) -> Vec<String> {
        self.secrets
            .iter()
            .filter(|s| s.change != ChangeKind::Unchanged)
            .map(|s| format!("{}/{}", s.namespace, s.name))
            .collect()
    }
}

/// The failures of one sync: every source that could not be read. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("{}", summarize(.0))]
    Sources(Vec<BaoError>),
    #[error(transparent)]
    Other(#[from] SecretsError),
}

impl SyncError {
    /// True when at least one failure is a permission denial.
    pub fn is_denied(&self) -> bool {
        match self {
            SyncError::Sources(v) => {
                v.iter().any(|e| matches!(e, BaoError::Denied { .. } | BaoError::Login { .. }))
            }
            SyncError::Other(SecretsError::Bao(
                BaoError::Denied { .. } | BaoError::Login { .. },
            )) => true,
            SyncError::Other(_) => false,
        }
    }

    /// True when every failure is a missing path, version or field, or the
    /// environment has no sealing key yet.
    pub fn is_not_found(&self) -> bool {
        match self {
            SyncError::Sources(v) => v.iter().all(|e| {
                matches!(
                    e,
                    BaoError::NotFound { .. }
                        | BaoError::VersionGone { .. }
                        | BaoError::MissingField { .. }
                )
            }),
            SyncError::Other(SecretsError::NoSealingKey { .. }) => true,
            SyncError::Other(_) => false,
        }
    }
}

fn summarize(errors: &[BaoError]) -> String {
    let mut s =
        format!("{} OpenBao source(s) could not be read; no file was written:", errors.len());
    for e in errors {
        s.push_str("\n  - ");
        s.push_str(&e.to_string());
    }
    s
}

/// Inputs of one sync.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    pub mapping_path: PathBuf,
    pub env: String,
    pub dry_run: bool,
}

fn source_ref(src: &KeySource, version: u64) -> String {
    format!("{}#{}@{}", src.location(), src.field, version)
}

/// What a file was sealed from, for the comparison with what it would be sealed from now.
#[derive(Debug, PartialEq)]
struct Provenance {
    sources: BTreeMap<String, String>,
    sealed_with: Option<String>,
    scope: Scope,
    template: crate::seal::SecretTemplate,
}

fn provenance(s: &SealedSecret) -> Provenance {
    let sources = s
        .metadata
        .annotations
        .get(ANNOTATION_SOURCE_VERSIONS)
        .and_then(|v| serde_json::from_str(v).ok())
        .unwrap_or_default();
    Provenance {
        sources,
        sealed_with: s.metadata.annotations.get(ANNOTATION_SEALED_WITH).cloned(),
        scope: s.scope(),
        template: s.spec.template.clone(),
    }
}

fn reasons(old: &Provenance, new: &Provenance) -> Vec<String> {
    let mut out = Vec::new();
    let keys: BTreeSet<&String> = old.sources.keys().chain(new.sources.keys()).collect();
    for k in keys {
        match (old.sources.get(k), new.sources.get(k)) {
            (Some(a), Some(b)) if a != b => out.push(format!("{k}: {a} -> {b}")),
            (None, Some(b)) => out.push(format!("{k}: added ({b})")),
            (Some(a), None) => out.push(format!("{k}: removed (was {a})")),
            _ => {}
        }
    }
    if old.sealed_with != new.sealed_with {
        out.push("controller certificate changed".into());
    }
    if old.scope != new.scope {
        out.push(format!("scope {} -> {}", old.scope, new.scope));
    }
    if old.template != new.template {
        out.push("template (type, labels or annotations) changed".into());
    }
    out
}

/// Read every source of `env`, decide what changes, and (unless dry-run)
/// write the changed SealedSecret files atomically.
pub async fn sync(
    opts: &SyncOptions,
    bao: &BaoClient,
) -> std::result::Result<SyncReport, SyncError> {
    let mapping = Mapping::load(&opts.mapping_path)?;
    let base = opts.mapping_path.parent().map(Path::to_path_buf).unwrap_or_default();
    let env_map = mapping.environments.get(&opts.env).ok_or_else(|| SecretsError::Mapping {
        path: opts.mapping_path.clone(),
        detail: format!(
            "no environment {:?} (known: {})",
            opts.env,
            mapping.environments.keys().cloned().collect::<Vec<_>>().join(", ")
        ),
    })?;
    let env_dir = base.join(&opts.env);
    let cert_path = env_map.cert.as_ref().map_or_else(|| env_dir.join(CERT_FILE), |c| base.join(c));
    if !cert_path.exists() {
        let owner = env_map
            .cert
            .as_ref()
            .and_then(|c| c.parent())
            .and_then(|p| p.to_str())
            .filter(|p| !p.is_empty())
            .unwrap_or(&opts.env)
            .to_owned();
        return Err(SecretsError::NoSealingKey {
            env: owner,
            detail: format!("no certificate at {}", cert_path.display()),
        }
        .into());
    }
    let cert = crate::cert::load_file(&cert_path)?;

    // 1. Read every distinct (mount, path, version) once; collect every failure.
    let mut reads: BTreeMap<(String, String, VersionPolicy), std::result::Result<KvVersion, ()>> =
        BTreeMap::new();
    let mut errors = Vec::new();
    for s in &env_map.secrets {
        for src in s.keys.values() {
            let id = (src.mount.clone(), src.path.clone(), src.version);
            if reads.contains_key(&id) {
                continue;
            }
            let version = match src.version {
                VersionPolicy::Latest => None,
                VersionPolicy::Pinned(v) => Some(v),
            };
            let got = bao.kv_read(&src.mount, &src.path, version).await;
            match got {
                Ok(kv) => {
                    reads.insert(id, Ok(kv));
                }
                Err(e @ BaoError::Unreachable { .. }) => return Err(SyncError::Other(e.into())),
                Err(e) => {
                    errors.push(e);
                    reads.insert(id, Err(()));
                }
            }
        }
    }

    // 2. Build each Secret in memory; a missing field is an error too.
    let mut built: Vec<(&SecretMapping, SecretInput, BTreeMap<String, String>)> = Vec::new();
    for s in &env_map.secrets {
        let mut data = BTreeMap::new();
        let mut sources = BTreeMap::new();
        for (key, src) in &s.keys {
            let Some(Ok(kv)) = reads.get(&(src.mount.clone(), src.path.clone(), src.version))
            else {
                continue;
            };
            match kv.field_bytes(&src.field) {
                Some(bytes) => {
                    data.insert(key.clone(), bytes);
                    sources.insert(key.clone(), source_ref(src, kv.version));
                }
                None => errors.push(BaoError::MissingField {
                    what: format!("{} (version {})", src.location(), kv.version),
                    field: src.field.clone(),
                    present: kv.fields.keys().cloned().collect::<Vec<_>>().join(", "),
                }),
            }
        }
        let input = SecretInput {
            name: s.name.clone(),
            namespace: Some(s.namespace.clone()),
            secret_type: s.secret_type.clone(),
            labels: s.labels.clone(),
            annotations: s.annotations.clone(),
            immutable: None,
            data,
        };
        built.push((s, input, sources));
    }
    if !errors.is_empty() {
        return Err(SyncError::Sources(errors));
    }

    // 3. Compare with what is on disk; seal what changed.
    let sealed_with = format!("sha256:{}", cert.fingerprint);
    let mut changes = Vec::new();
    let mut writes: Vec<(PathBuf, String)> = Vec::new();
    for (s, input, sources) in built {
        let file = env_dir.join(file_name(s));
        let desired_template = template_of(&input, s.scope);
        let desired = Provenance {
            sources: sources.clone(),
            sealed_with: Some(sealed_with.clone()),
            scope: s.scope,
            template: desired_template,
        };
        let existing = match std::fs::read_to_string(&file) {
            Ok(text) => Some(SealedSecret::from_yaml(&text).map(|old| provenance(&old))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(SyncError::Other(SecretsError::Io { path: file, source: e })),
        };
        let (change, why) = match existing {
            None => (ChangeKind::Create, vec!["new file".to_owned()]),
            Some(Err(_)) => (
                ChangeKind::Update,
                vec!["existing file is not a SealedSecret written by sync".to_owned()],
            ),
            Some(Ok(old)) => {
                let why = reasons(&old, &desired);
                if why.is_empty() {
                    (ChangeKind::Unchanged, why)
                } else {
                    (ChangeKind::Update, why)
                }
            }
        };
        if change != ChangeKind::Unchanged && !opts.dry_run {
            let sealed = seal_for_sync(&input, s.scope, &cert, &sources, &sealed_with)?;
            writes.push((file.clone(), sealed));
        }
        changes.push(SecretChange {
            name: s.name.clone(),
            namespace: s.namespace.clone(),
            file,
            change,
            reasons: why,
            sources,
        });
    }

    let stale_files = stale_files(&env_dir, &changes);

    // 4. Write each file atomically and durably (platctl_atomic_file).
    if !writes.is_empty() {
        std::fs::create_dir_all(&env_dir).map_err(crate::io_err(&env_dir))?;
    }
    for (path, text) in &writes {
        platctl_atomic_file::write(path, text.as_bytes()).map_err(SecretsError::from)?;
    }
    Ok(SyncReport { env: opts.env.clone(), dry_run: opts.dry_run, secrets: changes, stale_files })
}

fn template_of(input: &SecretInput, scope: Scope) -> crate::seal::SecretTemplate {
    let mut annotations = input.annotations.clone();
    scope.apply_to(&mut annotations);
    crate::seal::SecretTemplate {
        metadata: crate::seal::ObjectMeta {
            name: input.name.clone(),
            namespace: input.namespace.clone(),
            labels: input.labels.clone(),
            annotations,
        },
        secret_type: input.secret_type.clone(),
        immutable: input.immutable,
    }
}

fn seal_for_sync(
    input: &SecretInput,
    scope: Scope,
    cert: &ControllerCert,
    sources: &BTreeMap<String, String>,
    sealed_with: &str,
) -> Result<String> {
    let mut sealed = seal(input, scope, cert)?;
    let versions =
        serde_json::to_string(sources).map_err(|e| SecretsError::Encode(e.to_string()))?;
    sealed.metadata.annotations.insert(ANNOTATION_SOURCE_VERSIONS.into(), versions);
    sealed.metadata.annotations.insert(ANNOTATION_SEALED_WITH.into(), sealed_with.to_owned());
    let body = sealed.to_yaml()?;
    Ok(format!(
        "# Generated by `platctl secrets sync`; do not edit. Sources: OpenBao KV v2 (see {ANNOTATION_SOURCE_VERSIONS}).\n\
         # yamllint disable rule:line-length\n{body}"
    ))
}

fn stale_files(env_dir: &Path, changes: &[SecretChange]) -> Vec<PathBuf> {
    let known: BTreeSet<&Path> = changes.iter().map(|c| c.file.as_path()).collect();
    let Ok(dir) = std::fs::read_dir(env_dir) else { return Vec::new() };
    let mut out: Vec<PathBuf> = dir
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml") && !known.contains(p.as_path()))
        .filter(|p| {
            std::fs::read_to_string(p)
                .ok()
                .and_then(|t| SealedSecret::from_yaml(&t).ok())
                .is_some_and(|s| s.metadata.annotations.contains_key(ANNOTATION_SOURCE_VERSIONS))
        })
        .collect();
    out.sort();
    out
}
