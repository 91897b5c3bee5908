//! `platctl-smoke`: the checks behind `platctl smoke`, which prove an
//! environment serves an application end to end.
//!
//! For a URL, in order: **dns** (the host resolves, to the expected address
//! when one is given), **tls** for https (chain, name, days to expiry, issuer),
//! **healthz** and **readyz** (200), **metrics** (valid Prometheus exposition)
//! and one **metric NAME** check per expected metric. A check whose
//! prerequisite failed is `skip`. The whole set is retried with exponential
//! backoff while anything fails, for environments still converging.

pub mod dns;
pub mod expo;
pub mod tls;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde::Serialize;
use url::Url;

/// Bad input: the run does not start.
#[derive(Debug, thiserror::Error)]
pub enum SmokeError {
    #[error("--url {0:?}: {1}")]
    Url(String, String),
    #[error("--resolve {0:?}: {1}")]
    Resolve(String, String),
    #[error("--ca {path}: {reason}")]
    Ca { path: PathBuf, reason: String },
    #[error(
        "no trusted root certificates: the system store is empty or unreadable; pass --ca FILE"
    )]
    NoRoots,
}

/// What to check. Build with [`Settings::new`], then adjust the public fields.
#[derive(Debug, Clone)]
pub struct Settings {
    pub url: Url,
    /// `--resolve HOST:IP`: the address the host must resolve to, and the one used to connect.
    pub resolve: Option<IpAddr>,
    /// `--dns-server IP[:PORT]`: ask this server instead of the system resolver.
    pub dns_server: Option<SocketAddr>,
    /// `--ca FILE`: trust only these roots (PEM); otherwise the system roots.
    pub ca: Option<PathBuf>,
    pub min_cert_days: u32,
    pub expect_metrics: Vec<String>,
    /// Per network operation.
    pub timeout: Duration,
    /// Extra attempts after the first.
    pub retries: u32,
    /// First wait between attempts; doubles each time, capped at 30s.
    pub backoff: Duration,
}

impl Settings {
    pub fn new(url: &str) -> Result<Self, SmokeError> {
        let parsed = Url::parse(url).map_err(|e| SmokeError::Url(url.into(), e.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(SmokeError::Url(
                url.into(),
                "only http and https URLs can be checked".into(),
            ));
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(SmokeError::Url(url.into(), "the URL has no host".into()));
        }
        Ok(Self {
            url: parsed,
            resolve: None,
            dns_server: None,
            ca: None,
            min_cert_days: 14,
            expect_metrics: Vec::new(),
            timeout: Duration::from_secs(5),
            retries: 0,
            backoff: Duration::from_secs(1),
        })
    }

    /// Apply `--resolve HOST:IP`; HOST must be the URL's host.
    pub fn set_resolve(&mut self, spec: &str) -> Result<(), SmokeError> {
        let bad = |m: &str| SmokeError::Resolve(spec.into(), m.into());
        let (host, ip) = spec.rsplit_once(':').ok_or_else(|| bad("expected HOST:IP"))?;
        // Allow HOST:[v6] and HOST:v6 by splitting at the first ':' when the tail is not an IP.
        let (host, ip) = match ip.trim_matches(['[', ']']).parse::<IpAddr>() {
            Ok(ip) => (host, ip),
            Err(_) => {
                let (h, rest) = spec.split_once(':').ok_or_else(|| bad("expected HOST:IP"))?;
                (
                    h,
                    rest.trim_matches(['[', ']'])
                        .parse()
                        .map_err(|_| bad("the part after HOST: is not an IP address"))?,
                )
            }
        };
        let url_host = self.host();
        if !host.eq_ignore_ascii_case(&url_host) {
            return Err(bad(&format!("names host {host:?} but the URL's host is {url_host:?}")));
        }
        self.resolve = Some(ip);
        Ok(())
    }

    pub fn host(&self) -> String {
        match self.url.host() {
            Some(url::Host::Ipv6(a)) => a.to_string(),
            Some(h) => h.to_string(),
            None => String::new(),
        }
    }

    fn port(&self) -> u16 {
        self.url.port_or_known_default().unwrap_or(80)
    }

    fn roots(&self) -> Result<RootCertStore, SmokeError> {
        let mut store = RootCertStore::empty();
        match &self.ca {
            Some(path) => {
                let ca_err = |reason: String| SmokeError::Ca { path: path.clone(), reason };
                let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                    .map_err(|e| ca_err(format!("cannot read: {e}")))?
                    .collect::<Result<_, _>>()
                    .map_err(|e| ca_err(format!("not a PEM certificate file: {e}")))?;
                if certs.is_empty() {
                    return Err(ca_err("contains no PEM certificate".into()));
                }
                for c in certs {
                    store.add(c).map_err(|e| ca_err(format!("unusable certificate: {e}")))?;
                }
            }
            None => {
                let native = rustls_native_certs::load_native_certs();
                let (added, _) = store.add_parsable_certificates(native.certs);
                if added == 0 {
                    return Err(SmokeError::NoRoots);
                }
            }
        }
        Ok(store)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Skip,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub status: Status,
    pub duration_ms: f64,
    /// On pass, what was seen; on fail, exactly why; on skip, which check it depends on.
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub url: String,
    pub passed: bool,
    pub attempts: u32,
    pub duration_ms: f64,
    pub checks: Vec<Check>,
}

impl Report {
    pub fn failed(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.status == Status::Fail)
    }
}

/// Run every check, retrying the set while any fails. `progress` receives a
/// line for people before each retry.
pub async fn run(settings: &Settings, progress: impl Fn(&str)) -> Result<Report, SmokeError> {
    // Trust roots matter only for https; an http check works without any.
    let roots = Arc::new(if settings.url.scheme() == "https" {
        settings.roots()?
    } else {
        RootCertStore::empty()
    });
    let started = Instant::now();
    let mut wait = settings.backoff;
    let mut attempt = 1;
    loop {
        let checks = attempt_once(settings, roots.clone()).await;
        let passed = checks.iter().all(|c| c.status != Status::Fail);
        if passed || attempt > settings.retries {
            return Ok(Report {
                url: settings.url.to_string(),
                passed,
                attempts: attempt,
                duration_ms: ms(started.elapsed()),
                checks,
            });
        }
        let first = checks
            .iter()
            .find(|c| c.status == Status::Fail)
            .map(|c| format!("{}: {}", c.name, c.message));
        progress(&format!(
            "attempt {attempt}/{} failed ({}); retrying in {}s",
            settings.retries + 1,
            first.unwrap_or_default(),
            wait.as_secs_f64()
        ));
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(30));
        attempt += 1;
    }
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

struct Timer(Instant);

impl Timer {
    fn check(&self, name: &str, result: Result<String, String>) -> Check {
        let (status, message) = match result {
            Ok(m) => (Status::Pass, m),
            Err(m) => (Status::Fail, m),
        };
        Check { name: name.into(), status, duration_ms: ms(self.0.elapsed()), message }
    }
}

fn skip(name: &str, because: &str) -> Check {
    Check {
        name: name.into(),
        status: Status::Skip,
        duration_ms: 0.0,
        message: format!("skipped: {because} failed"),
    }
}

async fn attempt_once(s: &Settings, roots: Arc<RootCertStore>) -> Vec<Check> {
    let host = s.host();
    let port = s.port();
    let mut http_names = vec!["healthz".to_owned(), "readyz".to_owned(), "metrics".to_owned()];
    http_names.extend(s.expect_metrics.iter().map(|m| format!("metric {m}")));
    let mut out = Vec::new();

    // DNS
    let t = Timer(Instant::now());
    let literal: Option<IpAddr> = host.parse().ok();
    let dns = match literal {
        Some(ip) => Ok((ip, format!("{host} is an IP address; no lookup"))),
        None => match dns::resolve(&host, s.dns_server, s.timeout).await {
            Err(reason) => Err(reason),
            Ok(ips) => {
                let list = ips.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
                let via =
                    s.dns_server.map_or_else(|| "system resolver".to_owned(), |a| a.to_string());
                match s.resolve {
                    Some(want) if !ips.contains(&want) => {
                        Err(format!("{host} resolved to {list}, expected {want} (via {via})"))
                    }
                    Some(want) => Ok((want, format!("{host} -> {list} (via {via})"))),
                    None => Ok((ips[0], format!("{host} -> {list} (via {via})"))),
                }
            }
        },
    };
    let ip = match dns {
        Ok((ip, msg)) => {
            out.push(t.check("dns", Ok(msg)));
            ip
        }
        Err(reason) => {
            out.push(t.check("dns", Err(reason)));
            if s.url.scheme() == "https" {
                out.push(skip("tls", "dns"));
            }
            out.extend(http_names.iter().map(|n| skip(n, "dns")));
            return out;
        }
    };
    let addr = SocketAddr::new(ip, port);

    // TLS
    if s.url.scheme() == "https" {
        let t = Timer(Instant::now());
        let inspection = tls::inspect(&host, addr, roots.clone(), s.min_cert_days, s.timeout).await;
        let ok = inspection.result.is_ok();
        // An expiring-soon certificate still lets HTTP be checked; a broken chain does not.
        let chain_ok =
            ok || inspection.result.as_ref().is_err_and(|m| m.contains("--min-cert-days"));
        out.push(t.check("tls", inspection.result));
        if !chain_ok {
            out.extend(http_names.iter().map(|n| skip(n, "tls")));
            return out;
        }
    }

    // HTTP
    let client = match http_client(s, &host, addr, roots) {
        Ok(c) => c,
        Err(reason) => {
            let t = Timer(Instant::now());
            out.push(t.check("healthz", Err(reason)));
            out.extend(http_names.iter().skip(1).map(|n| skip(n, "healthz")));
            return out;
        }
    };
    for name in ["healthz", "readyz"] {
        let t = Timer(Instant::now());
        let r = get(&client, s, name).await.and_then(|(path, status, _)| {
            if status == 200 {
                Ok(format!("{path} answered 200"))
            } else {
                Err(format!("{path} answered {status}"))
            }
        });
        out.push(t.check(name, r));
    }
    let t = Timer(Instant::now());
    let parsed = get(&client, s, "metrics").await.and_then(|(path, status, body)| {
        if status != 200 {
            return Err(format!("{path} answered {status}"));
        }
        let e = expo::parse(&body)
            .map_err(|e| format!("{path} is not valid Prometheus exposition: {e}"))?;
        if e.sample_count == 0 {
            return Err(format!("{path} has no samples"));
        }
        Ok(e)
    });
    match parsed {
        Ok(e) => {
            out.push(t.check(
                "metrics",
                Ok(format!("{} samples, {} families", e.sample_count, e.families.len())),
            ));
            for m in &s.expect_metrics {
                let t = Timer(Instant::now());
                let r = if e.has(m) {
                    Ok(format!("metric {m} present"))
                } else {
                    Err(format!("metric {m} missing"))
                };
                out.push(t.check(&format!("metric {m}"), r));
            }
        }
        Err(reason) => {
            out.push(t.check("metrics", Err(reason)));
            out.extend(s.expect_metrics.iter().map(|m| skip(&format!("metric {m}"), "metrics")));
        }
    }
    out
}

fn http_client(
    s: &Settings,
    host: &str,
    addr: SocketAddr,
    roots: Arc<RootCertStore>,
) -> Result<reqwest::Client, String> {
    let mut tls = rustls::ClientConfig::builder_with_provider(tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let mut b = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .timeout(s.timeout)
        .connect_timeout(s.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent(concat!("platctl-smoke/", env!("CARGO_PKG_VERSION")));
    if host.parse::<IpAddr>().is_err() {
        // Connect to the address the dns check chose; Host and SNI stay the URL's host.
        b = b.resolve(host, addr);
    }
    b.build().map_err(|e| format!("HTTP client setup failed: {e}"))
}

/// GET `<url>/<name>`: `(path, status, body)` or why it could not be fetched.
async fn get(
    client: &reqwest::Client,
    s: &Settings,
    name: &str,
) -> Result<(String, u16, String), String> {
    let mut base = s.url.clone();
    if !base.path().ends_with('/') {
        base.set_path(&format!("{}/", base.path()));
    }
    base.set_query(None);
    let url = base.join(name).map_err(|e| format!("cannot build the {name} URL: {e}"))?;
    let path = url.path().to_owned();
    let resp = client.get(url).send().await.map_err(|e| request_error(&path, s, &e))?;
    let status = resp.status().as_u16();
    let body = resp.text().await.map_err(|e| request_error(&path, s, &e))?;
    Ok((path, status, body))
}

fn request_error(path: &str, s: &Settings, e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return format!("{path}: no answer within {}s", s.timeout.as_secs_f64());
    }
    // Walk the source chain for the root cause (connection refused, reset...).
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    if let Some(io) = (cause as &(dyn std::error::Error + 'static)).downcast_ref::<std::io::Error>()
    {
        return format!("{path}: {}", tls::io_reason(io));
    }
    format!("{path}: {cause}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_validate_url_and_resolve() {
        assert!(Settings::new("ftp://x/").is_err());
        assert!(Settings::new("not a url").is_err());
        let mut s = Settings::new("https://svc.example:8443/app/").expect("url");
        assert_eq!(s.port(), 8443);
        s.set_resolve("svc.example:192.0.2.7").expect("v4");
        assert_eq!(s.resolve, Some("192.0.2.7".parse().expect("ip")));
        s.set_resolve("svc.example:[2001:db8::1]").expect("v6 bracketed");
        assert_eq!(s.resolve, Some("2001:db8::1".parse().expect("ip")));
        s.set_resolve("svc.example:2001:db8::2").expect("v6 bare");
        assert_eq!(s.resolve, Some("2001:db8::2".parse().expect("ip")));
        let e = s.set_resolve("other.example:192.0.2.7").expect_err("other host");
        assert!(e.to_string().contains("URL's host is \"svc.example\""), "{e}");
        assert!(s.set_resolve("svc.example").is_err());
        assert_eq!(Settings::new("http://svc.example/").expect("url").port(), 80);
    }
}
