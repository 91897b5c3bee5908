//! End-to-end scenario against real Linode infrastructure (docs/e2e.md). One
//! command: `LINODE_TOKEN=... tests/e2e/run`.
//!
//! From the repository's configuration (platform.yaml, which must be
//! configured), it builds a throwaway environment with a unique name and tags
//! (`e2e-<stamp>-<rand>`, in platform.yaml's region, fr-par by default):
//!
//! 1. a branch `e2e/<id>` of HEAD whose configuration puts every hostname
//!    under `<id>.<domain>` (`platctl init --domain`), pushed to the remote
//!    Argo CD reads;
//! 2. `platctl tf` init + apply of the real staging root with a dedicated
//!    cluster labelled `<id>`, tagged `e2e` and `e2e:<id>`, Argo CD tracking
//!    the branch; the root's own DNS records are replaced by records for
//!    `staging.<id>` in the platform's zone (so nothing of the real staging
//!    is touched);
//! 3. waits until Argo CD has synced the platform and the sample service
//!    (Synced and Healthy), reads the Gateway's address and applies again to
//!    create the DNS records;
//! 4. `platctl smoke` the public URL: DNS, TLS (a real Let's Encrypt
//!    certificate), HTTP (/healthz, /readyz) and metrics;
//! 5. destroys everything, also when a step fails: Argo CD's root
//!    Application (cascading, so the Gateway's NodeBalancer and the volumes
//!    go with their Services and claims), `terraform destroy`, then every
//!    NodeBalancer and volume the cluster had that is still there, the
//!    branch; and reports what it could not delete.
//!
//! Without LINODE_TOKEN it is not run: it is an ignored test, which the suite
//! reports as skipped. Run on purpose without the token, it fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const PLATCTL: &str = env!("CARGO_BIN_EXE_platctl");
const SKIP_REASON: &str = "needs LINODE_TOKEN: creates a billable, throwaway Linode environment (docs/e2e.md); run `LINODE_TOKEN=... tests/e2e/run`";
const API: &str = "https://api.linode.com/v4";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repo root")
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn log(msg: impl std::fmt::Display) {
    let s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    eprintln!("[e2e {:02}:{:02}:{:02}Z] {msg}", (s / 3600) % 24, (s / 60) % 60, s % 60);
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// A unique, label-safe id: `e2e-<yymmddhhmm>-<4 hex>` (19 characters).
fn new_id() -> String {
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = now.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let rand = (now.subsec_nanos() ^ std::process::id()) & 0xffff;
    format!("e2e-{:02}{m:02}{d:02}{:02}{:02}-{rand:04x}", y % 100, rem / 3600, (rem / 60) % 60)
}

/// The files added to the copy of the staging root: the cluster and firewall
/// carry the e2e tags, the root's own DNS module is off, and the e2e's
/// records live under `<id>.<domain>` in the platform's zone.
fn e2e_terraform(id: &str, parent_domain: &str) -> (String, String) {
    let overrides = format!(
        r#"# Written by tests/e2e: a throwaway copy of envs/staging.
module "cluster" {{
  tags = ["hosts:staging", "e2e", "e2e:{id}"]
}}

module "firewall" {{
  tags = ["env:staging", "e2e", "e2e:{id}"]
}}

# The e2e's records are e2e_dns below, never staging.<domain>.
module "dns" {{
  count = 0
}}
"#
    );
    let dns = format!(
        r#"# Written by tests/e2e: staging.{id} and *.staging.{id} in the platform's zone.
data "linode_domain" "e2e_parent" {{
  domain = "{parent_domain}"
}}

resource "linode_domain_record" "e2e" {{
  for_each = var.gateway_ipv4 == null ? toset([]) : toset(["staging.{id}", "*.staging.{id}"])

  domain_id   = data.linode_domain.e2e_parent.id
  name        = each.value
  record_type = "A"
  target      = var.gateway_ipv4
  ttl_sec     = 300
}}
"#
    );
    (overrides, dns)
}

fn run_logged(cmd: &mut Command, what: &str) -> Output {
    log(what);
    cmd.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("{what}: cannot start: {e}"))
}

#[track_caller]
fn ok(o: Output, what: &str) -> String {
    assert!(o.status.success(), "{what} failed ({:?}):\n{}", o.status, text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn wait<T>(
    what: &str,
    timeout: Duration,
    every: Duration,
    mut probe: impl FnMut() -> Result<T, String>,
) -> T {
    let start = Instant::now();
    loop {
        match probe() {
            Ok(v) => {
                log(format!("{what}: ok after {}s", start.elapsed().as_secs()));
                return v;
            }
            Err(e) if start.elapsed() < timeout => {
                log(format!("{what}: waiting ({e})"));
                std::thread::sleep(every);
            }
            Err(e) => panic!("{what}: not ready after {}s: {e}", timeout.as_secs()),
        }
    }
}

/// The Linode API (a token never leaves this process: no command line, no log).
struct Linode {
    token: String,
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
}

impl Linode {
    fn new(token: String) -> Linode {
        let rt =
            tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        Linode { token, rt, http: reqwest::Client::new() }
    }

    fn get(&self, path: &str, auth: bool) -> Result<Value, String> {
        self.rt.block_on(async {
            let mut req = self.http.get(format!("{API}{path}"));
            if auth {
                req = req.bearer_auth(&self.token);
            }
            let resp = req.send().await.map_err(|e| format!("GET {path}: {e}"))?;
            let status = resp.status();
            let body = resp.text().await.map_err(|e| format!("GET {path}: {e}"))?;
            if status.as_u16() == 404 {
                return Ok(Value::Null);
            }
            if !status.is_success() {
                return Err(format!("GET {path}: HTTP {status}: {body}"));
            }
            serde_json::from_str(&body).map_err(|e| format!("GET {path}: {e}"))
        })
    }

    fn delete(&self, path: &str) -> Result<(), String> {
        self.rt.block_on(async {
            let resp = self
                .http
                .delete(format!("{API}{path}"))
                .bearer_auth(&self.token)
                .send()
                .await
                .map_err(|e| format!("DELETE {path}: {e}"))?;
            let status = resp.status();
            if status.is_success() || status.as_u16() == 404 {
                Ok(())
            } else {
                Err(format!(
                    "DELETE {path}: HTTP {status}: {}",
                    resp.text().await.unwrap_or_default()
                ))
            }
        })
    }

    /// Every item of a paged list.
    fn list(&self, path: &str) -> Result<Vec<Value>, String> {
        let mut out = Vec::new();
        let mut page = 1;
        loop {
            let sep = if path.contains('?') { '&' } else { '?' };
            let v = self.get(&format!("{path}{sep}page={page}&page_size=500"), true)?;
            out.extend(v["data"].as_array().cloned().unwrap_or_default());
            if page >= v["pages"].as_u64().unwrap_or(1) {
                return Ok(out);
            }
            page += 1;
        }
    }

    /// Hourly price of a plan from the public catalog (no token), if listed.
    fn hourly(&self, path: &str, id: &str) -> Option<f64> {
        let v = self.get(path, false).ok()?;
        v["data"].as_array()?.iter().find(|t| t["id"] == id)?["price"]["hourly"].as_f64()
    }
}

/// What the cluster owned that outlives it unless deleted: the LoadBalancer
/// Services' NodeBalancers (by address) and the volumes behind its claims.
#[derive(Default, Debug)]
struct Owned {
    cluster_id: Option<u64>,
    nodebalancer_ips: Vec<String>,
    volume_labels: Vec<String>,
}

struct E2e {
    id: String,
    remote: String,
    worktree: PathBuf,
    root: PathBuf,
    store: String,
    kubeconfig: PathBuf,
    kubectl: String,
    vars: Vec<String>,
    owned: Owned,
    linode: Linode,
    branch_pushed: bool,
    applied: bool,
}

impl E2e {
    fn tf(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(PLATCTL);
        cmd.args(["tf", "--store", &self.store, "--env", &self.id, "--dir"])
            .arg(&self.root)
            .arg("--")
            .args(args)
            .env("NO_COLOR", "1")
            .env("TF_IN_AUTOMATION", "1");
        run_logged(
            &mut cmd,
            &format!("platctl tf --env {} -- {}", self.id, args.first().copied().unwrap_or("")),
        )
    }

    fn tf_vars(&self, verb: &str, extra: &[String]) -> Vec<String> {
        let mut a = vec![
            verb.to_owned(),
            "-auto-approve".into(),
            "-input=false".into(),
            "-no-color".into(),
        ];
        a.extend(self.vars.iter().map(|v| format!("-var={v}")));
        a.extend(extra.iter().cloned());
        a
    }

    fn kubectl(&self, args: &[&str]) -> Output {
        Command::new(&self.kubectl)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| {
                panic!("{}: {e} (install kubectl or set E2E_KUBECTL)", self.kubectl)
            })
    }

    /// Remember what the cluster owns now, for the leftover check.
    fn record_owned(&mut self) {
        let o = self.kubectl(&["get", "services", "-A", "-o", "json"]);
        if let Ok(v) = serde_json::from_slice::<Value>(&o.stdout) {
            for s in v["items"].as_array().into_iter().flatten() {
                for ing in s["status"]["loadBalancer"]["ingress"].as_array().into_iter().flatten() {
                    if let Some(ip) = ing["ip"].as_str()
                        && !self.owned.nodebalancer_ips.iter().any(|x| x == ip)
                    {
                        self.owned.nodebalancer_ips.push(ip.to_owned());
                    }
                }
            }
        }
        let o = self.kubectl(&["get", "pv", "-o", "json"]);
        if let Ok(v) = serde_json::from_slice::<Value>(&o.stdout) {
            for pv in v["items"].as_array().into_iter().flatten() {
                // The Linode CSI driver's handle is "<volume id>-<label>".
                if let Some(h) = pv["spec"]["csi"]["volumeHandle"].as_str()
                    && let Some((_, label)) = h.split_once('-')
                    && !self.owned.volume_labels.iter().any(|x| x == label)
                {
                    self.owned.volume_labels.push(label.to_owned());
                }
            }
        }
    }

    /// Everything still there after the cleanup, deleted where possible;
    /// what could not be deleted is returned.
    fn sweep(&self) -> Vec<String> {
        let mut left = Vec::new();
        if let Some(id) = self.owned.cluster_id {
            match self.linode.get(&format!("/lke/clusters/{id}"), true) {
                Ok(Value::Null) => {}
                Ok(_) => left.push(format!("LKE cluster {id} ({})", self.id)),
                Err(e) => left.push(format!("LKE cluster {id}: cannot check: {e}")),
            }
        }
        match self.linode.list("/nodebalancers") {
            Ok(nbs) => {
                for nb in nbs {
                    let ip = nb["ipv4"].as_str().unwrap_or("");
                    if !self.owned.nodebalancer_ips.iter().any(|x| x == ip) {
                        continue;
                    }
                    let id = nb["id"].as_u64().unwrap_or(0);
                    if let Err(e) = self.linode.delete(&format!("/nodebalancers/{id}")) {
                        left.push(format!("NodeBalancer {id} ({ip}): {e}"));
                    } else {
                        log(format!("deleted leftover NodeBalancer {id} ({ip})"));
                    }
                }
            }
            Err(e) => left.push(format!("NodeBalancers: cannot list: {e}")),
        }
        match self.linode.list("/volumes") {
            Ok(vols) => {
                for v in vols {
                    let label = v["label"].as_str().unwrap_or("");
                    if !self.owned.volume_labels.iter().any(|x| x == label) {
                        continue;
                    }
                    let id = v["id"].as_u64().unwrap_or(0);
                    if let Err(e) = self.linode.delete(&format!("/volumes/{id}")) {
                        left.push(format!("volume {id} ({label}, {} GB): {e}", v["size"]));
                    } else {
                        log(format!("deleted leftover volume {id} ({label})"));
                    }
                }
            }
            Err(e) => left.push(format!("volumes: cannot list: {e}")),
        }
        // Anything else carrying the run's tag.
        match self.linode.get(&format!("/tags/e2e:{}", self.id), true) {
            Ok(Value::Null) => {}
            Ok(v) => {
                for item in v["data"].as_array().into_iter().flatten() {
                    left.push(format!(
                        "{} tagged e2e:{}: {}",
                        item["type"], self.id, item["data"]["label"]
                    ));
                }
            }
            Err(e) => left.push(format!("tag e2e:{}: cannot list: {e}", self.id)),
        }
        left
    }
}

/// Cleans up when dropped, also after a failed assertion, and reports (and
/// fails on) what it could not delete.
struct Cleanup(E2e);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let e = &mut self.0;
        let mut left: Vec<String> = Vec::new();
        if e.applied {
            e.record_owned();
            // Argo CD deletes its Applications' objects first (foreground cascade):
            // the Gateway Service's NodeBalancer and the claims' volumes go with them.
            let o = e.kubectl(&[
                "-n",
                "argocd",
                "delete",
                "application",
                "root",
                "--cascade=foreground",
                "--wait",
                "--timeout=15m",
            ]);
            if !o.status.success() {
                log(format!(
                    "deleting the root Application failed (the sweep below catches what stays): {}",
                    text(&o).trim()
                ));
            }
            let args = e.tf_vars("destroy", &[]);
            let o = e.tf(&args.iter().map(String::as_str).collect::<Vec<_>>());
            if !o.status.success() {
                left.push(format!("terraform destroy of env {} failed:\n{}", e.id, text(&o)));
            }
            left.extend(e.sweep());
        }
        if e.branch_pushed {
            let o = Command::new("git")
                .arg("-C")
                .arg(&e.worktree)
                .args(["push", &e.remote, &format!(":refs/heads/e2e/{}", e.id)])
                .output();
            if !o.as_ref().is_ok_and(|o| o.status.success()) {
                left.push(format!("branch e2e/{} on {}", e.id, e.remote));
            }
        }
        let _ = Command::new("git")
            .arg("-C")
            .arg(repo_root())
            .args(["worktree", "remove", "--force"])
            .arg(&e.worktree)
            .output();
        if left.is_empty() {
            log(format!("cleanup of {}: nothing left behind", e.id));
        } else {
            eprintln!(
                "\n!!! e2e {}: COULD NOT DELETE — remove these by hand (Cloud Manager, tag e2e:{}):",
                e.id, e.id
            );
            for l in &left {
                eprintln!("  - {l}");
            }
            if !std::thread::panicking() {
                panic!("e2e cleanup left {} resource(s) behind (listed above)", left.len());
            }
        }
    }
}

fn smoke(args: &[&str]) -> (i32, Value) {
    let o = Command::new(PLATCTL)
        .arg("smoke")
        .args(args)
        .args(["--output", "json"])
        .env("NO_COLOR", "1")
        .output()
        .expect("spawn smoke");
    (o.status.code().unwrap_or(-1), serde_json::from_slice(&o.stdout).unwrap_or(Value::Null))
}

fn check_status(report: &Value, name: &str) -> (String, String) {
    report["checks"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == name))
        .map(|c| {
            (
                c["status"].as_str().unwrap_or("").to_owned(),
                c["message"].as_str().unwrap_or("").to_owned(),
            )
        })
        .unwrap_or_else(|| ("missing".into(), format!("no {name} check in {report}")))
}

/// The Applications the scenario needs Synced and Healthy, in wave order.
const NEEDED_APPS: &[&str] = &[
    "platform",
    "cert-manager",
    "nginx-gateway-fabric",
    "cluster-issuers",
    "env-staging",
    "staging-foundation",
    "staging-apps",
    "sample-service-staging",
];

#[test]
#[ignore = "needs LINODE_TOKEN: creates a billable, throwaway Linode environment (docs/e2e.md); run `LINODE_TOKEN=... tests/e2e/run`"]
fn e2e_from_the_configuration() {
    let token =
        var("LINODE_TOKEN").unwrap_or_else(|| panic!("{SKIP_REASON}: LINODE_TOKEN is not set"));
    let repo = repo_root();
    let cfg = platctl_config::ConfigFile::load(&repo)
        .expect("platform.yaml")
        .expect("platform.yaml exists");
    let placeholders = cfg.values.placeholders();
    assert!(
        placeholders.is_empty(),
        "platform.yaml is not configured (run `platctl init`; docs/configuration.md): {placeholders:?}"
    );
    let values = cfg.values;
    let id = var("E2E_ID").unwrap_or_else(new_id);
    let region = var("E2E_REGION").unwrap_or_else(|| values.region.clone());
    let sub = format!("{id}.{}", values.domain);
    let host = format!("staging.{sub}");
    let url = format!("https://{host}/sample-service/");
    let minutes: u64 = var("E2E_TIMEOUT_MINUTES").and_then(|v| v.parse().ok()).unwrap_or(45);
    let timeout = Duration::from_secs(minutes * 60);
    let remote = var("E2E_GIT_REMOTE").unwrap_or_else(|| "origin".into());
    let scratch = tempfile::tempdir().expect("tempdir");
    let store = var("E2E_STORE")
        .unwrap_or_else(|| format!("file://{}", scratch.path().join("store").display()));
    let linode = Linode::new(token);

    // What it costs, at the catalog's current prices (public endpoints, no token).
    let nodes: [(&str, f64); 2] = [("g6-standard-2", 2.0), ("g6-standard-4", 1.0)];
    let mut hourly = 0.0;
    for (plan, n) in nodes {
        hourly += n * linode.hourly("/linode/types", plan).unwrap_or(f64::NAN);
    }
    hourly += linode.hourly("/nodebalancers/types", "nodebalancer").unwrap_or(f64::NAN);
    log(format!(
        "env {id} in {region}: {url}; at least ${hourly:.3}/h for the nodes and the NodeBalancer (docs/e2e.md), timeout {minutes}m per wait"
    ));

    // 1. A branch of HEAD configured for the e2e hostnames, pushed where Argo CD reads.
    let worktree = scratch.path().join("repo");
    ok(
        run_logged(
            Command::new("git")
                .arg("-C")
                .arg(&repo)
                .args(["worktree", "add", "--detach"])
                .arg(&worktree)
                .arg("HEAD"),
            "git worktree add (HEAD)",
        ),
        "git worktree add",
    );
    let root = worktree.join("infra/terraform/envs/staging");
    let kubeconfig = scratch.path().join("kubeconfig");
    let mut cleanup = Cleanup(E2e {
        id: id.clone(),
        remote: remote.clone(),
        worktree: worktree.clone(),
        root: root.clone(),
        store,
        kubeconfig: kubeconfig.clone(),
        kubectl: var("E2E_KUBECTL").unwrap_or_else(|| "kubectl".into()),
        vars: vec![
            "staging_dedicated_cluster=true".into(),
            format!("cluster_label={id}"),
            format!("region={region}"),
            format!("target_revision=e2e/{id}"),
        ],
        owned: Owned::default(),
        linode,
        branch_pushed: false,
        applied: false,
    });
    ok(
        run_logged(
            Command::new(PLATCTL)
                .arg("init")
                .arg("--dir")
                .arg(&worktree)
                .args(["--domain", &sub, "--yes"])
                .env("NO_COLOR", "1"),
            &format!("platctl init --domain {sub}"),
        ),
        "platctl init",
    );
    let git = |args: &[&str]| {
        let mut c = Command::new("git");
        c.arg("-C").arg(&worktree).args(args);
        c
    };
    ok(
        run_logged(
            &mut git(&["commit", "-qam", &format!("e2e {id}: hostnames under {sub}")]),
            "git commit",
        ),
        "git commit",
    );
    ok(
        run_logged(
            &mut git(&["push", &remote, &format!("HEAD:refs/heads/e2e/{id}")]),
            &format!("git push {remote} e2e/{id}"),
        ),
        "git push",
    );
    cleanup.0.branch_pushed = true;

    // 2. The staging root, dedicated, tagged, with the e2e's DNS records.
    let (overrides, dns) = e2e_terraform(&id, &values.domain);
    std::fs::write(root.join("e2e_override.tf"), overrides).expect("write override");
    std::fs::write(root.join("e2e_dns.tf"), dns).expect("write dns");
    ok(cleanup.0.tf(&["init", "-input=false", "-no-color"]), "terraform init");
    cleanup.0.applied = true;
    let apply = cleanup.0.tf_vars("apply", &[]);
    ok(cleanup.0.tf(&apply.iter().map(String::as_str).collect::<Vec<_>>()), "terraform apply");
    let kb64 = ok(cleanup.0.tf(&["output", "-raw", "kubeconfig"]), "terraform output kubeconfig");
    let decoded = base64_decode(kb64.trim());
    std::fs::write(&kubeconfig, decoded).expect("write kubeconfig");
    cleanup.0.owned.cluster_id =
        ok(cleanup.0.tf(&["output", "-raw", "cluster_id"]), "terraform output cluster_id")
            .trim()
            .parse()
            .ok();

    // 3. Argo CD syncs the platform and the sample service from the branch.
    wait(
        "Argo CD: platform and sample service Synced and Healthy",
        timeout,
        Duration::from_secs(30),
        || {
            let o = cleanup.0.kubectl(&[
                "-n",
                "argocd",
                "get",
                "applications.argoproj.io",
                "-o",
                "json",
            ]);
            let v: Value =
                serde_json::from_slice(&o.stdout).map_err(|_| text(&o).trim().to_owned())?;
            let items = v["items"].as_array().cloned().unwrap_or_default();
            let pending: Vec<String> = NEEDED_APPS
                .iter()
                .filter_map(|name| {
                    let app = items.iter().find(|a| a["metadata"]["name"] == *name);
                    let (sync, health) = app.map_or(("absent", "absent"), |a| {
                        (
                            a["status"]["sync"]["status"].as_str().unwrap_or("?"),
                            a["status"]["health"]["status"].as_str().unwrap_or("?"),
                        )
                    });
                    (sync != "Synced" || health != "Healthy")
                        .then(|| format!("{name} {sync}/{health}"))
                })
                .collect();
            if pending.is_empty() { Ok(()) } else { Err(pending.join(", ")) }
        },
    );
    let ip = wait("Gateway address", timeout, Duration::from_secs(20), || {
        let o = cleanup.0.kubectl(&[
            "-n",
            "gateway-staging",
            "get",
            "gateway",
            "staging",
            "-o",
            "jsonpath={.status.addresses[0].value}",
        ]);
        let ip = String::from_utf8_lossy(&o.stdout).trim().to_owned();
        if ip.parse::<std::net::Ipv4Addr>().is_ok() {
            Ok(ip)
        } else {
            Err(format!("no address yet {}", text(&o).trim()))
        }
    });
    cleanup.0.record_owned();
    cleanup.0.vars.push(format!("gateway_ipv4={ip}"));
    let apply = cleanup.0.tf_vars("apply", &[]);
    ok(
        cleanup.0.tf(&apply.iter().map(String::as_str).collect::<Vec<_>>()),
        "terraform apply (DNS records)",
    );

    // 4. DNS, the certificate, then the whole smoke: DNS, TLS, HTTP, metrics.
    let resolve = format!("{host}:{ip}");
    // The certificate (HTTP-01 through the Gateway), then the record as the world resolves it.
    for (what, check) in
        [("certificate (HTTP-01 through the Gateway)", "tls"), ("DNS record visible", "dns")]
    {
        wait(what, timeout, Duration::from_secs(20), || {
            let (_, r) = smoke(&["--url", &url, "--resolve", &resolve, "--timeout", "10"]);
            match check_status(&r, check) {
                (s, _) if s == "pass" => Ok(()),
                (_, m) => Err(m),
            }
        });
    }
    let (code, report) = smoke(&[
        "--url",
        &url,
        "--min-cert-days",
        "14",
        "--retries",
        "10",
        "--expect-metric",
        "http_requests_total",
        "--expect-metric",
        "http_request_duration_seconds",
    ]);
    assert_eq!(code, 0, "platctl smoke {url}:\n{report:#}");
    for check in ["dns", "tls", "healthz", "readyz", "metrics"] {
        assert_eq!(check_status(&report, check).0, "pass", "{check}: {report:#}");
    }
    log("smoke passed; cleaning up");
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(s).expect("kubeconfig is base64")
}

/// Runs offline: the files the scenario adds to the staging root are valid
/// Terraform (`terraform fmt` parses them), and its names fit Linode's limits.
#[test]
fn e2e_names_and_terraform_are_valid_offline() {
    let id = new_id();
    assert_eq!(id.len(), 19, "{id}");
    assert!(id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'), "{id}");
    let (overrides, dns) = e2e_terraform(&id, "platform.acme.io");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("e2e_override.tf"), &overrides).expect("write");
    std::fs::write(dir.path().join("e2e_dns.tf"), &dns).expect("write");
    let o = Command::new("terraform")
        .args(["fmt", "-check", "-diff"])
        .arg(dir.path())
        .env("TF_CLI_CONFIG_FILE", "/dev/null")
        .output()
        .expect("terraform is required");
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        overrides.contains(&format!("\"e2e:{id}\"")) && dns.contains(&format!("\"staging.{id}\""))
    );
    // The overrides name modules the staging root has: an override of a missing block is an error.
    let main = std::fs::read_to_string(repo_root().join("infra/terraform/envs/staging/main.tf"))
        .expect("main.tf");
    for module in ["cluster", "firewall", "dns"] {
        assert!(
            main.contains(&format!("module \"{module}\"")),
            "envs/staging has no module {module}"
        );
    }
    let outputs =
        std::fs::read_to_string(repo_root().join("infra/terraform/envs/staging/outputs.tf"))
            .expect("outputs.tf");
    for out in ["kubeconfig", "cluster_id"] {
        assert!(outputs.contains(&format!("output \"{out}\"")), "envs/staging has no output {out}");
    }
}
