//! `platctl audit ship`, and the audit sink every state command uses: the
//! JSON Lines file, plus the Loki sink when `PLATCTL_LOKI_URL` is set.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use platctl_audit::{AuditSink, FanOut, JsonlFileSink};
use platctl_audit_loki::config::{ENV_PASSWORD, ENV_TENANT, ENV_TOKEN, ENV_URL, ENV_USERNAME};
use platctl_audit_loki::{Control, Ended, LokiConfig, LokiSink, Metrics, Pusher, Spool, Target};
use serde::Serialize;

use crate::cli::{AuditCommand, ShipArgs};
use crate::exit;
use crate::output::{self, Format};

/// Where the Loki sink of an audit log spools: $PLATCTL_LOKI_SPOOL, else
/// `<audit log>.loki-spool` (a directory next to it).
pub fn spool_dir(audit_log: &Path) -> PathBuf {
    if let Some(dir) =
        std::env::var_os(platctl_audit_loki::config::ENV_SPOOL).filter(|v| !v.is_empty())
    {
        return PathBuf::from(dir);
    }
    let name = audit_log
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "audit.jsonl".into());
    audit_log.with_file_name(format!("{name}.loki-spool"))
}

/// The audit sink for `audit_log`: the JSON Lines file, fanned out to the Loki
/// sink when `PLATCTL_LOKI_URL` is set.
pub fn sink(audit_log: &Path) -> anyhow::Result<Arc<dyn AuditSink>> {
    let jsonl = JsonlFileSink::new(audit_log);
    let Some(cfg) = LokiConfig::from_env()? else { return Ok(Arc::new(jsonl)) };
    let spool = spool_dir(audit_log);
    let loki = LokiSink::new(cfg, &spool)
        .with_context(|| format!("cannot start the Loki audit sink (spool {})", spool.display()))?;
    Ok(Arc::new(FanOut(vec![Box::new(jsonl), Box::new(loki)])))
}

#[derive(Debug, Serialize)]
struct ShipReport {
    source: String,
    url: String,
    delivered: bool,
    sent_events: u64,
    batches: u64,
    skipped_invalid_lines: u64,
    duration_seconds: f64,
    events_per_second: f64,
    platctl_audit_ship_errors_total: u64,
    platctl_audit_spool_pending_events: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    rejected: Option<Rejected>,
}

#[derive(Debug, Serialize)]
struct Rejected {
    status: u16,
    body: String,
}

pub async fn run(cmd: AuditCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        AuditCommand::Ship(args) => ship(args).await,
    }
}

fn config(args: &ShipArgs) -> anyhow::Result<LokiConfig> {
    let (loki, tenant) = (args.loki.clone(), args.tenant.clone());
    let cfg = LokiConfig::from_lookup(|k| match k {
        ENV_URL if loki.is_some() => loki.clone(),
        ENV_TENANT if tenant.is_some() => tenant.clone(),
        _ => std::env::var(k).ok(),
    })
    .map_err(|e| exit::coded(exit::USAGE, e.to_string()))?;
    let mut cfg = cfg.ok_or_else(|| {
        exit::coded(exit::USAGE, format!("no Loki URL: pass --loki URL or set {ENV_URL}"))
    })?;
    if let Some(n) = args.batch_events {
        cfg.batch_max_events = n.max(1);
    }
    if let Some(n) = args.batch_bytes {
        cfg.batch_max_bytes = n.max(1);
    }
    Ok(cfg)
}

async fn ship(args: ShipArgs) -> anyhow::Result<ExitCode> {
    let cfg = config(&args)?;
    let target = match &args.from {
        Some(file) => {
            if !file.is_file() {
                return Err(exit::coded(
                    exit::USAGE,
                    format!("--from {}: no such file; pass a JSON Lines audit log", file.display()),
                ));
            }
            Target::for_file(file, &cfg)
        }
        None => {
            let dir = match &args.spool {
                Some(d) => d.clone(),
                None => {
                    let store = super::open_store(&args.store)?;
                    spool_dir(&super::audit_path(&args.store, &store))
                }
            };
            platctl_audit_loki::spool_target(&Spool::new(dir))
        }
    };
    if args.from_start {
        match std::fs::remove_file(&target.cursor) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("cannot reset cursor {}", target.cursor.display()));
            }
        }
    }
    let deadline = match args.timeout {
        Some(s) if s.is_finite() && s >= 0.0 => Some(Instant::now() + Duration::from_secs_f64(s)),
        Some(s) => {
            return Err(exit::coded(exit::USAGE, format!("--timeout {s}: expected seconds >= 0")));
        }
        None => None,
    };
    let url = cfg.push_url.to_string();
    let source = target.file.display().to_string();
    output::progress(format!("shipping {source} to {url}"));
    let started = Instant::now();
    let metrics = Arc::new(Metrics::default());
    let result = {
        let metrics = metrics.clone();
        let target = target.clone();
        tokio::task::spawn_blocking(move || {
            let pusher = Pusher::new(cfg)?;
            let mut last = Instant::now();
            let mut progress = |s: &platctl_audit_loki::PassStats| {
                if last.elapsed() >= Duration::from_secs(2) {
                    last = Instant::now();
                    output::progress(format!(
                        "{} events sent in {} batches",
                        s.sent_events, s.batches
                    ));
                }
            };
            platctl_audit_loki::ship_target(
                &pusher,
                &target,
                &Control::with_deadline(deadline),
                &metrics,
                &mut progress,
            )
        })
        .await
        .context("the shipping task failed")?
    };
    let (ended, stats) = match result {
        Ok(r) => r,
        Err(e) => {
            // Still report what was delivered and what is pending.
            metrics.pending_events.store(target.pending().unwrap_or(0), Ordering::Relaxed);
            write_metrics(args.metrics.as_deref(), &metrics)?;
            return Err(e.into());
        }
    };
    let secs = started.elapsed().as_secs_f64();
    let report = ShipReport {
        source,
        url,
        delivered: ended == Ended::Drained,
        sent_events: stats.sent_events,
        batches: stats.batches,
        skipped_invalid_lines: stats.skipped_invalid,
        duration_seconds: secs,
        events_per_second: if secs > 0.0 { stats.sent_events as f64 / secs } else { 0.0 },
        platctl_audit_ship_errors_total: metrics.errors_total.load(Ordering::Relaxed),
        platctl_audit_spool_pending_events: metrics.pending_events.load(Ordering::Relaxed),
        rejected: match &ended {
            Ended::Rejected { status, body } => {
                Some(Rejected { status: *status, body: body.clone() })
            }
            _ => None,
        },
    };
    write_metrics(args.metrics.as_deref(), &metrics)?;
    match args.output {
        Format::Json => output::print_json(&report)?,
        Format::Table => println!(
            "shipped {} events in {} batches to {} in {:.2}s ({:.0} events/s); pending {}; failed attempts {}",
            report.sent_events,
            report.batches,
            report.url,
            secs,
            report.events_per_second,
            report.platctl_audit_spool_pending_events,
            report.platctl_audit_ship_errors_total
        ),
    }
    match ended {
        Ended::Drained => Ok(ExitCode::from(exit::OK)),
        Ended::Stopped => Err(exit::coded(
            exit::ERROR,
            format!(
                "--timeout reached: {} events are not delivered yet (kept; run again to resume)",
                report.platctl_audit_spool_pending_events
            ),
        )),
        Ended::Rejected { status, body } => Err(exit::coded(
            exit::ERROR,
            format!(
                "Loki refused a batch with HTTP {status} ({body}); not retried. {} events are kept; fix the cause \
                 (credentials: {ENV_USERNAME}/{ENV_PASSWORD} or {ENV_TOKEN}; tenant; Loki limits such as \
                 reject_old_samples_max_age) and run again",
                report.platctl_audit_spool_pending_events
            ),
        )),
    }
}

fn write_metrics(path: Option<&Path>, metrics: &Metrics) -> anyhow::Result<()> {
    let Some(path) = path else { return Ok(()) };
    platctl_atomic_file::write(path, metrics.prometheus_text().as_bytes())
        .context("cannot write the shipping metrics (--metrics)")
}
