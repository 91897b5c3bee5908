//! `platctl render`: an environment's GitOps tree rendered offline, as Argo CD
//! would (crate platctl-render).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use platctl_render::{
    RenderError, RenderOptions, SourceInfo, render_env, resolve_cache, summary, write,
};

use crate::cli::RenderArgs;
use crate::exit;
use crate::output::{self, Format};

fn coded(e: RenderError) -> anyhow::Error {
    let code = if e.is_usage() {
        exit::USAGE
    } else if e.is_not_found() {
        exit::NOT_FOUND
    } else {
        exit::ERROR
    };
    exit::coded(code, e.to_string())
}

pub fn run(args: RenderArgs) -> anyhow::Result<ExitCode> {
    let repo = super::repo_root();
    if !repo.join("infra/terraform/envs").is_dir() {
        return Err(exit::coded(
            exit::USAGE,
            format!(
                "{} is not the platform repository (no infra/terraform/envs): run platctl render inside it",
                repo.display()
            ),
        ));
    }
    let from_env = std::env::var_os("PLATCTL_CHARTS").filter(|v| !v.is_empty()).map(PathBuf::from);
    let charts =
        resolve_cache(args.charts.as_deref(), from_env.as_deref(), &repo).map_err(coded)?;
    let out_dir = args.out_dir.unwrap_or_else(|| repo.join(".platctl/render").join(&args.env));
    let jobs = args.jobs.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
    });
    output::progress(format!(
        "rendering environment {} (charts from {})",
        args.env,
        charts.display()
    ));
    let opts = RenderOptions {
        repo,
        env: args.env,
        vars: args.vars,
        charts,
        helm: args.helm,
        kubectl: args.kubectl,
        kube_version: args.kube_version,
        jobs,
        progress: Some(Arc::new(|line: &str| output::progress(line))),
    };
    let render = render_env(&opts).map_err(coded)?;
    write(&render, &out_dir).map_err(coded)?;
    for w in &render.warnings {
        eprintln!("warning: {w}");
    }
    let objects = render.objects().count();
    match args.output {
        Format::Json => output::print_json(&summary(&render, Some(&out_dir)))?,
        Format::Table => {
            let rows: Vec<Vec<String>> = render
                .apps
                .iter()
                .map(|a| {
                    let sources: Vec<String> = a
                        .sources
                        .iter()
                        .map(|s| match s {
                            SourceInfo::Chart { chart, version, .. } => {
                                format!("chart {chart} {version}")
                            }
                            SourceInfo::Path { path, render } => format!("{path} ({render})"),
                            SourceInfo::Reference { name, .. } => format!("${name}"),
                            SourceInfo::External { repo_url, revision, .. } => {
                                format!("{repo_url}@{revision} (external)")
                            }
                            SourceInfo::Terraform { resource } => format!("terraform {resource}"),
                        })
                        .collect();
                    vec![
                        a.order.to_string(),
                        a.name.clone(),
                        a.namespace.clone(),
                        a.objects.len().to_string(),
                        sources.join(", "),
                    ]
                })
                .collect();
            print!(
                "{}",
                output::table(&["ORDER", "APPLICATION", "NAMESPACE", "OBJECTS", "SOURCE"], &rows)
            );
            println!(
                "{} Applications, {objects} objects, {} helm renders; written to {}",
                render.apps.len(),
                render.helm_calls.len(),
                out_dir.display()
            );
        }
    }
    Ok(ExitCode::from(exit::OK))
}
