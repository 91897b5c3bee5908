//! `platctl openbao status|init|unseal|configure|snapshot`: the flags are in
//! cli.rs, the calls in `platctl_secrets::{openbao, access, snapshot}`. Shares
//! and tokens go only to their holder's file or to a terminal.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use platctl_secrets::bao::{BaoClient, BaoConfig, BaoEndpoint};
use platctl_secrets::openbao::{InitRequest, RestoreMode, SealStatus, Sensitive, pgp_key_base64};
use platctl_secrets::{SecretsError, access, snapshot};
use platctl_store::Store;

use crate::cli::{
    OpenbaoAddrArgs, OpenbaoCommand, OpenbaoConfigureArgs, OpenbaoInitArgs, OpenbaoUnsealArgs,
    SnapshotCommand,
};
use crate::exit;
use crate::output::{Format, print_json, progress, table};

pub async fn run(cmd: OpenbaoCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        OpenbaoCommand::Status(args) => status(args).await,
        OpenbaoCommand::Init(args) => init(args).await,
        OpenbaoCommand::Unseal(args) => unseal(args).await,
        OpenbaoCommand::Configure(args) => configure(args).await,
        OpenbaoCommand::Snapshot(c) => snapshot_cmd(c).await,
    }
}

/// The addresses given, else $BAO_ADDR; the CA from $BAO_CACERT.
fn endpoints(addrs: &[String]) -> anyhow::Result<(Vec<String>, Option<Vec<u8>>)> {
    let env = BaoEndpoint::from_lookup(&|n| {
        std::env::var(n)
            .ok()
            .or_else(|| (n == "BAO_ADDR" && !addrs.is_empty()).then(|| addrs[0].clone()))
    })
    .map_err(SecretsError::from)?;
    let list = if addrs.is_empty() { vec![env.addr.clone()] } else { addrs.to_vec() };
    Ok((list.into_iter().map(|a| a.trim_end_matches('/').to_owned()).collect(), env.ca_cert_pem))
}

#[derive(serde::Serialize)]
struct ServerState {
    addr: String,
    #[serde(flatten)]
    status: Option<SealStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

fn print_states(states: &[ServerState], format: Format) -> anyhow::Result<()> {
    match format {
        Format::Json => print_json(&states),
        Format::Table => {
            let rows: Vec<Vec<String>> = states
                .iter()
                .map(|s| match (&s.status, &s.error) {
                    (Some(st), _) => vec![
                        s.addr.clone(),
                        if st.initialized { "yes".into() } else { "no".into() },
                        if st.sealed { "sealed".into() } else { "unsealed".into() },
                        if st.sealed {
                            format!("{}/{}", st.progress, st.threshold)
                        } else {
                            "-".into()
                        },
                        st.version.clone(),
                    ],
                    (None, e) => vec![
                        s.addr.clone(),
                        "?".into(),
                        "?".into(),
                        "-".into(),
                        e.clone().unwrap_or_default(),
                    ],
                })
                .collect();
            print!(
                "{}",
                table(&["ADDR", "INITIALISED", "STATE", "SHARES", "VERSION / ERROR"], &rows)
            );
            Ok(())
        }
    }
}

fn outcome(states: &[ServerState]) -> ExitCode {
    if states.iter().any(|s| s.error.is_some()) {
        ExitCode::from(exit::ERROR)
    } else if states.iter().any(|s| s.status.as_ref().is_none_or(|st| st.sealed || !st.initialized))
    {
        ExitCode::from(exit::CONFLICT)
    } else {
        ExitCode::SUCCESS
    }
}

async fn status(args: OpenbaoAddrArgs) -> anyhow::Result<ExitCode> {
    let (addrs, ca) = endpoints(&args.addrs)?;
    let mut states = Vec::new();
    for addr in addrs {
        let client = BaoClient::anonymous(&addr, ca.clone()).await.map_err(SecretsError::from)?;
        match client.seal_status().await {
            Ok(st) => states.push(ServerState { addr, status: Some(st), error: None }),
            Err(e) => states.push(ServerState { addr, status: None, error: Some(e.to_string()) }),
        }
    }
    print_states(&states, args.output)?;
    Ok(outcome(&states))
}

/// One share holder: name and the base64 of their public key.
struct Holder {
    name: String,
    key_b64: String,
}

fn holders(specs: &[String]) -> anyhow::Result<Vec<Holder>> {
    let mut out: Vec<Holder> = Vec::new();
    for spec in specs {
        let Some((name, file)) =
            spec.split_once('=').filter(|(n, f)| !n.is_empty() && !f.is_empty())
        else {
            return Err(exit::coded(
                exit::USAGE,
                format!("--key-holder expects NAME=FILE, got {spec:?}"),
            ));
        };
        if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.') {
            return Err(exit::coded(
                exit::USAGE,
                format!(
                    "holder name {name:?}: use letters, digits, '-', '_' or '.' (it names the share file)"
                ),
            ));
        }
        if out.iter().any(|h| h.name == name) {
            return Err(exit::coded(
                exit::USAGE,
                format!("holder {name} is given twice: one share per person"),
            ));
        }
        let bytes = std::fs::read(file).map_err(|e| {
            exit::coded(exit::USAGE, format!("--key-holder {name}: cannot read {file}: {e}"))
        })?;
        let key_b64 = pgp_key_base64(&bytes)
            .map_err(|e| exit::coded(exit::USAGE, format!("--key-holder {name}: {file}: {e}")))?;
        out.push(Holder { name: name.to_owned(), key_b64 });
    }
    Ok(out)
}

/// OpenPGP ASCII armor (RFC 4880 §6) around OpenBao's base64 of the binary
/// message, so `gpg -d FILE` decrypts it directly.
fn armor(b64: &str, comment: &str) -> anyhow::Result<String> {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD as B64;
    let raw = B64.decode(b64.trim()).context("OpenBao returned a share that is not base64")?;
    let mut crc: u32 = 0x00B7_04CE;
    for byte in &raw {
        crc ^= u32::from(*byte) << 16;
        for _ in 0..8 {
            crc <<= 1;
            if crc & 0x0100_0000 != 0 {
                crc ^= 0x0186_4CFB;
            }
        }
    }
    crc &= 0x00FF_FFFF;
    let body = B64.encode(&raw);
    let mut out = format!("-----BEGIN PGP MESSAGE-----\nComment: {comment}\n\n");
    for chunk in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    let crc_bytes = crc.to_be_bytes();
    out.push_str(&format!("={}\n-----END PGP MESSAGE-----\n", B64.encode(&crc_bytes[1..])));
    Ok(out)
}

/// Create `path` empty, mode 0600, refusing an existing file.
fn create_private(path: &Path) -> anyhow::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(|e| {
        exit::coded(
            exit::USAGE,
            format!(
                "cannot create {}: {e} (the files of an earlier init are never overwritten)",
                path.display()
            ),
        )
    })
}

async fn init(args: OpenbaoInitArgs) -> anyhow::Result<ExitCode> {
    let (addrs, ca) = endpoints(args.addr.as_slice())?;
    let addr = addrs.first().cloned().unwrap_or_default();
    let holders = if args.print_once { Vec::new() } else { holders(&args.key_holders)? };
    let shares = if args.print_once {
        args.shares
    } else {
        u32::try_from(holders.len()).unwrap_or(u32::MAX)
    };
    if args.threshold == 0 || args.threshold > shares {
        return Err(exit::coded(
            exit::USAGE,
            format!(
                "--threshold {} must be between 1 and the number of shares ({shares})",
                args.threshold
            ),
        ));
    }
    if args.threshold == 1 && shares > 1 {
        progress("warning: a threshold of 1 lets any single holder unseal alone");
    }
    if args.print_once && !std::io::stdout().is_terminal() {
        return Err(exit::coded(
            exit::USAGE,
            "--print-once writes the shares and the root token in clear: stdout must be a terminal, \
             never a pipe or a file (use --key-holder NAME=PGPKEY with --out-dir instead)",
        ));
    }
    let root_holder = match &args.root_token_holder {
        Some(n) => holders.iter().position(|h| &h.name == n).ok_or_else(|| {
            exit::coded(
                exit::USAGE,
                format!("--root-token-holder {n} is not one of the --key-holder names"),
            )
        })?,
        None => 0,
    };

    let client = BaoClient::anonymous(&addr, ca).await.map_err(SecretsError::from)?;
    let st = client.seal_status().await.map_err(SecretsError::from)?;
    if st.initialized {
        return Err(exit::coded(
            exit::CONFLICT,
            format!(
                "{addr} is already initialised (threshold {} of {}); unseal it with `platctl openbao unseal`",
                st.threshold, st.shares
            ),
        ));
    }

    // Every output file exists (empty, 0600) before the irreversible init.
    let mut files = Vec::new();
    if let Some(dir) = &args.out_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let dir =
            dir.canonicalize().with_context(|| format!("cannot resolve {}", dir.display()))?;
        let repo = super::repo_root().canonicalize().unwrap_or_else(|_| super::repo_root());
        if repo.join(".git").exists() && dir.starts_with(&repo) {
            return Err(exit::coded(
                exit::USAGE,
                format!(
                    "--out-dir {} is inside the repository {}: shares never go near Git; choose a directory outside it",
                    dir.display(),
                    repo.display()
                ),
            ));
        }
        for h in &holders {
            let p = dir.join(format!("{}.unseal-share.asc", h.name));
            files.push((create_private(&p)?, p));
        }
        let p = dir.join(format!("{}.root-token.asc", holders[root_holder].name));
        match create_private(&p) {
            Ok(f) => files.push((f, p)),
            Err(e) => {
                for (_, p) in &files {
                    let _ = std::fs::remove_file(p);
                }
                return Err(e);
            }
        }
    }
    let req = InitRequest {
        shares,
        threshold: args.threshold,
        pgp_keys: holders.iter().map(|h| h.key_b64.clone()).collect(),
        root_token_pgp_key: holders.get(root_holder).map(|h| h.key_b64.clone()),
    };
    let resp = match client.init(&req).await {
        Ok(r) => r,
        Err(e) => {
            for (_, p) in &files {
                let _ = std::fs::remove_file(p);
            }
            return Err(anyhow::Error::new(e).context(format!("initialising {addr}")));
        }
    };

    if args.print_once {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "OpenBao at {addr} is initialised. Shown ONCE; give each share to one person, then clear the screen."
        )?;
        for (i, s) in resp.keys_base64.iter().enumerate() {
            writeln!(out, "unseal share {}: {}", i + 1, s.expose())?;
        }
        writeln!(
            out,
            "root token: {}  (revoke it after `platctl openbao configure`)",
            resp.root_token.expose()
        )?;
        return Ok(ExitCode::SUCCESS);
    }

    #[derive(serde::Serialize)]
    struct Written {
        addr: String,
        shares: u32,
        threshold: u32,
        files: Vec<(String, PathBuf)>,
    }
    let mut written =
        Written { addr: addr.clone(), shares, threshold: args.threshold, files: Vec::new() };
    let mut iter = files.into_iter();
    for (h, share) in holders.iter().zip(resp.keys_base64.iter()) {
        let (mut f, p) = iter.next().context("share file")?;
        let text = armor(
            share.expose(),
            &format!(
                "OpenBao unseal key share for {} ({} of {shares} unseal)",
                h.name, args.threshold
            ),
        )?;
        f.write_all(text.as_bytes())
            .and_then(|()| f.sync_all())
            .with_context(|| format!("writing {}", p.display()))?;
        written.files.push((h.name.clone(), p));
    }
    if let Some((mut f, p)) = iter.next() {
        let text = armor(resp.root_token.expose(), "OpenBao initial root token")?;
        f.write_all(text.as_bytes())
            .and_then(|()| f.sync_all())
            .with_context(|| format!("writing {}", p.display()))?;
        written.files.push((format!("{} (root token)", holders[root_holder].name), p));
    }
    drop(resp);
    match args.output {
        Format::Json => print_json(&written)?,
        Format::Table => {
            println!("{addr}: initialised, {} of {shares} shares unseal", args.threshold);
            for (who, p) in &written.files {
                println!("{who:<24} {}", p.display());
            }
        }
    }
    progress(
        "each holder: `gpg -d NAME.unseal-share.asc | platctl openbao unseal --addr ...` (every pod)",
    );
    Ok(ExitCode::SUCCESS)
}

/// Read one line from the terminal without echo.
pub(super) fn prompt_hidden(prompt: &str) -> anyhow::Result<Sensitive> {
    use nix::sys::termios::{LocalFlags, SetArg, tcgetattr, tcsetattr};
    let stdin = std::io::stdin();
    let old = tcgetattr(&stdin).context("cannot read the terminal settings")?;
    let mut quiet = old.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    tcsetattr(&stdin, SetArg::TCSANOW, &quiet).context("cannot turn echo off")?;
    eprint!("{prompt}");
    let mut line = String::new();
    let read = stdin.read_line(&mut line);
    let _ = tcsetattr(&stdin, SetArg::TCSANOW, &old);
    eprintln!();
    read.context("cannot read the share")?;
    Ok(Sensitive::new(line.trim().to_owned()))
}

fn read_share(file: Option<&PathBuf>) -> anyhow::Result<Sensitive> {
    let mut text = String::new();
    match file {
        Some(p) if p.as_os_str() == "-" => {
            std::io::stdin().read_to_string(&mut text).context("cannot read stdin")?;
        }
        Some(p) => {
            text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read {}", p.display()))?;
        }
        None if !std::io::stdin().is_terminal() => {
            std::io::stdin().read_to_string(&mut text).context("cannot read stdin")?;
        }
        None => return prompt_hidden("unseal key share (not echoed): "),
    }
    let share = Sensitive::new(text.trim().to_owned());
    text.clear();
    if share.expose().is_empty() {
        return Err(exit::coded(exit::USAGE, "the unseal share is empty"));
    }
    if share.expose().contains("BEGIN PGP MESSAGE") {
        return Err(exit::coded(
            exit::USAGE,
            "this is the encrypted share: decrypt it first (`gpg -d NAME.unseal-share.asc | platctl openbao unseal ...`)",
        ));
    }
    Ok(share)
}

async fn unseal(args: OpenbaoUnsealArgs) -> anyhow::Result<ExitCode> {
    let (addrs, ca) = endpoints(&args.addrs)?;
    let share = read_share(args.share_file.as_ref())?;
    let mut states = Vec::new();
    for addr in addrs {
        let client = BaoClient::anonymous(&addr, ca.clone()).await.map_err(SecretsError::from)?;
        let result = async {
            let st = client.seal_status().await?;
            if !st.initialized {
                return Err(platctl_secrets::bao::BaoError::Config(
                    "not initialised: run `platctl openbao init` on the first pod; the others join it".into(),
                ));
            }
            if !st.sealed {
                return Ok(st);
            }
            let st = client.unseal(&share).await?;
            if st.sealed && st.progress == 0 {
                // The threshold was reached but the node is not unsealed yet: a
                // raft follower completes its join first. Wait for it (10 s).
                for _ in 0..20 {
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                    let now = client.seal_status().await?;
                    if !now.sealed {
                        return Ok(now);
                    }
                }
            }
            Ok(st)
        }
        .await;
        match result {
            Ok(st) => states.push(ServerState { addr, status: Some(st), error: None }),
            Err(e) => states.push(ServerState { addr, status: None, error: Some(e.to_string()) }),
        }
    }
    drop(share);
    print_states(&states, args.output)?;
    Ok(outcome(&states))
}

async fn client_from_env() -> anyhow::Result<BaoClient> {
    let config = BaoConfig::from_env().map_err(SecretsError::from)?;
    progress(format_args!("OpenBao at {} ({} auth)", config.addr, config.auth.method()));
    Ok(BaoClient::connect(&config).await.map_err(SecretsError::from)?)
}

async fn configure(args: OpenbaoConfigureArgs) -> anyhow::Result<ExitCode> {
    let file =
        args.file.clone().unwrap_or_else(|| super::repo_root().join("infra/openbao/access.yaml"));
    let access = access::Access::load(&file)?;
    let client = client_from_env().await?;
    let changes = access::configure(&client, &access, args.dry_run).await?;
    match args.output {
        Format::Json => print_json(&changes)?,
        Format::Table => {
            let rows: Vec<Vec<String>> = changes
                .iter()
                .map(|c| {
                    let action = if args.dry_run && c.action != "unchanged" {
                        format!("would {}", c.action)
                    } else {
                        c.action.to_owned()
                    };
                    vec![c.item.clone(), action]
                })
                .collect();
            print!("{}", table(&["ITEM", "ACTION"], &rows));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn open_store(url: &str) -> anyhow::Result<Store> {
    Store::open(url).with_context(|| format!("cannot open store {url}"))
}

async fn snapshot_cmd(cmd: SnapshotCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        SnapshotCommand::Save(args) => {
            let store = open_store(&args.to)?;
            let client = client_from_env().await?;
            let meta = snapshot::save(&client, &store, time::OffsetDateTime::now_utc()).await?;
            match args.output {
                Format::Json => print_json(&meta)?,
                Format::Table => println!(
                    "{}/{}  {} bytes  sha256:{}",
                    store.url(),
                    meta.key,
                    meta.bytes,
                    meta.sha256
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
        SnapshotCommand::List(args) => {
            let store = open_store(&args.from)?;
            let metas = snapshot::list(&store).await?;
            match args.output {
                Format::Json => print_json(&metas)?,
                Format::Table => {
                    let rows: Vec<Vec<String>> = metas
                        .iter()
                        .map(|m| {
                            vec![
                                m.key.clone(),
                                m.taken_at.clone(),
                                m.bytes.to_string(),
                                m.openbao_version.clone(),
                                m.cluster_name.clone().unwrap_or_default(),
                            ]
                        })
                        .collect();
                    print!("{}", table(&["KEY", "TAKEN", "BYTES", "OPENBAO", "CLUSTER"], &rows));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        SnapshotCommand::Restore(args) => {
            if !args.yes {
                return Err(exit::coded(
                    exit::USAGE,
                    "a restore replaces all of OpenBao's data with the snapshot's (later changes are lost): add --yes",
                ));
            }
            let store = open_store(&args.from)?;
            let client = client_from_env().await?;
            let mode = if args.force { RestoreMode::Force } else { RestoreMode::SameCluster };
            let meta = match snapshot::restore(&client, &store, args.key.as_deref(), mode).await {
                Ok(m) => m,
                Err(e @ SecretsError::SnapshotNotFound(_)) => {
                    return Err(exit::coded(exit::NOT_FOUND, e.to_string()));
                }
                Err(e @ SecretsError::SnapshotForeign(_)) => {
                    return Err(exit::coded(exit::CONFLICT, e.to_string()));
                }
                Err(e) => return Err(e.into()),
            };
            match args.output {
                Format::Json => print_json(&meta)?,
                Format::Table => println!(
                    "restored {} (taken {}, sha256:{})",
                    meta.key, meta.taken_at, meta.sha256
                ),
            }
            if args.force {
                progress(
                    "the cluster now has the snapshot's keyring: unseal it with the shares of the cluster that took it",
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
