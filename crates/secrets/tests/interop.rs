//! Byte-level compatibility with an independent implementation of
//! sealed-secrets' `pkg/crypto` (kubesealpy, PyPI), in both directions, and the
//! library's own checks of certificates and mapping files. Key material is
//! generated at run time by tests/support/kubeseal_check.py.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use platctl_secrets::SecretsError;
use platctl_secrets::crypto::{hybrid_decrypt, hybrid_encrypt};
use platctl_secrets::sync::{Mapping, VersionPolicy};
use rsa::pkcs8::DecodePrivateKey;

fn helper() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/kubeseal_check.py")
}

fn py(args: &[&str], stdin: &[u8]) -> (i32, String, String) {
    let mut child = Command::new("python3")
        .arg(helper())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 with kubesealpy (see .ci/install-tools)");
    child.stdin.take().expect("stdin").write_all(stdin).expect("write");
    let out = child.wait_with_output().expect("wait");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn gen_cert(dir: &Path, extra: &[&str]) {
    let mut args = vec!["gen", "--dir", dir.to_str().expect("utf8")];
    args.extend_from_slice(extra);
    let (code, _, err) = py(&args, b"");
    assert_eq!(code, 0, "gen: {err}");
}

#[test]
fn hybrid_encryption_is_byte_compatible_with_kubesealpy_both_ways() {
    let dir = tempfile::tempdir().expect("tempdir");
    gen_cert(dir.path(), &["--bits", "4096"]);
    let cert = platctl_secrets::cert::load_file(&dir.path().join("cert.pem")).expect("cert");
    let private =
        rsa::PrivateKey::from_pkcs8_der(&std::fs::read(dir.path().join("key.der")).expect("key"))
            .expect("pkcs8");
    let key_pem = dir.path().join("key.pem");
    let key_pem = key_pem.to_str().expect("utf8");
    let cert_pem = dir.path().join("cert.pem");
    let cert_pem = cert_pem.to_str().expect("utf8");

    for label in ["payments/db-creds", "payments", ""] {
        for value in
            [&b""[..], &b"correct horse\x00\xff\r\n battery staple"[..], &vec![7u8; 100_000][..]]
        {
            // platctl -> kubesealpy
            let ct = hybrid_encrypt(&cert.public_key, value, label.as_bytes()).expect("encrypt");
            assert_eq!(
                usize::from(u16::from_be_bytes([ct[0], ct[1]])),
                512,
                "RSA-4096 part is 512 bytes"
            );
            assert_eq!(ct.len(), 2 + 512 + value.len() + 16);
            let (code, out, err) =
                py(&["raw-unseal", "--key", key_pem, "--label", label], B64.encode(&ct).as_bytes());
            assert_eq!(
                code, 0,
                "kubesealpy cannot decrypt platctl's output (label {label:?}): {err}"
            );
            assert_eq!(B64.decode(out).expect("b64"), value);
            // The label binds: another label fails in kubesealpy too.
            let (code, _, _) = py(
                &["raw-unseal", "--key", key_pem, "--label", "other/label"],
                B64.encode(&ct).as_bytes(),
            );
            assert_eq!(code, 3, "a different label must not decrypt");

            // kubesealpy -> platctl
            let (code, out, err) = py(&["raw-seal", "--cert", cert_pem, "--label", label], value);
            assert_eq!(code, 0, "{err}");
            let theirs = B64.decode(out).expect("b64");
            assert_eq!(
                hybrid_decrypt(&private, &theirs, label.as_bytes())
                    .expect("decrypt kubesealpy's output"),
                value
            );
            assert!(hybrid_decrypt(&private, &theirs, b"other/label").is_err());
        }
    }
}

#[test]
fn certificates_are_checked_with_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    gen_cert(&dir.path().join("expired"), &["--expired"]);
    gen_cert(&dir.path().join("ec"), &["--ec"]);
    let expired = dir.path().join("expired/cert.pem");
    match platctl_secrets::cert::load_file(&expired) {
        Err(SecretsError::CertExpired { source_name, not_after }) => {
            assert_eq!(source_name, expired.display().to_string());
            assert!(not_after.starts_with("20") && not_after.ends_with('Z'), "{not_after}");
        }
        other => panic!("expected CertExpired, got {other:?}"),
    }
    match platctl_secrets::cert::load_file(&dir.path().join("ec/cert.pem")) {
        Err(SecretsError::CertKeyType { key_type, .. }) => {
            assert!(key_type.contains("ECDSA"), "{key_type}")
        }
        other => panic!("expected CertKeyType, got {other:?}"),
    }
    let now = time::OffsetDateTime::now_utc();
    for (bytes, needle) in [
        (&b""[..], "empty"),
        (b"<html>", "no PEM header"),
        (
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            "not a PEM X.509 certificate",
        ),
    ] {
        let err = platctl_secrets::cert::parse_cert(bytes, "input", now)
            .expect_err("not a certificate")
            .to_string();
        assert!(err.contains(needle), "{err}");
    }
}

fn mapping_err(text: &str) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("mapping.yaml");
    std::fs::write(&p, text).expect("write");
    Mapping::load(&p).expect_err(text).to_string()
}

#[test]
fn mapping_files_are_validated() {
    let ok = "environments:\n  staging:\n    secrets:\n      - name: a\n        namespace: b\n        keys:\n          K: {mount: secret, path: p, field: f, version: 3}\n          L: {mount: secret, path: p, field: g}\n";
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("mapping.yaml");
    std::fs::write(&p, ok).expect("write");
    let m = Mapping::load(&p).expect("valid mapping");
    let keys = &m.environments["staging"].secrets[0].keys;
    assert_eq!(keys["K"].version, VersionPolicy::Pinned(3));
    assert_eq!(keys["L"].version, VersionPolicy::Latest);

    let base = "environments:\n  staging:\n    secrets:\n      - name: a\n        namespace: b\n        keys:\n";
    assert!(
        mapping_err(&format!(
            "{base}          K: {{mount: secret, path: p, field: f, version: 0}}\n"
        ))
        .contains("version")
    );
    assert!(
        mapping_err(&format!(
            "{base}          K: {{mount: secret, path: p, field: f, vesion: 2}}\n"
        ))
        .contains("vesion")
    );
    assert!(
        mapping_err(&format!("{base}          'bad key': {{mount: secret, path: p, field: f}}\n"))
            .contains("not a valid Secret key")
    );
    assert!(
        mapping_err(&format!("{base}          K: {{mount: secret, path: '', field: f}}\n"))
            .contains("mount, path and field must be set")
    );
    let twice = format!(
        "{base}          K: {{mount: s, path: p, field: f}}\n      - name: a\n        namespace: b\n        keys:\n          K: {{mount: s, path: p, field: f}}\n"
    );
    assert!(mapping_err(&twice).contains("listed twice"));
    assert!(mapping_err("environments:\n  staging:\n    secrets:\n      - name: Bad\n        namespace: b\n        keys: {K: {mount: s, path: p, field: f}}\n").contains("not a valid Kubernetes name"));
}

#[test]
fn the_repository_mapping_and_certificates_are_usable() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/secrets");
    let mapping =
        Mapping::load(&root.join("mapping.yaml")).expect("deploy/secrets/mapping.yaml is valid");
    assert!(
        mapping.environments.contains_key("staging")
            && mapping.environments.contains_key("production")
    );
    for (env, em) in &mapping.environments {
        let cert = em
            .cert
            .as_ref()
            .map_or_else(|| root.join(env).join("sealed-secrets-cert.pem"), |c| root.join(c));
        let cert = platctl_secrets::cert::load_file(&cert).unwrap_or_else(|e| panic!("{env}: {e}"));
        // Fails a year before the placeholder (or real) certificate expires.
        let year = time::OffsetDateTime::now_utc().year() + 1;
        assert!(
            cert.not_after.as_str() > format!("{year}").as_str(),
            "{env}: certificate expires soon ({})",
            cert.not_after
        );
        for s in &em.secrets {
            assert_eq!(
                s.namespace, *env,
                "{env}: {}/{} is outside the env's namespace (the {env}-secrets Application syncs into {env})",
                s.namespace, s.name
            );
        }
    }
}
