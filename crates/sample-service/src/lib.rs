//! sample-service: the platform's reference service. Routes `/`, `/healthz`,
//! `/readyz`, `/metrics` (and `/delay/{ms}` when enabled); JSON-lines logs
//! with trace ids; OTLP traces when `OTEL_EXPORTER_OTLP_*ENDPOINT` is set;
//! graceful drain on SIGTERM. See docs/sample-service.md.

pub mod app;
pub mod config;
pub mod metrics;
pub mod otlp;
pub mod telemetry;
