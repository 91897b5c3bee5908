//! TLS inspection: one handshake that records the server's chain, then an
//! explicit verification against the chosen roots, so each failure gets its
//! own precise message (expired, wrong host, unknown CA) and the issuer and
//! expiry are reported even when verification fails.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// What the endpoint presented.
#[derive(Debug, Clone)]
pub struct CertInfo {
    pub subject: String,
    pub issuer: String,
    pub sans: Vec<String>,
    /// Unix seconds.
    pub not_after: i64,
}

pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Records the presented chain; verifies handshake signatures for real but
/// defers the certificate decision to `inspect`.
#[derive(Debug)]
struct Capture {
    chain: Mutex<Vec<CertificateDer<'static>>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Capture {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let mut chain = vec![end_entity.clone().into_owned()];
        chain.extend(intermediates.iter().map(|c| c.clone().into_owned()));
        if let Ok(mut slot) = self.chain.lock() {
            *slot = chain;
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// The outcome of the TLS check: `Ok(detail)` or `Err(reason)`, with the
/// certificate when one was presented.
pub struct Inspection {
    pub result: Result<String, String>,
    pub cert: Option<CertInfo>,
}

/// Connect to `addr`, handshake as `host`, and judge the certificate.
pub async fn inspect(
    host: &str,
    addr: SocketAddr,
    roots: Arc<RootCertStore>,
    min_days: u32,
    timeout: Duration,
) -> Inspection {
    let fail = |reason: String| Inspection { result: Err(reason), cert: None };
    let provider = provider();
    let capture = Arc::new(Capture { chain: Mutex::new(Vec::new()), provider: provider.clone() });
    let config = match rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
    {
        Ok(b) => {
            b.dangerous().with_custom_certificate_verifier(capture.clone()).with_no_client_auth()
        }
        Err(e) => return fail(format!("TLS setup failed: {e}")),
    };
    let Ok(server_name) = ServerName::try_from(host.to_owned()) else {
        return fail(format!("{host:?} is not a valid TLS server name"));
    };
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let handshake = async {
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("cannot connect to {addr}: {}", io_reason(&e)))?;
        connector
            .connect(server_name.clone(), tcp)
            .await
            .map_err(|e| format!("TLS handshake with {addr} failed: {e}"))
    };
    match tokio::time::timeout(timeout, handshake).await {
        Err(_) => {
            return fail(format!("no TLS handshake with {addr} within {}s", timeout.as_secs_f64()));
        }
        Ok(Err(reason)) => return fail(reason),
        Ok(Ok(_stream)) => {}
    }
    let chain = capture.chain.lock().map(|c| c.clone()).unwrap_or_default();
    let Some(end_entity) = chain.first() else {
        return fail(format!("{addr} presented no certificate"));
    };
    let info = match parse(end_entity) {
        Ok(i) => i,
        Err(e) => return fail(format!("certificate for {host} cannot be parsed: {e}")),
    };
    let now = UnixTime::now();
    let now_s = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    let verifier = match WebPkiServerVerifier::builder_with_provider(roots, provider).build() {
        Ok(v) => v,
        Err(e) => {
            return Inspection {
                result: Err(format!("no usable trust roots: {e}")),
                cert: Some(info),
            };
        }
    };
    let verdict = verifier.verify_server_cert(end_entity, &chain[1..], &server_name, &[], now);
    let result = match verdict {
        Ok(_) => {
            let days_left = (info.not_after - now_s).div_euclid(86_400);
            if days_left < i64::from(min_days) {
                Err(format!(
                    "certificate for {host} expires in {days_left} days ({}), fewer than --min-cert-days {min_days}; issuer {}",
                    date(info.not_after),
                    info.issuer
                ))
            } else {
                Ok(format!(
                    "issuer {}; expires {} ({days_left} days); SAN {}",
                    info.issuer,
                    date(info.not_after),
                    info.sans.join(", ")
                ))
            }
        }
        Err(rustls::Error::InvalidCertificate(e)) => Err(match e {
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                let ago = (now_s - info.not_after).max(0).div_euclid(86_400);
                let when = match ago {
                    0 => "less than a day ago".to_owned(),
                    1 => "1 day ago".to_owned(),
                    n => format!("{n} days ago"),
                };
                format!(
                    "certificate for {host} expired {when} ({}); issuer {}",
                    date(info.not_after),
                    info.issuer
                )
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                format!("certificate for {host} is not valid yet; issuer {}", info.issuer)
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                format!(
                    "certificate is not valid for {host}: it names {}; issuer {}",
                    if info.sans.is_empty() {
                        "no DNS or IP names".to_owned()
                    } else {
                        info.sans.join(", ")
                    },
                    info.issuer
                )
            }
            CertificateError::UnknownIssuer => {
                format!("certificate for {host} is signed by an unknown CA: issuer {}", info.issuer)
            }
            other => {
                format!("certificate for {host} is invalid: {other:?}; issuer {}", info.issuer)
            }
        }),
        Err(other) => Err(format!(
            "certificate for {host} failed verification: {other}; issuer {}",
            info.issuer
        )),
    };
    Inspection { result, cert: Some(info) }
}

fn parse(der: &CertificateDer<'_>) -> Result<CertInfo, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).map_err(|e| e.to_string())?;
    let mut sans = Vec::new();
    if let Ok(Some(ext)) = cert.subject_alternative_name() {
        for name in &ext.value.general_names {
            match name {
                x509_parser::extensions::GeneralName::DNSName(d) => sans.push((*d).to_owned()),
                x509_parser::extensions::GeneralName::IPAddress(b) => match b.len() {
                    4 => sans.push(std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3]).to_string()),
                    16 => {
                        let mut a = [0u8; 16];
                        a.copy_from_slice(b);
                        sans.push(std::net::Ipv6Addr::from(a).to_string());
                    }
                    _ => {}
                },
                _ => {}
            }
        }
    }
    Ok(CertInfo {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        sans,
        not_after: cert.validity().not_after.timestamp(),
    })
}

fn date(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| unix.to_string())
}

pub(crate) fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
        std::io::ErrorKind::TimedOut => "timed out".into(),
        _ => e.to_string(),
    }
}
