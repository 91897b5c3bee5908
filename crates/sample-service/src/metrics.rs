//! Prometheus metrics: `http_requests_total{method,route,status}`,
//! `http_request_duration_seconds{method,route,status}` (histogram) and
//! `http_requests_in_flight`. `route` is always the matched route template
//! (`/delay/{ms}`), or `unmatched`: never the raw path, so cardinality is bounded.

use std::sync::Arc;
use std::sync::atomic::AtomicI64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The `route` label for requests that matched no route.
pub const UNMATCHED: &str = "unmatched";

pub use prom_text::{OPENMETRICS_CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE};

const BUCKETS: [f64; 14] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Labels without allocation: method and route are interned `&'static str`,
/// the status is the number.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: &'static str,
    pub route: &'static str,
    pub status: u16,
}

/// The route templates this service defines, so labels need no allocation.
const KNOWN_ROUTES: [&str; 5] = ["/", "/healthz", "/readyz", "/metrics", "/delay/{ms}"];

/// A `'static` copy of a matched route template. Templates come from the
/// router (a finite set fixed by the code), so interning them is bounded.
pub fn intern_route(route: &str) -> &'static str {
    if let Some(known) = KNOWN_ROUTES.iter().find(|r| **r == route) {
        return known;
    }
    static EXTRA: std::sync::RwLock<Vec<&'static str>> = std::sync::RwLock::new(Vec::new());
    if let Ok(extra) = EXTRA.read()
        && let Some(found) = extra.iter().find(|r| **r == route)
    {
        return found;
    }
    let mut extra = EXTRA.write().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(found) = extra.iter().find(|r| **r == route) {
        return found;
    }
    let leaked: &'static str = Box::leak(route.to_owned().into_boxed_str());
    extra.push(leaked);
    leaked
}

fn histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// Statuses this service answers with, each with a slot in the handle cache.
const COMMON_STATUSES: [u16; 5] = [200, 404, 503, 400, 500];
const COMMON_METHODS: [&str; 2] = ["GET", "HEAD"];
const CACHE_SLOTS: usize = KNOWN_ROUTES.len() * COMMON_METHODS.len() * COMMON_STATUSES.len();

#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    pub requests: Family<RequestLabels, Counter>,
    pub duration: Family<RequestLabels, Histogram, fn() -> Histogram>,
    pub in_flight: Gauge<i64, AtomicI64>,
    /// Handles of the families' series for this service's own routes, methods
    /// and statuses: a request updates them without the families' lock and
    /// label hashing. They are clones of the families' entries (shared atomics),
    /// so what is exposed is the same.
    cache: Arc<[std::sync::OnceLock<(Counter, Histogram)>; CACHE_SLOTS]>,
}

fn cache_slot(method: &'static str, route: &'static str, status: u16) -> Option<usize> {
    let r = KNOWN_ROUTES.iter().position(|k| std::ptr::eq(*k, route) || *k == route)?;
    let m = COMMON_METHODS.iter().position(|k| *k == method)?;
    let s = COMMON_STATUSES.iter().position(|k| *k == status)?;
    Some((r * COMMON_METHODS.len() + m) * COMMON_STATUSES.len() + s)
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let duration =
            Family::<RequestLabels, Histogram, fn() -> Histogram>::new_with_constructor(histogram);
        let in_flight = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route template and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to produce the response, by method, route template and status",
            duration.clone(),
        );
        registry.register(
            "http_requests_in_flight",
            "HTTP requests being served now",
            in_flight.clone(),
        );
        Self {
            registry: Arc::new(registry),
            requests,
            duration,
            in_flight,
            cache: Arc::new(std::array::from_fn(|_| std::sync::OnceLock::new())),
        }
    }

    pub fn observe(&self, method: &'static str, route: &'static str, status: u16, seconds: f64) {
        let labels = RequestLabels { method, route, status };
        if let Some(slot) = cache_slot(method, route, status) {
            let (count, duration) = self.cache[slot].get_or_init(|| {
                (
                    self.requests.get_or_create(&labels).clone(),
                    self.duration.get_or_create(&labels).clone(),
                )
            });
            duration.observe(seconds);
            count.inc();
            return;
        }
        self.duration.get_or_create(&labels).observe(seconds);
        self.requests.get_or_create(&labels).inc();
    }

    /// The Prometheus text format (0.0.4): OpenMetrics without `# EOF` and
    /// `# UNIT`, with counter families named after their `_total` sample.
    pub fn encode_prometheus(&self) -> String {
        prom_text::openmetrics_to_prometheus(&self.encode())
    }

    /// OpenMetrics text (1.0).
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(8192);
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Standard methods keep their name; anything else is `other` (bounded cardinality).
pub fn method_label(m: &http::Method) -> &'static str {
    match *m {
        http::Method::GET => "GET",
        http::Method::HEAD => "HEAD",
        http::Method::POST => "POST",
        http::Method::PUT => "PUT",
        http::Method::DELETE => "DELETE",
        http::Method::PATCH => "PATCH",
        http::Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}
