//! `platctl init`: write platform.yaml and every file derived from it
//! (crate platctl-config); `--check` is the deploy workflows' gate.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Context;
use platctl_config::placeholder::{self, Found};
use platctl_config::tree::Reason;
use platctl_config::{ConfigError, ConfigFile, FieldError, Topology, Values};
use serde::Serialize;

use crate::cli::{InitArgs, TopologyArg};
use crate::exit;
use crate::output::{Format, print_json, progress, table};

/// Exit code of `--check` when the tree is not deployable as it stands.
const STALE: u8 = 3;

fn config_error(e: ConfigError) -> anyhow::Error {
    match e {
        ConfigError::Invalid(_) | ConfigError::NotARepository(_) | ConfigError::Refused { .. } => {
            exit::coded(exit::USAGE, e.to_string())
        }
        other => anyhow::Error::new(other),
    }
}

fn invalid(errors: Vec<FieldError>) -> anyhow::Error {
    config_error(ConfigError::Invalid(errors))
}

pub fn run(args: InitArgs) -> anyhow::Result<ExitCode> {
    let root = args.dir.clone().unwrap_or_else(super::repo_root);
    if !root.join("infra/terraform/envs").is_dir() {
        return Err(config_error(ConfigError::NotARepository(root)));
    }
    let current = ConfigFile::load(&root).map_err(config_error)?;
    if args.check {
        return check(&root, current.as_ref(), args.output);
    }
    let interactive =
        !args.yes && std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    let mut values = current.as_ref().map_or_else(Values::template, |c| c.values.clone());
    apply_flags(&mut values, &args);
    if interactive {
        ask_values(&mut values, &args)?;
    }
    values.normalize();
    let mut errors = values.validate();
    errors.extend(values.placeholders());
    if !errors.is_empty() {
        return Err(invalid(errors));
    }
    if let Some(applied) = current.as_ref().and_then(|c| c.applied.as_ref())
        && applied.placeholders().is_empty()
        && applied.region != values.region
    {
        return Err(config_error(ConfigError::Refused {
            refusal: format!(
                "region {:?} -> {:?}: the platform is already configured in {:?}, and a region change recreates its clusters and buckets. Keep --region {:?}; move regions by building a new platform (docs/configuration.md)",
                applied.region, values.region, applied.region, applied.region
            ),
        }));
    }
    let plan = platctl_config::plan(&root, &values, current.as_ref()).map_err(config_error)?;
    if plan.is_empty() {
        progress("nothing to change: the tree already carries platform.yaml's values");
        return report(&root, &plan, args.output, false);
    }
    if !args.yes {
        if !interactive {
            return Err(exit::coded(
                exit::USAGE,
                format!(
                    "{} file(s) would change and there is no terminal to confirm on: pass --yes (see `platctl init --help`); nothing was written",
                    plan.changes.len()
                ),
            ));
        }
        eprint!("{}", plan_table(&plan));
        if !confirm(&format!("Write these {} file(s)?", plan.changes.len()))? {
            return Err(exit::coded(exit::ERROR, "declined: nothing was written"));
        }
    }
    progress(format!("writing {} file(s) under {}", plan.changes.len(), root.display()));
    platctl_config::apply(&plan).map_err(config_error)?;
    report(&root, &plan, args.output, true)
}

/// Set the organisation; a registry that was the default (`ghcr.io/<org>`)
/// follows it unless --registry is given.
fn set_org(v: &mut Values, org: &str, registry_given: bool) {
    let old_default = format!("ghcr.io/{}", v.org.to_ascii_lowercase());
    if !registry_given && (v.registry == old_default || v.registry == Values::template().registry) {
        v.registry = format!("ghcr.io/{}", org.trim().to_ascii_lowercase());
    }
    org.clone_into(&mut v.org);
}

fn apply_flags(v: &mut Values, args: &InitArgs) {
    if let Some(org) = &args.org {
        set_org(v, org, args.registry.is_some());
    }
    let set = |target: &mut String, from: &Option<String>| {
        if let Some(x) = from {
            target.clone_from(x);
        }
    };
    set(&mut v.repo_url, &args.repo);
    set(&mut v.domain, &args.domain);
    set(&mut v.acme_email, &args.acme_email);
    set(&mut v.region, &args.region);
    set(&mut v.registry, &args.registry);
    if !args.admin_cidr.is_empty() {
        v.admin_cidrs.clone_from(&args.admin_cidr);
    }
    if let Some(ci) = &args.ci_cidr {
        v.ci_cidrs = ci.iter().filter(|c| !c.trim().is_empty()).cloned().collect();
    }
    if let Some(t) = args.topology {
        v.topology = match t {
            TopologyArg::Shared => Topology::Shared,
            TopologyArg::Dedicated => Topology::Dedicated,
        };
    }
    if let Some(d) = &args.drift_image_digest {
        v.drift_image_digest = Some(d.clone()).filter(|d| !d.trim().is_empty());
    }
}

fn read_line(prompt: &str) -> anyhow::Result<String> {
    eprint!("{prompt}");
    std::io::stderr().flush().ok();
    let mut line = String::new();
    let n = std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the answer from the terminal")?;
    if n == 0 {
        return Err(exit::coded(exit::USAGE, "no answer (end of input): nothing was written"));
    }
    Ok(line.trim().to_owned())
}

/// Ask for each value not given as a flag; the current value is the default
/// unless it is a placeholder.
fn ask_values(v: &mut Values, args: &InitArgs) -> anyhow::Result<()> {
    let ask = |label: &str, current: &str| -> anyhow::Result<String> {
        let usable = placeholder::find(current).is_empty() && !current.is_empty();
        loop {
            let prompt =
                if usable { format!("{label} [{current}]: ") } else { format!("{label}: ") };
            let answer = read_line(&prompt)?;
            if !answer.is_empty() {
                return Ok(answer);
            }
            if usable {
                return Ok(current.to_owned());
            }
            eprintln!("  a value is required (the current one is a placeholder)");
        }
    };
    if args.org.is_none() {
        let org = ask("GitHub organisation", &v.org)?;
        set_org(v, &org, args.registry.is_some());
    }
    if args.repo.is_none() {
        v.repo_url = ask("Repository URL (https or ssh)", &v.repo_url)?;
    }
    if args.domain.is_none() {
        v.domain = ask("Base domain", &v.domain)?;
    }
    if args.acme_email.is_none() {
        v.acme_email = ask("ACME contact e-mail", &v.acme_email)?;
    }
    if args.admin_cidr.is_empty() {
        let a = ask("Admin CIDRs (comma-separated)", &v.admin_cidrs.join(","))?;
        v.admin_cidrs =
            a.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect();
    }
    if args.ci_cidr.is_none() {
        let current = v.ci_cidrs.join(",");
        let a = read_line(&format!("CI runner CIDRs (comma-separated, - for none) [{current}]: "))?;
        if a == "-" {
            v.ci_cidrs.clear();
        } else if !a.is_empty() {
            v.ci_cidrs =
                a.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect();
        }
    }
    if args.region.is_none() {
        v.region = ask("Linode region", &v.region)?;
    }
    Ok(())
}

fn confirm(question: &str) -> anyhow::Result<bool> {
    let a = read_line(&format!("{question} [y/N]: "))?;
    Ok(matches!(a.to_ascii_lowercase().as_str(), "y" | "yes"))
}

fn describe(reason: &Reason) -> String {
    match reason {
        Reason::Rewritten { replaced } => {
            let parts: Vec<String> = replaced.iter().map(|(f, n)| format!("{f} x{n}")).collect();
            format!("replaced {}", parts.join(", "))
        }
        Reason::Rendered => "rendered".into(),
        Reason::Configuration => "configuration".into(),
    }
}

fn plan_table(plan: &platctl_config::Plan) -> String {
    let rows: Vec<Vec<String>> = plan
        .changes
        .iter()
        .map(|c| {
            vec![
                c.file.clone(),
                if c.created { "create".into() } else { "update".into() },
                describe(&c.reason),
            ]
        })
        .collect();
    table(&["FILE", "ACTION", "WHAT"], &rows)
}

#[derive(Serialize)]
struct InitReport<'a> {
    written: bool,
    changes: &'a [platctl_config::tree::Change],
    /// Placeholders left anywhere deployable after the write (none belong to platform.yaml).
    remaining_placeholders: Vec<Found>,
}

fn report(
    root: &std::path::Path,
    plan: &platctl_config::Plan,
    output: Format,
    written: bool,
) -> anyhow::Result<ExitCode> {
    let remaining = placeholder::scan(root, Some(&plan.values)).map_err(config_error)?;
    match output {
        Format::Json => print_json(&InitReport {
            written,
            changes: &plan.changes,
            remaining_placeholders: remaining.clone(),
        })?,
        Format::Table => {
            if written {
                print!("{}", plan_table(plan));
                println!("{} file(s) written.", plan.changes.len());
            } else {
                println!("Nothing to change.");
            }
        }
    }
    if !remaining.is_empty() {
        eprintln!(
            "{} {} placeholder value(s) remain that platform.yaml does not own; the deploy workflows refuse them until you replace them:",
            crate::output::paint_error("warning:"),
            remaining.len()
        );
        for f in &remaining {
            eprintln!("  {}:{}: {} ({})", f.file, f.line, f.text, f.kind.describe());
        }
    }
    Ok(ExitCode::from(exit::OK))
}

#[derive(Serialize)]
struct CheckReport {
    configured: bool,
    current: bool,
    unconfigured: Vec<FieldError>,
    stale: Vec<String>,
    placeholders: Vec<Found>,
}

/// The gate: platform.yaml valid and free of placeholders, every derived file
/// current, and no placeholder anywhere deployable.
fn check(
    root: &std::path::Path,
    current: Option<&ConfigFile>,
    output: Format,
) -> anyhow::Result<ExitCode> {
    let Some(current) = current else {
        return Err(exit::coded(
            STALE,
            format!(
                "{} has no platform.yaml: run `platctl init` (see docs/configuration.md)",
                root.display()
            ),
        ));
    };
    let mut values = current.values.clone();
    values.normalize();
    let errors = values.validate();
    if !errors.is_empty() {
        return Err(invalid(errors));
    }
    let unconfigured = values.placeholders();
    let plan = platctl_config::plan(root, &values, Some(current)).map_err(config_error)?;
    let stale: Vec<String> = plan.changes.iter().map(|c| c.file.clone()).collect();
    let owner = current.applied.as_ref().unwrap_or(&current.values);
    let placeholders = placeholder::scan(root, Some(owner)).map_err(config_error)?;
    let ok = unconfigured.is_empty() && stale.is_empty() && placeholders.is_empty();
    let rep = CheckReport {
        configured: unconfigured.is_empty(),
        current: stale.is_empty(),
        unconfigured,
        stale,
        placeholders,
    };
    match output {
        Format::Json => print_json(&rep)?,
        Format::Table => {
            if ok {
                println!(
                    "platform.yaml is configured and every derived file is current; no placeholder anywhere deployable."
                );
            }
            for e in &rep.unconfigured {
                println!("unconfigured: {e}");
            }
            for f in &rep.stale {
                println!("stale: {f} (run `platctl init`)");
            }
            let owned = rep.placeholders.iter().filter(|p| p.owned).count();
            if owned > 0 {
                println!(
                    "placeholders: {owned} derived from platform.yaml (an unconfigured template; `platctl init` replaces them)"
                );
            }
            for f in rep.placeholders.iter().filter(|p| !p.owned) {
                println!(
                    "placeholder: {}:{}: {} ({}) — not derived from platform.yaml: replace it",
                    f.file,
                    f.line,
                    f.text,
                    f.kind.describe()
                );
            }
        }
    }
    Ok(ExitCode::from(if ok { exit::OK } else { STALE }))
}
