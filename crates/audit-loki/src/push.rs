//! Loki push body: `{"streams":[{"stream":{labels},"values":[["<ns>","<line>",{metadata}]]}]}`
//! (docs: Loki HTTP API, "Ingest logs"; the same model as `logproto.PushRequest`
//! in Loki's pkg/push/push.proto: stream labels, entries of timestamp, line
//! and structured metadata).

use std::io::Write;

use platctl_audit::AuditEvent;

/// The default `source` label of audit streams (`PLATCTL_LOKI_SOURCE` overrides:
/// `ci` for runs in CI, see docs/audit.md).
pub const SOURCE: &str = "platctl";
/// The `env` label of events that name no environment.
pub const NO_ENV: &str = "none";

/// One log entry, deterministic per event: a re-sent event produces exactly
/// the same (stream, timestamp, line), which Loki stores once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub env: String,
    pub action: &'static str,
    /// Nanoseconds since the epoch, from the event's `time`.
    pub ts_ns: i128,
    /// The event as canonical JSON.
    pub line: String,
    /// Structured metadata: event_id, actor, outcome, and lock_id / serial when set.
    pub metadata: Vec<(&'static str, String)>,
}

impl Entry {
    pub fn from_event(ev: &AuditEvent) -> Entry {
        let mut metadata = vec![
            ("event_id", ev.event_id.to_string()),
            ("actor", ev.actor.clone()),
            ("outcome", outcome_str(ev)),
        ];
        if let Some(id) = &ev.lock_id {
            metadata.push(("lock_id", id.clone()));
        }
        if let Some(s) = ev.serial {
            metadata.push(("serial", s.to_string()));
        }
        Entry {
            env: ev.env.clone().unwrap_or_else(|| NO_ENV.to_owned()),
            action: ev.action.as_str(),
            ts_ns: ev.time.unix_timestamp_nanos(),
            // Serializing a parsed event cannot fail (plain data, string keys).
            line: serde_json::to_string(ev).unwrap_or_default(),
            metadata,
        }
    }
}

fn outcome_str(ev: &AuditEvent) -> String {
    serde_json::to_value(ev.outcome)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Encode entries as a push body, one stream per (env, action) in order of
/// first appearance, entries in input order within each stream; every stream
/// carries the `source` label.
pub fn encode_json(entries: &[Entry], source: &str) -> Vec<u8> {
    let mut streams: Vec<((&str, &str), Vec<usize>)> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let key = (e.env.as_str(), e.action);
        match streams.iter_mut().find(|(k, _)| *k == key) {
            Some((_, idx)) => idx.push(i),
            None => streams.push((key, vec![i])),
        }
    }
    let cap: usize = entries.iter().map(|e| e.line.len() + 200).sum();
    let mut out = Vec::with_capacity(cap + 64);
    out.extend_from_slice(b"{\"streams\":[");
    for (si, ((env, action), idx)) in streams.iter().enumerate() {
        if si > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"stream\":{\"source\":");
        json_str(&mut out, source);
        out.extend_from_slice(b",\"env\":");
        json_str(&mut out, env);
        out.extend_from_slice(b",\"action\":");
        json_str(&mut out, action);
        out.extend_from_slice(b"},\"values\":[");
        for (n, &i) in idx.iter().enumerate() {
            let e = &entries[i];
            if n > 0 {
                out.push(b',');
            }
            let _ = write!(out, "[\"{}\",", e.ts_ns);
            json_str(&mut out, &e.line);
            out.extend_from_slice(b",{");
            for (m, (k, v)) in e.metadata.iter().enumerate() {
                if m > 0 {
                    out.push(b',');
                }
                json_str(&mut out, k);
                out.push(b':');
                json_str(&mut out, v);
            }
            out.extend_from_slice(b"}]");
        }
        out.extend_from_slice(b"]}");
    }
    out.extend_from_slice(b"]}");
    out
}

fn json_str(out: &mut Vec<u8>, s: &str) {
    // Writing to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// gzip with the fastest level: audit JSON compresses ~10x even so.
pub fn gzip(body: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 6 + 64),
        flate2::Compression::fast(),
    );
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(body);
    enc.finish().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use platctl_audit::{Action, Outcome};

    #[test]
    fn body_matches_loki_json_push_format() {
        let a = AuditEvent::new(Action::ForceUnlock, Outcome::Success, "bob@h")
            .env("production")
            .lock_id("L1")
            .serial(4);
        let b = AuditEvent::new(Action::StateWrite, Outcome::Success, "ci")
            .env("production")
            .detail("note", "quote\" and \n newline");
        let c = AuditEvent::new(Action::ForceUnlock, Outcome::Denied, "eve");
        let entries: Vec<Entry> = [&a, &b, &c, &a].iter().map(|e| Entry::from_event(e)).collect();
        let body: serde_json::Value =
            serde_json::from_slice(&encode_json(&entries, SOURCE)).expect("valid JSON");
        let streams = body["streams"].as_array().expect("streams");
        assert_eq!(streams.len(), 3, "one stream per (env, action)");
        assert_eq!(
            streams[0]["stream"],
            serde_json::json!({"source": "platctl", "env": "production", "action": "force_unlock"})
        );
        assert_eq!(streams[2]["stream"]["env"], "none");
        let v = &streams[0]["values"];
        assert_eq!(v.as_array().expect("values").len(), 2, "both force-unlocks, in input order");
        let ts = v[0][0].as_str().expect("timestamp is a string");
        assert_eq!(ts.parse::<i128>().expect("digits"), a.time.unix_timestamp_nanos());
        let line: AuditEvent =
            serde_json::from_str(v[0][1].as_str().expect("line")).expect("line is the event");
        assert_eq!(line, a);
        assert_eq!(
            v[0][2],
            serde_json::json!({"event_id": a.event_id.to_string(), "actor": "bob@h", "outcome": "success", "lock_id": "L1", "serial": "4"})
        );
        assert_eq!(v[0], v[1], "a re-sent event is an exact duplicate");
        let b_line: AuditEvent =
            serde_json::from_str(streams[1]["values"][0][1].as_str().expect("line"))
                .expect("event");
        assert_eq!(b_line, b, "escaping round-trips");
        let ci: serde_json::Value =
            serde_json::from_slice(&encode_json(&entries, "ci")).expect("valid JSON");
        assert_eq!(ci["streams"][0]["stream"]["source"], "ci");
    }

    #[test]
    fn gzip_round_trips() {
        use std::io::Read;
        let body = b"{\"streams\":[]}".repeat(100);
        let gz = gzip(&body);
        assert!(gz.len() < body.len());
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut out).expect("gunzip");
        assert_eq!(out, body);
    }
}
