//! `platctl state serve`: the auth matrix, bad input, metrics and TLS.

use std::process::{Child, Command};

use base64::Engine;
use md5::Digest;

use crate::state_crash::{free_port, http_with, state_json};
use crate::support::*;

/// A running `platctl state serve`; killed when dropped.
pub struct Server {
    pub child: Child,
    pub port: u16,
    /// Its stderr (logs), kept in a file.
    pub log: tempfile::NamedTempFile,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Stop it the way an operator does (SIGTERM: graceful shutdown, which
    /// also writes the denied attempts not yet audited) and wait.
    pub fn stop(mut self) {
        kill(self.child.id(), "TERM");
        let _ = self.child.wait();
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }
}

pub fn serve(store: &TestStore, extra: &[&str]) -> Server {
    let port = free_port();
    let log = tempfile::NamedTempFile::new().expect("log");
    let child = store
        .platctl()
        .args(["state", "serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(extra)
        .stderr(log.reopen().expect("log"))
        .spawn()
        .expect("serve");
    wait_for(20, || std::net::TcpStream::connect(("127.0.0.1", port)).ok())
        .expect("server listening");
    Server { child, port, log }
}

pub struct Tokens {
    pub admin: String,
    pub writer: String,
    pub reader: String,
    pub other_env: String,
    /// read + write on staging, no lock permission.
    pub write_only: String,
    /// lock on staging only.
    pub lock_only: String,
    pub file: tempfile::NamedTempFile,
}

impl Tokens {
    pub fn path(&self) -> &str {
        self.file.path().to_str().expect("path")
    }
}

pub fn sha(s: &str) -> String {
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

/// Tokens made at run time (none is committed).
pub fn tokens() -> Tokens {
    let mk = |name: &str| format!("plt_test_{name}_{}", std::process::id());
    let t = Tokens {
        admin: mk("admin"),
        writer: mk("writer"),
        reader: mk("reader"),
        other_env: mk("other"),
        write_only: mk("write_only"),
        lock_only: mk("lock_only"),
        file: tempfile::NamedTempFile::new().expect("tokens file"),
    };
    let yaml = format!(
        "tokens:\n\
         - {{name: admin, sha256: \"{}\", envs: [\"*\"], permissions: [admin]}}\n\
         - {{name: ci-staging, sha256: \"{}\", envs: [staging], permissions: [read, write, lock]}}\n\
         - {{name: viewer, sha256: \"{}\", envs: [staging], permissions: [read]}}\n\
         - {{name: ci-prod, sha256: \"{}\", envs: [production], permissions: [read, write, lock]}}\n\
         - {{name: pusher, sha256: \"{}\", envs: [staging], permissions: [read, write]}}\n\
         - {{name: locker, sha256: \"{}\", envs: [staging], permissions: [lock]}}\n",
        sha(&t.admin),
        sha(&t.writer),
        sha(&t.reader),
        sha(&t.other_env),
        sha(&t.write_only),
        sha(&t.lock_only),
    );
    std::fs::write(t.file.path(), yaml).expect("write tokens");
    t
}

pub fn basic(token: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("platctl:{token}"))
    )
}

pub fn req(port: u16, method: &str, path: &str, body: &[u8], token: Option<&str>) -> (u16, String) {
    match token {
        Some(t) => {
            let auth =
                t.strip_prefix("bearer:").map_or_else(|| basic(t), |b| format!("Bearer {b}"));
            http_with(port, method, path, body, &[("Authorization", &auth)])
        }
        None => http_with(port, method, path, body, &[]),
    }
}

pub const LOCK_A: &str = r#"{"ID":"lock-a","Operation":"OperationTypeApply","Who":"ci@runner","Version":"1.11.4","Created":"2026-11-25T10:00:00Z","Path":""}"#;

pub fn snapshot(store: &TestStore) -> (usize, serde_json::Value, Vec<serde_json::Value>) {
    let versions = store.versions("staging");
    let list = json(&ok(run(store.platctl().args(["state", "list", "--output", "json"]))));
    let mut cur = list
        .as_array()
        .and_then(|a| a.iter().find(|r| r["env"] == "staging").cloned())
        .unwrap_or_default();
    // The lock's age ticks on its own; everything else must stay put.
    if let Some(lock) = cur.get_mut("lock").and_then(|l| l.as_object_mut()) {
        lock.remove("age_seconds");
    }
    (versions.len(), cur, versions)
}

#[test]
fn auth_matrix() {
    let store = TestStore::file();
    let t = tokens();
    let s = serve(&store, &["--tokens", t.path()]);
    let p = s.port;
    let admin = Some(t.admin.as_str());

    // Seed: two versions of staging, written by the CI token through the protocol.
    assert_eq!(req(p, "LOCK", "/v1/state/staging", LOCK_A.as_bytes(), Some(&t.writer)).0, 200);
    assert_eq!(
        req(
            p,
            "POST",
            "/v1/state/staging?ID=lock-a",
            state_json(1, "L", 2).as_bytes(),
            Some(&t.writer)
        )
        .0,
        200
    );
    assert_eq!(
        req(
            p,
            "POST",
            "/v1/state/staging?ID=lock-a",
            state_json(2, "L", 3).as_bytes(),
            Some(&t.writer)
        )
        .0,
        200
    );
    assert_eq!(req(p, "UNLOCK", "/v1/state/staging", LOCK_A.as_bytes(), Some(&t.writer)).0, 200);
    let (_, _, versions) = snapshot(&store);
    let v1 = versions[0]["id"].as_str().expect("id").to_owned();
    let rollback_body = format!(r#"{{"to":"{v1}","reason":"matrix"}}"#);

    let routes: Vec<(&str, String, Vec<u8>)> = vec![
        ("GET", "/v1/state/staging".into(), vec![]),
        ("POST", "/v1/state/staging?ID=lock-a".into(), state_json(3, "L", 1).into_bytes()),
        ("DELETE", "/v1/state/staging".into(), vec![]),
        ("LOCK", "/v1/state/staging".into(), LOCK_A.as_bytes().to_vec()),
        ("UNLOCK", "/v1/state/staging".into(), LOCK_A.as_bytes().to_vec()),
        ("UNLOCK", "/v1/state/staging".into(), vec![]),
        ("GET", "/v1/state/staging/versions".into(), vec![]),
        ("GET", format!("/v1/state/staging/versions/{v1}"), vec![]),
        ("POST", "/v1/state/staging/rollback".into(), rollback_body.clone().into_bytes()),
        ("GET", "/metrics".into(), vec![]),
    ];
    let wrong = "plt_wrong_token".to_owned();
    for (method, path, body) in &routes {
        let before = snapshot(&store);
        for (who, token, expected) in [
            ("no token", None, 401),
            ("wrong token", Some(wrong.as_str()), 401),
            ("wrong bearer", Some("bearer:plt_wrong"), 401),
            (
                "another env's token",
                Some(t.other_env.as_str()),
                if path == "/metrics" { 200 } else { 403 },
            ),
            ("read-only token", Some(t.reader.as_str()), if *method == "GET" { 200 } else { 403 }),
        ] {
            let (status, text) = req(p, method, path, body, token);
            assert_eq!(status, expected, "{who}: {method} {path} -> {status} {text}");
            if status == 401 || status == 403 {
                assert!(!text.trim().is_empty(), "a denial says why");
            }
        }
        assert_eq!(snapshot(&store), before, "denied requests change nothing ({method} {path})");
    }
    // /healthz needs no token.
    assert_eq!(req(p, "GET", "/healthz", b"", None).0, 200);

    // The admin token may do everything, in a sensible order.
    assert_eq!(req(p, "GET", "/v1/state/staging", b"", admin).0, 200);
    assert_eq!(
        req(p, "GET", "/v1/state/staging", b"", Some(&format!("bearer:{}", t.admin))).0,
        200,
        "bearer works too"
    );
    assert_eq!(req(p, "GET", "/v1/state/staging/versions", b"", admin).0, 200);
    assert_eq!(req(p, "GET", &format!("/v1/state/staging/versions/{v1}"), b"", admin).0, 200);
    assert_eq!(req(p, "GET", "/metrics", b"", admin).0, 200);
    assert_eq!(
        req(p, "POST", "/v1/state/staging/rollback", rollback_body.as_bytes(), admin).0,
        200
    );
    assert_eq!(req(p, "LOCK", "/v1/state/staging", LOCK_A.as_bytes(), admin).0, 200);
    // A second LOCK answers 423 with the holder's LockInfo, as Terraform expects.
    let (status, holder) = req(
        p,
        "LOCK",
        "/v1/state/staging",
        LOCK_A.replace("lock-a", "lock-b").as_bytes(),
        Some(&t.writer),
    );
    assert_eq!(status, 423);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&holder).expect("LockInfo JSON")["ID"],
        "lock-a"
    );
    // A write with another lock id answers 409 with the holder.
    let (status, holder) = req(
        p,
        "POST",
        "/v1/state/staging?ID=lock-b",
        state_json(9, "L", 1).as_bytes(),
        Some(&t.writer),
    );
    assert_eq!(status, 409);
    assert!(holder.contains("lock-a"));
    assert_eq!(
        req(p, "POST", "/v1/state/staging?ID=lock-a", state_json(10, "L", 1).as_bytes(), admin).0,
        200
    );
    // Force-unlock (empty UNLOCK) is admin only, and audited.
    assert_eq!(req(p, "UNLOCK", "/v1/state/staging", b"", Some(&t.writer)).0, 403);
    assert_eq!(req(p, "UNLOCK", "/v1/state/staging", b"", admin).0, 200);
    // Deleting the state needs admin and the lock.
    assert_eq!(req(p, "DELETE", "/v1/state/staging", b"", admin).0, 409);
    assert_eq!(req(p, "LOCK", "/v1/state/staging", LOCK_A.as_bytes(), admin).0, 200);
    assert_eq!(req(p, "DELETE", "/v1/state/staging?ID=lock-a", b"", admin).0, 200);
    assert_eq!(req(p, "UNLOCK", "/v1/state/staging", LOCK_A.as_bytes(), admin).0, 200);
    assert_eq!(req(p, "GET", "/v1/state/staging", b"", admin).0, 404);
    assert!(!store.versions("staging").is_empty(), "versions survive a delete");

    // Denied attempts are audited in aggregate, at the latest at shutdown.
    s.stop();
    let events = store.audit_events();
    let force = events.iter().filter(|e| e["action"] == "force_unlock").collect::<Vec<_>>();
    assert!(
        force.iter().any(|e| e["outcome"] == "denied" && e["actor"] == "ci-staging"),
        "the denied force-unlock is audited, naming the token's principal: {force:#?}"
    );
    assert!(force.iter().any(|e| e["outcome"] == "success" && e["actor"] == "admin"));
    let log = std::fs::read_to_string(&store.audit).expect("audit");
    for secret in [&t.admin, &t.writer, &t.reader, &t.other_env] {
        assert!(!log.contains(secret.as_str()), "no token in the audit log");
    }
}

#[test]
fn bad_input_is_refused_with_a_clear_message_and_writes_nothing() {
    let store = TestStore::s3("badin");
    let s = serve(&store, &["--max-body-mib", "1"]);
    let p = s.port;
    assert_eq!(http_with(p, "LOCK", "/v1/state/staging", LOCK_A.as_bytes(), &[]).0, 200);
    assert_eq!(
        http_with(p, "POST", "/v1/state/staging?ID=lock-a", state_json(5, "L", 2).as_bytes(), &[])
            .0,
        200
    );
    let before = snapshot(&store);

    let good_md5 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(b));
    let next = state_json(6, "L", 2);
    // (name, path, body, headers, expected status, what the message names)
    type Case<'a> = (&'a str, String, Vec<u8>, Vec<(&'a str, String)>, u16, &'a str);
    let cases: Vec<Case<'_>> = vec![
        (
            "non-JSON",
            "/v1/state/staging?ID=lock-a".into(),
            b"<html>not state</html>".to_vec(),
            vec![],
            400,
            "not a JSON",
        ),
        (
            "state version 3",
            "/v1/state/staging?ID=lock-a".into(),
            br#"{"version":3,"serial":9,"lineage":"L"}"#.to_vec(),
            vec![],
            400,
            "version 3",
        ),
        (
            "wrong lineage",
            "/v1/state/staging?ID=lock-a".into(),
            state_json(6, "OTHER", 1).into_bytes(),
            vec![],
            409,
            "lineage",
        ),
        (
            "serial regression",
            "/v1/state/staging?ID=lock-a".into(),
            state_json(4, "L", 1).into_bytes(),
            vec![],
            409,
            "serial regression",
        ),
        (
            "same serial, other content",
            "/v1/state/staging?ID=lock-a".into(),
            state_json(5, "L", 7).into_bytes(),
            vec![],
            409,
            "serial",
        ),
        (
            "oversize body",
            "/v1/state/staging?ID=lock-a".into(),
            state_json(6, "L", 9000).into_bytes(),
            vec![],
            413,
            "exceeds the limit",
        ),
        (
            "bad Content-MD5",
            "/v1/state/staging?ID=lock-a".into(),
            next.clone().into_bytes(),
            vec![("Content-MD5", good_md5(b"other"))],
            400,
            "Content-MD5",
        ),
        (
            "no lock id",
            "/v1/state/staging".into(),
            next.clone().into_bytes(),
            vec![],
            409,
            "require the lock",
        ),
        ("env ..", "/v1/state/..".into(), next.clone().into_bytes(), vec![], 400, "invalid"),
        (
            "env with /",
            "/v1/state/a%2Fb?ID=lock-a".into(),
            next.clone().into_bytes(),
            vec![],
            400,
            "invalid env",
        ),
        (
            "env nested path",
            "/v1/state/a/b".into(),
            next.clone().into_bytes(),
            vec![],
            400,
            "one path segment",
        ),
        (
            "env fullwidth unicode",
            "/v1/state/%EF%BD%93taging?ID=lock-a".into(),
            next.clone().into_bytes(),
            vec![],
            400,
            "invalid env",
        ),
        (
            "env zero-width",
            "/v1/state/staging%E2%80%8B?ID=lock-a".into(),
            next.clone().into_bytes(),
            vec![],
            400,
            "invalid env",
        ),
        (
            "env uppercase",
            "/v1/state/STAGING?ID=lock-a".into(),
            next.clone().into_bytes(),
            vec![],
            400,
            "invalid env",
        ),
        (
            "empty env",
            "/v1/state/".into(),
            next.clone().into_bytes(),
            vec![],
            404,
            "/v1/state/<env>",
        ),
        ("bad LOCK body", "/v1/state/staging".into(), b"{}".to_vec(), vec![], 400, "LockInfo"),
    ];
    for (name, path, body, headers, expected, needle) in cases {
        let method = if name == "bad LOCK body" { "LOCK" } else { "POST" };
        let hdrs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, text) = http_with(p, method, &path, &body, &hdrs);
        assert_eq!(status, expected, "{name}: {text}");
        assert!(text.contains(needle), "{name}: message {text:?} should mention {needle:?}");
        assert_eq!(snapshot(&store), before, "{name}: nothing may be written");
    }
    // The correct MD5 and body are accepted.
    let (status, text) = http_with(
        p,
        "POST",
        "/v1/state/staging?ID=lock-a",
        next.as_bytes(),
        &[("Content-MD5", &good_md5(next.as_bytes()))],
    );
    assert_eq!(status, 200, "{text}");
    assert_eq!(store.versions("staging").len(), before.0 + 1);
}

#[test]
fn metrics_are_valid_prometheus_text_and_track_locks() {
    let store = TestStore::file();
    let s = serve(&store, &[]);
    let p = s.port;
    assert_eq!(http_with(p, "LOCK", "/v1/state/metrics-env", LOCK_A.as_bytes(), &[]).0, 200);
    assert_eq!(
        http_with(
            p,
            "POST",
            "/v1/state/metrics-env?ID=lock-a",
            state_json(1, "L", 2).as_bytes(),
            &[]
        )
        .0,
        200
    );
    assert_eq!(http_with(p, "GET", "/v1/state/nope", b"", &[]).0, 404);
    let (status, body) = http_with(p, "GET", "/metrics", b"", &[]);
    assert_eq!(status, 200);
    assert!(
        body.contains(
            r#"platctl_http_requests_total{route="/v1/state/{env}",method="LOCK",status="200"} 1"#
        ),
        "{body}"
    );
    assert!(
        body.contains(
            r#"platctl_http_requests_total{route="/v1/state/{env}",method="GET",status="404"} 1"#
        ),
        "{body}"
    );
    assert!(body.contains(r#"platctl_state_locks_held{env="metrics-env"} 1"#), "{body}");
    assert!(body.contains(r#"platctl_state_lock_age_seconds{env="metrics-env"}"#), "{body}");
    assert!(body.contains(r#"platctl_state_bytes{env="metrics-env"}"#), "{body}");
    assert!(body.contains("platctl_http_request_duration_seconds_bucket"), "{body}");
    assert!(!body.contains("nope"), "raw paths never become labels");
    // The label sets rule OBS007 judges dashboards and alerts by are the real ones.
    let mismatches =
        platctl_check::metric_labels::table_mismatches("the platctl state server", &body);
    assert!(mismatches.is_empty(), "OBS007's table is stale: {mismatches:?}");

    // Real Prometheus tooling agrees it is valid exposition.
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("metrics.txt");
    std::fs::write(&file, &body).expect("write");
    let check = Command::new("promtool")
        .arg("check")
        .arg("metrics")
        .stdin(std::fs::File::open(&file).expect("open"))
        .output()
        .expect("promtool (Debian package prometheus) is required");
    assert!(
        check.status.success(),
        "promtool check metrics failed:\n{}{}",
        stdout(&check),
        stderr(&check)
    );

    assert_eq!(http_with(p, "UNLOCK", "/v1/state/metrics-env", LOCK_A.as_bytes(), &[]).0, 200);
    let (_, body) = http_with(p, "GET", "/metrics", b"", &[]);
    assert!(body.contains(r#"platctl_state_locks_held{env="metrics-env"} 0"#), "{body}");
}

#[test]
fn serve_refuses_non_loopback_without_tokens_and_serves_tls() {
    let store = TestStore::file();
    let o = run(store.platctl().args(["state", "serve", "--listen", "0.0.0.0:0"]));
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("without a tokens file") && stderr(&o).contains("--tokens"),
        "{}",
        stderr(&o)
    );

    let dir = tempfile::tempdir().expect("tmp");
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl");
    assert!(made.status.success(), "{}", stderr(&made));
    let t = tokens();
    let s = serve(
        &store,
        &[
            "--tokens",
            t.file.path().to_str().expect("p"),
            "--tls-cert",
            cert.to_str().expect("p"),
            "--tls-key",
            key.to_str().expect("p"),
        ],
    );
    let curl = |auth: Option<&str>| {
        let mut c = Command::new("curl");
        c.args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"]).arg(&cert);
        if let Some(a) = auth {
            c.args(["-u", &format!("platctl:{a}")]);
        }
        c.arg(format!("https://localhost:{}/v1/state/staging/versions", s.port));
        String::from_utf8_lossy(&c.output().expect("curl").stdout).into_owned()
    };
    assert_eq!(curl(None), "401");
    assert_eq!(curl(Some(&t.reader)), "200");
}

#[test]
fn token_command_prints_a_usable_entry() {
    let o = ok(run(platctl().args([
        "state",
        "token",
        "--name",
        "ci",
        "--envs",
        "staging,dev-*",
        "--permissions",
        "read,lock",
        "--output",
        "json",
    ])));
    let v = json(&o);
    let token = v["token"].as_str().expect("token");
    assert_eq!(v["entry"]["sha256"], sha(token));
    assert_eq!(v["entry"]["envs"], serde_json::json!(["staging", "dev-*"]));
    let bad = run(platctl().args([
        "state",
        "token",
        "--name",
        "x",
        "--envs",
        "a",
        "--permissions",
        "root",
    ]));
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("unknown permission"), "{}", stderr(&bad));
}

#[test]
fn a_late_unlock_never_removes_a_lock_taken_after_a_force_unlock() {
    // Server A takes the lock; an operator force-unlocks it; server B (another
    // process) takes it again. A's holder then unlocks with its old ID: A's
    // DELETE is conditional on the ETag of the lock object A wrote, so the
    // store refuses it, and the ID check refuses the unlock. B keeps its lock.
    let store = TestStore::s3("late-unlock");
    let port_a = free_port();
    let log_a = tempfile::NamedTempFile::new().expect("log");
    let mut child_a = store
        .platctl()
        .args(["-vv", "state", "serve", "--listen", &format!("127.0.0.1:{port_a}")])
        .stderr(log_a.reopen().expect("log"))
        .spawn()
        .expect("serve A");
    wait_for(20, || std::net::TcpStream::connect(("127.0.0.1", port_a)).ok())
        .expect("server A listening");
    let b = serve(&store, &[]);
    let lock_b = LOCK_A.replace("lock-a", "lock-b").replace("ci@runner", "other@runner");

    assert_eq!(http_with(port_a, "LOCK", "/v1/state/staging", LOCK_A.as_bytes(), &[]).0, 200);
    ok(run(store.platctl().args([
        "state",
        "unlock",
        "--env",
        "staging",
        "--reason",
        "stuck pipeline",
    ])));
    assert_eq!(http_with(b.port, "LOCK", "/v1/state/staging", lock_b.as_bytes(), &[]).0, 200);

    let (status, body) = http_with(port_a, "UNLOCK", "/v1/state/staging", LOCK_A.as_bytes(), &[]);
    assert_eq!(status, 409, "a stale unlock is a conflict naming the holder: {body}");
    assert!(body.contains("lock-b"), "{body}");
    let (_, holder, _) = snapshot(&store);
    assert_eq!(holder["lock"]["ID"], "lock-b", "B's lock survived: {holder}");

    let _ = child_a.kill();
    let _ = child_a.wait();
    let log = std::fs::read_to_string(log_a.path()).expect("log");
    assert!(
        log.contains("unlock by conditional delete") && log.contains("Mismatch"),
        "A tried its conditional delete first:\n{log}"
    );

    // And B's own unlock is the single conditional DELETE.
    assert_eq!(http_with(b.port, "UNLOCK", "/v1/state/staging", lock_b.as_bytes(), &[]).0, 200);
    let (_, after, _) = snapshot(&store);
    assert!(after.get("lock").is_none_or(serde_json::Value::is_null), "{after}");
}
