//! Logs and traces.
//!
//! Logs: one JSON object per line on stdout (`timestamp`, `level`, `target`,
//! `message`, the event's fields, and `trace_id`/`span_id` of the request).
//! Traces: one SERVER span per request, sent as OTLP over HTTP/protobuf by
//! [`crate::otlp`], configured by the standard `OTEL_*` variables. Without
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (or `..._TRACES_ENDPOINT`) no exporter and no
//! network traffic exist; trace ids in logs then come from the caller's
//! `traceparent` or are generated per request. A request's trace and span id
//! are the thread's current ids while its future is polled ([`InTrace`], see
//! app::observe); the log layer reads them, so every line written while a
//! request runs carries them.

use std::fmt::Write as _;
use std::io::Write;
use std::time::Duration;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{Config, ConfigError};
use crate::otlp::{self, Batching, Sampler};

/// Whether and where traces are exported, from the standard variables.
#[derive(Debug, Clone, PartialEq)]
pub enum OtelSettings {
    /// No endpoint (or `OTEL_SDK_DISABLED=true`, or `OTEL_TRACES_EXPORTER=none`).
    Disabled { reason: &'static str },
    /// Export to `endpoint` (the variable's value; `/v1/traces` is appended to
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` as the spec says).
    Enabled { endpoint: String, export: Box<Export> },
}

/// Everything the exporter needs besides the service's own resource attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct Export {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub timeout: Duration,
    pub batching: Batching,
    pub sampler: Sampler,
    /// `OTEL_RESOURCE_ATTRIBUTES`, in order.
    pub resource_attributes: Vec<(String, String)>,
    /// `OTEL_SERVICE_NAME`.
    pub service_name: Option<String>,
}

impl OtelSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |k: &str| lookup(k).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        if let Some(v) = get("OTEL_SDK_DISABLED") {
            match v.to_ascii_lowercase().as_str() {
                "true" => return Ok(Self::Disabled { reason: "OTEL_SDK_DISABLED=true" }),
                "false" => {}
                _ => {
                    return Err(ConfigError {
                        var: "OTEL_SDK_DISABLED",
                        message: format!("{v:?} must be true or false"),
                    });
                }
            }
        }
        if let Some(v) = get("OTEL_TRACES_EXPORTER") {
            match v.as_str() {
                "none" => return Ok(Self::Disabled { reason: "OTEL_TRACES_EXPORTER=none" }),
                "otlp" => {}
                _ => {
                    return Err(ConfigError {
                        var: "OTEL_TRACES_EXPORTER",
                        message: format!("{v:?} is not supported: use otlp or none"),
                    });
                }
            }
        }
        for var in ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"] {
            if let Some(v) = get(var) {
                if v != "http/protobuf" {
                    return Err(ConfigError {
                        var: if var.contains("TRACES") {
                            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
                        } else {
                            "OTEL_EXPORTER_OTLP_PROTOCOL"
                        },
                        message: format!(
                            "{v:?} is not supported by this build: use http/protobuf (OTLP/HTTP, usually port 4318)"
                        ),
                    });
                }
                break;
            }
        }
        for var in ["OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION"] {
            if let Some(v) = get(var)
                && v != "none"
            {
                return Err(ConfigError {
                    var: if var.contains("TRACES") {
                        "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION"
                    } else {
                        "OTEL_EXPORTER_OTLP_COMPRESSION"
                    },
                    message: format!("{v:?} is not supported by this build: use none"),
                });
            }
        }
        let (var, endpoint, url) =
            match (get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), get("OTEL_EXPORTER_OTLP_ENDPOINT")) {
                (Some(e), _) => ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", e.clone(), e),
                (None, Some(e)) => {
                    let url = format!("{}/v1/traces", e.trim_end_matches('/'));
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", e, url)
                }
                (None, None) => {
                    return Ok(Self::Disabled { reason: "OTEL_EXPORTER_OTLP_ENDPOINT is not set" });
                }
            };
        match url::Url::parse(&endpoint) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => {
                return Err(ConfigError {
                    var,
                    message: format!(
                        "{endpoint:?} is not an http(s) URL (example: http://alloy.observability:4318)"
                    ),
                });
            }
        }
        let pairs = |var: &'static str| -> Result<Vec<(String, String)>, ConfigError> {
            get(var).map_or(Ok(Vec::new()), |v| {
                parse_pairs(&v).map_err(|message| ConfigError { var, message })
            })
        };
        let headers = match get("OTEL_EXPORTER_OTLP_TRACES_HEADERS") {
            Some(_) => pairs("OTEL_EXPORTER_OTLP_TRACES_HEADERS")?,
            None => pairs("OTEL_EXPORTER_OTLP_HEADERS")?,
        };
        let timeout_var = if get("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT").is_some() {
            "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"
        } else {
            "OTEL_EXPORTER_OTLP_TIMEOUT"
        };
        let timeout = match get(timeout_var) {
            None => Duration::from_secs(10),
            Some(v) => match v.parse::<u64>() {
                Ok(ms) if ms > 0 => Duration::from_millis(ms),
                _ => {
                    return Err(ConfigError {
                        var: timeout_var,
                        message: format!("{v:?} must be a positive number of milliseconds"),
                    });
                }
            },
        };
        let export = Export {
            url,
            headers,
            timeout,
            batching: Batching::from_lookup(&get)?,
            sampler: Sampler::from_lookup(&get)?,
            resource_attributes: pairs("OTEL_RESOURCE_ATTRIBUTES")?,
            service_name: get("OTEL_SERVICE_NAME"),
        };
        Ok(Self::Enabled { endpoint, export: Box::new(export) })
    }
}

/// `key=value,key2=value2` with percent-encoded values (the OTEL_*_HEADERS and
/// OTEL_RESOURCE_ATTRIBUTES format).
fn parse_pairs(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let Some((k, v)) = item.split_once('=') else {
            return Err(format!(
                "{item:?} is not key=value (the format is key1=value1,key2=value2)"
            ));
        };
        let k = k.trim();
        if k.is_empty() {
            return Err(format!("{item:?} has an empty key"));
        }
        out.push((
            k.to_owned(),
            percent_decode(v.trim()).ok_or_else(|| format!("{item:?} has a bad percent-escape"))?,
        ));
    }
    Ok(out)
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

thread_local! {
    /// The trace and span id of the request being polled on this thread.
    static CURRENT_TRACE: std::cell::Cell<Option<(u128, u64)>> = const { std::cell::Cell::new(None) };
}

/// The trace and span id of the request running on this thread, if any: what
/// every log line written while a request runs carries.
pub fn current_trace() -> Option<(u128, u64)> {
    CURRENT_TRACE.with(std::cell::Cell::get)
}

/// Run `f` as if inside the request with these ids (the access log line is
/// written after the handler returned).
pub fn with_trace<R>(ids: (u128, u64), f: impl FnOnce() -> R) -> R {
    let previous = CURRENT_TRACE.with(|c| c.replace(Some(ids)));
    let out = f();
    CURRENT_TRACE.with(|c| c.set(previous));
    out
}

pin_project_lite::pin_project! {
    /// A request future that makes its trace ids current while it is polled
    /// (the same idea as OpenTelemetry's `Context` attach, for two integers).
    pub struct InTrace<F> {
        #[pin]
        inner: F,
        ids: (u128, u64),
    }
}

impl<F> InTrace<F> {
    pub fn new(inner: F, ids: (u128, u64)) -> Self {
        InTrace { inner, ids }
    }
}

impl<F: std::future::Future> std::future::Future for InTrace<F> {
    type Output = F::Output;
    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        let this = self.project();
        let ids = *this.ids;
        let inner = this.inner;
        with_trace(ids, || inner.poll(cx))
    }
}

/// What requests need to trace: the sampler and the span queue.
#[derive(Clone)]
pub struct Tracing {
    pub sampler: Sampler,
    pub queue: otlp::SpanQueue,
}

/// Owns the export task, so it can be flushed at exit.
pub struct Telemetry {
    export: Option<(otlp::ExportTask, Sampler)>,
}

impl Telemetry {
    pub fn enabled(&self) -> bool {
        self.export.is_some()
    }

    /// What requests use, when export is on.
    pub fn tracer(&self) -> Option<Tracing> {
        self.export
            .as_ref()
            .map(|(task, sampler)| Tracing { sampler: *sampler, queue: task.queue() })
    }

    /// Send pending spans, waiting at most `limit`, and write buffered log lines.
    pub async fn shutdown(self, limit: Duration) {
        flush_logs();
        if let Some((task, _)) = self.export {
            let queue = task.queue();
            if tokio::time::timeout(limit, task.shutdown()).await.is_err() {
                tracing::warn!(limit_ms = limit.as_millis() as u64, "trace flush timed out");
            }
            if queue.dropped() > 0 {
                tracing::warn!(
                    dropped = queue.dropped(),
                    exported = queue.exported(),
                    "some spans were not exported (queue full or export failed)"
                );
            }
        }
    }
}

/// Install the global subscriber (JSON logs) and start the OTLP export task
/// when enabled. Must run inside the Tokio runtime: the exporter sends through it.
pub fn init(cfg: &Config, otel: &OtelSettings) -> anyhow::Result<Telemetry> {
    let filter = tracing_subscriber::EnvFilter::try_new(&cfg.log_level)?;
    let logs = JsonLogLayer.with_filter(filter);
    tracing_subscriber::registry().with(logs).try_init()?;
    start_log_flusher(cfg.access_log_flush);
    let export = match otel {
        OtelSettings::Disabled { .. } => None,
        OtelSettings::Enabled { export, .. } => {
            // Defaults, then OTEL_RESOURCE_ATTRIBUTES, then OTEL_SERVICE_NAME (the spec's precedence).
            let mut resource: Vec<(String, String)> = vec![
                ("service.name".into(), cfg.service_name.clone()),
                ("service.version".into(), env!("CARGO_PKG_VERSION").into()),
                ("deployment.environment.name".into(), cfg.environment.clone()),
                ("telemetry.sdk.language".into(), "rust".into()),
            ];
            let mut set = |k: &str, v: &str| match resource.iter_mut().find(|(key, _)| key == k) {
                Some(slot) => slot.1 = v.to_owned(),
                None => resource.push((k.to_owned(), v.to_owned())),
            };
            for (k, v) in &export.resource_attributes {
                set(k, v);
            }
            if let Some(name) = &export.service_name {
                set("service.name", name);
            }
            let task = otlp::start(otlp::Exporter {
                url: export.url.clone(),
                headers: export.headers.clone(),
                timeout: export.timeout,
                batching: export.batching,
                resource,
            })?;
            Some((task, export.sampler))
        }
    };
    Ok(Telemetry { export })
}

/// The trace id recorded on a span (field `trace_id`), kept in its extensions.
struct SpanTrace {
    trace_id: Option<String>,
    span_id: Option<String>,
}

struct TraceFieldVisitor<'a>(&'a mut SpanTrace);

impl Visit for TraceFieldVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "trace_id" => self.0.trace_id = Some(value.to_owned()),
            "span_id" => self.0.span_id = Some(value.to_owned()),
            _ => {}
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "trace_id" => self.0.trace_id = Some(format!("{value:?}")),
            "span_id" => self.0.span_id = Some(format!("{value:?}")),
            _ => {}
        }
    }
}

/// Appends `,"name":value` pairs straight into the line buffer (no
/// intermediate JSON tree: this runs once per request when the access log is on).
struct JsonFields<'a> {
    out: &'a mut String,
    message: &'a mut String,
}

impl JsonFields<'_> {
    fn key(&mut self, field: &Field) {
        self.out.push(',');
        push_json_str(self.out, field.name());
        self.out.push(':');
    }
}

impl Visit for JsonFields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            push_json_str(self.message, value);
            return;
        }
        self.key(field);
        push_json_str(self.out, value);
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.key(field);
        let _ = write!(self.out, "{value}");
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.key(field);
        let _ = write!(self.out, "{value}");
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.key(field);
        if value.is_finite() {
            let _ = write!(self.out, "{value}");
        } else {
            self.out.push_str("null");
        }
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.key(field);
        self.out.push_str(if value { "true" } else { "false" });
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.record_str(field, &value.to_string());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let text = format!("{value:?}");
        self.record_str(field, &text);
    }
}

/// Append `s` as a JSON string literal.
fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Stdout, with access lines batched: one `write` per request is most of an
/// access log's cost, so access lines collect in a buffer that is written
/// when it holds 32 KiB, when any other line is logged (order is kept), and
/// by a flusher thread at most `ACCESS_LOG_FLUSH_MS` after the oldest line;
/// and at shutdown. Like nginx's `access_log ... buffer= flush=`: a SIGKILL
/// can lose the last interval's access lines, never another kind of line.
struct Output {
    buffer: std::sync::Mutex<Vec<u8>>,
    batching: std::sync::atomic::AtomicBool,
}

static OUTPUT: Output = Output {
    buffer: std::sync::Mutex::new(Vec::new()),
    batching: std::sync::atomic::AtomicBool::new(false),
};

const OUTPUT_BUFFER_LIMIT: usize = 32 * 1024;

impl Output {
    fn write(&self, line: &[u8], batchable: bool) {
        let Ok(mut buf) = self.buffer.lock() else { return };
        buf.extend_from_slice(line);
        if batchable
            && self.batching.load(std::sync::atomic::Ordering::Relaxed)
            && buf.len() < OUTPUT_BUFFER_LIMIT
        {
            return;
        }
        let _ = std::io::stdout().lock().write_all(&buf);
        buf.clear();
    }

    fn flush(&self) {
        let Ok(mut buf) = self.buffer.lock() else { return };
        if !buf.is_empty() {
            let _ = std::io::stdout().lock().write_all(&buf);
            buf.clear();
        }
    }
}

/// Write buffered access lines now (at shutdown).
pub fn flush_logs() {
    OUTPUT.flush();
}

/// Start batching access lines, flushed at least every `interval` (zero: no batching).
fn start_log_flusher(interval: Duration) {
    if interval.is_zero() || OUTPUT.batching.swap(true, std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    let started = std::thread::Builder::new().name("log-flush".into()).spawn(move || {
        loop {
            std::thread::sleep(interval);
            OUTPUT.flush();
        }
    });
    if started.is_err() {
        // No flusher, no batching: every line is written at once.
        OUTPUT.batching.store(false, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Writes each event as one JSON line on stdout, with the trace id of the
/// innermost span that has one.
pub struct JsonLogLayer;

impl<S> Layer<S> for JsonLogLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut t = SpanTrace { trace_id: None, span_id: None };
        attrs.record(&mut TraceFieldVisitor(&mut t));
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(t);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            let mut ext = span.extensions_mut();
            if let Some(t) = ext.get_mut::<SpanTrace>() {
                values.record(&mut TraceFieldVisitor(t));
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        thread_local! {
            static BUFS: std::cell::RefCell<(String, String, String)> = const {
                std::cell::RefCell::new((String::new(), String::new(), String::new()))
            };
        }
        BUFS.with(|bufs| {
            let Ok(mut bufs) = bufs.try_borrow_mut() else { return };
            let (line, fields, message) = &mut *bufs;
            line.clear();
            fields.clear();
            message.clear();
            event.record(&mut JsonFields { out: fields, message });
            // Fixed keys first (timestamp, level, target, message), then the
            // event's fields, then the trace ids: easy to read, easy to grep.
            let now = time::OffsetDateTime::now_utc();
            let _ = write!(
                line,
                "{{\"timestamp\":\"{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z\",\"level\":\"{}\",\"target\":",
                now.year(),
                u8::from(now.month()),
                now.day(),
                now.hour(),
                now.minute(),
                now.second(),
                now.microsecond(),
                event.metadata().level().as_str(),
            );
            push_json_str(line, event.metadata().target());
            if !message.is_empty() {
                line.push_str(",\"message\":");
                line.push_str(message);
            }
            line.push_str(fields);
            let mut traced = false;
            if let Some(scope) = ctx.event_scope(event) {
                for span in scope {
                    let ext = span.extensions();
                    if let Some(t) = ext.get::<SpanTrace>()
                        && let Some(tid) = &t.trace_id
                    {
                        line.push_str(",\"trace_id\":");
                        push_json_str(line, tid);
                        if let Some(sid) = &t.span_id {
                            line.push_str(",\"span_id\":");
                            push_json_str(line, sid);
                        }
                        traced = true;
                        break;
                    }
                }
            }
            if !traced && let Some((trace_id, span_id)) = current_trace() {
                let _ = write!(line, ",\"trace_id\":\"{trace_id:032x}\",\"span_id\":\"{span_id:016x}\"");
            }
            line.push_str("}\n");
            let batchable = event.metadata().target() == "access" && *event.metadata().level() == tracing::Level::INFO;
            OUTPUT.write(line.as_bytes(), batchable);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn otel(pairs: &[(&str, &str)]) -> Result<OtelSettings, ConfigError> {
        let m: HashMap<String, String> =
            pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        OtelSettings::from_lookup(|k| m.get(k).cloned())
    }

    #[test]
    fn json_strings_are_escaped() {
        let mut out = String::new();
        push_json_str(&mut out, "a\"b\\c\nd\u{1}é");
        let back: String = serde_json::from_str(&out).expect("valid JSON string");
        assert_eq!(back, "a\"b\\c\nd\u{1}é");
    }

    #[test]
    fn otel_is_off_without_endpoint_and_on_with_one() {
        assert!(matches!(otel(&[]), Ok(OtelSettings::Disabled { .. })));
        match otel(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318/"),
            ("OTEL_RESOURCE_ATTRIBUTES", "team=platform,note=a%2Cb"),
        ]) {
            Ok(OtelSettings::Enabled { endpoint, export }) => {
                assert_eq!(endpoint, "http://127.0.0.1:4318/");
                assert_eq!(
                    export.url, "http://127.0.0.1:4318/v1/traces",
                    "the signal path is appended"
                );
                assert_eq!(
                    export.resource_attributes,
                    vec![
                        ("team".to_owned(), "platform".to_owned()),
                        ("note".to_owned(), "a,b".to_owned())
                    ]
                );
                assert_eq!(export.timeout, Duration::from_secs(10));
            }
            other => panic!("{other:?}"),
        }
        match otel(&[
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c:4318/custom"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://x:4318"),
        ]) {
            Ok(OtelSettings::Enabled { export, .. }) => {
                assert_eq!(export.url, "http://c:4318/custom", "the traces endpoint is used as is")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            otel(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://x:4318"),
                ("OTEL_SDK_DISABLED", "true")
            ]),
            Ok(OtelSettings::Disabled { .. })
        ));
    }

    #[test]
    fn bad_otel_values_name_the_variable() {
        let e = otel(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "not a url")]).expect_err("bad url");
        assert_eq!(e.var, "OTEL_EXPORTER_OTLP_ENDPOINT");
        let e = otel(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://x:4317"),
        ])
        .expect_err("grpc");
        assert_eq!(e.var, "OTEL_EXPORTER_OTLP_PROTOCOL");
        let e = otel(&[("OTEL_TRACES_EXPORTER", "zipkin")]).expect_err("zipkin");
        assert_eq!(e.var, "OTEL_TRACES_EXPORTER");
        let e = otel(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://x:4318"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "novalue"),
        ])
        .expect_err("headers");
        assert_eq!(e.var, "OTEL_EXPORTER_OTLP_HEADERS");
        let e = otel(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://x:4318"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "soon"),
        ])
        .expect_err("timeout");
        assert_eq!(e.var, "OTEL_EXPORTER_OTLP_TIMEOUT");
    }
}
