//! A local Loki push receiver for tests and benchmarks (Loki itself cannot run
//! here). It speaks the real wire format — `POST /loki/api/v1/push`, JSON,
//! optionally gzip-encoded — validates it strictly (timestamps must be
//! nanosecond strings, entries `[ts, line]` or `[ts, line, {metadata}]`), and
//! can inject faults: HTTP statuses and slow answers.
//!
//! Compiled only with the `test-support` feature: tests and the benchmark enable
//! it; production builds of platctl do not contain it.

use std::collections::{BTreeMap, VecDeque};
use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;

/// What the receiver does with one request instead of accepting it at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer this status without storing anything.
    Status(u16),
    /// Wait, then accept.
    Delay(Duration),
}

/// One stored entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub labels: BTreeMap<String, String>,
    /// Nanoseconds since the epoch, as sent (a decimal string).
    pub ts: String,
    pub line: String,
    pub metadata: BTreeMap<String, String>,
}

#[derive(Debug, Default)]
pub struct ReceiverState {
    keep: bool,
    entries: Mutex<Vec<Received>>,
    accepted_entries: AtomicU64,
    requests: AtomicU64,
    accepted_requests: AtomicU64,
    script: Mutex<VecDeque<Fault>>,
    always: Mutex<Option<Fault>>,
    headers: Mutex<Vec<BTreeMap<String, String>>>,
}

/// A running receiver; stops when dropped.
pub struct Receiver {
    addr: SocketAddr,
    state: Arc<ReceiverState>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Receiver {
    /// Listen on `addr` (port 0: any free port). `keep_entries: false` only counts
    /// (benchmarks: constant memory).
    pub fn start(addr: SocketAddr, keep_entries: bool) -> std::io::Result<Receiver> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let state = Arc::new(ReceiverState { keep: keep_entries, ..ReceiverState::default() });
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let app = axum::Router::new()
            .route("/loki/api/v1/push", post(push))
            .layer(DefaultBodyLimit::max(256 << 20))
            .with_state(state.clone());
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
        let thread = std::thread::Builder::new().name("loki-receiver".into()).spawn(move || {
            runtime.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else { return };
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = rx.await;
                    })
                    .await;
            });
        })?;
        Ok(Receiver { addr, state, shutdown: Some(tx), thread: Some(thread) })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL to give the sink (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Apply `fault` to the next request not already scripted.
    pub fn push_fault(&self, fault: Fault) {
        if let Ok(mut s) = self.state.script.lock() {
            s.push_back(fault);
        }
    }

    /// Apply `fault` to every request after the script (None: accept).
    pub fn set_always(&self, fault: Option<Fault>) {
        if let Ok(mut a) = self.state.always.lock() {
            *a = fault;
        }
    }

    /// Every entry accepted, in arrival order (duplicates included).
    pub fn entries(&self) -> Vec<Received> {
        self.state.entries.lock().map(|e| e.clone()).unwrap_or_default()
    }

    pub fn accepted_entries(&self) -> u64 {
        self.state.accepted_entries.load(Ordering::SeqCst)
    }

    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::SeqCst)
    }

    pub fn accepted_requests(&self) -> u64 {
        self.state.accepted_requests.load(Ordering::SeqCst)
    }

    /// Selected headers of every request (lower-case names): content-type,
    /// content-encoding, authorization, x-scope-orgid.
    pub fn headers(&self) -> Vec<BTreeMap<String, String>> {
        self.state.headers.lock().map(|h| h.clone()).unwrap_or_default()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn push(
    State(st): State<Arc<ReceiverState>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    st.requests.fetch_add(1, Ordering::SeqCst);
    let seen: BTreeMap<String, String> =
        ["content-type", "content-encoding", "authorization", "x-scope-orgid"]
            .iter()
            .filter_map(|h| Some(((*h).to_owned(), headers.get(*h)?.to_str().ok()?.to_owned())))
            .collect();
    if st.keep
        && let Ok(mut h) = st.headers.lock()
    {
        h.push(seen.clone());
    }
    let fault = st
        .script
        .lock()
        .ok()
        .and_then(|mut s| s.pop_front())
        .or_else(|| st.always.lock().ok().and_then(|a| *a));
    match fault {
        Some(Fault::Status(code)) => {
            return (
                StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                format!("injected {code}"),
            );
        }
        Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
        None => {}
    }
    if seen.get("content-type").map(String::as_str) != Some("application/json") {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "this receiver decodes Content-Type: application/json only".into(),
        );
    }
    let raw = match seen.get("content-encoding").map(String::as_str) {
        None => body.to_vec(),
        Some("gzip") => {
            let mut out = Vec::with_capacity(body.len() * 8);
            if let Err(e) = flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut out) {
                return (StatusCode::BAD_REQUEST, format!("bad gzip body: {e}"));
            }
            out
        }
        Some(other) => {
            return (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("unsupported Content-Encoding {other}"),
            );
        }
    };
    match decode(&raw) {
        Ok(entries) => {
            st.accepted_entries.fetch_add(entries.len() as u64, Ordering::SeqCst);
            st.accepted_requests.fetch_add(1, Ordering::SeqCst);
            if st.keep
                && let Ok(mut e) = st.entries.lock()
            {
                e.extend(entries);
            }
            (StatusCode::NO_CONTENT, String::new())
        }
        Err(why) => (StatusCode::BAD_REQUEST, why),
    }
}

#[derive(serde::Deserialize)]
struct PushBody {
    streams: Vec<PushStream>,
}

#[derive(serde::Deserialize)]
struct PushStream {
    stream: BTreeMap<String, String>,
    values: Vec<PushValue>,
}

/// `["<ns>", "<line>"]` or `["<ns>", "<line>", {"key": "value", ...}]`; any
/// other shape (wrong types, more elements) is refused by serde.
#[derive(serde::Deserialize)]
struct PushValue(String, String, #[serde(default)] Option<BTreeMap<String, String>>);

/// Decode and validate a JSON push body.
pub fn decode(raw: &[u8]) -> Result<Vec<Received>, String> {
    let body: PushBody = serde_json::from_slice(raw).map_err(|e| format!("bad push body: {e}"))?;
    let mut out = Vec::new();
    for s in body.streams {
        if s.stream.is_empty() {
            return Err("a stream has no labels".into());
        }
        for PushValue(ts, line, metadata) in s.values {
            if ts.is_empty() || !ts.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("timestamp {ts:?} is not a nanosecond string"));
            }
            out.push(Received {
                labels: s.stream.clone(),
                ts,
                line,
                metadata: metadata.unwrap_or_default(),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn decode_accepts_the_documented_shapes_and_refuses_others() {
        let ok = br#"{"streams":[{"stream":{"a":"b"},"values":[["1","x"],["2","y",{"k":"v"}]]}]}"#;
        let got = super::decode(ok).expect("valid");
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].metadata.get("k").map(String::as_str), Some("v"));
        for bad in [
            &br#"{"streams":[{"stream":{"a":"b"},"values":[[1,"x"]]}]}"#[..],
            br#"{"streams":[{"stream":{"a":"b"},"values":[["1.5","x"]]}]}"#,
            br#"{"streams":[{"stream":{"a":"b"},"values":[["1","x",{"k":1}]]}]}"#,
            br#"{"streams":[{"stream":{"a":"b"},"values":[["1","x",{},"extra"]]}]}"#,
            br#"{"streams":[{"stream":{},"values":[["1","x"]]}]}"#,
        ] {
            assert!(super::decode(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
