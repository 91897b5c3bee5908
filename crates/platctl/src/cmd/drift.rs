//! `platctl drift`: read-only drift checks of every env (crate platctl-drift).

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use platctl_drift::{DriftRun, Source, metrics, report};

use crate::cli::{DriftArgs, DriftFormat};
use crate::{exit, output};

pub async fn run(args: DriftArgs) -> anyhow::Result<ExitCode> {
    if args.deprecated_dir.is_some() {
        output::warn(
            "`platctl drift --dir` is deprecated and will be removed: use --envs-dir (the folder \
             holding one root per env; `platctl tf --dir` names a single root)",
        );
    }
    let dir = args
        .envs_dir
        .clone()
        .or_else(|| args.deprecated_dir.clone())
        .unwrap_or_else(|| super::repo_root().join("infra/terraform/envs"));
    let envs = if args.all { platctl_drift::discover_envs(&dir)? } else { args.envs.clone() };
    let (source, sink) = match &args.server {
        Some(url) => {
            let audit = args
                .store
                .audit_log
                .clone()
                .unwrap_or_else(|| super::repo_root().join(".platctl/audit.jsonl"));
            (Source::Server(url.clone()), super::audit::sink(&audit)?)
        }
        None => {
            let (state, _) = super::open_state(&args.store)?;
            let sink = state.audit_sink();
            (Source::Store(state), sink)
        }
    };
    output::progress(format!(
        "drift check of {} (read-only; plans run {} at a time)",
        envs.join(", "),
        args.parallel.max(1)
    ));
    let outcome = platctl_drift::run(DriftRun {
        envs: envs.iter().map(|e| (e.clone(), dir.join(e))).collect(),
        source,
        parallel: args.parallel,
        terraform: args.terraform.clone(),
        extra_plan_args: args.plan_args.clone(),
        actor: platctl_audit::default_actor(),
        audit: sink,
        progress: Arc::new(output::progress),
    })
    .await?;

    match args.output {
        DriftFormat::Table => print!("{}", report::render_table(&outcome.reports)),
        DriftFormat::Json => output::print_json(&outcome.reports)?,
        DriftFormat::Markdown => print!("{}", report::render_markdown(&outcome.reports)),
    }
    let text = metrics::render(&outcome.reports, &outcome.last_success);
    if let Some(path) = &args.metrics {
        platctl_atomic_file::write(path, text.as_bytes())
            .context("cannot write the drift metrics")?;
    }
    if let Some(gateway) = &args.pushgateway {
        metrics::push(gateway, &text).await.map_err(anyhow::Error::msg)?;
    }
    Ok(ExitCode::from(exit::drift(outcome.verdict())))
}
