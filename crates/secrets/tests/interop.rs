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
fn the_repository_secrets_tree_is_consistent_and_ships_no_certificate() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/secrets");
    let mapping =
        Mapping::load(&root.join("mapping.yaml")).expect("deploy/secrets/mapping.yaml is valid");
    // Key owners: staging and production. The platform's Secrets are sealed for
    // the shared cluster's controller with the production key.
    assert_eq!(platctl_secrets::keys::key_envs(&mapping), ["production", "staging"]);
    assert_eq!(
        mapping.environments["platform"].cert.as_deref(),
        Some(Path::new("production/sealed-secrets-cert.pem"))
    );
    // No certificate is committed before day 0: no placeholder to replace.
    for env in mapping.environments.keys() {
        let cert = root.join(env).join("sealed-secrets-cert.pem");
        assert!(
            !cert.exists(),
            "{} is committed; only `platctl secrets key generate` writes it",
            cert.display()
        );
    }
    for (env, em) in &mapping.environments {
        for s in &em.secrets {
            let ok = if env == "platform" {
                ["monitoring", "argocd"].contains(&s.namespace.as_str())
            } else {
                s.namespace == *env
            };
            assert!(
                ok,
                "{env}: {}/{} is outside what the {env} Application syncs",
                s.namespace, s.name
            );
        }
    }
    let platform: Vec<String> = mapping.environments["platform"]
        .secrets
        .iter()
        .map(|s| format!("{}/{}", s.namespace, s.name))
        .collect();
    for want in [
        "monitoring/grafana-admin",
        "monitoring/loki-s3",
        "monitoring/alertmanager-oncall",
        "argocd/argocd-dex-github",
    ] {
        assert!(platform.iter().any(|p| p == want), "{want} is not in the platform mapping");
    }

    // The committed key class is exactly what `platctl secrets key` writes for
    // the keys it names, and names every key owner's first key.
    let spc_path = root.join(platctl_secrets::keys::SPC_FILE);
    let spc = std::fs::read_to_string(&spc_path).expect("sealing-keys class");
    let doc: serde_json::Value = serde_saphyr::from_str(&spc).expect("yaml");
    let mut keys = Vec::new();
    for o in doc["spec"]["secretObjects"].as_array().expect("secretObjects") {
        let name = o["secretName"].as_str().expect("name");
        if let Some(rest) = name.strip_prefix("sealed-secrets-key-") {
            let (env, seq) = rest.rsplit_once('-').expect("<env>-<n>");
            keys.push((env.to_owned(), seq.parse::<u64>().expect("n")));
        }
    }
    for env in ["production", "staging"] {
        assert!(keys.contains(&(env.to_owned(), 1)), "{env}'s first key is not installed");
    }
    assert_eq!(
        spc,
        platctl_secrets::keys::spc_yaml("secret", &keys).expect("render"),
        "{} was edited by hand",
        spc_path.display()
    );

    // Every OpenBao field the tree reads has a declared source.
    let sources =
        platctl_secrets::bootstrap::Sources::load(&root.join("../../infra/openbao/sources.yaml"))
            .expect("sources.yaml");
    let refs =
        platctl_secrets::bootstrap::references(&mapping, &root.join("..")).expect("references");
    assert!(refs.len() >= 20, "{refs:?}");
    for r in &refs {
        assert!(
            r.mount == sources.mount
                && sources.secrets.get(&r.path).is_some_and(|f| f.contains_key(&r.field)),
            "{}/{}#{} (read by {}) has no source in sources.yaml",
            r.mount,
            r.path,
            r.field,
            r.by
        );
    }
    // Both paths of a value are tested elsewhere; here: the drift job's token and
    // the snapshot job's key are read through the CSI provider.
    assert!(refs.iter().any(|r| r.path == "platform/platctl-drift"
        && r.by.contains("SecretProviderClass platctl-drift/platctl-drift")));
    assert!(
        refs.iter()
            .any(|r| r.path == "platform/openbao/snapshot-s3"
                && r.by.contains("openbao-snapshot-s3"))
    );
}
