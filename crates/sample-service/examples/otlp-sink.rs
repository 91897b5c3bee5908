//! A minimal OTLP/HTTP receiver for the benchmark: accepts `POST /v1/traces`
//! (protobuf), answers 200 with an empty ExportTraceServiceResponse and counts
//! requests and bytes (printed on stderr every 5s). Lets the benchmark run
//! sample-service with trace export on, without a collector.
//! `LISTEN_ADDR` (default 127.0.0.1:4318).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::routing::post;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let addr = std::env::var("LISTEN_ADDR").unwrap_or_else(|_| "127.0.0.1:4318".into());
    let posts = Arc::new(AtomicU64::new(0));
    let bytes = Arc::new(AtomicU64::new(0));
    let (p, b) = (posts.clone(), bytes.clone());
    let app = Router::new().route(
        "/v1/traces",
        post(move |body: axum::body::Bytes| {
            let (p, b) = (p.clone(), b.clone());
            async move {
                p.fetch_add(1, Ordering::Relaxed);
                b.fetch_add(body.len() as u64, Ordering::Relaxed);
                ([("content-type", "application/x-protobuf")], Vec::<u8>::new())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("otlp-sink listening on {}", listener.local_addr()?);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            eprintln!(
                "otlp-sink: {} exports, {} bytes",
                posts.load(Ordering::Relaxed),
                bytes.load(Ordering::Relaxed)
            );
        }
    });
    axum::serve(listener, app).await
}
