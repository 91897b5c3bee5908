//! `platctl state serve` against a hostile client (issue 16): one test per
//! finding, each reproducing the attack against the real server and the real
//! SeaweedFS (through a recording, fault-injecting proxy where a store
//! failure is part of the attack).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::state_crash::{free_port, http_with, state_json};
use crate::state_s3_proxy::{Fault, S3Proxy};
use crate::state_server::{LOCK_A, basic, req, serve, snapshot, tokens};
use crate::support::*;

const MIB: usize = 1024 * 1024;

fn lock_body(id: &str) -> String {
    LOCK_A.replace("lock-a", id)
}

/// A field of /proc/<pid>/status, in KiB (VmRSS, VmHWM).
fn proc_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {field} for pid {pid}"))
}

/// A TCP connection to the server from another loopback address.
fn connect_from(src: [u8; 4], port: u16) -> TcpStream {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
    let stream = rt.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.bind((src, 0).into()).expect("bind source address");
        socket.connect(([127, 0, 0, 1], port).into()).await.expect("connect")
    });
    let stream = stream.into_std().expect("std");
    stream.set_nonblocking(false).expect("blocking");
    stream
}

/// Whether the server closed `conn` within `within` (EOF or reset on read).
fn closed_by_server(conn: &mut TcpStream, within: Duration) -> bool {
    conn.set_read_timeout(Some(within)).expect("timeout");
    let mut buf = [0u8; 4096];
    loop {
        match conn.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue, // a 408 or 400 answer before the close
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false;
            }
            Err(_) => return true,
        }
    }
}

/// Send `head` and then `body` from a second thread while this one waits for
/// the answer: returns the status (0: none within `wait`).
fn send_while_reading(conn: TcpStream, head: String, body: Arc<Vec<u8>>, wait: Duration) -> u16 {
    let mut writer = conn.try_clone().expect("clone");
    let sender = std::thread::spawn(move || {
        if writer.write_all(head.as_bytes()).is_ok() {
            for chunk in body.chunks(MIB) {
                if writer.write_all(chunk).is_err() {
                    break;
                }
            }
        }
    });
    let mut conn = conn;
    conn.set_read_timeout(Some(wait)).expect("timeout");
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    let _ = conn.shutdown(std::net::Shutdown::Both);
    let _ = sender.join();
    String::from_utf8_lossy(&got)
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn versions_status(store: &TestStore, env: &str) -> Vec<(u64, String)> {
    store
        .versions(env)
        .iter()
        .map(|v| {
            (v["serial"].as_u64().expect("serial"), v["status"].as_str().unwrap_or("?").to_owned())
        })
        .collect()
}

/// Finding 1: UNLOCK and /rollback read the whole body before checking
/// credentials, with no read timeout: eight anonymous 60 MB uploads took the
/// server from 16 MB to 431 MB.
#[test]
fn f01_anonymous_bodies_are_never_read() {
    let store = TestStore::s3("f01");
    let t = tokens();
    let s = serve(&store, &["--tokens", t.path()]);
    let pid = s.child.id();
    assert_eq!(req(s.port, "GET", "/metrics", b"", Some(&t.admin)).0, 200);
    let before = proc_kib(pid, "VmHWM");

    let body = Arc::new(vec![b'x'; 60 * MIB]);
    let uploads: Vec<_> = (0..8)
        .map(|i| {
            let (method, path) = if i % 2 == 0 {
                ("UNLOCK", "/v1/state/staging")
            } else {
                ("POST", "/v1/state/staging/rollback")
            };
            let head = format!(
                "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            let (body, port) = (body.clone(), s.port);
            std::thread::spawn(move || {
                let conn = connect_from([127, 0, 0, 2 + i], port);
                send_while_reading(conn, head, body, Duration::from_secs(30))
            })
        })
        .collect();
    let statuses: Vec<u16> = uploads.into_iter().map(|h| h.join().expect("upload")).collect();
    assert!(statuses.iter().all(|s| *s == 401), "every anonymous upload is refused: {statuses:?}");
    let grown = proc_kib(pid, "VmHWM").saturating_sub(before);
    assert!(grown < 64 * 1024, "the server's peak RSS grew by {grown} KiB for anonymous uploads");

    // A stalled anonymous upload is answered at once, not held open for its body.
    let head =
        "POST /v1/state/staging/rollback HTTP/1.1\r\nHost: x\r\nContent-Length: 50000000\r\n\r\n";
    let started = Instant::now();
    let status = send_while_reading(
        connect_from([127, 0, 0, 20], s.port),
        head.to_owned(),
        Arc::new(vec![b'x'; MIB]),
        Duration::from_secs(8),
    );
    assert_eq!(status, 401, "answered without waiting for the rest of the body");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
}

/// Finding 2: a lock ID is a bearer credential, and every 409/423 hands it
/// out: a write-only token wrote under another principal's lock, and a
/// lock-only token removed someone else's lock (a force-unlock without admin).
#[test]
fn f02_a_lock_id_is_not_a_credential() {
    let store = TestStore::s3("f02");
    let t = tokens();
    let s = serve(&store, &["--tokens", t.path()]);
    let p = s.port;
    let ci = Some(t.writer.as_str());
    assert_eq!(req(p, "LOCK", "/v1/state/staging", LOCK_A.as_bytes(), ci).0, 200);
    assert_eq!(
        req(p, "POST", "/v1/state/staging?ID=lock-a", state_json(1, "L", 1).as_bytes(), ci).0,
        200
    );

    // The pusher (read, write) learns the ID from a 409 ...
    let (status, holder) = req(
        p,
        "POST",
        "/v1/state/staging?ID=guess",
        state_json(2, "L", 1).as_bytes(),
        Some(&t.write_only),
    );
    assert_eq!(status, 409);
    let holder: serde_json::Value = serde_json::from_str(&holder).expect("LockInfo");
    assert_eq!(holder["ID"], "lock-a");
    // ... and replays it: refused, nothing written.
    let before = snapshot(&store);
    let (status, text) = req(
        p,
        "POST",
        "/v1/state/staging?ID=lock-a",
        state_json(2, "L", 1).as_bytes(),
        Some(&t.write_only),
    );
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("ci-staging") && text.contains("admin"), "{text}");
    // The locker (lock only) learns the holder from a 423 and replays its UNLOCK: refused.
    let (status, holder) =
        req(p, "LOCK", "/v1/state/staging", lock_body("mine").as_bytes(), Some(&t.lock_only));
    assert_eq!(status, 423);
    let (status, text) =
        req(p, "UNLOCK", "/v1/state/staging", holder.as_bytes(), Some(&t.lock_only));
    assert_eq!(status, 403, "{text}");
    assert_eq!(snapshot(&store), before, "the lock and the state are untouched");
    let holder: serde_json::Value = serde_json::from_str(&holder).expect("LockInfo");
    assert_eq!(holder["PlatctlOwner"], "ci-staging", "a conflict still says who holds the lock");

    // The holder itself still writes and unlocks; an admin may act on any lock.
    assert_eq!(
        req(p, "POST", "/v1/state/staging?ID=lock-a", state_json(2, "L", 1).as_bytes(), ci).0,
        200
    );
    assert_eq!(
        req(
            p,
            "POST",
            "/v1/state/staging?ID=lock-a",
            state_json(3, "L", 1).as_bytes(),
            Some(&t.admin)
        )
        .0,
        200
    );
    assert_eq!(req(p, "UNLOCK", "/v1/state/staging", LOCK_A.as_bytes(), ci).0, 200);
}

/// Finding 2, Terraform's own flows through a shared server: a CI token
/// locks, writes and unlocks; `terraform force-unlock` needs an admin token.
#[test]
fn f02_terraform_flows_still_work_through_the_server() {
    let store = TestStore::s3("f02tf");
    let t = tokens();
    let s = serve(&store, &["--tokens", t.path()]);
    let url = format!("http://127.0.0.1:{}", s.port);
    let root = TfRoot::demo();
    let tf = |token: &str, args: &[&str]| {
        let mut cmd = platctl();
        cmd.args(["tf", "--env", "staging", "--server", &url, "--dir"])
            .arg(root.path())
            .arg("--")
            .args(args)
            .env("TF_HTTP_USERNAME", "ci")
            .env("TF_HTTP_PASSWORD", token)
            .env("PLATCTL_AUDIT_LOG", &store.audit);
        run(&mut cmd)
    };
    ok(tf(&t.writer, &["init", "-input=false", "-no-color"]));
    let apply = ok(tf(&t.writer, &["apply", "-auto-approve", "-input=false", "-no-color"]));
    assert!(stdout(&apply).contains("Apply complete! Resources: 3 added"), "{}", stdout(&apply));
    assert!(
        store.current("staging")["serial"].as_u64() >= Some(1),
        "the CI token wrote through its own lock"
    );
    let (_, row, _) = snapshot(&store);
    assert!(row["lock"].is_null(), "and released it: {row}");

    // A run that died holding the lock: only an admin may force-unlock it.
    let dead = lock_body("dead-run");
    assert_eq!(req(s.port, "LOCK", "/v1/state/staging", dead.as_bytes(), Some(&t.writer)).0, 200);
    let refused = tf(&t.writer, &["force-unlock", "-force", "dead-run"]);
    assert!(!refused.status.success(), "a CI token cannot force-unlock");
    assert_eq!(snapshot(&store).1["lock"]["ID"], "dead-run");
    ok(tf(&t.admin, &["force-unlock", "-force", "dead-run"]));
    assert!(snapshot(&store).1["lock"].is_null(), "the admin's force-unlock removed it");
}

/// Finding 3: parallel POSTs carrying the same lock ID all got 200, yet the
/// current serial could end below an acknowledged one: acknowledged writes
/// were lost. Here across two server processes on the same store, too.
#[test]
fn f03_parallel_writes_never_lose_an_acknowledged_write() {
    let store = TestStore::s3("f03");
    let (a, b) = (serve(&store, &[]), serve(&store, &[]));
    assert_eq!(http_with(a.port, "LOCK", "/v1/state/race", LOCK_A.as_bytes(), &[]).0, 200);
    let mut base = 0u64;
    for round in 0..4 {
        let writers: Vec<_> = (1..=12u64)
            .map(|i| {
                let serial = base + i;
                let port = if i % 2 == 0 { a.port } else { b.port };
                std::thread::spawn(move || {
                    let body = state_json(serial, "L", 40);
                    let (status, _) =
                        http_with(port, "POST", "/v1/state/race?ID=lock-a", body.as_bytes(), &[]);
                    (serial, status)
                })
            })
            .collect();
        let results: Vec<(u64, u16)> = writers.into_iter().map(|w| w.join().expect("w")).collect();
        let acked: Vec<u64> = results.iter().filter(|r| r.1 == 200).map(|r| r.0).collect();
        assert!(
            results.iter().all(|r| r.1 == 200 || r.1 == 409),
            "each write is acknowledged or refused: {results:?}"
        );
        let max_acked = *acked.iter().max().expect("at least one write succeeds");
        let current = store.current("race")["serial"].as_u64().expect("serial");
        assert_eq!(
            current, max_acked,
            "round {round}: the current serial is the highest acknowledged one ({results:?})"
        );
        base += 12;
    }
}

/// Finding 4: the `method` label took any method a client invented: 3,000
/// anonymous requests grew /metrics from 12 KB to 6.2 MB.
#[test]
fn f04_invented_methods_do_not_grow_the_metrics() {
    let store = TestStore::s3("f04");
    let t = tokens();
    let s = serve(&store, &["--tokens", t.path()]);
    let size = || req(s.port, "GET", "/metrics", b"", Some(&t.admin)).1.len();
    // The first request on the route creates its latency histogram: not growth.
    http_with(s.port, "X0PROBE", "/v1/state/staging", b"", &[]);
    size();
    let before = size();
    for i in 1..400 {
        http_with(s.port, &format!("X{i}PROBE"), "/v1/state/staging", b"", &[]);
    }
    let (_, body) = req(s.port, "GET", "/metrics", b"", Some(&t.admin));
    assert!(body.len() < before + 256, "/metrics grew from {before} to {} bytes", body.len());
    assert!(
        body.contains(r#"platctl_http_requests_total{route="/v1/state/{env}",method="other",status="401"} 400"#),
        "{body}"
    );
}

/// Finding 5: an S3 error during unlock put a presigned DELETE URL (credential
/// and signature) into the 503 body and the log, and the lock was deleted
/// after the client had been told 503.
#[test]
fn f05_store_errors_carry_no_url_and_a_503_says_what_changed() {
    let proxy = S3Proxy::start();
    let store = proxy.store("f05");
    let s = serve(&store, &[]);
    let p = s.port;

    // The store deletes the lock, but its answer is lost.
    assert_eq!(http_with(p, "LOCK", "/v1/state/staging", LOCK_A.as_bytes(), &[]).0, 200);
    proxy.arm("DELETE", ".tflock", Fault::DropAfterForward);
    let (status, body) = http_with(p, "UNLOCK", "/v1/state/staging", LOCK_A.as_bytes(), &[]);
    proxy.disarm();
    assert!(!body.contains("X-Amz-") && !body.contains("http://"), "no URL in the answer: {body}");
    assert_eq!(status, 200, "the lock is gone, so the unlock succeeded: {body}");
    assert!(snapshot(&store).1["lock"].is_null());

    // The store never sees the DELETE: a 503 that says nothing changed, and the lock stays.
    assert_eq!(http_with(p, "LOCK", "/v1/state/staging", LOCK_A.as_bytes(), &[]).0, 200);
    proxy.arm("DELETE", ".tflock", Fault::DropBeforeForward);
    let (status, body) = http_with(p, "UNLOCK", "/v1/state/staging", LOCK_A.as_bytes(), &[]);
    proxy.disarm();
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("Nothing was changed"), "{body}");
    assert!(!body.contains("X-Amz-") && !body.contains("http://"), "no URL in the answer: {body}");
    assert_eq!(snapshot(&store).1["lock"]["ID"], "lock-a", "the lock is still there");
    assert_eq!(http_with(p, "UNLOCK", "/v1/state/staging", LOCK_A.as_bytes(), &[]).0, 200);

    let log = s.log_text();
    assert!(log.contains("store error") || log.contains("the lock was released"), "{log}");
    for leak in ["X-Amz-Signature", "X-Amz-Credential", &proxy.endpoint()] {
        assert!(!log.contains(leak), "the server log holds {leak}:\n{log}");
    }
}

/// Finding 6: no header or body read timeouts: 300 half-open connections
/// stayed open indefinitely. With the defaults: 10 s to send headers or to
/// resume a stalled body, 64 connections per client address.
#[test]
fn f06_stalled_connections_are_closed_and_bounded_per_client() {
    let store = TestStore::s3("f06");
    let t = tokens();
    let s = serve(&store, &["--tokens", t.path()]);
    let p = s.port;
    // Silent connections and half-sent headers, 30 each from 10 addresses.
    let mut stalled: Vec<TcpStream> = Vec::new();
    for a in 0..10u8 {
        for i in 0..30 {
            let mut c = connect_from([127, 0, 1, a], p);
            if i % 2 == 1 {
                c.write_all(b"LOCK /v1/state/staging HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                    .expect("head");
            }
            stalled.push(c);
        }
    }
    // An authorised body that stalls halfway.
    let mut slow_body = connect_from([127, 0, 0, 9], p);
    write!(
        slow_body,
        "POST /v1/state/staging?ID=x HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nContent-Length: 100000\r\n\r\n{{\"version\":",
        basic(&t.writer)
    )
    .expect("head");
    stalled.push(slow_body);
    let started = Instant::now();
    for (i, c) in stalled.iter_mut().enumerate() {
        let left = Duration::from_secs(14).saturating_sub(started.elapsed());
        assert!(
            closed_by_server(c, left.max(Duration::from_millis(10))),
            "connection {i} is still open after {:?}",
            started.elapsed()
        );
    }

    // One address may hold 64 connections; the next is closed at once, while
    // another address is served.
    let held: Vec<TcpStream> = (0..64).map(|_| connect_from([127, 0, 2, 1], p)).collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut extra = connect_from([127, 0, 2, 1], p);
    assert!(closed_by_server(&mut extra, Duration::from_secs(2)), "the 65th connection is refused");
    assert_eq!(req(p, "GET", "/healthz", b"", None).0, 200, "another client is served meanwhile");
    drop(held);
    let (_, metrics) = req(p, "GET", "/metrics", b"", Some(&t.admin));
    assert!(metrics.contains("platctl_connections_refused_total 1"), "{metrics}");
}

/// Finding 7: DELETE of the state worked with a plain read/write/lock token
/// when the env was unlocked.
#[test]
fn f07_delete_needs_admin_and_the_lock() {
    let store = TestStore::s3("f07");
    let t = tokens();
    let s = serve(&store, &["--tokens", t.path()]);
    let (p, ci, admin) = (s.port, Some(t.writer.as_str()), Some(t.admin.as_str()));
    assert_eq!(req(p, "LOCK", "/v1/state/staging", LOCK_A.as_bytes(), ci).0, 200);
    assert_eq!(
        req(p, "POST", "/v1/state/staging?ID=lock-a", state_json(1, "L", 1).as_bytes(), ci).0,
        200
    );
    assert_eq!(req(p, "UNLOCK", "/v1/state/staging", LOCK_A.as_bytes(), ci).0, 200);
    let before = snapshot(&store);
    assert_eq!(req(p, "DELETE", "/v1/state/staging", b"", ci).0, 403, "unlocked, CI token");
    assert_eq!(req(p, "LOCK", "/v1/state/staging", LOCK_A.as_bytes(), ci).0, 200);
    assert_eq!(req(p, "DELETE", "/v1/state/staging?ID=lock-a", b"", ci).0, 403, "locked, CI");
    assert_eq!(req(p, "UNLOCK", "/v1/state/staging", LOCK_A.as_bytes(), ci).0, 200);
    let (status, text) = req(p, "DELETE", "/v1/state/staging", b"", admin);
    assert_eq!(status, 409, "an admin needs the lock too: {text}");
    assert_eq!(snapshot(&store), before, "nothing was deleted");
    assert_eq!(req(p, "LOCK", "/v1/state/staging", LOCK_A.as_bytes(), admin).0, 200);
    assert_eq!(req(p, "DELETE", "/v1/state/staging?ID=lock-a", b"", admin).0, 200);
    assert_eq!(req(p, "GET", "/v1/state/staging", b"", admin).0, 404);
}

/// Finding 8: anonymous requests wrote fsynced audit lines (500 empty
/// UNLOCKs, 500 lines), and denied attempts by known tokens were recorded as
/// actor `unknown`.
#[test]
fn f08_denied_attempts_are_audited_in_aggregate() {
    let store = TestStore::s3("f08");
    let t = tokens();
    let s = serve(&store, &["--tokens", t.path()]);
    for _ in 0..500 {
        assert_eq!(http_with(s.port, "UNLOCK", "/v1/state/staging", b"", &[]).0, 401);
    }
    for _ in 0..20 {
        assert_eq!(req(s.port, "UNLOCK", "/v1/state/staging", b"", Some(&t.writer)).0, 403);
    }
    assert!(
        store.audit_events().is_empty(),
        "no line per denied request: {} lines",
        store.audit_events().len()
    );
    s.stop();
    let denied: Vec<serde_json::Value> =
        store.audit_events().into_iter().filter(|e| e["outcome"] == "denied").collect();
    assert_eq!(denied.len(), 2, "one record per group: {denied:#?}");
    let anonymous = denied.iter().find(|e| e["actor"] == "anonymous").expect("anonymous");
    assert_eq!(anonymous["details"]["count"], 500);
    assert_eq!(anonymous["action"], "force_unlock");
    assert_eq!(anonymous["env"], "staging");
    let known = denied.iter().find(|e| e["actor"] == "ci-staging").expect("the token's principal");
    assert_eq!(known["details"]["count"], 20);
    assert_eq!(known["details"]["status"], 403);
}

/// Finding 9: every /metrics scrape downloaded every env's full state to
/// learn its serial and size.
#[test]
fn f09_metrics_read_sizes_without_downloading_state() {
    let proxy = S3Proxy::start();
    let store = proxy.store("f09");
    let s = serve(&store, &[]);
    for env in ["one", "two"] {
        let path = format!("/v1/state/{env}");
        assert_eq!(http_with(s.port, "LOCK", &path, LOCK_A.as_bytes(), &[]).0, 200);
        let body = state_json(1, "L", 3000);
        let (status, _) =
            http_with(s.port, "POST", &format!("{path}?ID=lock-a"), body.as_bytes(), &[]);
        assert_eq!(status, 200);
    }
    proxy.take_requests();
    let (status, metrics) = http_with(s.port, "GET", "/metrics", b"", &[]);
    assert_eq!(status, 200);
    assert!(metrics.contains(r#"platctl_state_bytes{env="two"}"#), "{metrics}");
    let seen = proxy.take_requests();
    let downloads: Vec<_> = seen
        .iter()
        .filter(|(m, path)| m == "GET" && path.ends_with("/terraform.tfstate"))
        .collect();
    assert!(downloads.is_empty(), "a scrape downloaded state: {downloads:?}");
    assert!(
        seen.iter().any(|(m, path)| m == "HEAD" && path.ends_with("/two/terraform.tfstate")),
        "{seen:?}"
    );
}

/// The keys under `prefix` in the test bucket, straight from S3's ListObjectsV2.
fn s3_keys(store: &TestStore, prefix: &str) -> Vec<String> {
    let StoreKind::S3 { bucket, prefix: root, .. } = &store.kind else { panic!("an S3 store") };
    let o = Command::new("curl")
        .args(["-sf", &format!("{}/{bucket}?list-type=2&prefix={root}/{prefix}", s3_endpoint())])
        .output()
        .expect("curl");
    String::from_utf8_lossy(&o.stdout)
        .split("<Key>")
        .skip(1)
        .filter_map(|k| k.split("</Key>").next())
        .map(|k| k.trim_start_matches(&format!("{root}/")).to_owned())
        .collect()
}

/// Finding 10: refused writes left their content objects in the store
/// forever; nothing reclaimed them.
#[test]
fn f10_gc_reclaims_what_refused_writes_left_and_keeps_every_version() {
    let store = TestStore::s3("f10");
    let s = serve(&store, &[]);
    let p = s.port;
    assert_eq!(http_with(p, "LOCK", "/v1/state/staging", LOCK_A.as_bytes(), &[]).0, 200);
    for serial in 1..=2 {
        let body = state_json(serial, "L", 2);
        assert_eq!(
            http_with(p, "POST", "/v1/state/staging?ID=lock-a", body.as_bytes(), &[]).0,
            200
        );
    }
    // Refused: wrong lock ID, then a serial regression.
    let refused = [("other", state_json(9, "L", 5)), ("lock-a", state_json(1, "L", 7))];
    for (id, body) in &refused {
        let path = format!("/v1/state/staging?ID={id}");
        assert_eq!(http_with(p, "POST", &path, body.as_bytes(), &[]).0, 409);
    }
    assert_eq!(http_with(p, "UNLOCK", "/v1/state/staging", LOCK_A.as_bytes(), &[]).0, 200);
    let contents = |store: &TestStore| {
        s3_keys(store, "staging/versions/").into_iter().filter(|k| k.ends_with(".tfstate")).count()
    };
    assert_eq!(contents(&store), 4, "two versions and two refused writes' content");
    let versions = store.versions("staging");

    // Young objects are kept by default; a dry run removes nothing.
    let young = json(&ok(run(store.platctl().args(["state", "gc", "--output", "json"]))));
    assert_eq!(young["envs"][0]["too_young"], 2, "{young}");
    let dry = json(&ok(run(store.platctl().args([
        "state",
        "gc",
        "--min-age",
        "0s",
        "--dry-run",
        "--output",
        "json",
    ]))));
    assert_eq!(dry["envs"][0]["removed"].as_array().map(Vec::len), Some(2), "{dry}");
    assert_eq!(contents(&store), 4);

    let done = json(&ok(run(store.platctl().args([
        "state",
        "gc",
        "--min-age",
        "0s",
        "--output",
        "json",
    ]))));
    assert_eq!(done["envs"][0]["removed"].as_array().map(Vec::len), Some(2), "{done}");
    assert_eq!(contents(&store), 2, "only the listed versions' content is left");
    assert_eq!(store.versions("staging"), versions, "every listed version is intact");
    for v in &versions {
        ok(run(store.platctl().args([
            "state",
            "show",
            "--env",
            "staging",
            "--version",
            v["id"].as_str().expect("id"),
        ])));
    }
    assert!(
        store.audit_events().iter().any(|e| e["action"] == "gc" && e["details"]["removed"] == 2)
    );

    // A locked env is skipped, not waited for and not touched.
    assert_eq!(http_with(p, "LOCK", "/v1/state/staging", LOCK_A.as_bytes(), &[]).0, 200);
    let body = state_json(9, "L", 9);
    assert_eq!(http_with(p, "POST", "/v1/state/staging?ID=other", body.as_bytes(), &[]).0, 409);
    let skipped = json(&ok(run(store.platctl().args([
        "state",
        "gc",
        "--min-age",
        "0s",
        "--output",
        "json",
    ]))));
    assert!(
        skipped["envs"][0]["skipped"].as_str().is_some_and(|w| w.contains("lock-a")),
        "{skipped}"
    );
    assert_eq!(contents(&store), 3);
}

/// Finding 11: only version, serial and lineage were validated:
/// `resources: "garbage"` was accepted, and a 100k-deep document was accepted
/// on write but could then not be rolled back to.
#[test]
fn f11_state_shape_and_depth_are_validated() {
    let store = TestStore::s3("f11");
    let s = serve(&store, &[]);
    let p = s.port;
    assert_eq!(http_with(p, "LOCK", "/v1/state/staging", LOCK_A.as_bytes(), &[]).0, 200);
    let deep = format!(
        r#"{{"version":4,"serial":2,"lineage":"L","resources":[],"outputs":{{"x":{{"value":{}1{}}}}}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    for (body, needle) in [
        (
            r#"{"version":4,"serial":1,"lineage":"L","resources":"garbage","outputs":{}}"#
                .to_owned(),
            "resources",
        ),
        (
            r#"{"version":4,"serial":1,"lineage":"L","resources":[1,2],"outputs":{}}"#.to_owned(),
            "resources",
        ),
        (
            r#"{"version":4,"serial":1,"lineage":"L","resources":[],"outputs":[]}"#.to_owned(),
            "outputs",
        ),
        (deep, "nested"),
    ] {
        let (status, text) =
            http_with(p, "POST", "/v1/state/staging?ID=lock-a", body.as_bytes(), &[]);
        assert_eq!(status, 400, "{text}");
        assert!(text.contains(needle), "{text}");
    }
    assert!(store.versions("staging").is_empty(), "nothing was written");
}

/// Finding 12: after a crash, an extra version that was never current was
/// listed beside the real one with the same serial, and nothing marked it.
#[test]
fn f12_a_version_left_by_an_interrupted_write_is_marked() {
    let proxy = S3Proxy::start();
    let store = proxy.store("f12");
    let s = serve(&store, &[]);
    let p = s.port;
    assert_eq!(http_with(p, "LOCK", "/v1/state/staging", LOCK_A.as_bytes(), &[]).0, 200);
    let write =
        |body: String| http_with(p, "POST", "/v1/state/staging?ID=lock-a", body.as_bytes(), &[]);
    assert_eq!(write(state_json(1, "L", 1)).0, 200);
    // The write records its version, then the store refuses the current state's PUT.
    proxy.arm("PUT", "/staging/terraform.tfstate", Fault::Status(403));
    let (status, refused) = write(state_json(2, "L", 2));
    proxy.disarm();
    assert_eq!(status, 503, "{refused}");
    // Terraform runs again: the same serial, other content.
    assert_eq!(write(state_json(2, "L", 3)).0, 200);
    let mut status = versions_status(&store, "staging");
    status.sort();
    assert_eq!(
        status,
        [(1, "superseded".to_owned()), (2, "current".to_owned()), (2, "never_current".to_owned())]
    );
    let table = stdout(&ok(run(store.platctl().args(["state", "versions", "--env", "staging"]))));
    assert!(table.contains("never current"), "{table}");
    // And the 503 said what had changed.
    assert!(
        refused.contains("was recorded but the current state") && !refused.contains("http://"),
        "{refused}"
    );
}

/// Finding 13: operator traps: no --store outside a git repository silently
/// created ./.platctl/store; --max-body-mib 0 was accepted, and then every
/// LOCK got 413. Also the TLS decision: a non-loopback address without TLS is
/// refused unless --allow-plaintext says a proxy terminates TLS.
#[test]
fn f13_operator_mistakes_are_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let o = run(platctl().current_dir(dir.path()).args(["state", "list"]));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--store") && stderr(&o).contains("git repository"),
        "{}",
        stderr(&o)
    );
    assert!(!dir.path().join(".platctl").exists(), "no store was created");

    let store = TestStore::s3("f13");
    let o = run(store.platctl().args(["state", "serve", "--max-body-mib", "0"]));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--max-body-mib"), "{}", stderr(&o));

    let t = tokens();
    let o = run(store.platctl().args([
        "state",
        "serve",
        "--listen",
        "0.0.0.0:0",
        "--tokens",
        t.path(),
    ]));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("plain HTTP") && stderr(&o).contains("--tls-cert"),
        "{}",
        stderr(&o)
    );
    let port = free_port();
    let child = store
        .platctl()
        .args(["state", "serve", "--listen", &format!("0.0.0.0:{port}"), "--tokens", t.path()])
        .arg("--allow-plaintext")
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve");
    wait_for(20, || TcpStream::connect(("127.0.0.1", port)).ok()).expect("listening");
    assert_eq!(req(port, "GET", "/healthz", b"", None).0, 200);
    kill(child.id(), "TERM");
    let out = child.wait_with_output().expect("wait");
    assert!(stderr(&out).contains("WARNING: --allow-plaintext"), "{}", stderr(&out));
}

/// Finding 14: LockInfo was stored as sent (a 50 MB LockInfo was accepted and
/// re-read by every `state list`), and an empty or future `Created` showed as
/// lock age 0s.
#[test]
fn f14_lockinfo_is_bounded_and_lock_age_uses_the_server_clock() {
    let store = TestStore::s3("f14");
    let s = serve(&store, &[]);
    let huge = format!(r#"{{"ID":"big","Info":"{}"}}"#, "a".repeat(2 * MIB));
    let (status, text) = http_with(s.port, "LOCK", "/v1/state/big", huge.as_bytes(), &[]);
    assert_eq!(status, 413, "{text}");
    assert!(snapshot_lock(&store, "big").is_none(), "no lock was written");

    for (env, created) in [("future", "2999-01-01T00:00:00Z"), ("empty", "")] {
        let body = LOCK_A.replace("2026-11-25T10:00:00Z", created);
        assert_eq!(
            http_with(s.port, "LOCK", &format!("/v1/state/{env}"), body.as_bytes(), &[]).0,
            200
        );
    }
    std::thread::sleep(Duration::from_millis(2500));
    for env in ["future", "empty"] {
        let lock = snapshot_lock(&store, env).expect("locked");
        assert!(lock["age_seconds"].as_i64().is_some_and(|a| a >= 2), "{env}: {lock}");
        assert!(lock["locked_at"].as_str().is_some_and(|t| t.starts_with("20")), "{env}: {lock}");
    }
}

fn snapshot_lock(store: &TestStore, env: &str) -> Option<serde_json::Value> {
    let list = json(&ok(run(store.platctl().args(["state", "list", "--output", "json"]))));
    list.as_array()?
        .iter()
        .find(|r| r["env"] == env)
        .map(|r| r["lock"].clone())
        .filter(|l| !l.is_null())
}

/// Finding 15: `secrets seal` accepted a 1024-bit RSA certificate silently,
/// and read an unquoted `namespace: no` as a YAML 1.1 boolean.
#[test]
fn f15_seal_refuses_weak_keys_and_reads_yaml_1_2() {
    let dir = tempfile::tempdir().expect("tmp");
    let cert = |bits: u32| {
        let (key, cert) =
            (dir.path().join(format!("{bits}.key")), dir.path().join(format!("{bits}.pem")));
        let made = Command::new("openssl")
            .args(["req", "-x509", "-newkey", &format!("rsa:{bits}"), "-nodes", "-days", "1"])
            .args(["-subj", "/CN=sealed-secrets", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("openssl");
        assert!(made.status.success(), "{}", stderr(&made));
        cert
    };
    let seal = |cert: &std::path::Path, manifest: &str| {
        let mut child = platctl()
            .args(["secrets", "seal", "--cert"])
            .arg(cert)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("seal");
        child.stdin.take().expect("stdin").write_all(manifest.as_bytes()).expect("write");
        child.wait_with_output().expect("wait")
    };
    let manifest = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: no\nstringData:\n  password: s3cr3t\n";
    let weak = seal(&cert(1024), &manifest.replace("namespace: no", "namespace: app"));
    assert!(!weak.status.success(), "a 1024-bit key is refused");
    assert!(
        stderr(&weak).contains("1024-bit") && stderr(&weak).contains("2048"),
        "{}",
        stderr(&weak)
    );
    assert!(weak.stdout.is_empty(), "nothing sealed");

    let sealed = ok(seal(&cert(2048), manifest));
    let out = stdout(&sealed);
    assert!(
        out.lines().any(|l| l.trim() == "namespace: \"no\"" || l.trim() == "namespace: 'no'"),
        "`namespace: no` is the namespace \"no\":\n{out}"
    );
}

/// Finding 16: a rollback re-serialised the state with sorted keys, although
/// the comment said field order was preserved.
#[test]
fn f16_rollback_reproduces_the_version_bytes() {
    let store = TestStore::s3("f16");
    let s = serve(&store, &[]);
    let p = s.port;
    // Terraform's own order (version, terraform_version, serial, lineage,
    // outputs, resources, check_results), compact here, with a unicode escape.
    let v1 = "{\"version\":4,\"terraform_version\":\"1.11.4\",\"serial\":1,\"lineage\":\"L\",\"outputs\":{\"zeta\":{\"value\":\"caf\\u00e9\",\"type\":\"string\"},\"alpha\":{\"value\":1,\"type\":\"number\"}},\"resources\":[],\"check_results\":null}\n";
    assert_eq!(http_with(p, "LOCK", "/v1/state/staging", LOCK_A.as_bytes(), &[]).0, 200);
    assert_eq!(http_with(p, "POST", "/v1/state/staging?ID=lock-a", v1.as_bytes(), &[]).0, 200);
    let v2 = state_json(2, "L", 1);
    assert_eq!(http_with(p, "POST", "/v1/state/staging?ID=lock-a", v2.as_bytes(), &[]).0, 200);
    assert_eq!(http_with(p, "UNLOCK", "/v1/state/staging", LOCK_A.as_bytes(), &[]).0, 200);
    let first = store.versions("staging")[0]["id"].as_str().expect("id").to_owned();
    let body = format!(r#"{{"to":"{first}","reason":"f16"}}"#);
    let (status, text) = http_with(p, "POST", "/v1/state/staging/rollback", body.as_bytes(), &[]);
    assert_eq!(status, 200, "{text}");
    let (status, current) = http_with(p, "GET", "/v1/state/staging", b"", &[]);
    assert_eq!(status, 200);
    assert_eq!(current, v1.replace("\"serial\":1,", "\"serial\":3,"), "only the serial changed");
}
