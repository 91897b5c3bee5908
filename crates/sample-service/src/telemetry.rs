//! Logs and traces.
//!
//! Logs: one JSON object per line on stdout (`timestamp`, `level`, `target`,
//! `message`, the event's fields, and `trace_id`/`span_id` of the request).
//! Traces: OTLP over HTTP/protobuf, configured by the standard `OTEL_*`
//! variables. Without `OTEL_EXPORTER_OTLP_ENDPOINT` (or `..._TRACES_ENDPOINT`)
//! no exporter and no network traffic exist; trace ids in logs then come from
//! the caller's `traceparent` or are generated per request. Requests run inside
//! an OpenTelemetry `Context` (see app::observe); the log layer reads the trace
//! id from it, so every line written while a request runs carries it.

use std::fmt::Write as _;
use std::io::Write;
use std::time::Duration;

use bytes::Bytes;
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_http::{HttpClient, HttpError};
use opentelemetry_otlp::WithHttpConfig;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{Config, ConfigError};

/// Whether and where traces are exported, from the standard variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OtelSettings {
    /// No endpoint (or `OTEL_SDK_DISABLED=true`, or `OTEL_TRACES_EXPORTER=none`).
    Disabled { reason: &'static str },
    /// Export to this endpoint (the variable's value; the exporter appends
    /// `/v1/traces` to `OTEL_EXPORTER_OTLP_ENDPOINT` as the spec says).
    Enabled { endpoint: String },
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
                _ => return Err(ConfigError { var: "OTEL_SDK_DISABLED", message: format!("{v:?} must be true or false") }),
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
                        var: if var.contains("TRACES") { "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL" } else { "OTEL_EXPORTER_OTLP_PROTOCOL" },
                        message: format!("{v:?} is not supported by this build: use http/protobuf (OTLP/HTTP, usually port 4318)"),
                    });
                }
                break;
            }
        }
        let (var, endpoint) = match (get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), get("OTEL_EXPORTER_OTLP_ENDPOINT")) {
            (Some(e), _) => ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", e),
            (None, Some(e)) => ("OTEL_EXPORTER_OTLP_ENDPOINT", e),
            (None, None) => return Ok(Self::Disabled { reason: "OTEL_EXPORTER_OTLP_ENDPOINT is not set" }),
        };
        match url::Url::parse(&endpoint) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(Self::Enabled { endpoint }),
            _ => Err(ConfigError {
                var,
                message: format!("{endpoint:?} is not an http(s) URL (example: http://alloy.observability:4318)"),
            }),
        }
    }
}

/// Owns the tracer provider, so it can be flushed at exit.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    pub fn enabled(&self) -> bool {
        self.provider.is_some()
    }

    /// The tracer requests use, when export is on.
    pub fn tracer(&self) -> Option<opentelemetry_sdk::trace::SdkTracer> {
        self.provider.as_ref().map(|p| p.tracer("sample-service"))
    }

    /// Flush pending spans, waiting at most `limit`.
    pub async fn shutdown(self, limit: Duration) {
        if let Some(provider) = self.provider {
            let flush = tokio::task::spawn_blocking(move || provider.shutdown());
            match tokio::time::timeout(limit, flush).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => tracing::warn!(error = %e, "trace export at shutdown failed"),
                Ok(Err(e)) => tracing::warn!(error = %e, "trace flush task failed"),
                Err(_) => tracing::warn!(limit_ms = limit.as_millis() as u64, "trace flush timed out"),
            }
        }
    }
}

/// Install the global subscriber (JSON logs, plus OpenTelemetry when enabled).
/// Must run inside the Tokio runtime: the exporter sends through it.
pub fn init(cfg: &Config, otel: &OtelSettings) -> anyhow::Result<Telemetry> {
    let filter = tracing_subscriber::EnvFilter::try_new(&cfg.log_level)?;
    let logs = JsonLogLayer.with_filter(filter);
    let provider = match otel {
        OtelSettings::Disabled { .. } => None,
        OtelSettings::Enabled { .. } => {
            let client = TokioReqwest {
                client: reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?,
                handle: tokio::runtime::Handle::current(),
            };
            let exporter = opentelemetry_otlp::SpanExporter::builder().with_http().with_http_client(client).build()?;
            let mut resource = opentelemetry_sdk::Resource::builder();
            if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
                resource = resource.with_service_name(cfg.service_name.clone());
            }
            let resource = resource
                .with_attribute(opentelemetry::KeyValue::new("deployment.environment.name", cfg.environment.clone()))
                .with_attribute(opentelemetry::KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
                .build();
            Some(SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource).build())
        }
    };
    // W3C trace context is read from requests whether or not spans are exported.
    opentelemetry::global::set_text_map_propagator(opentelemetry_sdk::propagation::TraceContextPropagator::new());
    tracing_subscriber::registry().with(logs).try_init()?;
    Ok(Telemetry { provider })
}

/// Sends OTLP requests with the workspace's reqwest (rustls + aws-lc-rs) on
/// the service's runtime; the SDK's batch thread only awaits the result.
#[derive(Debug)]
struct TokioReqwest {
    client: reqwest::Client,
    handle: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl HttpClient for TokioReqwest {
    async fn send_bytes(&self, request: http::Request<Bytes>) -> Result<http::Response<Bytes>, HttpError> {
        let client = self.client.clone();
        let task = self.handle.spawn(async move {
            let (parts, body) = request.into_parts();
            let resp = client
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await?;
            let status = resp.status();
            let headers = resp.headers().clone();
            let body = resp.bytes().await?;
            let mut out = http::Response::new(body);
            *out.status_mut() = status;
            *out.headers_mut() = headers;
            Ok::<_, HttpError>(out)
        });
        task.await?
    }
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
            if !traced {
                let cx = opentelemetry::Context::current();
                let span = cx.span();
                let sc = span.span_context();
                if sc.is_valid() {
                    let _ = write!(line, ",\"trace_id\":\"{}\",\"span_id\":\"{}\"", sc.trace_id(), sc.span_id());
                }
            }
            line.push_str("}\n");
            let _ = std::io::stdout().lock().write_all(line.as_bytes());
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn otel(pairs: &[(&str, &str)]) -> Result<OtelSettings, ConfigError> {
        let m: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
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
        assert_eq!(
            otel(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")]),
            Ok(OtelSettings::Enabled { endpoint: "http://127.0.0.1:4318".into() })
        );
        assert!(matches!(
            otel(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://x:4318"), ("OTEL_SDK_DISABLED", "true")]),
            Ok(OtelSettings::Disabled { .. })
        ));
    }

    #[test]
    fn bad_otel_values_name_the_variable() {
        let e = otel(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "not a url")]).expect_err("bad url");
        assert_eq!(e.var, "OTEL_EXPORTER_OTLP_ENDPOINT");
        let e = otel(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"), ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://x:4317")])
            .expect_err("grpc");
        assert_eq!(e.var, "OTEL_EXPORTER_OTLP_PROTOCOL");
        let e = otel(&[("OTEL_TRACES_EXPORTER", "zipkin")]).expect_err("zipkin");
        assert_eq!(e.var, "OTEL_TRACES_EXPORTER");
    }
}
