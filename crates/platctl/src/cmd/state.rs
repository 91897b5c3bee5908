use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use platctl_backend::{AuthMode, ServerConfig, TlsFiles, Tokens};
use platctl_state::{Actor, StateMeta};

use crate::cli::{ServeArgs, StateCommand};
use crate::exit;
use crate::output::{self, Format};

fn operator() -> Actor {
    // A local operator already holds the store's credentials: admin.
    Actor::admin(platctl_audit::default_actor())
}

fn age(seconds: i64) -> String {
    match seconds {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

pub async fn run(cmd: StateCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        StateCommand::List { store, output: format } => {
            let (state, _) = super::open_state(&store)?;
            let envs = state.list_envs().await?;
            match format {
                Format::Json => output::print_json(&envs)?,
                Format::Table => {
                    let rows: Vec<Vec<String>> = envs
                        .iter()
                        .map(|e| {
                            vec![
                                e.env.clone(),
                                e.serial.map_or("-".into(), |s| s.to_string()),
                                e.size.map_or("-".into(), |s| s.to_string()),
                                e.lock.as_ref().map_or("-".into(), |l| {
                                    format!("{} ({})", l.info.who, l.info.id)
                                }),
                                e.lock.as_ref().map_or("-".into(), |l| age(l.age_seconds)),
                            ]
                        })
                        .collect();
                    print!(
                        "{}",
                        output::table(
                            &["ENV", "SERIAL", "BYTES", "LOCKED BY (ID)", "LOCK AGE"],
                            &rows
                        )
                    );
                }
            }
            Ok(ExitCode::from(exit::OK))
        }
        StateCommand::Versions { store, env, output: format } => {
            let (state, _) = super::open_state(&store)?;
            let versions = state.versions(&env).await?;
            match format {
                Format::Json => output::print_json(&versions)?,
                Format::Table => {
                    let rows: Vec<Vec<String>> = versions
                        .iter()
                        .map(|entry| {
                            let v = &entry.meta;
                            vec![
                                v.id.clone(),
                                v.serial.to_string(),
                                v.created
                                    .replace_nanosecond(0)
                                    .ok()
                                    .and_then(|t| {
                                        t.format(&time::format_description::well_known::Rfc3339)
                                            .ok()
                                    })
                                    .unwrap_or_default(),
                                v.size.to_string(),
                                v.source.as_str().to_owned(),
                                v.actor.clone(),
                                entry.status.as_str().to_owned(),
                            ]
                        })
                        .collect();
                    print!(
                        "{}",
                        output::table(
                            &["ID", "SERIAL", "CREATED", "BYTES", "SOURCE", "ACTOR", "STATUS"],
                            &rows
                        )
                    );
                }
            }
            if versions.is_empty() {
                return Err(exit::coded(
                    exit::NOT_FOUND,
                    format!("env {env} has no versions in {}", state.store()),
                ));
            }
            Ok(ExitCode::from(exit::OK))
        }
        StateCommand::Show { store, env, version, output: format } => {
            let (state, _) = super::open_state(&store)?;
            let (bytes, label) = match &version {
                Some(id) => (state.version(&env, id).await?.1, format!("version {id}")),
                None => {
                    let cur = state.current(&env).await?.ok_or_else(|| {
                        exit::coded(
                            exit::NOT_FOUND,
                            format!("env {env} has no state in {}", state.store()),
                        )
                    })?;
                    (cur.bytes, "current state".to_owned())
                }
            };
            match format {
                Format::Json => {
                    use std::io::Write;
                    std::io::stdout().write_all(&bytes)?;
                }
                Format::Table => {
                    let meta = StateMeta::parse(&bytes).map_err(|e| {
                        anyhow::anyhow!("{label} of env {env} is not a valid state: {e}")
                    })?;
                    let v: serde_json::Value = serde_json::from_slice(&bytes)?;
                    let resources: Vec<String> = v["resources"]
                        .as_array()
                        .map(|rs| {
                            rs.iter()
                                .map(|r| {
                                    let module = r["module"]
                                        .as_str()
                                        .map(|m| format!("{m}."))
                                        .unwrap_or_default();
                                    let prefix = if r["mode"] == "data" { "data." } else { "" };
                                    let instances = r["instances"].as_array().map_or(0, Vec::len);
                                    let count = if instances == 1 {
                                        String::new()
                                    } else {
                                        format!(" ({instances} instances)")
                                    };
                                    format!(
                                        "{module}{prefix}{}.{}{count}",
                                        r["type"].as_str().unwrap_or("?"),
                                        r["name"].as_str().unwrap_or("?")
                                    )
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    let outputs: Vec<&str> = v["outputs"]
                        .as_object()
                        .map(|o| o.keys().map(String::as_str).collect())
                        .unwrap_or_default();
                    println!("env:               {env} ({label})");
                    println!("serial:            {}", meta.serial);
                    println!("lineage:           {}", meta.lineage);
                    println!(
                        "terraform_version: {}",
                        meta.terraform_version.as_deref().unwrap_or("-")
                    );
                    println!("sha256:            {}", platctl_state::sha256_hex(&bytes));
                    println!("bytes:             {}", bytes.len());
                    println!(
                        "outputs:           {}",
                        if outputs.is_empty() { "-".into() } else { outputs.join(", ") }
                    );
                    println!("resources ({}):", resources.len());
                    for r in resources {
                        println!("  {r}");
                    }
                }
            }
            Ok(ExitCode::from(exit::OK))
        }
        StateCommand::Rollback { store, env, to, reason, output: format } => {
            let (state, audit) = super::open_state(&store)?;
            output::progress(format!(
                "env {env}: locking, then writing version {to} back as the new current state"
            ));
            let meta = state.rollback(&env, &to, &reason, &operator()).await?;
            output::progress(format!(
                "env {env}: now at serial {} (version {}); real infrastructure is unchanged: run `platctl tf --env {env} -- plan` next. Audit: {}",
                meta.serial,
                meta.id,
                audit.display()
            ));
            match format {
                Format::Json => output::print_json(&meta)?,
                Format::Table => println!(
                    "rolled back env {env} to {to}: new version {} (serial {})",
                    meta.id, meta.serial
                ),
            }
            Ok(ExitCode::from(exit::OK))
        }
        StateCommand::Unlock { store, env, id, reason, output: format } => {
            if reason.trim().is_empty() {
                return Err(exit::coded(
                    exit::USAGE,
                    "--reason must not be empty: say why the lock is being removed",
                ));
            }
            let (state, _) = super::open_state(&store)?;
            let removed = match &id {
                Some(id) => state.unlock(&env, id, &operator()).await?,
                None => {
                    output::progress(format!(
                        "env {env}: force-unlocking whoever holds the lock (no --id given)"
                    ));
                    state.force_unlock(&env, &operator(), &reason).await?
                }
            };
            match format {
                Format::Json => output::print_json(&removed)?,
                Format::Table => println!(
                    "removed lock {} of env {env}, held by {} for {} ({})",
                    removed.id,
                    removed.who,
                    age(removed.age_seconds()),
                    if removed.operation.is_empty() { "-" } else { &removed.operation }
                ),
            }
            Ok(ExitCode::from(exit::OK))
        }
        StateCommand::Serve(args) => serve(args).await,
        StateCommand::Gc { store, env, min_age, dry_run, output: format } => {
            let min_age = parse_age(&min_age).map_err(|e| exit::coded(exit::USAGE, e))?;
            let (state, audit) = super::open_state(&store)?;
            output::progress(format!(
                "{} unlisted version content older than {} in {}{}",
                if dry_run { "looking for" } else { "removing" },
                age(i64::try_from(min_age.as_secs()).unwrap_or(i64::MAX)),
                state.store(),
                env.as_deref().map(|e| format!(" (env {e})")).unwrap_or_default()
            ));
            let report = state.gc(env.as_deref(), min_age, dry_run, &operator()).await?;
            match format {
                Format::Json => output::print_json(&report)?,
                Format::Table => {
                    let verb = if dry_run { "would remove" } else { "removed" };
                    for e in &report.envs {
                        let bytes: u64 = e.removed.iter().map(|o| o.size).sum();
                        let mut line = format!(
                            "{}: {verb} {} object(s), {bytes} bytes; kept {} younger than --min-age",
                            e.env,
                            e.removed.len(),
                            e.too_young
                        );
                        if e.metadata_without_content > 0 {
                            line.push_str(&format!(
                                "; {} version metadata without content (left alone)",
                                e.metadata_without_content
                            ));
                        }
                        if let Some(why) = &e.skipped {
                            line = format!("{}: skipped, {why}", e.env);
                        }
                        println!("{line}");
                    }
                    if !report.probe_leftovers.is_empty() {
                        println!("store probe leftovers: {verb} {}", report.probe_leftovers.len());
                    }
                }
            }
            if !dry_run && report.removed().next().is_some() {
                output::progress(format!("audit: {}", audit.display()));
            }
            Ok(ExitCode::from(exit::OK))
        }
        StateCommand::Token { name, envs, permissions, output: format } => {
            let perms = permissions
                .iter()
                .map(|p| p.parse())
                .collect::<Result<Vec<platctl_backend::Permission>, _>>()
                .map_err(|e| exit::coded(exit::USAGE, e))?;
            let token = platctl_backend::auth::generate_token();
            let entry = platctl_backend::TokenEntry {
                name,
                sha256: hex_sha256(&token),
                envs,
                permissions: perms,
            };
            match format {
                Format::Json => {
                    output::print_json(&serde_json::json!({"token": token, "entry": entry}))?
                }
                Format::Table => {
                    eprintln!(
                        "The token is shown once; store it in your secret store (never in Git):"
                    );
                    println!("{token}");
                    eprintln!("Add this entry under `tokens:` in the server's tokens file:");
                    let yaml = serde_saphyr::to_string(&vec![entry])?;
                    eprint!("{yaml}");
                }
            }
            Ok(ExitCode::from(exit::OK))
        }
    }
}

/// `90s`, `30m`, `1h`, `2d` (a bare number is seconds).
fn parse_age(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (digits, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("--min-age {text:?} is not a duration: use e.g. 0s, 30m, 1h or 2d"))?;
    let scale = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("--min-age {text:?}: unknown unit {unit:?}; use s, m, h or d")),
    };
    Ok(Duration::from_secs(n.saturating_mul(scale)))
}

fn hex_sha256(token: &str) -> String {
    platctl_state::sha256_hex(token.as_bytes())
}

async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let (state, audit) = super::open_state(&args.store)?;
    if args.allow_plaintext && !args.listen.ip().is_loopback() {
        let warning = format!(
            "--allow-plaintext: serving plain HTTP on {}. Tokens and state cross the network unencrypted unless a proxy in front terminates TLS and this port is reachable only from it",
            args.listen
        );
        eprintln!("{} {warning}", output::paint_error("WARNING:"));
        tracing::warn!("{warning}");
    }
    let auth = match &args.tokens {
        Some(path) => AuthMode::Tokens(Tokens::load(path)?),
        None => {
            output::progress(
                "no --tokens file: authentication is off, so the server only accepts a loopback --listen address",
            );
            AuthMode::LoopbackOnly
        }
    };
    // Fail before binding if the store would be refused for locking anyway.
    state.store().ensure_conditional_create().await.context("store check before serving")?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(TlsFiles { cert: cert.clone(), key: key.clone() }),
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let config = ServerConfig {
        auth,
        max_body: usize::try_from(args.max_body_mib.saturating_mul(1024 * 1024))
            .unwrap_or(usize::MAX),
        read_timeout: Duration::from_secs(args.read_timeout),
        max_connections_per_client: usize::try_from(args.max_connections_per_client)
            .unwrap_or(usize::MAX),
        allow_plaintext: args.allow_plaintext,
        ..ServerConfig::default()
    };
    let running = platctl_backend::start(state.clone(), config, args.listen, tls).await?;
    output::progress(format!(
        "serving Terraform's http backend for {} at {scheme}://{}/v1/state/<env> (audit: {})",
        state.store(),
        running.addr,
        audit.display()
    ));
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = sigterm.recv() => {}
    }
    output::progress("shutting down: finishing in-flight requests, auditing denied attempts");
    running.shutdown(Duration::from_secs(30)).await?;
    Ok(ExitCode::from(exit::OK))
}
