//! `platctl openbao configure`: OpenBao's mounts, policies and Kubernetes
//! auth roles, declared in Git (`infra/openbao/access.yaml`) and
//! applied idempotently. Audit devices are declared in the server's own
//! configuration (OpenBao refuses to create them through the API); configure
//! refuses to go on when none is enabled.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::bao::BaoClient;
use crate::{Result, SecretsError};

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Access {
    /// KV version 2 mounts (paths).
    #[serde(default)]
    pub kv_mounts: Vec<String>,
    /// ACL policies: name -> HCL.
    #[serde(default)]
    pub policies: BTreeMap<String, String>,
    /// Kubernetes auth mounts.
    #[serde(default)]
    pub kubernetes: Vec<KubernetesAuth>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesAuth {
    /// The auth mount path, e.g. `kubernetes`.
    pub path: String,
    /// The API server OpenBao sends TokenReviews to; in the cluster,
    /// `https://kubernetes.default.svc:443` (OpenBao then uses its own
    /// service account token and CA).
    pub host: String,
    /// Other fields of `auth/<path>/config` (e.g. `disable_local_ca_jwt`,
    /// `kubernetes_ca_cert` for an OpenBao outside the cluster). In the cluster
    /// none are needed: OpenBao uses its pod's service account token and CA.
    #[serde(default)]
    pub config: BTreeMap<String, Value>,
    pub roles: BTreeMap<String, KubernetesRole>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesRole {
    pub service_accounts: Vec<String>,
    pub namespaces: Vec<String>,
    pub policies: Vec<String>,
    /// The projected token's audience the role requires (the CSI driver asks for `openbao`).
    #[serde(default)]
    pub audience: Option<String>,
    /// Token TTL, e.g. `10m`.
    #[serde(default = "default_ttl")]
    pub ttl: String,
}

fn default_ttl() -> String {
    "10m".into()
}

impl Access {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(crate::io_err(path))?;
        let bad = |detail: String| SecretsError::Sources { path: path.to_owned(), detail };
        let access: Access = serde_saphyr::from_str(&text).map_err(|e| bad(e.to_string()))?;
        for k in &access.kubernetes {
            for (name, role) in &k.roles {
                for p in &role.policies {
                    if !access.policies.contains_key(p) && p != "default" {
                        return Err(bad(format!(
                            "role {}/{name} names policy {p:?}, which the file does not declare",
                            k.path
                        )));
                    }
                }
                if role.service_accounts.is_empty() || role.namespaces.is_empty() {
                    return Err(bad(format!(
                        "role {}/{name} must bind at least one service account and namespace",
                        k.path
                    )));
                }
            }
        }
        Ok(access)
    }
}

/// One configuration item and what configure did (or would do) to it.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub item: String,
    /// `create`, `update` or `unchanged`.
    pub action: &'static str,
}

/// Apply `access`. With `dry_run`, only reads.
pub async fn configure(bao: &BaoClient, access: &Access, dry_run: bool) -> Result<Vec<Change>> {
    let audit = bao.read("sys/audit").await?;
    let has_audit = audit
        .as_ref()
        .map(|v| v.get("data").unwrap_or(v))
        .and_then(Value::as_object)
        .is_some_and(|m| m.values().any(|d| d.get("type").is_some()));
    if !has_audit {
        return Err(SecretsError::Bao(crate::bao::BaoError::Config(
            "no audit device is enabled: declare one in the server configuration \
             (`audit \"file\" ...` in deploy/platform/apps/45-openbao.yaml) before OpenBao holds secrets"
                .into(),
        )));
    }
    let mut changes = Vec::new();
    let mounts = bao.mounts().await?;
    for m in &access.kv_mounts {
        let key = format!("{}/", m.trim_matches('/'));
        let item = format!("kv-v2 mount {key}");
        match mounts.get(&key) {
            Some(existing) => {
                let ty = existing.get("type").and_then(Value::as_str).unwrap_or("");
                let version =
                    existing.pointer("/options/version").and_then(Value::as_str).unwrap_or("1");
                if ty != "kv" || version != "2" {
                    return Err(SecretsError::Bao(crate::bao::BaoError::Config(format!(
                        "{key} is mounted as {ty} version {version}, not KV version 2: move it away first"
                    ))));
                }
                changes.push(Change { item, action: "unchanged" });
            }
            None => {
                if !dry_run {
                    bao.write(
                        &format!("sys/mounts/{}", m.trim_matches('/')),
                        &json!({"type": "kv", "options": {"version": "2"}}),
                    )
                    .await?;
                }
                changes.push(Change { item, action: "create" });
            }
        }
    }
    for (name, hcl) in &access.policies {
        let path = format!("sys/policies/acl/{name}");
        let current = bao.read(&path).await?;
        let current_text = current
            .as_ref()
            .and_then(|v| v.pointer("/data/policy").or_else(|| v.get("policy")))
            .and_then(Value::as_str);
        let action = match current_text {
            Some(t) if t.trim() == hcl.trim() => "unchanged",
            Some(_) => "update",
            None => "create",
        };
        if action != "unchanged" && !dry_run {
            bao.write(&path, &json!({ "policy": hcl })).await?;
        }
        changes.push(Change { item: format!("policy {name}"), action });
    }
    let auths = bao.auth_mounts().await?;
    for k in &access.kubernetes {
        let mount = k.path.trim_matches('/');
        let key = format!("{mount}/");
        match auths.get(&key).and_then(|a| a.get("type")).and_then(Value::as_str) {
            Some("kubernetes") => {
                changes.push(Change { item: format!("auth {key}"), action: "unchanged" })
            }
            Some(other) => {
                return Err(SecretsError::Bao(crate::bao::BaoError::Config(format!(
                    "auth mount {key} is of type {other}, not kubernetes"
                ))));
            }
            None => {
                if !dry_run {
                    bao.write(&format!("sys/auth/{mount}"), &json!({"type": "kubernetes"})).await?;
                }
                changes.push(Change { item: format!("auth {key}"), action: "create" });
            }
        }
        let config_path = format!("auth/{mount}/config");
        let current = if dry_run && !auths.contains_key(&key) {
            None
        } else {
            bao.read(&config_path).await?
        };
        let host = current
            .as_ref()
            .and_then(|v| v.pointer("/data/kubernetes_host"))
            .and_then(Value::as_str);
        let extra_same = k.config.iter().all(|(key, want)| {
            current.as_ref().and_then(|v| v.pointer(&format!("/data/{key}"))) == Some(want)
        });
        let action = match host {
            Some(h) if h == k.host && extra_same => "unchanged",
            Some(_) => "update",
            None => "create",
        };
        if action != "unchanged" && !dry_run {
            let mut body = json!({ "kubernetes_host": k.host });
            for (key, v) in &k.config {
                body[key] = v.clone();
            }
            bao.write(&config_path, &body).await?;
        }
        changes.push(Change { item: format!("auth {key} config"), action });
        for (name, role) in &k.roles {
            let path = format!("auth/{mount}/role/{name}");
            let mut want = json!({
                "bound_service_account_names": role.service_accounts,
                "bound_service_account_namespaces": role.namespaces,
                "token_policies": role.policies,
                "token_ttl": role.ttl,
            });
            if let Some(a) = &role.audience {
                want["audience"] = json!(a);
            }
            let current =
                if dry_run && !auths.contains_key(&key) { None } else { bao.read(&path).await? };
            let action = match current.as_ref().and_then(|v| v.get("data")) {
                None => "create",
                Some(d) if role_matches(d, role) => "unchanged",
                Some(_) => "update",
            };
            if action != "unchanged" && !dry_run {
                bao.write(&path, &want).await?;
            }
            changes.push(Change { item: format!("role {mount}/{name}"), action });
        }
    }
    Ok(changes)
}

fn role_matches(current: &Value, want: &KubernetesRole) -> bool {
    let list = |k: &str| -> Vec<String> {
        let mut v: Vec<String> = current
            .get(k)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        v.sort();
        v
    };
    let sorted = |v: &[String]| {
        let mut v = v.to_vec();
        v.sort();
        v
    };
    let audience = current.get("audience").and_then(Value::as_str).filter(|s| !s.is_empty());
    list("bound_service_account_names") == sorted(&want.service_accounts)
        && list("bound_service_account_namespaces") == sorted(&want.namespaces)
        && list("token_policies") == sorted(&want.policies)
        && audience == want.audience.as_deref()
        && ttl_seconds(current.get("token_ttl")) == parse_ttl(&want.ttl)
}

fn ttl_seconds(v: Option<&Value>) -> Option<u64> {
    v.and_then(Value::as_u64)
}

fn parse_ttl(s: &str) -> Option<u64> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().ok()?;
    match unit {
        "" | "s" => Some(n),
        "m" => Some(n * 60),
        "h" => Some(n * 3600),
        _ => None,
    }
}
