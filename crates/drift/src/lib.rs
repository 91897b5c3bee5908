//! `platctl drift`: read-only drift detection.
//!
//! Per env: `terraform init`, then `terraform plan -lock=false
//! -detailed-exitcode -json -input=false`, with the state served by an
//! in-process backend whose one-time token can only *read* that env: the check
//! can never take the lock or write state, and it works while an apply holds
//! the lock. The plan's JSON stream is parsed line by line ([`parse`]), compared
//! with the previous report kept in the store ([`report`]), and turned into
//! metrics ([`metrics`]).

pub mod metrics;
pub mod parse;
pub mod report;

use std::io::{BufReader, Read};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures::StreamExt;
use platctl_audit::{Action, AuditEvent, AuditSink, Outcome};
use platctl_backend::Permission;
use platctl_state::StateStore;
use platctl_tf::{Backend, BackendSession};
use time::OffsetDateTime;

pub use report::{EnvReport, Status};

#[derive(Debug, thiserror::Error)]
pub enum DriftError {
    #[error(
        "no environments to check: pass --env ENV or --all (env roots are the subdirectories of {0})"
    )]
    NoEnvs(PathBuf),
    #[error("cannot list env roots in {path}: {source}")]
    ListEnvs { path: PathBuf, source: std::io::Error },
    // Store and state errors are large: boxed, so every `Result` here stays small.
    #[error("cannot keep the drift report of env {env} in the store: {source}")]
    SaveReport { env: String, source: Box<platctl_store::StoreError> },
    #[error(transparent)]
    State(Box<platctl_state::StateError>),
}

impl From<platctl_state::StateError> for DriftError {
    fn from(e: platctl_state::StateError) -> Self {
        DriftError::State(Box::new(e))
    }
}

/// Where state and history come from.
pub enum Source {
    /// A store: state served in-process (read-only), reports kept in the store.
    Store(StateStore),
    /// A shared `platctl state serve`; no report history.
    Server(String),
}

pub struct DriftRun {
    /// (env, root dir) pairs.
    pub envs: Vec<(String, PathBuf)>,
    pub source: Source,
    pub parallel: usize,
    pub terraform: PathBuf,
    pub extra_plan_args: Vec<String>,
    pub actor: String,
    pub audit: Arc<dyn AuditSink>,
    /// Progress lines go here (stderr in the CLI).
    pub progress: Arc<dyn Fn(String) + Send + Sync>,
}

/// Env roots under `dir`: every subdirectory holding at least one `.tf` file.
pub fn discover_envs(dir: &std::path::Path) -> Result<Vec<String>, DriftError> {
    let err = |source| DriftError::ListEnvs { path: dir.to_owned(), source };
    let mut envs = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(err)? {
        let entry = entry.map_err(err)?;
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        let has_tf = std::fs::read_dir(&path)
            .map(|it| it.flatten().any(|f| f.path().extension().is_some_and(|e| e == "tf")))
            .unwrap_or(false);
        if let (true, Some(name)) = (has_tf, path.file_name().and_then(|n| n.to_str())) {
            envs.push(name.to_owned());
        }
    }
    envs.sort();
    if envs.is_empty() {
        return Err(DriftError::NoEnvs(dir.to_owned()));
    }
    Ok(envs)
}

fn report_key(env: &str) -> String {
    format!("{env}/drift/last.json")
}

async fn load_previous(state: &StateStore, env: &str) -> Option<EnvReport> {
    let obj = state.store().get(&report_key(env)).await.ok().flatten()?;
    serde_json::from_slice(&obj.bytes).ok()
}

/// The outcome of a run: reports in the order the envs were given.
pub struct DriftOutcome {
    pub reports: Vec<EnvReport>,
    /// Per env, the Unix time of its last successful check.
    pub last_success: Vec<(String, Option<i64>)>,
}

/// What a run found, over all its envs. The binary maps it to an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every env was checked and is clean.
    Clean,
    /// Every env was checked; at least one has drift or pending changes.
    Changes,
    /// At least one check failed: the run is incomplete (this wins over drift).
    Incomplete,
}

impl DriftOutcome {
    pub fn verdict(&self) -> Verdict {
        if self.reports.iter().any(|r| r.status == Status::Error) {
            Verdict::Incomplete
        } else if self.reports.iter().any(|r| matches!(r.status, Status::Drift | Status::Pending)) {
            Verdict::Changes
        } else {
            Verdict::Clean
        }
    }
}

pub async fn run(run: DriftRun) -> Result<DriftOutcome, DriftError> {
    for (env, _) in &run.envs {
        platctl_state::validate_env(env)?;
    }
    let run = Arc::new(run);
    let order: Vec<String> = run.envs.iter().map(|(e, _)| e.clone()).collect();
    let results: Vec<_> = futures::stream::iter(run.envs.clone())
        .map(|(env, dir)| {
            let run = run.clone();
            async move { check_env(&run, env, dir).await }
        })
        .buffer_unordered(run.parallel.max(1))
        .collect()
        .await;
    let mut pairs = Vec::new();
    for r in results {
        pairs.push(r?);
    }
    pairs.sort_by_key(|(rep, _)| order.iter().position(|e| *e == rep.env));
    let last_success = pairs.iter().map(|(r, t)| (r.env.clone(), *t)).collect();
    let reports: Vec<EnvReport> = pairs.into_iter().map(|(r, _)| r).collect();

    let outcome = if reports.iter().any(|r| r.status == Status::Error) {
        Outcome::Error
    } else {
        Outcome::Success
    };
    let summary: Vec<serde_json::Value> = reports
        .iter()
        .map(|r| {
            serde_json::json!({"env": r.env, "status": r.status, "drift": r.counts.drift, "pending": r.counts.pending,
                "errors": r.counts.errors, "new": r.counts.new, "resolved": r.counts.resolved})
        })
        .collect();
    let mut event =
        AuditEvent::new(Action::DriftCheck, outcome, &run.actor).detail("envs", summary);
    if let [only] = reports.as_slice() {
        event = event.env(&only.env);
    }
    let sink = run.audit.clone();
    let recorded = tokio::task::spawn_blocking(move || sink.record(&event)).await;
    if !matches!(recorded, Ok(Ok(()))) {
        tracing::error!("audit record of the drift run failed");
    }
    Ok(DriftOutcome { reports, last_success })
}

async fn check_env(
    run: &DriftRun,
    env: String,
    dir: PathBuf,
) -> Result<(EnvReport, Option<i64>), DriftError> {
    let started = Instant::now();
    let now = OffsetDateTime::now_utc();
    let previous = match &run.source {
        Source::Store(state) => load_previous(state, &env).await,
        Source::Server(_) => None,
    };
    let previous_success = previous.as_ref().map(|p| p.checked_at.unix_timestamp());
    let elapsed = |s: Instant| u64::try_from(s.elapsed().as_millis()).unwrap_or(u64::MAX);
    if !dir.is_dir() {
        let r = EnvReport::failed(
            &env,
            format!("root directory {} does not exist", dir.display()),
            previous.as_ref(),
            now,
            elapsed(started),
        );
        return Ok((r, previous_success));
    }
    let backend = match &run.source {
        Source::Store(state) => Backend::InProcess(state.clone()),
        Source::Server(url) => Backend::Remote { url: url.clone() },
    };
    let session = match BackendSession::start(&backend, &env, &run.actor, Permission::Read).await {
        Ok(s) => s,
        Err(e) => {
            let r = EnvReport::failed(
                &env,
                format!("cannot serve the state read-only: {e}"),
                previous.as_ref(),
                now,
                elapsed(started),
            );
            return Ok((r, previous_success));
        }
    };
    (run.progress)(format!("{env}: terraform init"));
    let init = {
        let mut cmd = Command::new(&run.terraform);
        cmd.args(["init", "-input=false", "-no-color"]).current_dir(&dir).stdin(Stdio::null());
        session.apply_std(&mut cmd);
        tokio::task::spawn_blocking(move || cmd.output()).await
    };
    let init_failure = match init {
        Ok(Ok(o)) if o.status.success() => None,
        Ok(Ok(o)) => Some(format!("terraform init failed: {}", tail(&o.stderr, &o.stdout))),
        Ok(Err(e)) => Some(format!("cannot run {}: {e}", run.terraform.display())),
        Err(e) => Some(format!("terraform init task failed: {e}")),
    };
    if let Some(msg) = init_failure {
        let _ = session.shutdown().await;
        return Ok((
            EnvReport::failed(&env, msg, previous.as_ref(), now, elapsed(started)),
            previous_success,
        ));
    }
    (run.progress)(format!("{env}: terraform plan (read-only)"));
    let mut cmd = Command::new(&run.terraform);
    cmd.args(["plan", "-lock=false", "-detailed-exitcode", "-json", "-input=false"])
        .args(&run.extra_plan_args)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    session.apply_std(&mut cmd);
    let planned = tokio::task::spawn_blocking(
        move || -> std::io::Result<(parse::PlanFindings, Option<i32>, Vec<u8>)> {
            let mut child = cmd.spawn()?;
            let stdout = child.stdout.take().ok_or_else(|| std::io::Error::other("no stdout"))?;
            let mut stderr =
                child.stderr.take().ok_or_else(|| std::io::Error::other("no stderr"))?;
            // Drain stderr concurrently so a chatty terraform cannot block on it.
            let err_reader = std::thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = stderr.read_to_end(&mut buf);
                buf
            });
            let findings = parse::read_stream(
                BufReader::with_capacity(256 * 1024, stdout),
                parse::DEFAULT_CAP,
            )?;
            let status = child.wait()?;
            let err = err_reader.join().unwrap_or_default();
            Ok((findings, status.code(), err))
        },
    )
    .await;
    let _ = session.shutdown().await;
    let report = match planned {
        Ok(Ok((findings, code, err))) => {
            let mut extra = Vec::new();
            if code == Some(1) && findings.error_count == 0 {
                extra.push(parse::Diagnostic {
                    severity: "error".into(),
                    summary: format!("terraform plan failed: {}", tail(&err, b"")),
                    detail: String::new(),
                    address: None,
                    location: None,
                });
            }
            EnvReport::build(&env, &findings, code, extra, previous.as_ref(), now, elapsed(started))
        }
        Ok(Err(e)) => EnvReport::failed(
            &env,
            format!("cannot run terraform plan: {e}"),
            previous.as_ref(),
            now,
            elapsed(started),
        ),
        Err(e) => EnvReport::failed(
            &env,
            format!("terraform plan task failed: {e}"),
            previous.as_ref(),
            now,
            elapsed(started),
        ),
    };
    (run.progress)(
        format!(
            "{env}: {:?} ({} drift, {} pending, {} errors) in {:.1}s",
            report.status,
            report.counts.drift,
            report.counts.pending,
            report.counts.errors,
            report.duration_ms as f64 / 1000.0
        )
        .to_lowercase(),
    );
    // Keep the last *successful* report: an errored check must not reset first-seen times.
    if report.status == Status::Error {
        return Ok((report, previous_success));
    }
    if let Source::Store(state) = &run.source {
        let body = serde_json::to_vec_pretty(&report).unwrap_or_default();
        let saved = state.store().put(&report_key(&env), Bytes::from(body)).await;
        saved.map_err(|e| DriftError::SaveReport { env: env.clone(), source: Box::new(e) })?;
    }
    let checked_at = report.checked_at.unix_timestamp();
    Ok((report, Some(checked_at)))
}

/// The last few lines of a command's output, for an error message.
fn tail(stderr: &[u8], stdout: &[u8]) -> String {
    let text = if stderr.iter().any(|b| !b.is_ascii_whitespace()) { stderr } else { stdout };
    let text = String::from_utf8_lossy(text);
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    lines[lines.len().saturating_sub(4)..].join(" / ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{PlanFindings, ResourceChange};

    fn report(env: &str, status: Status) -> EnvReport {
        let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("time");
        if status == Status::Error {
            return EnvReport::failed(env, "terraform init failed".into(), None, now, 1);
        }
        let mut findings = PlanFindings { lines: 3, ..PlanFindings::default() };
        let change = ResourceChange {
            address: "terraform_data.x".into(),
            action: "update".into(),
            reason: None,
        };
        match status {
            Status::Drift => {
                findings.drift.push(change);
                findings.drift_count = 1;
            }
            Status::Pending => {
                findings.pending.push(change);
                findings.pending_count = 1;
            }
            _ => {}
        }
        let code = if status == Status::Clean { 0 } else { 2 };
        let r = EnvReport::build(env, &findings, Some(code), vec![], None, now, 1);
        assert_eq!(r.status, status);
        r
    }

    fn verdict(statuses: &[Status]) -> Verdict {
        let reports = statuses.iter().map(|s| report("e", *s)).collect();
        DriftOutcome { reports, last_success: vec![] }.verdict()
    }

    #[test]
    fn an_incomplete_run_wins_over_drift_and_drift_over_clean() {
        assert_eq!(verdict(&[Status::Clean, Status::Clean]), Verdict::Clean);
        assert_eq!(verdict(&[Status::Clean, Status::Pending]), Verdict::Changes);
        assert_eq!(verdict(&[Status::Drift, Status::Clean]), Verdict::Changes);
        assert_eq!(verdict(&[Status::Drift, Status::Error, Status::Clean]), Verdict::Incomplete);
        assert_eq!(verdict(&[Status::Error]), Verdict::Incomplete);
    }
}
