//! `platctl state serve` under a hostile load (issue 16), against the real
//! binary on the real S3 store:
//!
//! - idle: an authorised client's LOCK + UNLOCK round trips (4 clients, each
//!   on its own env), and the server's RSS;
//! - attack: the same measurement while 16 anonymous clients keep uploading
//!   60 MB bodies and 300 connections stay stalled (half-sent headers,
//!   re-opened as soon as the server closes them), each from other loopback
//!   addresses than the authorised client; the server's RSS is sampled
//!   throughout.
//!
//! Idle and attack alternate in rounds (like benches/lock.rs), so both see the
//! same machine and store conditions; p99 is taken over all rounds.
//!
//! Goals: the attack adds < 64 MB to the server's RSS, and the authorised
//! p99 stays within 2x of its idle value.
//!
//! PLATCTL_BIN=target/release/platctl PLATCTL_STORE=s3://... AWS_...=... \
//!   cargo bench -p platctl-backend --bench hostile -- [round-trips-per-client-per-round] [rounds]

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CLIENTS: usize = 4;
const UPLOADERS: u8 = 16;
const STALLED: usize = 300;
const UPLOAD_BYTES: usize = 60 * 1024 * 1024;
const MIB: usize = 1024 * 1024;

fn rss_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn connect_from(src: [u8; 4], port: u16) -> std::io::Result<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind((src, 0).into())?;
    socket.connect(([127, 0, 0, 1], port).into()).await
}

/// LOCK + UNLOCK round trips by `CLIENTS` authorised clients at once.
async fn round_trips(base: &str, token: &str, per_client: usize, tag: &str) -> Vec<Duration> {
    let client = reqwest::Client::new();
    let lock = reqwest::Method::from_bytes(b"LOCK").expect("method");
    let unlock = reqwest::Method::from_bytes(b"UNLOCK").expect("method");
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (client, lock, unlock) = (client.clone(), lock.clone(), unlock.clone());
            let url = format!("{base}/v1/state/hostile-{c}");
            let (token, tag) = (token.to_owned(), tag.to_owned());
            tokio::spawn(async move {
                let mut samples = Vec::with_capacity(per_client);
                for i in 0..per_client {
                    let body = format!(
                        "{{\"ID\":\"{tag}-{c}-{i}\",\"Operation\":\"OperationTypeApply\",\"Who\":\"bench@host\",\"Version\":\"1.11.4\",\"Created\":\"2026-11-25T00:00:00Z\",\"Path\":\"\"}}"
                    );
                    let t = Instant::now();
                    let r = client.request(lock.clone(), &url).bearer_auth(&token).body(body.clone()).send().await.expect("lock");
                    assert_eq!(r.status(), 200, "lock");
                    let r = client.request(unlock.clone(), &url).bearer_auth(&token).body(body).send().await.expect("unlock");
                    assert_eq!(r.status(), 200, "unlock");
                    samples.push(t.elapsed());
                }
                samples
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("client"));
    }
    all.sort();
    all
}

/// Keep one stalled connection open from `src`: half-sent headers; re-open
/// it as soon as the server closes it. Counts the server's closes.
async fn stall(
    src: [u8; 4],
    port: u16,
    stop: Arc<AtomicBool>,
    closed: Arc<AtomicU64>,
    open: Arc<AtomicU64>,
) {
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut conn) = connect_from(src, port).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let _ = conn.write_all(b"LOCK /v1/state/staging HTTP/1.1\r\nHost: x\r\nX-Slow: ").await;
        open.fetch_add(1, Ordering::Relaxed);
        let mut buf = [0u8; 512];
        loop {
            tokio::select! {
                r = conn.read(&mut buf) => match r {
                    Ok(0) | Err(_) => { closed.fetch_add(1, Ordering::Relaxed); break; }
                    Ok(_) => {}
                },
                () = tokio::time::sleep(Duration::from_millis(200)) => {
                    if stop.load(Ordering::Relaxed) { break; }
                }
            }
        }
        open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Upload a 60 MB body anonymously, again and again, the way a dumb client
/// does: headers, then the body in 1 MiB writes until the server stops it.
async fn upload(
    src: [u8; 4],
    port: u16,
    body: Arc<Vec<u8>>,
    stop: Arc<AtomicBool>,
    statuses: Arc<[AtomicU64; 6]>,
) {
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let (method, path) = if n.is_multiple_of(2) {
            ("UNLOCK", "/v1/state/staging")
        } else {
            ("POST", "/v1/state/staging/rollback")
        };
        n += 1;
        let Ok(conn) = connect_from(src, port).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let (mut rd, mut wr) = conn.into_split();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let body = body.clone();
        let writer = tokio::spawn(async move {
            if wr.write_all(head.as_bytes()).await.is_ok() {
                for chunk in body.chunks(MIB) {
                    if wr.write_all(chunk).await.is_err() {
                        break;
                    }
                }
            }
        });
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        let read = tokio::time::timeout(Duration::from_secs(30), async {
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                match rd.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(k) => got.extend_from_slice(&buf[..k]),
                }
            }
        })
        .await;
        let status: u16 = String::from_utf8_lossy(&got)
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let slot = match (read.is_ok(), status) {
            (_, 401) => 0,
            (_, 413) => 1,
            (_, 200..=299) => 2,
            (false, _) => 3,
            (_, 0) => 4,
            _ => 5,
        };
        statuses[slot].fetch_add(1, Ordering::Relaxed);
        writer.abort();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The attack, running until stopped.
struct Attack {
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Attack {
    fn start(port: u16, body: &Arc<Vec<u8>>, counters: &Counters) -> Attack {
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for i in 0..STALLED {
            // 30 per address: within the server's default per-client limit, so all are accepted.
            let src = [127, 0, 1, (i / 30) as u8 + 1];
            tasks.push(tokio::spawn(stall(
                src,
                port,
                stop.clone(),
                counters.closed.clone(),
                counters.open.clone(),
            )));
        }
        for u in 0..UPLOADERS {
            tasks.push(tokio::spawn(upload(
                [127, 0, 2, u / 4 + 1],
                port,
                body.clone(),
                stop.clone(),
                counters.statuses.clone(),
            )));
        }
        Attack { stop, tasks }
    }

    async fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }
}

#[derive(Clone, Default)]
struct Counters {
    closed: Arc<AtomicU64>,
    open: Arc<AtomicU64>,
    statuses: Arc<[AtomicU64; 6]>,
}

fn main() {
    let per_round: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(50);
    let rounds: usize = std::env::args().nth(2).and_then(|a| a.parse().ok()).unwrap_or(4);
    let bin = std::env::var("PLATCTL_BIN")
        .expect("PLATCTL_BIN: the platctl binary (bench/state-hostile.sh sets it)");
    let token = format!("plt_bench_{}", std::process::id());
    let dir = std::env::temp_dir().join(format!("platctl-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let tokens = dir.join("tokens.yaml");
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(token.as_bytes()))
    };
    std::fs::write(
        &tokens,
        format!(
            "tokens:\n- {{name: ci, sha256: \"{sha}\", envs: [\"hostile-*\"], permissions: [read, write, lock]}}\n"
        ),
    )
    .expect("tokens");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let child = Command::new(&bin)
        .args(["state", "serve", "--listen", &format!("127.0.0.1:{port}"), "--tokens"])
        .arg(&tokens)
        .env("PLATCTL_AUDIT_LOG", dir.join("audit.jsonl"))
        .stderr(Stdio::null())
        .spawn()
        .expect("platctl state serve");
    let server = Server(child);
    let pid = server.0.id();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let base = format!("http://127.0.0.1:{port}");
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(async move {
        // Warm-up (the store probe, connections, the audit file).
        round_trips(&base, &token, 10, "warm").await;
        let counters = Counters::default();
        let body = Arc::new(vec![b'x'; UPLOAD_BYTES]);
        let (mut idle, mut attacked) = (Vec::new(), Vec::new());
        let mut rss_idle = 0;
        let hwm_idle = rss_kib(pid, "VmHWM");
        let peak = Arc::new(AtomicU64::new(0));
        let open_min = Arc::new(AtomicU64::new(u64::MAX));
        for round in 0..rounds {
            idle.extend(round_trips(&base, &token, per_round, &format!("idle{round}")).await);
            if round == 0 {
                rss_idle = rss_kib(pid, "VmRSS");
            }
            let attack = Attack::start(port, &body, &counters);
            // Let the attack build up: every stalled connection open.
            let ramp = Instant::now();
            while counters.open.load(Ordering::Relaxed) < STALLED as u64
                && ramp.elapsed() < Duration::from_secs(5)
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let sampling = Arc::new(AtomicBool::new(true));
            let sampler = {
                let (sampling, peak, open, open_min) =
                    (sampling.clone(), peak.clone(), counters.open.clone(), open_min.clone());
                tokio::spawn(async move {
                    while sampling.load(Ordering::Relaxed) {
                        peak.fetch_max(rss_kib(pid, "VmRSS"), Ordering::Relaxed);
                        open_min.fetch_min(open.load(Ordering::Relaxed), Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                })
            };
            attacked.extend(round_trips(&base, &token, per_round, &format!("attack{round}")).await);
            tokio::time::sleep(Duration::from_millis(500)).await;
            sampling.store(false, Ordering::Relaxed);
            let _ = sampler.await;
            attack.stop().await;
        }
        let hwm_attack = rss_kib(pid, "VmHWM");
        let rss_after = rss_kib(pid, "VmRSS");
        let peak = peak.load(Ordering::Relaxed).max(rss_idle);
        idle.sort();
        attacked.sort();

        let (p50_idle, p99_idle) = (percentile(&idle, 0.5), percentile(&idle, 0.99));
        let (p50_att, p99_att) = (percentile(&attacked, 0.5), percentile(&attacked, 0.99));
        let s: Vec<u64> = counters.statuses.iter().map(|a| a.load(Ordering::Relaxed)).collect();
        println!(
            "authorised LOCK+UNLOCK, {CLIENTS} clients x {per_round} round trips x {rounds} alternating rounds ({} samples each):",
            idle.len()
        );
        println!("  idle   p50={:>7.2} ms  p99={:>7.2} ms", ms(p50_idle), ms(p99_idle));
        println!("  attack p50={:>7.2} ms  p99={:>7.2} ms", ms(p50_att), ms(p99_att));
        let ratio = p99_att.as_secs_f64() / p99_idle.as_secs_f64();
        println!(
            "  p99 under attack / idle: {ratio:.2}x (goal <= 2x): {}",
            if ratio <= 2.0 { "met" } else { "MISSED" }
        );
        println!(
            "attack: {STALLED} stalled connections (at least {} open throughout the measurements, {} closed by the server's read timeout), {UPLOADERS} anonymous 60 MB uploaders: {} answered 401, {} 413, {} 2xx, {} unanswered within 30 s, {} closed without an answer, {} other",
            open_min.load(Ordering::Relaxed).min(STALLED as u64),
            counters.closed.load(Ordering::Relaxed),
            s[0],
            s[1],
            s[2],
            s[3],
            s[4],
            s[5]
        );
        let added = peak.saturating_sub(rss_idle);
        println!(
            "server RSS: idle {:.1} MiB, peak under attack {:.1} MiB: +{:.1} MiB (goal < 64 MiB): {}; VmHWM {:.1} -> {:.1} MiB; after the attack {:.1} MiB",
            rss_idle as f64 / 1024.0,
            peak as f64 / 1024.0,
            added as f64 / 1024.0,
            if added < 64 * 1024 { "met" } else { "MISSED" },
            hwm_idle as f64 / 1024.0,
            hwm_attack as f64 / 1024.0,
            rss_after as f64 / 1024.0
        );
    });
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}
