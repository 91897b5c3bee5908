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
    /// `platctl state gc` removed unlisted version content of an env.
    Gc,
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
            Action::Gc => "gc",
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

    /// The same, for async callers: the event is queued now and the future
    /// resolves once it is durable, without holding a thread meanwhile.
    /// `None` when this sink only blocks; callers then run [`AuditSink::record`]
    /// on a blocking thread.
    fn record_async(&self, _event: &AuditEvent) -> Option<AuditFuture> {
        None
    }

    /// Get ready for the first event (start threads, open files) without
    /// recording anything, so the first operation does not pay for it.
    fn prepare(&self) {}
}

/// What [`AuditSink::record_async`] returns.
pub type AuditFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), AuditError>> + Send>>;

/// Append-only JSON Lines file. Safe across threads and processes.
///
/// Group commit: one writer thread per sink takes every line queued since its
/// last batch and persists them with one `write` + one `fsync`; each caller
/// returns only after the batch holding its line is durable. Across
/// processes, each batch is written under an exclusive `flock`, so lines
/// never interleave. The file stays open between batches and is reopened if
/// it was moved or removed (log rotation).
#[derive(Debug, Clone)]
pub struct JsonlFileSink {
    path: PathBuf,
    writer: std::sync::Arc<std::sync::OnceLock<std::sync::mpsc::Sender<Job>>>,
}

/// One line for the writer thread, and where to report that it is durable.
#[derive(Debug)]
struct Job {
    line: Vec<u8>,
    reply: Reply,
}

#[derive(Debug)]
enum Reply {
    Blocking(std::sync::mpsc::SyncSender<Result<(), String>>),
    Async(tokio::sync::oneshot::Sender<Result<(), String>>),
}

impl Reply {
    fn send(self, result: Result<(), String>) {
        // A caller that gave up waiting is not an error for the others.
        match self {
            Reply::Blocking(tx) => drop(tx.send(result)),
            Reply::Async(tx) => drop(tx.send(result)),
        }
    }
}

impl JsonlFileSink {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into(), writer: std::sync::Arc::default() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io_error(&self, message: String) -> AuditError {
        AuditError::Io { path: self.path.clone(), source: std::io::Error::other(message) }
    }

    /// Queue a line for the writer thread (started on first use).
    fn submit(&self, event: &AuditEvent, reply: Reply) -> Result<(), AuditError> {
        let mut line = serde_json::to_vec(event)?;
        line.push(b'\n');
        self.submit_line(line, reply)
    }

    fn submit_line(&self, line: Vec<u8>, reply: Reply) -> Result<(), AuditError> {
        let sender = self.writer.get_or_init(|| {
            let (tx, rx) = std::sync::mpsc::channel::<Job>();
            let path = self.path.clone();
            // Ends when the last clone of the sink (and so the sender) is dropped.
            // If it cannot start, the receiver is dropped with it and every
            // record fails with "the audit writer thread is gone".
            let _ = std::thread::Builder::new()
                .name("platctl-audit".into())
                .spawn(move || writer_thread(&path, &rx));
            tx
        });
        sender
            .send(Job { line, reply })
            .map_err(|_| self.io_error("the audit writer thread is gone".into()))
    }
}

fn writer_thread(path: &Path, jobs: &std::sync::mpsc::Receiver<Job>) {
    let mut file: Option<File> = None;
    let mut batch = Vec::new();
    while let Ok(first) = jobs.recv() {
        let mut waiting = vec![first];
        waiting.extend(jobs.try_iter());
        batch.clear();
        for job in &waiting {
            batch.extend_from_slice(&job.line);
        }
        let result = if batch.is_empty() && file.is_some() {
            Ok(())
        } else {
            write_batch(path, &mut file, &batch).map_err(|e| e.to_string())
        };
        if result.is_err() {
            // Reopen next time: the error may be the file's (removed dir, full disk).
            file = None;
        }
        for job in waiting {
            job.reply.send(result.clone());
        }
    }
}

fn write_batch(path: &Path, file: &mut Option<File>, batch: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    // Rotated or removed since the last batch: start a new file at the path.
    if let Some(open) = file.as_ref() {
        let same = match (open.metadata(), std::fs::metadata(path)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        };
        if !same {
            *file = None;
        }
    }
    let open = match file {
        Some(f) => f,
        None => {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)?;
            }
            file.insert(OpenOptions::new().create(true).append(true).open(path)?)
        }
    };
    if batch.is_empty() {
        return Ok(());
    }
    open.lock()?;
    let written = open.write_all(batch).and_then(|()| open.sync_data());
    let unlocked = open.unlock();
    written?;
    unlocked
}

impl AuditSink for JsonlFileSink {
    fn record(&self, event: &AuditEvent) -> Result<(), AuditError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.submit(event, Reply::Blocking(tx))?;
        match rx.recv() {
            Ok(result) => result.map_err(|e| self.io_error(e)),
            Err(_) => {
                Err(self
                    .io_error("the audit writer thread stopped before confirming the write".into()))
            }
        }
    }

    fn prepare(&self) {
        // An empty line: the writer opens the file and writes nothing.
        let (tx, _rx) = tokio::sync::oneshot::channel();
        let _ = self.submit_line(Vec::new(), Reply::Async(tx));
    }

    fn record_async(&self, event: &AuditEvent) -> Option<AuditFuture> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let submitted = self.submit(event, Reply::Async(tx));
        let path = self.path.clone();
        let io = move |message: String| AuditError::Io {
            path: path.clone(),
            source: std::io::Error::other(message),
        };
        Some(Box::pin(async move {
            submitted?;
            match rx.await {
                Ok(result) => result.map_err(io),
                Err(_) => {
                    Err(io("the audit writer thread stopped before confirming the write".into()))
                }
            }
        }))
    }
}

/// A sink that forwards to several sinks; fails if any fails (after trying all).
pub struct FanOut(pub Vec<Box<dyn AuditSink>>);

impl AuditSink for FanOut {
    fn prepare(&self) {
        for sink in &self.0 {
            sink.prepare();
        }
    }

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
    fn async_records_are_all_durable_and_survive_rotation() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.jsonl");
        let sink = JsonlFileSink::new(&path);
        let rt =
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().expect("runtime");
        rt.block_on(async {
            let tasks: Vec<_> = (0..64)
                .map(|i| {
                    let fut = sink
                        .record_async(
                            &AuditEvent::new(Action::Unlock, Outcome::Success, "a").serial(i),
                        )
                        .expect("the file sink records asynchronously");
                    tokio::spawn(fut)
                })
                .collect();
            for t in tasks {
                t.await.expect("task").expect("record");
            }
        });
        let mut serials: Vec<u64> =
            read_jsonl(&path).expect("read").iter().filter_map(|e| e.serial).collect();
        serials.sort_unstable();
        assert_eq!(
            serials,
            (0..64).collect::<Vec<_>>(),
            "every acknowledged event is in the file exactly once"
        );

        // Rotated away: the next event starts a new file at the path.
        let rotated = dir.path().join("audit.jsonl.1");
        std::fs::rename(&path, &rotated).expect("rotate");
        sink.record(&AuditEvent::new(Action::Lock, Outcome::Success, "b"))
            .expect("record after rotation");
        assert_eq!(read_jsonl(&path).expect("new file").len(), 1);
        assert_eq!(
            read_jsonl(&rotated).expect("old file").len(),
            64,
            "the rotated file is left alone"
        );

        // A write that cannot happen is reported to the caller, not swallowed.
        std::fs::remove_file(&path).expect("rm");
        std::fs::remove_dir_all(dir.path()).expect("rm dir");
        std::fs::write(dir.path(), b"not a directory").expect("block the path");
        let err = sink
            .record(&AuditEvent::new(Action::Lock, Outcome::Success, "c"))
            .expect_err("cannot write under a file");
        assert!(err.to_string().contains("audit.jsonl"), "{err}");
        std::fs::remove_file(dir.path()).expect("cleanup");
    }

    #[test]
    fn event_serializes_with_documented_field_names() {
        let ev = AuditEvent::new(Action::ForceUnlock, Outcome::Denied, "alice")
            .env("production")
            .lock_id("abc");
        let v = serde_json::to_value(&ev).expect("json");
        for key in [
            "schema", "time", "event_id", "env", "action", "actor", "outcome", "serial", "lock_id",
            "sha256", "details",
        ] {
            assert!(v.get(key).is_some(), "missing field {key}");
        }
        assert_eq!(v["action"], "force_unlock");
        assert_eq!(v["outcome"], "denied");
    }
}
