//! The LKE node firewall (FW001-FW004): default drop both ways, every rule
//! the nodes need ([`LKE_REQUIREMENTS`]: LKE's documented rules, IP-in-IP
//! both ways, the platform's egress), NodePorts open only to NodeBalancers,
//! and attachment through every node pool's `firewall_id`. Rules are read
//! from `inbound`/`outbound` blocks, written out or `dynamic`; values behind
//! variables are followed to their defaults and the module calls that set
//! them ([`crate::tf::Model::values`]).
//!
//! Every `linode_firewall` in the tree is taken to be a node firewall except
//! one attached to named instances (`linodes`, e.g. the CI runner's): node
//! firewalls are attached through the pools (FW004), and FW004 reports a
//! firewall carrying LKE's node rules that lists instances.

use std::collections::BTreeSet;

use hcl::edit::Span;
use hcl::edit::expr::{Expression, TraversalOperator};
use hcl::edit::structure::{Block, Body};

use crate::tf::{Dir, attr, label, line, nested};
use crate::walk::SourceFile;
use crate::{Context, Family, Finding, RuleId, finding};

pub const FAMILY: Family = Family {
    name: "firewall",
    rules: &[RuleId::Fw001, RuleId::Fw002, RuleId::Fw003, RuleId::Fw004],
    run: check,
};

/// Akamai's "Network and firewall details" page for LKE.
pub const LKE_FIREWALL_DOC: &str =
    "https://techdocs.akamai.com/cloud-computing/docs/lke-network-firewall-details";
/// The private range LKE's control plane and nodes use.
pub const LKE_PRIVATE: &str = "192.168.128.0/17";
/// Where NodeBalancer back-end traffic comes from.
pub const NODEBALANCER_RANGE: &str = "192.168.255.0/24";
pub const NODEPORTS: (u16, u16) = (30000, 32767);
/// RFC 1918: a rule only to these does not reach public services.
const PRIVATE_RANGES: [&str; 3] = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"];

/// Linode's cloud-firewall-controller: the ruleset it applies to LKE nodes by
/// default (`internal/rules/defaults.go`), which accepts IP-in-IP from the
/// cluster range.
pub const CONTROLLER_DEFAULTS_DOC: &str =
    "https://github.com/linode/cloud-firewall-controller/blob/main/internal/rules/defaults.go";
/// The firewall module's README: why each outbound destination is needed.
pub const EGRESS_DOC: &str = "infra/terraform/modules/firewall/README.md#outbound-egress";

/// The direction of a firewall rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Inbound,
    Outbound,
}

/// The addresses a requirement needs a rule for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// A rule's IPv4 list must contain this whole range.
    Range(&'static str),
    /// Public addresses: a rule to some address outside the private ranges
    /// (`0.0.0.0/0`, or an egress proxy's public address) will do. A Cloud
    /// Firewall matches addresses, and these services sit behind CDN
    /// addresses that change.
    Public,
}

/// Traffic the node firewall must accept.
#[derive(Debug, Clone, Copy)]
pub struct Requirement {
    pub direction: Direction,
    pub protocol: &'static str,
    /// Port ranges that must be open, each within one rule (`None`:
    /// protocols without ports, e.g. IPENCAP).
    pub ports: Option<&'static [(u16, u16)]>,
    /// The peer that must be allowed (source inbound, destination outbound).
    pub peer: Peer,
    pub traffic: &'static str,
    pub why: &'static str,
    /// Where the requirement is documented.
    pub source: &'static str,
}

/// What the LKE nodes need through their firewall: every rule of Akamai's
/// page ([`LKE_FIREWALL_DOC`]), IP-in-IP both ways (Calico on LKE), and the
/// platform's egress. The one list: FW002 checks it, docs/rules.md lists it.
pub const LKE_REQUIREMENTS: &[Requirement] = &[
    Requirement {
        direction: Direction::Inbound,
        protocol: "TCP",
        ports: Some(&[(10250, 10250), (10256, 10256)]),
        peer: Peer::Range(LKE_PRIVATE),
        traffic: "kubelet and kube-proxy health checks (TCP 10250, 10256) from the LKE private range",
        why: "the control plane checks node health; without them nodes go NotReady",
        source: LKE_FIREWALL_DOC,
    },
    Requirement {
        direction: Direction::Inbound,
        protocol: "UDP",
        ports: Some(&[(51820, 51820)]),
        peer: Peer::Range(LKE_PRIVATE),
        traffic: "WireGuard (UDP 51820) from the LKE private range",
        why: "the control plane tunnels kubectl proxy, logs and exec to the nodes",
        source: LKE_FIREWALL_DOC,
    },
    Requirement {
        direction: Direction::Inbound,
        protocol: "TCP",
        ports: Some(&[(53, 53)]),
        peer: Peer::Range(LKE_PRIVATE),
        traffic: "cluster DNS over TCP (53) from the LKE private range",
        why: "pods on other nodes resolve names through CoreDNS",
        source: LKE_FIREWALL_DOC,
    },
    Requirement {
        direction: Direction::Inbound,
        protocol: "UDP",
        ports: Some(&[(53, 53)]),
        peer: Peer::Range(LKE_PRIVATE),
        traffic: "cluster DNS over UDP (53) from the LKE private range",
        why: "pods on other nodes resolve names through CoreDNS",
        source: LKE_FIREWALL_DOC,
    },
    Requirement {
        direction: Direction::Inbound,
        protocol: "TCP",
        ports: Some(&[(179, 179)]),
        peer: Peer::Range(LKE_PRIVATE),
        traffic: "Calico BGP (TCP 179) from the LKE private range",
        why: "nodes exchange pod routes over BGP",
        source: LKE_FIREWALL_DOC,
    },
    Requirement {
        direction: Direction::Inbound,
        protocol: "TCP",
        ports: Some(&[NODEPORTS]),
        peer: Peer::Range(NODEBALANCER_RANGE),
        traffic: "NodePorts (TCP 30000-32767) from the NodeBalancer range",
        why: "NodeBalancers reach the Gateways' LoadBalancer Services through NodePorts",
        source: LKE_FIREWALL_DOC,
    },
    Requirement {
        direction: Direction::Inbound,
        protocol: "UDP",
        ports: Some(&[NODEPORTS]),
        peer: Peer::Range(NODEBALANCER_RANGE),
        traffic: "NodePorts (UDP 30000-32767) from the NodeBalancer range",
        why: "NodeBalancers reach UDP LoadBalancer Services through NodePorts",
        source: LKE_FIREWALL_DOC,
    },
    Requirement {
        direction: Direction::Inbound,
        protocol: "IPENCAP",
        ports: None,
        peer: Peer::Range(LKE_PRIVATE),
        traffic: "IP-in-IP (IPENCAP) from the LKE private range",
        why: "Calico carries pod-to-pod traffic between nodes in IP-in-IP; without it cross-node pod traffic is dropped",
        source: CONTROLLER_DEFAULTS_DOC,
    },
    Requirement {
        direction: Direction::Outbound,
        protocol: "IPENCAP",
        ports: None,
        peer: Peer::Range(LKE_PRIVATE),
        traffic: "IP-in-IP (IPENCAP) to the LKE private range",
        why: "with an outbound DROP policy, pod traffic leaving for other nodes needs its own rule",
        source: CONTROLLER_DEFAULTS_DOC,
    },
    Requirement {
        direction: Direction::Outbound,
        protocol: "TCP",
        ports: Some(&[(179, 179), (10250, 10250)]),
        peer: Peer::Range(LKE_PRIVATE),
        traffic: "TCP to the LKE private range (BGP 179, kubelet 10250)",
        why: "nodes answer BGP sessions and reach each other's kubelets and host-network pods",
        source: LKE_FIREWALL_DOC,
    },
    Requirement {
        direction: Direction::Outbound,
        protocol: "UDP",
        ports: Some(&[(51820, 51820), (53, 53)]),
        peer: Peer::Range(LKE_PRIVATE),
        traffic: "UDP to the LKE private range (WireGuard 51820, DNS 53)",
        why: "the WireGuard tunnel and cluster DNS run over the private network",
        source: LKE_FIREWALL_DOC,
    },
    Requirement {
        direction: Direction::Outbound,
        protocol: "TCP",
        ports: Some(&[(443, 443)]),
        peer: Peer::Public,
        traffic: "HTTPS (TCP 443) out",
        why: "the LKE API endpoint, container registries, GitHub (Argo CD), ACME, the Linode API and Object Storage",
        source: EGRESS_DOC,
    },
    Requirement {
        direction: Direction::Outbound,
        protocol: "TCP",
        ports: Some(&[(80, 80)]),
        peer: Peer::Public,
        traffic: "HTTP (TCP 80) to the Gateways' public addresses",
        why: "cert-manager's HTTP-01 self-check reaches the challenge through the Gateway",
        source: EGRESS_DOC,
    },
    Requirement {
        direction: Direction::Outbound,
        protocol: "UDP",
        ports: Some(&[(53, 53)]),
        peer: Peer::Public,
        traffic: "DNS (UDP 53) to the node resolvers",
        why: "CoreDNS forwards to the resolvers in the nodes' resolv.conf",
        source: EGRESS_DOC,
    },
    Requirement {
        direction: Direction::Outbound,
        protocol: "TCP",
        ports: Some(&[(53, 53)]),
        peer: Peer::Public,
        traffic: "DNS (TCP 53) to the node resolvers",
        why: "truncated DNS answers are retried over TCP",
        source: EGRESS_DOC,
    },
    Requirement {
        direction: Direction::Outbound,
        protocol: "UDP",
        ports: Some(&[(123, 123)]),
        peer: Peer::Public,
        traffic: "NTP (UDP 123)",
        why: "TLS, ACME and OpenBao tokens fail on a skewed clock",
        source: EGRESS_DOC,
    },
];

/// One `inbound` or `outbound` rule as far as literals reveal it.
struct Rule {
    direction: Direction,
    line: usize,
    accept: bool,
    protocols: BTreeSet<String>,
    /// Port ranges; empty means every port.
    ports: Vec<(u16, u16)>,
    ports_known: bool,
    ipv4: BTreeSet<String>,
    ipv6: BTreeSet<String>,
}

fn check(ctx: &Context<'_>) -> Vec<Finding> {
    let mut out = requirement_findings(ctx, LKE_REQUIREMENTS);
    pool_findings(ctx, &mut out);
    out
}

/// FW004: every node pool names its firewall. LKE attaches a pool's
/// `firewall_id` to each node the pool creates (autoscaled and recycled ones
/// too); a firewall attached by instance IDs misses them and drifts.
fn pool_findings(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    let unset = |body: &Body| {
        attr(body, "firewall_id").is_none_or(|a| matches!(a.value, Expression::Null(_)))
    };
    for dir in ctx.tf.modules() {
        for (file, b) in dir.blocks("resource") {
            let name = label(b, 1).unwrap_or("");
            match label(b, 0) {
                Some("linode_lke_cluster") => {
                    for (block, content, dynamic) in nested(&b.body, "pool") {
                        if unset(content) {
                            let pool = if dynamic { "dynamic \"pool\"" } else { "pool" };
                            out.push(finding(
                                RuleId::Fw004,
                                &file.rel,
                                line(file, block.span()),
                                format!(
                                    "linode_lke_cluster.{name}: a {pool} without firewall_id: the nodes it creates run without the node firewall"
                                ),
                            ));
                        }
                    }
                }
                Some("linode_lke_node_pool") if unset(&b.body) => out.push(finding(
                    RuleId::Fw004,
                    &file.rel,
                    line(file, b.span()),
                    format!(
                        "linode_lke_node_pool.{name} has no firewall_id: the nodes it creates run without the node firewall"
                    ),
                )),
                _ => {}
            }
        }
    }
}

/// FW001-FW003 for every `linode_firewall`, FW002 against `requirements`.
pub fn requirement_findings(ctx: &Context<'_>, requirements: &[Requirement]) -> Vec<Finding> {
    let mut out = Vec::new();
    for dir in ctx.tf.modules() {
        for (file, b) in dir.blocks("resource") {
            if label(b, 0) == Some("linode_firewall") {
                firewall(ctx, dir, file, requirements, b, &mut out);
            }
        }
    }
    out
}

/// Port list `"10250,10256"` / `"30000-32767"` -> ranges.
pub fn port_ranges(text: &str) -> Option<Vec<(u16, u16)>> {
    text.split(',')
        .map(|p| {
            let p = p.trim();
            match p.split_once('-') {
                Some((a, b)) => Some((a.trim().parse().ok()?, b.trim().parse().ok()?)),
                None => {
                    let n = p.parse().ok()?;
                    Some((n, n))
                }
            }
        })
        .collect()
}

fn ipv4(cidr: &str) -> Option<(u32, u32)> {
    let (addr, len) = cidr.split_once('/').unwrap_or((cidr, "32"));
    let len: u32 = len.parse().ok().filter(|l| *l <= 32)?;
    let octets: Vec<u32> =
        addr.split('.').map(|o| o.parse::<u8>().ok().map(u32::from)).collect::<Option<_>>()?;
    let [a, b, c, d] = octets[..] else { return None };
    let ip = (a << 24) | (b << 16) | (c << 8) | d;
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    Some((ip & mask, mask))
}

/// Whether IPv4 CIDR `outer` contains all of `inner`.
pub fn cidr_contains(outer: &str, inner: &str) -> bool {
    match (ipv4(outer), ipv4(inner)) {
        (Some((o, om)), Some((i, im))) => om & im == om && (i & om) == o,
        _ => false,
    }
}

fn rules(
    ctx: &Context<'_>,
    dir: &Dir<'_>,
    file: &SourceFile,
    body: &Body,
    direction: Direction,
) -> Vec<Rule> {
    let key = match direction {
        Direction::Inbound => "inbound",
        Direction::Outbound => "outbound",
    };
    let mut out = Vec::new();
    for (block, content, dynamic) in nested(body, key) {
        // In `dynamic "inbound"`, `inbound.value` (or the `iterator`'s name) is each
        // element of for_each: its possible values are those of the for_each list.
        let iterator = dynamic.then(|| {
            let name = attr(&block.body, "iterator")
                .and_then(|a| a.value.as_variable().map(|v| v.as_str().to_owned()))
                .unwrap_or_else(|| key.to_owned());
            let each = attr(&block.body, "for_each")
                .map(|a| ctx.tf.values(&dir.rel, &a.value))
                .unwrap_or_default();
            (name, each)
        });
        let is_element = |e: &Expression| {
            iterator.as_ref().is_some_and(|(name, _)| {
                e.as_traversal().is_some_and(|t| {
                    t.expr.as_variable().map(|v| v.as_str()) == Some(name.as_str())
                        && matches!(
                            t.operators.first().map(|o| o.value()),
                            Some(TraversalOperator::GetAttr(a)) if a.as_str() == "value"
                        )
                })
            })
        };
        let resolve = |e: &Expression| -> BTreeSet<String> {
            match &iterator {
                Some((_, each)) if is_element(e) => each.clone(),
                _ => ctx.tf.values(&dir.rel, e),
            }
        };
        let values = |name: &str| -> BTreeSet<String> {
            let Some(a) = attr(content, name) else { return BTreeSet::new() };
            match a.value.as_array() {
                Some(items) => items.iter().flat_map(&resolve).collect(),
                None => resolve(&a.value),
            }
        };
        let ports_text = values("ports");
        let ports_attr = attr(content, "ports").is_some();
        let ranges: Option<Vec<(u16, u16)>> = if ports_attr {
            let mut all = Vec::new();
            let mut ok = !ports_text.is_empty();
            for t in &ports_text {
                match port_ranges(t) {
                    Some(r) => all.extend(r),
                    None => ok = false,
                }
            }
            ok.then_some(all)
        } else {
            Some(Vec::new())
        };
        out.push(Rule {
            direction,
            line: line(file, block.span()),
            accept: values("action").iter().any(|a| a.eq_ignore_ascii_case("ACCEPT")),
            protocols: values("protocol").into_iter().map(|p| p.to_uppercase()).collect(),
            ports_known: ranges.is_some(),
            ports: ranges.unwrap_or_default(),
            ipv4: values("ipv4"),
            ipv6: values("ipv6"),
        });
    }
    out
}

/// Whether one of the rule's port ranges holds all of `first..=last` (a
/// rule without ports covers every port).
fn covers_range(rule: &Rule, (first, last): (u16, u16)) -> bool {
    rule.ports_known
        && (rule.ports.is_empty() || rule.ports.iter().any(|(a, b)| *a <= first && last <= *b))
}

fn firewall(
    ctx: &Context<'_>,
    dir: &Dir<'_>,
    file: &SourceFile,
    requirements: &[Requirement],
    b: &Block,
    out: &mut Vec<Finding>,
) {
    let name = label(b, 1).unwrap_or("");
    let what = format!("linode_firewall.{name}");
    let l = line(file, b.span());
    for key in ["inbound_policy", "outbound_policy"] {
        let what_passes = match key {
            "inbound_policy" => "everything not listed would be accepted",
            _ => "every destination would be reachable, and the outbound rules would mean nothing",
        };
        match attr(&b.body, key) {
            None => out.push(finding(RuleId::Fw001, &file.rel, l, format!("{what} sets no {key}"))),
            Some(a) => {
                let policy = ctx.tf.values(&dir.rel, &a.value);
                if let Some(p) = policy.iter().find(|p| !p.eq_ignore_ascii_case("DROP")) {
                    out.push(finding(
                        RuleId::Fw001,
                        &file.rel,
                        line(file, a.span()),
                        format!("{what} has {key} {p:?}: {what_passes}"),
                    ));
                }
            }
        }
    }
    let mut all = rules(ctx, dir, file, &b.body, Direction::Inbound);
    all.extend(rules(ctx, dir, file, &b.body, Direction::Outbound));
    // A firewall for named instances (the CI runner) is not a node firewall;
    // a node firewall attached that way is FW004's finding below.
    let instance_firewall = attr(&b.body, "linodes").is_some();
    for req in requirements.iter().filter(|_| !instance_firewall) {
        let peer_ok = |r: &Rule| match req.peer {
            Peer::Range(cidr) => r.ipv4.iter().any(|c| cidr_contains(c, cidr)),
            Peer::Public => {
                !r.ipv6.is_empty()
                    || r.ipv4.iter().any(|c| {
                        ipv4(c).is_some() && !PRIVATE_RANGES.iter().any(|p| cidr_contains(p, c))
                    })
            }
        };
        let allows = |range: Option<(u16, u16)>| {
            all.iter().any(|r| {
                r.direction == req.direction
                    && r.accept
                    && r.protocols.contains(req.protocol)
                    && range.is_none_or(|range| covers_range(r, range))
                    && peer_ok(r)
            })
        };
        let met = match req.ports {
            Some(ranges) => ranges.iter().all(|r| allows(Some(*r))),
            None => allows(None),
        };
        if !met {
            let verb = match req.direction {
                Direction::Inbound => "accept",
                Direction::Outbound => "let out",
            };
            out.push(finding(
                RuleId::Fw002,
                &file.rel,
                l,
                format!("{what} does not {verb} {}: {} ({})", req.traffic, req.why, req.source),
            ));
        }
    }
    // A firewall carrying LKE's node rules (anything accepted from the LKE
    // private range) is a node firewall: attached by instance IDs, it misses
    // every node a pool creates later.
    let node_rules = all.iter().any(|r| {
        r.direction == Direction::Inbound
            && r.accept
            && r.ipv4.iter().any(|c| cidr_contains(c, LKE_PRIVATE))
    });
    if let Some(a) = attr(&b.body, "linodes").filter(|_| node_rules) {
        out.push(finding(
            RuleId::Fw004,
            &file.rel,
            line(file, a.span()),
            format!(
                "{what} is attached by instance IDs (linodes): nodes the autoscaler or a recycle creates come up unprotected and every node change is drift; set firewall_id on every node pool instead"
            ),
        ));
    }
    for r in all.iter().filter(|r| r.direction == Direction::Inbound && r.accept && r.ports_known) {
        let tcp_udp = r.protocols.iter().any(|p| p == "TCP" || p == "UDP");
        let overlaps = r.ports.is_empty()
            || r.ports.iter().any(|(a, b)| *a <= NODEPORTS.1 && *b >= NODEPORTS.0);
        if !(tcp_udp && overlaps) {
            continue;
        }
        let wide: Vec<&String> =
            r.ipv4.iter().filter(|c| !cidr_contains(NODEBALANCER_RANGE, c)).collect();
        if !wide.is_empty() || !r.ipv6.is_empty() {
            let mut sources: Vec<&str> = wide.iter().map(|s| s.as_str()).collect();
            sources.extend(r.ipv6.iter().map(String::as_str));
            out.push(finding(
                RuleId::Fw003,
                &file.rel,
                r.line,
                format!(
                    "{what} opens NodePorts ({}-{}) to {}: only NodeBalancers ({NODEBALANCER_RANGE}) need them",
                    NODEPORTS.0,
                    NODEPORTS.1,
                    sources.join(", ")
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_and_cidrs() {
        assert_eq!(port_ranges("10250,10256"), Some(vec![(10250, 10250), (10256, 10256)]));
        assert_eq!(port_ranges("30000-32767"), Some(vec![(30000, 32767)]));
        assert_eq!(port_ranges("http"), None);
        assert!(cidr_contains("0.0.0.0/0", LKE_PRIVATE));
        assert!(cidr_contains(LKE_PRIVATE, LKE_PRIVATE));
        assert!(cidr_contains("192.168.128.0/17", "192.168.255.0/24"));
        assert!(!cidr_contains(NODEBALANCER_RANGE, LKE_PRIVATE));
        assert!(!cidr_contains("10.0.0.0/8", "192.168.255.0/24"));
    }
}
