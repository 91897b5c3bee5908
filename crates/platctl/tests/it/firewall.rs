//! The node firewall (infra/terraform/modules/firewall) against the LKE
//! requirement list, its attachment through every node pool, and its
//! validation blocks exercised with the real terraform.
//!
//! `REQUIREMENTS` is data: the `platctl check` rule of issue 13 §2 reads the
//! same table (move it into crates/check with `requirement_findings`).

use std::path::{Path, PathBuf};
use std::process::Command;

use hcl::{Block, Body, Expression, TraversalOperator};

use crate::support::terraform;

/// Akamai, "LKE network and firewall details".
pub const LKE_DOC: &str =
    "https://techdocs.akamai.com/cloud-computing/docs/lke-network-firewall-details";
/// Linode's cloud-firewall-controller default LKE ruleset (internal/rules/defaults.go).
pub const CONTROLLER_DEFAULTS: &str =
    "https://github.com/linode/cloud-firewall-controller/blob/main/internal/rules/defaults.go";
/// This module's README, "Outbound (egress)".
pub const EGRESS_DOC: &str = "infra/terraform/modules/firewall/README.md#outbound-egress";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Inbound,
    Outbound,
}

/// Traffic the node firewall must accept.
#[derive(Debug, Clone, Copy)]
pub struct Requirement {
    pub direction: Direction,
    pub protocol: &'static str,
    /// Ports that must be open (`None`: protocols without ports).
    pub ports: Option<&'static [u16]>,
    /// The peer range that must be allowed.
    pub cidr: &'static str,
    pub traffic: &'static str,
    pub why: &'static str,
    pub source: &'static str,
}

const LKE_PRIVATE: &str = "192.168.128.0/17";
const NODEBALANCERS: &str = "192.168.255.0/24";
const ANY: &str = "0.0.0.0/0";

pub const REQUIREMENTS: &[Requirement] = &[
    Requirement {
        direction: Direction::Inbound,
        protocol: "TCP",
        ports: Some(&[10250, 10256]),
        cidr: LKE_PRIVATE,
        traffic: "kubelet and kube-proxy health checks (TCP 10250, 10256) from the LKE private range",
        why: "the control plane checks node health; without them nodes go NotReady",
        source: LKE_DOC,
    },
    Requirement {
        direction: Direction::Inbound,
        protocol: "UDP",
        ports: Some(&[51820]),
        cidr: LKE_PRIVATE,
        traffic: "WireGuard (UDP 51820) from the LKE private range",
        why: "the control plane tunnels kubectl proxy to the nodes",
        source: LKE_DOC,
    },
    Requirement {
        direction: Direction::Inbound,
        protocol: "TCP",
        ports: Some(&[53]),
        cidr: LKE_PRIVATE,
        traffic: "cluster DNS over TCP (53) from the LKE private range",
        why: "pods on other nodes resolve names through CoreDNS",
        source: LKE_DOC,
    },
    Requirement {
        direction: Direction::Inbound,
        protocol: "UDP",
        ports: Some(&[53]),
        cidr: LKE_PRIVATE,
        traffic: "cluster DNS over UDP (53) from the LKE private range",
        why: "pods on other nodes resolve names through CoreDNS",
        source: LKE_DOC,
    },
    Requirement {
        direction: Direction::Inbound,
        protocol: "TCP",
        ports: Some(&[179]),
        cidr: LKE_PRIVATE,
        traffic: "Calico BGP (TCP 179) from the LKE private range",
        why: "nodes exchange pod routes over BGP",
        source: LKE_DOC,
    },
    Requirement {
        direction: Direction::Inbound,
        protocol: "TCP",
        ports: Some(&[30000, 32767]),
        cidr: NODEBALANCERS,
        traffic: "NodePorts (TCP 30000-32767) from the NodeBalancer range",
        why: "NodeBalancers reach the Gateways' LoadBalancer Services through NodePorts",
        source: LKE_DOC,
    },
    Requirement {
        direction: Direction::Inbound,
        protocol: "UDP",
        ports: Some(&[30000, 32767]),
        cidr: NODEBALANCERS,
        traffic: "NodePorts (UDP 30000-32767) from the NodeBalancer range",
        why: "NodeBalancers reach UDP LoadBalancer Services through NodePorts",
        source: LKE_DOC,
    },
    Requirement {
        direction: Direction::Inbound,
        protocol: "IPENCAP",
        ports: None,
        cidr: LKE_PRIVATE,
        traffic: "IP-in-IP (IPENCAP) from the LKE private range",
        why: "Calico carries pod-to-pod traffic between nodes in IP-in-IP; without it cross-node pod traffic is dropped",
        source: CONTROLLER_DEFAULTS,
    },
    Requirement {
        direction: Direction::Outbound,
        protocol: "IPENCAP",
        ports: None,
        cidr: LKE_PRIVATE,
        traffic: "IP-in-IP (IPENCAP) to the LKE private range",
        why: "with an outbound DROP policy, pod traffic leaving for other nodes needs its own rule",
        source: CONTROLLER_DEFAULTS,
    },
    Requirement {
        direction: Direction::Outbound,
        protocol: "TCP",
        ports: Some(&[179, 10250]),
        cidr: LKE_PRIVATE,
        traffic: "TCP to the LKE private range (BGP, kubelet)",
        why: "nodes answer BGP sessions and reach each other's kubelets and host-network pods",
        source: LKE_DOC,
    },
    Requirement {
        direction: Direction::Outbound,
        protocol: "UDP",
        ports: Some(&[51820, 53]),
        cidr: LKE_PRIVATE,
        traffic: "UDP to the LKE private range (WireGuard, DNS)",
        why: "the WireGuard tunnel and cluster DNS run over the private network",
        source: LKE_DOC,
    },
    Requirement {
        direction: Direction::Outbound,
        protocol: "TCP",
        ports: Some(&[443]),
        cidr: ANY,
        traffic: "HTTPS (TCP 443) to public addresses",
        why: "the LKE API endpoint, container registries, GitHub (Argo CD), ACME, the Linode API and Object Storage",
        source: EGRESS_DOC,
    },
    Requirement {
        direction: Direction::Outbound,
        protocol: "TCP",
        ports: Some(&[80]),
        cidr: ANY,
        traffic: "HTTP (TCP 80) to the Gateways' public addresses",
        why: "cert-manager's HTTP-01 self-check reaches the challenge through the Gateway",
        source: EGRESS_DOC,
    },
    Requirement {
        direction: Direction::Outbound,
        protocol: "UDP",
        ports: Some(&[53]),
        cidr: ANY,
        traffic: "DNS (UDP 53) to the node resolvers",
        why: "CoreDNS forwards to the resolvers in the nodes' resolv.conf",
        source: EGRESS_DOC,
    },
    Requirement {
        direction: Direction::Outbound,
        protocol: "TCP",
        ports: Some(&[53]),
        cidr: ANY,
        traffic: "DNS (TCP 53) to the node resolvers",
        why: "truncated DNS answers are retried over TCP",
        source: EGRESS_DOC,
    },
    Requirement {
        direction: Direction::Outbound,
        protocol: "UDP",
        ports: Some(&[123]),
        cidr: ANY,
        traffic: "NTP (UDP 123)",
        why: "TLS, ACME and OpenBao tokens fail on a skewed clock",
        source: EGRESS_DOC,
    },
];

/// One `inbound` / `outbound` rule of the module, its expressions resolved
/// against the variables' defaults (a `dynamic` block counts as enabled).
#[derive(Debug, Clone, Default)]
pub struct Rule {
    pub outbound: bool,
    pub label: Option<String>,
    pub description: Option<String>,
    pub action: Option<String>,
    pub protocol: Option<String>,
    pub ports: Option<String>,
    pub ipv4: Vec<String>,
}

/// The firewall resource of a module: policies and rules.
#[derive(Debug, Clone, Default)]
pub struct Firewall {
    pub inbound_policy: Option<String>,
    pub outbound_policy: Option<String>,
    pub rules: Vec<Rule>,
    pub attaches_instances: bool,
}

fn parse(path: &Path) -> Body {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    hcl::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn attr<'a>(body: &'a Body, key: &str) -> Option<&'a Expression> {
    body.attributes().find(|a| a.key() == key).map(hcl::Attribute::expr)
}

/// Whether `b` is `<identifier> "<first label>" ...`.
fn is_block(b: &Block, identifier: &str, label: &str) -> bool {
    b.identifier() == identifier && b.labels().first().is_some_and(|l| l.as_str() == label)
}

/// The first `<identifier> "<first label>"` block of a body.
fn find_block<'a>(body: &'a Body, identifier: &str, label: &str) -> Option<&'a Block> {
    body.blocks().find(|b| is_block(b, identifier, label))
}

/// Evaluates the small expression language the module uses: literals,
/// lists, `var.X` (default), `<iterator>.value`, `cond ? a : []`.
fn eval(expr: &Expression, vars: &Body, iter: Option<(&str, &Expression)>) -> Expression {
    match expr {
        Expression::Traversal(t) => {
            let root = match &t.expr {
                Expression::Variable(v) => v.as_str().to_owned(),
                _ => return Expression::Null,
            };
            let attrs: Vec<&str> = t
                .operators
                .iter()
                .filter_map(|o| match o {
                    TraversalOperator::GetAttr(id) => Some(id.as_str()),
                    _ => None,
                })
                .collect();
            match (root.as_str(), attrs.as_slice()) {
                ("var", [name]) => find_block(vars, "variable", name)
                    .and_then(|b| attr(b.body(), "default"))
                    .map_or(Expression::Null, |d| eval(d, vars, None)),
                (it, ["value"]) if iter.is_some_and(|(n, _)| n == it) => {
                    iter.map_or(Expression::Null, |(_, v)| eval(v, vars, None))
                }
                _ => Expression::Null,
            }
        }
        Expression::Conditional(c) => eval(&c.true_expr, vars, iter),
        Expression::Parenthesis(e) => eval(e, vars, iter),
        Expression::Array(items) => {
            Expression::Array(items.iter().map(|i| eval(i, vars, iter)).collect())
        }
        other => other.clone(),
    }
}

fn string(e: &Expression) -> Option<String> {
    match e {
        Expression::String(s) => Some(s.clone()),
        _ => None,
    }
}

fn rule(block: &Block, outbound: bool, vars: &Body, iter: Option<(&str, &Expression)>) -> Rule {
    let b = block.body();
    let get = |k: &str| attr(b, k).map(|e| eval(e, vars, iter)).and_then(|e| string(&e));
    let ipv4 = match attr(b, "ipv4").map(|e| eval(e, vars, iter)) {
        Some(Expression::Array(items)) => items.iter().filter_map(string).collect(),
        _ => Vec::new(),
    };
    Rule {
        outbound,
        label: get("label"),
        description: get("description"),
        action: get("action"),
        protocol: get("protocol"),
        ports: get("ports"),
        ipv4,
    }
}

/// Reads `linode_firewall` of the module in `dir`.
pub fn read_firewall(dir: &Path) -> Firewall {
    let main = parse(&dir.join("main.tf"));
    let vars = parse(&dir.join("variables.tf"));
    let mut fw = Firewall::default();
    for res in main.blocks().filter(|b| is_block(b, "resource", "linode_firewall")) {
        let body = res.body();
        fw.inbound_policy = attr(body, "inbound_policy").and_then(string);
        fw.outbound_policy = attr(body, "outbound_policy").and_then(string);
        fw.attaches_instances = attr(body, "linodes").is_some();
        for b in body.blocks() {
            match b.identifier() {
                "inbound" | "outbound" => {
                    fw.rules.push(rule(b, b.identifier() == "outbound", &vars, None))
                }
                "dynamic" => {
                    let kind =
                        b.labels().first().map(|l| l.as_str().to_owned()).unwrap_or_default();
                    let elements = match attr(b.body(), "for_each").map(|e| eval(e, &vars, None)) {
                        Some(Expression::Array(items)) => items,
                        _ => vec![Expression::Null],
                    };
                    if let Some(content) = b.body().blocks().find(|c| c.identifier() == "content") {
                        for element in &elements {
                            fw.rules.push(rule(
                                content,
                                kind == "outbound",
                                &vars,
                                Some((&kind, element)),
                            ));
                        }
                    }
                }
                _ => {}
            }
        }
    }
    fw
}

/// "10250,10256", "30000-32767", "1-65535" -> does it cover `port`?
fn covers(ports: &str, port: u16) -> bool {
    ports.split(',').map(str::trim).any(|p| match p.split_once('-') {
        Some((a, b)) => {
            a.parse::<u16>().is_ok_and(|a| a <= port) && b.parse::<u16>().is_ok_and(|b| port <= b)
        }
        None => p.parse::<u16>() == Ok(port),
    })
}

/// The findings the §2 rule reports: each missing requirement names the
/// traffic, why it is needed and the documentation page; broken policies
/// and unlabelled rules are findings too.
pub fn requirement_findings(fw: &Firewall) -> Vec<String> {
    let mut out = Vec::new();
    for (what, policy) in
        [("inbound_policy", &fw.inbound_policy), ("outbound_policy", &fw.outbound_policy)]
    {
        if policy.as_deref() != Some("DROP") {
            out.push(format!(
                "{what} is {policy:?}, not \"DROP\": only the listed traffic may pass ({LKE_DOC})"
            ));
        }
    }
    if fw.attaches_instances {
        out.push(
            "the firewall lists instance IDs (linodes); attach it through every node pool's firewall_id instead, so new nodes are covered"
                .to_owned(),
        );
    }
    for r in REQUIREMENTS {
        let met = fw.rules.iter().any(|rule| {
            rule.outbound == (r.direction == Direction::Outbound)
                && rule.action.as_deref() == Some("ACCEPT")
                && rule.protocol.as_deref() == Some(r.protocol)
                && rule.ipv4.iter().any(|c| c == r.cidr)
                && match r.ports {
                    None => rule.ports.is_none(),
                    Some(ports) => {
                        rule.ports.as_deref().is_some_and(|p| ports.iter().all(|n| covers(p, *n)))
                    }
                }
        });
        if !met {
            let dir = match r.direction {
                Direction::Inbound => "inbound",
                Direction::Outbound => "outbound",
            };
            out.push(format!(
                "missing {dir} rule: {}; needed because {} (see {})",
                r.traffic, r.why, r.source
            ));
        }
    }
    for rule in &fw.rules {
        let label = rule.label.clone().unwrap_or_default();
        let ok_label = (3..=32).contains(&label.len())
            && label.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !ok_label {
            out.push(format!("rule {label:?}: a label of 3-32 lowercase letters, digits and dashes names the rule"));
        }
        let description = rule.description.clone().unwrap_or_default();
        if description.trim().is_empty() || description.len() > 100 {
            out.push(format!(
                "rule {label:?}: needs a description (at most 100 characters) saying why it exists"
            ));
        }
    }
    if fw.rules.len() > 25 {
        out.push(format!(
            "{} rules: a Cloud Firewall holds at most 25 (inbound and outbound together)",
            fw.rules.len()
        ));
    }
    out
}

fn modules() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/terraform/modules")
}

#[test]
fn firewall_module_meets_every_lke_requirement() {
    let fw = read_firewall(&modules().join("firewall"));
    assert!(fw.rules.len() >= REQUIREMENTS.len() - 4, "only {} rules read", fw.rules.len());
    let findings = requirement_findings(&fw);
    assert!(
        findings.is_empty(),
        "the firewall module misses requirements:\n{}",
        findings.join("\n")
    );
}

/// A copy of the module with one edit; the findings it produces.
fn findings_after(edit: &str, old: &str, new: &str) -> Vec<String> {
    let dir = tempfile::tempdir().expect("tempdir");
    for f in ["main.tf", "variables.tf"] {
        let text =
            std::fs::read_to_string(modules().join("firewall").join(f)).expect("read module");
        let text = if f == edit {
            assert!(text.contains(old), "mutation anchor {old:?} not in {f}");
            text.replacen(old, new, 1)
        } else {
            text
        };
        std::fs::write(dir.path().join(f), text).expect("write copy");
    }
    requirement_findings(&read_firewall(dir.path()))
}

#[test]
fn firewall_requirement_findings_name_the_traffic_why_and_page() {
    // IPENCAP outbound removed: the finding names the traffic, the reason
    // and the page.
    let f = findings_after(
        "main.tf",
        "protocol    = \"IPENCAP\"\n    ipv4        = [var.lke_private_cidr]\n  }\n\n  outbound {\n    label       = \"dns-udp\"",
        "protocol    = \"TCP\"\n    ports       = \"4\"\n    ipv4        = [var.lke_private_cidr]\n  }\n\n  outbound {\n    label       = \"dns-udp\"",
    );
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(f[0].contains("missing outbound rule: IP-in-IP (IPENCAP)"), "{f:?}");
    assert!(f[0].contains("cloud-firewall-controller"), "{f:?}");
    // Kubelet's 10256 dropped from the rule.
    let f = findings_after("main.tf", "ports       = \"10250,10256\"", "ports       = \"10250\"");
    assert!(
        f.iter().any(|m| m.contains("kubelet and kube-proxy health checks") && m.contains(LKE_DOC)),
        "{f:?}"
    );
    // The private range default widened.
    let f = findings_after(
        "variables.tf",
        "default     = \"192.168.128.0/17\"",
        "default     = \"192.168.0.0/16\"",
    );
    assert!(f.iter().any(|m| m.contains("Calico BGP (TCP 179)")), "{f:?}");
    // An ACCEPT outbound policy, an undescribed rule, instance attachment.
    let f = findings_after("main.tf", "outbound_policy = \"DROP\"", "outbound_policy = \"ACCEPT\"");
    assert!(f.iter().any(|m| m.starts_with("outbound_policy")), "{f:?}");
    let f = findings_after(
        "main.tf",
        "    description = \"NTP: node clocks; TLS, ACME and OpenBao tokens fail on a skewed clock\"\n",
        "",
    );
    assert!(f.iter().any(|m| m.contains("rule \"ntp\": needs a description")), "{f:?}");
    let f = findings_after(
        "main.tf",
        "  inbound_policy  = \"DROP\"",
        "  linodes = [1]\n  inbound_policy  = \"DROP\"",
    );
    assert!(f.iter().any(|m| m.contains("instance IDs")), "{f:?}");
    // NodePorts exist only as the dynamic (nodeports_enabled) rules; they
    // are read through their for_each.
    let f = findings_after(
        "main.tf",
        "ports       = \"30000-32767\"\n      ipv4        = [inbound.value]\n    }\n  }\n\n  dynamic",
        "ports       = \"30000-32000\"\n      ipv4        = [inbound.value]\n    }\n  }\n\n  dynamic",
    );
    assert!(f.iter().any(|m| m.contains("NodePorts (TCP 30000-32767)")), "{f:?}");
}

fn pool_blocks(body: &Body) -> Vec<&Body> {
    let mut out = Vec::new();
    for b in body.blocks() {
        match b.identifier() {
            "pool" => out.push(b.body()),
            "dynamic" if is_block(b, "dynamic", "pool") => {
                out.extend(
                    b.body().blocks().filter(|c| c.identifier() == "content").map(Block::body),
                );
            }
            _ => {}
        }
    }
    out
}

#[test]
fn every_node_pool_attaches_the_firewall_and_no_instance_ids_are_used() {
    let main = parse(&modules().join("lke-cluster/main.tf"));
    let cluster = find_block(&main, "resource", "linode_lke_cluster").expect("linode_lke_cluster");
    let pools = pool_blocks(cluster.body());
    assert_eq!(pools.len(), 3, "system, workload and the optional GPU pool");
    for p in pools {
        let fw = attr(p, "firewall_id").map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(fw, "var.firewall_id", "a pool without the node firewall");
    }
    assert!(!read_firewall(&modules().join("firewall")).attaches_instances);
    // The env roots wire the firewall's id into the cluster module.
    let envs = modules().join("../envs");
    for (env, expected) in
        [("production", "module.firewall.id"), ("staging", "module.firewall[0].id")]
    {
        let text = std::fs::read_to_string(envs.join(env).join("main.tf")).expect("env root");
        let body = hcl::parse(&text).expect("env root parses");
        let cluster = find_block(&body, "module", "cluster").expect("module cluster");
        let fw = attr(cluster.body(), "firewall_id").map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(fw, expected, "envs/{env}: the cluster's pools must attach the firewall");
        assert!(
            !text.contains("linode_ids") && !text.contains("node_instance_ids"),
            "envs/{env} still uses instance IDs"
        );
    }
}

/// `terraform plan` on a copy of a module's variables.tf (no provider
/// needed): accepted, or rejected with a message containing `expect`.
fn plan_cases(module: &str, cases: &[(&str, &str, Option<&str>)]) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(modules().join(module).join("variables.tf"), dir.path().join("variables.tf"))
        .expect("copy");
    let tf = |args: &[&str]| {
        Command::new(terraform())
            .args(args)
            .current_dir(dir.path())
            .env("TF_CLI_CONFIG_FILE", "/dev/null")
            .env("CHECKPOINT_DISABLE", "1")
            .env("TF_IN_AUTOMATION", "1")
            .env_remove("TF_CLI_ARGS")
            .output()
            .expect("terraform")
    };
    let init = tf(&["init", "-input=false", "-no-color"]);
    assert!(init.status.success(), "terraform init: {}", String::from_utf8_lossy(&init.stderr));
    for (name, tfvars, expect) in cases {
        std::fs::write(dir.path().join("case.auto.tfvars.json"), tfvars).expect("tfvars");
        let out = tf(&["plan", "-input=false", "-no-color", "-lock=false", "-refresh=false"]);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
        match expect {
            None => assert!(out.status.success(), "{module} {name}: expected acceptance:\n{text}"),
            Some(msg) => {
                assert!(
                    !out.status.success(),
                    "{module} {name}: expected a rejection, terraform accepted it"
                );
                assert!(text.contains(msg), "{module} {name}: expected {msg:?} in:\n{text}");
            }
        }
    }
}

#[test]
fn firewall_validation_blocks_with_the_real_terraform() {
    plan_cases(
        "firewall",
        &[
            ("defaults", r#"{"label": "platform-fr-par-nodes"}"#, None),
            ("short label", r#"{"label": "x"}"#, Some("3-32 characters")),
            (
                "private range opened to the world",
                r#"{"label": "fw-a", "lke_private_cidr": "0.0.0.0/0"}"#,
                Some("would open kubelet, BGP and IP-in-IP"),
            ),
            (
                "private range not IPv4",
                r#"{"label": "fw-a", "lke_private_cidr": "fd00::/8"}"#,
                Some("must be an IPv4 CIDR"),
            ),
            (
                "NodePorts to the world",
                r#"{"label": "fw-a", "nodebalancer_cidr": "0.0.0.0/0"}"#,
                Some("NodePorts would be open"),
            ),
            (
                "no HTTPS destination",
                r#"{"label": "fw-a", "https_egress_ipv4": []}"#,
                Some("would block image pulls"),
            ),
            (
                "HTTPS to an egress proxy",
                r#"{"label": "fw-a", "https_egress_ipv4": ["198.51.100.7/32"], "https_egress_ipv6": []}"#,
                None,
            ),
            (
                "HTTP self-check to the Gateways",
                r#"{"label": "fw-a", "http_egress_ipv4": ["198.51.100.7/32", "198.51.100.8/32"]}"#,
                None,
            ),
            (
                "HTTP destination not a CIDR",
                r#"{"label": "fw-a", "http_egress_ipv4": ["gateway"]}"#,
                Some("certificate issuance"),
            ),
            (
                "IPv6 in an IPv4 list",
                r#"{"label": "fw-a", "dns_egress_ipv4": ["::/0"]}"#,
                Some("dns_egress_ipv4 must list"),
            ),
            (
                "leading zero port",
                r#"{"label": "fw-a", "extra_outbound_tcp_ports": ["080"]}"#,
                Some("without leading zeros"),
            ),
            (
                "extra ports",
                r#"{"label": "fw-a", "extra_outbound_tcp_ports": ["5432", "8000-8100"]}"#,
                None,
            ),
            (
                "too many extra ports",
                r#"{"label": "fw-a", "extra_outbound_tcp_ports": ["1","2","3","4","5","6","7","8","9","10","11","12","13","14","15","16"]}"#,
                Some("at most 15 entries"),
            ),
        ],
    );
    plan_cases(
        "lke-cluster",
        &[
            (
                "firewall id",
                r#"{"label": "stg-a", "environment": "staging", "firewall_id": 1234}"#,
                None,
            ),
            (
                "negative firewall id",
                r#"{"label": "stg-a", "environment": "staging", "firewall_id": -3}"#,
                Some("numeric ID of a Cloud Firewall"),
            ),
            (
                "fractional firewall id",
                r#"{"label": "stg-a", "environment": "staging", "firewall_id": 1.5}"#,
                Some("numeric ID of a Cloud Firewall"),
            ),
        ],
    );
}
