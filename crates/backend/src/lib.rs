//! Terraform's `http` state backend, served over a [`StateStore`].
//!
//! Routes (all but /healthz need a token when tokens are configured):
//!
//! | route | method | permission |
//! |---|---|---|
//! | /v1/state/{env} | GET | read |
//! | /v1/state/{env}?ID=<lock id> | POST | write, and the lock (taken by the same principal, or admin) |
//! | /v1/state/{env}?ID=<lock id> | DELETE | admin, and the lock |
//! | /v1/state/{env} | LOCK | lock |
//! | /v1/state/{env} | UNLOCK (body = LockInfo) | lock, and the lock taken by the same principal (or admin) |
//! | /v1/state/{env} | UNLOCK (empty body = force-unlock) | admin |
//! | /v1/state/{env}/versions | GET | read |
//! | /v1/state/{env}/versions/{id} | GET | read |
//! | /v1/state/{env}/rollback | POST | write + lock |
//! | /metrics | GET | read |
//! | /healthz | GET | none |
//!
//! Hostile clients: every request is authenticated, and then authorised,
//! before a byte of its body is read; bodies are read against a size limit
//! and an idle timeout; headers must arrive within the read timeout; each
//! client address may hold a bounded number of connections; denied attempts
//! are audited in aggregate ([`denied`]), never with an fsync each.
//!
//! Nothing here logs a token or state content: only env names, sizes,
//! serials, hashes, lock ids and status codes; store errors carry no URL.

pub mod auth;
pub mod conn;
pub mod denied;
pub mod metrics;

use std::net::{IpAddr, SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Extension;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, MatchedPath, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use base64::Engine;
use futures::StreamExt;
use platctl_audit::{Action, AuditEvent, Outcome};
use platctl_state::{Actor, LockInfo, StateError, StateStore, WriteOptions, validate_env};
use serde::Deserialize;

pub use auth::{Permission, Principal, TokenEntry, Tokens, TokensFile};
use denied::{Denial, DeniedLog, Who};
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
    /// Largest accepted state body.
    pub max_body: usize,
    /// Time a client has to send a request's headers, and the longest pause
    /// allowed while it sends a body. An idle keep-alive connection is closed
    /// after it too.
    pub read_timeout: Duration,
    /// Connections one client address may hold open at once.
    pub max_connections_per_client: usize,
    /// How often denied attempts are written to the audit log (aggregated).
    pub denied_flush_interval: Duration,
    /// Serve plain HTTP on a non-loopback address (behind a TLS-terminating
    /// proxy). Without it, such an address needs TLS.
    pub allow_plaintext: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            auth: AuthMode::LoopbackOnly,
            max_body: 64 * 1024 * 1024,
            read_timeout: Duration::from_secs(10),
            max_connections_per_client: 64,
            denied_flush_interval: Duration::from_secs(60),
            allow_plaintext: false,
        }
    }
}

/// The largest rollback request body (`{"to": ..., "reason": ...}`).
const MAX_ROLLBACK_BODY: usize = 64 * 1024;
/// However slowly an authorised client sends a body, it is done by then.
const MAX_BODY_TIME: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "refusing to listen on {addr} without a tokens file: without authentication the server only binds to loopback (127.0.0.1 or ::1). Pass --tokens FILE (see `platctl state token`)"
    )]
    NotLoopback { addr: SocketAddr },
    #[error(
        "refusing to serve plain HTTP on {addr}: tokens would cross the network in clear text. Pass --tls-cert and --tls-key, listen on loopback, \
         or, only behind a proxy that terminates TLS, pass --allow-plaintext"
    )]
    Plaintext { addr: SocketAddr },
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
    denied: DeniedLog,
}

impl AppState {
    /// Write the denied attempts recorded so far to the audit log.
    async fn flush_denied(&self) {
        for event in self.denied.drain() {
            self.state.audit(event).await;
        }
    }
}

type Shared = Arc<AppState>;

fn app(state: StateStore, config: ServerConfig) -> (Router, Shared) {
    let shared =
        Arc::new(AppState { state, config, metrics: Metrics::new(), denied: DeniedLog::default() });
    let router = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics_handler))
        .route("/v1/state/{env}", any(state_handler))
        .route("/v1/state/{env}/versions", get(versions_handler))
        .route("/v1/state/{env}/versions/{id}", get(version_handler))
        .route("/v1/state/{env}/rollback", post(rollback_handler))
        .fallback(fallback)
        // Layers run outside in: track, then authenticate, then the handler.
        .layer(middleware::from_fn_with_state(shared.clone(), authenticate))
        .layer(middleware::from_fn_with_state(shared.clone(), track))
        .with_state(shared.clone());
    (router, shared)
}

/// Build the router (useful for tests and for embedding).
pub fn router(state: StateStore, config: ServerConfig) -> Router {
    app(state, config).0
}

/// A running server.
pub struct Running {
    pub addr: SocketAddr,
    handle: axum_server::Handle<SocketAddr>,
    task: tokio::task::JoinHandle<Result<(), std::io::Error>>,
    shared: Shared,
    flusher: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stop accepting, let in-flight requests finish (up to `grace`), write
    /// the denied attempts not yet audited, and wait.
    pub async fn shutdown(self, grace: Duration) -> Result<(), ServeError> {
        self.handle.graceful_shutdown(Some(grace));
        let served = match self.task.await {
            Ok(r) => r.map_err(ServeError::Io),
            Err(e) => Err(ServeError::Io(std::io::Error::other(e))),
        };
        self.flusher.abort();
        self.shared.flush_denied().await;
        served
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
    check_address(&config, addr, tls.is_some())?;
    let listener = TcpListener::bind(addr).map_err(|source| ServeError::Bind { addr, source })?;
    start_on(listener, state, config, tls).await
}

fn check_address(config: &ServerConfig, addr: SocketAddr, tls: bool) -> Result<(), ServeError> {
    if addr.ip().is_loopback() {
        return Ok(());
    }
    if matches!(config.auth, AuthMode::LoopbackOnly) {
        return Err(ServeError::NotLoopback { addr });
    }
    if !tls && !config.allow_plaintext {
        return Err(ServeError::Plaintext { addr });
    }
    Ok(())
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
    check_address(&config, addr, tls.is_some())?;
    listener.set_nonblocking(true).map_err(|source| ServeError::Bind { addr, source })?;
    let (read_timeout, flush_every) = (config.read_timeout, config.denied_flush_interval);
    let max_per_client = config.max_connections_per_client;
    let (router, shared) = app(state, config);
    let limit = conn::ClientLimit::new(max_per_client, shared.metrics.connections_refused.clone());
    let service = router.into_make_service_with_connect_info::<SocketAddr>();
    let handle = axum_server::Handle::new();
    let task = match tls {
        None => {
            let mut server = axum_server::from_tcp(listener)
                .map_err(|source| ServeError::Bind { addr, source })?
                .acceptor(limit)
                .http1_only()
                .handle(handle.clone());
            limit_reads(&mut server, read_timeout);
            tokio::spawn(server.serve(service))
        }
        Some(files) => {
            let tls = tls_config(&files).await?;
            let mut server = axum_server::tls_rustls::from_tcp_rustls(listener, tls)
                .map_err(|source| ServeError::Bind { addr, source })?
                .map(|tls| tls.handshake_timeout(read_timeout).acceptor(limit))
                .http1_only()
                .handle(handle.clone());
            limit_reads(&mut server, read_timeout);
            tokio::spawn(server.serve(service))
        }
    };
    let flusher = {
        let shared = shared.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(flush_every);
            every.tick().await;
            loop {
                every.tick().await;
                shared.flush_denied().await;
            }
        })
    };
    Ok(Running { addr, handle, task, shared, flusher })
}

/// HTTP/1.1 only (Terraform's protocol needs nothing else; `http1_only` must
/// follow any acceptor change, which resets it), so that the header timeout
/// runs from a connection's first byte, idle keep-alive connections included,
/// and no HTTP/2 stream multiplexing sits outside it. Headers are bounded to
/// 64 KiB per connection.
fn limit_reads<A>(server: &mut axum_server::Server<SocketAddr, A>, read_timeout: Duration) {
    server
        .http_builder()
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(read_timeout)
        .max_buf_size(64 * 1024);
}

/// The certificate and key, offering only HTTP/1.1 in ALPN.
async fn tls_config(files: &TlsFiles) -> Result<axum_server::tls_rustls::RustlsConfig, ServeError> {
    use axum_server::tls_rustls::RustlsConfig;
    let loaded =
        RustlsConfig::from_pem_file(&files.cert, &files.key).await.map_err(ServeError::Tls)?;
    let mut config = (*loaded.get_inner()).clone();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(RustlsConfig::from_config(Arc::new(config)))
}

// ----- middleware ---------------------------------------------------------

async fn track(State(app): State<Shared>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route =
        metrics::route_label(req.extensions().get::<MatchedPath>().map(MatchedPath::as_str));
    let method = metrics::method_label(req.method());
    let response = next.run(req).await;
    let status = response.status().as_u16();
    app.metrics.requests.get_or_create(&metrics::RequestLabels { route, method, status }).inc();
    app.metrics
        .latency
        .get_or_create(&metrics::RouteLabels { route })
        .observe(started.elapsed().as_secs_f64());
    tracing::info!(
        method,
        route,
        status,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}

/// What a request attempts, for the record of a denial.
#[derive(Debug, Clone)]
struct Attempt {
    /// The audit action of a state-changing request (`None` for reads).
    action: Option<Action>,
    env: Option<String>,
    client: Option<IpAddr>,
}

impl Attempt {
    fn of(req: &Request) -> Attempt {
        let path = req.uri().path();
        let mut segments = path.strip_prefix("/v1/state/").unwrap_or("").split('/');
        let env = segments.next().filter(|e| validate_env(e).is_ok()).map(str::to_owned);
        let rest = segments.next();
        let empty_body = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_none_or(|v| v.trim() == "0");
        let action = match (env.is_some(), rest, req.method().as_str()) {
            (true, None, "POST") => Some(Action::StateWrite),
            (true, None, "DELETE") => Some(Action::StateDelete),
            (true, None, "LOCK") => Some(Action::Lock),
            // `terraform force-unlock` sends UNLOCK without a body.
            (true, None, "UNLOCK") if empty_body => Some(Action::ForceUnlock),
            (true, None, "UNLOCK") => Some(Action::Unlock),
            (true, Some("rollback"), "POST") => Some(Action::Rollback),
            _ => None,
        };
        let client = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
        Attempt { action, env, client }
    }
}

impl AppState {
    fn deny(&self, attempt: &Attempt, who: Who, status: StatusCode, reason: &'static str) {
        if let Some(action) = attempt.action {
            self.denied.record(Denial {
                action,
                env: attempt.env.clone(),
                who,
                client: attempt.client,
                status: status.as_u16(),
                reason,
            });
        }
    }
}

fn unauthorized(msg: &str) -> Response {
    let mut r = text(StatusCode::UNAUTHORIZED, msg);
    r.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"platctl\""));
    r
}

/// Authenticate every request but /healthz before any handler runs, and so
/// before any body is read. The principal and the attempt ride along in the
/// request's extensions.
async fn authenticate(State(app): State<Shared>, mut req: Request, next: Next) -> Response {
    if req.uri().path() == "/healthz" {
        return next.run(req).await;
    }
    let attempt = Attempt::of(&req);
    let principal = match &app.config.auth {
        AuthMode::LoopbackOnly => Principal::local_superuser("local"),
        AuthMode::Tokens(tokens) => {
            let presented = req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(auth::presented_token);
            let Some(token) = presented else {
                app.deny(&attempt, Who::Anonymous, StatusCode::UNAUTHORIZED, "no token");
                return unauthorized(
                    "authentication required: send HTTP Basic (password = token) or a Bearer token",
                );
            };
            match tokens.authenticate(&token) {
                Some(p) => p,
                None => {
                    app.deny(
                        &attempt,
                        Who::UnknownToken,
                        StatusCode::UNAUTHORIZED,
                        "unknown token",
                    );
                    return unauthorized("unknown token");
                }
            }
        }
    };
    req.extensions_mut().insert(principal);
    req.extensions_mut().insert(attempt);
    next.run(req).await
}

/// Who is asking and what for, as [`authenticate`] found it.
type Caller = (Extension<Principal>, Extension<Attempt>);

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
/// LOCK, 409 for writes); both carry the holder's LockInfo JSON, which names
/// the holder but no longer lets anyone else act on the lock.
fn error_response(
    app: &AppState,
    who: (&Principal, &Attempt),
    err: StateError,
    lock_conflict: StatusCode,
) -> Response {
    match err {
        StateError::InvalidEnv { .. } | StateError::InvalidState(_) => {
            text(StatusCode::BAD_REQUEST, err.to_string())
        }
        StateError::Locked { ref holder, .. } => lock_info_response(lock_conflict, holder),
        StateError::LockMismatch { ref holder, .. } => {
            lock_info_response(StatusCode::CONFLICT, holder)
        }
        StateError::NotLockOwner { .. } => {
            let (principal, attempt) = who;
            app.deny(
                attempt,
                Who::Principal(principal.name.clone()),
                StatusCode::FORBIDDEN,
                "not the lock owner",
            );
            text(StatusCode::FORBIDDEN, err.to_string())
        }
        StateError::NotLocked { .. } | StateError::Conflict(_) => {
            text(StatusCode::CONFLICT, err.to_string())
        }
        StateError::NotFound(_) => text(StatusCode::NOT_FOUND, err.to_string()),
        StateError::Corrupt(_) => text(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()),
        StateError::Store(ref e) | StateError::Partial { error: ref e, .. } => {
            let op = match e {
                platctl_store::StoreError::Backend { op, .. } => *op,
                platctl_store::StoreError::Unsafe { .. } => "probe",
                _ => "other",
            };
            app.metrics.store_errors.get_or_create(&metrics::OpLabels { op: op.to_owned() }).inc();
            // StoreError carries no URL, so neither does this line or the answer.
            tracing::error!(error = %err, "store error");
            let msg = match err {
                StateError::Store(_) => format!("{err}. Nothing was changed; retry"),
                _ => err.to_string(),
            };
            text(StatusCode::SERVICE_UNAVAILABLE, msg)
        }
    }
}

// ----- auth ---------------------------------------------------------------

/// Authorize an authenticated caller. `Err` is the 403 response (the denial
/// is recorded), boxed: it is the rare path.
fn authorize(
    app: &AppState,
    (principal, attempt): (&Principal, &Attempt),
    env: Option<&str>,
    perm: Permission,
) -> Result<(), Box<Response>> {
    if principal.may(env, perm) {
        return Ok(());
    }
    app.deny(attempt, Who::Principal(principal.name.clone()), StatusCode::FORBIDDEN, "forbidden");
    let what = match env {
        Some(env) => format!("env {env}"),
        None => "this route".to_owned(),
    };
    Err(Box::new(text(
        StatusCode::FORBIDDEN,
        format!("token {:?} lacks the {perm:?} permission for {what}", principal.name)
            .to_lowercase(),
    )))
}

fn actor_of(p: &Principal) -> Actor {
    if p.is_admin() { Actor::admin(&p.name) } else { Actor::new(&p.name) }
}

/// Read a body the caller is authorised to send: refused at once when its
/// declared length is over `limit`, cut off when it grows over it, and
/// abandoned when the client pauses longer than the read timeout.
async fn read_body(
    app: &AppState,
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Bytes, Response> {
    let too_large = || {
        text(
            StatusCode::PAYLOAD_TOO_LARGE,
            if limit == app.config.max_body {
                format!(
                    "request body exceeds the limit of {limit} bytes; raise it with `platctl state serve --max-body-mib`"
                )
            } else {
                format!("request body exceeds the limit of {limit} bytes for this request")
            },
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let idle = app.config.read_timeout;
    let deadline = tokio::time::Instant::now() + MAX_BODY_TIME;
    let mut stream = body.into_data_stream();
    // Grown as data arrives: a declared length is only a claim.
    let mut buf = Vec::with_capacity(declared.map_or(0, |n| n as usize).min(1 << 20));
    loop {
        let next = tokio::time::timeout_at(
            deadline.min(tokio::time::Instant::now() + idle),
            stream.next(),
        );
        match next.await {
            Err(_) => {
                return Err(text(
                    StatusCode::REQUEST_TIMEOUT,
                    format!(
                        "the request body stalled (no data for {} s, or longer than {} s in all); nothing was written",
                        idle.as_secs(),
                        MAX_BODY_TIME.as_secs()
                    ),
                ));
            }
            Ok(None) => return Ok(Bytes::from(buf)),
            Ok(Some(Err(e))) => {
                return Err(text(
                    StatusCode::BAD_REQUEST,
                    format!("cannot read the request body: {e}"),
                ));
            }
            Ok(Some(Ok(chunk))) => {
                if buf.len() + chunk.len() > limit {
                    return Err(too_large());
                }
                buf.extend_from_slice(&chunk);
            }
        }
    }
}

// ----- handlers -----------------------------------------------------------

async fn metrics_handler(
    State(app): State<Shared>,
    (Extension(principal), Extension(attempt)): Caller,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = authorize(&app, (&principal, &attempt), None, Permission::Read) {
        return *r;
    }
    // Lock gauges are read from the store at scrape time, so they are true even
    // for locks taken by other servers or by plain terraform. Sizes come from
    // HEAD requests: no state is downloaded.
    match app.state.gauges().await {
        Ok(envs) => {
            for e in envs {
                let labels = metrics::EnvLabels { env: e.env.clone() };
                app.metrics
                    .locks_held
                    .get_or_create(&labels)
                    .set(i64::from(e.lock_age_seconds.is_some()));
                app.metrics.lock_age.get_or_create(&labels).set(e.lock_age_seconds.unwrap_or(0));
                if let Some(size) = e.state_bytes {
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
    let openmetrics = prom_text::wants_openmetrics(
        headers.get_all(header::ACCEPT).iter().filter_map(|v| v.to_str().ok()),
    );
    let (content_type, body) = if openmetrics {
        (prom_text::OPENMETRICS_CONTENT_TYPE, app.metrics.encode_openmetrics())
    } else {
        (prom_text::PROMETHEUS_CONTENT_TYPE, app.metrics.encode_prometheus())
    };
    (StatusCode::OK, [(header::CONTENT_TYPE, content_type)], body).into_response()
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
    (Extension(principal), Extension(attempt)): Caller,
    Path(env): Path<String>,
    Query(q): Query<WriteQuery>,
    method: Method,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Err(e) = validate_env(&env) {
        return text(StatusCode::BAD_REQUEST, e.to_string());
    }
    let call = Call { app: &app, who: (&principal, &attempt), env: &env, headers: &headers };
    match method.as_str() {
        "GET" => call.get_state().await,
        "POST" => call.post_state(q, body).await,
        "DELETE" => call.delete_state(q).await,
        "LOCK" => call.lock_state(body).await,
        "UNLOCK" => call.unlock_state(body).await,
        other => text(
            StatusCode::METHOD_NOT_ALLOWED,
            format!(
                "method {other} is not supported on /v1/state/<env>: use GET, POST, DELETE, LOCK or UNLOCK"
            ),
        ),
    }
}

/// One authenticated request on /v1/state/{env}.
struct Call<'a> {
    app: &'a AppState,
    who: (&'a Principal, &'a Attempt),
    env: &'a str,
    headers: &'a HeaderMap,
}

impl Call<'_> {
    fn authorize(&self, perm: Permission) -> Result<(), Box<Response>> {
        authorize(self.app, self.who, Some(self.env), perm)
    }

    fn error(&self, err: StateError, lock_conflict: StatusCode) -> Response {
        error_response(self.app, self.who, err, lock_conflict)
    }

    fn actor(&self) -> Actor {
        actor_of(self.who.0)
    }

    fn name(&self) -> &str {
        &self.who.0.name
    }

    async fn get_state(&self) -> Response {
        if let Err(r) = self.authorize(Permission::Read) {
            return *r;
        }
        match self.app.state.current_raw(self.env).await {
            Ok(Some(bytes)) => {
                self.app
                    .metrics
                    .state_bytes
                    .get_or_create(&metrics::EnvLabels { env: self.env.to_owned() })
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
            Ok(None) => text(StatusCode::NOT_FOUND, format!("env {} has no state yet", self.env)),
            Err(e) => self.error(e, StatusCode::LOCKED),
        }
    }

    async fn audit_refused(&self, outcome: Outcome, why: &str) {
        self.app
            .state
            .audit(
                AuditEvent::new(Action::StateWrite, outcome, self.name())
                    .env(self.env)
                    .detail("error", why),
            )
            .await;
    }

    async fn post_state(&self, q: WriteQuery, body: Body) -> Response {
        if let Err(r) = self.authorize(Permission::Write) {
            return *r;
        }
        let force = q.force.unwrap_or(false);
        if force && !self.who.0.is_admin() {
            self.app.deny(
                self.who.1,
                Who::Principal(self.name().to_owned()),
                StatusCode::FORBIDDEN,
                "forbidden",
            );
            return text(
                StatusCode::FORBIDDEN,
                "force=true (accepting a lineage change or serial regression) needs an admin token",
            );
        }
        let Some(lock_id) = q.id.filter(|id| !id.is_empty()) else {
            self.audit_refused(Outcome::Conflict, "no lock id").await;
            return text(
                StatusCode::CONFLICT,
                format!(
                    "state writes require the lock: POST /v1/state/{}?ID=<lock id>. Run terraform with locking enabled (no -lock=false)",
                    self.env
                ),
            );
        };
        let body = match read_body(self.app, self.headers, body, self.app.config.max_body).await {
            Ok(b) => b,
            Err(r) => {
                self.audit_refused(Outcome::Invalid, "body too large or stalled").await;
                return r;
            }
        };
        if let Some(given) = self.headers.get("content-md5") {
            let expected = base64::engine::general_purpose::STANDARD.encode(md5_digest(&body));
            if given.as_bytes() != expected.as_bytes() {
                self.audit_refused(Outcome::Invalid, "content-md5 mismatch").await;
                return text(
                    StatusCode::BAD_REQUEST,
                    "Content-MD5 does not match the body: the upload was corrupted in transit; nothing was written, retry",
                );
            }
        }
        let size = body.len();
        let opts = WriteOptions { force, ..WriteOptions::default() };
        match self.app.state.write(self.env, body, &lock_id, &self.actor(), opts).await {
            Ok(outcome) => {
                self.app
                    .metrics
                    .state_bytes
                    .get_or_create(&metrics::EnvLabels { env: self.env.to_owned() })
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
            Err(e) => self.error(e, StatusCode::CONFLICT),
        }
    }

    async fn delete_state(&self, q: WriteQuery) -> Response {
        if let Err(r) = self.authorize(Permission::Admin) {
            return *r;
        }
        let Some(lock_id) = q.id.filter(|id| !id.is_empty()) else {
            return text(
                StatusCode::CONFLICT,
                format!(
                    "deleting the state needs the lock: LOCK the env, then DELETE /v1/state/{}?ID=<lock id>",
                    self.env
                ),
            );
        };
        match self.app.state.delete(self.env, &lock_id, &self.actor()).await {
            Ok(()) => text(
                StatusCode::OK,
                format!("state of env {} deleted; its versions are kept", self.env),
            ),
            Err(e) => self.error(e, StatusCode::CONFLICT),
        }
    }

    async fn lock_state(&self, body: Body) -> Response {
        if let Err(r) = self.authorize(Permission::Lock) {
            return *r;
        }
        let body = match read_body(self.app, self.headers, body, LockInfo::MAX_BYTES).await {
            Ok(b) => b,
            Err(r) => return r,
        };
        let info = match lock_info(&body, "LOCK") {
            Ok(i) => i,
            Err(r) => return *r,
        };
        match self.app.state.lock(self.env, info, &self.actor()).await {
            Ok(_) => text(StatusCode::OK, "locked"),
            Err(e) => self.error(e, StatusCode::LOCKED),
        }
    }

    async fn unlock_state(&self, body: Body) -> Response {
        // Both kinds of UNLOCK need at least the lock permission: checked
        // before the body (which tells them apart) is read.
        if let Err(r) = self.authorize(Permission::Lock) {
            return *r;
        }
        let body = match read_body(self.app, self.headers, body, LockInfo::MAX_BYTES).await {
            Ok(b) => b,
            Err(r) => return r,
        };
        if body.iter().all(u8::is_ascii_whitespace) {
            // `terraform force-unlock` sends UNLOCK with no body (hashicorp/terraform#28421).
            let force = Attempt { action: Some(Action::ForceUnlock), ..self.who.1.clone() };
            if let Err(r) =
                authorize(self.app, (self.who.0, &force), Some(self.env), Permission::Admin)
            {
                return *r;
            }
            return match self
                .app
                .state
                .force_unlock(
                    self.env,
                    &self.actor(),
                    "terraform force-unlock through the http backend",
                )
                .await
            {
                Ok(_) => text(StatusCode::OK, "force-unlocked"),
                Err(e) => self.error(e, StatusCode::CONFLICT),
            };
        }
        let info = match lock_info(&body, "UNLOCK") {
            Ok(i) => i,
            Err(r) => return *r,
        };
        let unlock = Attempt { action: Some(Action::Unlock), ..self.who.1.clone() };
        match self.app.state.unlock(self.env, &info.id, &self.actor()).await {
            Ok(_) => text(StatusCode::OK, "unlocked"),
            Err(e) => error_response(self.app, (self.who.0, &unlock), e, StatusCode::CONFLICT),
        }
    }
}

/// The LockInfo a LOCK or UNLOCK carries; `Err` is the 400 that says why not.
fn lock_info(body: &[u8], method: &str) -> Result<LockInfo, Box<Response>> {
    LockInfo::parse(body).map_err(|e| {
        Box::new(text(
            StatusCode::BAD_REQUEST,
            format!("{method} body is not Terraform LockInfo JSON with an ID: {e}"),
        ))
    })
}

fn md5_digest(bytes: &[u8]) -> [u8; 16] {
    use md5::Digest;
    md5::Md5::digest(bytes).into()
}

async fn versions_handler(
    State(app): State<Shared>,
    (Extension(principal), Extension(attempt)): Caller,
    Path(env): Path<String>,
) -> Response {
    if let Err(e) = validate_env(&env) {
        return text(StatusCode::BAD_REQUEST, e.to_string());
    }
    let who = (&principal, &attempt);
    if let Err(r) = authorize(&app, who, Some(&env), Permission::Read) {
        return *r;
    }
    match app.state.versions(&env).await {
        Ok(v) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::to_vec_pretty(&v).unwrap_or_default(),
        )
            .into_response(),
        Err(e) => error_response(&app, who, e, StatusCode::CONFLICT),
    }
}

async fn version_handler(
    State(app): State<Shared>,
    (Extension(principal), Extension(attempt)): Caller,
    Path((env, id)): Path<(String, String)>,
) -> Response {
    if let Err(e) = validate_env(&env) {
        return text(StatusCode::BAD_REQUEST, e.to_string());
    }
    let who = (&principal, &attempt);
    if let Err(r) = authorize(&app, who, Some(&env), Permission::Read) {
        return *r;
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
        Err(e) => error_response(&app, who, e, StatusCode::CONFLICT),
    }
}

#[derive(Debug, Deserialize)]
struct RollbackRequest {
    to: String,
    reason: String,
}

async fn rollback_handler(
    State(app): State<Shared>,
    (Extension(principal), Extension(attempt)): Caller,
    Path(env): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Err(e) = validate_env(&env) {
        return text(StatusCode::BAD_REQUEST, e.to_string());
    }
    let who = (&principal, &attempt);
    if let Err(r) = authorize(&app, who, Some(&env), Permission::Write)
        .and_then(|()| authorize(&app, who, Some(&env), Permission::Lock))
    {
        return *r;
    }
    let body = match read_body(&app, &headers, body, MAX_ROLLBACK_BODY).await {
        Ok(b) => b,
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
        Err(e) => error_response(&app, who, e, StatusCode::LOCKED),
    }
}
