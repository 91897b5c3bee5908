//! Network isolation: K8S001-K8S003 (per application namespace: default deny
//! both ways, DNS to kube-dns) and K8S014 (a cluster-wide default deny that
//! also covers namespaces created later). Kubernetes NetworkPolicies and
//! Calico (Global)NetworkPolicies both count.

use std::collections::BTreeSet;

use super::{Obj, Objects, PLATFORM_NAMESPACES, is_empty_selector};
use crate::yaml::Node;
use crate::{Context, Family, Finding, RuleId, finding};

pub const FAMILY: Family = Family {
    name: "network",
    rules: &[RuleId::K8s001, RuleId::K8s002, RuleId::K8s003, RuleId::K8s014],
    run: check,
};

fn check(ctx: &Context<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    namespaces(&ctx.k8s, &mut out);
    cluster_default_deny(&ctx.k8s, &mut out);
    out
}

fn is_calico(o: &Obj<'_>) -> bool {
    matches!(o.group(), "projectcalico.org" | "crd.projectcalico.org")
}

fn has_type(spec: &Node, key: &str, t: &str) -> bool {
    spec.field(key).seq().iter().any(|x| x.as_str() == Some(t))
}

/// A Calico selector expression names `label == value` (either quote style).
fn selector_names(sel: &str, label: &str, value: &str) -> bool {
    let sel: String = sel.chars().filter(|c| !c.is_whitespace()).collect();
    sel.contains(&format!("{label}==\"{value}\"")) || sel.contains(&format!("{label}=='{value}'"))
}

/// A Kubernetes NetworkPolicy peer that selects kube-dns (or all of kube-system).
fn peer_is_kube_dns(peer: &Node) -> bool {
    let pod = peer.at(&["podSelector", "matchLabels", "k8s-app"]).and_then(Node::as_str);
    let ns = peer
        .at(&["namespaceSelector", "matchLabels", "kubernetes.io/metadata.name"])
        .and_then(Node::as_str);
    pod == Some("kube-dns") || (ns == Some("kube-system") && peer.get("podSelector").is_none())
}

/// (deny ingress, deny egress, DNS protocols allowed to kube-dns) contributed by one policy.
fn policy_effect(o: &Obj<'_>) -> (bool, bool, BTreeSet<String>) {
    let spec = o.spec();
    let mut dns = BTreeSet::new();
    let both = || ["UDP".to_owned(), "TCP".to_owned()];
    if o.is("networking.k8s.io", "NetworkPolicy") {
        let all_pods = is_empty_selector(spec.get("podSelector"));
        let deny_in = all_pods
            && has_type(spec, "policyTypes", "Ingress")
            && spec.field("ingress").seq().is_empty();
        let deny_out = all_pods
            && has_type(spec, "policyTypes", "Egress")
            && spec.field("egress").seq().is_empty();
        for rule in spec.field("egress").seq() {
            if !rule.field("to").seq().iter().any(peer_is_kube_dns) {
                continue;
            }
            let ports = rule.field("ports").seq();
            if ports.is_empty() {
                dns.extend(both());
            }
            for p in ports {
                let port = p.field("port").scalar_text();
                if port.as_deref() == Some("53")
                    || port.as_deref().is_some_and(|s| s.starts_with("dns"))
                {
                    dns.insert(p.field("protocol").as_str().unwrap_or("TCP").to_uppercase());
                }
            }
        }
        return (deny_in, deny_out, dns);
    }
    if is_calico(o) && matches!(o.kind, "NetworkPolicy" | "GlobalNetworkPolicy") {
        let sel = spec.field("selector").as_str().unwrap_or("all()").trim();
        let all_pods = sel == "all()" || sel.is_empty();
        let denies = |key: &str| {
            spec.field(key).seq().iter().all(|r| r.field("action").as_str() == Some("Deny"))
        };
        let deny_in = all_pods && has_type(spec, "types", "Ingress") && denies("ingress");
        let deny_out = all_pods && has_type(spec, "types", "Egress") && denies("egress");
        for rule in spec
            .field("egress")
            .seq()
            .iter()
            .filter(|r| r.field("action").as_str() == Some("Allow"))
        {
            let dest = rule.field("destination");
            let to_dns = dest
                .field("selector")
                .as_str()
                .is_some_and(|s| selector_names(s, "k8s-app", "kube-dns"))
                || dest.field("namespaceSelector").as_str().is_some_and(|s| {
                    selector_names(s, "projectcalico.org/name", "kube-system")
                        && dest.get("selector").is_none()
                });
            if !to_dns {
                continue;
            }
            let ports = dest.field("ports").seq();
            let proto = rule.field("protocol").as_str().map(str::to_uppercase);
            if ports.is_empty() || ports.iter().any(|p| p.scalar_text().as_deref() == Some("53")) {
                match proto {
                    Some(p) => {
                        dns.insert(p);
                    }
                    None => dns.extend(both()),
                }
            }
        }
        return (deny_in, deny_out, dns);
    }
    (false, false, dns)
}

/// Whether a Calico GlobalNetworkPolicy's namespaceSelector covers `ns`.
fn global_applies(o: &Obj<'_>, ns: &str) -> bool {
    let sel = o.node.at(&["spec", "namespaceSelector"]).and_then(Node::as_str).unwrap_or("").trim();
    if sel.is_empty() || sel == "all()" {
        return true;
    }
    let mentions = sel.contains(&format!("'{ns}'")) || sel.contains(&format!("\"{ns}\""));
    if sel.contains("!=") || sel.contains("not in") {
        !mentions
    } else if sel.contains("==") || sel.contains(" in ") {
        mentions
    } else {
        true
    }
}

fn namespaces(objs: &Objects<'_>, out: &mut Vec<Finding>) {
    for ns_obj in objs.of("", "Namespace") {
        let ns = ns_obj.name();
        if PLATFORM_NAMESPACES.contains(&ns) || ns.is_empty() {
            continue;
        }
        let (mut deny_in, mut deny_out, mut dns) = (false, false, BTreeSet::new());
        for p in &objs.all {
            let applies = if p.kind == "GlobalNetworkPolicy" {
                global_applies(p, ns)
            } else {
                p.kind == "NetworkPolicy" && objs.namespace_of(p).as_deref() == Some(ns)
            };
            if !applies {
                continue;
            }
            let (i, e, d) = policy_effect(p);
            deny_in |= i;
            deny_out |= e;
            dns.extend(d);
        }
        let l = ns_obj.name_line();
        let f = &ns_obj.file.rel;
        if !deny_in {
            out.push(finding(
                RuleId::K8s001,
                f,
                l,
                format!("namespace {ns} has no default-deny ingress NetworkPolicy"),
            ));
        }
        if !deny_out {
            out.push(finding(
                RuleId::K8s002,
                f,
                l,
                format!("namespace {ns} has no default-deny egress NetworkPolicy"),
            ));
        }
        let missing: Vec<&str> = ["UDP", "TCP"].into_iter().filter(|p| !dns.contains(*p)).collect();
        if !missing.is_empty() {
            out.push(finding(
                RuleId::K8s003,
                f,
                l,
                format!(
                    "namespace {ns} does not allow DNS egress to kube-dns on {}/53",
                    missing.join(" and ")
                ),
            ));
        }
    }
}

/// Why a GlobalNetworkPolicy is not a cluster-wide default deny, if it is not.
fn not_cluster_default_deny(o: &Obj<'_>) -> Option<&'static str> {
    let spec = o.spec();
    if !(has_type(spec, "types", "Ingress") && has_type(spec, "types", "Egress")) {
        return Some("does not cover both Ingress and Egress");
    }
    let sel = spec.field("selector").as_str().unwrap_or("all()").trim();
    if !(sel.is_empty() || sel == "all()") {
        return Some("selects only some pods");
    }
    let ns_sel = spec.field("namespaceSelector").as_str().unwrap_or("").trim();
    let excludes_only = ns_sel.is_empty()
        || ns_sel == "all()"
        || ((ns_sel.contains("not in") || ns_sel.contains("!=")) && !ns_sel.contains("&&"));
    if !excludes_only {
        return Some("lists the namespaces it covers, so namespaces created later are open");
    }
    let allows_all = |key: &str, peer: &str| {
        spec.field(key).seq().iter().any(|r| {
            r.field("action").as_str() == Some("Allow")
                && r.get(peer).is_none_or(|p| p.entries().is_empty())
                && r.get("protocol").is_none()
        })
    };
    if allows_all("ingress", "source") || allows_all("egress", "destination") {
        return Some("has an Allow rule without any restriction");
    }
    None
}

fn cluster_default_deny(objs: &Objects<'_>, out: &mut Vec<Finding>) {
    let Some(first_ns) = objs.of("", "Namespace").next() else {
        return; // not a cluster tree (e.g. one rendered chart)
    };
    let gnps: Vec<&Obj<'_>> =
        objs.all.iter().filter(|o| is_calico(o) && o.kind == "GlobalNetworkPolicy").collect();
    let reasons: Vec<(&Obj<'_>, &str)> = gnps
        .iter()
        .map(|o| (*o, not_cluster_default_deny(o)))
        .filter_map(|(o, r)| Some((o, r?)))
        .collect();
    if reasons.len() < gnps.len() {
        return; // one of them is the cluster-wide default deny
    }
    // Point at the policy that tries to be the default deny (both directions), if any.
    let candidate = reasons.iter().find(|(o, _)| {
        has_type(o.spec(), "types", "Ingress") && has_type(o.spec(), "types", "Egress")
    });
    let (file, line, msg) = match candidate {
        Some((o, why)) => (
            &o.file.rel,
            o.name_line(),
            format!("GlobalNetworkPolicy {} is not a cluster-wide default deny: it {why}", o.name()),
        ),
        None => (
            &first_ns.file.rel,
            first_ns.name_line(),
            "no Calico GlobalNetworkPolicy denies ingress and egress for every namespace, including those created later".to_owned(),
        ),
    };
    out.push(finding(RuleId::K8s014, file, line, msg));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calico_selectors() {
        assert!(selector_names("k8s-app == \"kube-dns\"", "k8s-app", "kube-dns"));
        assert!(selector_names("k8s-app=='kube-dns'", "k8s-app", "kube-dns"));
        assert!(!selector_names("k8s-app != \"kube-dns\"", "k8s-app", "kube-dns"));
    }
}
