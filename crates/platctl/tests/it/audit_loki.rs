//! Audit events to Loki, driving the real `platctl` against a local receiver
//! that decodes the real push format (JSON, gzip): `platctl audit ship`
//! through an outage, 500/429 and slow answers; idempotent re-runs; SIGKILL
//! mid-batch; the live sink in `platctl state serve`; metrics for promtool.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use platctl_audit::{Action, AuditEvent, Outcome};
use platctl_audit_loki::receiver::{Fault, Received, Receiver};

use crate::state_crash::{free_port, http};
use crate::support::*;

const LOCK: &str = r#"{"ID":"LOCKID","Operation":"OperationTypeApply","Who":"ci@runner","Version":"1.11.4","Created":"2026-11-25T10:00:00Z","Path":""}"#;

/// platctl with no Loki settings inherited, fast retries.
fn platctl_loki() -> Command {
    let mut cmd = platctl();
    for var in [
        "PLATCTL_LOKI_URL",
        "PLATCTL_LOKI_TENANT",
        "PLATCTL_LOKI_USERNAME",
        "PLATCTL_LOKI_PASSWORD",
        "PLATCTL_LOKI_TOKEN",
        "PLATCTL_LOKI_SPOOL",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("PLATCTL_LOKI_MIN_BACKOFF_MS", "20")
        .env("PLATCTL_LOKI_MAX_BACKOFF_MS", "300")
        .env("PLATCTL_LOKI_BATCH_WAIT_MS", "50");
    cmd
}

fn event(i: u64) -> AuditEvent {
    let (env, action) = match i % 4 {
        0 => ("production", Action::StateWrite),
        1 => ("staging", Action::Lock),
        2 => ("production", Action::ForceUnlock),
        _ => ("staging", Action::StateWrite),
    };
    AuditEvent::new(action, Outcome::Success, format!("actor{}", i % 7))
        .env(env)
        .serial(i)
        .lock_id(format!("lock-{i}"))
}

fn write_events(path: &Path, events: &[AuditEvent]) {
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).expect("open");
    for ev in events {
        let mut line = serde_json::to_vec(ev).expect("json");
        line.push(b'\n');
        f.write_all(&line).expect("write");
    }
}

fn free_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port()))
}

fn labels_of(ev: &serde_json::Value) -> Vec<(String, String)> {
    vec![
        ("action".into(), ev["action"].as_str().expect("action").into()),
        ("env".into(), ev["env"].as_str().unwrap_or("none").into()),
        ("source".into(), "platctl".into()),
    ]
}

/// After dedupe by event_id, every expected event arrived exactly once, with
/// the labels and timestamp derived from it, in the expected order per stream.
/// Returns the number of duplicate deliveries.
#[track_caller]
fn assert_exactly_once_in_order(expected: &[serde_json::Value], got: &[Received]) -> usize {
    let mut seen = HashSet::new();
    let mut per_stream: BTreeMap<Vec<(String, String)>, Vec<String>> = BTreeMap::new();
    let mut dups = 0;
    for r in got {
        let ev: serde_json::Value = serde_json::from_str(&r.line).expect("line is the event JSON");
        let id = ev["event_id"].as_str().expect("event_id").to_owned();
        assert_eq!(r.metadata.get("event_id"), Some(&id), "event_id in structured metadata");
        assert_eq!(
            r.metadata.get("actor").map(String::as_str),
            ev["actor"].as_str(),
            "actor in structured metadata"
        );
        let labels: Vec<(String, String)> = r.labels.clone().into_iter().collect();
        assert_eq!(labels, labels_of(&ev), "low-cardinality labels only");
        let t = time::OffsetDateTime::parse(
            ev["time"].as_str().expect("time"),
            &time::format_description::well_known::Rfc3339,
        )
        .expect("rfc3339");
        assert_eq!(r.ts, t.unix_timestamp_nanos().to_string(), "timestamp = event time in ns");
        if seen.insert(id.clone()) {
            per_stream.entry(labels).or_default().push(id);
        } else {
            dups += 1;
        }
    }
    let mut want: BTreeMap<Vec<(String, String)>, Vec<String>> = BTreeMap::new();
    for ev in expected {
        want.entry(labels_of(ev))
            .or_default()
            .push(ev["event_id"].as_str().expect("id").to_owned());
    }
    assert_eq!(seen.len(), expected.len(), "every event exactly once after dedupe");
    assert_eq!(per_stream, want, "same events, in order, per stream");
    dups
}

fn as_json(events: &[AuditEvent]) -> Vec<serde_json::Value> {
    events.iter().map(|e| serde_json::to_value(e).expect("json")).collect()
}

#[test]
fn ship_backfills_through_outage_errors_and_slow_receiver() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("audit.jsonl");
    let metrics = dir.path().join("ship.prom");
    let events: Vec<AuditEvent> = (0..3000).map(event).collect();
    write_events(&file, &events);
    let addr = free_addr();
    // Loki is down when the backfill starts.
    let child = platctl_loki()
        .args(["audit", "ship", "--from"])
        .arg(&file)
        .args([
            "--loki",
            &format!("http://{addr}"),
            "--batch-events",
            "100",
            "--output",
            "json",
            "--metrics",
        ])
        .arg(&metrics)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(1500));
    let rx = Receiver::start(addr, true).expect("receiver");
    for f in [
        Fault::Status(500),
        Fault::Status(429),
        Fault::Status(503),
        Fault::Delay(Duration::from_millis(400)),
        Fault::Status(429),
    ] {
        rx.push_fault(f);
    }
    for _ in 0..5 {
        rx.push_fault(Fault::Delay(Duration::from_millis(200)));
    }
    let out = ok(child.wait_with_output().expect("wait"));
    let report = json(&out);
    assert_eq!(report["delivered"], true, "{report}");
    assert_eq!(report["sent_events"], 3000, "{report}");
    assert_eq!(report["platctl_audit_spool_pending_events"], 0, "{report}");
    let errors = report["platctl_audit_ship_errors_total"].as_u64().expect("errors");
    assert!(
        errors >= 5,
        "refused connections, 500, 429, 503, 429 are each a failed attempt: {report}"
    );
    let dups = assert_exactly_once_in_order(&as_json(&events), &rx.entries());
    assert_eq!(dups, 0, "nothing is re-sent once acknowledged");
    assert!(
        rx.headers().iter().all(|h| h.get("content-encoding").map(String::as_str) == Some("gzip"))
    );
    assert!(rx.accepted_requests() >= 30, "batched by size: 100 events per push");
    let text = std::fs::read_to_string(&metrics).expect("metrics file");
    let mismatches = platctl_check::metric_labels::table_mismatches(
        "platctl audit ship (pushed by the drift CronJob)",
        &text,
    );
    assert!(mismatches.is_empty(), "OBS007's table is stale: {mismatches:?}");
    assert!(text.contains(&format!("platctl_audit_ship_errors_total {errors}\n")), "{text}");
    assert!(text.contains("platctl_audit_spool_pending_events 0\n"), "{text}");
    let promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&metrics).expect("open"))
        .output()
        .expect("promtool is installed");
    assert!(
        promtool.status.success(),
        "promtool check metrics:\n{}{}",
        stdout(&promtool),
        stderr(&promtool)
    );
}

#[test]
fn ship_is_idempotent_and_a_resend_is_an_exact_duplicate() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("audit.jsonl");
    let first: Vec<AuditEvent> = (0..200).map(event).collect();
    write_events(&file, &first);
    let rx = Receiver::start("127.0.0.1:0".parse().expect("addr"), true).expect("receiver");
    let ship = |extra: &[&str]| {
        json(&ok(run(platctl_loki()
            .args(["audit", "ship", "--from"])
            .arg(&file)
            .args(["--loki", &rx.url(), "--output", "json"])
            .args(extra))))
    };
    assert_eq!(ship(&[])["sent_events"], 200);
    assert_eq!(ship(&[])["sent_events"], 0, "a re-run sends nothing new");
    assert_eq!(rx.accepted_entries(), 200);
    // Events appended later: only they are sent.
    let more: Vec<AuditEvent> = (200..260).map(event).collect();
    write_events(&file, &more);
    assert_eq!(ship(&[])["sent_events"], 60);
    let all: Vec<AuditEvent> = first.iter().chain(&more).cloned().collect();
    assert_eq!(assert_exactly_once_in_order(&as_json(&all), &rx.entries()), 0);
    // Re-sending everything produces byte-identical entries (labels, ns timestamp,
    // line, metadata): what Loki stores once.
    assert_eq!(ship(&["--from-start"])["sent_events"], 260);
    let got = rx.entries();
    let (a, b) = got.split_at(260);
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort_by(|x, y| x.line.cmp(&y.line));
    b.sort_by(|x, y| x.line.cmp(&y.line));
    assert_eq!(a, b, "a re-sent event is an exact duplicate");
    // Another destination keeps its own cursor.
    let rx2 = Receiver::start("127.0.0.1:0".parse().expect("addr"), true).expect("receiver");
    let o = json(&ok(run(platctl_loki().args(["audit", "ship", "--from"]).arg(&file).args([
        "--loki",
        &rx2.url(),
        "--output",
        "json",
    ]))));
    assert_eq!(o["sent_events"], 260);
}

#[test]
fn ship_refuses_bad_input_and_4xx_with_clear_errors() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("audit.jsonl");
    write_events(&file, &(0..10).map(event).collect::<Vec<_>>());
    let rx = Receiver::start("127.0.0.1:0".parse().expect("addr"), true).expect("receiver");
    rx.set_always(Some(Fault::Status(401)));
    let o = run(platctl_loki()
        .args(["audit", "ship", "--from"])
        .arg(&file)
        .args(["--loki", &rx.url(), "--output", "json"])
        .env("PLATCTL_LOKI_PASSWORD", "hunter2-secret")
        .env("PLATCTL_LOKI_USERNAME", "audit")
        .env("PLATCTL_LOG", "debug"));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(rx.requests(), 1, "a 401 is not retried");
    let report = json(&o);
    assert_eq!(report["rejected"]["status"], 401);
    assert_eq!(report["platctl_audit_spool_pending_events"], 10, "events are kept");
    assert!(
        stderr(&o).contains("HTTP 401") && stderr(&o).contains("PLATCTL_LOKI_USERNAME"),
        "{}",
        stderr(&o)
    );
    assert!(
        !stderr(&o).contains("hunter2") && !stdout(&o).contains("hunter2"),
        "no credential in output"
    );
    // Without a URL: usage error naming the fix.
    let o = run(platctl_loki().args(["audit", "ship", "--from"]).arg(&file));
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--loki") && stderr(&o).contains("PLATCTL_LOKI_URL"),
        "{}",
        stderr(&o)
    );
    // A line that is not an event: named by offset, nothing after it sent.
    rx.set_always(None);
    let bad = dir.path().join("bad.jsonl");
    write_events(&bad, &[event(1)]);
    std::fs::OpenOptions::new()
        .append(true)
        .open(&bad)
        .expect("open")
        .write_all(b"{\"not\":\"an event\"}\n")
        .expect("write");
    let o =
        run(platctl_loki().args(["audit", "ship", "--from"]).arg(&bad).args(["--loki", &rx.url()]));
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("bad.jsonl") && stderr(&o).contains("byte offset"),
        "{}",
        stderr(&o)
    );
    assert_eq!(rx.accepted_entries(), 0, "no partial batch from a file with a bad line");
}

#[test]
fn ship_killed_mid_batch_loses_nothing_on_restart() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("audit.jsonl");
    let events: Vec<AuditEvent> = (0..4000).map(event).collect();
    write_events(&file, &events);
    let rx = Receiver::start("127.0.0.1:0".parse().expect("addr"), true).expect("receiver");
    rx.set_always(Some(Fault::Delay(Duration::from_millis(300))));
    let mut child = platctl_loki()
        .args(["audit", "ship", "--from"])
        .arg(&file)
        .args(["--loki", &rx.url(), "--batch-events", "100"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    // Kill while a batch is in flight (each push takes 300 ms; several acknowledged already).
    wait_for(30, || {
        (rx.accepted_requests() >= 3 && rx.requests() > rx.accepted_requests()).then_some(())
    })
    .expect("a batch in flight");
    child.kill().expect("SIGKILL");
    let status = child.wait().expect("wait");
    assert!(status.code().is_none(), "killed by a signal");
    std::thread::sleep(Duration::from_millis(400));
    let before = rx.accepted_entries();
    assert!(before > 0 && before < 4000, "killed mid-way: {before}");
    rx.set_always(None);
    let o = json(&ok(run(platctl_loki().args(["audit", "ship", "--from"]).arg(&file).args([
        "--loki",
        &rx.url(),
        "--batch-events",
        "100",
        "--output",
        "json",
    ]))));
    assert_eq!(o["delivered"], true);
    let dups = assert_exactly_once_in_order(&as_json(&events), &rx.entries());
    assert!(dups <= 100, "at most the batch in flight is re-sent: {dups}");
}

struct Server(std::process::Child, u16);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(store: &TestStore, loki: &str) -> Server {
    let port = free_port();
    let mut cmd = platctl_loki();
    store.apply(&mut cmd);
    let child = cmd
        .args(["state", "serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("PLATCTL_LOKI_URL", loki)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve");
    wait_for(20, || std::net::TcpStream::connect(("127.0.0.1", port)).ok())
        .expect("server listening");
    Server(child, port)
}

fn lock_unlock(port: u16, env: &str, n: usize) {
    for i in 0..n {
        let body = LOCK.replace("LOCKID", &format!("id-{env}-{i}"));
        assert_eq!(http(port, "LOCK", &format!("/v1/state/{env}"), body.as_bytes()).0, 200);
        assert_eq!(http(port, "UNLOCK", &format!("/v1/state/{env}"), body.as_bytes()).0, 200);
    }
}

#[test]
fn live_sink_spools_through_outage_and_sigkill_then_ships() {
    let store = TestStore::file();
    let addr = free_addr();
    let loki = format!("http://{addr}");
    // Loki down: the server acknowledges operations; each event is in the spool first.
    let mut server = serve(&store, &loki);
    lock_unlock(server.1, "staging", 10);
    lock_unlock(server.1, "production", 5);
    server.0.kill().expect("SIGKILL");
    let _ = server.0.wait();
    let logged = store.audit_events();
    assert_eq!(logged.len(), 30, "JSON Lines log has every event");
    let spool = store.audit.with_file_name("audit.jsonl.loki-spool");
    let spooled = std::fs::read_to_string(spool.join("spool.jsonl")).expect("spool file");
    assert_eq!(
        spooled.lines().count(),
        30,
        "every acknowledged event is in the spool after SIGKILL"
    );
    // Loki back: `platctl audit ship` drains the spool (default location from the audit log).
    let rx = Receiver::start(addr, true).expect("receiver");
    rx.push_fault(Fault::Status(500));
    let o = json(&ok(run(platctl_loki()
        .args(["audit", "ship", "--output", "json"])
        .env("PLATCTL_STORE", store.url())
        .env("PLATCTL_AUDIT_LOG", &store.audit)
        .env("PLATCTL_LOKI_URL", &loki))));
    assert_eq!(o["sent_events"], 30, "{o}");
    assert_eq!(assert_exactly_once_in_order(&logged, &rx.entries()), 0);
    // A running server ships in the background, without `audit ship`.
    let server = serve(&store, &loki);
    lock_unlock(server.1, "staging", 3);
    let logged = store.audit_events();
    let deadline = Instant::now() + Duration::from_secs(20);
    while rx.accepted_entries() < 36 {
        assert!(Instant::now() < deadline, "background shipping: {} of 36", rx.accepted_entries());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(assert_exactly_once_in_order(&logged, &rx.entries()), 0);
    // A short-lived command delivers its event before it exits (exit flush).
    let body = LOCK.replace("LOCKID", "held-by-ci");
    assert_eq!(http(server.1, "LOCK", "/v1/state/production", body.as_bytes()).0, 200);
    drop(server);
    let before = rx.accepted_entries();
    ok(run(platctl_loki()
        .args(["state", "unlock", "--env", "production", "--reason", "runner died"])
        .env("PLATCTL_STORE", store.url())
        .env("PLATCTL_AUDIT_LOG", &store.audit)
        .env("PLATCTL_LOKI_URL", &loki)
        .env("PLATCTL_LOKI_BATCH_WAIT_MS", "5000")));
    let got = rx.entries();
    assert!(rx.accepted_entries() > before, "delivered by the time the command exited");
    let last: serde_json::Value =
        serde_json::from_str(&got.last().expect("entry").line).expect("event");
    assert_eq!(last["action"], "force_unlock");
    assert_eq!(last["details"]["reason"], "runner died");
    assert_eq!(assert_exactly_once_in_order(&store.audit_events(), &got), 0);
}

#[test]
fn ship_timeout_keeps_events_and_says_so() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("audit.jsonl");
    write_events(&file, &(0..50).map(event).collect::<Vec<_>>());
    let rx = Receiver::start("127.0.0.1:0".parse().expect("addr"), true).expect("receiver");
    rx.set_always(Some(Fault::Status(503)));
    let started = Instant::now();
    let o = run(platctl_loki().args(["audit", "ship", "--from"]).arg(&file).args([
        "--loki",
        &rx.url(),
        "--timeout",
        "1",
        "--output",
        "json",
    ]));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "gave up near the deadline: {:?}",
        started.elapsed()
    );
    assert!(rx.requests() >= 2, "503 is retried");
    let report = json(&o);
    assert_eq!(report["delivered"], false);
    assert_eq!(report["platctl_audit_spool_pending_events"], 50);
    assert!(stderr(&o).contains("--timeout reached"), "{}", stderr(&o));
    rx.set_always(None);
    assert_eq!(
        json(&ok(run(platctl_loki().args(["audit", "ship", "--from"]).arg(&file).args([
            "--loki",
            &rx.url(),
            "--output",
            "json"
        ]))))["sent_events"],
        50
    );
}
