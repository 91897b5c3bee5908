//! Shipping: read a JSON Lines file from its cursor in bounded batches, push
//! each batch (retrying 429/5xx/network errors with exponential backoff and
//! jitter), and advance the durable cursor only after a 2xx.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::LokiError;
use crate::config::{Auth, LokiConfig};
use crate::push::{encode_json, gzip};
use crate::spool::{InvalidLines, Reader, read_cursor, write_cursor};

/// Counters shared by a sink or a ship run; exported as Prometheus metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    /// `platctl_audit_ship_errors_total`: failed push attempts (retried or not).
    pub errors_total: AtomicU64,
    /// `platctl_audit_spool_pending_events`: events not yet acknowledged by Loki.
    pub pending_events: AtomicU64,
}

impl Metrics {
    /// The two metrics in the Prometheus text format (passes `promtool check metrics`).
    pub fn prometheus_text(&self) -> String {
        prometheus_text(
            self.errors_total.load(Ordering::Relaxed),
            self.pending_events.load(Ordering::Relaxed),
        )
    }
}

pub fn prometheus_text(errors_total: u64, pending_events: u64) -> String {
    format!(
        "# HELP platctl_audit_ship_errors_total Failed pushes of audit events to Loki (each attempt, retried or not).\n\
         # TYPE platctl_audit_ship_errors_total counter\n\
         platctl_audit_ship_errors_total {errors_total}\n\
         # HELP platctl_audit_spool_pending_events Audit events spooled on disk and not yet acknowledged by Loki.\n\
         # TYPE platctl_audit_spool_pending_events gauge\n\
         platctl_audit_spool_pending_events {pending_events}\n"
    )
}

/// Exponential backoff with jitter: attempt 0 waits about `min`, each attempt
/// doubles, capped at `max`; the wait is uniform in [d/2, d].
pub fn backoff(attempt: u32, min: Duration, max: Duration) -> Duration {
    use rand::Rng;
    let d = min.saturating_mul(1u32 << attempt.min(24)).min(max);
    let half = d / 2;
    let jitter = rand::rng().random_range(0..=u64::try_from(half.as_nanos()).unwrap_or(u64::MAX));
    half + Duration::from_nanos(jitter)
}

/// When to give up: a stop flag and/or a deadline.
#[derive(Debug, Default)]
pub struct Control {
    stop: AtomicBool,
    deadline: Mutex<Option<Instant>>,
}

impl Control {
    pub fn with_deadline(deadline: Option<Instant>) -> Self {
        Control { stop: AtomicBool::new(false), deadline: Mutex::new(deadline) }
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    pub fn set_deadline(&self, at: Instant) {
        if let Ok(mut d) = self.deadline.lock() {
            *d = Some(at);
        }
    }

    fn deadline(&self) -> Option<Instant> {
        self.deadline.lock().ok().and_then(|d| *d)
    }

    pub fn give_up(&self) -> bool {
        self.stop.load(Ordering::SeqCst) || self.deadline().is_some_and(|d| Instant::now() >= d)
    }

    /// Sleep up to `d`, waking early to give up.
    fn sleep(&self, d: Duration) {
        let end = Instant::now() + d;
        while !self.give_up() {
            let now = Instant::now();
            if now >= end {
                return;
            }
            std::thread::sleep((end - now).min(Duration::from_millis(25)));
        }
    }
}

enum Attempt {
    Delivered,
    Retry(String),
    Reject { status: u16, body: String },
}

/// An HTTP client for one Loki push endpoint (blocking: run it off async workers).
pub struct Pusher {
    client: reqwest::blocking::Client,
    cfg: LokiConfig,
}

impl Pusher {
    pub fn new(cfg: LokiConfig) -> Result<Self, LokiError> {
        let client = reqwest::blocking::Client::builder()
            .user_agent(concat!("platctl/", env!("CARGO_PKG_VERSION")))
            .timeout(cfg.request_timeout)
            .build()
            .map_err(|e| LokiError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Pusher { client, cfg })
    }

    pub fn config(&self) -> &LokiConfig {
        &self.cfg
    }

    fn attempt(&self, body: &bytes::Bytes, timeout: Duration) -> Attempt {
        let mut req = self
            .client
            .post(self.cfg.push_url.clone())
            .header(http::header::CONTENT_TYPE, "application/json")
            .timeout(timeout)
            .body(body.clone());
        if self.cfg.gzip {
            req = req.header(http::header::CONTENT_ENCODING, "gzip");
        }
        if let Some(t) = &self.cfg.tenant {
            req = req.header("X-Scope-OrgID", t);
        }
        req = match &self.cfg.auth {
            Auth::None => req,
            Auth::Basic { username, password } => req.basic_auth(username, Some(password)),
            Auth::Bearer(token) => req.bearer_auth(token),
        };
        match req.send() {
            Ok(resp) => {
                let status = resp.status();
                if status.is_success() {
                    return Attempt::Delivered;
                }
                let mut text = resp.text().unwrap_or_default();
                text.truncate(500);
                let text = text.trim().to_owned();
                if status.as_u16() == 429 || status.is_server_error() {
                    Attempt::Retry(format!("HTTP {status}: {text}"))
                } else {
                    Attempt::Reject { status: status.as_u16(), body: text }
                }
            }
            // reqwest's message names the URL, which never carries credentials (refused in config).
            Err(e) => Attempt::Retry(format!("{e:#}").chars().take(500).collect()),
        }
    }
}

/// A file to ship and its cursor (and the lock that keeps shippers exclusive).
#[derive(Debug, Clone)]
pub struct Target {
    pub file: PathBuf,
    pub cursor: PathBuf,
    pub lock: PathBuf,
    pub invalid: InvalidLines,
}

impl Target {
    /// `--from FILE` to `push_url` (+ tenant): the cursor sits next to the
    /// file, named by a hash of the destination, so each Loki keeps its own.
    pub fn for_file(file: &Path, cfg: &LokiConfig) -> Target {
        let mut dest = format!("{}|{}", cfg.push_url, cfg.tenant.as_deref().unwrap_or(""));
        // Another source label is another set of streams: its own cursor.
        if cfg.source != crate::push::SOURCE {
            dest.push('|');
            dest.push_str(&cfg.source);
        }
        // FNV-1a: stable across builds and platforms.
        let h = dest.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "audit".into());
        Target {
            file: file.to_owned(),
            cursor: file.with_file_name(format!("{name}.loki-{h:016x}.cursor.json")),
            lock: file.with_file_name(format!("{name}.loki-{h:016x}.lock")),
            invalid: InvalidLines::Fail,
        }
    }

    pub fn pending(&self) -> Result<u64, LokiError> {
        crate::spool::pending_lines(&self.file, read_cursor(&self.cursor)?)
    }
}

/// How a shipping pass ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// Everything up to the end of the file is acknowledged.
    Drained,
    /// Stopped by the control (deadline or stop) with events left.
    Stopped,
    /// Loki refused a batch with a 4xx other than 429: not retried; the
    /// batch and everything after it stay pending.
    Rejected { status: u16, body: String },
}

#[derive(Debug, Default, Clone)]
pub struct PassStats {
    pub sent_events: u64,
    pub batches: u64,
    pub skipped_invalid: u64,
}

/// Ship `target` from its cursor to the end of the file. The caller holds the
/// target's shipper lock. `on_batch` is called after each acknowledged batch.
pub fn ship_pass(
    pusher: &Pusher,
    target: &Target,
    ctl: &Control,
    metrics: &Metrics,
    stats: &mut PassStats,
    on_batch: &mut dyn FnMut(&PassStats),
) -> Result<Ended, LokiError> {
    let cfg = pusher.config();
    let Some(mut reader) = Reader::open(&target.file, read_cursor(&target.cursor)?)? else {
        return Ok(Ended::Drained);
    };
    let mut written = reader.cursor();
    // Pipelined: the next batch is read and encoded while the current one is
    // in flight. Batches are still acknowledged, and the cursor advanced, in
    // file order; at most two batches are in memory.
    let mut next = prepare(&mut reader, cfg, target.invalid);
    let ended = loop {
        let cur = match next? {
            Step::End { end, skipped } => {
                stats.skipped_invalid += skipped;
                if end.offset > written.offset {
                    write_cursor(&target.cursor, &end)?;
                }
                break Ended::Drained;
            }
            Step::Batch(b) => b,
        };
        let (delivered, prepared) = std::thread::scope(|s| {
            let sender = s.spawn(|| send(pusher, &cur.body, ctl, metrics));
            let prepared = prepare(&mut reader, cfg, target.invalid);
            (sender.join(), prepared)
        });
        match delivered.map_err(|_| LokiError::Config("the push thread panicked".into()))? {
            None => break Ended::Stopped,
            Some(Err(rejected)) => break rejected,
            Some(Ok(())) => {
                write_cursor(&target.cursor, &cur.end)?;
                written = cur.end;
                stats.batches += 1;
                stats.sent_events += cur.count;
                stats.skipped_invalid += cur.skipped;
                on_batch(stats);
            }
        }
        next = prepared;
    };
    metrics.pending_events.store(target.pending()?, Ordering::Relaxed);
    Ok(ended)
}

struct Prepared {
    body: bytes::Bytes,
    count: u64,
    skipped: u64,
    /// The cursor to write once this batch is acknowledged.
    end: crate::spool::Cursor,
}

enum Step {
    Batch(Prepared),
    /// Nothing more to send; `end` is past any skipped lines.
    End {
        end: crate::spool::Cursor,
        skipped: u64,
    },
}

fn prepare(
    reader: &mut Reader,
    cfg: &LokiConfig,
    invalid: InvalidLines,
) -> Result<Step, LokiError> {
    let batch = reader.next_batch(cfg.batch_max_events, cfg.batch_max_bytes, invalid)?;
    let end = reader.cursor();
    if batch.entries.is_empty() {
        return Ok(Step::End { end, skipped: batch.skipped_invalid });
    }
    let json = encode_json(&batch.entries, &cfg.source);
    let body = bytes::Bytes::from(if cfg.gzip { gzip(&json) } else { json });
    Ok(Step::Batch(Prepared {
        body,
        count: batch.entries.len() as u64,
        skipped: batch.skipped_invalid,
        end,
    }))
}

/// Push one body until it is acknowledged (`Some(Ok)`), refused with a
/// non-retryable status (`Some(Err)`), or the control gives up (`None`).
fn send(
    pusher: &Pusher,
    body: &bytes::Bytes,
    ctl: &Control,
    metrics: &Metrics,
) -> Option<Result<(), Ended>> {
    let cfg = pusher.config();
    let mut attempt = 0u32;
    loop {
        if ctl.give_up() {
            return None;
        }
        let timeout = match ctl.deadline() {
            Some(d) => cfg
                .request_timeout
                .min(d.saturating_duration_since(Instant::now()))
                .max(Duration::from_millis(1)),
            None => cfg.request_timeout,
        };
        match pusher.attempt(body, timeout) {
            Attempt::Delivered => return Some(Ok(())),
            Attempt::Retry(why) => {
                metrics.errors_total.fetch_add(1, Ordering::Relaxed);
                let wait = backoff(attempt, cfg.min_backoff, cfg.max_backoff);
                tracing::warn!(url = %cfg.push_url, attempt, retry_in_ms = wait.as_millis() as u64, error = %why, "Loki push failed; retrying");
                attempt = attempt.saturating_add(1);
                ctl.sleep(wait);
            }
            Attempt::Reject { status, body } => {
                metrics.errors_total.fetch_add(1, Ordering::Relaxed);
                return Some(Err(Ended::Rejected { status, body }));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let (min, max) = (Duration::from_millis(100), Duration::from_secs(2));
        for attempt in 0..40 {
            let full = min.saturating_mul(1u32 << attempt.min(24)).min(max);
            let mut seen = std::collections::HashSet::new();
            for _ in 0..50 {
                let d = backoff(attempt, min, max);
                assert!(
                    d >= full / 2 && d <= full,
                    "attempt {attempt}: {d:?} outside [{:?}, {full:?}]",
                    full / 2
                );
                seen.insert(d);
            }
            assert!(seen.len() > 1, "jitter: waits differ");
        }
        assert!(backoff(3, min, max) >= Duration::from_millis(400));
    }

    #[test]
    fn destination_specific_cursor_next_to_the_file() {
        let a = LokiConfig::new("http://127.0.0.1:1").expect("cfg");
        let b = LokiConfig::new("http://127.0.0.1:2").expect("cfg");
        let ta = Target::for_file(Path::new("/x/audit.jsonl"), &a);
        let tb = Target::for_file(Path::new("/x/audit.jsonl"), &b);
        assert_eq!(ta.cursor.parent(), Some(Path::new("/x")));
        assert_ne!(ta.cursor, tb.cursor, "each Loki has its own cursor");
        assert_eq!(ta.cursor, Target::for_file(Path::new("/x/audit.jsonl"), &a).cursor, "stable");
    }
}
