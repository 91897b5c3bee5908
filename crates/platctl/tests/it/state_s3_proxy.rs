//! A recording, fault-injecting proxy in front of the test SeaweedFS.
//!
//! SeaweedFS is the real store; the proxy only forwards its requests, records
//! them (method and path), and, when a test arms a fault, fails one kind of
//! request the way a network or a store fails: the connection drops after
//! the store did the work (a lost answer), before it (nothing happened), or
//! the store answers with an error status. It can also strip headers from
//! every request (a store that ignores `If-None-Match` or `If-Match`).
//! SeaweedFS runs without S3 credentials in the suite, so a request whose
//! headers changed still passes.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;

use crate::support::*;

/// How an armed rule fails a matching request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward it, let the store act, then drop the connection unanswered.
    DropAfterForward,
    /// Drop the connection without forwarding: the store never sees it.
    DropBeforeForward,
    /// Answer this status without forwarding (S3's XML error body).
    Status(u16),
}

#[derive(Debug, Clone)]
struct Rule {
    method: &'static str,
    path_suffix: &'static str,
    fault: Fault,
}

#[derive(Clone, Default)]
struct Shared {
    rules: Arc<Mutex<Vec<Rule>>>,
    log: Arc<Mutex<Vec<(String, String)>>>,
    /// Request headers never forwarded (lowercase names).
    strip: &'static [&'static str],
}

pub struct S3Proxy {
    pub addr: SocketAddr,
    shared: Shared,
    _thread: std::thread::JoinHandle<()>,
}

impl S3Proxy {
    pub fn start() -> S3Proxy {
        Self::stripping(&[])
    }

    /// A proxy that drops these request headers (lowercase names) from every request.
    pub fn stripping(headers: &'static [&'static str]) -> S3Proxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let shared = Shared { strip: headers, ..Shared::default() };
        let state = (s3_endpoint(), shared.clone(), reqwest::Client::new());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let app = axum::Router::new().fallback(forward).with_state(state);
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                axum::serve(listener, app).await.expect("serve");
            });
        });
        S3Proxy { addr, shared, _thread: thread }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A test store whose S3 requests go through this proxy.
    pub fn store(&self, tag: &str) -> TestStore {
        TestStore::s3_at(tag, &self.endpoint())
    }

    /// Fail every `method` request whose path ends with `path_suffix`.
    pub fn arm(&self, method: &'static str, path_suffix: &'static str, fault: Fault) {
        self.shared.rules.lock().expect("rules").push(Rule { method, path_suffix, fault });
    }

    pub fn disarm(&self) {
        self.shared.rules.lock().expect("rules").clear();
    }

    /// Requests seen since the last call: (method, path without query).
    pub fn take_requests(&self) -> Vec<(String, String)> {
        std::mem::take(&mut *self.shared.log.lock().expect("log"))
    }
}

/// End the connection without an answer. `resume_unwind` unwinds the
/// connection's task without running the panic hook, so nothing is printed.
fn drop_connection() -> ! {
    std::panic::resume_unwind(Box::new("the test proxy drops this connection"))
}

async fn forward(
    State((upstream, shared, client)): State<(String, Shared, reqwest::Client)>,
    req: Request,
) -> Response {
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    shared.log.lock().expect("log").push((method.clone(), path.clone()));
    let fault = shared
        .rules
        .lock()
        .expect("rules")
        .iter()
        .find(|r| r.method == method && path.ends_with(r.path_suffix))
        .map(|r| r.fault);
    match fault {
        Some(Fault::DropBeforeForward) => drop_connection(),
        Some(Fault::Status(status)) => {
            return Response::builder()
                .status(status)
                .header("content-type", "application/xml")
                .body(Body::from(format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>InjectedFault</Code><Message>injected by the test proxy ({status})</Message></Error>"
                )))
                .expect("response");
        }
        _ => {}
    }
    let url =
        format!("{upstream}{}", req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/"));
    let mut builder =
        client.request(reqwest::Method::from_bytes(method.as_bytes()).expect("method"), url);
    for (name, value) in req.headers() {
        if name != "host" && !shared.strip.contains(&name.as_str()) {
            builder = builder.header(name.as_str(), value.as_bytes());
        }
    }
    let body = axum::body::to_bytes(req.into_body(), usize::MAX).await.expect("body");
    let resp = builder.body(body).send().await.expect("upstream");
    let mut out = Response::builder().status(resp.status().as_u16());
    for (name, value) in resp.headers() {
        out = out.header(name.as_str(), value.as_bytes());
    }
    let bytes = resp.bytes().await.expect("upstream body");
    if fault == Some(Fault::DropAfterForward) {
        drop_connection();
    }
    out.body(Body::from(bytes)).expect("response")
}
