//! Secret manifest in, kubeseal-compatible `bitnami.com/v1alpha1` SealedSecret out.
//!
//! Layout follows sealed-secrets' `NewSealedSecret`: the SealedSecret's own
//! metadata carries name, namespace and the scope annotation; the template
//! carries the Secret's type, labels and annotations (minus the
//! `last-applied-configuration` annotations, which would leak the plaintext).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

use crate::cert::ControllerCert;
use crate::crypto::hybrid_encrypt;
use crate::{Result, SecretsError};

pub const ANNOTATION_NAMESPACE_WIDE: &str = "sealedsecrets.bitnami.com/namespace-wide";
pub const ANNOTATION_CLUSTER_WIDE: &str = "sealedsecrets.bitnami.com/cluster-wide";
const STRIPPED_ANNOTATIONS: [&str; 2] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    "kubecfg.ksonnet.io/last-applied-configuration",
];

/// Who may unseal: the OAEP label binds the ciphertext to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// Only a Secret with this exact namespace and name (label `ns/name`).
    #[default]
    Strict,
    /// Any name in this namespace (label `ns`).
    NamespaceWide,
    /// Any namespace and name (empty label).
    ClusterWide,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Strict => "strict",
            Scope::NamespaceWide => "namespace-wide",
            Scope::ClusterWide => "cluster-wide",
        }
    }

    /// The RSA-OAEP label, as in sealed-secrets' `EncryptionLabel`.
    pub fn label(self, namespace: &str, name: &str) -> Vec<u8> {
        match self {
            Scope::Strict => format!("{namespace}/{name}").into_bytes(),
            Scope::NamespaceWide => namespace.as_bytes().to_vec(),
            Scope::ClusterWide => Vec::new(),
        }
    }

    /// The scope a manifest asks for through its annotations (strict if none).
    pub fn from_annotations(annotations: &BTreeMap<String, String>) -> Scope {
        if annotations.get(ANNOTATION_CLUSTER_WIDE).is_some_and(|v| v == "true") {
            Scope::ClusterWide
        } else if annotations.get(ANNOTATION_NAMESPACE_WIDE).is_some_and(|v| v == "true") {
            Scope::NamespaceWide
        } else {
            Scope::Strict
        }
    }

    /// Replace any scope annotation by the one for `self`.
    pub fn apply_to(self, annotations: &mut BTreeMap<String, String>) {
        annotations.remove(ANNOTATION_CLUSTER_WIDE);
        annotations.remove(ANNOTATION_NAMESPACE_WIDE);
        match self {
            Scope::Strict => {}
            Scope::NamespaceWide => {
                annotations.insert(ANNOTATION_NAMESPACE_WIDE.into(), "true".into());
            }
            Scope::ClusterWide => {
                annotations.insert(ANNOTATION_CLUSTER_WIDE.into(), "true".into());
            }
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s {
            "strict" => Ok(Scope::Strict),
            "namespace-wide" => Ok(Scope::NamespaceWide),
            "cluster-wide" => Ok(Scope::ClusterWide),
            other => {
                Err(format!("unknown scope {other:?}: use strict, namespace-wide or cluster-wide"))
            }
        }
    }
}

/// A Secret to seal. `Debug` never prints the values.
#[derive(Clone, Default)]
pub struct SecretInput {
    pub name: String,
    pub namespace: Option<String>,
    /// Kubernetes Secret type; `None` means the API default (Opaque).
    pub secret_type: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub immutable: Option<bool>,
    /// Decoded values by key.
    pub data: BTreeMap<String, Vec<u8>>,
}

impl fmt::Debug for SecretInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretInput")
            .field("name", &self.name)
            .field("namespace", &self.namespace)
            .field("type", &self.secret_type)
            .field("keys", &self.data.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

fn invalid(msg: impl Into<String>) -> SecretsError {
    SecretsError::InvalidManifest(msg.into())
}

/// YAML as the Kubernetes API server reads it (YAML 1.2 core schema): only
/// `true`/`false` are booleans, so `namespace: no` or `name: on` stay strings
/// instead of turning into YAML 1.1 booleans.
fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! { strict_booleans: true }
}

/// An optional field that must be a string when present.
fn optional_string(v: Option<&serde_json::Value>, field: &str) -> Result<Option<String>> {
    match v {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
        // The value is a name, not a secret: saying what it was helps.
        Some(other) => Err(invalid(format!(
            "{field} must be a string, not {other}; quote it (e.g. \"{other}\")"
        ))),
    }
}

fn string_map(v: Option<&serde_json::Value>, field: &str) -> Result<BTreeMap<String, String>> {
    let Some(v) = v else { return Ok(BTreeMap::new()) };
    if v.is_null() {
        return Ok(BTreeMap::new());
    }
    let obj = v.as_object().ok_or_else(|| invalid(format!("{field} must be a map of strings")))?;
    obj.iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => Ok((k.clone(), s.clone())),
            // Never echo the value: it may be a secret.
            _ => Err(invalid(format!("{field}.{k} must be a string (quote it)"))),
        })
        .collect()
}

/// Kubernetes' rule for Secret keys.
pub fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 253
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
}

/// DNS-1123 subdomain (names) / label (namespaces) check, loose on length.
fn valid_dns_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric())
}

impl SecretInput {
    /// Parse one `v1` Secret manifest (YAML or JSON) with `data` and/or
    /// `stringData` (`stringData` wins on a shared key, as in the API server).
    /// Errors never contain a value.
    pub fn from_manifest(text: &str) -> Result<Self> {
        if text.trim().is_empty() {
            return Err(invalid(
                "the input is empty; pipe a Secret manifest on stdin, or use --name with --from-literal/--from-file",
            ));
        }
        let doc: serde_json::Value = serde_saphyr::from_str_with_options(text, yaml_options())
            .map_err(|e| {
                let inner = e.without_snippet();
                match inner.location() {
                    Some(loc) => invalid(format!(
                        "not valid YAML at line {}, column {}",
                        loc.line(),
                        loc.column()
                    )),
                    None => invalid("not valid YAML (one Secret document expected)".to_owned()),
                }
            })?;
        let obj = doc
            .as_object()
            .ok_or_else(|| invalid("expected a Secret object (a YAML map with kind: Secret)"))?;
        match obj.get("kind").and_then(|k| k.as_str()) {
            Some("Secret") => {}
            Some(other) => return Err(invalid(format!("kind is {other:?}, expected \"Secret\""))),
            None => return Err(invalid("missing kind: Secret")),
        }
        if let Some(api) = obj.get("apiVersion").and_then(|k| k.as_str())
            && api != "v1"
        {
            return Err(invalid(format!("apiVersion is {api:?}, expected \"v1\"")));
        }
        let meta = obj
            .get("metadata")
            .and_then(|m| m.as_object())
            .ok_or_else(|| invalid("missing metadata"))?;
        let name = optional_string(meta.get("name"), "metadata.name")?
            .ok_or_else(|| invalid("missing metadata.name"))?;
        let namespace = optional_string(meta.get("namespace"), "metadata.namespace")?;
        let labels = string_map(meta.get("labels"), "metadata.labels")?;
        let annotations = string_map(meta.get("annotations"), "metadata.annotations")?;
        let secret_type = optional_string(obj.get("type"), "type")?;
        let immutable = match obj.get("immutable") {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::Bool(b)) => Some(*b),
            Some(_) => return Err(invalid("immutable must be true or false")),
        };
        let mut data = BTreeMap::new();
        for (k, v) in string_map(obj.get("data"), "data")? {
            let cleaned: String = v.chars().filter(|c| !c.is_whitespace()).collect();
            let bytes = B64.decode(cleaned.as_bytes()).map_err(|_| {
                invalid(format!("data.{k} is not valid base64 (use stringData for plain text)"))
            })?;
            data.insert(k, bytes);
        }
        for (k, v) in string_map(obj.get("stringData"), "stringData")? {
            data.insert(k, v.into_bytes());
        }
        for key in ["data", "stringData"] {
            if let Some(v) = obj.get(key)
                && !v.is_null()
                && !v.is_object()
            {
                return Err(invalid(format!("{key} must be a map")));
            }
        }
        let input =
            SecretInput { name, namespace, secret_type, labels, annotations, immutable, data };
        input.validate()?;
        Ok(input)
    }

    /// Check names and keys (scope-specific checks happen in [`seal`]).
    pub fn validate(&self) -> Result<()> {
        if !valid_dns_name(&self.name) {
            return Err(invalid(format!(
                "metadata.name {:?} is not a valid Kubernetes name (lowercase letters, digits, '-', '.')",
                self.name
            )));
        }
        if let Some(ns) = &self.namespace
            && !valid_dns_name(ns)
        {
            return Err(invalid(format!(
                "metadata.namespace {ns:?} is not a valid namespace name"
            )));
        }
        if let Some(bad) = self.data.keys().find(|k| !valid_key(k)) {
            return Err(invalid(format!(
                "key {bad:?} is not a valid Secret key (letters, digits, '-', '_', '.')"
            )));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ObjectMeta {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SecretTemplate {
    pub metadata: ObjectMeta,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub secret_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immutable: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SealedSecretSpec {
    pub encrypted_data: BTreeMap<String, String>,
    pub template: SecretTemplate,
}

/// A `bitnami.com/v1alpha1` SealedSecret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SealedSecret {
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    pub spec: SealedSecretSpec,
}

impl SealedSecret {
    pub fn to_yaml(&self) -> Result<String> {
        // Plain one-line scalars (no folded `>-` blocks), as kubeseal writes them.
        let mut options = serde_saphyr::SerializerOptions::default();
        options.prefer_block_scalars = false;
        serde_saphyr::to_string_with_options(self, options)
            .map_err(|e| SecretsError::Encode(e.to_string()))
    }

    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self).map_err(|e| SecretsError::Encode(e.to_string()))
    }

    pub fn from_yaml(text: &str) -> Result<Self> {
        serde_saphyr::from_str_with_options(text, yaml_options()).map_err(|e| {
            SecretsError::InvalidManifest(format!("not a SealedSecret: {}", e.without_snippet()))
        })
    }

    pub fn scope(&self) -> Scope {
        Scope::from_annotations(&self.metadata.annotations)
    }
}

/// Seal every value of `input` for `cert`, bound to `scope`.
pub fn seal(input: &SecretInput, scope: Scope, cert: &ControllerCert) -> Result<SealedSecret> {
    input.validate()?;
    let namespace = match (scope, input.namespace.as_deref()) {
        (Scope::ClusterWide, ns) => ns.unwrap_or(""),
        (_, Some(ns)) if !ns.is_empty() => ns,
        (_, _) => {
            return Err(invalid(format!(
                "Secret {:?} has no namespace; a {scope} SealedSecret is bound to one: set metadata.namespace (or --namespace), or use --scope cluster-wide",
                input.name
            )));
        }
    };
    let label = scope.label(namespace, &input.name);
    let mut encrypted = BTreeMap::new();
    for (key, value) in &input.data {
        let ct = hybrid_encrypt(&cert.public_key, value, &label)?;
        encrypted.insert(key.clone(), B64.encode(ct));
    }
    let mut annotations = input.annotations.clone();
    for a in STRIPPED_ANNOTATIONS {
        annotations.remove(a);
    }
    scope.apply_to(&mut annotations);
    let mut scope_annotations = BTreeMap::new();
    scope.apply_to(&mut scope_annotations);
    let ns = (!namespace.is_empty()).then(|| namespace.to_owned());
    Ok(SealedSecret {
        api_version: "bitnami.com/v1alpha1".into(),
        kind: "SealedSecret".into(),
        metadata: ObjectMeta {
            name: input.name.clone(),
            namespace: ns.clone(),
            labels: BTreeMap::new(),
            annotations: scope_annotations,
        },
        spec: SealedSecretSpec {
            encrypted_data: encrypted,
            template: SecretTemplate {
                metadata: ObjectMeta {
                    name: input.name.clone(),
                    namespace: ns,
                    labels: input.labels.clone(),
                    annotations,
                },
                secret_type: input.secret_type.clone(),
                immutable: input.immutable,
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_match_sealed_secrets() {
        assert_eq!(Scope::Strict.label("app", "db"), b"app/db");
        assert_eq!(Scope::NamespaceWide.label("app", "db"), b"app");
        assert_eq!(Scope::ClusterWide.label("app", "db"), b"");
        let mut a = BTreeMap::new();
        assert_eq!(Scope::from_annotations(&a), Scope::Strict);
        a.insert(ANNOTATION_NAMESPACE_WIDE.to_owned(), "true".to_owned());
        assert_eq!(Scope::from_annotations(&a), Scope::NamespaceWide);
        Scope::ClusterWide.apply_to(&mut a);
        assert_eq!(Scope::from_annotations(&a), Scope::ClusterWide);
        assert!(!a.contains_key(ANNOTATION_NAMESPACE_WIDE));
    }

    #[test]
    fn yaml_is_read_with_yaml_1_2_booleans_and_names_must_be_strings() {
        // YAML 1.1 would read `no` and `on` as booleans, and the namespace would vanish.
        let m = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: on\n  namespace: no\nstringData:\n  k: v\n";
        let s = SecretInput::from_manifest(m).expect("parse");
        assert_eq!(s.name, "on");
        assert_eq!(s.namespace.as_deref(), Some("no"));
        let m = "kind: Secret\nmetadata:\n  name: db\n  namespace: 1234\nstringData:\n  k: v\n";
        let err = SecretInput::from_manifest(m).expect_err("a number").to_string();
        assert!(err.contains("metadata.namespace must be a string"), "{err}");
        let m = "kind: Secret\nmetadata: {name: db, namespace: app}\nimmutable: yes\n";
        let err =
            SecretInput::from_manifest(m).expect_err("yes is a string in YAML 1.2").to_string();
        assert!(err.contains("immutable must be true or false"), "{err}");
    }

    #[test]
    fn manifest_parsing_keeps_metadata_and_never_echoes_values() {
        let m = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: app\n  labels: {tier: data}\n  annotations: {owner: team-a}\ntype: kubernetes.io/basic-auth\ndata:\n  username: YWRtaW4=\nstringData:\n  password: s3cr3t-value\n";
        let s = SecretInput::from_manifest(m).expect("parse");
        assert_eq!(s.name, "db");
        assert_eq!(s.namespace.as_deref(), Some("app"));
        assert_eq!(s.secret_type.as_deref(), Some("kubernetes.io/basic-auth"));
        assert_eq!(s.labels.get("tier").map(String::as_str), Some("data"));
        assert_eq!(s.data.get("username").map(Vec::as_slice), Some(&b"admin"[..]));
        assert_eq!(s.data.get("password").map(Vec::as_slice), Some(&b"s3cr3t-value"[..]));
        assert!(!format!("{s:?}").contains("s3cr3t"), "Debug must not print values");

        let bad_b64 = "kind: Secret\nmetadata: {name: db, namespace: app}\ndata:\n  password: 's3cr3t-value!!'\n";
        let err = SecretInput::from_manifest(bad_b64).expect_err("bad base64").to_string();
        assert!(err.contains("data.password is not valid base64"), "{err}");
        assert!(!err.contains("s3cr3t"), "error leaks the value: {err}");

        let not_string = "kind: Secret\nmetadata: {name: db}\nstringData:\n  pin: [1234]\n";
        let err = SecretInput::from_manifest(not_string).expect_err("list value").to_string();
        assert!(err.contains("stringData.pin must be a string") && !err.contains("1234"), "{err}");

        for (text, want) in [
            ("", "empty"),
            ("kind: ConfigMap\nmetadata: {name: x}\n", "kind is \"ConfigMap\""),
            ("kind: Secret\n", "missing metadata"),
            ("kind: Secret\nmetadata: {namespace: a}\n", "missing metadata.name"),
            ("kind: Secret\nmetadata: {name: Bad_Name}\n", "not a valid Kubernetes name"),
            (
                "kind: Secret\nmetadata: {name: db}\nstringData: {'bad key': x}\n",
                "not a valid Secret key",
            ),
            ("kind: Secret\nmetadata: [\n", "not valid YAML"),
        ] {
            let err = SecretInput::from_manifest(text).expect_err(text).to_string();
            assert!(err.contains(want), "{text:?}: {err}");
        }
    }
}
