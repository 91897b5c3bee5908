//! The Sealed Secrets sealing keys, owned by the platform rather than by the
//! controller.
//!
//! Each environment's key pair is generated here (RSA-4096 and a self-signed
//! certificate shaped like the one the controller makes: CN `sealed-secret`,
//! CA, key usage encipherOnly, ten years), written **create-only** to OpenBao
//! (the record of truth) at `<mount>/sealed-secrets/<env>/<n>` with the fields
//! `tls.crt` and `tls.key` (PKCS#1 PEM, as the controller writes its own), and
//! never to disk. Git receives only the public certificate
//! (`deploy/secrets/<env>/sealed-secrets-cert.pem`), so `platctl secrets seal`
//! and `sync` work before the environment's cluster exists.
//!
//! The cluster receives the keys through the OpenBao CSI provider: the
//! `SecretProviderClass` written here (`deploy/secrets/sealing-keys/`) turns
//! every key into a `kubernetes.io/tls` Secret in `kube-system` labelled
//! `sealedsecrets.bitnami.com/sealed-secrets-key: active`, which is what the
//! controller loads at start (and, with `--watch-for-secrets`, when a rotated
//! key appears). The controller pod mounts that class, and a plain Secret volume
//! of [`READY_SECRET`], the class's last Secret: the kubelet starts the
//! controller only once the keys exist, so it never generates a key of its own.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use time::OffsetDateTime;

use crate::bao::{BaoClient, BaoError};
use crate::openbao::Sensitive;
use crate::sync::{CERT_FILE, Mapping};
use crate::{Result, SecretsError};

/// The label the controller selects its keys by (value `active`).
pub const KEY_LABEL: &str = "sealedsecrets.bitnami.com/sealed-secrets-key";
/// The controller's default `--key-prefix`; our keys are `<prefix>-<env>-<n>`.
pub const KEY_PREFIX: &str = "sealed-secrets-key";
/// Below the KV mount: `sealed-secrets/<env>/<n>`.
pub const KV_FOLDER: &str = "sealed-secrets";
/// The class the controller pod mounts, in the controller's namespace.
pub const SPC_NAME: &str = "sealed-secrets-keys";
pub const CONTROLLER_NAMESPACE: &str = "kube-system";
/// The last Secret the class creates; the controller pod mounts it, so it
/// cannot start before the key Secrets exist.
pub const READY_SECRET: &str = "sealed-secrets-keys-ready";
/// Relative to the mapping file's directory.
pub const SPC_FILE: &str = "sealing-keys/sealed-secrets-keys.yaml";
/// In-cluster OpenBao, its CA inside the CSI provider pod, and the
/// Kubernetes auth role the controller's service account logs in with
/// (infra/openbao/access.yaml).
pub const OPENBAO_ADDRESS: &str = "https://openbao.openbao.svc:8200";
pub const OPENBAO_CA_PATH: &str = "/openbao/ca/ca.crt";
pub const AUTH_MOUNT: &str = "kubernetes";
pub const AUTH_ROLE: &str = "sealed-secrets";
pub const AUDIENCE: &str = "openbao";

const COMMON_NAME: &str = "sealed-secret";
const VALID_DAYS: i64 = 3650;

/// A freshly generated key pair. `Debug` never prints the private key.
#[derive(Debug)]
pub struct KeyPair {
    pub cert_pem: String,
    pub key_pem: Sensitive,
}

/// Generate an RSA-4096 key and its self-signed certificate, as the
/// controller's `crypto.GeneratePrivateKeyAndCert` does.
pub fn generate_key_pair(now: OffsetDateTime) -> Result<KeyPair> {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::pkcs8::DecodePrivateKey;

    let fail = |what: &str, e: String| SecretsError::Crypto(format!("{what}: {e}"));
    let key = rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_4096)
        .map_err(|e| fail("RSA key generation", e.to_string()))?;
    let mut params = rcgen::CertificateParams::default();
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, COMMON_NAME);
    params.distinguished_name = dn;
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![rcgen::KeyUsagePurpose::EncipherOnly];
    params.not_before = now;
    params.not_after = now + time::Duration::days(VALID_DAYS);
    let mut serial = [0u8; 16];
    getrandom::fill(&mut serial).map_err(|e| fail("no system randomness", e.to_string()))?;
    serial[0] &= 0x7f; // a positive 128-bit serial, like the controller's
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
    let cert = params.self_signed(&key).map_err(|e| fail("certificate", e.to_string()))?;

    // The controller writes PKCS#1 ("RSA PRIVATE KEY"); so do we.
    let private = rsa::PrivateKey::from_pkcs8_der(key.serialized_der())
        .map_err(|e| fail("private key", e.to_string()))?;
    let pkcs1 = private.to_pkcs1_der().map_err(|e| fail("PKCS#1 encoding", e.to_string()))?;
    Ok(KeyPair {
        cert_pem: cert.pem(),
        key_pem: Sensitive::new(pem("RSA PRIVATE KEY", pkcs1.as_bytes())),
    })
}

fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD as B64;
    let b64 = B64.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// An environment name usable in a Kubernetes Secret name.
pub fn check_env(env: &str) -> Result<()> {
    let ok = !env.is_empty()
        && env.len() <= 40
        && env.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !env.starts_with('-')
        && !env.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(SecretsError::Keys(format!(
            "environment name {env:?} cannot name a sealing key: use lowercase letters, digits and '-'"
        )))
    }
}

/// One sealing key of an environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyInfo {
    pub env: String,
    pub seq: u64,
    /// The Secret's name in the cluster: `sealed-secrets-key-<env>-<n>`.
    pub name: String,
    /// `<mount>/sealed-secrets/<env>/<n>`.
    pub openbao_path: String,
    /// SHA-256 of the certificate's DER (what `sync` records as `platctl.dev/sealed-with`).
    pub fingerprint: String,
    pub not_after: String,
}

pub fn key_name(env: &str, seq: u64) -> String {
    format!("{KEY_PREFIX}-{env}-{seq}")
}

pub fn kv_path(env: &str, seq: u64) -> String {
    format!("{KV_FOLDER}/{env}/{seq}")
}

/// The key numbers of `env` in OpenBao, ascending.
pub async fn list_keys(bao: &BaoClient, mount: &str, env: &str) -> Result<Vec<u64>> {
    let names = bao.kv_list(mount, &format!("{KV_FOLDER}/{env}")).await?;
    let mut seqs: Vec<u64> = names.iter().filter_map(|n| n.parse().ok()).collect();
    seqs.sort_unstable();
    Ok(seqs)
}

/// Read one key's certificate from OpenBao and describe it.
pub async fn key_info(
    bao: &BaoClient,
    mount: &str,
    env: &str,
    seq: u64,
) -> Result<(KeyInfo, String)> {
    let kv = bao.kv_read(mount, &kv_path(env, seq), None).await?;
    let cert_pem = kv.field_bytes("tls.crt").ok_or_else(|| {
        SecretsError::Keys(format!(
            "{mount}/{} has no field tls.crt: it was not written by `platctl secrets key`",
            kv_path(env, seq)
        ))
    })?;
    let source = format!("{mount}/{}#tls.crt", kv_path(env, seq));
    let parsed = describe_cert(&cert_pem, &source)?;
    let info = KeyInfo {
        env: env.to_owned(),
        seq,
        name: key_name(env, seq),
        openbao_path: format!("{}/{}", mount.trim_matches('/'), kv_path(env, seq)),
        fingerprint: parsed.fingerprint,
        not_after: parsed.not_after,
    };
    Ok((info, String::from_utf8_lossy(&cert_pem).into_owned()))
}

/// Generate key `seq` of `env` and write it create-only. Refused (nothing
/// changes) when that number already exists, e.g. when two rotations race.
pub async fn create_key(
    bao: &BaoClient,
    mount: &str,
    env: &str,
    seq: u64,
) -> Result<(KeyInfo, String)> {
    check_env(env)?;
    let pair = generate_key_pair(OffsetDateTime::now_utc())?;
    let mut data = BTreeMap::new();
    data.insert("tls.crt".to_owned(), Sensitive::new(pair.cert_pem.clone()));
    data.insert("tls.key".to_owned(), Sensitive::new(pair.key_pem.expose()));
    data.insert("created".to_owned(), Sensitive::new(rfc3339_now()));
    match bao.kv_write(mount, &kv_path(env, seq), &data, Some(0)).await {
        Ok(_) => {}
        Err(BaoError::Http { status: 400, .. }) => {
            return Err(SecretsError::Keys(format!(
                "{mount}/{} already exists (another run created it); run the command again",
                kv_path(env, seq)
            )));
        }
        Err(e) => return Err(e.into()),
    }
    drop(data);
    let parsed = describe_cert(pair.cert_pem.as_bytes(), "the generated certificate")?;
    let info = KeyInfo {
        env: env.to_owned(),
        seq,
        name: key_name(env, seq),
        openbao_path: format!("{}/{}", mount.trim_matches('/'), kv_path(env, seq)),
        fingerprint: parsed.fingerprint,
        not_after: parsed.not_after,
    };
    Ok((info, pair.cert_pem))
}

/// Fingerprint and expiry of a certificate, whatever the clock says (an
/// expired key must still be listed, and still decrypts).
pub struct CertFacts {
    /// SHA-256 of the DER, hex: the same digest as [`crate::ControllerCert::fingerprint`].
    pub fingerprint: String,
    pub not_after: String,
}

pub fn describe_cert(pem: &[u8], source: &str) -> Result<CertFacts> {
    use sha2::{Digest, Sha256};
    use x509_cert::der::{DecodePem, Encode};
    let cert = x509_cert::Certificate::from_pem(pem).map_err(|e| SecretsError::CertNotPem {
        source_name: source.to_owned(),
        detail: e.to_string(),
    })?;
    let der = cert.to_der().map_err(|e| SecretsError::CertNotPem {
        source_name: source.to_owned(),
        detail: e.to_string(),
    })?;
    let secs = cert.tbs_certificate().validity().not_after.to_unix_duration().as_secs();
    let not_after = i64::try_from(secs)
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default();
    Ok(CertFacts { fingerprint: hex::encode(Sha256::digest(&der)), not_after })
}

fn rfc3339_now() -> String {
    OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The environments that own a sealing key: those of the mapping that use
/// their own certificate (no `cert:` pointing at another env's).
pub fn key_envs(mapping: &Mapping) -> Vec<String> {
    mapping
        .environments
        .iter()
        .filter(|(_, em)| em.cert.is_none())
        .map(|(env, _)| env.clone())
        .collect()
}

/// What a `generate` or `rotate` run did.
#[derive(Debug, Clone, Serialize)]
pub struct KeyReport {
    pub env: String,
    /// The key created by this run, if any.
    pub created: Option<KeyInfo>,
    /// With --dry-run: the key a real run would create.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub would_create: Option<String>,
    /// The newest key: the one `seal` and `sync` now use.
    pub active: KeyInfo,
    /// Every key of the env (older ones stay for decryption).
    pub keys: Vec<KeyInfo>,
    pub cert_file: PathBuf,
    /// Whether the certificate file was (re)written.
    pub cert_written: bool,
    pub spc_file: PathBuf,
    pub spc_written: bool,
}

/// Options shared by `generate`, `rotate` and `bootstrap`.
#[derive(Debug, Clone)]
pub struct KeyOptions {
    pub mapping_path: PathBuf,
    /// KV v2 mount holding `sealed-secrets/<env>/<n>`.
    pub mount: String,
    pub dry_run: bool,
}

/// `generate`: make sure `env` has a key, and that Git holds its newest
/// certificate and the class listing every key. Creates key 1 only when the
/// env has none; otherwise only repairs the files (idempotent).
pub async fn ensure_key(bao: &BaoClient, opts: &KeyOptions, env: &str) -> Result<KeyReport> {
    new_key(bao, opts, env, false).await
}

/// `rotate`: a new key becomes the active one; older keys stay in OpenBao and
/// in the cluster, so everything sealed for them still decrypts.
pub async fn rotate_key(bao: &BaoClient, opts: &KeyOptions, env: &str) -> Result<KeyReport> {
    new_key(bao, opts, env, true).await
}

async fn new_key(bao: &BaoClient, opts: &KeyOptions, env: &str, rotate: bool) -> Result<KeyReport> {
    check_env(env)?;
    let mapping = Mapping::load(&opts.mapping_path)?;
    let owners = key_envs(&mapping);
    if !owners.iter().any(|e| e == env) {
        return Err(SecretsError::Keys(format!(
            "{env:?} owns no sealing key in {}: add it under `environments:` (without `cert:`); key owners: {}",
            opts.mapping_path.display(),
            owners.join(", ")
        )));
    }
    let mut seqs = list_keys(bao, &opts.mount, env).await?;
    let would_create = match (seqs.last().copied(), rotate) {
        (None, _) if opts.dry_run => Some(key_name(env, 1)),
        (Some(last), true) if opts.dry_run => Some(key_name(env, last + 1)),
        _ => None,
    };
    let created = match (seqs.last().copied(), rotate) {
        (None, true) => {
            return Err(SecretsError::NoSealingKey {
                env: env.to_owned(),
                detail: format!(
                    "nothing to rotate under {}/{KV_FOLDER}/{env}",
                    opts.mount.trim_matches('/')
                ),
            });
        }
        (None, false) | (Some(_), true) if opts.dry_run => None,
        (None, false) => {
            let (info, _) = create_key(bao, &opts.mount, env, 1).await?;
            seqs.push(1);
            Some(info)
        }
        (Some(last), true) => {
            let (info, _) = create_key(bao, &opts.mount, env, last + 1).await?;
            seqs.push(last + 1);
            Some(info)
        }
        (Some(_), false) => None,
    };
    let mut keys = Vec::new();
    let mut newest_cert = String::new();
    for &seq in &seqs {
        let (info, cert) = key_info(bao, &opts.mount, env, seq).await?;
        keys.push(info);
        newest_cert = cert;
    }
    let base = opts.mapping_path.parent().map(Path::to_path_buf).unwrap_or_default();
    let cert_file = base.join(env).join(CERT_FILE);
    let spc_file = base.join(SPC_FILE);
    let Some(active) = keys.last().cloned() else {
        // Only a dry run of the first `generate` gets here.
        return Err(SecretsError::NoSealingKey {
            env: env.to_owned(),
            detail: "a dry run creates nothing".into(),
        });
    };
    let cert_written = write_if_changed(&cert_file, newest_cert.as_bytes(), opts.dry_run)?;
    let spc = render_spc(bao, &opts.mount, &owners).await?;
    let spc_written = write_if_changed(&spc_file, spc.as_bytes(), opts.dry_run)?;
    Ok(KeyReport {
        env: env.to_owned(),
        created,
        would_create,
        active,
        keys,
        cert_file,
        cert_written,
        spc_file,
        spc_written,
    })
}

fn write_if_changed(path: &Path, bytes: &[u8], dry_run: bool) -> Result<bool> {
    if std::fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(false);
    }
    if !dry_run {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(crate::io_err(dir))?;
        }
        platctl_atomic_file::write(path, bytes)?;
    }
    Ok(true)
}

/// Every key of every owner env, as found in OpenBao.
pub async fn all_keys(bao: &BaoClient, mount: &str, envs: &[String]) -> Result<Vec<KeyInfo>> {
    let mut out = Vec::new();
    for env in envs {
        for seq in list_keys(bao, mount, env).await? {
            out.push(key_info(bao, mount, env, seq).await?.0);
        }
    }
    Ok(out)
}

async fn render_spc(bao: &BaoClient, mount: &str, envs: &[String]) -> Result<String> {
    let mut keys = Vec::new();
    for env in envs {
        for seq in list_keys(bao, mount, env).await? {
            keys.push((env.clone(), seq));
        }
    }
    spc_yaml(mount, &keys)
}

#[derive(Serialize)]
struct Spc {
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    kind: &'static str,
    metadata: SpcMeta,
    spec: SpcSpec,
}

#[derive(Serialize)]
struct SpcMeta {
    name: &'static str,
    namespace: &'static str,
    labels: BTreeMap<&'static str, &'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SpcSpec {
    provider: &'static str,
    parameters: BTreeMap<&'static str, String>,
    secret_objects: Vec<SecretObject>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SecretObject {
    secret_name: String,
    #[serde(rename = "type")]
    secret_type: &'static str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    labels: BTreeMap<&'static str, &'static str>,
    data: Vec<SecretObjectData>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SecretObjectData {
    object_name: String,
    key: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProviderObject {
    object_name: String,
    secret_path: String,
    secret_key: &'static str,
}

/// The `SecretProviderClass` for `keys` (env, number), in this order; the
/// ready gate comes last. Deterministic: the same keys give the same bytes.
pub fn spc_yaml(mount: &str, keys: &[(String, u64)]) -> Result<String> {
    let mount = mount.trim_matches('/');
    let mut objects = Vec::new();
    let mut secret_objects = Vec::new();
    for (env, seq) in keys {
        let name = key_name(env, *seq);
        for (suffix, field) in [("crt", "tls.crt"), ("key", "tls.key")] {
            objects.push(ProviderObject {
                object_name: format!("{name}.{suffix}"),
                secret_path: format!("{mount}/data/{}", kv_path(env, *seq)),
                secret_key: field,
            });
        }
        secret_objects.push(SecretObject {
            secret_name: name.clone(),
            secret_type: "kubernetes.io/tls",
            labels: BTreeMap::from([(KEY_LABEL, "active")]),
            data: vec![
                SecretObjectData { object_name: format!("{name}.crt"), key: "tls.crt" },
                SecretObjectData { object_name: format!("{name}.key"), key: "tls.key" },
            ],
        });
    }
    if let Some(last) = secret_objects.last() {
        let newest = format!("{}.crt", last.secret_name);
        secret_objects.push(SecretObject {
            secret_name: READY_SECRET.to_owned(),
            secret_type: "Opaque",
            labels: BTreeMap::new(),
            data: vec![SecretObjectData { object_name: newest, key: "newest.crt" }],
        });
    }
    let objects_yaml =
        serde_saphyr::to_string(&objects).map_err(|e| SecretsError::Encode(e.to_string()))?;
    let parameters = BTreeMap::from([
        ("openbaoAddress", OPENBAO_ADDRESS.to_owned()),
        ("openbaoCACertPath", OPENBAO_CA_PATH.to_owned()),
        ("openbaoKubernetesMountPath", AUTH_MOUNT.to_owned()),
        ("roleName", AUTH_ROLE.to_owned()),
        ("audience", AUDIENCE.to_owned()),
        ("objects", objects_yaml),
    ]);
    let spc = Spc {
        api_version: "secrets-store.csi.x-k8s.io/v1",
        kind: "SecretProviderClass",
        metadata: SpcMeta {
            name: SPC_NAME,
            namespace: CONTROLLER_NAMESPACE,
            labels: BTreeMap::from([("app.kubernetes.io/part-of", "platform")]),
        },
        spec: SpcSpec { provider: "openbao", parameters, secret_objects },
    };
    let body = serde_saphyr::to_string(&spc).map_err(|e| SecretsError::Encode(e.to_string()))?;
    Ok(format!(
        "# Generated by `platctl secrets key generate|rotate` from the keys in OpenBao; do not edit.\n\
         # The sealed-secrets controller mounts this class: the CSI driver turns each key into a\n\
         # kubernetes.io/tls Secret labelled {KEY_LABEL}: active (docs/secrets.md).\n\
         # {READY_SECRET} comes last: the controller pod also mounts it, so it starts only after the keys exist.\n\
         {body}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_pair_matches_what_the_controller_generates() {
        let now = OffsetDateTime::now_utc();
        let pair = generate_key_pair(now).expect("generate");
        // PKCS#1, as the controller writes it (the header is built so the
        // repository's credential scan does not see a key block here).
        let header = format!("-----BEGIN RSA {}-----\n", "PRIVATE KEY");
        assert!(pair.key_pem.expose().starts_with(&header));
        assert!(!format!("{pair:?}").contains("PRIVATE KEY"), "Debug must not print the key");
        let cert = crate::cert::parse_cert(pair.cert_pem.as_bytes(), "t", now)
            .expect("usable for sealing");
        use rsa::traits::PublicKeyParts;
        assert_eq!(cert.public_key.n().bit_width(), 4096);
        let (_, pem) = x509_parser::pem::parse_x509_pem(pair.cert_pem.as_bytes()).expect("pem");
        let (_, x509) = x509_parser::parse_x509_certificate(&pem.contents).expect("x509");
        assert_eq!(x509.subject().to_string(), "CN=sealed-secret");
        assert_eq!(x509.issuer().to_string(), "CN=sealed-secret");
        assert!(x509.is_ca());
        let ku = x509.key_usage().expect("ext").expect("key usage");
        assert!(ku.value.encipher_only() && !ku.value.digital_signature());
        let days = (x509.validity().not_after.timestamp() - x509.validity().not_before.timestamp())
            / 86_400;
        assert_eq!(days, 3650);
        // The private key matches the certificate: what it seals, the key opens.
        use base64::Engine;
        use rsa::pkcs1::DecodeRsaPrivateKey;
        let body: String =
            pair.key_pem.expose().lines().filter(|l| !l.starts_with("-----")).collect();
        let der = base64::engine::general_purpose::STANDARD.decode(body).expect("base64");
        let private = rsa::PrivateKey::from_pkcs1_der(&der).expect("pkcs1");
        let ct = crate::crypto::hybrid_encrypt(&cert.public_key, b"v", b"ns/n").expect("seal");
        assert_eq!(crate::crypto::hybrid_decrypt(&private, &ct, b"ns/n").expect("open"), b"v");
    }

    #[test]
    fn the_class_lists_every_key_and_ends_with_the_ready_gate() {
        let yaml = spc_yaml(
            "secret",
            &[("production".into(), 1), ("production".into(), 2), ("staging".into(), 1)],
        )
        .expect("yaml");
        assert_eq!(
            yaml,
            spc_yaml(
                "secret",
                &[("production".into(), 1), ("production".into(), 2), ("staging".into(), 1)]
            )
            .expect("again")
        );
        let doc: serde_json::Value = serde_saphyr::from_str(&yaml).expect("parse");
        let objects = doc["spec"]["secretObjects"].as_array().expect("secretObjects");
        let names: Vec<&str> = objects.iter().filter_map(|o| o["secretName"].as_str()).collect();
        assert_eq!(
            names,
            [
                "sealed-secrets-key-production-1",
                "sealed-secrets-key-production-2",
                "sealed-secrets-key-staging-1",
                READY_SECRET
            ]
        );
        assert_eq!(objects[0]["type"], "kubernetes.io/tls");
        assert_eq!(objects[0]["labels"][KEY_LABEL], "active");
        assert!(objects[3]["labels"].is_null(), "the gate is no key");
        let provider: Vec<serde_json::Value> =
            serde_saphyr::from_str(doc["spec"]["parameters"]["objects"].as_str().expect("objects"))
                .expect("objects yaml");
        assert_eq!(provider.len(), 6);
        assert_eq!(provider[1]["secretPath"], "secret/data/sealed-secrets/production/1");
        assert_eq!(provider[1]["secretKey"], "tls.key");
        assert_eq!(doc["metadata"]["namespace"], "kube-system");
    }

    #[test]
    fn env_names_must_fit_a_secret_name() {
        assert!(check_env("staging").is_ok());
        for bad in ["", "Prod", "qa_1", "-x", "a/b"] {
            assert!(check_env(bad).is_err(), "{bad:?}");
        }
    }
}
