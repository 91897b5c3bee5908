//! Routes and the request middleware (metrics, trace ids, access log).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{SpanContext, SpanId, SpanKind, TraceContextExt, TraceFlags, TraceId, TraceState, Tracer as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracer;

use crate::config::Config;
use crate::metrics::{self, Metrics};

/// Shared by every request; cloning it is one reference-count increment.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub cfg: Config,
    pub metrics: Metrics,
    /// False once shutdown has started: `/readyz` answers 503.
    pub ready: AtomicBool,
    /// The tracer when OTLP export is on.
    pub tracer: Option<SdkTracer>,
    propagator: TraceContextPropagator,
    /// `GET /`'s answer, rendered once.
    root_body: bytes::Bytes,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(cfg: Config, tracer: Option<SdkTracer>) -> Self {
        let root_body = json!({
            "service": cfg.service_name,
            "version": env!("CARGO_PKG_VERSION"),
            "environment": cfg.environment,
        })
        .to_string()
        .into();
        Self(Arc::new(Inner {
            cfg,
            metrics: Metrics::new(),
            ready: AtomicBool::new(true),
            tracer,
            propagator: TraceContextPropagator::new(),
            root_body,
        }))
    }
}

pub fn router(state: AppState) -> Router {
    let mut r = Router::new()
        .route("/", get(root))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_handler));
    if state.cfg.delay_route {
        r = r.route("/delay/{ms}", get(delay));
    }
    r.fallback(not_found)
        // `layer` (not `route_layer`) so the fallback is measured too, as `unmatched`.
        .layer(axum::middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

async fn root(State(st): State<AppState>) -> Response {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], st.root_body.clone()).into_response()
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

async fn readyz(State(st): State<AppState>) -> Response {
    if st.ready.load(Ordering::Acquire) {
        Json(json!({ "ready": true })).into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "ready": false, "reason": "shutting down" }))).into_response()
    }
}

/// Prometheus text by default; OpenMetrics when the scraper's `Accept` prefers it.
async fn metrics_handler(State(st): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    let openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    let (body, ctype) = if openmetrics {
        (st.metrics.encode(), metrics::OPENMETRICS_CONTENT_TYPE)
    } else {
        (st.metrics.encode_prometheus(), metrics::PROMETHEUS_CONTENT_TYPE)
    };
    let mut resp = body.into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    resp
}

async fn delay(State(st): State<AppState>, Path(ms): Path<String>) -> Response {
    match ms.parse::<u64>() {
        Ok(ms) if ms <= st.cfg.delay_max_ms => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Json(json!({ "slept_ms": ms })).into_response()
        }
        _ => (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": format!("delay must be 0..={} milliseconds", st.cfg.delay_max_ms) })),
        )
            .into_response(),
    }
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, Json(json!({ "error": "not found" }))).into_response()
}

/// `<METHOD> <route template>`, without allocating for this service's own routes.
fn span_name(method: &'static str, route: &'static str) -> std::borrow::Cow<'static, str> {
    let known = match (method, route) {
        ("GET", "/") => "GET /",
        ("GET", "/healthz") => "GET /healthz",
        ("GET", "/readyz") => "GET /readyz",
        ("GET", "/metrics") => "GET /metrics",
        ("GET", "/delay/{ms}") => "GET /delay/{ms}",
        _ => return format!("{method} {route}").into(),
    };
    known.into()
}

struct HeaderExtractor<'a>(&'a axum::http::HeaderMap);

impl opentelemetry::propagation::Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// Measures every request under its route template and runs it inside an
/// OpenTelemetry context: a server span when export is on, else a
/// non-recording span context. Either way the trace id continues the caller's
/// `traceparent` (or is new), and every log line written while the request runs
/// carries it. With neither export nor the access log, only metrics are kept.
async fn observe(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = req.extensions().get::<MatchedPath>().map_or(metrics::UNMATCHED, |m| metrics::intern_route(m.as_str()));
    let method = metrics::method_label(req.method());
    if st.tracer.is_none() && !st.cfg.access_log {
        st.metrics.in_flight.inc();
        let resp = next.run(req).await;
        st.metrics.in_flight.dec();
        st.metrics.observe(method, route, resp.status().as_u16(), start.elapsed().as_secs_f64());
        return resp;
    }

    let parent = st.propagator.extract(&HeaderExtractor(req.headers()));
    let cx = match &st.tracer {
        Some(tracer) => {
            let span = tracer
                .span_builder(span_name(method, route))
                .with_kind(SpanKind::Server)
                .with_attributes([KeyValue::new("http.request.method", method), KeyValue::new("http.route", route)])
                .start_with_context(tracer, &parent);
            parent.with_span(span)
        }
        None => {
            let caller = parent.span().span_context().clone();
            let trace_id = if caller.is_valid() { caller.trace_id() } else { TraceId::from(rand::random::<u128>() | 1) };
            let sc = SpanContext::new(trace_id, SpanId::from(rand::random::<u64>() | 1), TraceFlags::default(), false, TraceState::default());
            Context::new().with_remote_span_context(sc)
        }
    };

    st.metrics.in_flight.inc();
    let resp = next.run(req).with_context(cx.clone()).await;
    st.metrics.in_flight.dec();

    let status = resp.status().as_u16();
    let elapsed = start.elapsed();
    st.metrics.observe(method, route, status, elapsed.as_secs_f64());
    if st.cfg.access_log {
        let _attached = cx.clone().attach();
        tracing::info!(
            target: "access",
            method,
            route,
            status,
            duration_ms = elapsed.as_secs_f64() * 1000.0,
            "request"
        );
    }
    if st.tracer.is_some() {
        let span = cx.span();
        span.set_attribute(KeyValue::new("http.response.status_code", i64::from(status)));
        if status >= 500 {
            span.set_status(opentelemetry::trace::Status::error(format!("HTTP {status}")));
        }
        span.end();
    }
    resp
}
