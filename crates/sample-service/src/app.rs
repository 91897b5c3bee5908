//! Routes and the request middleware (metrics, trace ids, access log).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::config::Config;
use crate::metrics::{self, Metrics};
use crate::otlp::SpanRecord;
use crate::telemetry::{InTrace, Tracing};

/// Shared by every request; cloning it is one reference-count increment.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub cfg: Config,
    pub metrics: Metrics,
    /// False once shutdown has started: `/readyz` answers 503.
    pub ready: AtomicBool,
    /// The sampler and span queue when OTLP export is on.
    pub tracer: Option<Tracing>,
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
    pub fn new(cfg: Config, tracer: Option<Tracing>) -> Self {
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
        .layer(ObserveLayer(state.clone()))
        .with_state(state)
}

async fn root(State(st): State<AppState>) -> Response {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], st.root_body.clone())
        .into_response()
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

async fn readyz(State(st): State<AppState>) -> Response {
    if st.ready.load(Ordering::Acquire) {
        Json(json!({ "ready": true })).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "ready": false, "reason": "shutting down" })),
        )
            .into_response()
    }
}

/// Prometheus text by default; OpenMetrics when the scraper's `Accept` prefers it.
async fn metrics_handler(State(st): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    let openmetrics = prom_text::wants_openmetrics(
        headers.get_all(header::ACCEPT).iter().filter_map(|v| v.to_str().ok()),
    );
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

/// The caller's W3C `traceparent` (`00-<trace id>-<parent id>-<flags>`):
/// trace id, parent span id and the sampled flag. Invalid headers are ignored,
/// as the W3C spec says (the request then starts a new trace).
fn traceparent(headers: &axum::http::HeaderMap) -> Option<(u128, u64, bool)> {
    static TRACEPARENT: axum::http::HeaderName = axum::http::HeaderName::from_static("traceparent");
    let v = headers.get(&TRACEPARENT)?.to_str().ok()?;
    let mut parts = v.trim().split('-');
    let (version, trace, parent, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, len: usize| {
        s.len() == len && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    if !hex(version, 2)
        || version == "ff"
        || (version == "00" && parts.next().is_some())
        || !hex(trace, 32)
        || !hex(parent, 16)
        || !hex(flags, 2)
    {
        return None;
    }
    let (trace, parent, flags) = (
        u128::from_str_radix(trace, 16).ok()?,
        u64::from_str_radix(parent, 16).ok()?,
        u8::from_str_radix(flags, 16).ok()?,
    );
    (trace != 0 && parent != 0).then_some((trace, parent, flags & 1 == 1))
}

thread_local! {
    /// Trace and span ids need to be unique, not secret: a per-thread
    /// SmallRng seeded from the OS, as the OpenTelemetry SDK's id generator does.
    static IDS: std::cell::RefCell<rand::rngs::SmallRng> = std::cell::RefCell::new(rand::SeedableRng::from_os_rng());
}

fn nonzero_u64() -> u64 {
    IDS.with_borrow_mut(rand::Rng::random::<u64>) | 1
}

fn nonzero_u128() -> u128 {
    IDS.with_borrow_mut(rand::Rng::random::<u128>) | 1
}

/// Measures every request under its route template and runs it with its
/// trace ids current (see telemetry::InTrace): every log line written while
/// the request runs carries the trace id, which continues the caller's
/// `traceparent` (or is new). With export on, a sampled request becomes one
/// SERVER span on the OTLP queue. With neither export nor the access log, only
/// metrics are kept. A tower layer rather than `axum::middleware::from_fn`:
/// no boxed service or future per request.
#[derive(Clone)]
struct ObserveLayer(AppState);

impl<S> tower::Layer<S> for ObserveLayer {
    type Service = Observe<S>;
    fn layer(&self, inner: S) -> Observe<S> {
        Observe { inner, st: self.0.clone() }
    }
}

#[derive(Clone)]
struct Observe<S> {
    inner: S,
    st: AppState,
}

/// What is known when a request starts, for when it ends.
struct Started {
    st: AppState,
    start: Instant,
    method: &'static str,
    route: &'static str,
    /// Trace id, span id, caller's span id (0 if none), start time when sampled.
    trace: Option<(u128, u64, u64, Option<u64>)>,
}

impl<S> tower::Service<Request> for Observe<S>
where
    S: tower::Service<Request, Response = Response> + Clone,
{
    type Response = Response;
    type Error = S::Error;
    type Future = ObserveFuture<S::Future>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let start = Instant::now();
        let route = req
            .extensions()
            .get::<MatchedPath>()
            .map_or(metrics::UNMATCHED, |m| metrics::intern_route(m.as_str()));
        let method = metrics::method_label(req.method());
        let st = self.st.clone();
        let trace = (st.tracer.is_some() || st.cfg.access_log).then(|| {
            let caller = traceparent(req.headers());
            let trace_id = caller.map_or_else(nonzero_u128, |(t, _, _)| t);
            let sampled = st
                .tracer
                .as_ref()
                .is_some_and(|t| t.sampler.sample(trace_id, caller.map(|(_, _, s)| s)));
            (
                trace_id,
                nonzero_u64(),
                caller.map_or(0, |(_, p, _)| p),
                sampled.then(|| unix_nanos(start)),
            )
        });
        st.metrics.in_flight.inc();
        let ids = trace.map_or((0, 0), |(t, s, _, _)| (t, s));
        ObserveFuture {
            inner: InTrace::new(self.inner.call(req), ids),
            started: Some(Started { st, start, method, route, trace }),
        }
    }
}

pin_project_lite::pin_project! {
    struct ObserveFuture<F> {
        #[pin]
        inner: InTrace<F>,
        started: Option<Started>,
    }
}

impl<F, E> std::future::Future for ObserveFuture<F>
where
    F: std::future::Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let this = self.project();
        let result = std::task::ready!(this.inner.poll(cx));
        if let (Some(started), Ok(resp)) = (this.started.take(), &result) {
            finish(&started, resp.status().as_u16());
        }
        std::task::Poll::Ready(result)
    }
}

impl Drop for Started {
    /// Also when the request is dropped unfinished (client gone): in-flight stays true.
    fn drop(&mut self) {
        self.st.metrics.in_flight.dec();
    }
}

/// Metrics, access log line and span of a finished request.
fn finish(started: &Started, status: u16) {
    let Started { st, start, method, route, trace } = started;
    let (method, route) = (*method, *route);
    let elapsed = start.elapsed();
    st.metrics.observe(method, route, status, elapsed.as_secs_f64());
    let Some((trace_id, span_id, parent_span_id, sampled_at)) = *trace else { return };
    if st.cfg.access_log {
        crate::telemetry::with_trace((trace_id, span_id), || {
            tracing::info!(
                target: "access",
                method,
                route,
                status,
                duration_ms = elapsed.as_secs_f64() * 1000.0,
                "request"
            );
        });
    }
    if let (Some(start_unix_nanos), Some(tracer)) = (sampled_at, &st.tracer) {
        tracer.queue.push(SpanRecord {
            trace_id,
            span_id,
            parent_span_id,
            start_unix_nanos,
            end_unix_nanos: start_unix_nanos
                + u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX),
            method,
            route,
            status,
        });
    }
}

/// Unix time of `at`, from one wall-clock reading taken at the first call
/// plus the monotonic clock since: one clock read per span instead of two,
/// and span durations that never go negative when NTP steps the wall clock.
fn unix_nanos(at: Instant) -> u64 {
    static BASE: std::sync::OnceLock<(Instant, u64)> = std::sync::OnceLock::new();
    let (base_instant, base_unix) = *BASE.get_or_init(|| {
        let unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        (Instant::now(), unix)
    });
    let since = at
        .checked_duration_since(base_instant)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    let before = base_instant
        .checked_duration_since(at)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    base_unix.saturating_add(since).saturating_sub(before)
}
