//! The connectivity matrix (`deploy/network/connectivity.toml`): named
//! workloads and externals, the flows that must be open and those that must
//! stay closed.

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::ports::PortRange;

/// A range of addresses outside the pod network (the internet, the nodes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct External {
    pub cidr: String,
    pub except: Vec<String>,
    pub about: String,
}

/// Pods the render cannot contain, added to the analysed cluster as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provided {
    pub ports: Vec<PortRange>,
    pub about: String,
}

/// A namespace and the labels that pick its pods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    pub namespace: String,
    pub labels: BTreeMap<String, String>,
    pub provided: Option<Provided>,
    /// Why the workload may be absent from the render (its flows are then
    /// reported as not checked).
    pub optional: Option<String>,
}

/// One end of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End<'a> {
    Workload(&'a str, &'a Workload),
    External(&'a str, &'a External),
}

impl End<'_> {
    pub fn name(&self) -> &str {
        match self {
            End::Workload(n, _) | End::External(n, _) => n,
        }
    }
}

/// Whether a flow must be open or must stay closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Expect {
    Open,
    Closed,
}

impl Expect {
    pub fn as_str(self) -> &'static str {
        match self {
            Expect::Open => "open",
            Expect::Closed => "closed",
        }
    }
}

/// A flow of the matrix, with where it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    pub expect: Expect,
    /// 1-based position among the flows of its kind.
    pub index: usize,
    pub line: usize,
    pub from: String,
    pub to: String,
    /// Empty: every port and protocol (closed flows only).
    pub ports: Vec<PortRange>,
    pub why: String,
}

impl Flow {
    /// A stable identifier usable as a file and query name.
    pub fn id(&self) -> String {
        format!("{}-{:03}", self.expect.as_str(), self.index)
    }

    pub fn ports_text(&self) -> String {
        if self.ports.is_empty() {
            "all ports".to_owned()
        } else {
            self.ports.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
        }
    }
}

impl fmt::Display for Flow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} flow {} -> {} {} (line {}: {})",
            self.expect.as_str(),
            self.from,
            self.to,
            self.ports_text(),
            self.line,
            self.why
        )
    }
}

/// The whole matrix, validated: every name resolves, every port parses.
#[derive(Debug, Clone)]
pub struct Matrix {
    pub path: PathBuf,
    pub externals: BTreeMap<String, External>,
    pub workloads: BTreeMap<String, Workload>,
    pub flows: Vec<Flow>,
}

/// Why a matrix file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum MatrixError {
    #[error("cannot read the connectivity matrix {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: not a valid matrix: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("{path}:{line}: {message}")]
    Invalid { path: PathBuf, line: usize, message: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMatrix {
    #[serde(default)]
    externals: BTreeMap<String, toml::Spanned<RawExternal>>,
    #[serde(default)]
    workloads: BTreeMap<String, toml::Spanned<RawWorkload>>,
    #[serde(default)]
    open: Vec<toml::Spanned<RawFlow>>,
    #[serde(default)]
    closed: Vec<toml::Spanned<RawFlow>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExternal {
    cidr: String,
    #[serde(default)]
    except: Vec<String>,
    about: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProvided {
    #[serde(default)]
    ports: Vec<String>,
    about: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkload {
    namespace: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    provided: Option<RawProvided>,
    optional: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFlow {
    from: String,
    to: String,
    #[serde(default)]
    ports: Vec<String>,
    why: String,
}

impl Matrix {
    pub fn load(path: &Path) -> Result<Matrix, MatrixError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| MatrixError::Read { path: path.to_owned(), source })?;
        Matrix::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Matrix, MatrixError> {
        let raw: RawMatrix = toml::from_str(text)
            .map_err(|e| MatrixError::Syntax { path: path.to_owned(), message: e.to_string() })?;
        let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
        let invalid = |offset: usize, message: String| MatrixError::Invalid {
            path: path.to_owned(),
            line: line_of(offset),
            message,
        };

        let mut externals = BTreeMap::new();
        for (name, spanned) in raw.externals {
            let at = spanned.span().start;
            let e = spanned.into_inner();
            check_cidr(&e.cidr).map_err(|m| invalid(at, format!("external {name}: {m}")))?;
            for x in &e.except {
                check_cidr(x).map_err(|m| invalid(at, format!("external {name}: except: {m}")))?;
            }
            if e.about.trim().is_empty() {
                return Err(invalid(at, format!("external {name}: `about` must say what it is")));
            }
            externals.insert(name, External { cidr: e.cidr, except: e.except, about: e.about });
        }

        let mut workloads = BTreeMap::new();
        for (name, spanned) in raw.workloads {
            let at = spanned.span().start;
            let w = spanned.into_inner();
            if externals.contains_key(&name) {
                return Err(invalid(
                    at,
                    format!("{name} is both an external and a workload; rename one"),
                ));
            }
            if w.namespace.trim().is_empty() {
                return Err(invalid(at, format!("workload {name}: namespace is empty")));
            }
            if w.labels.is_empty() && w.provided.is_none() {
                return Err(invalid(
                    at,
                    format!(
                        "workload {name}: no labels; name the pod labels that pick it (every pod of a namespace is not a workload)"
                    ),
                ));
            }
            let provided = match w.provided {
                None => None,
                Some(p) => {
                    let ports = p
                        .ports
                        .iter()
                        .map(|s| s.parse::<PortRange>())
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|m| invalid(at, format!("workload {name}: provided: {m}")))?;
                    if p.about.trim().is_empty() {
                        return Err(invalid(
                            at,
                            format!(
                                "workload {name}: provided: `about` must say why this pod is not in the render"
                            ),
                        ));
                    }
                    if let Some(r) = ports.iter().find(|r| r.first != r.last) {
                        return Err(invalid(
                            at,
                            format!(
                                "workload {name}: provided: {r} is a range; a pod listens on single ports"
                            ),
                        ));
                    }
                    Some(Provided { ports, about: p.about })
                }
            };
            if w.optional.as_deref().is_some_and(|s| s.trim().is_empty()) {
                return Err(invalid(
                    at,
                    format!("workload {name}: `optional` must give the reason it may be absent"),
                ));
            }
            if provided.is_some() && w.optional.is_some() {
                return Err(invalid(
                    at,
                    format!(
                        "workload {name}: a provided workload is always present; drop `optional`"
                    ),
                ));
            }
            workloads.insert(
                name,
                Workload {
                    namespace: w.namespace,
                    labels: w.labels,
                    provided,
                    optional: w.optional,
                },
            );
        }

        let mut flows = Vec::new();
        for (expect, list) in [(Expect::Open, raw.open), (Expect::Closed, raw.closed)] {
            for (i, spanned) in list.into_iter().enumerate() {
                let at = spanned.span().start;
                let f = spanned.into_inner();
                let what = format!("{} flow {} -> {}", expect.as_str(), f.from, f.to);
                let known = |n: &str| workloads.contains_key(n) || externals.contains_key(n);
                for end in [&f.from, &f.to] {
                    if !known(end) {
                        return Err(invalid(
                            at,
                            format!(
                                "{what}: unknown name {end:?}; declare it under [workloads.{end}] or [externals.{end}]"
                            ),
                        ));
                    }
                }
                if externals.contains_key(&f.from) && externals.contains_key(&f.to) {
                    return Err(invalid(
                        at,
                        format!(
                            "{what}: both ends are externals; a policy governs pods, so one end must be a workload"
                        ),
                    ));
                }
                let ports = f
                    .ports
                    .iter()
                    .map(|s| s.parse::<PortRange>())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|m| invalid(at, format!("{what}: {m}")))?;
                if expect == Expect::Open && ports.is_empty() {
                    return Err(invalid(
                        at,
                        format!(
                            "{what}: an open flow names its ports (\"TCP/443\"); all ports open is never a requirement"
                        ),
                    ));
                }
                if f.why.trim().is_empty() {
                    return Err(invalid(at, format!("{what}: `why` must say why the flow exists")));
                }
                flows.push(Flow {
                    expect,
                    index: i + 1,
                    line: line_of(at),
                    from: f.from,
                    to: f.to,
                    ports,
                    why: f.why,
                });
            }
        }
        Ok(Matrix { path: path.to_owned(), externals, workloads, flows })
    }

    /// The named end of a flow (names were validated at load).
    pub fn end<'a>(&'a self, name: &'a str) -> End<'a> {
        match self.workloads.get(name) {
            Some(w) => End::Workload(name, w),
            None => End::External(name, &self.externals[name]),
        }
    }
}

/// An IPv4 CIDR, as NetworkPolicy ipBlocks take it.
fn check_cidr(text: &str) -> Result<(), String> {
    let (addr, len) = text
        .split_once('/')
        .ok_or_else(|| format!("{text:?} is not a CIDR such as \"192.168.128.0/17\""))?;
    let ip: Ipv4Addr =
        addr.parse().map_err(|_| format!("{text:?}: {addr:?} is not an IPv4 address"))?;
    let len: u32 = len
        .parse()
        .ok()
        .filter(|l| *l <= 32)
        .ok_or_else(|| format!("{text:?}: prefix length must be 0-32"))?;
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    if u32::from(ip) & !mask != 0 {
        return Err(format!("{text:?}: host bits are set; write the network address"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[externals.internet]
cidr = "0.0.0.0/0"
except = ["10.0.0.0/8"]
about = "public addresses"

[workloads.web]
namespace = "shop"
labels = { app = "web" }

[workloads.dns]
namespace = "kube-system"
labels = { "k8s-app" = "kube-dns" }
provided = { ports = ["UDP/53"], about = "LKE runs it" }

[[open]]
from = "web"
to = "dns"
ports = ["UDP/53"]
why = "names"

[[closed]]
from = "internet"
to = "web"
why = "private"
"#;

    fn parse(text: &str) -> Result<Matrix, MatrixError> {
        Matrix::parse(text, Path::new("m.toml"))
    }

    #[test]
    fn parses_a_matrix_with_lines_and_ids() {
        let m = parse(GOOD).expect("valid");
        assert_eq!(m.flows.len(), 2);
        let open = &m.flows[0];
        assert_eq!((open.id().as_str(), open.line), ("open-001", 16));
        assert_eq!(open.to_string(), "open flow web -> dns UDP/53 (line 16: names)");
        let closed = &m.flows[1];
        assert_eq!(closed.id(), "closed-001");
        assert_eq!(closed.ports_text(), "all ports");
        assert!(matches!(m.end("internet"), End::External("internet", _)));
        assert!(matches!(m.end("web"), End::Workload("web", _)));
    }

    #[test]
    fn names_the_problem_and_the_line() {
        let cases = [
            (GOOD.replace("to = \"dns\"", "to = \"dsn\""), "unknown name \"dsn\"", 16),
            (GOOD.replace("ports = [\"UDP/53\"]\nwhy", "why"), "an open flow names its ports", 16),
            (GOOD.replace("why = \"private\"", "why = \" \""), "`why` must say", 22),
            (GOOD.replace("cidr = \"0.0.0.0/0\"", "cidr = \"10.0.0.1/8\""), "host bits", 2),
            (GOOD.replace("to = \"web\"", "to = \"internet\""), "both ends are externals", 22),
            (GOOD.replace("labels = { app = \"web\" }\n", ""), "no labels", 7),
        ];
        for (text, needle, line) in cases {
            match parse(&text) {
                Err(MatrixError::Invalid { line: l, message, .. }) => {
                    assert!(message.contains(needle), "{needle}: {message}");
                    assert_eq!(l, line, "{needle}");
                }
                other => panic!("{needle}: expected an invalid matrix, got {other:?}"),
            }
        }
        let err = parse("[[open]]\nfrom = 1\n").expect_err("syntax");
        assert!(matches!(err, MatrixError::Syntax { .. }), "{err}");
        let err = parse("[typo]\n").expect_err("unknown table");
        assert!(err.to_string().contains("typo"), "{err}");
    }
}
