//! Prometheus metrics of the state server (text exposition format).
//!
//! Every label value comes from a fixed set (route templates, known methods,
//! status codes) or from env names that already exist in the store, so no
//! client can grow the exposition by inventing values.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub route: &'static str,
    pub method: &'static str,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: &'static str,
}

/// The route templates of the server; anything else is `unmatched`.
const ROUTES: [&str; 6] = [
    "/healthz",
    "/metrics",
    "/v1/state/{env}",
    "/v1/state/{env}/versions",
    "/v1/state/{env}/versions/{id}",
    "/v1/state/{env}/rollback",
];

/// The `route` label of a matched route template (`None`: no route matched).
pub fn route_label(template: Option<&str>) -> &'static str {
    template.and_then(|t| ROUTES.iter().find(|r| **r == t).copied()).unwrap_or("unmatched")
}

/// The `method` label: the methods Terraform's protocol and HTTP clients use
/// keep their name; any other method a client invents is `other`.
pub fn method_label(method: &http::Method) -> &'static str {
    const KNOWN: [&str; 9] =
        ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "LOCK", "UNLOCK"];
    KNOWN.iter().find(|m| **m == method.as_str()).copied().unwrap_or("other")
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EnvLabels {
    pub env: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OpLabels {
    pub op: String,
}

pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub latency: Family<RouteLabels, Histogram>,
    pub locks_held: Family<EnvLabels, Gauge>,
    pub lock_age: Family<EnvLabels, Gauge>,
    pub state_bytes: Family<EnvLabels, Gauge>,
    pub store_errors: Family<OpLabels, Counter>,
    /// Connections closed at accept because their address had too many open.
    pub connections_refused: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("platctl");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ])
        });
        let locks_held = Family::<EnvLabels, Gauge>::default();
        let lock_age = Family::<EnvLabels, Gauge>::default();
        let state_bytes = Family::<EnvLabels, Gauge>::default();
        let store_errors = Family::<OpLabels, Counter>::default();
        let connections_refused = Counter::default();
        registry.register(
            "http_requests",
            "HTTP requests by route template, method and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route template",
            latency.clone(),
        );
        registry.register(
            "state_locks_held",
            "1 when the env's state is locked",
            locks_held.clone(),
        );
        registry.register(
            "state_lock_age_seconds",
            "Age of the env's lock in seconds (0 when unlocked)",
            lock_age.clone(),
        );
        registry.register(
            "state_bytes",
            "Size of the env's current state in bytes",
            state_bytes.clone(),
        );
        registry.register("store_errors", "Object store errors by operation", store_errors.clone());
        registry.register(
            "connections_refused",
            "Connections closed at accept: their client address already had the most open connections allowed",
            connections_refused.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            locks_held,
            lock_age,
            state_bytes,
            store_errors,
            connections_refused,
        }
    }

    /// OpenMetrics text, as prometheus-client writes it.
    pub fn encode_openmetrics(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }

    /// Prometheus text format 0.0.4 (what `promtool check metrics` lints).
    pub fn encode_prometheus(&self) -> String {
        prom_text::openmetrics_to_prometheus(&self.encode_openmetrics())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_come_from_fixed_sets() {
        assert_eq!(method_label(&http::Method::GET), "GET");
        assert_eq!(method_label(&http::Method::from_bytes(b"LOCK").expect("method")), "LOCK");
        assert_eq!(method_label(&http::Method::from_bytes(b"X-INVENTED-1").expect("m")), "other");
        assert_eq!(route_label(Some("/v1/state/{env}")), "/v1/state/{env}");
        assert_eq!(route_label(Some("/somewhere/else")), "unmatched");
        assert_eq!(route_label(None), "unmatched");
    }
}
