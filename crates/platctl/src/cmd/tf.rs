use std::process::ExitCode;

use platctl_tf::{Backend, TfRun};

use crate::cli::TfArgs;
use crate::{exit, output};

pub async fn run(args: TfArgs) -> anyhow::Result<ExitCode> {
    platctl_state::validate_env(&args.env)?;
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| super::repo_root().join("infra/terraform/envs").join(&args.env));
    let (backend, audit_path, sink) = match &args.server {
        Some(url) => {
            let audit = super::audit_path_beside(&args.store, None);
            output::progress(format!("env {}: state from the shared backend {url}", args.env));
            let sink = super::audit::sink(&audit)?;
            (Backend::Remote { url: url.clone() }, audit, sink)
        }
        None if super::store_url(&args.store).is_ok_and(|u| u.starts_with("s3://")) => {
            // Building the S3 client takes a few milliseconds: do it while terraform starts.
            let url = super::store_url(&args.store)?;
            let audit = super::audit_path_beside(&args.store, None);
            output::progress(format!(
                "env {}: state in {url} through an in-process backend",
                args.env
            ));
            let sink = super::audit::sink(&audit)?;
            let state_sink = sink.clone();
            let open: platctl_tf::OpenState = Box::new(move || {
                let store = platctl_store::Store::open(&url)?;
                Ok(platctl_state::StateStore::new(store, state_sink))
            });
            (Backend::Deferred(open), audit, sink)
        }
        None => {
            let (state, audit) = super::open_state(&args.store)?;
            output::progress(format!(
                "env {}: state in {} through an in-process backend",
                args.env,
                state.store()
            ));
            let sink = state.audit_sink();
            (Backend::InProcess(state), audit, sink)
        }
    };
    let outcome = platctl_tf::run(TfRun {
        env: args.env.clone(),
        dir,
        terraform: args.terraform.clone(),
        args: args.args.clone(),
        backend,
        actor: platctl_audit::default_actor(),
        audit: sink,
    })
    .await?;
    output::progress(format!(
        "terraform exited {} after {:.2}s{}; audit: {}",
        outcome.exit_code,
        outcome.duration.as_secs_f64(),
        outcome
            .summary
            .map(|s| match s.kind {
                "plan" => format!(
                    " (plan: {} to add, {} to change, {} to destroy)",
                    s.add, s.change, s.destroy
                ),
                _ => format!(" ({} added, {} changed, {} destroyed)", s.add, s.change, s.destroy),
            })
            .unwrap_or_default(),
        audit_path.display()
    ));
    Ok(ExitCode::from(exit::terraform(outcome.exit_code)))
}
