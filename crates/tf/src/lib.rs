//! `platctl tf`: run the real terraform with this env's state served by an
//! in-process http backend on 127.0.0.1:<random port>, protected by a
//! one-time password. Terraform's own locking then goes through platctl's
//! create-only lock on the store, and every state write becomes a version.

mod summary;

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use platctl_audit::{Action, AuditEvent, Outcome};
use platctl_backend::{AuthMode, Permission, ServerConfig, Tokens};
use platctl_state::{StateStore, validate_env};
use tokio::process::Command;

pub use summary::ChangeSummary;

#[derive(Debug, thiserror::Error)]
pub enum TfError {
    /// Boxed: a state error is large, and this enum is returned everywhere.
    #[error(transparent)]
    State(Box<platctl_state::StateError>),
    #[error(
        "terraform root directory {0} does not exist; pass --dir or create it (env roots live in infra/terraform/envs/<env>)"
    )]
    MissingDir(PathBuf),
    #[error(
        "cannot start {program}: {source}. Install terraform or point --terraform / PLATCTL_TERRAFORM at it"
    )]
    Spawn { program: String, source: std::io::Error },
    #[error("in-process state backend failed: {0}")]
    Backend(#[from] platctl_backend::ServeError),
    #[error("cannot open the state store (terraform was stopped before it touched any state)")]
    Open(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("i/o error while running terraform: {0}")]
    Io(#[from] std::io::Error),
}

impl From<platctl_state::StateError> for TfError {
    fn from(e: platctl_state::StateError) -> Self {
        TfError::State(Box::new(e))
    }
}

/// Opens the state store for [`Backend::Deferred`].
pub type OpenState =
    Box<dyn FnOnce() -> Result<StateStore, Box<dyn std::error::Error + Send + Sync>> + Send>;

/// Where terraform's state comes from.
pub enum Backend {
    /// Serve it in-process over this store.
    InProcess(StateStore),
    /// The same, but the store is opened only once terraform has been started:
    /// building an S3 client (TLS roots, credentials) takes milliseconds that
    /// terraform's own start-up then hides. Terraform's first request waits in
    /// the listen backlog until the server runs.
    Deferred(OpenState),
    /// A shared `platctl state serve` at this base URL. Credentials come from
    /// the caller's TF_HTTP_USERNAME / TF_HTTP_PASSWORD.
    Remote { url: String },
}

pub struct TfRun {
    pub env: String,
    pub dir: PathBuf,
    pub terraform: PathBuf,
    pub args: Vec<String>,
    pub backend: Backend,
    /// Recorded as the actor of state writes and of the run's audit event.
    pub actor: String,
    /// Where to record the run's audit event (the state store's sink).
    pub audit: Arc<dyn platctl_audit::AuditSink>,
}

/// What happened.
#[derive(Debug, Clone)]
pub struct TfOutcome {
    /// Terraform's exit code, or 128 + signal number when it was killed.
    pub exit_code: i32,
    pub duration: Duration,
    pub summary: Option<ChangeSummary>,
}

/// Terraform arguments with values that may hold secrets replaced.
pub fn redact_args(args: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut redact_next = false;
    for a in args {
        if redact_next {
            out.push("<redacted>".to_owned());
            redact_next = false;
            continue;
        }
        let flag = a.trim_start_matches('-');
        let sensitive = ["var", "backend-config"]
            .iter()
            .any(|s| flag == *s || flag.starts_with(&format!("{s}=")));
        if sensitive && a.starts_with('-') {
            if let Some((name, _)) = a.split_once('=') {
                out.push(format!("{name}=<redacted>"));
            } else {
                out.push(a.clone());
                redact_next = true;
            }
        } else {
            out.push(a.clone());
        }
    }
    out
}

/// The http backend for one terraform process: an in-process server with a
/// one-time token, or a shared server, exposed through `TF_HTTP_*`.
pub struct BackendSession {
    vars: Vec<(&'static str, String)>,
    server: Option<platctl_backend::Running>,
    /// Bound, not yet serving (see [`Backend::Deferred`]).
    pending: Option<(std::net::TcpListener, ServerConfig, Permission)>,
    /// The conditional-create probe, running while terraform starts.
    probe: Option<tokio::task::JoinHandle<Result<(), platctl_store::StoreError>>>,
}

impl BackendSession {
    /// Start serving `env`. The one-time token carries `permission` for that
    /// env only: `Admin` for `platctl tf` (whoever runs it already holds the
    /// store's credentials, and admin lets `terraform force-unlock` work),
    /// `Read` for read-only runs such as drift checks. For
    /// [`Backend::Deferred`] the port is bound and [`BackendSession::serve`]
    /// starts the server later.
    pub async fn start(
        backend: &Backend,
        env: &str,
        actor: &str,
        permission: Permission,
    ) -> Result<BackendSession, TfError> {
        validate_env(env)?;
        match backend {
            Backend::InProcess(state) => {
                let mut session = Self::bind(env, actor, permission)?;
                session.serve(state).await?;
                Ok(session)
            }
            Backend::Deferred(_) => Self::bind(env, actor, permission),
            Backend::Remote { url } => {
                let address = format!("{}/v1/state/{env}", url.trim_end_matches('/'));
                let vars = ["TF_HTTP_ADDRESS", "TF_HTTP_LOCK_ADDRESS", "TF_HTTP_UNLOCK_ADDRESS"]
                    .map(|v| (v, address.clone()))
                    .to_vec();
                Ok(BackendSession { vars, server: None, pending: None, probe: None })
            }
        }
    }

    /// Bind 127.0.0.1:<random port> and make the one-time token.
    fn bind(env: &str, actor: &str, permission: Permission) -> Result<BackendSession, TfError> {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        let listener = std::net::TcpListener::bind(addr)
            .map_err(|source| platctl_backend::ServeError::Bind { addr, source })?;
        let local = listener.local_addr()?;
        let password = platctl_backend::auth::generate_token();
        let tokens = Tokens::single(actor, &password, vec![env.to_owned()], vec![permission]);
        let config = ServerConfig { auth: AuthMode::Tokens(tokens), ..ServerConfig::default() };
        let address = format!("http://{local}/v1/state/{env}");
        let mut vars =
            vec![("TF_HTTP_USERNAME", "platctl".to_owned()), ("TF_HTTP_PASSWORD", password)];
        for var in ["TF_HTTP_ADDRESS", "TF_HTTP_LOCK_ADDRESS", "TF_HTTP_UNLOCK_ADDRESS"] {
            vars.push((var, address.clone()));
        }
        Ok(BackendSession {
            vars,
            server: None,
            pending: Some((listener, config, permission)),
            probe: None,
        })
    }

    /// Serve `state` on the bound port.
    pub async fn serve(&mut self, state: &StateStore) -> Result<(), TfError> {
        let Some((listener, config, permission)) = self.pending.take() else { return Ok(()) };
        state.audit_sink().prepare();
        // Probe the store while terraform starts up. No lock can be taken
        // before it passes (`StateStore::lock` waits for the same probe);
        // a read-only session never locks, so it skips it.
        if permission != Permission::Read {
            let store = state.store().clone();
            self.probe = Some(tokio::spawn(async move { store.ensure_conditional_create().await }));
        }
        self.server = Some(platctl_backend::start_on(listener, state.clone(), config, None).await?);
        Ok(())
    }

    /// Point a terraform command at this backend. The operator's own
    /// TF_HTTP_* method overrides are removed so they cannot redirect it.
    pub fn apply(&self, cmd: &mut Command) {
        for var in ["TF_HTTP_LOCK_METHOD", "TF_HTTP_UNLOCK_METHOD", "TF_HTTP_UPDATE_METHOD"] {
            cmd.env_remove(var);
        }
        for (k, v) in &self.vars {
            cmd.env(k, v);
        }
    }

    /// The same, for a blocking `std::process::Command`.
    pub fn apply_std(&self, cmd: &mut std::process::Command) {
        for var in ["TF_HTTP_LOCK_METHOD", "TF_HTTP_UNLOCK_METHOD", "TF_HTTP_UPDATE_METHOD"] {
            cmd.env_remove(var);
        }
        for (k, v) in &self.vars {
            cmd.env(k, v);
        }
    }

    /// Stop the backend. Fails if the store failed the conditional-create
    /// probe: terraform only saw "Unexpected HTTP response code" for its lock.
    pub async fn shutdown(self) -> Result<(), TfError> {
        if let Some(server) = self.server {
            server.shutdown(Duration::from_secs(5)).await?;
        }
        if let Some(probe) = self.probe {
            match probe.await {
                Ok(result) => result.map_err(platctl_state::StateError::from)?,
                Err(e) => return Err(TfError::Io(std::io::Error::other(e))),
            }
        }
        Ok(())
    }
}

pub async fn run(run: TfRun) -> Result<TfOutcome, TfError> {
    validate_env(&run.env)?;
    if !run.dir.is_dir() {
        return Err(TfError::MissingDir(run.dir.clone()));
    }
    let started = Instant::now();
    // Terraform's stdout goes through a plain pipe that one thread copies to
    // our stdout (and scans for the change summary): no async machinery per
    // line, which on a busy apply costs the CPU terraform itself needs.
    let (reader, writer) = std::io::pipe()?;
    let mut cmd = Command::new(&run.terraform);
    cmd.args(&run.args)
        .current_dir(&run.dir)
        .stdin(Stdio::inherit())
        .stdout(Stdio::from(writer))
        .stderr(Stdio::inherit());

    let mut session =
        BackendSession::start(&run.backend, &run.env, &run.actor, Permission::Admin).await?;
    session.apply(&mut cmd);

    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "backend bound; starting terraform"
    );
    let mut child = cmd.spawn().map_err(|source| TfError::Spawn {
        program: run.terraform.display().to_string(),
        source,
    })?;
    // Our copy of the pipe's write end must go, or the copy thread never sees EOF.
    drop(cmd);
    let child_pid = child.id();
    let copier = std::thread::Builder::new()
        .name("terraform-stdout".into())
        .spawn(move || copy_output(reader))?;
    let state = match run.backend {
        Backend::InProcess(state) => Some(state),
        Backend::Remote { .. } => None,
        Backend::Deferred(open) => {
            let opened = match open() {
                Ok(state) => session.serve(&state).await.map(|()| state),
                Err(e) => Err(TfError::Open(e)),
            };
            match opened {
                Ok(state) => Some(state),
                Err(e) => {
                    // Terraform has not reached the backend yet (nothing serves it): stop it.
                    let _ = child.kill().await;
                    return Err(e);
                }
            }
        }
    };
    tracing::debug!(elapsed_ms = started.elapsed().as_millis() as u64, "backend serving");

    let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let status = loop {
        tokio::select! {
            status = child.wait() => break status?,
            _ = sigint.recv() => forward(child_pid, nix::sys::signal::Signal::SIGINT),
            _ = sigterm.recv() => forward(child_pid, nix::sys::signal::Signal::SIGTERM),
        }
    };
    // EOF comes once terraform (and anything it started) closed the pipe.
    let detector = tokio::task::spawn_blocking(move || copier.join())
        .await
        .map_err(std::io::Error::other)?
        .map_err(|_| std::io::Error::other("the terraform output thread panicked"))??;
    let exit_code = exit_code_of(status);
    let duration = started.elapsed();
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "terraform exited; stopping the backend"
    );
    // Recorded below whatever happened; returned after the audit record.
    let backend_result = session.shutdown().await;
    tracing::debug!(elapsed_ms = started.elapsed().as_millis() as u64, "backend stopped");
    let summary = detector.finish();
    if exit_code != 0
        && let Some(state) = &state
        && let Ok(Some(holder)) = state.lock_holder(&run.env).await
    {
        // Terraform's http backend prints only the holder's ID; say who it is.
        eprintln!(
            "platctl: env {} is locked by {} since {} (ID {}, operation {}, held {}s). If that run is gone, see docs/runbooks/force-unlock.md",
            run.env,
            if holder.who.is_empty() { "an unknown holder" } else { &holder.who },
            holder.created_display(),
            holder.id,
            if holder.operation.is_empty() { "-" } else { &holder.operation },
            holder.age_seconds()
        );
    }
    let outcome = if exit_code == 0 { Outcome::Success } else { Outcome::Error };
    let mut event = AuditEvent::new(Action::TfRun, outcome, &run.actor)
        .env(&run.env)
        .detail(
            "command",
            run.args.iter().find(|a| !a.starts_with('-')).cloned().unwrap_or_default(),
        )
        .detail("args", redact_args(&run.args))
        .detail("exit_code", exit_code)
        .detail("duration_ms", u64::try_from(duration.as_millis()).unwrap_or(u64::MAX))
        .detail("dir", run.dir.display().to_string());
    if let Some(s) = &summary {
        event = event.detail("changes", serde_json::to_value(s).unwrap_or_default());
    }
    if let Err(e) = run.audit.record(&event) {
        tracing::error!(error = %e, "audit record of the terraform run failed");
    }
    backend_result?;
    Ok(TfOutcome { exit_code, duration, summary })
}

/// Copy terraform's output to our stdout as it comes, and scan it for the change summary.
fn copy_output(mut reader: std::io::PipeReader) -> std::io::Result<summary::Detector> {
    use std::io::{Read, Write};
    let mut detector = summary::Detector::default();
    let out = std::io::stdout();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(detector),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        // Pass bytes through at once: prompts ("Enter a value:") have no newline.
        // A closed stdout (`| head`) must not stop terraform mid-apply: keep draining the pipe.
        let mut locked = out.lock();
        let _ = locked.write_all(&buf[..n]).and_then(|()| locked.flush());
        detector.feed(&buf[..n]);
    }
}

/// Forward a signal to terraform so it stops gracefully and releases its lock.
/// When the terminal already delivered it (terraform is in our foreground
/// process group), forwarding would be a second interrupt, which makes
/// terraform exit at once without unlocking; so skip it then.
fn forward(pid: Option<u32>, signal: nix::sys::signal::Signal) {
    use nix::unistd::{Pid, getpgrp, tcgetpgrp};
    let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) else { return };
    if signal == nix::sys::signal::Signal::SIGINT
        && let Ok(fg) = tcgetpgrp(std::io::stdin())
        && fg == getpgrp()
    {
        return;
    }
    let _ = nix::sys::signal::kill(Pid::from_raw(pid), signal);
}

fn exit_code_of(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_var_values_in_both_spellings() {
        let args: Vec<String> =
            ["apply", "-var", "token=abc", "-var=pw=x", "--backend-config=secret", "-auto-approve"]
                .map(String::from)
                .to_vec();
        assert_eq!(
            redact_args(&args),
            [
                "apply",
                "-var",
                "<redacted>",
                "-var=<redacted>",
                "--backend-config=<redacted>",
                "-auto-approve"
            ]
        );
    }
}
