//! `platctl smoke` against real endpoints on loopback: the real sample-service
//! router (in process), deliberately broken servers, HTTPS with a throwaway CA
//! made by rcgen, and DNS through a real dnsmasq.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use serde_json::Value;

async fn smoke(args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_platctl"))
        .arg("smoke")
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .await
        .expect("spawn platctl")
}

fn out(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn report(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", out(o)))
}

/// The check named `name` in a JSON report: (status, message).
fn check(r: &Value, name: &str) -> (String, String) {
    let c = r["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {r:#}"));
    assert!(c["duration_ms"].as_f64().is_some(), "{c}");
    (
        c["status"].as_str().expect("status").to_owned(),
        c["message"].as_str().expect("message").to_owned(),
    )
}

/// The real sample-service router (metrics, middleware and all) on loopback.
fn sample_router() -> axum::Router {
    let cfg = sample_service::config::Config::from_lookup(|_| None).expect("default config");
    sample_service::app::router(sample_service::app::AppState::new(cfg, None))
}

async fn serve(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

#[tokio::test]
async fn passes_against_the_sample_service() {
    let addr = serve(sample_router()).await;
    let url = format!("http://localhost:{}/", addr.port());
    let o = smoke(&[
        "--url",
        &url,
        "--resolve",
        "localhost:127.0.0.1",
        "--expect-metric",
        "http_requests_total",
        "http_request_duration_seconds",
        "--output",
        "json",
    ])
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let r = report(&o);
    assert_eq!(r["passed"], true);
    assert_eq!(r["attempts"], 1);
    let names: Vec<&str> = r["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| c["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        names,
        [
            "dns",
            "healthz",
            "readyz",
            "metrics",
            "metric http_requests_total",
            "metric http_request_duration_seconds"
        ]
    );
    for n in names {
        assert_eq!(check(&r, n).0, "pass", "{n}: {r:#}");
    }
    assert!(check(&r, "dns").1.starts_with("localhost -> "), "{r:#}");
    assert_eq!(check(&r, "healthz").1, "/healthz answered 200");

    // Text output: one line per check with its result and time, no colour under NO_COLOR.
    let o = smoke(&["--url", &format!("http://{addr}")]).await;
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(!text.contains('\x1b'), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    assert!(lines[0].starts_with("PASS  dns") && lines[0].contains("ms  "), "{text}");
    assert!(lines[4].contains("4 passed, 0 failed, 0 skipped; 1 attempt"), "{text}");
}

#[tokio::test]
async fn a_dead_service_fails() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let o = smoke(&[
        "--url",
        &format!("http://127.0.0.1:{port}"),
        "--output",
        "json",
        "--timeout",
        "2",
    ])
    .await;
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    let r = report(&o);
    assert_eq!(check(&r, "healthz"), ("fail".into(), "/healthz: connection refused".into()));
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("smoke failed: healthz: /healthz: connection refused"),
        "{}",
        out(&o)
    );
}

#[tokio::test]
async fn a_500_on_healthz_fails_with_the_status() {
    use axum::http::StatusCode;
    use axum::routing::get;
    let app = axum::Router::new()
        .route("/healthz", get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "db down") }))
        .route("/readyz", get(|| async { "ok" }))
        .route("/metrics", get(|| async { "# TYPE up gauge\nup 1\n" }));
    let addr = serve(app).await;
    let o = smoke(&["--url", &format!("http://{addr}"), "--output", "json"]).await;
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    let r = report(&o);
    assert_eq!(check(&r, "healthz"), ("fail".into(), "/healthz answered 500".into()));
    assert_eq!(check(&r, "readyz").0, "pass");
    assert_eq!(check(&r, "metrics").0, "pass");
}

#[tokio::test]
async fn a_missing_metric_or_a_broken_exposition_fails() {
    let addr = serve(sample_router()).await;
    let o = smoke(&[
        "--url",
        &format!("http://{addr}"),
        "--expect-metric",
        "http_requests_total",
        "--expect-metric",
        "foo",
        "--output",
        "json",
    ])
    .await;
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    let r = report(&o);
    assert_eq!(check(&r, "metric http_requests_total").0, "pass");
    assert_eq!(check(&r, "metric foo"), ("fail".into(), "metric foo missing".into()));

    use axum::routing::get;
    let html = axum::Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(|| async { "ok" }))
        .route("/metrics", get(|| async { "<html>login</html>\n" }));
    let addr = serve(html).await;
    let o =
        smoke(&["--url", &format!("http://{addr}"), "--expect-metric", "up", "--output", "json"])
            .await;
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    let r = report(&o);
    let (status, msg) = check(&r, "metrics");
    assert_eq!(status, "fail");
    assert!(
        msg.starts_with("/metrics is not valid Prometheus exposition: line 1: invalid metric name"),
        "{msg}"
    );
    assert_eq!(check(&r, "metric up"), ("skip".into(), "skipped: metrics failed".into()));
}

#[tokio::test]
async fn retries_wait_for_a_converging_environment() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("rebind");
        axum::serve(listener, sample_router()).await
    });
    let o = smoke(&[
        "--url",
        &format!("http://127.0.0.1:{port}"),
        "--retries",
        "5",
        "--backoff",
        "0.4",
        "--output",
        "json",
    ])
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let r = report(&o);
    let attempts = r["attempts"].as_u64().expect("attempts");
    assert!((2..=6).contains(&attempts), "{r:#}");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains(
            "attempt 1/6 failed (healthz: /healthz: connection refused); retrying in 0.4s"
        ),
        "{stderr}"
    );

    // Without retries the same dead endpoint fails at once.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let o = smoke(&[
        "--url",
        &format!("http://127.0.0.1:{dead}"),
        "--retries",
        "1",
        "--backoff",
        "0.1",
        "--output",
        "json",
    ])
    .await;
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert_eq!(report(&o)["attempts"], 2);
}

#[tokio::test]
async fn usage_errors_exit_2_and_help_documents_exit_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let not_pem = dir.path().join("ca.pem");
    std::fs::write(&not_pem, "not a certificate").expect("write");
    for (args, needle) in [
        (vec!["--url", "ftp://example.test/"], "only http and https"),
        (
            vec!["--url", "http://a.test/", "--resolve", "b.test:127.0.0.1"],
            "names host \"b.test\" but the URL's host is \"a.test\"",
        ),
        (vec!["--url", "http://a.test/", "--resolve", "a.test:nope"], "not an IP address"),
        (vec!["--url", "http://a.test/", "--dns-server", "dns.example"], "expected IP or IP:PORT"),
        (
            vec!["--url", "https://a.test/", "--ca", not_pem.to_str().expect("utf8")],
            "contains no PEM certificate",
        ),
        (vec!["--url", "https://a.test/", "--ca", "/nonexistent/ca.pem"], "cannot read"),
        (vec!["--url", "http://a.test/", "--timeout", "0"], "--timeout 0: expected seconds"),
        (vec!["--url", "http://a.test/", "--output", "yaml"], "invalid value"),
    ] {
        let o = smoke(&args).await;
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", out(&o));
        assert!(String::from_utf8_lossy(&o.stderr).contains(needle), "{args:?}: {}", out(&o));
    }
    let o = smoke(&["--help"]).await;
    let help = String::from_utf8_lossy(&o.stdout);
    assert!(help.contains("Exit codes: 0 every check passed; 1 a check failed"), "{help}");
    assert!(help.contains("2 usage"), "{help}");
    assert!(help.contains("NO_COLOR"), "{help}");
}

// ---------- TLS through a local HTTPS endpoint and a throwaway CA ----------

struct Pki {
    dir: tempfile::TempDir,
    ca: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl Pki {
    fn new(cn: &str) -> Self {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.distinguished_name.push(rcgen::DnType::CommonName, cn);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages =
            vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("ca");
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("ca.pem"), cert.pem()).expect("write ca");
        Self { dir, ca: rcgen::Issuer::new(params, key) }
    }

    fn ca_path(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A leaf for `names`, valid from `from_days` to `to_days` relative to now.
    fn leaf(&self, names: &[&str], from_days: i64, to: time::Duration) -> (String, String) {
        let mut params = rcgen::CertificateParams::new(
            names.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>(),
        )
        .expect("params");
        params.distinguished_name.push(rcgen::DnType::CommonName, names[0]);
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now + time::Duration::days(from_days);
        params.not_after = now + to;
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.ca).expect("sign");
        (cert.pem(), key.serialize_pem())
    }
}

async fn serve_tls(cert_pem: String, key_pem: String) -> SocketAddr {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let config = axum_server::tls_rustls::RustlsConfig::from_pem(
        cert_pem.into_bytes(),
        key_pem.into_bytes(),
    )
    .await
    .expect("tls config");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("addr");
    let server = axum_server::from_tcp_rustls(listener, config).expect("server");
    tokio::spawn(async move { server.serve(sample_router().into_make_service()).await });
    addr
}

async fn smoke_tls(addr: SocketAddr, ca: &Path, extra: &[&str]) -> (Output, Value) {
    let url = format!("https://localhost:{}/", addr.port());
    let mut args = vec![
        "--url",
        url.as_str(),
        "--resolve",
        "localhost:127.0.0.1",
        "--ca",
        ca.to_str().expect("utf8"),
        "--output",
        "json",
    ];
    args.extend_from_slice(extra);
    let o = smoke(&args).await;
    let r = report(&o);
    (o, r)
}

#[tokio::test]
async fn tls_valid_chain_passes_and_reports_the_issuer() {
    let pki = Pki::new("platctl test CA");
    let (cert, key) =
        pki.leaf(&["localhost"], -1, time::Duration::days(90) - time::Duration::hours(1));
    let addr = serve_tls(cert, key).await;
    let (o, r) = smoke_tls(addr, &pki.ca_path(), &["--expect-metric", "http_requests_total"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let (status, msg) = check(&r, "tls");
    assert_eq!(status, "pass");
    assert!(msg.starts_with("issuer CN=platctl test CA; expires "), "{msg}");
    assert!(msg.contains("(89 days)") && msg.ends_with("SAN localhost"), "{msg}");
    assert_eq!(check(&r, "healthz").0, "pass");
}

#[tokio::test]
async fn tls_expired_certificate_fails_with_its_age() {
    let pki = Pki::new("platctl test CA");
    let (cert, key) =
        pki.leaf(&["localhost"], -30, -(time::Duration::days(3) + time::Duration::hours(1)));
    let addr = serve_tls(cert, key).await;
    let (o, r) = smoke_tls(addr, &pki.ca_path(), &[]).await;
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    let (status, msg) = check(&r, "tls");
    assert_eq!(status, "fail");
    assert!(msg.starts_with("certificate for localhost expired 3 days ago ("), "{msg}");
    assert!(msg.ends_with("issuer CN=platctl test CA"), "{msg}");
    assert_eq!(check(&r, "healthz"), ("skip".into(), "skipped: tls failed".into()));
}

#[tokio::test]
async fn tls_wrong_host_fails_naming_what_the_certificate_covers() {
    let pki = Pki::new("platctl test CA");
    let (cert, key) =
        pki.leaf(&["other.example", "www.other.example"], -1, time::Duration::days(90));
    let addr = serve_tls(cert, key).await;
    let (o, r) = smoke_tls(addr, &pki.ca_path(), &[]).await;
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert_eq!(
        check(&r, "tls"),
        ("fail".into(), "certificate is not valid for localhost: it names other.example, www.other.example; issuer CN=platctl test CA".into())
    );
}

#[tokio::test]
async fn tls_unknown_ca_fails_naming_the_issuer() {
    let trusted = Pki::new("platctl test CA");
    let rogue = Pki::new("rogue CA");
    let (cert, key) = rogue.leaf(&["localhost"], -1, time::Duration::days(90));
    let addr = serve_tls(cert, key).await;
    let (o, r) = smoke_tls(addr, &trusted.ca_path(), &[]).await;
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert_eq!(
        check(&r, "tls"),
        (
            "fail".into(),
            "certificate for localhost is signed by an unknown CA: issuer CN=rogue CA".into()
        )
    );
}

#[tokio::test]
async fn tls_certificate_close_to_expiry_fails_min_cert_days() {
    let pki = Pki::new("platctl test CA");
    let (cert, key) =
        pki.leaf(&["localhost"], -60, time::Duration::days(10) + time::Duration::hours(1));
    let addr = serve_tls(cert, key).await;
    let (o, r) = smoke_tls(addr, &pki.ca_path(), &["--min-cert-days", "30"]).await;
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    let (status, msg) = check(&r, "tls");
    assert_eq!(status, "fail");
    assert!(
        msg.starts_with("certificate for localhost expires in 10 days (")
            && msg.contains("fewer than --min-cert-days 30"),
        "{msg}"
    );
    assert_eq!(check(&r, "healthz").0, "pass", "HTTP is still checked: the chain itself is valid");
    let (o, _) = smoke_tls(addr, &pki.ca_path(), &["--min-cert-days", "7"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
}

// ---------- DNS through a real dnsmasq ----------

const DNSMASQ: &str = "/usr/sbin/dnsmasq";

struct Dnsmasq {
    child: std::process::Child,
    addr: SocketAddr,
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Dnsmasq {
    /// dnsmasq on a random loopback port: `svc.test` is 127.0.0.1, anything
    /// else under `.test` is NXDOMAIN, nothing is forwarded.
    async fn start() -> Self {
        assert!(
            Path::new(DNSMASQ).exists(),
            "dnsmasq is required at {DNSMASQ} (.ci/install-tools installs dnsmasq-base)"
        );
        for _ in 0..5 {
            let port = {
                let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
                s.local_addr().expect("addr").port()
            };
            let child = std::process::Command::new(DNSMASQ)
                .args([
                    "--keep-in-foreground",
                    "--conf-file=/dev/null",
                    "--pid-file=",
                    "--no-resolv",
                    "--no-hosts",
                    "--bind-interfaces",
                    "--listen-address=127.0.0.1",
                    &format!("--port={port}"),
                    "--address=/svc.test/127.0.0.1",
                    "--local=/test/",
                    "--log-facility=-",
                ])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("spawn dnsmasq");
            let mut d = Self { child, addr: SocketAddr::from(([127, 0, 0, 1], port)) };
            for _ in 0..50 {
                if let Ok(Some(_)) = d.child.try_wait() {
                    break; // port raced away: try another
                }
                if platctl_smoke::dns::resolve("svc.test", Some(d.addr), Duration::from_millis(200))
                    .await
                    .is_ok()
                {
                    return d;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            drop(d);
        }
        panic!("dnsmasq did not start on a loopback port");
    }
}

#[tokio::test]
async fn dns_resolvable_unknown_and_wrong_address() {
    let dns = Dnsmasq::start().await;
    let server = dns.addr.to_string();
    let addr = serve(sample_router()).await;
    let port = addr.port();

    let ok_url = format!("http://svc.test:{port}/");
    let o = smoke(&["--url", &ok_url, "--dns-server", &server, "--output", "json"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let r = report(&o);
    assert_eq!(check(&r, "dns"), ("pass".into(), format!("svc.test -> 127.0.0.1 (via {server})")));
    assert_eq!(check(&r, "healthz").0, "pass", "connected to the address DNS gave");

    let o = smoke(&[
        "--url",
        &format!("http://nope.test:{port}/"),
        "--dns-server",
        &server,
        "--output",
        "json",
    ])
    .await;
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    let r = report(&o);
    assert_eq!(
        check(&r, "dns"),
        ("fail".into(), format!("no such host: nope.test (asked {server})"))
    );
    assert_eq!(check(&r, "healthz"), ("skip".into(), "skipped: dns failed".into()));

    let o = smoke(&[
        "--url",
        &ok_url,
        "--dns-server",
        &server,
        "--resolve",
        "svc.test:127.0.0.2",
        "--output",
        "json",
    ])
    .await;
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    let r = report(&o);
    assert_eq!(
        check(&r, "dns"),
        (
            "fail".into(),
            format!("svc.test resolved to 127.0.0.1, expected 127.0.0.2 (via {server})")
        )
    );
}
