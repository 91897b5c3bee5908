use bytes::Bytes;
use futures::StreamExt;
use platctl_store::{Created, Store};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{Result, StateError, sha256_hex};

/// Why a version exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum VersionSource {
    /// A state write through platctl (terraform persisting state).
    #[default]
    Write,
    /// `platctl state rollback`.
    Rollback,
    /// A state found in place that no version held (written by plain
    /// terraform), versioned before it was replaced or deleted.
    Adopted,
}

impl VersionSource {
    pub fn as_str(self) -> &'static str {
        match self {
            VersionSource::Write => "write",
            VersionSource::Rollback => "rollback",
            VersionSource::Adopted => "adopted",
        }
    }
}

/// Metadata of one immutable version, stored as `<env>/versions/<id>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionMeta {
    pub id: String,
    pub env: String,
    pub serial: u64,
    pub lineage: String,
    pub sha256: String,
    pub size: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    pub actor: String,
    pub source: VersionSource,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terraform_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolled_back_from: Option<String>,
    /// The id of the version that was current when this one was written
    /// (`""`: there was no current state). Absent in versions written before
    /// platctl recorded it. It is what tells a version that became current
    /// (some later version names it) from one a crash left behind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
}

/// Whether a version ever was the current state, as far as the versions show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VersionStatus {
    /// It is the current state now.
    Current,
    /// It was current, and a later version replaced it.
    Superseded,
    /// It never became current: its write stopped after the version was
    /// recorded (a crash, a store error, or a concurrent writer), and the
    /// state it meant to replace stayed current or was replaced by another.
    NeverCurrent,
    /// The versions cannot tell (it predates `previous`, or the current
    /// state was deleted after it).
    Unknown,
}

impl VersionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            VersionStatus::Current => "current",
            VersionStatus::Superseded => "superseded",
            VersionStatus::NeverCurrent => "never current",
            VersionStatus::Unknown => "-",
        }
    }
}

/// One row of a version listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionEntry {
    #[serde(flatten)]
    pub meta: VersionMeta,
    pub status: VersionStatus,
}

/// Mark each version: `current_id` is the id of the current state's content
/// (`<serial>-<sha12>`), if there is a current state.
pub(crate) fn classify(metas: Vec<VersionMeta>, current_id: Option<&str>) -> Vec<VersionEntry> {
    use std::collections::HashSet;
    let referenced: HashSet<&str> = metas.iter().filter_map(|m| m.previous.as_deref()).collect();
    let is_current = |m: &VersionMeta| current_id == Some(m.id.as_str());
    // Predecessors some version actually moved on from: the current one's,
    // and those of every version a later one replaced.
    let moved_on: HashSet<&str> = metas
        .iter()
        .filter(|m| is_current(m) || referenced.contains(m.id.as_str()))
        .filter_map(|m| m.previous.as_deref())
        .collect();
    let status: Vec<VersionStatus> = metas
        .iter()
        .map(|m| {
            if is_current(m) {
                VersionStatus::Current
            } else if referenced.contains(m.id.as_str()) {
                VersionStatus::Superseded
            } else {
                match m.previous.as_deref() {
                    // Its predecessor is still current, or a sibling written
                    // over the same predecessor is the one that went on.
                    Some(p) if current_id == Some(p) || moved_on.contains(p) => {
                        VersionStatus::NeverCurrent
                    }
                    _ => VersionStatus::Unknown,
                }
            }
        })
        .collect();
    metas.into_iter().zip(status).map(|(meta, status)| VersionEntry { meta, status }).collect()
}

impl VersionMeta {
    /// `<serial, 10 digits>-<first 12 hex of sha256>`: sorts by serial within
    /// a lineage, and the same content at the same serial gets the same id,
    /// which makes a retried write idempotent.
    pub fn make_id(serial: u64, sha256: &str) -> String {
        format!("{serial:010}-{}", &sha256[..12.min(sha256.len())])
    }
}

fn data_key(env: &str, id: &str) -> String {
    format!("{env}/versions/{id}.tfstate")
}

fn meta_key(env: &str, id: &str) -> String {
    format!("{env}/versions/{id}.json")
}

fn valid_id(id: &str) -> bool {
    id.len() == 23
        && id.as_bytes()[10] == b'-'
        && id.bytes().enumerate().all(|(i, b)| i == 10 || b.is_ascii_hexdigit())
}

/// Whether both halves of a version exist.
pub(crate) async fn exists(store: &Store, env: &str, id: &str) -> Result<bool> {
    let (meta_key, data_key) = (meta_key(env, id), data_key(env, id));
    let (meta, data) = tokio::join!(store.exists(&meta_key), store.exists(&data_key));
    Ok(meta? && data?)
}

/// Write content then metadata, both create-only. An existing object with the
/// same id is the same content (the id includes the hash), so it is kept as is.
pub(crate) async fn write_version(store: &Store, meta: &VersionMeta, body: Bytes) -> Result<()> {
    write_data(store, &meta.env, &meta.id, body).await?;
    write_meta(store, meta).await
}

/// The content half of version `id`, create-only (content-addressed: an
/// existing object under the same id holds the same bytes).
pub(crate) async fn write_data(store: &Store, env: &str, id: &str, body: Bytes) -> Result<()> {
    if store.create(&data_key(env, id), body).await? == Created::AlreadyExists {
        tracing::debug!(id, "version content already stored");
    }
    Ok(())
}

/// The metadata half of a version (create-only). Written concurrently with
/// the content; `list` shows a version only when both exist.
pub(crate) async fn write_meta(store: &Store, meta: &VersionMeta) -> Result<()> {
    let json = serde_json::to_vec_pretty(meta).map_err(|e| StateError::Corrupt(e.to_string()))?;
    store.create(&meta_key(&meta.env, &meta.id), Bytes::from(json)).await?;
    Ok(())
}

/// What the versions folder of an env holds besides listed versions.
#[derive(Debug, Clone, Default)]
pub(crate) struct Unlisted {
    /// Content objects without metadata: (key, size, age in seconds).
    pub contents: Vec<(String, u64, i64)>,
    /// Metadata objects without content (never written by platctl; reported only).
    pub metas: usize,
}

pub(crate) async fn unlisted(store: &Store, env: &str) -> Result<Unlisted> {
    let entries = store.list(&format!("{env}/versions")).await?;
    let metas: std::collections::HashSet<&str> =
        entries.iter().filter_map(|e| e.key.strip_suffix(".json")).collect();
    let stems: std::collections::HashSet<&str> =
        entries.iter().filter_map(|e| e.key.strip_suffix(".tfstate")).collect();
    let now = OffsetDateTime::now_utc();
    Ok(Unlisted {
        contents: entries
            .iter()
            .filter(|e| e.key.strip_suffix(".tfstate").is_some_and(|stem| !metas.contains(stem)))
            .map(|e| (e.key.clone(), e.size, (now - e.last_modified).whole_seconds()))
            .collect(),
        metas: metas.iter().filter(|m| !stems.contains(*m)).count(),
    })
}

/// All versions of an env, oldest first (by creation time, then serial).
pub(crate) async fn list(store: &Store, env: &str) -> Result<Vec<VersionMeta>> {
    let entries = store.list(&format!("{env}/versions")).await?;
    // A version is listed only when both its content and its metadata exist
    // (they are written concurrently; a crash can leave one half).
    let contents: std::collections::HashSet<String> =
        entries.iter().filter_map(|e| e.key.strip_suffix(".tfstate")).map(str::to_owned).collect();
    let metas: Vec<String> = entries
        .into_iter()
        .map(|e| e.key)
        .filter(|k| k.strip_suffix(".json").is_some_and(|stem| contents.contains(stem)))
        .collect();
    let reads = futures::stream::iter(metas)
        .map(|key| async move {
            let obj = store.get(&key).await?;
            Ok::<_, StateError>(obj.map(|o| (key, o.bytes)))
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    let mut out = Vec::new();
    for read in reads {
        if let Some((key, bytes)) = read? {
            let meta: VersionMeta = serde_json::from_slice(&bytes)
                .map_err(|e| StateError::Corrupt(format!("version metadata {key}: {e}")))?;
            out.push(meta);
        }
    }
    out.sort_by(|a, b| a.created.cmp(&b.created).then(a.serial.cmp(&b.serial)));
    Ok(out)
}

pub(crate) async fn read(store: &Store, env: &str, id: &str) -> Result<(VersionMeta, Bytes)> {
    if !valid_id(id) {
        return Err(StateError::NotFound(format!(
            "{id:?} is not a version id (expected the form 0000000012-0123456789ab; see `platctl state versions --env {env}`)"
        )));
    }
    let not_found = || {
        StateError::NotFound(format!(
            "env {env} has no version {id} (see `platctl state versions --env {env}`)"
        ))
    };
    let meta_obj = store.get(&meta_key(env, id)).await?.ok_or_else(not_found)?;
    let meta: VersionMeta = serde_json::from_slice(&meta_obj.bytes)
        .map_err(|e| StateError::Corrupt(format!("version metadata {id}: {e}")))?;
    let data = store.get(&data_key(env, id)).await?.ok_or_else(not_found)?.bytes;
    let sha = sha256_hex(&data);
    if sha != meta.sha256 {
        return Err(StateError::Corrupt(format!(
            "version {id} of env {env}: content sha256 {sha} does not match its metadata {}",
            meta.sha256
        )));
    }
    Ok((meta, data))
}
