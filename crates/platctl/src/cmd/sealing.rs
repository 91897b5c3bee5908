//! `platctl secrets key generate|rotate|list` and `platctl secrets bootstrap`:
//! glue between the flags (cli.rs) and `platctl_secrets::{keys, bootstrap}`.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use platctl_secrets::bao::{BaoClient, BaoConfig};
use platctl_secrets::bootstrap::{BootstrapOptions, BootstrapReport, parse_terraform_outputs};
use platctl_secrets::keys::{self, KeyOptions, KeyReport};
use platctl_secrets::sync::{CERT_FILE, Mapping};
use platctl_secrets::{SecretsError, bootstrap as boot};

use crate::cli::{BootstrapArgs, KeyArgs, KeyCommand, KeyListArgs};
use crate::exit;
use crate::output::{Format, print_json, progress, table};

async fn connect() -> anyhow::Result<BaoClient> {
    let config = BaoConfig::from_env().map_err(SecretsError::from)?;
    progress(format_args!("OpenBao at {} ({} auth)", config.addr, config.auth.method()));
    Ok(BaoClient::connect(&config).await.map_err(SecretsError::from)?)
}

fn mapping_path(arg: Option<&PathBuf>) -> PathBuf {
    arg.cloned().unwrap_or_else(|| super::repo_root().join("deploy/secrets/mapping.yaml"))
}

fn shown(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}

/// Map library errors to the documented exit codes.
fn coded(e: SecretsError) -> anyhow::Error {
    match e {
        e @ SecretsError::NoSealingKey { .. } => exit::coded(exit::NOT_FOUND, e.to_string()),
        e => anyhow::Error::new(e),
    }
}

pub async fn key(cmd: KeyCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        KeyCommand::Generate(args) => new_key(args, false).await,
        KeyCommand::Rotate(args) => new_key(args, true).await,
        KeyCommand::List(args) => list(args).await,
    }
}

async fn new_key(args: KeyArgs, rotate: bool) -> anyhow::Result<ExitCode> {
    let root = super::repo_root();
    let opts = KeyOptions {
        mapping_path: mapping_path(args.mapping.as_ref()),
        mount: args.kv_mount.clone(),
        dry_run: args.dry_run,
    };
    let bao = connect().await?;
    if !args.dry_run {
        progress(format_args!(
            "{}: {} (RSA-4096 key generation takes a few seconds)",
            args.env,
            if rotate { "rotating the sealing key" } else { "checking the sealing key" }
        ));
    }
    let report = if rotate {
        keys::rotate_key(&bao, &opts, &args.env).await
    } else {
        keys::ensure_key(&bao, &opts, &args.env).await
    }
    .map_err(coded)?;
    print_key_report(&report, &root, args.output, args.dry_run)?;
    Ok(ExitCode::SUCCESS)
}

fn print_key_report(
    r: &KeyReport,
    root: &Path,
    format: Format,
    dry_run: bool,
) -> anyhow::Result<()> {
    if format == Format::Json {
        return print_json(r);
    }
    let would = if dry_run { "would be " } else { "" };
    match (&r.created, &r.would_create) {
        (Some(k), _) => println!("{}: created {} ({})", r.env, k.name, k.openbao_path),
        (None, Some(name)) => println!("{}: would create {name} (dry run)", r.env),
        (None, None) => println!("{}: key {} already in OpenBao", r.env, r.active.name),
    }
    println!(
        "{}: active key {}  sha256:{}  valid until {}",
        r.env, r.active.name, r.active.fingerprint, r.active.not_after
    );
    for (file, written) in [(&r.cert_file, r.cert_written), (&r.spc_file, r.spc_written)] {
        println!(
            "{}  {}",
            shown(root, file),
            if written { format!("{would}written") } else { "unchanged".to_owned() }
        );
    }
    if r.cert_written || r.spc_written {
        progress(
            "commit both files; after a rotation, wait for the controller to load the new key, then `platctl secrets sync` reseals",
        );
    }
    Ok(())
}

async fn list(args: KeyListArgs) -> anyhow::Result<ExitCode> {
    let mapping_path = mapping_path(args.mapping.as_ref());
    let mapping = Mapping::load(&mapping_path)?;
    let envs = if args.envs.is_empty() { keys::key_envs(&mapping) } else { args.envs.clone() };
    let bao = connect().await?;
    let all = keys::all_keys(&bao, &args.kv_mount, &envs).await?;
    let base = mapping_path.parent().map(Path::to_path_buf).unwrap_or_default();
    #[derive(serde::Serialize)]
    struct EnvState {
        env: String,
        keys: Vec<keys::KeyInfo>,
        /// Fingerprint of deploy/secrets/<env>/sealed-secrets-cert.pem, if present.
        git_cert: Option<String>,
        git_cert_is_newest: bool,
    }
    let mut states = Vec::new();
    for env in &envs {
        let env_keys: Vec<keys::KeyInfo> = all.iter().filter(|k| &k.env == env).cloned().collect();
        let file = base.join(env).join(CERT_FILE);
        let git_cert = std::fs::read(&file)
            .ok()
            .and_then(|b| keys::describe_cert(&b, &file.display().to_string()).ok())
            .map(|f| f.fingerprint);
        let newest = env_keys.last().map(|k| k.fingerprint.clone());
        states.push(EnvState {
            env: env.clone(),
            git_cert_is_newest: newest.is_some() && newest == git_cert,
            keys: env_keys,
            git_cert,
        });
    }
    match args.output {
        Format::Json => print_json(&states)?,
        Format::Table => {
            let mut rows = Vec::new();
            for s in &states {
                let last = s.keys.len().saturating_sub(1);
                for (i, k) in s.keys.iter().enumerate() {
                    rows.push(vec![
                        s.env.clone(),
                        k.name.clone(),
                        k.fingerprint.chars().take(16).collect(),
                        k.not_after.clone(),
                        if i == last { "active".into() } else { "decrypt only".into() },
                        if s.git_cert.as_deref() == Some(k.fingerprint.as_str()) {
                            "yes".into()
                        } else {
                            String::new()
                        },
                    ]);
                }
                if s.keys.is_empty() {
                    rows.push(vec![
                        s.env.clone(),
                        "(none)".into(),
                        String::new(),
                        String::new(),
                        String::new(),
                        String::new(),
                    ]);
                }
            }
            print!("{}", table(&["ENV", "KEY", "SHA256", "NOT AFTER", "USE", "IN GIT"], &rows));
        }
    }
    let stale: Vec<&str> =
        states.iter().filter(|s| !s.git_cert_is_newest).map(|s| s.env.as_str()).collect();
    if stale.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "{} Git's certificate is missing or not the newest key for: {} (run `platctl secrets key generate --env ENV`)",
            crate::output::paint_error("keys:"),
            stale.join(", ")
        );
        Ok(ExitCode::from(exit::CONFLICT))
    }
}

pub async fn bootstrap(args: BootstrapArgs) -> anyhow::Result<ExitCode> {
    let root = super::repo_root();
    if let Some(path) = &args.supply {
        return supply(&args, path).await;
    }
    let mut outputs = BTreeMap::new();
    let mut stdin_used = false;
    for spec in &args.terraform_outputs {
        let Some((name, file)) =
            spec.split_once('=').filter(|(n, f)| !n.is_empty() && !f.is_empty())
        else {
            return Err(exit::coded(
                exit::USAGE,
                format!("--terraform-outputs expects ROOT=FILE, got {spec:?}"),
            ));
        };
        let bytes = if file == "-" {
            if std::mem::replace(&mut stdin_used, true) {
                return Err(exit::coded(
                    exit::USAGE,
                    "only one --terraform-outputs may read stdin (`-`)",
                ));
            }
            let mut b = Vec::new();
            std::io::stdin().read_to_end(&mut b).context("cannot read stdin")?;
            b
        } else {
            std::fs::read(file)
                .with_context(|| format!("--terraform-outputs {name}: cannot read {file}"))?
        };
        outputs.insert(name.to_owned(), parse_terraform_outputs(name, &bytes)?);
    }
    let opts = BootstrapOptions {
        sources_path: args
            .sources
            .clone()
            .unwrap_or_else(|| root.join("infra/openbao/sources.yaml")),
        mapping_path: mapping_path(args.mapping.as_ref()),
        tree: args.tree.clone().unwrap_or_else(|| root.join("deploy")),
        terraform_outputs: outputs,
        dry_run: args.dry_run,
    };
    let bao = connect().await?;
    progress(
        "bootstrap: reading every declared path (sealing keys take a few seconds each to generate)",
    );
    let report = boot::bootstrap(&bao, &opts).await.map_err(coded)?;
    print_bootstrap(&report, &root, args.output)?;
    if report.missing.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "{} {} value(s) only a person can supply are missing; write each with the command shown, then run bootstrap again",
            crate::output::paint_error("bootstrap:"),
            report.missing.len()
        );
        Ok(ExitCode::from(exit::NOT_FOUND))
    }
}

/// `--supply PATH`: the missing person-supplied fields of PATH, in one version.
async fn supply(args: &BootstrapArgs, path: &str) -> anyhow::Result<ExitCode> {
    use std::io::{BufRead, IsTerminal};
    let sources_path = args
        .sources
        .clone()
        .unwrap_or_else(|| super::repo_root().join("infra/openbao/sources.yaml"));
    let sources = boot::Sources::load(&sources_path)?;
    let bao = connect().await?;
    let missing = boot::person_fields_missing(&bao, &sources, path).await?;
    if missing.is_empty() {
        progress(format_args!("{path}: no person-supplied field is missing; nothing to write"));
        return Ok(ExitCode::SUCCESS);
    }
    let mut values = BTreeMap::new();
    let stdin = std::io::stdin();
    let piped = !stdin.is_terminal();
    let mut lines = stdin.lock().lines();
    for (field, what) in &missing {
        let value = if piped {
            let line = lines
                .next()
                .transpose()
                .context("cannot read stdin")?
                .ok_or_else(|| exit::coded(exit::USAGE, format!("stdin ended before a value for {field}: give one line per missing field ({})", missing.iter().map(|(f, _)| f.as_str()).collect::<Vec<_>>().join(", "))))?;
            platctl_secrets::openbao::Sensitive::new(line.trim_end_matches(['\r', '\n']).to_owned())
        } else {
            super::openbao::prompt_hidden(&format!("{field} ({what}), not echoed: "))?
        };
        values.insert(field.clone(), value);
    }
    let fields: Vec<String> = values.keys().cloned().collect();
    let version = boot::supply(&bao, &sources, path, values).await?;
    match args.output {
        Format::Json => {
            print_json(&serde_json::json!({"path": path, "fields": fields, "version": version}))?
        }
        Format::Table => {
            println!("{}/{path}: wrote {} (version {version})", sources.mount, fields.join(", "))
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_bootstrap(r: &BootstrapReport, root: &Path, format: Format) -> anyhow::Result<()> {
    if format == Format::Json {
        return print_json(r);
    }
    let verb = if r.dry_run { "would seed" } else { "seeded" };
    for s in &r.seeded {
        println!("{verb:<12} {}/{}#{}  ({})", r.mount, s.path, s.field, s.from);
    }
    for k in &r.keys {
        let what = if k.created.is_some() { "created" } else { "present" };
        println!(
            "{:<12} {} ({}), certificate {}{}",
            format!("key {what}"),
            k.active.name,
            k.env,
            shown(root, &k.cert_file),
            if k.cert_written { " written" } else { "" }
        );
    }
    for m in &r.missing {
        println!("{:<12} {}/{}#{}: {}", "MISSING", r.mount, m.path, m.field, m.what);
        println!("{:<12}   where: {}", "", m.where_);
        println!("{:<12}   write: {}", "", m.command);
    }
    for u in &r.unused {
        println!("{:<12} {u} (declared in sources.yaml, read by nothing in the tree)", "unused");
    }
    progress(format_args!(
        "bootstrap: {} {verb}, {} already present, {} missing{}",
        r.seeded.len(),
        r.present,
        r.missing.len(),
        if r.dry_run { " (dry run: nothing written)" } else { "" }
    ));
    Ok(())
}
