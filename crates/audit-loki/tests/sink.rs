//! The live sink against the local receiver: outage, 500/429, slow answers,
//! exit flush, rejection, auth headers.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use platctl_audit::{Action, AuditEvent, AuditSink, Outcome};
use platctl_audit_loki::receiver::{Fault, Received, Receiver};
use platctl_audit_loki::{Auth, LokiConfig, LokiSink, Spool};

fn cfg(url: &str) -> LokiConfig {
    let mut c = LokiConfig::new(url).expect("config");
    c.batch_max_events = 7;
    c.batch_wait = Duration::from_millis(20);
    c.min_backoff = Duration::from_millis(20);
    c.max_backoff = Duration::from_millis(200);
    c.request_timeout = Duration::from_secs(2);
    c.exit_flush = Duration::from_secs(10);
    c
}

fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

fn event(i: u64) -> AuditEvent {
    let (env, action) = match i % 3 {
        0 => ("production", Action::StateWrite),
        1 => ("staging", Action::Lock),
        _ => ("production", Action::ForceUnlock),
    };
    AuditEvent::new(action, Outcome::Success, format!("actor{i}")).env(env).serial(i)
}

/// After dedupe by event_id every sent event arrives exactly once, and within
/// each stream the order is the send order.
fn assert_exactly_once_in_order(sent: &[AuditEvent], got: &[Received]) {
    let mut seen = HashSet::new();
    let mut per_stream: BTreeMap<Vec<(String, String)>, Vec<String>> = BTreeMap::new();
    for r in got {
        let id = r.metadata.get("event_id").expect("event_id in structured metadata").clone();
        let ev: AuditEvent = serde_json::from_str(&r.line).expect("line is an event");
        assert_eq!(ev.event_id.to_string(), id);
        assert_eq!(r.ts, ev.time.unix_timestamp_nanos().to_string());
        if seen.insert(id.clone()) {
            per_stream.entry(r.labels.clone().into_iter().collect()).or_default().push(id);
        }
    }
    assert_eq!(seen.len(), sent.len(), "every event once after dedupe");
    for ev in sent {
        assert!(seen.contains(&ev.event_id.to_string()), "event {} missing", ev.event_id);
        let labels: Vec<(String, String)> = [
            ("action".to_owned(), ev.action.as_str().to_owned()),
            ("env".to_owned(), ev.env.clone().unwrap_or_default()),
            ("source".to_owned(), "platctl".to_owned()),
        ]
        .into_iter()
        .collect();
        assert!(per_stream.contains_key(&labels), "stream {labels:?} missing");
    }
    for (labels, ids) in &per_stream {
        let expected: Vec<String> = sent
            .iter()
            .filter(|e| {
                e.action.as_str() == labels[0].1 && e.env.as_deref() == Some(labels[1].1.as_str())
            })
            .map(|e| e.event_id.to_string())
            .collect();
        assert_eq!(ids, &expected, "order within stream {labels:?}");
    }
}

fn wait_for(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let end = Instant::now() + timeout;
    while !ok() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn outage_500_429_and_slow_receiver_lose_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let addr = free_addr();
    // Loki is down: nothing listens on addr.
    let sink =
        LokiSink::new(cfg(&format!("http://{addr}")), dir.path().join("spool")).expect("sink");
    let mut sent = Vec::new();
    for i in 0..40 {
        let ev = event(i);
        sink.record(&ev).expect("record returns once spooled");
        sent.push(ev);
    }
    std::thread::sleep(Duration::from_millis(400));
    assert!(
        sink.metrics().errors_total.load(std::sync::atomic::Ordering::Relaxed) > 0,
        "connection refused counted"
    );
    assert_eq!(
        Spool::new(dir.path().join("spool")).pending().expect("pending"),
        40,
        "all spooled while Loki is down"
    );
    // Loki comes back, but answers 500, 429, then slowly.
    let rx = Receiver::start(addr, true).expect("receiver");
    rx.push_fault(Fault::Status(500));
    rx.push_fault(Fault::Status(503));
    rx.push_fault(Fault::Status(429));
    rx.push_fault(Fault::Delay(Duration::from_millis(300)));
    rx.push_fault(Fault::Status(500));
    for i in 40..100 {
        let ev = event(i);
        sink.record(&ev).expect("record");
        sent.push(ev);
    }
    wait_for("delivery", Duration::from_secs(20), || {
        let ids: HashSet<String> =
            rx.entries().iter().filter_map(|r| r.metadata.get("event_id").cloned()).collect();
        ids.len() == sent.len()
    });
    drop(sink);
    assert_exactly_once_in_order(&sent, &rx.entries());
    assert_eq!(Spool::new(dir.path().join("spool")).pending().expect("pending"), 0);
    let h = rx.headers();
    assert!(
        h.iter().all(|h| h.get("content-encoding").map(String::as_str) == Some("gzip")),
        "gzip bodies"
    );
}

#[test]
fn exit_flush_leaves_undelivered_events_in_spool_for_next_run() {
    let dir = tempfile::tempdir().expect("tmp");
    let addr = free_addr();
    let mut c = cfg(&format!("http://{addr}"));
    c.exit_flush = Duration::from_millis(300);
    let sink = LokiSink::new(c.clone(), dir.path()).expect("sink");
    let sent: Vec<AuditEvent> = (0..20).map(event).collect();
    for ev in &sent {
        sink.record(ev).expect("record");
    }
    let started = Instant::now();
    drop(sink);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "exit is bounded by exit_flush: {:?}",
        started.elapsed()
    );
    assert_eq!(
        Spool::new(dir.path()).pending().expect("pending"),
        20,
        "nothing lost, nothing delivered"
    );
    // The next run (a new sink on the same spool) delivers them.
    let rx = Receiver::start(addr, true).expect("receiver");
    let sink = LokiSink::new(c, dir.path()).expect("sink");
    wait_for("delivery", Duration::from_secs(10), || rx.accepted_entries() >= 20);
    drop(sink);
    assert_exactly_once_in_order(&sent, &rx.entries());
}

#[test]
fn non_retryable_4xx_keeps_events_and_auth_headers_are_sent() {
    let dir = tempfile::tempdir().expect("tmp");
    let rx = Receiver::start("127.0.0.1:0".parse().expect("addr"), true).expect("receiver");
    rx.set_always(Some(Fault::Status(400)));
    let mut c = cfg(&rx.url());
    c.tenant = Some("platform".into());
    c.auth = Auth::Basic { username: "audit".into(), password: "s3cret".into() };
    c.exit_flush = Duration::from_millis(500);
    let sink = LokiSink::new(c.clone(), dir.path()).expect("sink");
    let sent: Vec<AuditEvent> = (0..10).map(event).collect();
    for ev in &sent {
        sink.record(ev).expect("record");
    }
    wait_for("a rejected request", Duration::from_secs(5), || rx.requests() >= 1);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(rx.requests(), 1, "a 400 is not retried");
    drop(sink);
    assert_eq!(
        Spool::new(dir.path()).pending().expect("pending"),
        10,
        "rejected events stay spooled"
    );
    let h = &rx.headers()[0];
    assert_eq!(h.get("x-scope-orgid").map(String::as_str), Some("platform"));
    assert_eq!(h.get("authorization").map(String::as_str), Some("Basic YXVkaXQ6czNjcmV0"));
    // Fixed: the next run delivers them.
    rx.set_always(None);
    c.auth = Auth::Bearer("tok".into());
    let sink = LokiSink::new(c, dir.path()).expect("sink");
    wait_for("delivery", Duration::from_secs(10), || rx.accepted_entries() >= 10);
    drop(sink);
    assert_exactly_once_in_order(&sent, &rx.entries());
    assert_eq!(
        rx.headers().last().and_then(|h| h.get("authorization").cloned()).as_deref(),
        Some("Bearer tok")
    );
}

#[test]
fn concurrent_records_from_threads_all_arrive() {
    let dir = tempfile::tempdir().expect("tmp");
    let rx = Receiver::start("127.0.0.1:0".parse().expect("addr"), true).expect("receiver");
    rx.set_always(Some(Fault::Delay(Duration::from_millis(5))));
    let sink = LokiSink::new(cfg(&rx.url()), dir.path()).expect("sink");
    let sent = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let (sink, sent) = (&sink, &sent);
            s.spawn(move || {
                for i in 0..25 {
                    let ev = event(t * 100 + i);
                    // Append under the same lock as recording, so `sent` is in spool order.
                    let mut guard = sent.lock().expect("lock");
                    sink.record(&ev).expect("record");
                    guard.push(ev);
                }
            });
        }
    });
    drop(sink);
    let sent = sent.into_inner().expect("sent");
    assert_exactly_once_in_order(&sent, &rx.entries());
}
