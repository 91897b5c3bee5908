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
///
/// Group commit: concurrent callers in one process share one `write` + one
/// `fsync`; each caller returns only after the batch holding its line is
/// durable. Across processes, each batch is written under an exclusive
/// `flock`, so lines never interleave.
#[derive(Debug, Clone)]
pub struct JsonlFileSink {
    path: PathBuf,
    shared: std::sync::Arc<GroupCommit>,
}

#[derive(Debug, Default)]
struct GroupCommit {
    state: std::sync::Mutex<CommitState>,
    done: std::sync::Condvar,
}

#[derive(Debug, Default)]
struct CommitState {
    buffer: Vec<u8>,
    /// Sequence number of the last line appended to `buffer`.
    appended: u64,
    /// Every line up to this sequence number is durable (or failed, see `failed`).
    durable: u64,
    /// Lines up to this sequence number were lost to this I/O error.
    failed: Option<(u64, String)>,
    leader_active: bool,
}

impl JsonlFileSink {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into(), shared: std::sync::Arc::default() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, source: std::io::Error) -> AuditError {
        AuditError::Io { path: self.path.clone(), source }
    }

    fn write_batch(&self, batch: &[u8]) -> Result<(), AuditError> {
        if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| self.io(e))?;
        }
        let mut file: File = OpenOptions::new().create(true).append(true).open(&self.path).map_err(|e| self.io(e))?;
        file.lock().map_err(|e| self.io(e))?;
        let written = file.write_all(batch).and_then(|()| file.sync_data());
        let unlocked = file.unlock();
        written.map_err(|e| self.io(e))?;
        unlocked.map_err(|e| self.io(e))
    }
}

impl AuditSink for JsonlFileSink {
    fn record(&self, event: &AuditEvent) -> Result<(), AuditError> {
        let mut line = serde_json::to_vec(event)?;
        line.push(b'\n');
        let lock_poisoned = || AuditError::Io { path: self.path.clone(), source: std::io::Error::other("audit sink lock poisoned") };
        let mut st = self.shared.state.lock().map_err(|_| lock_poisoned())?;
        st.buffer.extend_from_slice(&line);
        st.appended += 1;
        let mine = st.appended;
        loop {
            if st.durable >= mine {
                return match &st.failed {
                    Some((upto, msg)) if *upto >= mine => {
                        Err(AuditError::Io { path: self.path.clone(), source: std::io::Error::other(msg.clone()) })
                    }
                    _ => Ok(()),
                };
            }
            if !st.leader_active {
                // Become the leader: write everything buffered so far in one batch.
                st.leader_active = true;
                let batch = std::mem::take(&mut st.buffer);
                let upto = st.appended;
                drop(st);
                let result = self.write_batch(&batch);
                st = self.shared.state.lock().map_err(|_| lock_poisoned())?;
                st.durable = upto;
                st.failed = result.err().map(|e| (upto, e.to_string()));
                st.leader_active = false;
                self.shared.done.notify_all();
                continue;
            }
            st = self.shared.done.wait(st).map_err(|_| lock_poisoned())?;
        }
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
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(user_from_passwd)
        .unwrap_or_else(|| "unknown".into());
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!("{user}@{host}")
}

/// The login name of this process's uid, from /etc/passwd (containers and CI
/// runners often have no $USER).
fn user_from_passwd() -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self").ok()?.uid();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let entry_uid: u32 = fields.nth(1)?.parse().ok()?;
        (entry_uid == uid).then(|| name.to_owned())
    })
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
