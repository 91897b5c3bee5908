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
use tracing::Instrument;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::config::Config;
use crate::metrics::{self, Metrics};
use crate::telemetry::parse_traceparent;

#[derive(Clone)]
pub struct AppState {
    pub cfg: Arc<Config>,
    pub metrics: Metrics,
    /// False once shutdown has started: `/readyz` answers 503.
    pub ready: Arc<AtomicBool>,
    /// Whether the OpenTelemetry layer is installed.
    pub otel: bool,
}

impl AppState {
    pub fn new(cfg: Config, otel: bool) -> Self {
        Self { cfg: Arc::new(cfg), metrics: Metrics::new(), ready: Arc::new(AtomicBool::new(true)), otel }
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

async fn root(State(st): State<AppState>) -> Json<serde_json::Value> {
    Json(json!({
        "service": st.cfg.service_name,
        "version": env!("CARGO_PKG_VERSION"),
        "environment": st.cfg.environment,
    }))
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

struct HeaderExtractor<'a>(&'a axum::http::HeaderMap);

impl opentelemetry::propagation::Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// Measures every request under its route template, gives it a span with a
/// trace id (continuing the caller's `traceparent`), and writes the access log.
async fn observe(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = req.extensions().get::<MatchedPath>().map_or(metrics::UNMATCHED, |m| m.as_str()).to_owned();
    let method = req.method().clone();
    let span = tracing::info_span!(
        "request",
        otel.name = Empty,
        otel.kind = "server",
        http.request.method = %method,
        http.route = %route,
        http.response.status_code = Empty,
        trace_id = Empty,
        span_id = Empty,
    );
    if st.otel {
        span.record("otel.name", format!("{method} {route}"));
        let parent = opentelemetry::global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(req.headers())));
        let _ = span.set_parent(parent);
        let cx = span.context();
        let sc = opentelemetry::trace::TraceContextExt::span(&cx).span_context().clone();
        if sc.is_valid() {
            span.record("trace_id", sc.trace_id().to_string());
            span.record("span_id", sc.span_id().to_string());
        }
    } else {
        let from_caller = req
            .headers()
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_traceparent)
            .map(|(t, _)| t);
        let trace_id = from_caller.unwrap_or_else(|| format!("{:032x}", rand::random::<u128>() | 1));
        span.record("trace_id", trace_id);
        span.record("span_id", format!("{:016x}", rand::random::<u64>() | 1));
    }

    st.metrics.in_flight.inc();
    let resp = next.run(req).instrument(span.clone()).await;
    st.metrics.in_flight.dec();

    let status = resp.status().as_u16();
    let elapsed = start.elapsed();
    st.metrics.observe(&method, &route, status, elapsed.as_secs_f64());
    span.record("http.response.status_code", status);
    if st.cfg.access_log {
        let _g = span.enter();
        tracing::info!(
            target: "access",
            method = %method,
            route = %route,
            status,
            duration_ms = elapsed.as_secs_f64() * 1000.0,
            "request"
        );
    }
    resp
}
