//! End-to-end scenario against real Linode infrastructure (docs/e2e.md):
//!
//! 1. `platctl tf -- init/apply` a dedicated, throwaway staging environment
//!    (its own cluster, state env `e2e-<unix time>`);
//! 2. read the Gateway's load-balancer address and apply again with it, which
//!    creates the DNS record;
//! 3. wait until the name resolves to that address and cert-manager's
//!    certificate is served (both through `platctl smoke`);
//! 4. `platctl smoke` the public URL: DNS, TLS, /healthz, /readyz, /metrics;
//! 5. destroy, always (also when a step fails).
//!
//! It runs only when `LINODE_TOKEN` is set and prints that it was skipped
//! otherwise. It costs money and takes 30-45 minutes: see docs/e2e.md.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const PLATCTL: &str = env!("CARGO_BIN_EXE_platctl");

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repo root")
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn required(name: &str, why: &str) -> String {
    var(name).unwrap_or_else(|| {
        panic!("{name} is required when LINODE_TOKEN is set: {why} (see docs/e2e.md)")
    })
}

fn log(msg: impl std::fmt::Display) {
    eprintln!("[e2e {}] {msg}", time_now());
}

fn time_now() -> String {
    let s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!("{:02}:{:02}:{:02}Z", (s / 3600) % 24, (s / 60) % 60, s % 60)
}

struct Env {
    store: String,
    env: String,
    dir: PathBuf,
    vars: Vec<String>,
}

impl Env {
    fn tf(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(PLATCTL);
        cmd.args(["tf", "--store", &self.store, "--env", &self.env, "--dir"])
            .arg(&self.dir)
            .arg("--")
            .args(args);
        log(format!("platctl tf --env {} -- {}", self.env, args.join(" ")));
        cmd.output().expect("spawn platctl tf")
    }

    fn tf_ok(&self, args: &[&str]) -> String {
        let o = self.tf(args);
        assert!(
            o.status.success(),
            "platctl tf -- {} failed ({:?}):\n{}\n{}",
            args.join(" "),
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn apply_args(&self, extra: &[String]) -> Vec<String> {
        let mut a = vec!["apply".to_owned(), "-auto-approve".into(), "-input=false".into()];
        a.extend(self.vars.iter().map(|v| format!("-var={v}")));
        a.extend(extra.iter().cloned());
        a
    }
}

/// Destroys the environment when dropped: also after a failed assertion.
struct DestroyGuard<'a>(&'a Env, Vec<String>);

impl Drop for DestroyGuard<'_> {
    fn drop(&mut self) {
        let mut args = vec!["destroy".to_owned(), "-auto-approve".into(), "-input=false".into()];
        args.extend(self.0.vars.iter().map(|v| format!("-var={v}")));
        args.extend(self.1.iter().cloned());
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = self.0.tf(&refs);
        if o.status.success() {
            log("destroyed");
        } else {
            // Loud: a failed destroy leaves billable resources behind.
            eprintln!(
                "\n!!! e2e DESTROY FAILED for env {} — delete its resources by hand (tag e2e):\n{}\n{}",
                self.0.env,
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            if !std::thread::panicking() {
                panic!("terraform destroy failed for {}", self.0.env);
            }
        }
    }
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

fn smoke_json(args: &[&str]) -> (i32, serde_json::Value) {
    let o = Command::new(PLATCTL)
        .arg("smoke")
        .args(args)
        .args(["--output", "json"])
        .env("NO_COLOR", "1")
        .output()
        .expect("spawn smoke");
    let v = serde_json::from_slice(&o.stdout).unwrap_or(serde_json::Value::Null);
    (o.status.code().unwrap_or(-1), v)
}

fn check_status(report: &serde_json::Value, name: &str) -> (String, String) {
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

#[test]
fn e2e_apply_wait_smoke_destroy() {
    if var("LINODE_TOKEN").is_none() {
        println!(
            "e2e: SKIPPED — LINODE_TOKEN is not set. This scenario creates real, billable Linode resources; see docs/e2e.md."
        );
        eprintln!(
            "e2e: SKIPPED — LINODE_TOKEN is not set. This scenario creates real, billable Linode resources; see docs/e2e.md."
        );
        return;
    }
    let domain =
        required("E2E_DOMAIN", "a DNS zone managed in Linode DNS that the e2e may add records to");
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let env_name = var("E2E_ENV").unwrap_or_else(|| format!("e2e-{stamp}"));
    let host = var("E2E_HOST").unwrap_or_else(|| format!("staging.{domain}"));
    let url = var("E2E_URL").unwrap_or_else(|| format!("https://{host}/sample-service/"));
    let minutes: u64 = var("E2E_TIMEOUT_MINUTES").and_then(|v| v.parse().ok()).unwrap_or(45);
    let timeout = Duration::from_secs(minutes * 60);
    let state_dir = tempfile::tempdir().expect("tempdir");
    let store =
        var("E2E_STORE").unwrap_or_else(|| format!("file://{}", state_dir.path().display()));
    let revision = var("E2E_REVISION").unwrap_or_else(|| "main".into());
    let dir = var("E2E_TF_DIR")
        .map_or_else(|| repo_root().join("infra/terraform/envs/staging"), PathBuf::from);
    let kubectl = var("E2E_KUBECTL").unwrap_or_else(|| "kubectl".into());

    let env = Env {
        store,
        env: env_name.clone(),
        dir,
        vars: vec![
            "staging_dedicated_cluster=true".into(),
            format!("cluster_label={env_name}"),
            format!("domain={domain}"),
            format!("target_revision={revision}"),
        ],
    };
    log(format!("env {env_name}, url {url}, revision {revision}, timeout {minutes}m"));

    // 1. Apply: cluster, firewall, Argo CD bootstrap (no DNS record yet: the Gateway has no address).
    env.tf_ok(&["init", "-input=false"]);
    let mut destroy = DestroyGuard(&env, Vec::new());
    let args = env.apply_args(&[]);
    env.tf_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());

    // 2. The Gateway's NodeBalancer address, then apply again to create the DNS record.
    let kubeconfig_b64 = env.tf_ok(&["output", "-raw", "kubeconfig"]);
    let kubeconfig = state_dir.path().join("kubeconfig");
    let decoded = Command::new("base64")
        .arg("-d")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().expect("stdin").write_all(kubeconfig_b64.trim().as_bytes())?;
            c.wait_with_output()
        });
    std::fs::write(&kubeconfig, decoded.expect("base64 -d").stdout).expect("write kubeconfig");
    let ip = wait("Gateway address", timeout, Duration::from_secs(20), || {
        let o = Command::new(&kubectl)
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args([
                "-n",
                "gateway-staging",
                "get",
                "gateway",
                "staging",
                "-o",
                "jsonpath={.status.addresses[0].value}",
            ])
            .output()
            .map_err(|e| format!("{kubectl}: {e}"))?;
        let ip = String::from_utf8_lossy(&o.stdout).trim().to_owned();
        if o.status.success() && ip.parse::<std::net::IpAddr>().is_ok() {
            Ok(ip)
        } else {
            Err(format!("no address yet: {}", String::from_utf8_lossy(&o.stderr).trim()))
        }
    });
    let with_ip = env.apply_args(&[format!("-var=gateway_ipv4={ip}")]);
    env.tf_ok(&with_ip.iter().map(String::as_str).collect::<Vec<_>>());
    destroy.1 = vec![format!("-var=gateway_ipv4={ip}")];

    // 3. DNS, then the certificate (cert-manager, HTTP-01 on the Gateway).
    let resolve = format!("{host}:{ip}");
    wait("DNS record", timeout, Duration::from_secs(15), || {
        let (_, r) = smoke_json(&["--url", &url, "--resolve", &resolve, "--timeout", "10"]);
        match check_status(&r, "dns") {
            (s, _) if s == "pass" => Ok(()),
            (_, m) => Err(m),
        }
    });
    wait("certificate", timeout, Duration::from_secs(20), || {
        let (_, r) = smoke_json(&[
            "--url",
            &url,
            "--resolve",
            &resolve,
            "--timeout",
            "10",
            "--min-cert-days",
            "1",
        ]);
        match check_status(&r, "tls") {
            (s, m) if s == "pass" => Ok(m),
            (_, m) => Err(m),
        }
    });

    // 4. The smoke test proper, as the chart's helm test runs it.
    let (code, report) = smoke_json(&[
        "--url",
        &url,
        "--resolve",
        &resolve,
        "--min-cert-days",
        "14",
        "--retries",
        "10",
        "--backoff",
        "5",
        "--expect-metric",
        "http_requests_total",
        "--expect-metric",
        "http_request_duration_seconds",
    ]);
    log(format!("smoke report: {report:#}"));
    assert_eq!(code, 0, "platctl smoke failed against {url}: {report:#}");
    let (_, tls) = check_status(&report, "tls");
    assert!(tls.contains("Let's Encrypt"), "certificate not issued by Let's Encrypt: {tls}");
    // 5. Destroy: the guard runs it now (and on any failure above).
    drop(destroy);
}
