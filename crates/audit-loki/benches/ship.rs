//! Audit shipping benchmark (driven by bench/audit-ship.sh).
//!
//! `ship gen FILE N`       write N realistic audit events as JSON Lines
//! `ship serve PORTFILE`   run the local Loki receiver (decodes and validates
//!                         every push, counts entries) until stdin closes, then
//!                         print `{"accepted_entries":N,"requests":M}`
//! `ship` (cargo bench)    in-process: 200k events through the library shipper

use std::io::{BufWriter, Read, Write};
use std::time::{Duration, Instant};

use platctl_audit::{Action, AuditEvent, Outcome};
use platctl_audit_loki::receiver::Receiver;
use platctl_audit_loki::{Control, LokiConfig, Metrics, Pusher, Target};

fn event(i: u64) -> AuditEvent {
    let actions =
        [Action::StateWrite, Action::Lock, Action::Unlock, Action::TfRun, Action::ForceUnlock];
    let envs = ["staging", "production", "dev"];
    AuditEvent::new(actions[(i % 5) as usize], Outcome::Success, format!("ci-{}", i % 17))
        .env(envs[(i % 3) as usize])
        .serial(i)
        .lock_id(format!("3f0c{:08x}-aaaa-bbbb-cccc-0123456789ab", i))
        .sha256("174a77fa18a5e4b1c2d3e4f5061728394a5b6c7d8e9f00112233445566778899")
        .detail("version", format!("{i:010}-174a77fa18a5"))
        .detail("size", 2748)
        .detail("source", "write")
}

fn generate(path: &str, n: u64) -> std::io::Result<()> {
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    for i in 0..n {
        serde_json::to_writer(&mut w, &event(i))?;
        w.write_all(b"\n")?;
    }
    w.flush()
}

fn serve(portfile: &str) -> std::io::Result<()> {
    let rx = Receiver::start("127.0.0.1:0".parse().map_err(std::io::Error::other)?, false)?;
    std::fs::write(portfile, rx.addr().port().to_string())?;
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    println!("{{\"accepted_entries\":{},\"requests\":{}}}", rx.accepted_entries(), rx.requests());
    Ok(())
}

fn in_process() -> Result<(), Box<dyn std::error::Error>> {
    let n = 200_000u64;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("audit.jsonl");
    generate(file.to_str().ok_or("path")?, n)?;
    let rx = Receiver::start("127.0.0.1:0".parse()?, false)?;
    let cfg = LokiConfig::new(&rx.url())?;
    let pusher = Pusher::new(cfg.clone())?;
    let target = Target::for_file(&file, &cfg);
    let started = Instant::now();
    let (ended, stats) = platctl_audit_loki::ship_target(
        &pusher,
        &target,
        &Control::default(),
        &Metrics::default(),
        &mut |_| {},
    )?;
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(ended, platctl_audit_loki::Ended::Drained);
    let deadline = Instant::now() + Duration::from_secs(5);
    while rx.accepted_entries() < n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(rx.accepted_entries(), n);
    println!(
        "ship (in-process): {n} events in {secs:.3}s = {:.0} events/s, {} batches",
        n as f64 / secs,
        stats.batches
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("gen") => generate(&args[1], args[2].parse()?)?,
        Some("serve") => serve(&args[1])?,
        _ => in_process()?,
    }
    Ok(())
}
