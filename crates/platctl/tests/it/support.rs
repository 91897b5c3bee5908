//! Shared test support: the real `platctl` and `terraform` binaries, the
//! SeaweedFS store started by scripts/test, and throwaway Terraform roots.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

pub const TERRAFORM: &str = "/usr/local/bin/terraform";

pub fn platctl_bin() -> &'static str {
    env!("CARGO_BIN_EXE_platctl")
}

/// The real terraform; the suite fails loudly without it.
pub fn terraform() -> &'static str {
    assert!(
        Path::new(TERRAFORM).exists(),
        "terraform is required at {TERRAFORM} (the state tests drive the real binary)"
    );
    TERRAFORM
}

/// A `platctl` command with a clean, deterministic environment.
pub fn platctl() -> Command {
    let mut cmd = Command::new(platctl_bin());
    for var in [
        "PLATCTL_STORE",
        "PLATCTL_AUDIT_LOG",
        "TF_HTTP_ADDRESS",
        "TF_HTTP_USERNAME",
        "TF_HTTP_PASSWORD",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("NO_COLOR", "1")
        .env("TF_CLI_CONFIG_FILE", "/dev/null")
        .env("TF_IN_AUTOMATION", "1")
        .env("PLATCTL_ACTOR", "tester");
    cmd.env("PLATCTL_TERRAFORM", terraform());
    cmd
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("spawn")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Assert success and show both streams otherwise.
#[track_caller]
pub fn ok(o: Output) -> Output {
    assert!(
        o.status.success(),
        "command failed ({:?})\nstdout:\n{}\nstderr:\n{}",
        o.status,
        stdout(&o),
        stderr(&o)
    );
    o
}

pub fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!("stdout is not JSON ({e}):\n{}\nstderr:\n{}", stdout(o), stderr(o))
    })
}

/// `platctl check ROOT --only RULES --output json` with the schemas: (exit code, findings).
pub fn check_only(root: &Path, rules: &str) -> (i32, Vec<serde_json::Value>) {
    let o = run(platctl()
        .arg("check")
        .arg(root)
        .arg("--schemas")
        .arg(schemas_dir())
        .args(["--only", rules, "--output", "json"]));
    let findings = json(&o)["findings"].as_array().cloned().unwrap_or_default();
    (o.status.code().expect("exit code"), findings)
}

/// The S3 endpoint of the SeaweedFS started by scripts/test.
pub fn s3_endpoint() -> String {
    std::env::var("PLATCTL_TEST_S3_ENDPOINT").unwrap_or_else(|_| {
        panic!("PLATCTL_TEST_S3_ENDPOINT is not set: run the suite through scripts/test, which starts SeaweedFS (weed server -s3) and sets it")
    })
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The shared test bucket (SeaweedFS gives every bucket its own volumes, so
/// tests share one bucket and isolate themselves by prefix).
pub fn test_bucket() -> String {
    let name = "platctl-tests".to_owned();
    let status = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-X",
            "PUT",
            &format!("{}/{name}", s3_endpoint()),
        ])
        .output()
        .expect("curl");
    let code = String::from_utf8_lossy(&status.stdout).into_owned();
    assert!(
        code == "200" || code == "409",
        "cannot create bucket {name} on {} (HTTP {code})",
        s3_endpoint()
    );
    name
}

fn nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// Which store a test runs against.
#[derive(Debug, Clone)]
pub enum StoreKind {
    File(PathBuf),
    S3 { bucket: String, prefix: String, endpoint: String },
}

#[derive(Debug)]
pub struct TestStore {
    pub kind: StoreKind,
    pub audit: PathBuf,
    _dir: tempfile::TempDir,
}

impl TestStore {
    pub fn file() -> TestStore {
        let dir = tempfile::tempdir().expect("tempdir");
        TestStore {
            kind: StoreKind::File(dir.path().join("store")),
            audit: dir.path().join("audit.jsonl"),
            _dir: dir,
        }
    }

    pub fn s3(tag: &str) -> TestStore {
        Self::s3_at(tag, &s3_endpoint())
    }

    /// An S3 store whose requests go to `endpoint` (e.g. a proxy) but whose
    /// bucket lives on the test SeaweedFS.
    pub fn s3_at(tag: &str, endpoint: &str) -> TestStore {
        let dir = tempfile::tempdir().expect("tempdir");
        let bucket = test_bucket();
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let prefix = format!("{tag}-{}-{n}-{}", std::process::id(), nanos() % 1_000_000_000);
        TestStore {
            kind: StoreKind::S3 { bucket, prefix, endpoint: endpoint.to_owned() },
            audit: dir.path().join("audit.jsonl"),
            _dir: dir,
        }
    }

    pub fn url(&self) -> String {
        match &self.kind {
            StoreKind::File(p) => format!("file://{}", p.display()),
            StoreKind::S3 { bucket, prefix, .. } => format!("s3://{bucket}/{prefix}"),
        }
    }

    /// Point a command at this store (PLATCTL_STORE, audit log, AWS_* for S3).
    pub fn apply(&self, cmd: &mut Command) {
        cmd.env("PLATCTL_STORE", self.url()).env("PLATCTL_AUDIT_LOG", &self.audit);
        if let StoreKind::S3 { endpoint, .. } = &self.kind {
            aws_env(cmd, endpoint);
        }
    }

    pub fn platctl(&self) -> Command {
        let mut cmd = platctl();
        self.apply(&mut cmd);
        cmd
    }

    pub fn audit_events(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.audit)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("audit line is JSON"))
            .collect()
    }

    pub fn versions(&self, env: &str) -> Vec<serde_json::Value> {
        let o = run(self.platctl().args(["state", "versions", "--env", env, "--output", "json"]));
        if o.status.code() == Some(5) {
            return Vec::new();
        }
        json(&ok(o)).as_array().cloned().unwrap_or_default()
    }

    pub fn current(&self, env: &str) -> serde_json::Value {
        json(&ok(run(self.platctl().args(["state", "show", "--env", env, "--output", "json"]))))
    }
}

pub fn aws_env(cmd: &mut Command, endpoint: &str) {
    cmd.env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ALLOW_HTTP", "true")
        .env_remove("AWS_PROFILE");
}

/// A Terraform root using only built-in resources.
pub struct TfRoot {
    pub dir: tempfile::TempDir,
}

/// The embedded example root (examples/demo/main.tf, the README's first
/// command): `var.replicas` terraform_data resources whose input is
/// `var.release`, plus one that sleeps `var.hold_seconds` to keep the lock held.
pub const DEMO_MAIN_TF: &str = include_str!("../../../../examples/demo/main.tf");

impl TfRoot {
    pub fn new(main_tf: &str) -> TfRoot {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("main.tf"), main_tf).expect("write main.tf");
        TfRoot { dir }
    }

    pub fn demo() -> TfRoot {
        Self::new(DEMO_MAIN_TF)
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `platctl tf --env ENV --dir DIR -- <args>` on `store`.
    pub fn tf(&self, store: &TestStore, env: &str, args: &[&str]) -> Command {
        let mut cmd = store.platctl();
        cmd.args(["tf", "--env", env, "--dir"]).arg(self.path()).arg("--").args(args);
        cmd
    }

    pub fn init(&self, store: &TestStore, env: &str) {
        ok(run(&mut self.tf(store, env, &["init", "-input=false", "-no-color"])));
    }
}

/// Wait until `f` returns Some, polling every 100 ms for at most `secs`.
pub fn wait_for<T>(secs: u64, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if std::time::Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Children of a process (Linux /proc).
pub fn child_pids(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

pub fn kill(pid: u32, signal: &str) {
    let _ = Command::new("kill").args([&format!("-{signal}"), &pid.to_string()]).status();
}

/// The repository this test binary was built from.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repository root")
}

/// The JSON schemas for `platctl check`: $PLATCTL_SCHEMAS, else ../shared/schemas.
pub fn schemas_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("PLATCTL_SCHEMAS") {
        return PathBuf::from(p);
    }
    let p = repo_root().join("../shared/schemas");
    assert!(p.is_dir(), "schemas not found at {}: export PLATCTL_SCHEMAS", p.display());
    p
}

/// A fresh copy of the repository's files (tracked and new, not ignored) in a
/// temporary folder with an empty `.git`, as a team's clone would look.
pub fn repo_copy() -> tempfile::TempDir {
    let root = repo_root();
    let out = Command::new("git")
        .arg("-C")
        .arg(&root)
        .args(["ls-files", "-z", "--cached", "--others", "--exclude-standard"])
        .output()
        .expect("git ls-files");
    assert!(out.status.success(), "git ls-files: {}", String::from_utf8_lossy(&out.stderr));
    let dir = tempfile::tempdir().expect("tempdir");
    for rel in out.stdout.split(|b| *b == 0).filter(|r| !r.is_empty()) {
        let rel = Path::new(std::str::from_utf8(rel).expect("utf-8 path"));
        let (from, to) = (root.join(rel), dir.path().join(rel));
        let Ok(meta) = std::fs::symlink_metadata(&from) else { continue }; // deleted in the work tree
        std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&from).expect("readlink");
            std::os::unix::fs::symlink(target, &to).expect("symlink");
        } else {
            std::fs::copy(&from, &to).expect("copy");
        }
    }
    std::fs::create_dir(dir.path().join(".git")).expect(".git");
    dir
}

/// Every regular file under `dir` (not .git) with its content.
pub fn tree_snapshot(dir: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut std::collections::BTreeMap<PathBuf, Vec<u8>>) {
        for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
            let p = e.path();
            let ft = e.file_type().expect("file type");
            if ft.is_dir() && e.file_name() != ".git" {
                walk(base, &p, out);
            } else if ft.is_file() {
                out.insert(
                    p.strip_prefix(base).expect("prefix").to_owned(),
                    std::fs::read(&p).expect("read"),
                );
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}
