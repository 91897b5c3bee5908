//! A multi-hundred-megabyte plan stream is parsed in constant memory.

use std::io::Read;

/// Generates a plan stream of `total` bytes without holding it: mostly refresh
/// hooks, with a planned change every 10 lines.
struct PlanStream {
    total: usize,
    produced: usize,
    line: u64,
    pending: Vec<u8>,
}

impl Read for PlanStream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pending.is_empty() {
            if self.produced >= self.total {
                return Ok(0);
            }
            self.line += 1;
            let l = self.line;
            let text = if l.is_multiple_of(10) {
                format!(
                    r#"{{"@level":"info","@message":"linode_instance.n[{l}]: Plan to update","@module":"terraform.ui","change":{{"resource":{{"addr":"linode_instance.n[{l}]","module":"","resource":"linode_instance.n[{l}]","implied_provider":"linode","resource_type":"linode_instance","resource_name":"n","resource_key":{l}}},"action":"update"}},"type":"planned_change"}}"#
                )
            } else {
                format!(
                    r#"{{"@level":"info","@message":"linode_instance.n[{l}]: Refreshing state... [id={l}]","@module":"terraform.ui","@timestamp":"2026-11-25T18:57:31.112649Z","hook":{{"resource":{{"addr":"linode_instance.n[{l}]","module":"","resource":"linode_instance.n[{l}]","implied_provider":"linode","resource_type":"linode_instance","resource_name":"n","resource_key":{l}}},"id_key":"id","id_value":"{l}"}},"type":"refresh_start"}}"#
                )
            };
            self.pending = text.into_bytes();
            self.pending.push(b'\n');
            self.pending.reverse();
        }
        let n = buf.len().min(self.pending.len());
        for slot in buf.iter_mut().take(n) {
            *slot = self.pending.pop().unwrap_or(b'\n');
        }
        self.produced += n;
        Ok(n)
    }
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[test]
fn three_hundred_megabytes_in_constant_memory() {
    let before = peak_rss_kib();
    let stream = PlanStream { total: 300 * 1024 * 1024, produced: 0, line: 0, pending: Vec::new() };
    let findings = platctl_drift::parse::read_stream(
        std::io::BufReader::with_capacity(256 * 1024, stream),
        platctl_drift::parse::DEFAULT_CAP,
    )
    .expect("read");
    let growth_mib = (peak_rss_kib().saturating_sub(before)) / 1024;
    assert!(findings.bytes >= 300 * 1024 * 1024);
    assert_eq!(findings.pending_count, findings.lines / 10, "every planned change counted");
    assert_eq!(findings.pending.len(), platctl_drift::parse::DEFAULT_CAP, "entries are capped");
    assert!(findings.truncated);
    // The kept entries (10k short strings) and buffers fit in a few MiB; the
    // stream itself is never held.
    assert!(growth_mib < 32, "peak RSS grew by {growth_mib} MiB while parsing 300 MiB");
}
