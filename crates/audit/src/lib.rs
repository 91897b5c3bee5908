//! Audit events: one documented JSON schema, and the sinks that persist it.
//!
//! Every state-changing operation in platctl records exactly one [`AuditEvent`]
//! through an [`AuditSink`]. The default sink, [`JsonlFileSink`], appends one
//! JSON object per line to a local file; a line is written with a single
//! `write` under an exclusive file lock, so concurrent processes never
//! interleave or tear lines. Events never carry secrets or state content:
//! only identifiers, hashes, counts and the names of things.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// The schema version written in every event as `schema`. Bump on breaking change.
pub const SCHEMA_VERSION: u32 = 1;

/// What happened. Serialized in snake_case, e.g. `force_unlock`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// A new current state was written (a Terraform persist).
    StateWrite,
    /// The current state was deleted (its versions are kept).
    StateDelete,
    /// A lock was taken.
    Lock,
    /// A lock was released by its holder (the lock ID matched).
    Unlock,
    /// A lock was removed without its ID, by an admin or an operator.
    ForceUnlock,
    /// An older version was written back as the new current state.
    Rollback,
    /// One `platctl tf` run of the real terraform.
    TfRun,
    /// One `platctl secrets sync` run.
    SecretsSync,
    /// One `platctl drift` run.
    DriftCheck,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::StateWrite => "state_write",
            Action::StateDelete => "state_delete",
            Action::Lock => "lock",
            Action::Unlock => "unlock",
            Action::ForceUnlock => "force_unlock",
            Action::Rollback => "rollback",
            Action::TfRun => "tf_run",
            Action::SecretsSync => "secrets_sync",
            Action::DriftCheck => "drift_check",
        }
    }
}

/// How it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    /// Refused for lack of permission (401/403).
    Denied,
    /// Refused because of the state of things: lock held, lineage or serial mismatch.
    Conflict,
    /// Refused as malformed input (bad JSON, bad MD5, oversize).
    Invalid,
    /// Failed for another reason (store unreachable, terraform failed).
    Error,
}

/// One audit record. See docs/audit.md for the field-by-field schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub schema: u32,
    /// When it happened, RFC 3339 UTC.
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    /// Unique, time-ordered (UUIDv7): lets a re-sent event be recognised.
    pub event_id: Uuid,
    pub env: Option<String>,
    pub action: Action,
    /// Who: a token name, `$PLATCTL_ACTOR`, or `user@host`.
    pub actor: String,
    pub outcome: Outcome,
    pub serial: Option<u64>,
    pub lock_id: Option<String>,
    pub sha256: Option<String>,
    /// Free-form, action-specific facts (never secret values or state content).
    #[serde(default)]
    pub details: serde_json::Map<String, serde_json::Value>,
}

impl AuditEvent {
    pub fn new(action: Action, outcome: Outcome, actor: impl Into<String>) -> Self {
        Self {
            schema: SCHEMA_VERSION,
            time: OffsetDateTime::now_utc(),
            event_id: Uuid::now_v7(),
            env: None,
            action,
            actor: actor.into(),
            outcome,
            serial: None,
            lock_id: None,
            sha256: None,
            details: serde_json::Map::new(),
        }
    }

    pub fn env(mut self, env: impl Into<String>) -> Self {
        self.env = Some(env.into());
        self
    }

    pub fn serial(mut self, serial: u64) -> Self {
        self.serial = Some(serial);
        self
    }

    pub fn lock_id(mut self, id: impl Into<String>) -> Self {
        self.lock_id = Some(id.into());
        self
    }

    pub fn sha256(mut self, sha: impl Into<String>) -> Self {
        self.sha256 = Some(sha.into());
        self
    }

    pub fn detail(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.details.insert(key.to_owned(), value.into());
        self
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("cannot write audit log {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot encode audit event: {0}")]
    Encode(#[from] serde_json::Error),
}

/// Where audit events go. `record` returns only once the event is durable
/// (for the file sink: written and fsynced), so callers may acknowledge the
/// operation afterwards.
pub trait AuditSink: Send + Sync {
    fn record(&self, event: &AuditEvent) -> Result<(), AuditError>;
}

/// Append-only JSON Lines file. Safe across threads and processes.
#[derive(Debug, Clone)]
pub struct JsonlFileSink {
    path: PathBuf,
}

impl JsonlFileSink {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn open(&self) -> Result<File, AuditError> {
        let io = |source| AuditError::Io { path: self.path.clone(), source };
        if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        OpenOptions::new().create(true).append(true).open(&self.path).map_err(io)
    }
}

impl AuditSink for JsonlFileSink {
    fn record(&self, event: &AuditEvent) -> Result<(), AuditError> {
        let mut line = serde_json::to_vec(event)?;
        line.push(b'\n');
        let io = |source| AuditError::Io { path: self.path.clone(), source };
        let mut file = self.open()?;
        // The exclusive lock keeps lines whole even on filesystems where
        // O_APPEND writes from several processes could interleave.
        file.lock().map_err(io)?;
        let written = file.write_all(&line).and_then(|()| file.sync_data());
        let unlocked = file.unlock();
        written.map_err(io)?;
        unlocked.map_err(io)
    }
}

/// A sink that forwards to several sinks; fails if any fails (after trying all).
pub struct FanOut(pub Vec<Box<dyn AuditSink>>);

impl AuditSink for FanOut {
    fn record(&self, event: &AuditEvent) -> Result<(), AuditError> {
        let mut first_error = None;
        for sink in &self.0 {
            if let Err(e) = sink.record(event) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// Read every event of a JSON Lines audit file, in file order.
pub fn read_jsonl(path: &Path) -> Result<Vec<AuditEvent>, AuditError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| AuditError::Io { path: path.to_owned(), source })?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).map_err(AuditError::from))
        .collect()
}

/// The actor to record for a local command: `$PLATCTL_ACTOR`, else
/// `$GITHUB_ACTOR` (in GitHub Actions, as `github:<login>`), else `user@host`.
pub fn default_actor() -> String {
    if let Ok(actor) = std::env::var("PLATCTL_ACTOR")
        && !actor.trim().is_empty()
    {
        return actor;
    }
    if let Ok(actor) = std::env::var("GITHUB_ACTOR")
        && !actor.trim().is_empty()
    {
        return format!("github:{actor}");
    }
    let user = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_else(|_| "unknown".into());
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!("{user}@{host}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonl_sink_appends_whole_lines_from_many_threads() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sink = JsonlFileSink::new(dir.path().join("nested/audit.jsonl"));
        std::thread::scope(|s| {
            for t in 0..8 {
                let sink = sink.clone();
                s.spawn(move || {
                    for i in 0..50 {
                        let ev = AuditEvent::new(Action::Lock, Outcome::Success, format!("t{t}"))
                            .env("staging")
                            .serial(i)
                            .detail("padding", "x".repeat(3000));
                        sink.record(&ev).expect("record");
                    }
                });
            }
        });
        let events = read_jsonl(sink.path()).expect("read back");
        assert_eq!(events.len(), 400);
        let mut ids: Vec<_> = events.iter().map(|e| e.event_id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 400, "event ids must be unique");
    }

    #[test]
    fn event_serializes_with_documented_field_names() {
        let ev = AuditEvent::new(Action::ForceUnlock, Outcome::Denied, "alice")
            .env("production")
            .lock_id("abc");
        let v = serde_json::to_value(&ev).expect("json");
        for key in ["schema", "time", "event_id", "env", "action", "actor", "outcome", "serial", "lock_id", "sha256", "details"] {
            assert!(v.get(key).is_some(), "missing field {key}");
        }
        assert_eq!(v["action"], "force_unlock");
        assert_eq!(v["outcome"], "denied");
    }
}
