//! Lock + unlock round trips with 32 concurrent clients, through
//! `platctl state serve` (HTTP LOCK/UNLOCK as Terraform sends them), against
//! the floor: one conditional PUT (If-None-Match: *) plus one DELETE on the
//! same S3 store. Needs PLATCTL_TEST_S3_ENDPOINT (bench/state.sh sets it).
//!
//! cargo bench -p platctl-backend --bench lock -- [iterations-per-client-per-round] [rounds]
//!
//! The two paths run in alternating rounds so both see the same store conditions.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use platctl_backend::{ServerConfig, start};
use platctl_state::StateStore;
use platctl_store::Store;

const CLIENTS: usize = 32;

struct NoAudit;

impl platctl_audit::AuditSink for NoAudit {
    fn record(&self, _: &platctl_audit::AuditEvent) -> Result<(), platctl_audit::AuditError> {
        Ok(())
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn report(name: &str, mut samples: Vec<Duration>, wall: Duration) -> (Duration, Duration) {
    samples.sort();
    let (p50, p99) = (percentile(&samples, 0.50), percentile(&samples, 0.99));
    println!(
        "{name:<34} n={:<6} p50={:>7.2} ms  p99={:>7.2} ms  throughput={:>7.0} round trips/s",
        samples.len(),
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        samples.len() as f64 / wall.as_secs_f64()
    );
    (p50, p99)
}

fn main() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let iterations: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(50);
    let rounds: usize = std::env::args().nth(2).and_then(|a| a.parse().ok()).unwrap_or(4);
    let endpoint = std::env::var("PLATCTL_TEST_S3_ENDPOINT")
        .expect("PLATCTL_TEST_S3_ENDPOINT (run bench/state.sh)");
    let bucket = std::env::var("PLATCTL_BENCH_BUCKET").unwrap_or_else(|_| "platctl-bench".into());
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(async move {
        let client = reqwest::Client::new();
        let _ = client.put(format!("{endpoint}/{bucket}")).send().await;
        let s3_client = || {
            AmazonS3Builder::new()
                .with_endpoint(&endpoint)
                .with_allow_http(true)
                .with_bucket_name(&bucket)
                .with_region("us-east-1")
                .with_access_key_id("bench")
                .with_secret_access_key("bench")
                .build()
                .expect("s3")
        };
        let s3: Arc<dyn ObjectStore> = Arc::new(s3_client());

        // Warm up connections on both paths.
        for i in 0..CLIENTS {
            let p = Path::from(format!("warm/{i}"));
            s3.put(&p, PutPayload::from_static(b"x")).await.expect("warm put");
            s3.delete(&p).await.expect("warm delete");
        }

        // platctl: HTTP LOCK + UNLOCK through the state server on the same store.
        let store = Store::s3(s3_client(), &bucket, "").expect("store");
        let audit_dir = std::env::temp_dir().join(format!("platctl-bench-{}", std::process::id()));
        // PLATCTL_BENCH_AUDIT=none measures the path without the audit fsync.
        let sink: Arc<dyn platctl_audit::AuditSink> = if std::env::var("PLATCTL_BENCH_AUDIT").as_deref() == Ok("none") {
            Arc::new(NoAudit)
        } else {
            Arc::new(platctl_audit::JsonlFileSink::new(audit_dir.join("audit.jsonl")))
        };
        let state = StateStore::new(store, sink);
        let server = start(state, ServerConfig::default(), ([127, 0, 0, 1], 0).into(), None).await.expect("server");
        let base = format!("http://{}", server.addr);
        let lock = reqwest::Method::from_bytes(b"LOCK").expect("method");
        let unlock = reqwest::Method::from_bytes(b"UNLOCK").expect("method");
        for c in 0..CLIENTS {
            // Warm-up (also runs the one-time store probe).
            let body = format!("{{\"ID\":\"warm-{c}\",\"Operation\":\"bench\",\"Who\":\"bench\"}}");
            client.request(lock.clone(), format!("{base}/v1/state/bench-{c}")).body(body.clone()).send().await.expect("lock");
            client.request(unlock.clone(), format!("{base}/v1/state/bench-{c}")).body(body).send().await.expect("unlock");
        }

        // Alternate the two paths so both see the same store conditions
        // (SeaweedFS slows down as deletes accumulate).
        let (mut floor, mut ours) = (Vec::new(), Vec::new());
        let (mut floor_wall, mut ours_wall) = (Duration::ZERO, Duration::ZERO);
        for round in 0..rounds {
            // Floor: conditional PUT + DELETE per round trip.
            let started = Instant::now();
            let mut tasks = Vec::new();
            for c in 0..CLIENTS {
                let s3 = s3.clone();
                tasks.push(tokio::spawn(async move {
                    let mut samples = Vec::with_capacity(iterations);
                    for i in 0..iterations {
                        let key = Path::from(format!("floor/{c}/terraform.tfstate.tflock"));
                        let t = Instant::now();
                        let opts = PutOptions { mode: PutMode::Create, ..Default::default() };
                        s3.put_opts(&key, PutPayload::from(Bytes::from(format!("{{\"ID\":\"{round}-{c}-{i}\"}}"))), opts).await.expect("create");
                        s3.delete(&key).await.expect("delete");
                        samples.push(t.elapsed());
                    }
                    samples
                }));
            }
            for t in tasks {
                floor.extend(t.await.expect("task"));
            }
            floor_wall += started.elapsed();

            let started = Instant::now();
            let mut tasks = Vec::new();
            for c in 0..CLIENTS {
                let (client, base, lock, unlock) = (client.clone(), base.clone(), lock.clone(), unlock.clone());
                tasks.push(tokio::spawn(async move {
                    let mut samples = Vec::with_capacity(iterations);
                    for i in 0..iterations {
                        let body = format!("{{\"ID\":\"{round}-{c}-{i}\",\"Operation\":\"OperationTypeApply\",\"Who\":\"bench@host\",\"Version\":\"1.11.4\",\"Created\":\"2026-11-25T00:00:00Z\",\"Path\":\"\"}}");
                        let url = format!("{base}/v1/state/bench-{c}");
                        let t = Instant::now();
                        let r = client.request(lock.clone(), &url).body(body.clone()).send().await.expect("lock");
                        assert_eq!(r.status(), 200, "lock");
                        let r = client.request(unlock.clone(), &url).body(body).send().await.expect("unlock");
                        assert_eq!(r.status(), 200, "unlock");
                        samples.push(t.elapsed());
                    }
                    samples
                }));
            }
            for t in tasks {
                ours.extend(t.await.expect("task"));
            }
            ours_wall += started.elapsed();
        }
        let (floor_p50, floor_p99) = report("floor: conditional PUT + DELETE", floor, floor_wall);
        let (p50, p99) = report("platctl: HTTP LOCK + UNLOCK", ours, ours_wall);
        println!(
            "ratio to floor: p50 {:.2}x (goal <= 1.5x), p99 {:.2}x",
            p50.as_secs_f64() / floor_p50.as_secs_f64(),
            p99.as_secs_f64() / floor_p99.as_secs_f64()
        );
        let _ = std::fs::remove_dir_all(audit_dir);
    });
}
