//! Parse a `terraform plan -json` stream from a file (or stdin) and print the
//! counts: the parser benchmark's subject (bench/drift-parser.sh).

use std::io::BufReader;

fn main() -> std::io::Result<()> {
    let findings = match std::env::args().nth(1) {
        Some(path) => platctl_drift::parse::read_stream(
            BufReader::with_capacity(256 * 1024, std::fs::File::open(path)?),
            platctl_drift::parse::DEFAULT_CAP,
        )?,
        None => platctl_drift::parse::read_stream(
            std::io::stdin().lock(),
            platctl_drift::parse::DEFAULT_CAP,
        )?,
    };
    println!(
        "lines={} bytes={} drift={} pending={} errors={}",
        findings.lines,
        findings.bytes,
        findings.drift_count,
        findings.pending_count,
        findings.error_count
    );
    Ok(())
}
