//! sample-service entry point. Exit codes: 0 clean shutdown (every request
//! drained), 1 runtime failure or grace period expired with requests in
//! flight, 2 invalid configuration (the message names the variable).

use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use sample_service::app::{AppState, router};
use sample_service::config::Config;
use sample_service::telemetry::{self, OtelSettings};

fn main() -> ExitCode {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let (cfg, otel) =
        match Config::from_env().and_then(|c| OtelSettings::from_env().map(|o| (c, o))) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("sample-service: {e}");
                return ExitCode::from(2);
            }
        };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sample-service: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(run(cfg, otel))
}

async fn run(cfg: Config, otel: OtelSettings) -> ExitCode {
    let telemetry = match telemetry::init(&cfg, &otel) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("sample-service: cannot initialise telemetry: {e:#}");
            return ExitCode::from(1);
        }
    };
    match &otel {
        OtelSettings::Enabled { endpoint, export } => {
            tracing::info!(endpoint = %endpoint, url = %export.url, sampler = ?export.sampler, "OTLP trace export enabled");
        }
        OtelSettings::Disabled { reason } => {
            tracing::info!(reason = %reason, "OTLP trace export disabled")
        }
    }

    let listener = match tokio::net::TcpListener::bind(cfg.listen_addr).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen on LISTEN_ADDR={}", cfg.listen_addr);
            eprintln!("sample-service: cannot listen on LISTEN_ADDR={}: {e}", cfg.listen_addr);
            return ExitCode::from(1);
        }
    };
    let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let (delay, grace) = (cfg.shutdown_delay, cfg.shutdown_grace);
    let state = AppState::new(cfg, telemetry.tracer());
    tracing::info!(
        addr = %addr,
        environment = %state.cfg.environment,
        version = env!("CARGO_PKG_VERSION"),
        shutdown_delay_s = delay.as_secs(),
        shutdown_grace_s = grace.as_secs(),
        "listening"
    );

    let (signalled_tx, signalled_rx) = tokio::sync::oneshot::channel::<Instant>();
    let (drain_tx, drain_rx) = tokio::sync::oneshot::channel::<()>();
    let ready = state.clone();
    tokio::spawn(async move {
        let signal = wait_for_signal().await;
        let at = Instant::now();
        ready.ready.store(false, Ordering::Release);
        tracing::info!(
            signal,
            delay_s = delay.as_secs(),
            grace_s = grace.as_secs(),
            "shutdown started: readiness is false"
        );
        let _ = signalled_tx.send(at);
        tokio::time::sleep(delay).await;
        tracing::info!("no longer accepting connections; draining in-flight requests");
        let _ = drain_tx.send(());
    });

    let metrics = state.metrics.clone();
    let server = axum::serve(listener, router(state)).with_graceful_shutdown(async move {
        let _ = drain_rx.await;
    });
    let deadline = async move {
        match signalled_rx.await {
            Ok(at) => tokio::time::sleep_until((at + grace).into()).await,
            Err(_) => std::future::pending::<()>().await,
        }
    };
    let code = tokio::select! {
        r = server.into_future() => match r {
            Ok(()) => {
                tracing::info!("drained; exiting");
                ExitCode::SUCCESS
            }
            Err(e) => {
                tracing::error!(error = %e, "server failed");
                ExitCode::from(1)
            }
        },
        () = deadline => {
            tracing::error!(
                in_flight = metrics.in_flight.get(),
                grace_s = grace.as_secs(),
                "grace period expired with requests still in flight; exiting"
            );
            ExitCode::from(1)
        }
    };
    telemetry.shutdown(Duration::from_secs(3)).await;
    code
}

async fn wait_for_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot install the SIGTERM handler");
            std::future::pending::<()>().await;
            unreachable!()
        }
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = tokio::signal::ctrl_c() => "SIGINT",
    }
}
