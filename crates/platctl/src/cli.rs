//! Command-line definition: every subcommand's flags live here (and only here);
//! its behaviour lives in `cmd/<name>.rs`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

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
    /// Render an environment's whole GitOps tree offline, as Argo CD would (real helm, chart cache).
    Render(RenderArgs),
    /// Secrets: seal for sealed-secrets, sync from OpenBao into Git, scan the repo for credentials.
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// Audit log: ship events to Loki (backfill a JSON Lines file, or drain the Loki spool).
    #[command(subcommand)]
    Audit(AuditCommand),
    /// OpenBao: init with PGP-encrypted shares, unseal, configure access, raft snapshots.
    #[command(subcommand)]
    Openbao(OpenbaoCommand),
    /// Write platform.yaml (the one configuration file) and every file derived from it; --check gates deploys.
    Init(InitArgs),
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum SmokeOutput {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Exit codes: 0 no error-level finding (warnings allowed), 1 at least one error-level \
finding, 2 usage error (bad flag, unknown rule ID, no schema folder, a rule that does not judge a render).\n\
Suppress a finding inline, with a reason: `# platctl:ignore RULE-ID why`. Rules: docs/rules.md.\n\
A render (`platctl render`'s folder) is judged by the workload, schema and parse rules; its findings \
are suppressed only by entries of deploy/render-suppressions.yaml, each with a reason (docs/render.md)."
)]
pub struct CheckArgs {
    /// The folder to check: a repository root (its infra/, deploy/, charts/ and
    /// .github/workflows/ are checked), a render (`platctl render --out-dir`), or
    /// any folder (everything in it is checked).
    #[arg(default_value = ".", value_name = "PATH")]
    pub path: PathBuf,
    /// The render suppression file, when PATH is a render outside its repository.
    /// Default: deploy/render-suppressions.yaml of the repository holding PATH.
    #[arg(long, value_name = "FILE")]
    pub suppressions: Option<PathBuf>,
    /// Schema folder: kubernetes/<version>-local-strict/, crds/{group}/{kind}_{version}.json and
    /// terraform/linode/<version>.json (the Linode provider's arguments).
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    Human,
    Json,
    Sarif,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
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
    /// Check every env root found under --envs-dir.
    #[arg(long)]
    pub all: bool,
    /// The folder holding one Terraform root per env (ENVS_DIR/<env>). Default: infra/terraform/envs.
    #[arg(long, value_name = "ENVS_DIR")]
    pub envs_dir: Option<PathBuf>,
    /// Deprecated name of --envs-dir (`platctl tf --dir` is one root, not this folder).
    #[arg(long = "dir", value_name = "ENVS_DIR", hide = true, conflicts_with = "envs_dir")]
    pub deprecated_dir: Option<PathBuf>,
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

// `platctl secrets`

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Seal a Secret for the sealed-secrets controller (kubeseal-compatible).
    ///
    /// Reads a v1 Secret manifest (data and/or stringData) on stdin, or builds one
    /// from --name/--namespace with --from-literal and --from-file, and writes a
    /// bitnami.com/v1alpha1 SealedSecret to stdout. Each value gets a fresh AES-256-GCM
    /// key wrapped with RSA-OAEP-SHA256 under the scope's label.
    #[command(
        after_help = "Exit codes: 0 sealed; 1 error (invalid manifest, certificate expired, \
not RSA, unreachable or not a certificate).\n\
Example: kubectl create secret generic db -n app --from-literal=password=... --dry-run=client -o yaml \
| platctl secrets seal --cert deploy/secrets/staging/sealed-secrets-cert.pem > db.sealed.yaml"
    )]
    Seal(SealArgs),
    /// Seal the OpenBao KV v2 values mapped for an env into SealedSecret files.
    ///
    /// Reads deploy/secrets/mapping.yaml, reads every mapped OpenBao path first, then
    /// (re)writes only the files whose sources changed (KV version, keys, template,
    /// scope or controller certificate), each atomically, as
    /// deploy/secrets/<env>/<namespace>-<name>.yaml. One audit event per run.
    /// OpenBao: BAO_ADDR (or VAULT_ADDR); BAO_TOKEN (or VAULT_TOKEN), or AppRole with
    /// BAO_ROLE_ID + BAO_SECRET_ID (mount BAO_APPROLE_MOUNT, default approle), or
    /// Kubernetes auth in a pod with BAO_K8S_ROLE.
    #[command(
        after_help = "Exit codes: 0 done (or nothing to do); 1 error (permission denied, OpenBao \
unreachable, bad mapping or certificate); 5 a mapped path, version or field does not exist, or \
the env has no sealing key yet (`platctl secrets key generate`). On any error no file is written."
    )]
    Sync(SyncArgs),
    /// Find plaintext Kubernetes Secrets and credentials (Linode tokens, private keys,
    /// S3 keys, AWS key ids) in every file Git would see under PATH.
    ///
    /// Honours .gitignore; skips .git/, target/, binary files and files over 2 MiB.
    /// Allowlist: PATH/.platctl-scan-allow, one `GLOB  # reason` per line (reason required).
    /// Findings show file, line and column, never the matched text.
    #[command(
        after_help = "Exit codes: 0 nothing found; 1 findings (or an error, e.g. a bad allowlist)."
    )]
    Scan(ScanArgs),
    /// The platform-owned sealing keys: generate, rotate, list (keys live in OpenBao).
    #[command(subcommand)]
    Key(KeyCommand),
    /// Day 0: seed OpenBao (generated values, Terraform outputs), create the sealing
    /// keys, and name every value a person must still supply.
    Bootstrap(BootstrapArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScopeArg {
    /// Only this namespace and name may unseal (label "ns/name").
    Strict,
    /// Any name in this namespace (label "ns").
    NamespaceWide,
    /// Any namespace and name (empty label).
    ClusterWide,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ManifestFormat {
    #[default]
    Yaml,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ReportFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct SealArgs {
    /// The controller's public certificate: a PEM file, or the controller's
    /// http(s)://…/v1/cert.pem URL (a bare http(s)://host:port means its /v1/cert.pem).
    #[arg(long, env = "PLATCTL_SEALED_SECRETS_CERT", value_name = "FILE|URL")]
    pub cert: String,
    /// Who may unseal. Default: the manifest's sealedsecrets.bitnami.com/* annotation, else strict.
    #[arg(long, value_enum)]
    pub scope: Option<ScopeArg>,
    /// Build the Secret from flags instead of stdin: its name.
    #[arg(long)]
    pub name: Option<String>,
    /// The Secret's namespace (fills in a manifest without one).
    #[arg(long, short = 'n')]
    pub namespace: Option<String>,
    /// KEY=VALUE (repeatable). Note: values on a command line end up in shell history.
    #[arg(long, value_name = "KEY=VALUE", requires = "name")]
    pub from_literal: Vec<String>,
    /// KEY=PATH: the file's bytes (repeatable).
    #[arg(long, value_name = "KEY=PATH", requires = "name")]
    pub from_file: Vec<String>,
    /// Secret type for --name (default Opaque).
    #[arg(long = "type", value_name = "TYPE", requires = "name")]
    pub secret_type: Option<String>,
    #[arg(long, value_enum, default_value_t)]
    pub output: ManifestFormat,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// The environment in the mapping file.
    #[arg(long)]
    pub env: String,
    /// Mapping file. Default: deploy/secrets/mapping.yaml at the repository root.
    #[arg(long, env = "PLATCTL_SECRETS_MAPPING", value_name = "FILE")]
    pub mapping: Option<PathBuf>,
    /// Show what would change (names, paths, versions; never values) and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Audit log (JSON Lines). Default: $PLATCTL_AUDIT_LOG, then .platctl/audit.jsonl at the repository root.
    #[arg(long, env = "PLATCTL_AUDIT_LOG", value_name = "FILE")]
    pub audit_log: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t)]
    pub output: ReportFormat,
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Directory (or file) to scan.
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Allowlist file. Default: PATH/.platctl-scan-allow.
    #[arg(long, value_name = "FILE")]
    pub allowlist: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t)]
    pub output: ReportFormat,
}

// `platctl audit`

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Ship audit events to Loki: backfill a JSON Lines audit file (--from FILE),
    /// or drain the Loki sink's spool (without --from). Idempotent.
    Ship(ShipArgs),
}

#[derive(Debug, Args)]
#[command(
    after_help = "Exit codes: 0 every event is delivered; 1 error: Loki refused a batch (4xx other than 429: \
not retried, events kept), --timeout reached with events left, a line that is not an audit event, the file \
being shipped by another process, or I/O; 2 usage.\n\
Re-running is safe: a cursor next to the file (per Loki URL and tenant) records what Loki acknowledged, and \
re-sent events are exact duplicates that Loki stores once.\n\
Credentials come from the environment only: PLATCTL_LOKI_USERNAME + PLATCTL_LOKI_PASSWORD (basic) or \
PLATCTL_LOKI_TOKEN (bearer). Progress goes to stderr. See docs/audit.md."
)]
pub struct ShipArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// JSON Lines audit file to backfill. Without it, the Loki spool is drained.
    #[arg(long, value_name = "FILE")]
    pub from: Option<PathBuf>,
    /// Loki base URL or push URL. Default: $PLATCTL_LOKI_URL.
    #[arg(long, value_name = "URL")]
    pub loki: Option<String>,
    /// Tenant (X-Scope-OrgID). Default: $PLATCTL_LOKI_TENANT.
    #[arg(long, value_name = "ID")]
    pub tenant: Option<String>,
    /// The Loki spool to drain. Default: $PLATCTL_LOKI_SPOOL, then `<audit log>.loki-spool`.
    #[arg(long, value_name = "DIR", conflicts_with = "from")]
    pub spool: Option<PathBuf>,
    /// Ignore the cursor and send every line again (Loki drops exact duplicates).
    #[arg(long)]
    pub from_start: bool,
    /// Stop retrying after S seconds (events left are reported, exit 1). Default: retry until delivered.
    #[arg(long, value_name = "S")]
    pub timeout: Option<f64>,
    /// Most events per push request.
    #[arg(long, value_name = "N")]
    pub batch_events: Option<usize>,
    /// Most bytes of log lines per push request (before gzip).
    #[arg(long, value_name = "BYTES")]
    pub batch_bytes: Option<usize>,
    /// Also write platctl_audit_ship_errors_total and platctl_audit_spool_pending_events
    /// to FILE in the Prometheus text format (node_exporter textfile collector).
    #[arg(long, value_name = "FILE")]
    pub metrics: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t)]
    pub output: Format,
}

/// `platctl secrets key`: the platform-owned Sealed Secrets keys (issue 14).
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Make sure ENV has a sealing key: create key 1 in OpenBao if it has none,
    /// write its certificate to deploy/secrets/ENV/sealed-secrets-cert.pem and the
    /// controller's SecretProviderClass (deploy/secrets/sealing-keys/). Idempotent.
    ///
    /// The key pair (RSA-4096, certificate like the controller's own) is generated
    /// in memory and written create-only to OpenBao at <mount>/sealed-secrets/ENV/<n>;
    /// the private key never touches the disk. No cluster is needed.
    #[command(after_help = "Exit codes: 0 the key exists and Git has its certificate; 1 error \
(OpenBao unreachable or denied, bad mapping, ENV owns no key).")]
    Generate(KeyArgs),
    /// Create a new active key for ENV; older keys stay (in OpenBao and in the cluster)
    /// so everything sealed for them still decrypts. Then reseal: `platctl secrets sync`.
    #[command(
        after_help = "Exit codes: 0 rotated; 1 error; 5 ENV has no key yet (use generate).\n\
Order: commit the certificate and the SecretProviderClass, let the controller pick the new key up \
(kubectl -n kube-system get secret -l sealedsecrets.bitnami.com/sealed-secrets-key=active), then \
`platctl secrets sync --env ENV` and commit the resealed files. See docs/secrets.md."
    )]
    Rotate(KeyArgs),
    /// The sealing keys in OpenBao (never the private keys), newest last, and whether
    /// Git's certificate is the newest.
    #[command(
        after_help = "Exit codes: 0 listed (Git's certificates are the newest keys); 1 error; \
3 a certificate in Git is missing or not the newest key (run `platctl secrets key generate`)."
    )]
    List(KeyListArgs),
}

#[derive(Debug, Args)]
pub struct KeyArgs {
    /// The environment (a key owner in the mapping: no `cert:` of its own).
    #[arg(long)]
    pub env: String,
    /// Mapping file. Default: deploy/secrets/mapping.yaml at the repository root.
    #[arg(long, env = "PLATCTL_SECRETS_MAPPING", value_name = "FILE")]
    pub mapping: Option<PathBuf>,
    /// The KV v2 mount holding sealed-secrets/<env>/<n>.
    #[arg(long, default_value = "secret", value_name = "MOUNT")]
    pub kv_mount: String,
    /// Show what would happen; write nothing (no key, no file).
    #[arg(long)]
    pub dry_run: bool,
    #[arg(long, value_enum, default_value_t)]
    pub output: Format,
}

#[derive(Debug, Args)]
pub struct KeyListArgs {
    /// Only these environments (repeatable). Default: every key owner of the mapping.
    #[arg(long = "env", value_name = "ENV")]
    pub envs: Vec<String>,
    #[arg(long, env = "PLATCTL_SECRETS_MAPPING", value_name = "FILE")]
    pub mapping: Option<PathBuf>,
    #[arg(long, default_value = "secret", value_name = "MOUNT")]
    pub kv_mount: String,
    #[arg(long, value_enum, default_value_t)]
    pub output: Format,
}

/// `platctl secrets bootstrap`.
#[derive(Debug, Args)]
#[command(after_help = "Exit codes: 0 every value is in OpenBao and every key owner has a key; \
1 error (sources do not cover a field the tree reads, OpenBao unreachable or denied); 5 values \
only a person can supply are missing: each is listed with the command that writes it.\n\
Values are never printed. Run it again after supplying them; existing fields are never changed.")]
pub struct BootstrapArgs {
    /// Where each value comes from. Default: infra/openbao/sources.yaml.
    #[arg(long, value_name = "FILE")]
    pub sources: Option<PathBuf>,
    /// Mapping file. Default: deploy/secrets/mapping.yaml.
    #[arg(long, env = "PLATCTL_SECRETS_MAPPING", value_name = "FILE")]
    pub mapping: Option<PathBuf>,
    /// The folder searched for SecretProviderClasses. Default: deploy/.
    #[arg(long, value_name = "DIR")]
    pub tree: Option<PathBuf>,
    /// ROOT=FILE: the `terraform output -json` of a root (`-` reads stdin), e.g.
    /// global=<(platctl tf --env global -- output -json). Repeatable.
    #[arg(long = "terraform-outputs", value_name = "ROOT=FILE")]
    pub terraform_outputs: Vec<String>,
    /// Show what would be written; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Instead of a bootstrap: write the missing person-supplied fields of this
    /// OpenBao path, all in one version. Each value is read from a prompt that
    /// does not echo, or one per line from stdin (in field order).
    #[arg(long, value_name = "PATH", conflicts_with_all = ["dry_run", "terraform_outputs"])]
    pub supply: Option<String>,
    #[arg(long, value_enum, default_value_t)]
    pub output: Format,
}

/// `platctl openbao`: operate the platform's OpenBao (issue 14).
#[derive(Debug, Subcommand)]
pub enum OpenbaoCommand {
    /// Seal status of one or more servers (every pod of the StatefulSet).
    #[command(after_help = "Exit codes: 0 every server is initialised and unsealed; 1 error \
(unreachable); 3 a server is sealed or not initialised.")]
    Status(OpenbaoAddrArgs),
    /// Initialise a new OpenBao: Shamir shares, each encrypted by OpenBao itself to a
    /// named holder's OpenPGP key (one ASCII-armored file per holder in --out-dir), or
    /// printed once to a terminal. Never to a pipe, a log or the repository.
    #[command(
        after_help = "Exit codes: 0 initialised; 1 error; 2 usage (bad holder key, threshold, \
--out-dir inside the repository, --print-once without a terminal); 3 already initialised.\n\
Each holder decrypts only their share: `gpg -d NAME.unseal-share.asc | platctl openbao unseal`."
    )]
    Init(OpenbaoInitArgs),
    /// Enter one unseal key share into every server given (a share typed once unseals
    /// all pods). The share comes from --share-file, or stdin when piped, or a prompt
    /// that does not echo.
    #[command(
        after_help = "Exit codes: 0 every server is unsealed; 1 error (bad share, unreachable); \
3 accepted, but more shares are needed (progress shown)."
    )]
    Unseal(OpenbaoUnsealArgs),
    /// Apply mounts, policies and Kubernetes auth roles from Git, idempotently.
    #[command(after_help = "Exit codes: 0 applied (or nothing to do); 1 error (no audit device \
enabled, permission denied, a mount of another type in the way).\nNeeds a token that may write \
sys/ (the root token on day 0; revoke it afterwards).")]
    Configure(OpenbaoConfigureArgs),
    /// Raft snapshots to Object Storage and back (docs/runbooks/openbao-restore.md).
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
}

#[derive(Debug, Args)]
pub struct OpenbaoAddrArgs {
    /// Server address (repeatable: every pod). Default: $BAO_ADDR. CA: $BAO_CACERT.
    #[arg(long = "addr", value_name = "URL")]
    pub addrs: Vec<String>,
    #[arg(long, value_enum, default_value_t)]
    pub output: Format,
}

#[derive(Debug, Args)]
pub struct OpenbaoInitArgs {
    /// Server address. Default: $BAO_ADDR. CA: $BAO_CACERT.
    #[arg(long, value_name = "URL")]
    pub addr: Option<String>,
    /// NAME=FILE: a share holder and their OpenPGP public key (`gpg --export` or
    /// `--armor --export`). One share per holder. Repeatable.
    #[arg(long = "key-holder", value_name = "NAME=FILE", required_unless_present = "print_once")]
    pub key_holders: Vec<String>,
    /// Shares needed to unseal.
    #[arg(long, value_name = "N")]
    pub threshold: u32,
    /// The holder whose key the root token is encrypted to (default: the first).
    #[arg(long, value_name = "NAME")]
    pub root_token_holder: Option<String>,
    /// Where the encrypted shares are written (NAME.unseal-share.asc, mode 0600).
    /// Refused inside the repository.
    #[arg(long, value_name = "DIR", required_unless_present = "print_once")]
    pub out_dir: Option<PathBuf>,
    /// No PGP: print the shares and the root token once, to a terminal only.
    #[arg(long, conflicts_with_all = ["key_holders", "out_dir", "root_token_holder"])]
    pub print_once: bool,
    /// Number of shares with --print-once.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub shares: u32,
    #[arg(long, value_enum, default_value_t)]
    pub output: Format,
}

#[derive(Debug, Args)]
pub struct OpenbaoUnsealArgs {
    /// Server address (repeatable: every pod). Default: $BAO_ADDR. CA: $BAO_CACERT.
    #[arg(long = "addr", value_name = "URL")]
    pub addrs: Vec<String>,
    /// Read the share from this file (`-`: stdin) instead of stdin or a prompt.
    #[arg(long, value_name = "FILE")]
    pub share_file: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t)]
    pub output: Format,
}

#[derive(Debug, Args)]
pub struct OpenbaoConfigureArgs {
    /// Default: infra/openbao/access.yaml at the repository root.
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Show what would change; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[arg(long, value_enum, default_value_t)]
    pub output: Format,
}

#[derive(Debug, Subcommand)]
pub enum SnapshotCommand {
    /// Take a raft snapshot and store it create-only (openbao-<time>.snap + .json).
    /// Auth: BAO_TOKEN, AppRole, or BAO_K8S_ROLE in the CronJob. Store: AWS_* variables.
    #[command(after_help = "Exit codes: 0 stored; 1 error (sealed, denied, store unreachable).")]
    Save(SnapshotSaveArgs),
    /// The snapshots in a store, newest first.
    #[command(after_help = "Exit codes: 0 listed; 1 error.")]
    List(SnapshotListArgs),
    /// Replace OpenBao's data with a snapshot (checked against its SHA-256 first).
    #[command(after_help = "Exit codes: 0 restored; 1 error; 2 usage (no --yes); 3 the snapshot \
comes from another cluster (restore with --force, then unseal with that cluster's shares); \
5 no such snapshot.")]
    Restore(SnapshotRestoreArgs),
}

#[derive(Debug, Args)]
pub struct SnapshotSaveArgs {
    /// Store URL: s3://bucket[/prefix] (Object Storage) or file:///abs/dir.
    #[arg(long, value_name = "URL")]
    pub to: String,
    #[arg(long, value_enum, default_value_t)]
    pub output: Format,
}

#[derive(Debug, Args)]
pub struct SnapshotListArgs {
    #[arg(long, value_name = "URL")]
    pub from: String,
    #[arg(long, value_enum, default_value_t)]
    pub output: Format,
}

#[derive(Debug, Args)]
pub struct SnapshotRestoreArgs {
    #[arg(long, value_name = "URL")]
    pub from: String,
    /// The snapshot key (openbao-<time>.snap). Default: the newest.
    #[arg(long, value_name = "KEY")]
    pub key: Option<String>,
    /// Disaster recovery into a new cluster: accept a snapshot taken with other unseal keys.
    #[arg(long)]
    pub force: bool,
    /// Confirm: every change made since the snapshot is lost.
    #[arg(long)]
    pub yes: bool,
    #[arg(long, value_enum, default_value_t)]
    pub output: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TopologyArg {
    Shared,
    Dedicated,
}

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Every value lands in platform.yaml, the one configuration file; init then \
rewrites every derived file (Argo CD repoURLs, Gateway hostnames, ClusterIssuer e-mail, the env roots' \
ACL and inputs, image references). Values not given keep their current value; on a terminal without \
--yes, init asks for each one and for confirmation. Bad values change no file.\n\n\
Exit codes: 0 written, or nothing to change (--check: configured and current); 1 error (I/O, unreadable \
platform.yaml, declined at the prompt); 2 usage or a bad value (nothing written), or changes pending \
without --yes and no terminal to ask on; 3 (--check) a derived file is stale or a placeholder value \
remains (the deploy workflows refuse to run)."
)]
pub struct InitArgs {
    /// GitHub organisation (Argo CD login and RBAC groups).
    #[arg(long, value_name = "ORG")]
    pub org: Option<String>,
    /// Git URL Argo CD reads this repository from: https://… or ssh (git@host:org/repo.git).
    #[arg(long = "repo", value_name = "URL")]
    pub repo: Option<String>,
    /// Base DNS domain: staging.<domain>, production.<domain>.
    #[arg(long, value_name = "DOMAIN")]
    pub domain: Option<String>,
    /// Let's Encrypt account contact.
    #[arg(long, value_name = "EMAIL")]
    pub acme_email: Option<String>,
    /// Operators' egress addresses admitted by the API-server ACL (replaces the list).
    #[arg(long, value_delimiter = ',', value_name = "CIDR[,CIDR]")]
    pub admin_cidr: Vec<String>,
    /// CI runners' static egress addresses, also admitted (replaces the list; '' clears it).
    #[arg(long, value_delimiter = ',', value_name = "CIDR[,CIDR]")]
    pub ci_cidr: Option<Vec<String>>,
    /// Linode region of the clusters and buckets (default fr-par).
    #[arg(long, value_name = "R")]
    pub region: Option<String>,
    /// shared: one cluster for staging and production; dedicated: staging has its own.
    #[arg(long, value_enum)]
    pub topology: Option<TopologyArg>,
    /// Image registry (default ghcr.io/<org>).
    #[arg(long, value_name = "HOST/PATH")]
    pub registry: Option<String>,
    /// Pin the drift CronJob's image to this digest (printed by the drift-image workflow).
    #[arg(long, value_name = "sha256:HEX")]
    pub drift_image_digest: Option<String>,
    /// Write without asking.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Write nothing; exit 3 if a derived file is stale or a placeholder value remains.
    #[arg(long, conflicts_with_all = ["org", "repo", "domain", "acme_email", "admin_cidr", "ci_cidr", "region", "topology", "registry", "drift_image_digest", "yes"])]
    pub check: bool,
    /// The repository root. Default: the nearest ancestor with .git.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t)]
    pub output: Format,
}

/// `platctl render`: see docs/render.md.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit codes: 0 rendered and written; 1 the tree cannot be rendered (a chart or \
version missing from the cache, a values file that does not exist, a helm or kustomize failure, an \
unsupported or unknown external source) or an I/O error; 2 usage (not inside the repository, bad \
flag, no chart cache, helm or kubectl not found, --out-dir holds something that is not a render); \
5 no such environment.\n\
Never uses the network: charts come from the cache, helm and kubectl get a proxy that refuses every \
connection. Progress goes to stderr; colour is off when NO_COLOR is set or stderr is not a terminal."
)]
pub struct RenderArgs {
    /// The environment: a folder of infra/terraform/envs/ whose root calls the argocd-bootstrap module.
    #[arg(long, value_name = "ENV")]
    pub env: String,
    /// A Terraform variable of the environment, over its tfvars (repeatable), e.g.
    /// staging_dedicated_cluster=true to render the other topology.
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
    pub vars: Vec<(String, String)>,
    /// The chart cache: packaged charts named <chart>-<version>.tgz.
    /// Default: $PLATCTL_CHARTS, then ../shared/charts next to the repository root.
    #[arg(long, value_name = "DIR")]
    pub charts: Option<PathBuf>,
    /// Where to write the render (replaced when it holds a previous render).
    /// Default: .platctl/render/<env> at the repository root.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    /// The Kubernetes version charts are rendered for (helm --kube-version).
    #[arg(long, default_value = "1.34", value_name = "VERSION")]
    pub kube_version: String,
    /// The helm binary (Helm 4).
    #[arg(long, env = "PLATCTL_HELM", default_value = "helm", value_name = "PATH")]
    pub helm: PathBuf,
    /// The kubectl binary (for kustomize).
    #[arg(long, env = "PLATCTL_KUBECTL", default_value = "kubectl", value_name = "PATH")]
    pub kubectl: PathBuf,
    /// Renders run at once. Default: the number of CPUs.
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// table: one line per Application; json: Applications, objects by kind, waves, helm calls.
    #[arg(long, value_enum, default_value_t)]
    pub output: Format,
}

fn parse_var(s: &str) -> Result<(String, String), String> {
    let (name, value) = s.split_once('=').ok_or_else(|| format!("{s:?} is not NAME=VALUE"))?;
    if name.is_empty() {
        return Err(format!("{s:?} has no variable name"));
    }
    Ok((name.to_owned(), value.to_owned()))
}
