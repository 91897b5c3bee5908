//! `platctl tf` end to end with the real terraform: state, versions,
//! rollback, audit, on both store kinds.

use crate::support::*;

fn apply(root: &TfRoot, store: &TestStore, env: &str, release: &str) -> std::process::Output {
    run(&mut root.tf(
        store,
        env,
        &[
            "apply",
            "-auto-approve",
            "-input=false",
            "-no-color",
            &format!("-var=release={release}"),
        ],
    ))
}

fn lifecycle(store: &TestStore) {
    let root = TfRoot::demo();
    let env = "staging";
    root.init(store, env);
    // Each run serves the backend on a new random port; no re-init is needed.
    let first = ok(apply(&root, store, env, "v1"));
    assert!(stdout(&first).contains("Apply complete! Resources: 3 added"), "{}", stdout(&first));
    ok(apply(&root, store, env, "v2"));

    let versions = store.versions(env);
    assert_eq!(versions.len(), 2, "one version per state write: {versions:#?}");
    let (v1, v2) = (&versions[0], &versions[1]);
    for v in [v1, v2] {
        for key in ["id", "serial", "lineage", "sha256", "size", "created", "actor"] {
            assert!(v.get(key).is_some(), "version lacks {key}: {v}");
        }
        assert_eq!(v["actor"], "tester");
    }
    assert!(v2["serial"].as_u64() > v1["serial"].as_u64());
    assert_eq!(v1["lineage"], v2["lineage"]);
    let current = store.current(env);
    assert_eq!(current["serial"], v2["serial"]);
    assert_eq!(current["outputs"]["release"]["value"], "v2");

    // Roll back to v1: serial = current + 1, same lineage, v1's content.
    let v1_id = v1["id"].as_str().expect("id");
    let rb = ok(run(store.platctl().args([
        "state",
        "rollback",
        "--env",
        env,
        "--to",
        v1_id,
        "--reason",
        "bad release",
        "--output",
        "json",
    ])));
    let rolled = json(&rb);
    assert_eq!(rolled["serial"].as_u64(), Some(v2["serial"].as_u64().expect("serial") + 1));
    assert_eq!(rolled["lineage"], v1["lineage"]);
    assert_eq!(rolled["source"], "rollback");
    assert_eq!(rolled["rolled_back_from"], v1_id);
    assert!(stderr(&rb).contains("run `platctl tf --env staging -- plan` next"), "{}", stderr(&rb));
    let current = store.current(env);
    assert_eq!(current["outputs"]["release"]["value"], "v1");
    assert_eq!(store.versions(env).len(), 3, "a rollback is a version too");

    // The rollback changed state only: the configuration (v2) now differs.
    let plan = run(&mut root.tf(
        store,
        env,
        &["plan", "-detailed-exitcode", "-input=false", "-no-color", "-var=release=v2"],
    ));
    assert_eq!(
        plan.status.code(),
        Some(2),
        "plan after rollback must show changes:\n{}",
        stdout(&plan)
    );
    assert!(
        stdout(&plan).contains("Plan: 0 to add, 3 to change, 0 to destroy."),
        "the three replicas' input goes back from v1 to v2, in place: {}",
        stdout(&plan)
    );

    // Lock released after every run and the rollback.
    let list = json(&ok(run(store.platctl().args(["state", "list", "--output", "json"]))));
    let row = list
        .as_array()
        .expect("array")
        .iter()
        .find(|r| r["env"] == env)
        .expect("env listed")
        .clone();
    assert!(row["lock"].is_null(), "no lock must remain: {row}");
    assert_eq!(row["serial"], rolled["serial"]);

    // Audit: writes, locks, unlocks, the rollback and every tf run.
    let events = store.audit_events();
    let count = |action: &str| {
        events.iter().filter(|e| e["action"] == action && e["outcome"] == "success").count()
    };
    assert_eq!(count("state_write"), 3, "{events:#?}");
    assert!(count("lock") >= 4 && count("unlock") >= 4);
    assert_eq!(count("rollback"), 1);
    let runs: Vec<_> = events.iter().filter(|e| e["action"] == "tf_run").collect();
    assert_eq!(runs.len(), 4, "init, two applies, plan");
    let apply_run =
        runs.iter().find(|e| e["details"]["command"] == "apply").expect("apply audited");
    assert_eq!(apply_run["details"]["exit_code"], 0);
    assert_eq!(apply_run["details"]["changes"]["add"], 3);
    assert!(
        apply_run["details"]["args"].to_string().contains("-var=<redacted>"),
        "var values must not be logged: {apply_run}"
    );
    let plan_run = runs.iter().find(|e| e["details"]["command"] == "plan").expect("plan audited");
    assert_eq!(plan_run["details"]["exit_code"], 2);
    let rollback = events.iter().find(|e| e["action"] == "rollback").expect("rollback event");
    assert_eq!(rollback["details"]["reason"], "bad release");
    assert_eq!(rollback["env"], env);
}

#[test]
fn lifecycle_on_file_store() {
    lifecycle(&TestStore::file());
}

#[test]
fn lifecycle_on_s3_store() {
    lifecycle(&TestStore::s3("life"));
}

#[test]
fn tf_exits_with_terraforms_code_and_reports_a_missing_root() {
    let store = TestStore::file();
    let root = TfRoot::new(
        "terraform {\n  backend \"http\" {}\n}\nresource \"terraform_data\" \"x\" {\n  input = undefined_thing\n}\n",
    );
    root.init(&store, "dev");
    let o = run(&mut root.tf(&store, "dev", &["validate", "-no-color"]));
    assert_eq!(o.status.code(), Some(1), "terraform's own exit code");
    let missing = run(store.platctl().args([
        "tf",
        "--env",
        "dev",
        "--dir",
        "/nonexistent/root",
        "--",
        "plan",
    ]));
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).contains("/nonexistent/root does not exist"), "{}", stderr(&missing));
    let bad_env = run(store.platctl().args(["tf", "--env", "../prod", "--", "plan"]));
    assert_ne!(bad_env.status.code(), Some(0));
    assert!(stderr(&bad_env).contains("invalid env name"), "{}", stderr(&bad_env));
}

#[test]
fn sigterm_is_forwarded_and_terraform_releases_its_lock() {
    let store = TestStore::file();
    let root = TfRoot::demo();
    root.init(&store, "sig");
    let child = root
        .tf(
            &store,
            "sig",
            &["apply", "-auto-approve", "-input=false", "-no-color", "-var=hold_seconds=30"],
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let locked = wait_for(30, || {
        let o = run(store.platctl().args(["state", "list", "--output", "json"]));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).ok()?;
        v.as_array()?.iter().find(|r| r["env"] == "sig" && !r["lock"].is_null()).cloned()
    });
    assert!(locked.is_some(), "apply never took the lock");
    // Let terraform reach the sleeping provisioner, then stop platctl politely.
    std::thread::sleep(std::time::Duration::from_secs(2));
    kill(child.id(), "TERM");
    let out = child.wait_with_output().expect("wait");
    assert_ne!(out.status.code(), Some(0), "an interrupted apply fails");
    let list = json(&ok(run(store.platctl().args(["state", "list", "--output", "json"]))));
    let row = list.as_array().expect("array").iter().find(|r| r["env"] == "sig").cloned();
    assert!(
        row.is_none_or(|r| r["lock"].is_null()),
        "terraform must release the lock after SIGTERM: {list}\n{}",
        stdout(&out)
    );
}
