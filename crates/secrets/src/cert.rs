//! The sealed-secrets controller certificate: parsed with `x509-cert`,
//! refused when expired, not yet valid, or not RSA.

use std::path::Path;
use std::time::Duration;

use rsa::PublicKey as RsaPublicKey;
use rsa::pkcs8::DecodePublicKey;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use x509_cert::Certificate;
use x509_cert::der::{Decode, DecodePem, Encode};

use crate::{Result, SecretsError};

const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
/// The smallest RSA modulus accepted (NIST SP 800-57: 2048 bits until 2030).
pub const MIN_RSA_BITS: usize = 2048;

/// A usable controller certificate.
#[derive(Debug, Clone)]
pub struct ControllerCert {
    /// Where it came from (file path or URL), for messages.
    pub source: String,
    pub public_key: RsaPublicKey,
    /// notAfter, RFC 3339.
    pub not_after: String,
    /// SHA-256 of the certificate's DER, hex. Recorded by `sync` so a new
    /// controller certificate re-seals everything.
    pub fingerprint: String,
}

fn rfc3339(t: Duration) -> String {
    i64::try_from(t.as_secs())
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("{}s after the epoch", t.as_secs()))
}

fn key_type_name(oid: &str) -> String {
    match oid {
        "1.2.840.10045.2.1" => "ECDSA (id-ecPublicKey)".into(),
        "1.3.101.112" => "Ed25519".into(),
        "1.3.101.113" => "Ed448".into(),
        "1.2.840.10040.4.1" => "DSA".into(),
        "1.2.840.113549.1.1.10" => "RSASSA-PSS-only".into(),
        other => format!("non-RSA (algorithm OID {other})"),
    }
}

/// Parse a PEM (or DER) certificate and check it at `now`.
pub fn parse_cert(bytes: &[u8], source: &str, now: OffsetDateTime) -> Result<ControllerCert> {
    let not_pem =
        |detail: String| SecretsError::CertNotPem { source_name: source.to_owned(), detail };
    let cert = if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
        Certificate::from_pem(bytes).map_err(|e| not_pem(e.to_string()))?
    } else if bytes.first() == Some(&0x30) {
        Certificate::from_der(bytes).map_err(|e| not_pem(format!("DER: {e}")))?
    } else {
        let preview: String =
            String::from_utf8_lossy(bytes.get(..bytes.len().min(40)).unwrap_or_default())
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
        return Err(not_pem(if bytes.is_empty() {
            "it is empty".to_owned()
        } else {
            format!("no PEM header; it starts with {preview:?}")
        }));
    };
    let tbs = cert.tbs_certificate();
    let validity = tbs.validity();
    let now_unix = Duration::from_secs(u64::try_from(now.unix_timestamp()).unwrap_or(0));
    let not_after = validity.not_after.to_unix_duration();
    let not_before = validity.not_before.to_unix_duration();
    if now_unix > not_after {
        return Err(SecretsError::CertExpired {
            source_name: source.to_owned(),
            not_after: rfc3339(not_after),
        });
    }
    if now_unix < not_before {
        return Err(SecretsError::CertNotYetValid {
            source_name: source.to_owned(),
            not_before: rfc3339(not_before),
        });
    }
    let spki = tbs.subject_public_key_info();
    let oid = spki.algorithm.oid.to_string();
    if oid != RSA_ENCRYPTION {
        return Err(SecretsError::CertKeyType {
            source_name: source.to_owned(),
            key_type: key_type_name(&oid),
        });
    }
    let spki_der = spki.to_der().map_err(|e| not_pem(format!("public key: {e}")))?;
    let public_key = RsaPublicKey::from_public_key_der(&spki_der)
        .map_err(|e| not_pem(format!("RSA public key: {e}")))?;
    let bits = modulus_bits(&public_key);
    if bits < MIN_RSA_BITS {
        return Err(SecretsError::CertKeyTooSmall { source_name: source.to_owned(), bits });
    }
    let der = cert.to_der().map_err(|e| not_pem(e.to_string()))?;
    Ok(ControllerCert {
        source: source.to_owned(),
        public_key,
        not_after: rfc3339(not_after),
        fingerprint: hex::encode(Sha256::digest(&der)),
    })
}

/// The bit length of the key's modulus.
fn modulus_bits(key: &RsaPublicKey) -> usize {
    use rsa::traits::PublicKeyParts;
    let n = key.n_bytes();
    let leading = n.iter().take_while(|b| **b == 0).count();
    match n.get(leading) {
        Some(first) => (n.len() - leading) * 8 - first.leading_zeros() as usize,
        None => 0,
    }
}

/// Read and check a certificate file.
pub fn load_file(path: &Path) -> Result<ControllerCert> {
    let bytes = std::fs::read(path).map_err(crate::io_err(path))?;
    parse_cert(&bytes, &path.display().to_string(), OffsetDateTime::now_utc())
}

/// Fetch and check the controller's certificate, e.g. `http://127.0.0.1:8080/v1/cert.pem`.
pub async fn fetch_url(url: &str) -> Result<ControllerCert> {
    let fail = |detail: String| SecretsError::CertFetch { url: url.to_owned(), detail };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .connect_timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| fail(e.to_string()))?;
    let resp = client.get(url).send().await.map_err(|e| fail(error_chain(&e)))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(fail(format!("HTTP {status}")));
    }
    let body = resp.bytes().await.map_err(|e| fail(error_chain(&e)))?;
    if body.len() > 1024 * 1024 {
        return Err(fail(format!("body of {} bytes is too large for a certificate", body.len())));
    }
    parse_cert(&body, url, OffsetDateTime::now_utc())
}

/// `FILE` or `http(s)://URL`. A URL without a path (`http://host:8080`) means
/// the controller's `/v1/cert.pem` there.
pub async fn load(spec: &str) -> Result<ControllerCert> {
    if spec.starts_with("http://") || spec.starts_with("https://") {
        match url::Url::parse(spec) {
            Ok(mut u) if u.path() == "/" || u.path().is_empty() => {
                u.set_path("/v1/cert.pem");
                fetch_url(u.as_str()).await
            }
            _ => fetch_url(spec).await,
        }
    } else {
        load_file(Path::new(spec))
    }
}

pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        let m = inner.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `openssl req -x509 -newkey rsa:1024 -days 36500 -subj /CN=sealed-secrets-test-weak`
    const WEAK_1024: &str = "-----BEGIN CERTIFICATE-----
MIICJDCCAY2gAwIBAgIUWdFdni/6iA0hzPa7jswmJCFEeEwwDQYJKoZIhvcNAQEL
BQAwIzEhMB8GA1UEAwwYc2VhbGVkLXNlY3JldHMtdGVzdC13ZWFrMCAXDTI2MTEy
OTA0MzgxMFoYDzIxMjYxMTA1MDQzODEwWjAjMSEwHwYDVQQDDBhzZWFsZWQtc2Vj
cmV0cy10ZXN0LXdlYWswgZ8wDQYJKoZIhvcNAQEBBQADgY0AMIGJAoGBALDw8esc
0pyhwnLMgowseA/eC+iSDduN0cQtRUoOLkwU7T7UEYp5q/F2+UL9b/p9qCscCW3f
PzKIt6TVPBI5al1f9sn1U0hdhPupRcO+5cnb7puLmZTAn9bZCiKkR/TCt83ZCLn9
FQG8JMSYCFwYJCD6n7cG/EEbZF6xD+jWi9rFAgMBAAGjUzBRMB0GA1UdDgQWBBRq
sA4sMKCjuVPPxO/EcELAPRUmozAfBgNVHSMEGDAWgBRqsA4sMKCjuVPPxO/EcELA
PRUmozAPBgNVHRMBAf8EBTADAQH/MA0GCSqGSIb3DQEBCwUAA4GBACf33M7Xcrmo
NMkC60aN6pm+WvIy0yznWuLTOywzgRNbowdARNgKs0sDxO7Wcq30Nzp19BRWj9tZ
kd8yhGYp6HcRsG0FX9Ej12Aqlb1lqNwcQuB5XU64yFpcbacsO9/YHhbIpXBx5s3e
dgmMfUtH1OmCxCLcLOnMjbscK1FYKeYU
-----END CERTIFICATE-----
";

    #[test]
    fn refuses_rsa_keys_under_2048_bits() {
        let now = OffsetDateTime::now_utc();
        let err = parse_cert(WEAK_1024.as_bytes(), "weak.pem", now).expect_err("1024 bits");
        assert!(matches!(err, SecretsError::CertKeyTooSmall { bits: 1024, .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains("1024-bit") && msg.contains("2048"), "{msg}");
    }
}
