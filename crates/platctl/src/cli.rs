//! Command-line definition. Each subcommand's flags live here; its behaviour
//! lives in `cmd/<name>.rs`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::output::Format;

#[derive(Debug, Parser)]
#[command(
    name = "platctl",
    version,
    about = "Operate the LKE platform: Terraform state with safe locking, versions and rollback",
    long_about = None,
    after_help = "Exit codes: 0 ok, 1 error, 2 usage (or findings, per command), 3 lock/serial conflict, \
4 store does not enforce create-only writes, 5 not found. `platctl tf` exits with terraform's code.\n\
Colour is off when NO_COLOR is set or stderr is not a terminal."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// More log output on stderr (-v info, -vv debug). PLATCTL_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// Where state lives. Shared by every command that touches the store.
#[derive(Debug, Args, Clone)]
pub struct StoreArgs {
    /// State store: file:///abs/path or s3://bucket[/prefix].
    /// Default: $PLATCTL_STORE, then .platctl/store at the repository root.
    #[arg(long, env = "PLATCTL_STORE", value_name = "URL")]
    pub store: Option<String>,
    /// Audit log (JSON Lines). Default: $PLATCTL_AUDIT_LOG, then audit.jsonl
    /// next to a file store, or .platctl/audit.jsonl at the repository root.
    #[arg(long, env = "PLATCTL_AUDIT_LOG", value_name = "FILE")]
    pub audit_log: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Inspect and operate Terraform state: list, versions, show, rollback, unlock, serve.
    #[command(subcommand)]
    State(StateCommand),
    /// Check the object store itself.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Run the real terraform with this env's state wired through an in-process backend.
    Tf(TfArgs),
    /// Read-only drift detection: plan every env, report drift and pending changes.
    Drift(DriftArgs),
    /// Enforce the platform's rules on a repository in one pass (Terraform, deploy/, charts/, workflows).
    Check(CheckArgs),
    /// Prove an environment serves an app: DNS, TLS, /healthz, /readyz and /metrics of a URL.
    Smoke(SmokeArgs),
    /// Secrets: seal for sealed-secrets, sync from OpenBao into Git, scan the repo for credentials.
    #[command(subcommand)]
    Secrets(crate::cmd::secrets::SecretsCommand),
    /// Audit log: ship events to Loki (backfill a JSON Lines file, or drain the Loki spool).
    #[command(subcommand)]
    Audit(crate::cmd::audit::AuditCommand),
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Verify that the store refuses a second create of the same key (exit 4 if it does not).
    Probe {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long, value_enum, default_value_t)]
        output: Format,
    },
}

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// Every env with its serial, size, and lock holder and age.
    List {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long, value_enum, default_value_t)]
        output: Format,
    },
    /// The immutable versions of an env's state, oldest first.
    Versions {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        env: String,
        #[arg(long, value_enum, default_value_t)]
        output: Format,
    },
    /// Print the current state (or one version) of an env.
    Show {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        env: String,
        /// A version id from `platctl state versions`.
        #[arg(long, value_name = "ID")]
        version: Option<String>,
        /// `json` prints the raw state; `table` prints a summary.
        #[arg(long, value_enum, default_value_t)]
        output: Format,
    },
    /// Write an older version back as the new current state (serial = current + 1).
    /// This changes state only, never real infrastructure: run a plan afterwards.
    Rollback {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        env: String,
        /// The version id to restore.
        #[arg(long, value_name = "ID")]
        to: String,
        /// Why: recorded in the audit log and the new version.
        #[arg(long)]
        reason: String,
        #[arg(long, value_enum, default_value_t)]
        output: Format,
    },
    /// Remove a lock. With --id, only if it matches; without, a force-unlock.
    Unlock {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        env: String,
        /// The lock id shown by `state list` or terraform's lock error.
        #[arg(long)]
        id: Option<String>,
        /// Why: recorded in the audit log.
        #[arg(long)]
        reason: String,
        #[arg(long, value_enum, default_value_t)]
        output: Format,
    },
    /// Serve Terraform's http backend protocol at /v1/state/<env>.
    Serve(ServeArgs),
    /// Remove version content that no version lists (left by refused or
    /// interrupted writes) and leftovers of interrupted store probes. Never
    /// touches a listed version, a lock or the current state; takes each
    /// env's lock while it works, and skips a locked env.
    Gc {
        #[command(flatten)]
        store: StoreArgs,
        /// Only this env (default: every env).
        #[arg(long)]
        env: Option<String>,
        /// Keep objects younger than this (e.g. 30m, 1h, 2d; `0s` for all):
        /// a write in flight may still be recording their metadata.
        #[arg(long, default_value = "1h", value_name = "AGE")]
        min_age: String,
        /// Only report what would be removed.
        #[arg(long)]
        dry_run: bool,
        #[arg(long, value_enum, default_value_t)]
        output: Format,
    },
    /// Create an access token for `state serve`: prints the token once, and the
    /// hashed entry to add to the tokens file.
    Token {
        /// A name for the token (shown in audit records as the actor).
        #[arg(long)]
        name: String,
        /// Env patterns the token may touch (`*` suffix wildcard), comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        envs: Vec<String>,
        /// Permissions: read, write, lock, admin (comma-separated).
        #[arg(long, value_delimiter = ',', required = true)]
        permissions: Vec<String>,
        #[arg(long, value_enum, default_value_t)]
        output: Format,
    },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// YAML file of hashed tokens (see `platctl state token`). Without it the
    /// server refuses any non-loopback address.
    #[arg(long, value_name = "FILE")]
    pub tokens: Option<PathBuf>,
    /// PEM certificate chain for HTTPS.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for HTTPS.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Largest accepted state body, in MiB (at least 1).
    #[arg(long, default_value_t = 64, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub max_body_mib: u64,
    /// Seconds a client has to send a request's headers, and the longest
    /// pause allowed while it sends a body; idle connections close after it.
    #[arg(long, default_value_t = 10, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub read_timeout: u64,
    /// Connections one client address may hold open at once; more are closed
    /// on accept.
    #[arg(long, default_value_t = 64, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub max_connections_per_client: u64,
    /// Serve plain HTTP on a non-loopback --listen address. Without TLS the
    /// server refuses such an address (tokens would cross the network in
    /// clear text); pass this only behind a proxy that terminates TLS.
    #[arg(long, conflicts_with = "tls_cert")]
    pub allow_plaintext: bool,
}

#[derive(Debug, Args)]
pub struct TfArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The environment: names the state and the default root dir.
    #[arg(long)]
    pub env: String,
    /// Terraform root directory. Default: infra/terraform/envs/<env>.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Use a shared `platctl state serve` instead of an in-process backend.
    /// Credentials come from TF_HTTP_USERNAME/TF_HTTP_PASSWORD.
    #[arg(long, value_name = "URL", conflicts_with = "store")]
    pub server: Option<String>,
    /// The terraform binary.
    #[arg(long, env = "PLATCTL_TERRAFORM", default_value = "terraform")]
    pub terraform: PathBuf,
    /// Arguments passed to terraform, after `--`.
    #[arg(last = true, required = true, value_name = "TERRAFORM ARGS")]
    pub args: Vec<String>,
}

/// `platctl smoke`: checks run in order (dns, tls for https, healthz, readyz,
/// metrics, one per --expect-metric); a check whose prerequisite failed is skipped.
#[derive(Debug, Args)]
#[command(after_help = "Exit codes: 0 every check passed; 1 a check failed (after all retries); \
2 usage: unknown flag or bad value (--url, --resolve, --dns-server, --ca).\n\
Results go to stdout (text or --output json); retry progress goes to stderr.\n\
Colour is off when NO_COLOR is set or stdout is not a terminal.")]
pub struct SmokeArgs {
    /// The service's public URL (http or https); /healthz, /readyz and /metrics are fetched under it.
    #[arg(long, value_name = "URL")]
    pub url: String,
    /// The address the URL's host must resolve to; connections go to it (like curl --resolve).
    #[arg(long, value_name = "HOST:IP")]
    pub resolve: Option<String>,
    /// Ask this DNS server directly instead of the system resolver (port 53 by default).
    #[arg(long, value_name = "IP[:PORT]")]
    pub dns_server: Option<String>,
    /// Trust only the CA certificates in this PEM file instead of the system roots.
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Fail when the certificate expires in fewer than N days.
    #[arg(long, default_value_t = 14, value_name = "N")]
    pub min_cert_days: u32,
    /// A metric (family or sample name) that /metrics must expose; repeatable.
    #[arg(long = "expect-metric", value_name = "NAME", num_args = 1..)]
    pub expect_metric: Vec<String>,
    /// Timeout of each network operation, in seconds.
    #[arg(long, default_value_t = 5.0, value_name = "S")]
    pub timeout: f64,
    /// Extra attempts while any check fails, with exponential backoff (for a converging environment).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub retries: u32,
    /// First wait between attempts, in seconds; doubles each retry, capped at 30.
    #[arg(long, default_value_t = 1.0, value_name = "S")]
    pub backoff: f64,
    #[arg(long, value_enum, default_value_t)]
    pub output: SmokeOutput,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum SmokeOutput {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Exit codes: 0 no error-level finding (warnings allowed), 1 at least one error-level \
finding, 2 usage error (bad flag, unknown rule ID, no schema folder).\n\
Suppress a finding inline, with a reason: `# platctl:ignore RULE-ID why`. Rules: docs/rules.md."
)]
pub struct CheckArgs {
    /// The folder to check: a repository root (its infra/, deploy/, charts/ and
    /// .github/workflows/ are checked) or any folder (everything in it is checked).
    #[arg(default_value = ".", value_name = "PATH")]
    pub path: PathBuf,
    /// JSON schema folder (kubernetes/<version>-local-strict/ and crds/{group}/{kind}_{version}.json).
    /// Default: $PLATCTL_SCHEMAS, then ../shared/schemas next to the repository root.
    #[arg(long, env = "PLATCTL_SCHEMAS", value_name = "DIR")]
    pub schemas: Option<PathBuf>,
    /// human: findings with the offending line in context; json; sarif (SARIF 2.1.0 for code scanning).
    #[arg(long, value_enum, default_value_t = CheckFormat::Human)]
    pub output: CheckFormat,
    /// Run only these rule IDs (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "RULE,...")]
    pub only: Vec<String>,
    /// Skip these rule IDs (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "RULE,...")]
    pub skip: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CheckFormat {
    Human,
    Json,
    Sarif,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum DriftFormat {
    #[default]
    Table,
    Json,
    Markdown,
}

#[derive(Debug, Args)]
#[command(after_help = "Exit codes: 0 every env is clean, 2 drift or pending changes in any env, \
1 a check failed (an error wins over drift: the run is incomplete).\n\
The check never takes the lock and never writes state: the in-process backend's token can only read.")]
pub struct DriftArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// An env to check (repeatable).
    #[arg(
        long = "env",
        value_name = "ENV",
        required_unless_present = "all",
        conflicts_with = "all"
    )]
    pub envs: Vec<String>,
    /// Check every env root found under --dir.
    #[arg(long)]
    pub all: bool,
    /// The directory holding one Terraform root per env. Default: infra/terraform/envs.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Read state from a shared `platctl state serve` (no report history then).
    #[arg(long, value_name = "URL", conflicts_with = "store")]
    pub server: Option<String>,
    /// Envs checked at once.
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub parallel: usize,
    #[arg(long, value_enum, default_value_t)]
    pub output: DriftFormat,
    /// Write metrics (Prometheus text) to this file, atomically.
    #[arg(long, value_name = "FILE", conflicts_with = "pushgateway")]
    pub metrics: Option<PathBuf>,
    /// Push metrics to this Pushgateway (job platctl_drift).
    #[arg(long, value_name = "URL")]
    pub pushgateway: Option<String>,
    /// The terraform binary.
    #[arg(long, env = "PLATCTL_TERRAFORM", default_value = "terraform")]
    pub terraform: PathBuf,
    /// Extra arguments for `terraform plan`, after `--` (e.g. -var-file=x.tfvars).
    #[arg(last = true, value_name = "PLAN ARGS")]
    pub plan_args: Vec<String>,
}
