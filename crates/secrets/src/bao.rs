//! A small OpenBao client (the API is Vault's): token, AppRole or Kubernetes
//! auth, and KV version 2 reads. Values never appear in errors or logs.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum BaoError {
    #[error("{0}")]
    Config(String),
    #[error("cannot reach OpenBao at {addr}: {detail}; check BAO_ADDR and that the server is up")]
    Unreachable { addr: String, detail: String },
    #[error(
        "permission denied (HTTP 403) reading {what}; the token's policy needs `read` on {policy_path}"
    )]
    Denied { what: String, policy_path: String },
    #[error(
        "{what} not found in OpenBao (HTTP 404); write it with `bao kv put` or fix the mapping"
    )]
    NotFound { what: String },
    #[error(
        "{what}: version {version} is deleted or destroyed; undelete it, or pin another version in the mapping"
    )]
    VersionGone { what: String, version: u64 },
    #[error(
        "{what}: has no field {field:?} (fields present: {present}); fix the mapping or add the field"
    )]
    MissingField { what: String, field: String, present: String },
    #[error("OpenBao {method} login failed: {detail}")]
    Login { method: &'static str, detail: String },
    #[error("OpenBao answered HTTP {status} for {what}: {detail}")]
    Http { what: String, status: u16, detail: String },
    #[error("unexpected OpenBao response for {what}: {detail}")]
    Protocol { what: String, detail: String },
}

type Result<T> = std::result::Result<T, BaoError>;

/// How to authenticate. `Debug` never prints credentials.
#[derive(Clone)]
pub enum Auth {
    Token(String),
    AppRole { role_id: String, secret_id: String, mount: String },
    Kubernetes { role: String, jwt: String, mount: String },
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::Token(_) => f.write_str("Token(..)"),
            Auth::AppRole { mount, .. } => write!(f, "AppRole {{ mount: {mount:?}, .. }}"),
            Auth::Kubernetes { role, mount, .. } => {
                write!(f, "Kubernetes {{ role: {role:?}, mount: {mount:?}, .. }}")
            }
        }
    }
}

impl Auth {
    pub fn method(&self) -> &'static str {
        match self {
            Auth::Token(_) => "token",
            Auth::AppRole { .. } => "approle",
            Auth::Kubernetes { .. } => "kubernetes",
        }
    }
}

/// Connection settings, usually from the environment.
#[derive(Debug, Clone)]
pub struct BaoConfig {
    pub addr: String,
    pub auth: Auth,
    /// Enterprise/OpenBao namespace (X-Vault-Namespace), if any.
    pub namespace: Option<String>,
    /// Extra CA certificate (PEM) for a private CA.
    pub ca_cert_pem: Option<Vec<u8>>,
}

fn env_first(get: &dyn Fn(&str) -> Option<String>, names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| get(n).filter(|v| !v.trim().is_empty()))
}

impl BaoConfig {
    /// Read `BAO_ADDR`/`VAULT_ADDR`, then auth in this order:
    /// `BAO_TOKEN`/`VAULT_TOKEN`; AppRole with `BAO_ROLE_ID` + `BAO_SECRET_ID`
    /// (mount `BAO_APPROLE_MOUNT`, default `approle`); Kubernetes with
    /// `BAO_K8S_ROLE` (JWT from `BAO_K8S_JWT_PATH`, default the pod's service
    /// account token; mount `BAO_K8S_MOUNT`, default `kubernetes`).
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(&|n| std::env::var(n).ok())
    }

    pub fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Result<Self> {
        let endpoint = BaoEndpoint::from_lookup(get)?;
        let auth = if let Some(token) = env_first(get, &["BAO_TOKEN", "VAULT_TOKEN"]) {
            Auth::Token(token.trim().to_owned())
        } else if let Some(role_id) = env_first(get, &["BAO_ROLE_ID", "VAULT_ROLE_ID"]) {
            let secret_id =
                env_first(get, &["BAO_SECRET_ID", "VAULT_SECRET_ID"]).ok_or_else(|| {
                    BaoError::Config(
                        "BAO_ROLE_ID is set but BAO_SECRET_ID is not: AppRole needs both".into(),
                    )
                })?;
            let mount = env_first(get, &["BAO_APPROLE_MOUNT"]).unwrap_or_else(|| "approle".into());
            Auth::AppRole { role_id, secret_id, mount }
        } else if let Some(role) = env_first(get, &["BAO_K8S_ROLE"]) {
            let path = env_first(get, &["BAO_K8S_JWT_PATH"])
                .unwrap_or_else(|| "/var/run/secrets/kubernetes.io/serviceaccount/token".into());
            let jwt = std::fs::read_to_string(&path).map_err(|e| {
                BaoError::Config(format!("cannot read the service account token {path}: {e}"))
            })?;
            let mount = env_first(get, &["BAO_K8S_MOUNT"]).unwrap_or_else(|| "kubernetes".into());
            Auth::Kubernetes { role, jwt: jwt.trim().to_owned(), mount }
        } else {
            return Err(BaoError::Config(
                "no OpenBao credentials: set BAO_TOKEN, or BAO_ROLE_ID and BAO_SECRET_ID (AppRole), or BAO_K8S_ROLE (in a pod)".into(),
            ));
        };
        Ok(BaoConfig {
            addr: endpoint.addr,
            auth,
            namespace: endpoint.namespace,
            ca_cert_pem: endpoint.ca_cert_pem,
        })
    }
}

/// Where OpenBao is, without credentials: `BAO_ADDR` (or `VAULT_ADDR`),
/// `BAO_NAMESPACE` and `BAO_CACERT`. The unauthenticated operator endpoints
/// (init, seal status, unseal) need only this.
#[derive(Debug, Clone)]
pub struct BaoEndpoint {
    pub addr: String,
    pub namespace: Option<String>,
    pub ca_cert_pem: Option<Vec<u8>>,
}

impl BaoEndpoint {
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(&|n| std::env::var(n).ok())
    }

    pub fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Result<Self> {
        let addr = env_first(get, &["BAO_ADDR", "VAULT_ADDR"]).ok_or_else(|| {
            BaoError::Config("no OpenBao address: set BAO_ADDR (or VAULT_ADDR), e.g. https://bao.example.net:8200".into())
        })?;
        let namespace = env_first(get, &["BAO_NAMESPACE", "VAULT_NAMESPACE"]);
        let ca_cert_pem = match env_first(get, &["BAO_CACERT", "VAULT_CACERT"]) {
            Some(path) => Some(
                std::fs::read(&path)
                    .map_err(|e| BaoError::Config(format!("cannot read BAO_CACERT {path}: {e}")))?,
            ),
            None => None,
        };
        Ok(BaoEndpoint {
            addr: addr.trim().trim_end_matches('/').to_owned(),
            namespace,
            ca_cert_pem,
        })
    }
}

/// One version of a KV v2 secret. `Debug` prints field names only.
#[derive(Clone)]
pub struct KvVersion {
    pub version: u64,
    pub fields: BTreeMap<String, serde_json::Value>,
}

impl fmt::Debug for KvVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KvVersion")
            .field("version", &self.version)
            .field("fields", &self.fields.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl KvVersion {
    /// The bytes of one field: strings as is, other JSON values as JSON text.
    pub fn field_bytes(&self, field: &str) -> Option<Vec<u8>> {
        self.fields.get(field).map(|v| match v {
            serde_json::Value::String(s) => s.clone().into_bytes(),
            other => other.to_string().into_bytes(),
        })
    }
}

#[derive(Clone)]
pub struct BaoClient {
    addr: String,
    token: String,
    namespace: Option<String>,
    http: reqwest::Client,
}

impl fmt::Debug for BaoClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BaoClient").field("addr", &self.addr).finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Envelope<T> {
    data: Option<T>,
}

#[derive(Deserialize)]
struct KvData {
    data: Option<BTreeMap<String, serde_json::Value>>,
    metadata: Option<KvMeta>,
}

#[derive(Deserialize)]
struct KvMeta {
    version: u64,
}

#[derive(Deserialize)]
struct LoginResponse {
    auth: Option<LoginAuth>,
}

#[derive(Deserialize)]
struct LoginAuth {
    client_token: String,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<String>,
}

pub(crate) fn encode_path(path: &str) -> String {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(|seg| url::form_urlencoded::byte_serialize(seg.as_bytes()).collect::<String>())
        .collect::<Vec<_>>()
        .join("/")
}

impl BaoClient {
    /// Build the HTTP client and log in (no request for a plain token).
    pub async fn connect(config: &BaoConfig) -> Result<Self> {
        let mut builder = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("platctl-secrets/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &config.ca_cert_pem {
            let cert = reqwest::Certificate::from_pem(pem).map_err(|e| {
                BaoError::Config(format!("BAO_CACERT is not a PEM certificate: {e}"))
            })?;
            builder = builder.add_root_certificate(cert);
        }
        let http = builder.build().map_err(|e| BaoError::Config(format!("HTTP client: {e}")))?;
        let mut client = BaoClient {
            addr: config.addr.clone(),
            token: String::new(),
            namespace: config.namespace.clone(),
            http,
        };
        client.token = match &config.auth {
            Auth::Token(t) => t.clone(),
            Auth::AppRole { role_id, secret_id, mount } => {
                client
                    .login(
                        "approle",
                        mount,
                        serde_json::json!({ "role_id": role_id, "secret_id": secret_id }),
                    )
                    .await?
            }
            Auth::Kubernetes { role, jwt, mount } => {
                client
                    .login("kubernetes", mount, serde_json::json!({ "role": role, "jwt": jwt }))
                    .await?
            }
        };
        Ok(client)
    }

    /// The server address this client talks to.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// A client without a token, for the unauthenticated `sys/init`,
    /// `sys/seal-status` and `sys/unseal` endpoints.
    pub async fn anonymous(addr: &str, ca_cert_pem: Option<Vec<u8>>) -> Result<Self> {
        Self::connect(&BaoConfig {
            addr: addr.trim_end_matches('/').to_owned(),
            auth: Auth::Token(String::new()),
            namespace: None,
            ca_cert_pem,
        })
        .await
    }

    /// A client for an already-known token.
    pub async fn with_token(addr: &str, token: &str) -> Result<Self> {
        Self::connect(&BaoConfig {
            addr: addr.to_owned(),
            auth: Auth::Token(token.to_owned()),
            namespace: None,
            ca_cert_pem: None,
        })
        .await
    }

    pub(crate) fn request(
        &self,
        method: reqwest::Method,
        api_path: &str,
    ) -> reqwest::RequestBuilder {
        let mut req = self.http.request(method, format!("{}/v1/{api_path}", self.addr));
        if !self.token.is_empty() {
            req = req.header("X-Vault-Token", &self.token);
        }
        if let Some(ns) = &self.namespace {
            req = req.header("X-Vault-Namespace", ns);
        }
        req
    }

    pub(crate) fn unreachable(&self, e: &reqwest::Error) -> BaoError {
        BaoError::Unreachable { addr: self.addr.clone(), detail: crate::cert::error_chain(e) }
    }

    async fn login(
        &self,
        method: &'static str,
        mount: &str,
        body: serde_json::Value,
    ) -> Result<String> {
        let resp = self
            .request(reqwest::Method::POST, &format!("auth/{}/login", encode_path(mount)))
            .json(&body)
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| self.unreachable(&e))?;
        if !status.is_success() {
            return Err(BaoError::Login {
                method,
                detail: format!("HTTP {status}: {}", error_text(&text)),
            });
        }
        let parsed: LoginResponse = serde_json::from_str(&text)
            .map_err(|e| BaoError::Login { method, detail: format!("bad response: {e}") })?;
        parsed
            .auth
            .map(|a| a.client_token)
            .ok_or(BaoError::Login { method, detail: "response has no auth.client_token".into() })
    }

    /// Read a KV v2 secret: `GET /v1/<mount>/data/<path>[?version=N]`.
    /// Without a version, the current one.
    pub async fn kv_read(
        &self,
        mount: &str,
        path: &str,
        version: Option<u64>,
    ) -> Result<KvVersion> {
        let api_path = format!("{}/data/{}", encode_path(mount), encode_path(path));
        let what = match version {
            Some(v) => {
                format!("{}/{} (version {v})", mount.trim_matches('/'), path.trim_matches('/'))
            }
            None => format!("{}/{}", mount.trim_matches('/'), path.trim_matches('/')),
        };
        let query = version.map_or_else(String::new, |v| format!("?version={v}"));
        let req = self.request(reqwest::Method::GET, &format!("{api_path}{query}"));
        tracing::debug!(path = %what, "reading OpenBao KV v2");
        let resp = req.send().await.map_err(|e| self.unreachable(&e))?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| self.unreachable(&e))?;
        match status.as_u16() {
            200 => {}
            403 => return Err(BaoError::Denied { what, policy_path: api_path.clone() }),
            404 => {
                // A deleted version answers 404 with its metadata.
                if let Ok(env) = serde_json::from_str::<Envelope<KvData>>(&text)
                    && let Some(KvData { metadata: Some(m), .. }) = env.data
                {
                    return Err(BaoError::VersionGone { what, version: m.version });
                }
                return Err(BaoError::NotFound { what });
            }
            s => return Err(BaoError::Http { what, status: s, detail: error_text(&text) }),
        }
        let env: Envelope<KvData> =
            serde_json::from_str(&text).map_err(|e| BaoError::Protocol {
                what: what.clone(),
                detail: format!("not a KV v2 response ({e}); is the mount KV version 2?"),
            })?;
        let data = env
            .data
            .ok_or_else(|| BaoError::Protocol { what: what.clone(), detail: "no data".into() })?;
        let meta = data.metadata.ok_or_else(|| BaoError::Protocol {
            what: what.clone(),
            detail: "no metadata: is the mount KV version 2?".into(),
        })?;
        let fields = data.data.ok_or(BaoError::VersionGone { what, version: meta.version })?;
        Ok(KvVersion { version: meta.version, fields })
    }
}

/// OpenBao's `{"errors": [...]}` body as one line (never contains values).
pub(crate) fn error_text(body: &str) -> String {
    match serde_json::from_str::<ErrorBody>(body) {
        Ok(b) if !b.errors.is_empty() => b.errors.join("; "),
        _ => body.chars().take(200).collect::<String>().trim().to_owned(),
    }
}
