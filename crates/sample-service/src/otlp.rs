//! Request spans exported over OTLP/HTTP (protobuf), without the OpenTelemetry SDK.
//!
//! Every span this service makes has the same shape: one SERVER span per
//! request with its method, route template and status. So a span is a
//! fixed-size [`SpanRecord`] (no allocation on the request path), queued under
//! a mutex and encoded straight into OTLP protobuf by one export task. That
//! keeps tracing every request at a fraction of the SDK's cost (see
//! docs/benchmarks.md). The wire format is `ExportTraceServiceRequest` from
//! opentelemetry-proto (`opentelemetry/proto/collector/trace/v1`); the tests
//! decode what this module sends with the official generated types.
//!
//! Honoured variables (OpenTelemetry SDK environment specification):
//! `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG`, `OTEL_BSP_SCHEDULE_DELAY`,
//! `OTEL_BSP_MAX_QUEUE_SIZE`, `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`,
//! `OTEL_EXPORTER_OTLP[_TRACES]_HEADERS`, `OTEL_EXPORTER_OTLP[_TRACES]_TIMEOUT`,
//! `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES` (parsed in telemetry.rs).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::config::ConfigError;

/// Which requests are traced (`OTEL_TRACES_SAMPLER`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sampler {
    AlwaysOn,
    AlwaysOff,
    /// Sampled when the trace id's low 63 bits fall under `ratio` of the range (as the SDKs do).
    Ratio(f64),
    /// The caller's `sampled` flag decides when there is a caller; `root` otherwise.
    ParentBased(Root),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Root {
    AlwaysOn,
    AlwaysOff,
    Ratio(f64),
}

impl Sampler {
    pub fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Sampler, ConfigError> {
        let arg = || -> Result<f64, ConfigError> {
            match get("OTEL_TRACES_SAMPLER_ARG") {
                None => Ok(1.0),
                Some(v) => match v.parse::<f64>() {
                    Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
                    _ => Err(ConfigError {
                        var: "OTEL_TRACES_SAMPLER_ARG",
                        message: format!("{v:?} must be a ratio between 0 and 1"),
                    }),
                },
            }
        };
        Ok(match get("OTEL_TRACES_SAMPLER").as_deref().unwrap_or("parentbased_always_on") {
            "always_on" => Sampler::AlwaysOn,
            "always_off" => Sampler::AlwaysOff,
            "traceidratio" => Sampler::Ratio(arg()?),
            "parentbased_always_on" => Sampler::ParentBased(Root::AlwaysOn),
            "parentbased_always_off" => Sampler::ParentBased(Root::AlwaysOff),
            "parentbased_traceidratio" => Sampler::ParentBased(Root::Ratio(arg()?)),
            other => {
                return Err(ConfigError {
                    var: "OTEL_TRACES_SAMPLER",
                    message: format!(
                        "{other:?} is not supported: use always_on, always_off, traceidratio, parentbased_always_on, \
                         parentbased_always_off or parentbased_traceidratio"
                    ),
                });
            }
        })
    }

    /// Whether a span of `trace_id` is sampled; `parent_sampled` is the caller's flag, if any.
    pub fn sample(&self, trace_id: u128, parent_sampled: Option<bool>) -> bool {
        let ratio = |r: f64| {
            // Same rule as the OpenTelemetry SDKs: the trace id's low 64 bits, shifted to 63.
            let bound = (r.max(0.0) * (1u64 << 63) as f64) as u64;
            ((trace_id as u64) >> 1) < bound
        };
        match *self {
            Sampler::AlwaysOn => true,
            Sampler::AlwaysOff => false,
            Sampler::Ratio(r) => ratio(r),
            Sampler::ParentBased(root) => match (parent_sampled, root) {
                (Some(sampled), _) => sampled,
                (None, Root::AlwaysOn) => true,
                (None, Root::AlwaysOff) => false,
                (None, Root::Ratio(r)) => ratio(r),
            },
        }
    }
}

/// Batching (`OTEL_BSP_*`), as the SDK's batch span processor defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batching {
    pub schedule_delay: Duration,
    pub max_queue: usize,
    pub max_batch: usize,
}

impl Batching {
    pub fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Batching, ConfigError> {
        let num = |var: &'static str, default: u64, min: u64| -> Result<u64, ConfigError> {
            match get(var) {
                None => Ok(default),
                Some(v) => match v.parse::<u64>() {
                    Ok(n) if n >= min => Ok(n),
                    _ => Err(ConfigError {
                        var,
                        message: format!("{v:?} must be an integer >= {min}"),
                    }),
                },
            }
        };
        let schedule_delay = Duration::from_millis(num("OTEL_BSP_SCHEDULE_DELAY", 5000, 1)?);
        let max_queue =
            usize::try_from(num("OTEL_BSP_MAX_QUEUE_SIZE", 2048, 1)?).unwrap_or(usize::MAX);
        let max_batch =
            usize::try_from(num("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512, 1)?).unwrap_or(usize::MAX);
        if max_batch > max_queue {
            return Err(ConfigError {
                var: "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
                message: format!(
                    "{max_batch} must not exceed OTEL_BSP_MAX_QUEUE_SIZE ({max_queue})"
                ),
            });
        }
        Ok(Batching { schedule_delay, max_queue, max_batch })
    }
}

/// Where and how spans are sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Exporter {
    /// The full traces URL (`.../v1/traces`).
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub timeout: Duration,
    pub batching: Batching,
    /// Resource attributes, in order (service.name first).
    pub resource: Vec<(String, String)>,
}

/// One finished request span: fixed size, no heap.
#[derive(Debug, Clone, Copy)]
pub struct SpanRecord {
    pub trace_id: u128,
    pub span_id: u64,
    /// 0 when the request had no (valid) `traceparent`.
    pub parent_span_id: u64,
    pub start_unix_nanos: u64,
    pub end_unix_nanos: u64,
    pub method: &'static str,
    pub route: &'static str,
    pub status: u16,
}

/// The request side: queue finished spans; the export task sends them.
#[derive(Clone)]
pub struct SpanQueue(Arc<Shared>);

struct Shared {
    queue: std::sync::Mutex<Vec<SpanRecord>>,
    batching: Batching,
    full: tokio::sync::Notify,
    dropped: AtomicU64,
    exported: AtomicU64,
}

impl SpanQueue {
    /// Queue a span. When the queue is full the span is dropped and counted,
    /// as the SDK's batch processor does: tracing never blocks a request.
    pub fn push(&self, span: SpanRecord) {
        let len = {
            let Ok(mut q) = self.0.queue.lock() else { return };
            if q.len() >= self.0.batching.max_queue {
                drop(q);
                self.0.dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            q.push(span);
            q.len()
        };
        if len == self.0.batching.max_batch {
            self.0.full.notify_one();
        }
    }

    pub fn dropped(&self) -> u64 {
        self.0.dropped.load(Ordering::Relaxed)
    }

    pub fn exported(&self) -> u64 {
        self.0.exported.load(Ordering::Relaxed)
    }
}

/// The running export task.
pub struct ExportTask {
    queue: SpanQueue,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl ExportTask {
    pub fn queue(&self) -> SpanQueue {
        self.queue.clone()
    }

    /// Send what is queued and stop.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Start the export task on the current runtime.
pub fn start(exporter: Exporter) -> anyhow::Result<ExportTask> {
    let client = reqwest::Client::builder().timeout(exporter.timeout).build()?;
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::CONTENT_TYPE,
        reqwest::header::HeaderValue::from_static("application/x-protobuf"),
    );
    for (k, v) in &exporter.headers {
        headers.insert(
            reqwest::header::HeaderName::from_bytes(k.as_bytes())?,
            reqwest::header::HeaderValue::from_str(v)?,
        );
    }
    let queue = SpanQueue(Arc::new(Shared {
        queue: std::sync::Mutex::new(Vec::with_capacity(exporter.batching.max_queue.min(8192))),
        batching: exporter.batching,
        full: tokio::sync::Notify::new(),
        dropped: AtomicU64::new(0),
        exported: AtomicU64::new(0),
    }));
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let q = queue.clone();
    let task = tokio::spawn(async move {
        let encoder = Encoder::new(&exporter.resource);
        let mut batch = Vec::with_capacity(exporter.batching.max_queue.min(8192));
        let mut last_warning: Option<std::time::Instant> = None;
        loop {
            let stopping = tokio::select! {
                () = tokio::time::sleep(exporter.batching.schedule_delay) => false,
                () = q.0.full.notified() => false,
                _ = stopped.changed() => true,
            };
            {
                let Ok(mut pending) = q.0.queue.lock() else { return };
                std::mem::swap(&mut *pending, &mut batch);
            }
            for chunk in batch.chunks(exporter.batching.max_batch) {
                let mut body = Vec::new();
                encoder.encode(chunk, &mut body);
                let sent =
                    client.post(&exporter.url).headers(headers.clone()).body(body).send().await;
                let failure = match sent {
                    Ok(resp) if resp.status().is_success() => {
                        q.0.exported.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                        None
                    }
                    Ok(resp) => Some(format!("HTTP {}", resp.status())),
                    Err(e) => Some(e.to_string()),
                };
                if let Some(error) = failure {
                    q.0.dropped.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                    // One warning per minute at most: a down collector must not flood the logs.
                    if last_warning.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
                        last_warning = Some(std::time::Instant::now());
                        tracing::warn!(url = %exporter.url, error = %error, spans = chunk.len(), "OTLP trace export failed; spans dropped");
                    }
                }
            }
            batch.clear();
            if stopping {
                return;
            }
        }
    });
    Ok(ExportTask { queue, stop, task })
}

// ----- OTLP protobuf encoding ------------------------------------------------
//
// Field numbers from opentelemetry-proto:
//   ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
//   ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; }
//   Resource { repeated KeyValue attributes = 1; }
//   ScopeSpans { InstrumentationScope scope = 1; repeated Span spans = 2; }
//   InstrumentationScope { string name = 1; string version = 2; }
//   Span { bytes trace_id = 1; bytes span_id = 2; bytes parent_span_id = 4; string name = 5;
//          SpanKind kind = 6; fixed64 start_time_unix_nano = 7; fixed64 end_time_unix_nano = 8;
//          repeated KeyValue attributes = 9; Status status = 15; fixed32 flags = 16; }
//   KeyValue { string key = 1; AnyValue value = 2; }
//   AnyValue { oneof { string string_value = 1; int64 int_value = 3; } }
//   Status { string message = 2; StatusCode code = 3; }   (STATUS_CODE_ERROR = 2)

const LEN: u8 = 2;
const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const FIXED32: u8 = 5;
const SPAN_KIND_SERVER: u64 = 2;
const STATUS_CODE_ERROR: u64 = 2;
/// W3C sampled flag, plus "the parent's is-remote is known" (0x100) and "it is remote" (0x200).
const FLAGS_SAMPLED: u32 = 0x01;
const FLAGS_HAS_IS_REMOTE: u32 = 0x100;
const FLAGS_IS_REMOTE: u32 = 0x200;

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn tag(out: &mut Vec<u8>, field: u32, wire: u8) {
    varint(out, (u64::from(field) << 3) | u64::from(wire));
}

fn bytes_field(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    tag(out, field, LEN);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// The start of `KeyValue { key, value: AnyValue { ... } }`, up to the
/// AnyValue's own bytes (`any_len` of them), which the caller writes next.
fn kv_header(out: &mut Vec<u8>, field: u32, key: &str, any_len: usize) {
    let kv_len =
        1 + varint_len(key.len() as u64) + key.len() + 1 + varint_len(any_len as u64) + any_len;
    tag(out, field, LEN);
    varint(out, kv_len as u64);
    bytes_field(out, 1, key.as_bytes());
    tag(out, 2, LEN);
    varint(out, any_len as u64);
}

/// `KeyValue` with a string value.
fn kv_str(out: &mut Vec<u8>, field: u32, key: &str, value: &str) {
    kv_header(out, field, key, 1 + varint_len(value.len() as u64) + value.len());
    bytes_field(out, 1, value.as_bytes());
}

/// `KeyValue` with an int value.
fn kv_int(out: &mut Vec<u8>, field: u32, key: &str, value: i64) {
    kv_header(out, field, key, 1 + varint_len(value as u64));
    tag(out, 3, VARINT);
    varint(out, value as u64);
}

fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// Writes `ExportTraceServiceRequest` bodies; the resource and scope are
/// encoded once, and so are the method and route attributes of each route
/// (they are the same `&'static str`s on every span).
/// (key pointer, value pointer, value length) of a `&'static str` pair: the cache key of
/// an encoded constant attribute.
type ConstantKey = (usize, usize, usize);

struct Encoder {
    resource: Vec<u8>,
    scope: Vec<u8>,
    constant_attributes: std::cell::RefCell<Vec<(ConstantKey, Vec<u8>)>>,
}

impl Encoder {
    /// The encoded `http.request.method` or `http.route` KeyValue for a static string.
    fn constant_kv(&self, key: &'static str, value: &'static str, out: &mut Vec<u8>) {
        // Keyed by the strings' addresses: they are 'static and interned.
        let id = (key.as_ptr() as usize, value.as_ptr() as usize, value.len());
        let mut cache = self.constant_attributes.borrow_mut();
        if let Some((_, bytes)) = cache.iter().find(|(k, _)| *k == id) {
            out.extend_from_slice(bytes);
            return;
        }
        let mut bytes = Vec::new();
        kv_str(&mut bytes, 9, key, value);
        out.extend_from_slice(&bytes);
        if cache.len() < 64 {
            cache.push((id, bytes));
        }
    }
}

impl Encoder {
    fn new(resource: &[(String, String)]) -> Encoder {
        let mut attrs = Vec::new();
        for (k, v) in resource {
            kv_str(&mut attrs, 1, k, v);
        }
        let mut res = Vec::new();
        bytes_field(&mut res, 1, &attrs);
        let mut scope_fields = Vec::new();
        bytes_field(&mut scope_fields, 1, b"sample-service");
        bytes_field(&mut scope_fields, 2, env!("CARGO_PKG_VERSION").as_bytes());
        let mut scope = Vec::new();
        bytes_field(&mut scope, 1, &scope_fields);
        Encoder { resource: res, scope, constant_attributes: std::cell::RefCell::default() }
    }

    fn encode(&self, spans: &[SpanRecord], out: &mut Vec<u8>) {
        // The spans (each `2: Span` of ScopeSpans) first, then the enclosing
        // headers, whose lengths are now known: the span bytes are copied once.
        let mut span_fields = Vec::with_capacity(spans.len() * 160);
        let mut span = Vec::with_capacity(256);
        for s in spans {
            span.clear();
            self.encode_span(s, &mut span);
            bytes_field(&mut span_fields, 2, &span);
        }
        let scope_spans_len = self.scope.len() + span_fields.len();
        let resource_spans_len =
            self.resource.len() + 1 + varint_len(scope_spans_len as u64) + scope_spans_len;
        out.reserve(1 + varint_len(resource_spans_len as u64) + resource_spans_len);
        tag(out, 1, LEN);
        varint(out, resource_spans_len as u64);
        out.extend_from_slice(&self.resource);
        tag(out, 2, LEN);
        varint(out, scope_spans_len as u64);
        out.extend_from_slice(&self.scope);
        out.extend_from_slice(&span_fields);
    }
}

impl Encoder {
    fn encode_span(&self, s: &SpanRecord, out: &mut Vec<u8>) {
        bytes_field(out, 1, &s.trace_id.to_be_bytes());
        bytes_field(out, 2, &s.span_id.to_be_bytes());
        if s.parent_span_id != 0 {
            bytes_field(out, 4, &s.parent_span_id.to_be_bytes());
        }
        let name_len = s.method.len() + 1 + s.route.len();
        tag(out, 5, LEN);
        varint(out, name_len as u64);
        out.extend_from_slice(s.method.as_bytes());
        out.push(b' ');
        out.extend_from_slice(s.route.as_bytes());
        tag(out, 6, VARINT);
        varint(out, SPAN_KIND_SERVER);
        tag(out, 7, FIXED64);
        out.extend_from_slice(&s.start_unix_nanos.to_le_bytes());
        tag(out, 8, FIXED64);
        out.extend_from_slice(&s.end_unix_nanos.to_le_bytes());
        self.constant_kv("http.request.method", s.method, out);
        self.constant_kv("http.route", s.route, out);
        kv_int(out, 9, "http.response.status_code", i64::from(s.status));
        if s.status >= 500 {
            let mut status = Vec::with_capacity(16);
            let message = format!("HTTP {}", s.status);
            bytes_field(&mut status, 2, message.as_bytes());
            tag(&mut status, 3, VARINT);
            varint(&mut status, STATUS_CODE_ERROR);
            bytes_field(out, 15, &status);
        }
        let remote = if s.parent_span_id != 0 { FLAGS_IS_REMOTE } else { 0 };
        tag(out, 16, FIXED32);
        out.extend_from_slice(&(FLAGS_SAMPLED | FLAGS_HAS_IS_REMOTE | remote).to_le_bytes());
    }
}

/// Encode one request body (tests decode it with the official types).
#[cfg(test)]
fn encode_for_test(resource: &[(String, String)], spans: &[SpanRecord]) -> Vec<u8> {
    let mut out = Vec::new();
    Encoder::new(resource).encode(spans, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_lengths_match_the_encoding() {
        for v in [0u64, 1, 127, 128, 300, 16_383, 16_384, u64::from(u32::MAX), u64::MAX] {
            let mut out = Vec::new();
            varint(&mut out, v);
            assert_eq!(out.len(), varint_len(v), "{v}");
        }
    }

    #[test]
    fn server_errors_and_root_spans_decode_with_the_official_types() {
        use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
        use prost::Message as _;
        let span = SpanRecord {
            trace_id: 0x0af7_6519_16cd_43dd_8448_eb21_1c80_319c,
            span_id: 42,
            parent_span_id: 0,
            start_unix_nanos: 1_700_000_000_000_000_000,
            end_unix_nanos: 1_700_000_000_001_000_000,
            method: "GET",
            route: "/",
            status: 503,
        };
        let body = encode_for_test(
            &[("service.name".into(), "s".into())],
            &[span, SpanRecord { status: 200, span_id: 43, ..span }],
        );
        let req = ExportTraceServiceRequest::decode(body.as_slice()).expect("decodes");
        let spans = &req.resource_spans[0].scope_spans[0].spans;
        assert_eq!(spans.len(), 2);
        let failed = &spans[0];
        assert_eq!(failed.trace_id, span.trace_id.to_be_bytes().to_vec());
        assert_eq!(failed.span_id, 42u64.to_be_bytes().to_vec());
        assert!(failed.parent_span_id.is_empty(), "a root span has no parent");
        assert_eq!(failed.end_time_unix_nano - failed.start_time_unix_nano, 1_000_000);
        let status = failed.status.as_ref().expect("status");
        assert_eq!(
            (status.code, status.message.as_str()),
            (2, "HTTP 503"),
            "5xx is STATUS_CODE_ERROR"
        );
        assert_eq!(failed.flags, 0x101, "sampled, parent known not remote");
        assert!(spans[1].status.is_none(), "a 200 leaves the status unset");
    }

    #[test]
    fn samplers_follow_the_parent_and_the_ratio() {
        let get = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned())
        };
        assert_eq!(
            Sampler::from_lookup(&get(&[])).expect("default"),
            Sampler::ParentBased(Root::AlwaysOn)
        );
        let half = Sampler::from_lookup(&get(&[
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.5"),
        ]))
        .expect("ratio");
        assert!(half.sample(u128::from(u64::MAX), Some(true)), "a sampled caller is followed");
        assert!(!half.sample(0, Some(false)), "an unsampled caller is followed");
        let sampled = (0..10_000u128)
            .filter(|i| {
                half.sample(i.wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835), None)
            })
            .count();
        assert!((4_500..5_500).contains(&sampled), "about half of the roots: {sampled}");
        let e = Sampler::from_lookup(&get(&[("OTEL_TRACES_SAMPLER", "jaeger_remote")]))
            .expect_err("unsupported");
        assert_eq!(e.var, "OTEL_TRACES_SAMPLER");
        let e = Sampler::from_lookup(&get(&[
            ("OTEL_TRACES_SAMPLER", "traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "2"),
        ]))
        .expect_err("ratio > 1");
        assert_eq!(e.var, "OTEL_TRACES_SAMPLER_ARG");
        let e = Batching::from_lookup(&get(&[
            ("OTEL_BSP_MAX_QUEUE_SIZE", "10"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "20"),
        ]))
        .expect_err("batch > queue");
        assert_eq!(e.var, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE");
    }
}
