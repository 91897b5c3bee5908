//! Command dispatch and the context every command shares.

mod audit;
mod check;
mod drift;
mod init;
mod openbao;
mod render;
mod sealing;
mod secrets;
mod smoke;
mod state;
mod store;
mod tf;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use platctl_state::StateStore;
use platctl_store::Store;

use crate::cli::{Cli, Command, StoreArgs};

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::State(c) => state::run(c).await,
        Command::Store(c) => store::run(c).await,
        Command::Tf(args) => tf::run(args).await,
        Command::Drift(args) => drift::run(args).await,
        Command::Check(args) => check::run(args),
        Command::Secrets(c) => secrets::run(c).await,
        Command::Smoke(args) => smoke::run(args).await,
        Command::Render(args) => render::run(args),
        Command::Audit(c) => audit::run(c).await,
        Command::Openbao(c) => openbao::run(c).await,
        Command::Init(args) => init::run(args),
    }
}

/// The repository root: the nearest ancestor of the working directory with a
/// `.git`, else the working directory itself.
pub fn repo_root() -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    cwd.ancestors().find(|d| d.join(".git").exists()).map_or_else(|| cwd.clone(), Path::to_path_buf)
}

/// Resolve `--store` (already defaulted from $PLATCTL_STORE by clap) to a URL.
/// The embedded default lives in the repository; outside one there is no
/// default, rather than a store silently created in whatever directory the
/// command ran in.
pub fn store_url(args: &StoreArgs) -> anyhow::Result<String> {
    match &args.store {
        Some(url) if !url.trim().is_empty() => Ok(url.trim().to_owned()),
        _ => {
            let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
            let Some(root) = cwd.ancestors().find(|d| d.join(".git").exists()) else {
                return Err(crate::exit::coded(
                    crate::exit::USAGE,
                    format!(
                        "no --store given and {} is not inside a git repository, so there is no default store \
                         (the default is .platctl/store at the repository root). Pass --store URL or set PLATCTL_STORE \
                         (file:///abs/path or s3://bucket/prefix)",
                        cwd.display()
                    ),
                ));
            };
            Ok(format!("file://{}", root.join(".platctl/store").display()))
        }
    }
}

pub fn open_store(args: &StoreArgs) -> anyhow::Result<Store> {
    let url = store_url(args)?;
    Store::open(&url).with_context(|| format!("cannot open store {url}"))
}

/// The audit log path: --audit-log / $PLATCTL_AUDIT_LOG, else `audit.jsonl`
/// next to a file store's directory, else `.platctl/audit.jsonl` in the repo.
pub fn audit_path(args: &StoreArgs, store: &Store) -> PathBuf {
    audit_path_beside(args, store.local_root())
}

/// [`audit_path`] before the store is open: `local_root` is a file store's directory.
pub fn audit_path_beside(args: &StoreArgs, local_root: Option<&Path>) -> PathBuf {
    if let Some(p) = &args.audit_log {
        return p.clone();
    }
    match local_root.and_then(Path::parent) {
        Some(parent) => parent.join("audit.jsonl"),
        None => repo_root().join(".platctl/audit.jsonl"),
    }
}

pub fn open_state(args: &StoreArgs) -> anyhow::Result<(StateStore, PathBuf)> {
    let store = open_store(args)?;
    let audit = audit_path(args, &store);
    // The JSON Lines file, plus the Loki sink when PLATCTL_LOKI_URL is set.
    Ok((StateStore::new(store, audit::sink(&audit)?), audit))
}
