//! Many parallel `platctl tf apply` processes on one env and one S3 store,
//! each with its own in-process backend: locks serialize them, every
//! failure is Terraform's lock error naming the holder, every success is
//! exactly one version, and the final state is the last success's.

use std::collections::BTreeSet;
use std::process::Stdio;

use crate::support::*;

#[test]
fn parallel_applies_never_lose_a_write() {
    let store = TestStore::s3("conc");
    let root = TfRoot::demo();
    let env = "shared";
    root.init(&store, env);

    const WAITERS: usize = 4; // wait for the lock, so they all succeed eventually
    const IMPATIENT: usize = 4; // give up at once when the lock is held
    let mut children = Vec::new();
    for i in 0..WAITERS + IMPATIENT {
        let release = format!("r{i}");
        let mut args = vec![
            "apply".to_owned(),
            "-auto-approve".into(),
            "-input=false".into(),
            "-no-color".into(),
            format!("-var=release={release}"),
        ];
        if i < WAITERS {
            args.push("-lock-timeout=120s".into());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let child = root
            .tf(&store, env, &args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        children.push((release, i < WAITERS, child));
    }
    let mut successes = BTreeSet::new();
    let mut failures = 0;
    let mut holder_ids = Vec::new();
    for (release, waiter, child) in children {
        let out = child.wait_with_output().expect("wait");
        if out.status.success() {
            successes.insert(release);
        } else {
            failures += 1;
            assert!(
                !waiter,
                "a process waiting for the lock must succeed: {release}\n{}\n{}",
                stdout(&out),
                stderr(&out)
            );
            let err = stderr(&out);
            assert!(
                err.contains("Error acquiring the state lock"),
                "failure must be terraform's lock error, got:\n{err}"
            );
            // Terraform's http backend names the holder's ID; platctl adds who it is.
            let holder_id = err
                .split("already locked:")
                .nth(1)
                .and_then(|t| t.split("ID=").nth(1))
                .map(|t| t.split_whitespace().next().unwrap_or("").to_owned());
            let holder_id =
                holder_id.unwrap_or_else(|| panic!("the lock error names the holder's ID:\n{err}"));
            assert!(!holder_id.is_empty());
            holder_ids.push(holder_id);
        }
    }
    assert!(successes.len() >= WAITERS, "all waiters succeed: {successes:?}");
    assert_eq!(successes.len() + failures, WAITERS + IMPATIENT);

    // Exactly one version per success, with strictly increasing serials.
    let versions = store.versions(env);
    assert_eq!(versions.len(), successes.len(), "one version per successful apply: {versions:#?}");
    let serials: Vec<u64> =
        versions.iter().map(|v| v["serial"].as_u64().expect("serial")).collect();
    assert!(serials.windows(2).all(|w| w[0] < w[1]), "serials strictly increase: {serials:?}");
    let lineages: BTreeSet<&str> =
        versions.iter().map(|v| v["lineage"].as_str().expect("lineage")).collect();
    assert_eq!(lineages.len(), 1);

    // Every success's write is present: each version's content is one success's release.
    let mut seen = BTreeSet::new();
    for v in &versions {
        let id = v["id"].as_str().expect("id");
        let state = json(&ok(run(store.platctl().args([
            "state",
            "show",
            "--env",
            env,
            "--version",
            id,
            "--output",
            "json",
        ]))));
        seen.insert(state["outputs"]["release"]["value"].as_str().expect("release").to_owned());
    }
    assert_eq!(seen, successes, "no write lost");

    // The final state is the last success's: the newest version.
    let last = versions.last().expect("a version");
    let current = store.current(env);
    assert_eq!(current["serial"], last["serial"]);
    // Each named holder really held the lock at that time.
    let events = store.audit_events();
    for id in &holder_ids {
        assert!(
            events.iter().any(|e| e["action"] == "lock"
                && e["outcome"] == "success"
                && e["lock_id"] == id.as_str()),
            "the named holder {id} took the lock"
        );
    }
    let audit_writes = store
        .audit_events()
        .iter()
        .filter(|e| e["action"] == "state_write" && e["outcome"] == "success")
        .count();
    assert_eq!(audit_writes, successes.len());
}
