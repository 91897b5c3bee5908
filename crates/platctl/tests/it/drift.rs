//! `platctl drift` with the real terraform and real state on the S3 store.

use std::process::{Command, Stdio};

use crate::state_crash::free_port;
use crate::support::*;

struct Envs {
    dir: tempfile::TempDir,
}

impl Envs {
    fn new(names: &[&str]) -> Envs {
        let dir = tempfile::tempdir().expect("tmp");
        for n in names {
            std::fs::create_dir_all(dir.path().join(n)).expect("mkdir");
            std::fs::write(dir.path().join(n).join("main.tf"), DEMO_MAIN_TF).expect("main.tf");
        }
        Envs { dir }
    }

    fn root(&self, env: &str) -> std::path::PathBuf {
        self.dir.path().join(env)
    }

    fn tf(&self, store: &TestStore, env: &str, args: &[&str]) -> Command {
        let mut cmd = store.platctl();
        cmd.args(["tf", "--env", env, "--dir"]).arg(self.root(env)).arg("--").args(args);
        cmd
    }

    fn drift(&self, store: &TestStore, extra: &[&str]) -> Command {
        let mut cmd = store.platctl();
        cmd.args(["drift", "--envs-dir"]).arg(self.dir.path()).args(extra);
        cmd
    }
}

fn report<'a>(v: &'a serde_json::Value, env: &str) -> &'a serde_json::Value {
    v.as_array()
        .expect("array")
        .iter()
        .find(|r| r["env"] == env)
        .unwrap_or_else(|| panic!("no report for {env}: {v}"))
}

fn version_count(store: &TestStore, envs: &[&str]) -> usize {
    envs.iter().map(|e| store.versions(e).len()).sum()
}

#[test]
fn drift_detects_pending_changes_is_read_only_and_tracks_new_known_resolved() {
    let store = TestStore::s3("drift");
    let envs = Envs::new(&["staging", "production"]);
    for env in ["staging", "production"] {
        ok(run(&mut envs.tf(&store, env, &["init", "-input=false", "-no-color"])));
    }
    // staging: an older version with 2 resources, then the configured 3.
    ok(run(&mut envs.tf(
        &store,
        "staging",
        &["apply", "-auto-approve", "-input=false", "-no-color", "-var=replicas=2"],
    )));
    ok(run(&mut envs.tf(
        &store,
        "staging",
        &["apply", "-auto-approve", "-input=false", "-no-color"],
    )));
    ok(run(&mut envs.tf(
        &store,
        "production",
        &["apply", "-auto-approve", "-input=false", "-no-color"],
    )));

    // 1. Clean: exit 0, metrics valid for promtool.
    let metrics = envs.dir.path().join("drift.prom");
    let before = version_count(&store, &["staging", "production"]);
    let clean = run(&mut envs.drift(
        &store,
        &[
            "--env",
            "staging",
            "--env",
            "production",
            "--output",
            "json",
            "--metrics",
            metrics.to_str().expect("p"),
        ],
    ));
    assert_eq!(clean.status.code(), Some(0), "{}\n{}", stdout(&clean), stderr(&clean));
    let v = json(&clean);
    assert_eq!(report(&v, "staging")["status"], "clean");
    assert_eq!(report(&v, "production")["status"], "clean");
    let text = std::fs::read_to_string(&metrics).expect("metrics file");
    assert!(text.contains(r#"platctl_drift_check_success{env="staging"} 1"#), "{text}");
    let mismatches = platctl_check::metric_labels::table_mismatches(
        "platctl drift (pushed by the drift CronJob)",
        &text,
    );
    assert!(mismatches.is_empty(), "OBS007's table is stale: {mismatches:?}");
    assert!(text.contains(r#"platctl_drift_resources{env="staging",class="pending"} 0"#), "{text}");
    assert!(
        text.contains("platctl_drift_last_success_timestamp_seconds{env=\"production\"}"),
        "{text}"
    );
    let check = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&metrics).expect("open"))
        .output()
        .expect("promtool");
    assert!(check.status.success(), "promtool: {}{}", stdout(&check), stderr(&check));

    // 2. State changed behind terraform's back: roll staging back to the 2-resource version.
    let older = store.versions("staging")[0]["id"].as_str().expect("id").to_owned();
    ok(run(store.platctl().args([
        "state",
        "rollback",
        "--env",
        "staging",
        "--to",
        &older,
        "--reason",
        "simulate drift",
    ])));
    let after_rollback = version_count(&store, &["staging", "production"]);
    let drifted =
        run(&mut envs
            .drift(&store, &["--env", "staging", "--env", "production", "--output", "json"]));
    assert_eq!(drifted.status.code(), Some(2), "{}\n{}", stdout(&drifted), stderr(&drifted));
    let v = json(&drifted);
    let staging = report(&v, "staging");
    assert_eq!(staging["status"], "pending");
    let addrs: Vec<(&str, &str)> = staging["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| (e["address"].as_str().expect("a"), e["action"].as_str().expect("b")))
        .collect();
    assert_eq!(addrs, [("terraform_data.replica[2]", "create")], "exactly the affected address");
    assert_eq!(staging["entries"][0]["new"], true);
    assert_eq!(report(&v, "production")["status"], "clean");

    // 3. Known drift: the same entry is not new and keeps its first-seen time.
    let again = json(&run(&mut envs.drift(&store, &["--env", "staging", "--output", "json"])));
    let entry = &report(&again, "staging")["entries"][0];
    assert_eq!(entry["new"], false);
    assert_eq!(entry["first_seen"], staging["entries"][0]["first_seen"]);
    let md = run(&mut envs.drift(&store, &["--env", "staging", "--output", "markdown"]));
    assert_eq!(md.status.code(), Some(2));
    assert!(
        stdout(&md).starts_with("## staging\n")
            && stdout(&md).contains("`terraform_data.replica[2]`")
            && !stdout(&md).contains("No drift"),
        "{}",
        stdout(&md)
    );

    // 4. A held lock does not block the check, and the check never writes state.
    let holder = envs
        .tf(
            &store,
            "production",
            &["apply", "-auto-approve", "-input=false", "-no-color", "-var=hold_seconds=20"],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("holder");
    let lock_held = || {
        let o = run(store.platctl().args(["state", "list", "--output", "json"]));
        let l: serde_json::Value = serde_json::from_slice(&o.stdout).ok()?;
        l.as_array()?.iter().find(|r| r["env"] == "production" && !r["lock"].is_null()).cloned()
    };
    let lock = wait_for(30, lock_held).expect("holder took the lock");
    let during = run(&mut envs.drift(&store, &["--env", "production", "--output", "json"]));
    assert_eq!(during.status.code(), Some(0), "{}", stderr(&during));
    assert_eq!(
        lock_held().expect("still locked")["lock"]["ID"],
        lock["lock"]["ID"],
        "the check finished while the lock was held"
    );
    assert_eq!(
        version_count(&store, &["staging", "production"]),
        after_rollback,
        "checks write no state"
    );
    ok(holder.wait_with_output().expect("holder"));

    // 5. Resolved: apply the configuration; the next check is clean and says what was resolved.
    ok(run(&mut envs.tf(
        &store,
        "staging",
        &["apply", "-auto-approve", "-input=false", "-no-color"],
    )));
    let fixed = run(&mut envs.drift(&store, &["--env", "staging", "--output", "markdown"]));
    assert_eq!(fixed.status.code(), Some(0));
    assert!(
        stdout(&fixed).contains("No drift")
            && stdout(&fixed).contains("Resolved since the previous check"),
        "{}",
        stdout(&fixed)
    );

    // One audit event per run.
    let checks = store.audit_events().into_iter().filter(|e| e["action"] == "drift_check").count();
    assert_eq!(checks, 6);
    assert_eq!(
        after_rollback,
        before + 1,
        "the rollback is the only new version: the clean check wrote none"
    );
}

#[test]
fn broken_config_exits_1_and_all_discovers_envs() {
    let store = TestStore::file();
    let envs = Envs::new(&["good", "broken"]);
    std::fs::write(
        envs.root("broken").join("bad.tf"),
        "resource \"terraform_data\" \"bad\" {\n  input = nope\n}\n",
    )
    .expect("bad.tf");
    ok(run(&mut envs.tf(&store, "good", &["init", "-input=false", "-no-color"])));
    ok(run(&mut envs.tf(&store, "good", &["apply", "-auto-approve", "-input=false", "-no-color"])));
    let o = run(&mut envs.drift(&store, &["--all", "--output", "json"]));
    assert_eq!(o.status.code(), Some(1), "an error wins: {}", stderr(&o));
    let v = json(&o);
    assert_eq!(report(&v, "good")["status"], "clean");
    let broken = report(&v, "broken");
    assert_eq!(broken["status"], "error");
    assert!(broken["errors"].to_string().contains("Invalid reference"), "{broken}");
    let md = run(&mut envs.drift(&store, &["--all", "--output", "markdown"]));
    assert!(
        stdout(&md).contains("## broken\n\n**The drift check failed**")
            && !stdout(&md).contains("## broken\n\nNo drift"),
        "{}",
        stdout(&md)
    );
    assert!(!stderr(&md).contains("deprecated"), "{}", stderr(&md));

    // `drift --dir` is the deprecated name of --envs-dir: it still works, and says so.
    let none = run(store.platctl().args(["drift", "--all", "--dir", "/nonexistent-envs"]));
    assert_eq!(none.status.code(), Some(1));
    let err = stderr(&none);
    assert!(err.contains("/nonexistent-envs"), "the alias's value is used: {err}");
    assert!(
        err.contains("warning: `platctl drift --dir` is deprecated") && err.contains("--envs-dir"),
        "{err}"
    );
    let both = run(store.platctl().args(["drift", "--all", "--dir", "a", "--envs-dir", "b"]));
    assert_eq!(both.status.code(), Some(2), "one name at a time: {}", stderr(&both));
}

#[test]
fn metrics_are_pushed_to_a_real_pushgateway() {
    let store = TestStore::file();
    let envs = Envs::new(&["pushed"]);
    ok(run(&mut envs.tf(&store, "pushed", &["init", "-input=false", "-no-color"])));
    let port = free_port();
    let data = tempfile::tempdir().expect("tmp");
    let mut gw = Command::new("prometheus-pushgateway")
        .args([&format!("--web.listen-address=127.0.0.1:{port}"), "--persistence.interval=1h"])
        .arg(format!("--persistence.file={}", data.path().join("p").display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus-pushgateway (Debian package) is required");
    wait_for(20, || std::net::TcpStream::connect(("127.0.0.1", port)).ok())
        .expect("pushgateway up");
    let o = run(&mut envs
        .drift(&store, &["--env", "pushed", "--pushgateway", &format!("http://127.0.0.1:{port}")]));
    assert_eq!(o.status.code(), Some(2), "the empty state has pending creates: {}", stderr(&o));
    let scraped = Command::new("curl")
        .args(["-s", &format!("http://127.0.0.1:{port}/metrics")])
        .output()
        .expect("curl");
    let _ = gw.kill();
    let _ = gw.wait();
    let text = stdout(&scraped);
    assert!(text.contains(r#"platctl_drift_resources{class="pending",env="pushed",instance="",job="platctl_drift"} 3"#), "{text}");
    assert!(
        text.contains(
            r#"platctl_drift_check_success{env="pushed",instance="",job="platctl_drift"} 1"#
        ),
        "{text}"
    );
}
