//! `platctl check`: run the platform's rules over a repository (crate platctl-check).

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Context;
use clap::CommandFactory;
use platctl_check::docs::Cli;
use platctl_check::{CheckError, Options, check_full, report, resolve_schemas};

use crate::cli::{self, CheckArgs, CheckFormat};
use crate::exit;

fn usage(e: CheckError) -> anyhow::Error {
    match e {
        CheckError::Io { .. } => anyhow::Error::new(e),
        other => exit::coded(exit::USAGE, other.to_string()),
    }
}

pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let schemas = resolve_schemas(args.schemas.as_deref(), None, &args.path).map_err(usage)?;
    let opts = Options { root: args.path.clone(), schemas, only: args.only, skip: args.skip };
    let rep = check_full(&opts, args.suppressions.as_deref(), Some(&commands())).map_err(usage)?;
    let text = match args.output {
        CheckFormat::Human => {
            let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::stdout().is_terminal();
            report::human(&rep, &args.path, color)
        }
        CheckFormat::Json => format!("{:#}\n", report::json(&rep)),
        CheckFormat::Sarif => format!("{:#}\n", report::sarif(&rep, env!("CARGO_PKG_VERSION"))),
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes()).context("cannot write the report to stdout")?;
    out.flush().ok();
    Ok(ExitCode::from(if rep.errors() > 0 { exit::ERROR } else { exit::OK }))
}

/// This binary's commands and long flags (global ones included), for DOC001:
/// a runbook's `platctl ...` lines resolve against what the binary really has.
pub fn commands() -> Cli {
    fn tree(cmd: &clap::Command) -> Cli {
        let mut flags: std::collections::BTreeSet<String> = cmd
            .get_arguments()
            .flat_map(|a| a.get_long().into_iter().chain(a.get_all_aliases().into_iter().flatten()))
            .map(|l| format!("--{l}"))
            .collect();
        flags.insert("--help".into());
        let subcommands = cmd
            .get_subcommands()
            .flat_map(|s| {
                let t = tree(s);
                std::iter::once(s.get_name().to_owned())
                    .chain(s.get_all_aliases().map(str::to_owned))
                    .map(move |n| (n, t.clone()))
            })
            .collect();
        Cli { flags, subcommands }
    }
    let mut cmd = cli::Cli::command();
    cmd.build();
    tree(&cmd)
}
