//! Terraform's `http` state backend, served over a [`StateStore`].
//!
//! Routes (all but /healthz need a token when tokens are configured):
//!
//! | route | method | permission |
//! |---|---|---|
//! | /v1/state/{env} | GET | read |
//! | /v1/state/{env}?ID=<lock id> | POST | write (and the lock) |
//! | /v1/state/{env} | DELETE | write |
//! | /v1/state/{env} | LOCK | lock |
//! | /v1/state/{env} | UNLOCK (body = LockInfo) | lock |
//! | /v1/state/{env} | UNLOCK (empty body = force-unlock) | admin |
//! | /v1/state/{env}/versions | GET | read |
//! | /v1/state/{env}/versions/{id} | GET | read |
//! | /v1/state/{env}/rollback | POST | write + lock |
//! | /metrics | GET | read |
//! | /healthz | GET | none |
//!
//! Nothing here logs a token or state content: only env names, sizes,
//! serials, hashes, lock ids and status codes.

pub mod auth;
pub mod metrics;

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use base64::Engine;
use platctl_audit::{Action, AuditEvent, Outcome};
use platctl_state::{Actor, LockInfo, StateError, StateStore, WriteOptions, validate_env};
use serde::Deserialize;

pub use auth::{Permission, Principal, TokenEntry, Tokens, TokensFile};
pub use metrics::Metrics;

/// How the server authenticates callers.
#[derive(Debug, Clone)]
pub enum AuthMode {
    /// No tokens: every caller is a local superuser. Only allowed on loopback.
    LoopbackOnly,
    Tokens(Tokens),
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub auth: AuthMode,
    /// Largest accepted request body.
    pub max_body: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig { auth: AuthMode::LoopbackOnly, max_body: 64 * 1024 * 1024 }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "refusing to listen on {addr} without a tokens file: without authentication the server only binds to loopback (127.0.0.1 or ::1). Pass --tokens FILE (see `platctl state token`)"
    )]
    NotLoopback { addr: SocketAddr },
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("cannot load TLS certificate/key: {0}")]
    Tls(std::io::Error),
    #[error("server failed: {0}")]
    Io(#[from] std::io::Error),
}

struct AppState {
    state: StateStore,
    config: ServerConfig,
    metrics: Metrics,
}

type Shared = Arc<AppState>;

/// Build the router (useful for tests and for embedding).
pub fn router(state: StateStore, config: ServerConfig) -> Router {
    let max_body = config.max_body;
    let shared = Arc::new(AppState { state, config, metrics: Metrics::new() });
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics_handler))
        .route("/v1/state/{env}", any(state_handler))
        .route("/v1/state/{env}/versions", get(versions_handler))
        .route("/v1/state/{env}/versions/{id}", get(version_handler))
        .route("/v1/state/{env}/rollback", post(rollback_handler))
        .fallback(fallback)
        .layer(axum::extract::DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn_with_state(shared.clone(), track))
        .with_state(shared)
}

/// A running server.
pub struct Running {
    pub addr: SocketAddr,
    handle: axum_server::Handle<SocketAddr>,
    task: tokio::task::JoinHandle<Result<(), std::io::Error>>,
}

impl Running {
    /// Stop accepting, let in-flight requests finish (up to `grace`), and wait.
    pub async fn shutdown(self, grace: Duration) -> Result<(), ServeError> {
        self.handle.graceful_shutdown(Some(grace));
        match self.task.await {
            Ok(r) => r.map_err(ServeError::Io),
            Err(e) => Err(ServeError::Io(std::io::Error::other(e))),
        }
    }
}

/// TLS files for HTTPS.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: std::path::PathBuf,
    pub key: std::path::PathBuf,
}

/// Bind and start serving in the background.
pub async fn start(
    state: StateStore,
    config: ServerConfig,
    addr: SocketAddr,
    tls: Option<TlsFiles>,
) -> Result<Running, ServeError> {
    if matches!(config.auth, AuthMode::LoopbackOnly) && !addr.ip().is_loopback() {
        return Err(ServeError::NotLoopback { addr });
    }
    let listener = TcpListener::bind(addr).map_err(|source| ServeError::Bind { addr, source })?;
    start_on(listener, state, config, tls).await
}

/// Start serving on a listener bound earlier. Connections that arrived in
/// between wait in the listen backlog (`platctl tf` binds, starts terraform,
/// then opens the store while terraform starts up).
pub async fn start_on(
    listener: TcpListener,
    state: StateStore,
    config: ServerConfig,
    tls: Option<TlsFiles>,
) -> Result<Running, ServeError> {
    let addr = listener
        .local_addr()
        .map_err(|source| ServeError::Bind { addr: SocketAddr::from(([0, 0, 0, 0], 0)), source })?;
    if matches!(config.auth, AuthMode::LoopbackOnly) && !addr.ip().is_loopback() {
        return Err(ServeError::NotLoopback { addr });
    }
    listener.set_nonblocking(true).map_err(|source| ServeError::Bind { addr, source })?;
    let local = addr;
    let app = router(state, config).into_make_service();
    let handle = axum_server::Handle::new();
    let task = match tls {
        None => {
            let server = axum_server::from_tcp(listener)
                .map_err(|source| ServeError::Bind { addr, source })?
                .handle(handle.clone());
            tokio::spawn(server.serve(app))
        }
        Some(files) => {
            let cfg = axum_server::tls_rustls::RustlsConfig::from_pem_file(&files.cert, &files.key)
                .await
                .map_err(ServeError::Tls)?;
            let server = axum_server::tls_rustls::from_tcp_rustls(listener, cfg)
                .map_err(|source| ServeError::Bind { addr, source })?
                .handle(handle.clone());
            tokio::spawn(server.serve(app))
        }
    };
    Ok(Running { addr: local, handle, task })
}

// ----- middleware ---------------------------------------------------------

async fn track(State(app): State<Shared>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let method = req.method().as_str().to_owned();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    app.metrics
        .requests
        .get_or_create(&metrics::RequestLabels {
            route: route.clone(),
            method: method.clone(),
            status: status.clone(),
        })
        .inc();
    app.metrics
        .latency
        .get_or_create(&metrics::RouteLabels { route: route.clone() })
        .observe(started.elapsed().as_secs_f64());
    tracing::info!(%method, %route, %status, elapsed_ms = started.elapsed().as_millis() as u64, "request");
    response
}

// ----- errors -------------------------------------------------------------

fn text(status: StatusCode, msg: impl Into<String>) -> Response {
    let mut body = msg.into();
    if !body.ends_with('\n') {
        body.push('\n');
    }
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

fn lock_info_response(status: StatusCode, holder: &LockInfo) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], holder.to_json()).into_response()
}

/// Map a state error to the status Terraform's http backend understands.
/// `lock_conflict` is the status for "someone else holds the lock" (423 for
/// LOCK, 409 for writes); both carry the holder's LockInfo JSON.
fn error_response(app: &AppState, err: StateError, lock_conflict: StatusCode) -> Response {
    match err {
        StateError::InvalidEnv { .. } | StateError::InvalidState(_) => {
            text(StatusCode::BAD_REQUEST, err.to_string())
        }
        StateError::Locked { ref holder, .. } => lock_info_response(lock_conflict, holder),
        StateError::LockMismatch { ref holder, .. } => {
            lock_info_response(StatusCode::CONFLICT, holder)
        }
        StateError::NotLocked { .. } | StateError::Conflict(_) => {
            text(StatusCode::CONFLICT, err.to_string())
        }
        StateError::NotFound(_) => text(StatusCode::NOT_FOUND, err.to_string()),
        StateError::Corrupt(_) => text(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()),
        StateError::Store(ref e) => {
            let op = match e {
                platctl_store::StoreError::Backend { op, .. } => *op,
                platctl_store::StoreError::Unsafe { .. } => "probe",
                _ => "other",
            };
            app.metrics.store_errors.get_or_create(&metrics::OpLabels { op: op.to_owned() }).inc();
            tracing::error!(error = %e, "store error");
            text(StatusCode::SERVICE_UNAVAILABLE, err.to_string())
        }
    }
}

// ----- auth ---------------------------------------------------------------

/// Authenticate and authorize. `Err` is the 401/403 response.
fn authorize(
    app: &AppState,
    headers: &HeaderMap,
    env: Option<&str>,
    perm: Permission,
) -> Result<Principal, Response> {
    let principal = match &app.config.auth {
        AuthMode::LoopbackOnly => Principal::local_superuser("local"),
        AuthMode::Tokens(tokens) => {
            let presented = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(auth::presented_token);
            let Some(token) = presented else {
                let mut r = text(
                    StatusCode::UNAUTHORIZED,
                    "authentication required: send HTTP Basic (password = token) or a Bearer token",
                );
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"platctl\""),
                );
                return Err(r);
            };
            match tokens.authenticate(&token) {
                Some(p) => p,
                None => {
                    let mut r = text(StatusCode::UNAUTHORIZED, "unknown token");
                    r.headers_mut().insert(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static("Basic realm=\"platctl\""),
                    );
                    return Err(r);
                }
            }
        }
    };
    if principal.may(env, perm) {
        Ok(principal)
    } else {
        let what = match env {
            Some(env) => format!("env {env}"),
            None => "this route".to_owned(),
        };
        Err(text(
            StatusCode::FORBIDDEN,
            format!("token {:?} lacks the {perm:?} permission for {what}", principal.name)
                .to_lowercase(),
        ))
    }
}

fn actor_of(p: &Principal) -> Actor {
    if p.is_admin() { Actor::admin(&p.name) } else { Actor::new(&p.name) }
}

// ----- handlers -----------------------------------------------------------

async fn metrics_handler(State(app): State<Shared>, headers: HeaderMap) -> Response {
    let openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/openmetrics-text"));
    if let Err(r) = authorize(&app, &headers, None, Permission::Read) {
        return r;
    }
    // Lock gauges are read from the store at scrape time, so they are true even
    // for locks taken by other servers or by plain terraform.
    match app.state.list_envs().await {
        Ok(envs) => {
            for e in envs {
                let labels = metrics::EnvLabels { env: e.env.clone() };
                app.metrics.locks_held.get_or_create(&labels).set(i64::from(e.lock.is_some()));
                app.metrics
                    .lock_age
                    .get_or_create(&labels)
                    .set(e.lock.as_ref().map_or(0, |l| l.age_seconds));
                if let Some(size) = e.size {
                    app.metrics
                        .state_bytes
                        .get_or_create(&labels)
                        .set(i64::try_from(size).unwrap_or(i64::MAX));
                }
            }
        }
        Err(e) => {
            app.metrics.store_errors.get_or_create(&metrics::OpLabels { op: "list".into() }).inc();
            tracing::error!(error = %e, "cannot refresh lock metrics");
        }
    }
    // Prometheus asks for OpenMetrics in its Accept header; everyone else
    // (curl, promtool) gets the classic text format.
    if openmetrics {
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
            app.metrics.encode_openmetrics(),
        )
            .into_response()
    } else {
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
            app.metrics.encode_prometheus(),
        )
            .into_response()
    }
}

async fn fallback(uri: axum::http::Uri) -> Response {
    match uri.path().strip_prefix("/v1/state/") {
        Some(rest) if !rest.is_empty() => text(
            StatusCode::BAD_REQUEST,
            format!(
                "invalid state path {rest:?}: the env must be one path segment of lowercase letters, digits, '-' or '_' (e.g. /v1/state/staging)"
            ),
        ),
        _ => text(StatusCode::NOT_FOUND, "no such route; the state API is at /v1/state/<env>"),
    }
}

#[derive(Debug, Deserialize)]
struct WriteQuery {
    #[serde(rename = "ID")]
    id: Option<String>,
    force: Option<bool>,
}

async fn state_handler(
    State(app): State<Shared>,
    Path(env): Path<String>,
    Query(q): Query<WriteQuery>,
    method: Method,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Err(e) = validate_env(&env) {
        return text(StatusCode::BAD_REQUEST, e.to_string());
    }
    match method.as_str() {
        "GET" => get_state(&app, &env, &headers).await,
        "POST" => post_state(&app, &env, q, &headers, body).await,
        "DELETE" => delete_state(&app, &env, q, &headers).await,
        "LOCK" => lock_state(&app, &env, &headers, body).await,
        "UNLOCK" => unlock_state(&app, &env, &headers, body).await,
        other => text(
            StatusCode::METHOD_NOT_ALLOWED,
            format!(
                "method {other} is not supported on /v1/state/<env>: use GET, POST, DELETE, LOCK or UNLOCK"
            ),
        ),
    }
}

async fn read_body(app: &AppState, body: Body) -> Result<Bytes, Response> {
    axum::body::to_bytes(body, app.config.max_body).await.map_err(|_| {
        text(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body exceeds the limit of {} bytes; raise it with `platctl state serve --max-body-mib`", app.config.max_body),
        )
    })
}

async fn get_state(app: &AppState, env: &str, headers: &HeaderMap) -> Response {
    if let Err(r) = authorize(app, headers, Some(env), Permission::Read) {
        return r;
    }
    match app.state.current_raw(env).await {
        Ok(Some(bytes)) => {
            app.metrics
                .state_bytes
                .get_or_create(&metrics::EnvLabels { env: env.to_owned() })
                .set(i64::try_from(bytes.len()).unwrap_or(i64::MAX));
            let md5 = base64::engine::general_purpose::STANDARD.encode(md5_digest(&bytes));
            (
                StatusCode::OK,
                [
                    (header::CONTENT_TYPE, "application/json".to_owned()),
                    (header::HeaderName::from_static("content-md5"), md5),
                ],
                bytes,
            )
                .into_response()
        }
        Ok(None) => text(StatusCode::NOT_FOUND, format!("env {env} has no state yet")),
        Err(e) => error_response(app, e, StatusCode::LOCKED),
    }
}

fn md5_digest(bytes: &[u8]) -> [u8; 16] {
    use md5::Digest;
    md5::Md5::digest(bytes).into()
}

async fn post_state(
    app: &AppState,
    env: &str,
    q: WriteQuery,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    let principal = match authorize(app, headers, Some(env), Permission::Write) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let force = q.force.unwrap_or(false);
    if force && !principal.is_admin() {
        return text(
            StatusCode::FORBIDDEN,
            "force=true (accepting a lineage change or serial regression) needs an admin token",
        );
    }
    let body = match read_body(app, body).await {
        Ok(b) => b,
        Err(r) => {
            app.state
                .audit(
                    AuditEvent::new(Action::StateWrite, Outcome::Invalid, &principal.name)
                        .env(env)
                        .detail("error", "body too large"),
                )
                .await;
            return r;
        }
    };
    if let Some(given) = headers.get("content-md5") {
        let expected = base64::engine::general_purpose::STANDARD.encode(md5_digest(&body));
        if given.as_bytes() != expected.as_bytes() {
            app.state
                .audit(
                    AuditEvent::new(Action::StateWrite, Outcome::Invalid, &principal.name)
                        .env(env)
                        .detail("error", "content-md5 mismatch"),
                )
                .await;
            return text(
                StatusCode::BAD_REQUEST,
                "Content-MD5 does not match the body: the upload was corrupted in transit; nothing was written, retry",
            );
        }
    }
    let Some(lock_id) = q.id.filter(|id| !id.is_empty()) else {
        app.state
            .audit(
                AuditEvent::new(Action::StateWrite, Outcome::Conflict, &principal.name)
                    .env(env)
                    .detail("error", "no lock id"),
            )
            .await;
        return text(
            StatusCode::CONFLICT,
            format!(
                "state writes require the lock: POST /v1/state/{env}?ID=<lock id>. Run terraform with locking enabled (no -lock=false)"
            ),
        );
    };
    let size = body.len();
    let opts = WriteOptions { force, ..WriteOptions::default() };
    match app.state.write(env, body, &lock_id, &actor_of(&principal), opts).await {
        Ok(outcome) => {
            app.metrics
                .state_bytes
                .get_or_create(&metrics::EnvLabels { env: env.to_owned() })
                .set(i64::try_from(size).unwrap_or(i64::MAX));
            match outcome.version {
                Some(v) => (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, "application/json")],
                    serde_json::to_vec(&v).unwrap_or_default(),
                )
                    .into_response(),
                None => text(StatusCode::OK, "unchanged"),
            }
        }
        Err(e) => error_response(app, e, StatusCode::CONFLICT),
    }
}

async fn delete_state(app: &AppState, env: &str, q: WriteQuery, headers: &HeaderMap) -> Response {
    let principal = match authorize(app, headers, Some(env), Permission::Write) {
        Ok(p) => p,
        Err(r) => return r,
    };
    match app.state.delete(env, q.id.as_deref(), &actor_of(&principal)).await {
        Ok(()) => {
            text(StatusCode::OK, format!("state of env {env} deleted; its versions are kept"))
        }
        Err(e) => error_response(app, e, StatusCode::CONFLICT),
    }
}

async fn lock_state(app: &AppState, env: &str, headers: &HeaderMap, body: Body) -> Response {
    let principal = match authorize(app, headers, Some(env), Permission::Lock) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let body = match read_body(app, body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let info = match LockInfo::parse(&body) {
        Ok(i) => i,
        Err(e) => {
            return text(
                StatusCode::BAD_REQUEST,
                format!("LOCK body is not Terraform LockInfo JSON with an ID: {e}"),
            );
        }
    };
    match app.state.lock(env, info, &actor_of(&principal)).await {
        Ok(_) => text(StatusCode::OK, "locked"),
        Err(e) => error_response(app, e, StatusCode::LOCKED),
    }
}

async fn unlock_state(app: &AppState, env: &str, headers: &HeaderMap, body: Body) -> Response {
    let body = match read_body(app, body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    if body.iter().all(u8::is_ascii_whitespace) {
        // `terraform force-unlock` sends UNLOCK with no body (hashicorp/terraform#28421).
        let principal = match authorize(app, headers, Some(env), Permission::Admin) {
            Ok(p) => p,
            Err(r) => {
                app.state
                    .audit(
                        AuditEvent::new(Action::ForceUnlock, Outcome::Denied, "unknown")
                            .env(env)
                            .detail("status", r.status().as_u16()),
                    )
                    .await;
                return r;
            }
        };
        return match app
            .state
            .force_unlock(
                env,
                &actor_of(&principal),
                "terraform force-unlock through the http backend",
            )
            .await
        {
            Ok(_) => text(StatusCode::OK, "force-unlocked"),
            Err(e) => error_response(app, e, StatusCode::CONFLICT),
        };
    }
    let principal = match authorize(app, headers, Some(env), Permission::Lock) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let info = match LockInfo::parse(&body) {
        Ok(i) => i,
        Err(e) => {
            return text(
                StatusCode::BAD_REQUEST,
                format!("UNLOCK body is not Terraform LockInfo JSON with an ID: {e}"),
            );
        }
    };
    match app.state.unlock(env, &info.id, &actor_of(&principal)).await {
        Ok(_) => text(StatusCode::OK, "unlocked"),
        Err(e) => error_response(app, e, StatusCode::CONFLICT),
    }
}

async fn versions_handler(
    State(app): State<Shared>,
    Path(env): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(e) = validate_env(&env) {
        return text(StatusCode::BAD_REQUEST, e.to_string());
    }
    if let Err(r) = authorize(&app, &headers, Some(&env), Permission::Read) {
        return r;
    }
    match app.state.versions(&env).await {
        Ok(v) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::to_vec_pretty(&v).unwrap_or_default(),
        )
            .into_response(),
        Err(e) => error_response(&app, e, StatusCode::CONFLICT),
    }
}

async fn version_handler(
    State(app): State<Shared>,
    Path((env, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(e) = validate_env(&env) {
        return text(StatusCode::BAD_REQUEST, e.to_string());
    }
    if let Err(r) = authorize(&app, &headers, Some(&env), Permission::Read) {
        return r;
    }
    match app.state.version(&env, &id).await {
        Ok((meta, bytes)) => {
            let mut resp = (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], bytes)
                .into_response();
            let h = resp.headers_mut();
            for (name, value) in [
                ("x-platctl-version", meta.id.clone()),
                ("x-platctl-serial", meta.serial.to_string()),
                ("x-platctl-lineage", meta.lineage.clone()),
                ("x-platctl-sha256", meta.sha256.clone()),
            ] {
                if let Ok(v) = HeaderValue::from_str(&value) {
                    h.insert(name, v);
                }
            }
            resp
        }
        Err(e) => error_response(&app, e, StatusCode::CONFLICT),
    }
}

#[derive(Debug, Deserialize)]
struct RollbackRequest {
    to: String,
    reason: String,
}

async fn rollback_handler(
    State(app): State<Shared>,
    Path(env): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(e) = validate_env(&env) {
        return text(StatusCode::BAD_REQUEST, e.to_string());
    }
    let principal = match authorize(&app, &headers, Some(&env), Permission::Write).and_then(|p| {
        if p.may(Some(&env), Permission::Lock) {
            Ok(p)
        } else {
            Err(text(StatusCode::FORBIDDEN, "rollback needs the write and lock permissions"))
        }
    }) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let req: RollbackRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return text(
                StatusCode::BAD_REQUEST,
                format!(
                    "rollback body must be JSON {{\"to\": \"<version id>\", \"reason\": \"...\"}}: {e}"
                ),
            );
        }
    };
    match app.state.rollback(&env, &req.to, &req.reason, &actor_of(&principal)).await {
        Ok(meta) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::to_vec_pretty(&meta).unwrap_or_default(),
        )
            .into_response(),
        Err(e) => error_response(&app, e, StatusCode::LOCKED),
    }
}
