//! Crashes: terraform killed mid-apply, and the state server killed mid-write.

use std::io::{Read, Write};
use std::process::Stdio;
use std::time::Duration;

use crate::support::*;

fn lock_of(store: &TestStore, env: &str) -> Option<serde_json::Value> {
    let o = run(store.platctl().args(["state", "list", "--output", "json"]));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).ok()?;
    v.as_array()?
        .iter()
        .find(|r| r["env"] == env)
        .map(|r| r["lock"].clone())
        .filter(|l| !l.is_null())
}

/// Start a held apply, wait until terraform sleeps in the provisioner, SIGKILL terraform.
fn kill_terraform_mid_apply(store: &TestStore, root: &TfRoot, env: &str) -> serde_json::Value {
    let child = root
        .tf(
            store,
            env,
            &[
                "apply",
                "-auto-approve",
                "-input=false",
                "-no-color",
                "-var=release=crash",
                "-var=hold_seconds=60",
            ],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let platctl_pid = child.id();
    let lock = wait_for(30, || lock_of(store, env)).expect("apply took the lock");
    let tf_pid =
        wait_for(10, || child_pids(platctl_pid).first().copied()).expect("terraform child");
    std::thread::sleep(Duration::from_secs(2));
    kill(tf_pid, "KILL");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(137), "platctl exits with 128+9 when terraform is killed");
    lock
}

fn assert_state_valid(store: &TestStore, env: &str, serials: &[u64]) {
    let cur = store.current(env);
    assert_eq!(cur["version"], 4);
    let serial = cur["serial"].as_u64().expect("serial");
    assert!(
        serials.contains(&serial),
        "state is the old or the new one, serial {serial} in {serials:?}"
    );
    for v in store.versions(env) {
        // `state show --version` verifies the sha256 of every version.
        ok(run(store.platctl().args([
            "state",
            "show",
            "--env",
            env,
            "--version",
            v["id"].as_str().expect("id"),
        ])));
    }
}

#[test]
fn killed_terraform_leaves_valid_state_and_a_lock_that_unlock_clears() {
    let store = TestStore::s3("crash");
    let root = TfRoot::demo();
    let env = "crash";
    root.init(&store, env);
    ok(run(&mut root.tf(&store, env, &["apply", "-auto-approve", "-input=false", "-no-color"])));
    let before = store.current(env)["serial"].as_u64().expect("serial");

    let lock = kill_terraform_mid_apply(&store, &root, env);
    let still = lock_of(&store, env).expect("the lock remains after a crash");
    assert_eq!(still["ID"], lock["ID"]);
    assert!(still["Who"].as_str().is_some_and(|w| !w.is_empty()), "holder info kept: {still}");
    assert!(still["Operation"].as_str().is_some_and(|o| o.contains("Apply")), "{still}");
    assert!(still["age_seconds"].as_i64().is_some(), "lock age is reported: {still}");
    assert_state_valid(&store, env, &[before, before + 1]);
    // The next writer is refused, and platctl says who holds the lock.
    let blocked =
        run(&mut root.tf(&store, env, &["apply", "-auto-approve", "-input=false", "-no-color"]));
    assert!(!blocked.status.success());
    let id = still["ID"].as_str().expect("id");
    assert!(
        stderr(&blocked).contains(&format!("is locked by {}", still["Who"].as_str().expect("who"))),
        "{}",
        stderr(&blocked)
    );
    assert!(stderr(&blocked).contains(&format!("(ID {id},")), "{}", stderr(&blocked));

    // A wrong id is refused (exit 3) and leaves the lock.
    let wrong = run(store.platctl().args([
        "state",
        "unlock",
        "--env",
        env,
        "--id",
        "not-the-id",
        "--reason",
        "test",
    ]));
    assert_eq!(wrong.status.code(), Some(3), "{}", stderr(&wrong));
    assert!(lock_of(&store, env).is_some());

    ok(run(store.platctl().args([
        "state",
        "unlock",
        "--env",
        env,
        "--id",
        id,
        "--reason",
        "terraform was killed",
    ])));
    assert!(lock_of(&store, env).is_none());
    // And the env works again.
    ok(run(&mut root.tf(
        &store,
        env,
        &["apply", "-auto-approve", "-input=false", "-no-color", "-var=release=after"],
    )));
    assert_eq!(store.current(env)["outputs"]["release"]["value"], "after");
}

#[test]
fn killed_terraform_lock_cleared_by_terraform_force_unlock() {
    let store = TestStore::file();
    let root = TfRoot::demo();
    let env = "crash2";
    root.init(&store, env);
    let lock = kill_terraform_mid_apply(&store, &root, env);
    let id = lock["ID"].as_str().expect("id");
    // `terraform force-unlock` through the wrapper sends UNLOCK with an empty body.
    ok(run(&mut root.tf(&store, env, &["force-unlock", "-force", id])));
    assert!(lock_of(&store, env).is_none(), "force-unlock cleared the lock");
    let force = store
        .audit_events()
        .into_iter()
        .find(|e| e["action"] == "force_unlock")
        .expect("force-unlock audited");
    assert_eq!(force["lock_id"], id);
}

/// A LOCK + a slow POST to a `state serve`, which is SIGKILLed mid-body.
#[test]
fn server_killed_mid_write_tears_nothing() {
    for store in [TestStore::file(), TestStore::s3("tear")] {
        let env = "tear";
        let port = free_port();
        let mut server = store
            .platctl()
            .args(["state", "serve", "--listen", &format!("127.0.0.1:{port}")])
            .stderr(Stdio::piped())
            .spawn()
            .expect("serve");
        wait_for(20, || std::net::TcpStream::connect(("127.0.0.1", port)).ok()).expect("server up");

        let lock = r#"{"ID":"lock-1","Operation":"OperationTypeApply","Who":"test","Version":"1.11.4","Created":"2026-11-25T10:00:00Z","Path":""}"#;
        let old = state_json(1, "lin-1", 10);
        assert_eq!(http(port, "LOCK", "/v1/state/tear", lock.as_bytes()).0, 200);
        assert_eq!(http(port, "POST", "/v1/state/tear?ID=lock-1", old.as_bytes()).0, 200);

        // A 4 MB body sent in pieces; the server dies after the first piece.
        let new = state_json(2, "lin-1", 40_000);
        let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        write!(conn, "POST /v1/state/{env}?ID=lock-1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", new.len()).expect("head");
        conn.write_all(&new.as_bytes()[..new.len() / 3]).expect("first third");
        std::thread::sleep(Duration::from_millis(300));
        server.kill().expect("SIGKILL server");
        let _ = server.wait();
        let _ = conn.write_all(&new.as_bytes()[new.len() / 3..]);

        // Nothing torn: the current state is exactly the old one, all versions verify.
        let cur = store.current(env);
        assert_eq!(cur, serde_json::from_str::<serde_json::Value>(&old).expect("json"));
        let versions = store.versions(env);
        assert_eq!(versions.len(), 1, "the interrupted write left no version");
        for v in versions {
            ok(run(store.platctl().args([
                "state",
                "show",
                "--env",
                env,
                "--version",
                v["id"].as_str().expect("id"),
            ])));
        }
    }
}

pub fn state_json(serial: u64, lineage: &str, resources: usize) -> String {
    let res: Vec<serde_json::Value> = (0..resources)
        .map(|i| serde_json::json!({"mode":"managed","type":"terraform_data","name":format!("r{i}"),"provider":"provider[\"terraform.io/builtin/terraform\"]","instances":[{"schema_version":0,"attributes":{"id":format!("id-{i}-{}", "x".repeat(60)),"input":null,"output":null,"triggers_replace":null}}]}))
        .collect();
    serde_json::to_string_pretty(&serde_json::json!({"version":4,"terraform_version":"1.11.4","serial":serial,"lineage":lineage,"outputs":{},"resources":res,"check_results":null})).expect("json")
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// A minimal HTTP/1.1 client (custom methods like LOCK included). Returns (status, body).
pub fn http(port: u16, method: &str, path: &str, body: &[u8]) -> (u16, String) {
    http_with(port, method, path, body, &[])
}

pub fn http_with(
    port: u16,
    method: &str,
    path: &str,
    body: &[u8],
    headers: &[(&str, &str)],
) -> (u16, String) {
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    conn.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    conn.write_all(head.as_bytes()).expect("write head");
    let _ = conn.write_all(body);
    let mut resp = Vec::new();
    let _ = conn.read_to_end(&mut resp);
    let text = String::from_utf8_lossy(&resp).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}
