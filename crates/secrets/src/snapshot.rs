//! Raft snapshots of OpenBao to Object Storage (or any platctl store), and
//! back.
//!
//! A snapshot is two objects written **create-only** (never overwritten):
//! `openbao-<UTC yyyymmddThhmmssZ>.snap`, the gzip stream OpenBao returns, and
//! `<same>.snap.json`, its size, SHA-256, time, OpenBao version and cluster
//! name. A restore checks size and digest before anything is sent.

use bytes::Bytes;
use platctl_store::{Created, Store};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::bao::{BaoClient, BaoError};
use crate::openbao::RestoreMode;
use crate::{Result, SecretsError};

/// The metadata stored beside each snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotMeta {
    /// The snapshot's key, relative to the store URL.
    pub key: String,
    pub bytes: u64,
    pub sha256: String,
    /// RFC 3339, UTC.
    pub taken_at: String,
    pub openbao_version: String,
    pub cluster_name: Option<String>,
}

const PREFIX: &str = "openbao-";
const SUFFIX: &str = ".snap";
const META_SUFFIX: &str = ".snap.json";

fn store_err(e: platctl_store::StoreError) -> SecretsError {
    SecretsError::Snapshot(e.to_string())
}

/// Take a snapshot through `bao` and write it to `store`.
pub async fn save(bao: &BaoClient, store: &Store, now: OffsetDateTime) -> Result<SnapshotMeta> {
    let status = bao.seal_status().await?;
    if status.sealed {
        return Err(SecretsError::Snapshot(format!(
            "OpenBao at {} is sealed: unseal it first (`platctl openbao unseal`)",
            bao.addr()
        )));
    }
    let data = bao.raft_snapshot().await?;
    let stamp = now
        .format(&time::macros::format_description!("[year][month][day]T[hour][minute][second]Z"))
        .map_err(|e| SecretsError::Snapshot(e.to_string()))?;
    let key = format!("{PREFIX}{stamp}{SUFFIX}");
    let meta = SnapshotMeta {
        key: key.clone(),
        bytes: data.len() as u64,
        sha256: hex::encode(Sha256::digest(&data)),
        taken_at: now
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(|e| SecretsError::Snapshot(e.to_string()))?,
        openbao_version: status.version,
        cluster_name: status.cluster_name,
    };
    let meta_json =
        serde_json::to_vec_pretty(&meta).map_err(|e| SecretsError::Encode(e.to_string()))?;
    if store.create(&key, Bytes::from(data)).await.map_err(store_err)? == Created::AlreadyExists {
        return Err(SecretsError::Snapshot(format!(
            "{}/{key} already exists: snapshots are never overwritten; wait a second and retry",
            store.url()
        )));
    }
    // The metadata last: a snapshot without it is incomplete and not listed.
    let meta_key = format!("{key}.json");
    if store.create(&meta_key, Bytes::from(meta_json)).await.map_err(store_err)?
        == Created::AlreadyExists
    {
        return Err(SecretsError::Snapshot(format!("{}/{meta_key} already exists", store.url())));
    }
    Ok(meta)
}

/// Every complete snapshot in `store`, newest first.
pub async fn list(store: &Store) -> Result<Vec<SnapshotMeta>> {
    let entries = store.list("").await.map_err(store_err)?;
    let mut out = Vec::new();
    for e in entries {
        if !(e.key.starts_with(PREFIX) && e.key.ends_with(META_SUFFIX)) {
            continue;
        }
        let Some(obj) = store.get(&e.key).await.map_err(store_err)? else { continue };
        match serde_json::from_slice::<SnapshotMeta>(&obj.bytes) {
            Ok(m) => out.push(m),
            Err(err) => {
                tracing::warn!(key = %e.key, error = %err, "skipping unreadable snapshot metadata")
            }
        }
    }
    out.sort_by(|a, b| b.key.cmp(&a.key));
    Ok(out)
}

/// Restore `key` (or, when `None`, the newest snapshot) into the cluster
/// behind `bao`. The digest is checked first; nothing is sent on a mismatch.
pub async fn restore(
    bao: &BaoClient,
    store: &Store,
    key: Option<&str>,
    mode: RestoreMode,
) -> Result<SnapshotMeta> {
    let meta = match key {
        Some(k) => {
            let k = k.trim_start_matches('/');
            let k = k.strip_suffix(".json").unwrap_or(k);
            let obj = store.get(&format!("{k}.json")).await.map_err(store_err)?.ok_or_else(|| {
                SecretsError::SnapshotNotFound(format!(
                    "no snapshot {k} in {} (its metadata {k}.json is missing); `platctl openbao snapshot list` shows them",
                    store.url()
                ))
            })?;
            serde_json::from_slice::<SnapshotMeta>(&obj.bytes).map_err(|e| {
                SecretsError::Snapshot(format!("{k}.json is not snapshot metadata: {e}"))
            })?
        }
        None => list(store).await?.into_iter().next().ok_or_else(|| {
            SecretsError::SnapshotNotFound(format!("no snapshot in {}", store.url()))
        })?,
    };
    let obj = store.get(&meta.key).await.map_err(store_err)?.ok_or_else(|| {
        SecretsError::Snapshot(format!("{} is listed but its data is missing", meta.key))
    })?;
    let digest = hex::encode(Sha256::digest(&obj.bytes));
    if obj.bytes.len() as u64 != meta.bytes || digest != meta.sha256 {
        return Err(SecretsError::Snapshot(format!(
            "{} does not match its metadata ({} bytes, sha256 {digest}; expected {} bytes, sha256 {}): refusing to restore a damaged snapshot",
            meta.key,
            obj.bytes.len(),
            meta.bytes,
            meta.sha256
        )));
    }
    match bao.raft_restore(obj.bytes.to_vec(), mode).await {
        Ok(()) => Ok(meta),
        Err(BaoError::Http { status: 400, detail, .. }) if detail.contains("snapshot-force") => {
            Err(SecretsError::SnapshotForeign(format!(
                "{} was taken by another OpenBao cluster (different unseal keys). To rebuild from it, \
                 restore with --force, then unseal with the shares of the cluster that took it \
                 (docs/runbooks/openbao-restore.md)",
                meta.key
            )))
        }
        Err(e) => Err(e.into()),
    }
}
