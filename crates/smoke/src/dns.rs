//! Name resolution through the system resolver (getaddrinfo: /etc/hosts,
//! nsswitch) or one DNS server asked directly.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::Resolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;

/// Resolve `host`; `Err` holds the human-readable reason ("no such host: ...").
pub async fn resolve(
    host: &str,
    server: Option<SocketAddr>,
    timeout: Duration,
) -> Result<Vec<IpAddr>, String> {
    match server {
        Some(server) => resolve_with(host, server, timeout).await,
        None => {
            let lookup = tokio::net::lookup_host((host, 0));
            match tokio::time::timeout(timeout, lookup).await {
                Err(_) => Err(format!(
                    "lookup of {host} timed out after {}s (system resolver)",
                    timeout.as_secs_f64()
                )),
                Ok(Err(e)) => {
                    let msg = e.to_string();
                    if msg.contains("not known")
                        || msg.contains("No address associated")
                        || msg.contains("nodename nor servname")
                    {
                        Err(format!("no such host: {host} (system resolver)"))
                    } else {
                        Err(format!("lookup of {host} failed: {msg} (system resolver)"))
                    }
                }
                Ok(Ok(addrs)) => {
                    let mut ips: Vec<IpAddr> = Vec::new();
                    for a in addrs {
                        if !ips.contains(&a.ip()) {
                            ips.push(a.ip());
                        }
                    }
                    if ips.is_empty() {
                        Err(format!("no such host: {host} (system resolver)"))
                    } else {
                        Ok(ips)
                    }
                }
            }
        }
    }
}

async fn resolve_with(
    host: &str,
    server: SocketAddr,
    timeout: Duration,
) -> Result<Vec<IpAddr>, String> {
    let mut ns = NameServerConfig::udp_and_tcp(server.ip());
    for c in &mut ns.connections {
        c.port = server.port();
    }
    let mut opts = ResolverOpts::default();
    opts.timeout = timeout;
    opts.attempts = 1;
    opts.cache_size = 0;
    let builder = Resolver::builder_with_config(
        ResolverConfig::from_name_servers(vec![ns]),
        TokioRuntimeProvider::default(),
    )
    .with_options(opts);
    let resolver =
        builder.build().map_err(|e| format!("cannot build a resolver for {server}: {e}"))?;
    // A trailing dot: ask for exactly this name, no search domains.
    let fqdn = if host.ends_with('.') { host.to_owned() } else { format!("{host}.") };
    match tokio::time::timeout(
        timeout + Duration::from_millis(500),
        resolver.lookup_ip(fqdn.as_str()),
    )
    .await
    {
        Err(_) => Err(format!(
            "lookup of {host} timed out after {}s (asked {server})",
            timeout.as_secs_f64()
        )),
        Ok(Err(e)) => {
            if e.is_no_records_found() || e.is_nx_domain() {
                Err(format!("no such host: {host} (asked {server})"))
            } else {
                Err(format!("lookup of {host} failed: {e} (asked {server})"))
            }
        }
        Ok(Ok(lookup)) => {
            let ips: Vec<IpAddr> = lookup.iter().collect();
            if ips.is_empty() {
                Err(format!("no such host: {host} (asked {server})"))
            } else {
                Ok(ips)
            }
        }
    }
}
