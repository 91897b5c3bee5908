//! The Loki audit sink: the second [`AuditSink`] implementation.
//!
//! [`LokiSink::record`] appends the event to an on-disk spool and fsyncs it
//! before returning, so an acknowledged event survives a crash and a Loki
//! outage of any length. A background thread ships the spool in file order
//! (so in order per stream) in bounded batches — by size
//! (`batch_max_bytes`/`batch_max_events`) and by time (`batch_wait`) — with
//! gzip, retries 429/5xx/network errors with exponential backoff and jitter,
//! and advances a durable cursor only after a 2xx. Memory is one batch: the
//! spool is streamed from disk.
//!
//! At exit (the sink is dropped), the thread tries to deliver what is left
//! for `exit_flush` (default 2 s); anything still pending stays in the spool
//! and is shipped by the next platctl run that has the sink configured, or by
//! `platctl audit ship`. One process at a time ships a spool (`flock`).
//!
//! Dedupe: each event becomes one deterministic entry — labels from the event,
//! timestamp = the event's time in nanoseconds, line = the event's canonical
//! JSON (with its `event_id`) — so a re-sent event is an exact duplicate,
//! which Loki stores once; receivers may also dedupe by `event_id`.

pub mod config;
pub mod push;
#[cfg(feature = "test-support")]
pub mod receiver;
pub mod ship;
pub mod spool;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use platctl_audit::{AuditError, AuditEvent, AuditSink};

pub use config::{Auth, LokiConfig};
pub use ship::{Control, Ended, Metrics, PassStats, Pusher, Target, prometheus_text};
pub use spool::Spool;

#[derive(Debug, thiserror::Error)]
pub enum LokiError {
    #[error("Loki sink configuration: {0}")]
    Config(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path}: the line at byte offset {offset} is not an audit event ({reason}); fix or remove that line, then run again (delivered lines are not re-sent)"
    )]
    InvalidLine { path: PathBuf, offset: u64, reason: String },
    #[error("{0} is being shipped by another platctl process; wait for it to finish")]
    Busy(PathBuf),
    #[error(transparent)]
    Write(#[from] platctl_atomic_file::WriteError),
}

/// The spool's [`Target`]: its file, cursor and shipper lock.
pub fn spool_target(spool: &Spool) -> Target {
    Target {
        file: spool.file().to_owned(),
        cursor: spool.cursor_path().to_owned(),
        lock: spool.dir().join("shipper.lock"),
        invalid: spool::InvalidLines::Skip,
    }
}

/// Take a target's shipper lock (non-blocking). `Ok(None)`: another process ships it.
pub fn try_lock_target(target: &Target) -> Result<Option<std::fs::File>, LokiError> {
    let io = |e| LokiError::Io { path: target.lock.clone(), source: e };
    if let Some(dir) = target.lock.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&target.lock)
        .map_err(io)?;
    match f.try_lock() {
        Ok(()) => Ok(Some(f)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(io(e)),
    }
}

/// Ship one target to the end, holding its lock: `platctl audit ship`.
pub fn ship_target(
    pusher: &Pusher,
    target: &Target,
    ctl: &Control,
    metrics: &Metrics,
    on_batch: &mut dyn FnMut(&PassStats),
) -> Result<(Ended, PassStats), LokiError> {
    let _lock = try_lock_target(target)?.ok_or_else(|| LokiError::Busy(target.file.clone()))?;
    let mut stats = PassStats::default();
    let ended = ship::ship_pass(pusher, target, ctl, metrics, &mut stats, on_batch)?;
    Ok((ended, stats))
}

#[derive(Debug, Default)]
struct LiveState {
    /// When the oldest unshipped record of this process was appended.
    dirty_since: Option<Instant>,
    exiting: bool,
}

struct Shared {
    state: Mutex<LiveState>,
    wake: Condvar,
    ctl: Control,
    metrics: Metrics,
}

/// Audit sink that spools to disk and ships to Loki in the background.
pub struct LokiSink {
    spool: Arc<Spool>,
    shared: Arc<Shared>,
    exit_flush: Duration,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// How often the background thread looks at the spool without being woken
/// (events appended by other processes, a Loki that came back).
const IDLE_POLL: Duration = Duration::from_secs(5);

impl LokiSink {
    /// Start the sink: `spool_dir` holds the spool; shipping starts at once
    /// (including events left by earlier runs).
    pub fn new(cfg: LokiConfig, spool_dir: impl Into<PathBuf>) -> Result<Self, LokiError> {
        let spool = Arc::new(Spool::new(spool_dir));
        std::fs::create_dir_all(spool.dir())
            .map_err(|e| LokiError::Io { path: spool.dir().to_owned(), source: e })?;
        let shared = Arc::new(Shared {
            state: Mutex::new(LiveState { dirty_since: Some(Instant::now()), exiting: false }),
            wake: Condvar::new(),
            ctl: Control::default(),
            metrics: Metrics::default(),
        });
        shared.metrics.pending_events.store(spool.pending().unwrap_or(0), Ordering::Relaxed);
        let exit_flush = cfg.exit_flush;
        // The blocking HTTP client must be built (and dropped) outside any async
        // runtime: do it on the shipper thread and wait for the result.
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), LokiError>>();
        let thread = {
            let (spool, shared) = (spool.clone(), shared.clone());
            std::thread::Builder::new()
                .name("loki-shipper".into())
                .spawn(move || match Pusher::new(cfg) {
                    Ok(pusher) => {
                        let _ = ready_tx.send(Ok(()));
                        shipper_thread(&pusher, &spool, &shared);
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                })
                .map_err(|e| {
                    LokiError::Config(format!("cannot start the Loki shipper thread: {e}"))
                })?
        };
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                return Err(LokiError::Config("the Loki shipper thread exited at start".into()));
            }
        }
        Ok(LokiSink { spool, shared, exit_flush, thread: Some(thread) })
    }

    pub fn spool_dir(&self) -> &Path {
        self.spool.dir()
    }

    pub fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    /// Stop the shipper after trying to deliver for at most the exit-flush
    /// window; returns the events left in the spool. Called by `Drop`.
    pub fn close(&mut self) -> u64 {
        let Some(thread) = self.thread.take() else { return self.spool.pending().unwrap_or(0) };
        self.shared.ctl.set_deadline(Instant::now() + self.exit_flush);
        if let Ok(mut st) = self.shared.state.lock() {
            st.exiting = true;
        }
        self.shared.wake.notify_all();
        let _ = thread.join();
        let pending = self.spool.pending().unwrap_or(0);
        if pending > 0 {
            tracing::warn!(
                pending,
                spool = %self.spool.dir().display(),
                "audit events not yet delivered to Loki stay in the spool; the next platctl run or `platctl audit ship` sends them"
            );
        }
        pending
    }
}

impl Drop for LokiSink {
    fn drop(&mut self) {
        self.close();
    }
}

impl AuditSink for LokiSink {
    fn record(&self, event: &AuditEvent) -> Result<(), AuditError> {
        self.spool.append(event).map_err(|e| AuditError::Io {
            path: self.spool.file().to_owned(),
            source: std::io::Error::other(e.to_string()),
        })?;
        self.shared.metrics.pending_events.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut st) = self.shared.state.lock() {
            st.dirty_since.get_or_insert_with(Instant::now);
        }
        self.shared.wake.notify_all();
        Ok(())
    }
}

fn shipper_thread(pusher: &Pusher, spool: &Spool, shared: &Shared) {
    let target = spool_target(spool);
    let batch_wait = pusher.config().batch_wait;
    let mut halted: Option<String> = None;
    let mut next_poll = Instant::now() + IDLE_POLL;
    loop {
        let exiting = {
            let Ok(mut st) = shared.state.lock() else { return };
            loop {
                let now = Instant::now();
                if st.exiting {
                    break;
                }
                let due_at = st.dirty_since.map_or(next_poll, |t| (t + batch_wait).min(next_poll));
                if now >= due_at {
                    break;
                }
                st = match shared.wake.wait_timeout(st, due_at - now) {
                    Ok((st, _)) => st,
                    Err(_) => return,
                };
            }
            st.dirty_since = None;
            st.exiting
        };
        if halted.is_none() {
            match try_lock_target(&target) {
                Ok(Some(_lock)) => {
                    let mut stats = PassStats::default();
                    match ship::ship_pass(
                        pusher,
                        &target,
                        &shared.ctl,
                        &shared.metrics,
                        &mut stats,
                        &mut |_| {},
                    ) {
                        Ok(Ended::Drained) => {
                            if let Err(e) = spool.compact_if_drained() {
                                tracing::warn!(error = %e, "cannot compact the Loki spool");
                            }
                        }
                        Ok(Ended::Stopped) => {}
                        Ok(Ended::Rejected { status, body }) => {
                            let msg =
                                format!("Loki refused audit events with HTTP {status}: {body}");
                            tracing::error!(spool = %spool.dir().display(), "{msg}; they stay in the spool: fix the cause, then run `platctl audit ship`");
                            halted = Some(msg);
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "shipping audit events to Loki failed; they stay in the spool")
                        }
                    }
                }
                Ok(None) => tracing::debug!("another process ships this spool"),
                Err(e) => tracing::error!(error = %e, "cannot lock the Loki spool"),
            }
        }
        if exiting {
            return;
        }
        next_poll = Instant::now() + IDLE_POLL;
    }
}
