//! The benchmark baseline: the smallest axum service (one route, no
//! middleware, no metrics, no tracing, no logs). bench/sample-service.sh runs
//! wrk against it and against sample-service in the same run.
//! `LISTEN_ADDR` (default 127.0.0.1:8081).

use axum::Router;
use axum::routing::get;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::var("LISTEN_ADDR").unwrap_or_else(|_| "127.0.0.1:8081".into());
    let app = Router::new().route("/", get(|| async { "hello, world" }));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("hello-world listening on {}", listener.local_addr()?);
    axum::serve(listener, app).await
}
