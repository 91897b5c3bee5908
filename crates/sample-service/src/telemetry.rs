//! Logs and traces.
//!
//! Logs: one JSON object per line on stdout (`timestamp`, `level`, `target`,
//! `message`, the event's fields, and `trace_id`/`span_id` of the request).
//! Traces: OTLP over HTTP/protobuf, configured by the standard `OTEL_*`
//! variables. Without `OTEL_EXPORTER_OTLP_ENDPOINT` (or `..._TRACES_ENDPOINT`)
//! no exporter, no OpenTelemetry layer and no network traffic exist; trace ids
//! in logs then come from the caller's `traceparent` or are generated locally.

use std::io::Write;
use std::time::Duration;

use bytes::Bytes;
use opentelemetry::trace::TracerProvider as _;
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
            opentelemetry::global::set_text_map_propagator(opentelemetry_sdk::propagation::TraceContextPropagator::new());
            Some(SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource).build())
        }
    };
    let otel_layer = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer("sample-service"))
            .with_filter(tracing_subscriber::filter::LevelFilter::INFO)
    });
    tracing_subscriber::registry().with(logs).with(otel_layer).try_init()?;
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

struct JsonVisitor<'a>(&'a mut serde_json::Map<String, serde_json::Value>);

impl Visit for JsonVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.insert(field.name().to_owned(), value.to_string().into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}").into());
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
        // Fixed keys first (timestamp, level, target, message), then the event's
        // fields, then the trace ids: easy to read, easy to grep.
        let mut fields = serde_json::Map::new();
        event.record(&mut JsonVisitor(&mut fields));
        let now = time::OffsetDateTime::now_utc();
        let ts = now.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
        let mut line = String::with_capacity(256);
        let mut push = |k: &str, v: &serde_json::Value| {
            line.push(if line.is_empty() { '{' } else { ',' });
            line.push_str(&serde_json::Value::from(k).to_string());
            line.push(':');
            line.push_str(&v.to_string());
        };
        push("timestamp", &ts.into());
        push("level", &event.metadata().level().as_str().into());
        push("target", &event.metadata().target().into());
        if let Some(m) = fields.remove("message") {
            push("message", &m);
        }
        for (k, v) in &fields {
            push(k, v);
        }
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope {
                let ext = span.extensions();
                if let Some(t) = ext.get::<SpanTrace>() {
                    if let Some(tid) = &t.trace_id {
                        push("trace_id", &tid.as_str().into());
                        if let Some(sid) = &t.span_id {
                            push("span_id", &sid.as_str().into());
                        }
                        break;
                    }
                }
            }
        }
        line.push_str("}\n");
        let _ = std::io::stdout().lock().write_all(line.as_bytes());
    }
}

/// Parse a W3C `traceparent` header: `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`.
pub fn parse_traceparent(v: &str) -> Option<(String, String)> {
    let mut parts = v.trim().split('-');
    let (version, trace, parent, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !hex(version, 2) || version == "ff" || !hex(trace, 32) || !hex(parent, 16) || !hex(flags, 2) {
        return None;
    }
    if trace.bytes().all(|b| b == b'0') || parent.bytes().all(|b| b == b'0') {
        return None;
    }
    Some((trace.to_owned(), parent.to_owned()))
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

    #[test]
    fn traceparent() {
        let ok = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        assert_eq!(ok.map(|t| t.0), Some("4bf92f3577b34da6a3ce929d0e0e4736".to_owned()));
        assert!(parse_traceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01").is_none());
        assert!(parse_traceparent("garbage").is_none());
    }
}
