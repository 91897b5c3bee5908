//! A store that ignores If-None-Match is refused: a proxy in front of
//! SeaweedFS strips the header, so a second create succeeds silently.
//! A store that only ignores If-Match is still safe to lock on: unlock then
//! reads the lock and checks its ID before deleting, and writes are
//! serialised within the process (no conditional PUT of the current state).

use crate::state_s3_proxy::S3Proxy;
use crate::support::*;

#[test]
fn store_that_ignores_if_none_match_is_refused() {
    // The real store passes the probe.
    let honest = TestStore::s3("probe-ok");
    let good = ok(run(honest.platctl().args(["store", "probe", "--output", "json"])));
    assert_eq!(json(&good)["conditional_create_enforced"], true);
    let good_file = TestStore::file();
    assert_eq!(
        json(&ok(run(good_file.platctl().args(["store", "probe", "--output", "json"]))))["conditional_create_enforced"],
        true
    );

    let proxy = S3Proxy::stripping(&["if-none-match", "if-match"]);
    let liar = proxy.store("probe-bad");
    let probe = run(liar.platctl().args(["store", "probe"]));
    assert_eq!(
        probe.status.code(),
        Some(4),
        "probe exits 4 on an unsafe store:\n{}",
        stdout(&probe)
    );
    assert!(stdout(&probe).contains("NOT enforced"), "{}", stdout(&probe));

    // Locking through the wrapper is refused, naming the store; nothing is written.
    let root = TfRoot::demo();
    let apply = run(&mut root.tf(
        &liar,
        "unsafe",
        &["apply", "-auto-approve", "-input=false", "-no-color"],
    ));
    assert_eq!(
        apply.status.code(),
        Some(4),
        "apply is refused before terraform runs:\n{}",
        stderr(&apply)
    );
    let err = stderr(&apply);
    assert!(
        err.contains("does not enforce create-only writes") && err.contains(&liar.url()),
        "{err}"
    );
    let list = json(&ok(run(liar.platctl().args(["state", "list", "--output", "json"]))));
    assert_eq!(list, serde_json::json!([]), "no state and no lock were written");

    // The operator command says exactly why.
    let serve = run(liar.platctl().args(["state", "serve", "--listen", "127.0.0.1:0"]));
    assert_eq!(serve.status.code(), Some(4), "{}", stderr(&serve));
    assert!(
        stderr(&serve).contains("does not enforce create-only writes")
            && stderr(&serve).contains(&liar.url()),
        "{}",
        stderr(&serve)
    );
}

#[test]
fn conditional_delete_is_probed_and_unlock_falls_back_without_it() {
    // SeaweedFS refuses a DELETE whose If-Match ETag is stale; a file store has no such request.
    let honest = json(&ok(run(TestStore::s3("probe-del")
        .platctl()
        .args(["store", "probe", "--output", "json"]))));
    assert_eq!(honest["conditional_delete_enforced"], true, "{honest}");
    assert_eq!(honest["conditional_update_enforced"], true, "SeaweedFS honours If-Match on PUT");
    let file =
        json(&ok(run(TestStore::file().platctl().args(["store", "probe", "--output", "json"]))));
    assert_eq!(file["conditional_delete_enforced"], false, "{file}");

    // A proxy that drops only If-Match: creates are still safe, deletes are unconditional.
    let proxy = S3Proxy::stripping(&["if-match"]);
    let store = proxy.store("probe-no-if-match");
    let probe = run(store.platctl().args(["store", "probe", "--output", "json"]));
    assert_eq!(probe.status.code(), Some(0), "locking stays allowed:\n{}", stderr(&probe));
    let report = json(&probe);
    assert_eq!(report["conditional_create_enforced"], true, "{report}");
    assert_eq!(
        report["conditional_delete_enforced"], false,
        "a DELETE that ignores If-Match is detected: {report}"
    );
    assert_eq!(
        report["conditional_update_enforced"], false,
        "a PUT that ignores If-Match is detected: {report}"
    );
    let table = stdout(&ok(run(store.platctl().args(["store", "probe"]))));
    assert!(table.contains("conditional delete: not enforced"), "{table}");

    // Lock and unlock still work there (read, check the ID, delete).
    let root = TfRoot::demo();
    root.init(&store, "fallback");
    ok(run(&mut root.tf(
        &store,
        "fallback",
        &["apply", "-auto-approve", "-input=false", "-no-color"],
    )));
    let list = json(&ok(run(store.platctl().args(["state", "list", "--output", "json"]))));
    let env = list
        .as_array()
        .and_then(|a| a.iter().find(|r| r["env"] == "fallback"))
        .expect("env listed");
    assert!(env["lock"].is_null(), "the lock was released: {env}");
    assert_eq!(store.versions("fallback").len(), 1);
}
