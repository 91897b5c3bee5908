//! Configuration, read once from the environment at startup.
//!
//! Every variable is validated before the service binds its port; a bad value
//! stops the process with a message naming the variable, its value and the fix.

use std::net::SocketAddr;
use std::time::Duration;

/// A configuration error: which variable, what was wrong, how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub var: &'static str,
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid configuration: {}: {}", self.var, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// The service's configuration. See docs in the crate README and the chart's values.
#[derive(Debug, Clone)]
pub struct Config {
    /// `LISTEN_ADDR`, default `0.0.0.0:8080`.
    pub listen_addr: SocketAddr,
    /// `SERVICE_NAME`, default `sample-service`; returned by `GET /`.
    pub service_name: String,
    /// `APP_ENV`, default `local`; returned by `GET /` (staging, production...).
    pub environment: String,
    /// `SHUTDOWN_DELAY_SECONDS`, default 0: after SIGTERM, keep accepting
    /// connections (with /readyz false) this long before draining.
    pub shutdown_delay: Duration,
    /// `SHUTDOWN_GRACE_SECONDS`, default 25: the longest time from SIGTERM to
    /// exit, delay included. Requests still running then are cut and the exit code is 1.
    pub shutdown_grace: Duration,
    /// `LOG_LEVEL`, default `info`: a tracing filter (`info`, `sample_service=debug,warn`).
    pub log_level: String,
    /// `ACCESS_LOG`, default true: one JSON line per request.
    pub access_log: bool,
    /// `ACCESS_LOG_FLUSH_MS`, default 100: access lines are written to stdout
    /// in batches at most this old (0: each line at once). Other log lines are
    /// always written at once.
    pub access_log_flush: Duration,
    /// `DELAY_ROUTE_ENABLED`, default false: enables `GET /delay/{ms}`, which answers
    /// after `ms` milliseconds (for drain drills and latency tests).
    pub delay_route: bool,
    /// `DELAY_MAX_MS`, default 10000: the largest delay `/delay/{ms}` accepts.
    pub delay_max_ms: u64,
}

impl Config {
    /// Read from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Read through `lookup` (tests pass a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |k: &str| lookup(k).filter(|v| !v.is_empty());

        let listen_addr = match get("LISTEN_ADDR") {
            None => SocketAddr::from(([0, 0, 0, 0], 8080)),
            Some(v) => v.parse().map_err(|_| ConfigError {
                var: "LISTEN_ADDR",
                message: format!("{v:?} is not an IP:PORT socket address (example: 0.0.0.0:8080)"),
            })?,
        };
        let service_name = get("SERVICE_NAME").unwrap_or_else(|| "sample-service".into());
        check_name("SERVICE_NAME", &service_name)?;
        let environment = get("APP_ENV").unwrap_or_else(|| "local".into());
        check_name("APP_ENV", &environment)?;

        let shutdown_delay =
            Duration::from_secs(seconds(&get, "SHUTDOWN_DELAY_SECONDS", 0, 0, 300)?);
        let shutdown_grace =
            Duration::from_secs(seconds(&get, "SHUTDOWN_GRACE_SECONDS", 25, 1, 3600)?);
        if shutdown_delay >= shutdown_grace {
            return Err(ConfigError {
                var: "SHUTDOWN_DELAY_SECONDS",
                message: format!(
                    "{}s must be shorter than SHUTDOWN_GRACE_SECONDS ({}s), which includes it",
                    shutdown_delay.as_secs(),
                    shutdown_grace.as_secs()
                ),
            });
        }

        let log_level = get("LOG_LEVEL").unwrap_or_else(|| "info".into());
        if tracing_subscriber::EnvFilter::try_new(&log_level).is_err() {
            return Err(ConfigError {
                var: "LOG_LEVEL",
                message: format!(
                    "{log_level:?} is not a log filter (examples: info, debug, sample_service=debug,warn)"
                ),
            });
        }
        let access_log = boolean(&get, "ACCESS_LOG", true)?;
        let access_log_flush =
            Duration::from_millis(seconds(&get, "ACCESS_LOG_FLUSH_MS", 100, 0, 10_000)?);
        let delay_route = boolean(&get, "DELAY_ROUTE_ENABLED", false)?;
        let delay_max_ms = seconds(&get, "DELAY_MAX_MS", 10_000, 0, 600_000)?;

        Ok(Self {
            listen_addr,
            service_name,
            environment,
            shutdown_delay,
            shutdown_grace,
            log_level,
            access_log,
            access_log_flush,
            delay_route,
            delay_max_ms,
        })
    }
}

fn check_name(var: &'static str, v: &str) -> Result<(), ConfigError> {
    let ok = v.len() <= 63
        && v.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !v.starts_with('-')
        && !v.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(ConfigError {
            var,
            message: format!(
                "{v:?} must be 1-63 lowercase letters, digits or '-', not starting or ending with '-'"
            ),
        })
    }
}

/// An unsigned integer in `[min, max]` (seconds or milliseconds, per variable).
fn seconds(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    let Some(v) = get(var) else { return Ok(default) };
    match v.trim().parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(ConfigError {
            var,
            message: format!("{v:?} must be a whole number from {min} to {max}"),
        }),
    }
}

fn boolean(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: bool,
) -> Result<bool, ConfigError> {
    let Some(v) = get(var) else { return Ok(default) };
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(ConfigError { var, message: format!("{v:?} must be true or false") }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let m: HashMap<String, String> =
            pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        Config::from_lookup(|k| m.get(k).cloned())
    }

    #[test]
    fn defaults() {
        let c = cfg(&[]).expect("defaults are valid");
        assert_eq!(c.listen_addr.to_string(), "0.0.0.0:8080");
        assert_eq!(c.service_name, "sample-service");
        assert_eq!(c.shutdown_grace, Duration::from_secs(25));
        assert!(c.access_log);
        assert!(!c.delay_route);
    }

    #[test]
    fn each_bad_value_names_its_variable() {
        for (k, v) in [
            ("LISTEN_ADDR", "localhost"),
            ("APP_ENV", "Prod!"),
            ("SHUTDOWN_GRACE_SECONDS", "0"),
            ("SHUTDOWN_GRACE_SECONDS", "ten"),
            ("ACCESS_LOG", "yes"),
            ("LOG_LEVEL", "info,=,"),
            ("DELAY_MAX_MS", "-1"),
        ] {
            let e = cfg(&[(k, v)]).expect_err(k);
            assert_eq!(e.var, k, "{e}");
            assert!(e.to_string().contains(v), "{e}");
        }
        let e = cfg(&[("SHUTDOWN_DELAY_SECONDS", "30"), ("SHUTDOWN_GRACE_SECONDS", "10")])
            .expect_err("delay>grace");
        assert_eq!(e.var, "SHUTDOWN_DELAY_SECONDS");
    }
}
