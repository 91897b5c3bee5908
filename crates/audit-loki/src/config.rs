//! Configuration of the Loki sink: URL, tenant, credentials, batching and retry.

use std::time::Duration;

use crate::LokiError;

/// How requests authenticate. Credentials are never logged: `Debug` redacts them.
#[derive(Clone, Default)]
pub enum Auth {
    #[default]
    None,
    Basic {
        username: String,
        password: String,
    },
    Bearer(String),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::Basic { username, .. } => {
                write!(f, "Basic {{ username: {username:?}, password: <redacted> }}")
            }
            Auth::Bearer(_) => f.write_str("Bearer(<redacted>)"),
        }
    }
}

/// Where and how to push. Build with [`LokiConfig::new`] or [`LokiConfig::from_env`].
#[derive(Debug, Clone)]
pub struct LokiConfig {
    /// The push endpoint, `.../loki/api/v1/push`.
    pub push_url: reqwest::Url,
    /// `X-Scope-OrgID` header (multi-tenant Loki).
    pub tenant: Option<String>,
    pub auth: Auth,
    /// A batch is sent when it holds this many bytes of log lines...
    pub batch_max_bytes: usize,
    /// ...or this many events...
    pub batch_max_events: usize,
    /// ...or (live sink) when its oldest event has waited this long.
    pub batch_wait: Duration,
    /// First retry delay; doubles per attempt up to `max_backoff`, with jitter.
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    /// Timeout of one push request.
    pub request_timeout: Duration,
    /// How long a process tries to deliver its spool when the sink is dropped
    /// (at exit); whatever is left stays in the spool for the next run.
    pub exit_flush: Duration,
    /// gzip the JSON body (`Content-Encoding: gzip`).
    pub gzip: bool,
    /// The `source` label of every stream: `platctl` by default, `ci` for CI runs.
    pub source: String,
}

/// The environment variables read by [`LokiConfig::from_env`].
pub const ENV_URL: &str = "PLATCTL_LOKI_URL";
pub const ENV_TENANT: &str = "PLATCTL_LOKI_TENANT";
pub const ENV_USERNAME: &str = "PLATCTL_LOKI_USERNAME";
pub const ENV_PASSWORD: &str = "PLATCTL_LOKI_PASSWORD";
pub const ENV_TOKEN: &str = "PLATCTL_LOKI_TOKEN";
pub const ENV_SPOOL: &str = "PLATCTL_LOKI_SPOOL";
pub const ENV_SOURCE: &str = "PLATCTL_LOKI_SOURCE";

impl LokiConfig {
    /// A config with defaults for everything but the URL. `url` is either
    /// Loki's base URL (`http://loki:3100`) or the full push URL.
    pub fn new(url: &str) -> Result<Self, LokiError> {
        Ok(LokiConfig {
            push_url: push_url(url)?,
            tenant: None,
            auth: Auth::None,
            batch_max_bytes: 1 << 20,
            batch_max_events: 10_000,
            batch_wait: Duration::from_millis(500),
            min_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(30),
            request_timeout: Duration::from_secs(10),
            exit_flush: Duration::from_secs(2),
            gzip: true,
            source: crate::push::SOURCE.to_owned(),
        })
    }

    /// The sink's configuration from the environment, or `None` when
    /// `PLATCTL_LOKI_URL` is unset or empty (the Loki sink is off).
    ///
    /// `PLATCTL_LOKI_TENANT`, `PLATCTL_LOKI_USERNAME` + `PLATCTL_LOKI_PASSWORD`
    /// (basic auth) or `PLATCTL_LOKI_TOKEN` (bearer); tuning:
    /// `PLATCTL_LOKI_BATCH_BYTES`, `PLATCTL_LOKI_BATCH_EVENTS`,
    /// `PLATCTL_LOKI_BATCH_WAIT_MS`, `PLATCTL_LOKI_MIN_BACKOFF_MS`,
    /// `PLATCTL_LOKI_MAX_BACKOFF_MS`, `PLATCTL_LOKI_TIMEOUT_MS`,
    /// `PLATCTL_LOKI_EXIT_FLUSH_MS`.
    pub fn from_env() -> Result<Option<Self>, LokiError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// [`from_env`](Self::from_env) with a custom lookup (tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, LokiError> {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let Some(url) = get(ENV_URL) else { return Ok(None) };
        let mut cfg = LokiConfig::new(&url)?;
        cfg.tenant = get(ENV_TENANT);
        cfg.auth = auth_from(get(ENV_USERNAME), get(ENV_PASSWORD), get(ENV_TOKEN))?;
        if let Some(source) = get(ENV_SOURCE) {
            cfg.source = source_label(&source)?;
        }
        let num = |k: &str| -> Result<Option<u64>, LokiError> {
            get(k)
                .map(|v| {
                    v.trim().parse::<u64>().map_err(|_| {
                        LokiError::Config(format!(
                            "{k}={v:?} is not a whole number; set it to e.g. 1000 or unset it"
                        ))
                    })
                })
                .transpose()
        };
        if let Some(v) = num("PLATCTL_LOKI_BATCH_BYTES")? {
            cfg.batch_max_bytes = usize::try_from(v.max(1)).unwrap_or(usize::MAX);
        }
        if let Some(v) = num("PLATCTL_LOKI_BATCH_EVENTS")? {
            cfg.batch_max_events = usize::try_from(v.max(1)).unwrap_or(usize::MAX);
        }
        if let Some(v) = num("PLATCTL_LOKI_BATCH_WAIT_MS")? {
            cfg.batch_wait = Duration::from_millis(v);
        }
        if let Some(v) = num("PLATCTL_LOKI_MIN_BACKOFF_MS")? {
            cfg.min_backoff = Duration::from_millis(v.max(1));
        }
        if let Some(v) = num("PLATCTL_LOKI_MAX_BACKOFF_MS")? {
            cfg.max_backoff = Duration::from_millis(v.max(1));
        }
        if let Some(v) = num("PLATCTL_LOKI_TIMEOUT_MS")? {
            cfg.request_timeout = Duration::from_millis(v.max(1));
        }
        if let Some(v) = num("PLATCTL_LOKI_EXIT_FLUSH_MS")? {
            cfg.exit_flush = Duration::from_millis(v);
        }
        if cfg.max_backoff < cfg.min_backoff {
            cfg.max_backoff = cfg.min_backoff;
        }
        Ok(Some(cfg))
    }
}

/// A `source` label value: short, lower-case, low cardinality (`platctl`, `ci`).
pub fn source_label(value: &str) -> Result<String, LokiError> {
    let v = value.trim();
    if v.is_empty()
        || v.len() > 32
        || !v.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
    {
        return Err(LokiError::Config(format!(
            "{ENV_SOURCE}={value:?} is not a source label: use lower-case letters, digits, - or _ (at most 32), e.g. ci"
        )));
    }
    Ok(v.to_owned())
}

/// Basic auth needs both halves; basic and bearer exclude each other.
pub fn auth_from(
    username: Option<String>,
    password: Option<String>,
    token: Option<String>,
) -> Result<Auth, LokiError> {
    match (username, password, token) {
        (None, None, None) => Ok(Auth::None),
        (None, None, Some(t)) => Ok(Auth::Bearer(t)),
        (Some(username), Some(password), None) => Ok(Auth::Basic { username, password }),
        (Some(_), None, _) => Err(LokiError::Config(format!(
            "{ENV_USERNAME} is set but {ENV_PASSWORD} is not: set both for basic auth"
        ))),
        (None, Some(_), _) => Err(LokiError::Config(format!(
            "{ENV_PASSWORD} is set but {ENV_USERNAME} is not: set both for basic auth"
        ))),
        (Some(_), Some(_), Some(_)) => Err(LokiError::Config(format!(
            "both basic auth ({ENV_USERNAME}) and a bearer token ({ENV_TOKEN}) are set: keep one"
        ))),
    }
}

/// `http(s)://host[:port][/prefix]` → `.../loki/api/v1/push` (kept if already there).
pub fn push_url(url: &str) -> Result<reqwest::Url, LokiError> {
    let bad = |why: &str| {
        LokiError::Config(format!(
            "Loki URL {url:?} {why}; expected e.g. http://loki-gateway.monitoring.svc or https://logs.example.com/loki/api/v1/push"
        ))
    };
    let mut parsed =
        reqwest::Url::parse(url.trim()).map_err(|e| bad(&format!("is not a URL ({e})")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad("must use http or https"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad(&format!(
            "must not carry credentials: use {ENV_USERNAME}/{ENV_PASSWORD} or {ENV_TOKEN}"
        )));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(bad("must not have a query or fragment"));
    }
    if !parsed.path().ends_with("/loki/api/v1/push") {
        let path = format!("{}/loki/api/v1/push", parsed.path().trim_end_matches('/'));
        parsed.set_path(&path);
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_url_is_completed_and_checked() {
        assert_eq!(
            push_url("http://127.0.0.1:3100").expect("ok").as_str(),
            "http://127.0.0.1:3100/loki/api/v1/push"
        );
        assert_eq!(
            push_url("https://x/base/").expect("ok").as_str(),
            "https://x/base/loki/api/v1/push"
        );
        assert_eq!(
            push_url("https://x/loki/api/v1/push").expect("ok").as_str(),
            "https://x/loki/api/v1/push"
        );
        assert!(push_url("ftp://x").is_err());
        let err = push_url("http://user:secretpw@x").expect_err("creds refused").to_string();
        assert!(err.contains(ENV_USERNAME), "{err}");
    }

    #[test]
    fn env_config_off_when_url_unset_and_auth_rules_enforced() {
        assert!(LokiConfig::from_lookup(|_| None).expect("ok").is_none());
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned())
        };
        let cfg = LokiConfig::from_lookup(env(&[
            (ENV_URL, "http://l:3100"),
            (ENV_TENANT, "ops"),
            (ENV_TOKEN, "tok-SECRET"),
        ]))
        .expect("ok")
        .expect("on");
        assert_eq!(cfg.tenant.as_deref(), Some("ops"));
        assert!(matches!(cfg.auth, Auth::Bearer(ref t) if t == "tok-SECRET"));
        assert!(!format!("{cfg:?}").contains("SECRET"), "Debug must redact the token");
        let cfg = LokiConfig::from_lookup(env(&[
            (ENV_URL, "http://l"),
            (ENV_USERNAME, "u"),
            (ENV_PASSWORD, "pw-SECRET"),
        ]))
        .expect("ok")
        .expect("on");
        assert!(!format!("{cfg:?}").contains("SECRET"), "Debug must redact the password");
        assert!(
            LokiConfig::from_lookup(env(&[(ENV_URL, "http://l"), (ENV_USERNAME, "u")])).is_err()
        );
        assert!(
            LokiConfig::from_lookup(env(&[
                (ENV_URL, "http://l"),
                (ENV_USERNAME, "u"),
                (ENV_PASSWORD, "p"),
                (ENV_TOKEN, "t")
            ]))
            .is_err()
        );
        let err = LokiConfig::from_lookup(env(&[
            (ENV_URL, "http://l"),
            ("PLATCTL_LOKI_BATCH_WAIT_MS", "soon"),
        ]))
        .expect_err("bad number");
        assert!(err.to_string().contains("PLATCTL_LOKI_BATCH_WAIT_MS"), "{err}");
        let cfg = LokiConfig::from_lookup(env(&[(ENV_URL, "http://l"), (ENV_SOURCE, "ci")]))
            .expect("ok")
            .expect("on");
        assert_eq!(cfg.source, "ci");
        let plain =
            LokiConfig::from_lookup(env(&[(ENV_URL, "http://l")])).expect("ok").expect("on");
        assert_eq!(plain.source, "platctl");
        let err = LokiConfig::from_lookup(env(&[(ENV_URL, "http://l"), (ENV_SOURCE, "CI runner")]))
            .expect_err("bad label");
        assert!(err.to_string().contains(ENV_SOURCE), "{err}");
    }
}
