//! `platctl secrets seal|sync|scan`: the glue to the `platctl-secrets` library
//! (the flags are in cli.rs).

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use platctl_audit::{Action, AuditEvent, Outcome, default_actor};
use platctl_scan::ScanReport;
use platctl_secrets::bao::{BaoClient, BaoConfig};
use platctl_secrets::sync::{ChangeKind, SyncError, SyncOptions, SyncReport};
use platctl_secrets::{Scope, SecretInput, SecretsError};

use crate::cli::{
    ManifestFormat, ReportFormat, ScanArgs, ScopeArg, SealArgs, SecretsCommand, SyncArgs,
};
use crate::exit;
use crate::output::{paint_error, progress};

impl From<ScopeArg> for Scope {
    fn from(s: ScopeArg) -> Scope {
        match s {
            ScopeArg::Strict => Scope::Strict,
            ScopeArg::NamespaceWide => Scope::NamespaceWide,
            ScopeArg::ClusterWide => Scope::ClusterWide,
        }
    }
}

pub async fn run(cmd: SecretsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        SecretsCommand::Seal(args) => seal(args).await,
        SecretsCommand::Sync(args) => sync(args).await,
        SecretsCommand::Scan(args) => scan_cmd(&args),
        SecretsCommand::Key(c) => super::sealing::key(c).await,
        SecretsCommand::Bootstrap(args) => super::sealing::bootstrap(args).await,
    }
}

fn split_kv<'a>(flag: &str, s: &'a str) -> anyhow::Result<(&'a str, &'a str)> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k, v)),
        _ => Err(exit::coded(
            exit::USAGE,
            format!("--{flag} expects KEY=VALUE (got a value without `=` or without a key)"),
        )),
    }
}

fn input_from_flags(args: &SealArgs, name: &str) -> anyhow::Result<SecretInput> {
    let mut data = BTreeMap::new();
    for lit in &args.from_literal {
        let (k, v) = split_kv("from-literal", lit)?;
        if data.insert(k.to_owned(), v.as_bytes().to_vec()).is_some() {
            anyhow::bail!("key {k:?} is given twice");
        }
    }
    for f in &args.from_file {
        let (k, p) = split_kv("from-file", f)?;
        let bytes =
            std::fs::read(p).with_context(|| format!("--from-file {k}: cannot read {p}"))?;
        if data.insert(k.to_owned(), bytes).is_some() {
            anyhow::bail!("key {k:?} is given twice");
        }
    }
    Ok(SecretInput {
        name: name.to_owned(),
        namespace: args.namespace.clone(),
        secret_type: Some(args.secret_type.clone().unwrap_or_else(|| "Opaque".into())),
        data,
        ..Default::default()
    })
}

async fn seal(args: SealArgs) -> anyhow::Result<ExitCode> {
    let mut input = match &args.name {
        Some(name) => input_from_flags(&args, name)?,
        None => {
            let mut stdin = std::io::stdin();
            if stdin.is_terminal() {
                return Err(exit::coded(
                    exit::USAGE,
                    "no Secret on stdin: pipe a manifest (e.g. `kubectl create secret ... --dry-run=client -o yaml | platctl secrets seal ...`) or use --name with --from-literal/--from-file",
                ));
            }
            let mut text = String::new();
            stdin.read_to_string(&mut text).context("cannot read stdin")?;
            let mut input = SecretInput::from_manifest(&text)?;
            match (&input.namespace, &args.namespace) {
                (Some(a), Some(b)) if a != b => {
                    anyhow::bail!(
                        "the manifest's namespace {a:?} differs from --namespace {b:?}; drop one of them"
                    )
                }
                (None, Some(b)) => input.namespace = Some(b.clone()),
                _ => {}
            }
            input
        }
    };
    input.validate()?;
    let scope = args.scope.map_or_else(|| Scope::from_annotations(&input.annotations), Scope::from);
    scope.apply_to(&mut input.annotations);
    let cert = platctl_secrets::cert::load(&args.cert).await?;
    let sealed = platctl_secrets::seal::seal(&input, scope, &cert)?;
    match args.output {
        ManifestFormat::Yaml => print!("{}", sealed.to_yaml()?),
        ManifestFormat::Json => println!("{}", sealed.to_json()?),
    }
    Ok(ExitCode::from(exit::OK))
}

async fn sync(args: SyncArgs) -> anyhow::Result<ExitCode> {
    let root = super::repo_root();
    let mapping_path =
        args.mapping.clone().unwrap_or_else(|| root.join("deploy/secrets/mapping.yaml"));
    let audit_path = args.audit_log.clone().unwrap_or_else(|| root.join(".platctl/audit.jsonl"));
    let opts = SyncOptions {
        mapping_path: mapping_path.clone(),
        env: args.env.clone(),
        dry_run: args.dry_run,
    };

    let result = async {
        let config = BaoConfig::from_env().map_err(SecretsError::from)?;
        progress(format_args!(
            "{}: reading OpenBao at {} ({} auth)",
            args.env,
            config.addr,
            config.auth.method()
        ));
        let client = BaoClient::connect(&config).await.map_err(SecretsError::from)?;
        platctl_secrets::sync::sync(&opts, &client).await
    }
    .await;

    if !args.dry_run {
        let event = match &result {
            Ok(report) => AuditEvent::new(Action::SecretsSync, Outcome::Success, default_actor())
                .detail("changed", report.changed())
                .detail(
                    "unchanged",
                    report.secrets.iter().filter(|s| s.change == ChangeKind::Unchanged).count(),
                ),
            Err(e) => {
                let outcome = if e.is_denied() {
                    Outcome::Denied
                } else if matches!(e, SyncError::Other(SecretsError::Mapping { .. })) {
                    Outcome::Invalid
                } else {
                    Outcome::Error
                };
                AuditEvent::new(Action::SecretsSync, outcome, default_actor())
                    .detail("changed", Vec::<String>::new())
                    .detail("error", e.to_string())
            }
        }
        .env(&args.env)
        .detail("mapping", mapping_path.display().to_string());
        super::audit::sink(&audit_path)?.record(&event).with_context(|| {
            format!(
                "the sync ran, but its audit event could not be written to {}",
                audit_path.display()
            )
        })?;
    }

    let report = match result {
        Ok(r) => r,
        Err(e) if e.is_not_found() => return Err(exit::coded(exit::NOT_FOUND, e.to_string())),
        Err(e) => return Err(anyhow::Error::new(e)),
    };
    print_sync(&report, &root, args.output)?;
    Ok(ExitCode::from(exit::OK))
}

fn display_path(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}

fn print_sync(report: &SyncReport, root: &Path, format: ReportFormat) -> anyhow::Result<()> {
    let count = |k: ChangeKind| report.secrets.iter().filter(|s| s.change == k).count();
    match format {
        ReportFormat::Json => crate::output::print_json(report)?,
        ReportFormat::Text => {
            for s in &report.secrets {
                let change = match (s.change, report.dry_run) {
                    (ChangeKind::Unchanged, _) => "unchanged".to_owned(),
                    (c, true) => format!("would {c}"),
                    (c, false) => format!("{c}d"),
                };
                println!(
                    "{change:<14} {}/{}  {}",
                    s.namespace,
                    s.name,
                    display_path(root, &s.file)
                );
                for r in &s.reasons {
                    println!("{:<14}   {r}", "");
                }
            }
            for f in &report.stale_files {
                println!(
                    "{:<14} {}  (no longer in the mapping: delete it in the same commit)",
                    "stale",
                    display_path(root, f)
                );
            }
        }
    }
    progress(format_args!(
        "{}: {} create, {} update, {} unchanged{}",
        report.env,
        count(ChangeKind::Create),
        count(ChangeKind::Update),
        count(ChangeKind::Unchanged),
        if report.dry_run { " (dry run: nothing written)" } else { "" }
    ));
    Ok(())
}

fn scan_cmd(args: &ScanArgs) -> anyhow::Result<ExitCode> {
    let report: ScanReport = platctl_scan::scan_path(&args.path, args.allowlist.as_deref())?;
    match args.output {
        ReportFormat::Json => crate::output::print_json(&report)?,
        ReportFormat::Text => {
            for f in &report.findings {
                println!("{}:{}:{}: {}: {}", f.path, f.line, f.column, f.kind, f.description);
            }
        }
    }
    let summary = format!(
        "{} finding(s) in {} file(s) scanned ({} allowlisted, {} skipped as binary or over 2 MiB)",
        report.findings.len(),
        report.files_scanned,
        report.files_allowlisted,
        report.files_skipped
    );
    if report.findings.is_empty() {
        progress(summary);
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("{} {summary}", paint_error("scan:"));
        Ok(ExitCode::from(exit::ERROR))
    }
}
