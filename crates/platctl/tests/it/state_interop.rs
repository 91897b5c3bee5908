//! Interop both ways with plain Terraform's s3 backend (`use_lockfile = true`)
//! on the same bucket and key layout.

use std::process::{Command, Stdio};

use crate::support::*;

/// A root like the demo one, but with Terraform's own s3 backend.
fn plain_root(store: &TestStore, env: &str) -> TfRoot {
    let StoreKind::S3 { bucket, prefix, endpoint } = &store.kind else {
        panic!("s3 store expected")
    };
    let root = TfRoot::new(&DEMO_MAIN_TF.replace("backend \"http\" {}", "backend \"s3\" {}"));
    let config = format!(
        r#"bucket                      = "{bucket}"
key                         = "{prefix}/{env}/terraform.tfstate"
region                      = "us-east-1"
use_lockfile                = true
use_path_style              = true
skip_credentials_validation = true
skip_region_validation      = true
skip_requesting_account_id  = true
skip_metadata_api_check     = true
skip_s3_checksum            = true
endpoints = {{
  s3 = "{endpoint}"
}}
"#
    );
    std::fs::write(root.path().join("s3.tfbackend"), config).expect("backend config");
    ok(run(plain_tf(store, &root).args([
        "init",
        "-input=false",
        "-no-color",
        "-backend-config=s3.tfbackend",
    ])));
    root
}

fn plain_tf(store: &TestStore, root: &TfRoot) -> Command {
    let StoreKind::S3 { endpoint, .. } = &store.kind else { panic!("s3 store expected") };
    let mut cmd = Command::new(terraform());
    cmd.current_dir(root.path())
        .env("TF_CLI_CONFIG_FILE", "/dev/null")
        .env("TF_IN_AUTOMATION", "1");
    aws_env(&mut cmd, endpoint);
    cmd
}

fn wait_locked(
    store: &TestStore,
    env: &str,
    holder: &mut std::process::Child,
) -> serde_json::Value {
    wait_for(30, || {
        if let Ok(Some(status)) = holder.try_wait() {
            let mut out = String::new();
            if let Some(mut e) = holder.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut out);
            }
            panic!("the lock holder exited ({status}) before its lock was seen:\n{out}");
        }
        let o = run(store.platctl().args(["state", "list", "--output", "json"]));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).ok()?;
        v.as_array()?
            .iter()
            .find(|r| r["env"] == env)
            .map(|r| r["lock"].clone())
            .filter(|l| !l.is_null())
    })
    .expect("lock taken within 30 s")
}

#[test]
fn plain_terraform_reads_platctl_state_and_both_lock_each_other_out() {
    let store = TestStore::s3("interop");
    let env = "interop";
    let root = TfRoot::demo();
    root.init(&store, env);
    ok(run(&mut root.tf(
        &store,
        env,
        &["apply", "-auto-approve", "-input=false", "-no-color", "-var=release=p1"],
    )));

    // 1. Plain terraform reads the very same state.
    let plain = plain_root(&store, env);
    let pulled: serde_json::Value =
        serde_json::from_slice(&ok(run(plain_tf(&store, &plain).args(["state", "pull"]))).stdout)
            .expect("state pull JSON");
    let ours = store.current(env);
    assert_eq!(pulled["lineage"], ours["lineage"]);
    assert_eq!(pulled["serial"], ours["serial"]);
    assert_eq!(pulled["outputs"]["release"]["value"], "p1");

    // 2. platctl holds the lock: plain terraform is blocked and told who holds it.
    let mut holder = root
        .tf(
            &store,
            env,
            &[
                "apply",
                "-auto-approve",
                "-input=false",
                "-no-color",
                "-var=release=p2",
                "-var=hold_seconds=8",
            ],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let lock = wait_locked(&store, env, &mut holder);
    let blocked = run(plain_tf(&store, &plain).args([
        "apply",
        "-auto-approve",
        "-input=false",
        "-no-color",
        "-var=release=x",
    ]));
    assert!(!blocked.status.success());
    let err = stderr(&blocked);
    assert!(err.contains("Error acquiring the state lock"), "{err}");
    assert!(
        err.contains(lock["ID"].as_str().expect("id")),
        "plain terraform names platctl's lock ID:\n{err}"
    );
    ok(holder.wait_with_output().expect("wait"));

    // 3. Plain terraform holds the lock: platctl is blocked and told who holds it.
    let mut plain_holder = plain_tf(&store, &plain)
        .args([
            "apply",
            "-auto-approve",
            "-input=false",
            "-no-color",
            "-var=release=p3",
            "-var=hold_seconds=8",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let plain_lock = wait_locked(&store, env, &mut plain_holder);
    let blocked = run(&mut root.tf(
        &store,
        env,
        &["apply", "-auto-approve", "-input=false", "-no-color", "-var=release=y"],
    ));
    assert!(!blocked.status.success());
    let err = stderr(&blocked);
    assert!(err.contains("Error acquiring the state lock"), "{err}");
    assert!(
        err.contains(plain_lock["ID"].as_str().expect("id")),
        "platctl relays plain terraform's lock ID:\n{err}"
    );
    ok(plain_holder.wait_with_output().expect("wait"));

    // 4. Plain terraform's write is not lost: platctl reads it, and versions it
    //    ("adopted") before its next write replaces it.
    assert_eq!(store.current(env)["outputs"]["release"]["value"], "p3");
    let versions_before = store.versions(env).len();
    ok(run(&mut root.tf(
        &store,
        env,
        &["apply", "-auto-approve", "-input=false", "-no-color", "-var=release=p4"],
    )));
    let versions = store.versions(env);
    assert_eq!(versions.len(), versions_before + 2, "the adopted external state plus the new one");
    let adopted = versions.iter().find(|v| v["source"] == "adopted").expect("adopted version");
    let content = json(&ok(run(store.platctl().args([
        "state",
        "show",
        "--env",
        env,
        "--version",
        adopted["id"].as_str().expect("id"),
        "--output",
        "json",
    ]))));
    assert_eq!(content["outputs"]["release"]["value"], "p3");
}
