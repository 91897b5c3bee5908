//! The configuration values, their validation and the file that holds them.

use std::fmt;
use std::net::IpAddr;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::ConfigError;
use crate::placeholder;

/// The configuration file, relative to the repository root.
pub const CONFIG_FILE: &str = "platform.yaml";

/// The file format version written as `schema:`.
pub const SCHEMA: u32 = 1;

/// Where staging runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Topology {
    /// One cluster hosts the staging and production namespaces.
    #[default]
    Shared,
    /// Staging gets its own cluster.
    Dedicated,
}

impl Topology {
    pub fn as_str(self) -> &'static str {
        match self {
            Topology::Shared => "shared",
            Topology::Dedicated => "dedicated",
        }
    }
}

/// Every value a team chooses. Field names are the keys of `platform.yaml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Values {
    /// GitHub organisation: Argo CD's Dex connector and RBAC groups (`<org>:<team>`).
    pub org: String,
    /// The Git URL Argo CD reads this repository from (https:// or ssh).
    pub repo_url: String,
    /// Base DNS domain; environments live under `<env>.<domain>`.
    pub domain: String,
    /// Let's Encrypt account contact (expiry notices).
    pub acme_email: String,
    /// Linode region of the clusters and the shared buckets.
    pub region: String,
    pub topology: Topology,
    /// Operators' egress addresses admitted by every cluster's API-server ACL.
    pub admin_cidrs: Vec<String>,
    /// CI runners' egress addresses, also admitted (docs/ci-access.md).
    #[serde(default)]
    pub ci_cidrs: Vec<String>,
    /// Where the platform's images live (`<registry>/platctl-drift`, `<registry>/sample-service`).
    pub registry: String,
    /// `sha256:...` of the released platctl-drift image; until set the CronJob uses the tag.
    #[serde(default)]
    pub drift_image_digest: Option<String>,
}

/// One invalid value: which, what is wrong, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The key in platform.yaml.
    pub field: &'static str,
    pub value: String,
    pub problem: String,
    pub fix: String,
}

impl FieldError {
    fn new(
        field: &'static str,
        value: &str,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        FieldError { field, value: value.to_owned(), problem: problem.into(), fix: fix.into() }
    }
}

/// The command-line flag that sets a field.
pub fn flag_of(field: &str) -> &'static str {
    match field {
        "org" => "--org",
        "repo_url" => "--repo",
        "domain" => "--domain",
        "acme_email" => "--acme-email",
        "region" => "--region",
        "topology" => "--topology",
        "admin_cidrs" => "--admin-cidr",
        "ci_cidrs" => "--ci-cidr",
        "registry" => "--registry",
        "drift_image_digest" => "--drift-image-digest",
        _ => "",
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}) {:?}: {}; {}",
            self.field,
            flag_of(self.field),
            self.value,
            self.problem,
            self.fix
        )
    }
}

impl Values {
    /// The values the repository ships with: placeholders, owned by platform.yaml.
    pub fn template() -> Values {
        Values {
            org: "example-org".into(),
            repo_url: "https://github.com/example-org/platform.git".into(),
            domain: "platform.example.com".into(),
            acme_email: "platform-team@example.com".into(),
            region: "fr-par".into(),
            topology: Topology::Shared,
            admin_cidrs: vec!["203.0.113.0/24".into()],
            ci_cidrs: Vec::new(),
            registry: "ghcr.io/example-org".into(),
            drift_image_digest: None,
        }
    }

    /// Canonical form: trimmed, lower-case names, bare addresses as /32 (/128),
    /// duplicates dropped. Values that do not parse are left for [`validate`](Self::validate).
    pub fn normalize(&mut self) {
        self.org = self.org.trim().to_owned();
        self.repo_url = self.repo_url.trim().to_owned();
        self.domain = self.domain.trim().trim_end_matches('.').to_ascii_lowercase();
        self.acme_email = self.acme_email.trim().to_owned();
        self.region = self.region.trim().to_ascii_lowercase();
        self.registry = self.registry.trim().trim_end_matches('/').to_ascii_lowercase();
        self.drift_image_digest = self
            .drift_image_digest
            .take()
            .map(|d| d.trim().to_ascii_lowercase())
            .filter(|d| !d.is_empty());
        for list in [&mut self.admin_cidrs, &mut self.ci_cidrs] {
            let mut seen: Vec<String> = Vec::new();
            for c in list.drain(..) {
                let c = match Cidr::parse(c.trim()) {
                    Ok(p) => p.to_string(),
                    Err(_) => c.trim().to_owned(),
                };
                if !c.is_empty() && !seen.contains(&c) {
                    seen.push(c);
                }
            }
            *list = seen;
        }
    }

    /// Structural problems (a value that cannot work), in field order.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errs = Vec::new();
        if let Err(e) = check_org(&self.org) {
            errs.push(FieldError::new("org", &self.org, e, "use the GitHub organisation (or user) that owns the repository, e.g. acme-platform"));
        }
        if let Err(e) = check_repo_url(&self.repo_url) {
            errs.push(FieldError::new(
                "repo_url",
                &self.repo_url,
                e,
                "use the URL Argo CD clones: https://github.com/ORG/REPO.git, ssh://git@host/ORG/REPO.git or git@host:ORG/REPO.git",
            ));
        }
        if let Err(e) = check_dns_name(&self.domain) {
            errs.push(FieldError::new("domain", &self.domain, e, "use the base domain the platform lives under, e.g. platform.acme.io (environments become staging.<domain>, production.<domain>)"));
        }
        if let Err(e) = check_email(&self.acme_email) {
            errs.push(FieldError::new("acme_email", &self.acme_email, e, "use a mailbox your team reads, e.g. platform@acme.io (Let's Encrypt sends expiry notices there)"));
        }
        if let Err(e) = check_region(&self.region) {
            errs.push(FieldError::new(
                "region",
                &self.region,
                e,
                "use a Linode region id such as fr-par or us-ord (`linode-cli regions list`)",
            ));
        }
        if self.admin_cidrs.is_empty() {
            errs.push(FieldError::new(
                "admin_cidrs",
                "",
                "no address: an enabled control-plane ACL with no address locks everyone out",
                "pass your operators' public egress addresses, e.g. --admin-cidr 81.2.69.0/28 (`curl -s https://ifconfig.me` shows yours)",
            ));
        }
        for (field, list) in [("admin_cidrs", &self.admin_cidrs), ("ci_cidrs", &self.ci_cidrs)] {
            for c in list {
                if let Err((problem, fix)) = check_acl_cidr(c) {
                    errs.push(FieldError::new(field, c, problem, fix));
                }
            }
        }
        if let Err(e) = check_registry(&self.registry) {
            errs.push(FieldError::new(
                "registry",
                &self.registry,
                e,
                "use an OCI registry path such as ghcr.io/acme-platform",
            ));
        }
        if let Some(d) = &self.drift_image_digest
            && let Err(e) = check_digest(d)
        {
            errs.push(FieldError::new("drift_image_digest", d, e, "use the digest the drift-image workflow prints (sha256: and 64 hex digits), or leave it unset"));
        }
        errs
    }

    /// Fields that hold a placeholder: structurally valid, but not a value
    /// anyone can deploy with (documentation domains and addresses, example-org).
    pub fn placeholders(&self) -> Vec<FieldError> {
        let mut out = Vec::new();
        let mut one = |field: &'static str, value: &str, fix: &str| {
            if let Some(m) = placeholder::find(value).into_iter().next() {
                out.push(FieldError::new(
                    field,
                    value,
                    format!("is a placeholder ({})", m.kind.describe()),
                    fix,
                ));
            }
        };
        one("org", &self.org, "set the GitHub organisation that owns your copy of the repository");
        one("repo_url", &self.repo_url, "set the URL of your copy of the repository");
        one("domain", &self.domain, "set a domain you control");
        one(
            "acme_email",
            &self.acme_email,
            "set a mailbox at a domain you control (Let's Encrypt refuses example.com)",
        );
        for c in &self.admin_cidrs {
            one("admin_cidrs", c, "set your operators' real egress addresses");
        }
        for c in &self.ci_cidrs {
            one("ci_cidrs", c, "set your CI runners' real egress addresses (docs/ci-access.md)");
        }
        one("registry", &self.registry, "set the registry your images are pushed to");
        if let Some(d) = &self.drift_image_digest {
            one("drift_image_digest", d, "set the digest the drift-image workflow printed");
        }
        out
    }

    /// Every address the clusters' API-server ACL admits: admin, then CI.
    pub fn acl(&self) -> (Vec<String>, Vec<String>) {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for c in self.admin_cidrs.iter().chain(&self.ci_cidrs) {
            let target = if c.contains(':') { &mut v6 } else { &mut v4 };
            if !target.contains(c) {
                target.push(c.clone());
            }
        }
        (v4, v6)
    }

    /// The repository's browsable https URL (runbook links): `.git` and ssh forms mapped.
    pub fn repo_web_url(&self) -> String {
        web_url(&self.repo_url)
    }
}

/// `https://host/path(.git)`, `ssh://[user@]host[:port]/path` and `user@host:path`
/// as `https://host/path` without `.git`.
pub fn web_url(repo: &str) -> String {
    let strip = |p: &str| p.trim_end_matches('/').trim_end_matches(".git").to_owned();
    if let Some(rest) = repo.strip_prefix("https://") {
        return format!("https://{}", strip(rest));
    }
    if let Some(rest) = repo.strip_prefix("ssh://") {
        let rest = rest.split_once('@').map_or(rest, |(_, r)| r);
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        let host = host.split(':').next().unwrap_or(host);
        return format!("https://{host}/{}", strip(path));
    }
    if let Some((user_host, path)) = repo.split_once(':') {
        let host = user_host.split_once('@').map_or(user_host, |(_, h)| h);
        return format!("https://{host}/{}", strip(path));
    }
    strip(repo)
}

fn check_org(org: &str) -> Result<(), String> {
    if org.is_empty() {
        return Err("is empty".into());
    }
    if org.len() > 39 {
        return Err("is longer than GitHub's 39 characters".into());
    }
    if !org.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        || org.starts_with('-')
        || org.ends_with('-')
        || org.contains("--")
    {
        return Err("is not a GitHub organisation name (letters, digits and single hyphens, not at either end)".into());
    }
    Ok(())
}

fn check_repo_url(url: &str) -> Result<(), String> {
    let no_ws = |s: &str| !s.is_empty() && !s.chars().any(char::is_whitespace);
    if let Some(rest) = url.strip_prefix("https://") {
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        if authority.contains('@') {
            return Err("carries credentials in the URL; Argo CD's repository credentials belong in a Secret, never in Git".into());
        }
        if !no_ws(authority) || !authority.contains('.') && !authority.starts_with("localhost") {
            return Err("has no host name".into());
        }
        if path.trim_matches('/').is_empty() || !no_ws(path) {
            return Err("has no repository path".into());
        }
        return Ok(());
    }
    if let Some(rest) = url.strip_prefix("ssh://") {
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        if !no_ws(authority) || path.trim_matches('/').is_empty() || !no_ws(path) {
            return Err("is not an ssh URL of the form ssh://git@host/ORG/REPO.git".into());
        }
        return Ok(());
    }
    if url.starts_with("http://") {
        return Err("uses plain http: Argo CD would fetch the platform's manifests unauthenticated and unencrypted".into());
    }
    // scp-like: user@host:path
    if let Some((user_host, path)) = url.split_once(':')
        && let Some((user, host)) = user_host.split_once('@')
        && no_ws(user)
        && no_ws(host)
        && !host.contains('/')
        && no_ws(path)
        && !path.starts_with("//")
    {
        return Ok(());
    }
    Err("is neither an https nor an ssh Git URL".into())
}

/// A DNS name with at least two labels (`acme.io`, `platform.acme.io`).
pub fn check_dns_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("is empty".into());
    }
    if name.len() > 253 {
        return Err("is longer than the 253 characters a DNS name may have".into());
    }
    let labels: Vec<&str> = name.split('.').collect();
    if labels.len() < 2 {
        return Err("is not a DNS name with a top-level domain (e.g. acme.io)".into());
    }
    for l in &labels {
        if l.is_empty() {
            return Err("is not a DNS name (an empty label: two dots in a row)".into());
        }
        if l.len() > 63 {
            return Err(format!("is not a DNS name (label {l:?} is longer than 63 characters)"));
        }
        if !l.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
            return Err(format!(
                "is not a DNS name (label {l:?} has a character other than a-z, 0-9 and -)"
            ));
        }
        if l.starts_with('-') || l.ends_with('-') {
            return Err(format!("is not a DNS name (label {l:?} starts or ends with -)"));
        }
    }
    if labels.last().is_some_and(|t| t.chars().all(|c| c.is_ascii_digit())) {
        return Err("is not a DNS name (the top-level domain is all digits: an IP address?)".into());
    }
    Ok(())
}

fn check_email(email: &str) -> Result<(), String> {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return Err("is not an e-mail address (no @domain)".into());
    };
    if local.is_empty() || local.len() > 64 || local.chars().any(|c| c.is_whitespace() || c == '@')
    {
        return Err("is not an e-mail address (bad or empty part before @)".into());
    }
    if domain.is_empty() {
        return Err("is an e-mail address without a domain".into());
    }
    check_dns_name(&domain.to_ascii_lowercase())
        .map_err(|e| format!("is an e-mail address whose domain {domain:?} {e}"))
}

fn check_region(region: &str) -> Result<(), String> {
    let parts: Vec<&str> = region.split('-').collect();
    let ok = (2..=3).contains(&parts.len())
        && parts[0].len() == 2
        && parts[0].chars().all(|c| c.is_ascii_lowercase())
        && !parts[1].is_empty()
        && parts[1].chars().all(|c| c.is_ascii_lowercase())
        && parts.get(2).is_none_or(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    if ok { Ok(()) } else { Err("is not a Linode region id".into()) }
}

fn check_registry(reg: &str) -> Result<(), String> {
    let (host, path) = reg.split_once('/').unwrap_or((reg, ""));
    if reg.contains("://") {
        return Err("has a scheme; a registry path has none".into());
    }
    if !host.contains('.') && !host.contains(':') && host != "localhost" {
        return Err("has no registry host (e.g. ghcr.io)".into());
    }
    if path.is_empty() {
        return Err("has no namespace after the host (e.g. ghcr.io/ORG)".into());
    }
    if !reg.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-/:".contains(c)) {
        return Err("is not a lower-case registry path".into());
    }
    Ok(())
}

fn check_digest(d: &str) -> Result<(), String> {
    let Some(hex) = d.strip_prefix("sha256:") else {
        return Err("is not a sha256 digest".into());
    };
    if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err("is not a sha256 digest (64 hex digits)".into());
    }
    Ok(())
}

/// An IPv4 or IPv6 network in CIDR form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    /// `a.b.c.d/n`, `x::/n`, or a bare address (a /32 or /128).
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr =
            addr.parse().map_err(|_| format!("{addr:?} is not an IPv4 or IPv6 address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|n| *n <= max)
                .ok_or_else(|| format!("prefix /{p} is not a number from 0 to {max}"))?,
        };
        Ok(Cidr { addr, prefix })
    }

    /// The network address (host bits cleared).
    pub fn network(&self) -> Cidr {
        let addr = match self.addr {
            IpAddr::V4(a) => {
                let mask = if self.prefix == 0 { 0 } else { u32::MAX << (32 - self.prefix) };
                IpAddr::V4((u32::from(a) & mask).into())
            }
            IpAddr::V6(a) => {
                let mask = if self.prefix == 0 { 0 } else { u128::MAX << (128 - self.prefix) };
                IpAddr::V6((u128::from(a) & mask).into())
            }
        };
        Cidr { addr, prefix: self.prefix }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

fn check_acl_cidr(s: &str) -> Result<(), (String, String)> {
    let c = Cidr::parse(s).map_err(|e| {
        (format!("is not a CIDR ({e})"), "write it as a.b.c.d/nn (IPv4) or x:y::/nn (IPv6)".into())
    })?;
    if c.prefix == 0 {
        return Err((
            "admits every address on the internet: the control-plane ACL would be on in name only"
                .into(),
            "list only your operators' and CI runners' egress addresses".into(),
        ));
    }
    if c.network() != c {
        return Err((
            format!("has host bits set (the network is {})", c.network()),
            format!(
                "use {} for the network, or {}/{} for the one address",
                c.network(),
                c.addr,
                if c.addr.is_ipv4() { 32 } else { 128 }
            ),
        ));
    }
    let private = match c.addr {
        IpAddr::V4(a) => a.is_loopback() || a.is_unspecified() || a.is_link_local(),
        IpAddr::V6(a) => a.is_loopback() || a.is_unspecified(),
    };
    if private {
        return Err((
            "is a loopback, link-local or unspecified address, which never reaches the API server"
                .into(),
            "use the public address your traffic leaves from".into(),
        ));
    }
    Ok(())
}

/// platform.yaml: the values, and what `platctl init` last wrote into the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFile {
    pub values: Values,
    /// The values the derived files carry (written by init); `None` for a file
    /// written by hand. Lets `platctl init` apply a hand edit of the values.
    pub applied: Option<Values>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    schema: u32,
    org: String,
    repo_url: String,
    domain: String,
    acme_email: String,
    region: String,
    topology: Topology,
    admin_cidrs: Vec<String>,
    #[serde(default)]
    ci_cidrs: Vec<String>,
    registry: String,
    #[serde(default)]
    drift_image_digest: Option<String>,
    #[serde(default)]
    applied: Option<Values>,
}

impl ConfigFile {
    pub fn parse(path: &Path, text: &str) -> Result<ConfigFile, ConfigError> {
        let raw: RawFile = serde_saphyr::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            reason: format!("{e} (see docs/configuration.md for the keys)"),
        })?;
        if raw.schema != SCHEMA {
            return Err(ConfigError::Parse {
                path: path.to_owned(),
                reason: format!(
                    "schema {} is not supported (this platctl reads schema {SCHEMA})",
                    raw.schema
                ),
            });
        }
        let values = Values {
            org: raw.org,
            repo_url: raw.repo_url,
            domain: raw.domain,
            acme_email: raw.acme_email,
            region: raw.region,
            topology: raw.topology,
            admin_cidrs: raw.admin_cidrs,
            ci_cidrs: raw.ci_cidrs,
            registry: raw.registry,
            drift_image_digest: raw.drift_image_digest,
        };
        Ok(ConfigFile { values, applied: raw.applied })
    }

    /// Read `<root>/platform.yaml`; `None` when it does not exist.
    pub fn load(root: &Path) -> Result<Option<ConfigFile>, ConfigError> {
        let path = root.join(CONFIG_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => ConfigFile::parse(&path, &text).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(crate::io("read", &path)(e)),
        }
    }

    /// The file's text. This module is the only writer of the format.
    pub fn render(&self) -> String {
        let mut s = String::from(
            "# The platform's configuration: the one file a team edits (docs/configuration.md).\n\
             # Change values with `platctl init --org ... --domain ...` (or edit them here and run\n\
             # `platctl init`): it validates them and rewrites every derived file. `platctl init\n\
             # --check` fails while a derived file is stale or a placeholder value remains; the\n\
             # deploy workflows run it first.\n",
        );
        s.push_str(&format!("schema: {SCHEMA}\n"));
        write_values(&mut s, &self.values, "");
        if let Some(applied) = &self.applied {
            s.push_str(
                "\n# Written by `platctl init`: the values the derived files carry now. When the values\n\
                 # above differ (a hand edit), `platctl init` replaces these in the tree. Do not edit.\n\
                 applied:\n",
            );
            write_values(&mut s, applied, "  ");
        }
        s
    }
}

fn q(s: &str) -> String {
    // A JSON string is a valid YAML double-quoted scalar.
    serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
}

fn write_values(s: &mut String, v: &Values, indent: &str) {
    let list = |s: &mut String, key: &str, items: &[String]| {
        if items.is_empty() {
            s.push_str(&format!("{indent}{key}: []\n"));
        } else {
            s.push_str(&format!("{indent}{key}:\n"));
            for i in items {
                s.push_str(&format!("{indent}  - {}\n", q(i)));
            }
        }
    };
    let top = indent.is_empty();
    let c = |s: &mut String, text: &str| {
        if top {
            s.push_str(text);
        }
    };
    c(s, "\n# GitHub organisation: Argo CD login (Dex) and RBAC groups \"<org>:<team>\".\n");
    s.push_str(&format!("{indent}org: {}\n", q(&v.org)));
    c(s, "# The URL Argo CD clones this repository from (https:// or ssh).\n");
    s.push_str(&format!("{indent}repo_url: {}\n", q(&v.repo_url)));
    c(s, "# Base domain: staging.<domain>, production.<domain>, argocd.production.<domain>.\n");
    s.push_str(&format!("{indent}domain: {}\n", q(&v.domain)));
    c(s, "# Let's Encrypt account contact of the ClusterIssuers (and the DNS zone's SOA).\n");
    s.push_str(&format!("{indent}acme_email: {}\n", q(&v.acme_email)));
    c(s, "# Linode region of the clusters and of the state and Loki buckets.\n");
    s.push_str(&format!("{indent}region: {}\n", q(&v.region)));
    c(s, "# shared: one cluster hosts staging and production; dedicated: staging has its own.\n");
    s.push_str(&format!("{indent}topology: {}\n", v.topology.as_str()));
    c(s, "# Egress addresses admitted by the API-server ACL of every cluster (never 0.0.0.0/0).\n");
    list(s, "admin_cidrs", &v.admin_cidrs);
    c(s, "# The CI runners' static egress addresses (docs/ci-access.md), admitted as well.\n");
    list(s, "ci_cidrs", &v.ci_cidrs);
    c(s, "# Image registry of platctl-drift and sample-service.\n");
    s.push_str(&format!("{indent}registry: {}\n", q(&v.registry)));
    c(s, "# Digest of the released platctl-drift image (drift-image workflow); null: tag only.\n");
    match &v.drift_image_digest {
        Some(d) => s.push_str(&format!("{indent}drift_image_digest: {}\n", q(d))),
        None => s.push_str(&format!("{indent}drift_image_digest: null\n")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> Values {
        Values {
            org: "acme-platform".into(),
            repo_url: "https://github.com/acme-platform/platform.git".into(),
            domain: "platform.acme.io".into(),
            acme_email: "platform@acme.io".into(),
            region: "fr-par".into(),
            topology: Topology::Shared,
            admin_cidrs: vec!["81.2.69.0/28".into()],
            ci_cidrs: vec!["172.104.10.7/32".into()],
            registry: "ghcr.io/acme-platform".into(),
            drift_image_digest: None,
        }
    }

    fn err_fields(v: &Values) -> Vec<&'static str> {
        v.validate().into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn good_values_pass_and_template_values_are_placeholders() {
        assert!(good().validate().is_empty(), "{:?}", good().validate());
        assert!(good().placeholders().is_empty(), "{:?}", good().placeholders());
        let t = Values::template();
        assert!(t.validate().is_empty(), "the template is structurally valid: {:?}", t.validate());
        let fields: Vec<_> = t.placeholders().into_iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            ["org", "repo_url", "domain", "acme_email", "admin_cidrs", "registry"],
            "every team value of the template is a placeholder"
        );
    }

    /// A field and an edit that makes it invalid.
    type BadCase = (&'static str, fn(&mut Values));

    #[test]
    fn each_bad_value_is_named_with_a_fix() {
        let cases: &[BadCase] = &[
            ("domain", |v| v.domain = "not a domain".into()),
            ("domain", |v| v.domain = "localhost".into()),
            ("domain", |v| v.domain = "foo_bar.acme.io".into()),
            ("acme_email", |v| v.acme_email = "platform".into()),
            ("acme_email", |v| v.acme_email = "platform@".into()),
            ("acme_email", |v| v.acme_email = "platform@localhost".into()),
            ("admin_cidrs", |v| v.admin_cidrs = vec!["10.0.0.0/33".into()]),
            ("admin_cidrs", |v| v.admin_cidrs = vec!["not-a-cidr".into()]),
            ("admin_cidrs", |v| v.admin_cidrs = vec!["0.0.0.0/0".into()]),
            ("admin_cidrs", |v| v.admin_cidrs = vec!["81.2.69.5/24".into()]),
            ("admin_cidrs", |v| v.admin_cidrs = vec![]),
            ("ci_cidrs", |v| v.ci_cidrs = vec!["::/0".into()]),
            ("repo_url", |v| v.repo_url = "ftp://github.com/a/b".into()),
            ("repo_url", |v| v.repo_url = "http://github.com/a/b.git".into()),
            ("repo_url", |v| v.repo_url = "https://user:token@github.com/a/b.git".into()),
            ("repo_url", |v| v.repo_url = "github.com/a/b".into()),
            ("org", |v| v.org = "-acme".into()),
            ("region", |v| v.region = "Paris".into()),
            ("registry", |v| v.registry = "https://ghcr.io/acme".into()),
            ("drift_image_digest", |v| v.drift_image_digest = Some("sha256:abc".into())),
        ];
        for (field, edit) in cases {
            let mut v = good();
            edit(&mut v);
            let errs = v.validate();
            assert_eq!(err_fields(&v), vec![*field], "{v:?}: {errs:?}");
            let msg = errs[0].to_string();
            assert!(msg.contains(flag_of(field)) && msg.contains("; "), "{msg}");
        }
    }

    #[test]
    fn ssh_urls_are_accepted_and_mapped_to_the_web_url() {
        for (url, web) in [
            ("git@github.com:acme/platform.git", "https://github.com/acme/platform"),
            (
                "ssh://git@gitlab.acme.io:2222/ops/platform.git",
                "https://gitlab.acme.io/ops/platform",
            ),
            ("https://github.com/acme/platform.git", "https://github.com/acme/platform"),
            ("https://github.com/acme/platform", "https://github.com/acme/platform"),
        ] {
            let mut v = good();
            v.repo_url = url.into();
            assert!(v.validate().is_empty(), "{url}: {:?}", v.validate());
            assert_eq!(v.repo_web_url(), web);
        }
    }

    #[test]
    fn normalize_canonicalises_addresses_and_names() {
        let mut v = good();
        v.domain = " Platform.ACME.io. ".into();
        v.admin_cidrs = vec!["81.2.69.7".into(), "81.2.69.7/32".into(), "2001:DB8:1::/48".into()];
        v.normalize();
        assert_eq!(v.domain, "platform.acme.io");
        assert_eq!(v.admin_cidrs, ["81.2.69.7/32", "2001:db8:1::/48"]);
        let (v4, v6) = v.acl();
        assert_eq!(v4, ["81.2.69.7/32", "172.104.10.7/32"]);
        assert_eq!(v6, ["2001:db8:1::/48"]);
    }

    #[test]
    fn file_round_trips() {
        let f = ConfigFile { values: good(), applied: Some(Values::template()) };
        let text = f.render();
        let back = ConfigFile::parse(Path::new("platform.yaml"), &text).expect("parses");
        assert_eq!(back, f);
        let err = ConfigFile::parse(Path::new("p.yaml"), "schema: 1\norg: x\n")
            .expect_err("missing keys");
        assert!(err.to_string().contains("p.yaml"), "{err}");
        let err = ConfigFile::parse(Path::new("p.yaml"), &text.replace("schema: 1", "schema: 2"))
            .expect_err("unknown schema");
        assert!(err.to_string().contains("schema 2"), "{err}");
    }
}

#[cfg(test)]
mod shipped {
    use super::*;

    /// The repository ships as an unconfigured template: platform.yaml holds
    /// the template's placeholders, recorded as applied.
    #[test]
    fn shipped_configuration_is_the_template() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(CONFIG_FILE);
        let expected =
            ConfigFile { values: Values::template(), applied: Some(Values::template()) }.render();
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if std::env::var_os("PLATCTL_WRITE_TEMPLATE").is_some() {
            std::fs::write(&path, &expected).expect("write the template");
            return;
        }
        assert_eq!(text, expected, "{} differs from the rendered template", path.display());
    }
}
