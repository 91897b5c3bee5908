//! TLS: K8S004 (Gateways serve HTTPS for a hostname, certificates from
//! cert-manager), K8S005 (routes are served over TLS), K8S006 (Ingress TLS),
//! K8S015 (plain-HTTP listeners redirect to HTTPS) and K8S016 (the issuers
//! Gateways name exist and solve ACME through the Gateways).

use std::collections::BTreeSet;

use super::{Obj, Objects};
use crate::yaml::Node;
use crate::{Context, Family, Finding, RuleId, finding};

pub const FAMILY: Family = Family {
    name: "tls",
    rules: &[RuleId::K8s004, RuleId::K8s005, RuleId::K8s006, RuleId::K8s015, RuleId::K8s016],
    run: check,
};

const GATEWAY_API: &str = "gateway.networking.k8s.io";
const CLUSTER_ISSUER: &str = "cert-manager.io/cluster-issuer";
const ISSUER: &str = "cert-manager.io/issuer";

fn check(ctx: &Context<'_>) -> Vec<Finding> {
    let objs = &ctx.k8s;
    let mut out = Vec::new();
    gateways(objs, &mut out);
    routes(objs, &mut out);
    http_redirects(objs, &mut out);
    for o in objs.of("networking.k8s.io", "Ingress") {
        ingress(o, objs, &mut out);
    }
    issuers(objs, &mut out);
    out
}

fn cert_manager_secrets<'a>(objs: &Objects<'a>) -> BTreeSet<&'a str> {
    objs.of("cert-manager.io", "Certificate")
        .filter_map(|o| o.node.at(&["spec", "secretName"]).and_then(Node::as_str))
        .collect()
}

fn has_issuer_annotation(o: &Obj<'_>) -> bool {
    o.annotation(CLUSTER_ISSUER).is_some() || o.annotation(ISSUER).is_some()
}

struct Listener<'a> {
    name: String,
    protocol: String,
    port: Option<i64>,
    hostname: Option<&'a str>,
    line: usize,
}

fn listeners<'a>(gw: &Obj<'a>) -> Vec<Listener<'a>> {
    gw.spec()
        .field("listeners")
        .seq()
        .iter()
        .map(|l| Listener {
            name: l.field("name").scalar_text().unwrap_or_default(),
            protocol: l.field("protocol").as_str().unwrap_or("").to_uppercase(),
            port: l.field("port").as_i64(),
            hostname: l.field("hostname").as_str(),
            line: l.line,
        })
        .collect()
}

fn host_covered(listener: Option<&str>, host: &str) -> bool {
    match listener {
        None => true,
        Some(l) if l == host => true,
        Some(l) => l.strip_prefix("*.").is_some_and(|suffix| host.ends_with(&format!(".{suffix}"))),
    }
}

fn gateways(objs: &Objects<'_>, out: &mut Vec<Finding>) {
    let certs = cert_manager_secrets(objs);
    for gw in objs.of(GATEWAY_API, "Gateway") {
        let f = &gw.file.rel;
        let mut https = 0;
        for l in gw.spec().field("listeners").seq() {
            let proto = l.field("protocol").as_str().unwrap_or("").to_uppercase();
            if proto != "HTTPS" && proto != "TLS" {
                continue;
            }
            https += 1;
            let lname = l.field("name").scalar_text().unwrap_or_default();
            if l.at(&["tls", "mode"]).and_then(Node::as_str) == Some("Passthrough") {
                continue;
            }
            if proto == "HTTPS" && l.get("hostname").is_none() {
                out.push(finding(
                    RuleId::K8s004,
                    f,
                    l.line,
                    format!(
                        "Gateway {} listener {lname} has no hostname: cert-manager issues certificates only for listeners with one",
                        gw.name()
                    ),
                ));
            }
            let refs = l.at(&["tls", "certificateRefs"]).map(Node::seq).unwrap_or(&[]);
            if refs.is_empty() {
                out.push(finding(
                    RuleId::K8s004,
                    f,
                    l.line,
                    format!("Gateway {} listener {lname} has no tls.certificateRefs", gw.name()),
                ));
                continue;
            }
            for r in refs {
                let secret = r.field("name").as_str().unwrap_or("");
                if !has_issuer_annotation(gw) && !certs.contains(secret) {
                    out.push(finding(
                        RuleId::K8s004,
                        f,
                        r.line,
                        format!("Gateway {} listener {lname}: certificate {secret} is not issued by cert-manager (no issuer annotation, no Certificate with that secretName)", gw.name()),
                    ));
                }
            }
        }
        if https == 0 {
            out.push(finding(
                RuleId::K8s004,
                f,
                gw.line(),
                format!("Gateway {} has no HTTPS listener", gw.name()),
            ));
        }
    }
}

/// Whether every rule of an HTTPRoute only redirects to https.
fn redirect_only(route: &Obj<'_>) -> bool {
    let rules = route.spec().field("rules").seq();
    !rules.is_empty()
        && rules.iter().all(|rule| {
            rule.field("backendRefs").seq().is_empty()
                && rule.field("filters").seq().iter().any(|flt| {
                    flt.field("type").as_str() == Some("RequestRedirect")
                        && flt.at(&["requestRedirect", "scheme"]).and_then(Node::as_str)
                            == Some("https")
                })
        })
}

/// The Gateway a parentRef of `route` names, when it is in the tree.
fn parent_gateway<'s, 'a>(
    objs: &'s Objects<'a>,
    route: &Obj<'_>,
    pref: &Node,
) -> Option<&'s Obj<'a>> {
    if pref.field("kind").as_str().is_some_and(|k| k != "Gateway") {
        return None;
    }
    let gname = pref.field("name").as_str().unwrap_or("");
    let gns =
        pref.field("namespace").as_str().map(str::to_owned).or_else(|| objs.namespace_of(route));
    objs.of(GATEWAY_API, "Gateway").find(|g| {
        g.name() == gname
            && (gns.is_none() || objs.namespace_of(g) == gns || objs.namespace_of(g).is_none())
    })
}

/// Listeners of `gw` a parentRef attaches to (sectionName and port narrow it).
fn attached<'a>(gw: &Obj<'a>, pref: &Node) -> Vec<Listener<'a>> {
    let section = pref.field("sectionName").scalar_text();
    let port = pref.field("port").as_i64();
    listeners(gw)
        .into_iter()
        .filter(|l| {
            section.as_ref().is_none_or(|s| *s == l.name) && port.is_none_or(|p| l.port == Some(p))
        })
        .collect()
}

fn routes(objs: &Objects<'_>, out: &mut Vec<Finding>) {
    for route in objs.of(GATEWAY_API, "HTTPRoute") {
        let f = &route.file.rel;
        let spec = route.spec();
        let redirect = redirect_only(route);
        for pref in spec.field("parentRefs").seq() {
            let Some(gw) = parent_gateway(objs, route, pref) else {
                continue; // the Gateway is not in this tree: nothing to compare with
            };
            let gname = gw.name();
            let attached = attached(gw, pref);
            if let Some(plain) = attached.iter().find(|l| l.protocol == "HTTP")
                && !redirect
            {
                out.push(finding(
                    RuleId::K8s005,
                    f,
                    pref.line,
                    format!("HTTPRoute {} serves plain HTTP through listener {} of Gateway {gname} (only an https redirect may attach there)", route.name(), plain.name),
                ));
            }
            if redirect {
                continue;
            }
            let secure: Vec<&Listener<'_>> =
                attached.iter().filter(|l| l.protocol == "HTTPS").collect();
            let hosts = spec.field("hostnames").seq();
            if hosts.is_empty() && secure.is_empty() {
                out.push(finding(
                    RuleId::K8s005,
                    f,
                    pref.line,
                    format!(
                        "HTTPRoute {} attaches to no HTTPS listener of Gateway {gname}",
                        route.name()
                    ),
                ));
            }
            for h in hosts {
                let host = h.as_str().unwrap_or("");
                if !secure.iter().any(|l| host_covered(l.hostname, host)) {
                    out.push(finding(RuleId::K8s005, f, h.line, format!("HTTPRoute {} host {host} is not served by an HTTPS listener of Gateway {gname}", route.name())));
                }
            }
        }
    }
}

/// K8S015: every HTTP listener has a redirect-to-https route attached.
fn http_redirects(objs: &Objects<'_>, out: &mut Vec<Finding>) {
    for gw in objs.of(GATEWAY_API, "Gateway") {
        for l in listeners(gw).iter().filter(|l| l.protocol == "HTTP") {
            let redirected = objs.of(GATEWAY_API, "HTTPRoute").any(|route| {
                redirect_only(route)
                    && route.spec().field("parentRefs").seq().iter().any(|pref| {
                        parent_gateway(objs, route, pref)
                            .is_some_and(|g| std::ptr::eq(g.node, gw.node))
                            && attached(gw, pref).iter().any(|a| a.name == l.name)
                    })
            });
            if !redirected {
                out.push(finding(
                    RuleId::K8s015,
                    &gw.file.rel,
                    l.line,
                    format!(
                        "Gateway {} listener {} serves plain HTTP without an HTTPRoute redirecting to https",
                        gw.name(),
                        l.name
                    ),
                ));
            }
        }
    }
}

fn ingress(o: &Obj<'_>, objs: &Objects<'_>, out: &mut Vec<Finding>) {
    let f = &o.file.rel;
    let spec = o.spec();
    let tls = spec.field("tls").seq();
    if tls.is_empty() {
        out.push(finding(
            RuleId::K8s006,
            f,
            o.line(),
            format!("Ingress {} has no spec.tls", o.name()),
        ));
        return;
    }
    let tls_hosts: BTreeSet<String> = tls
        .iter()
        .flat_map(|t| t.field("hosts").seq().iter().filter_map(Node::scalar_text))
        .collect();
    for rule in spec.field("rules").seq() {
        if let Some(h) = rule.field("host").as_str()
            && !tls_hosts.contains(h)
        {
            out.push(finding(
                RuleId::K8s006,
                f,
                rule.key_line("host"),
                format!("Ingress {} host {h} is not covered by spec.tls", o.name()),
            ));
        }
    }
    let certs = cert_manager_secrets(objs);
    let all_cm =
        tls.iter().all(|t| t.field("secretName").as_str().is_some_and(|s| certs.contains(s)));
    if !has_issuer_annotation(o) && !all_cm {
        out.push(finding(RuleId::K8s006, f, o.line(), format!("Ingress {} TLS is not from cert-manager (add a cert-manager.io/cluster-issuer annotation)", o.name())));
    }
}

/// K8S016: issuers named by Gateways and Ingresses exist; ACME issuers solve
/// through Gateway listeners that exist (ingress-nginx is retired).
fn issuers(objs: &Objects<'_>, out: &mut Vec<Finding>) {
    let cluster_issuers: BTreeSet<&str> =
        objs.of("cert-manager.io", "ClusterIssuer").map(|o| o.name()).collect();
    let issuers: BTreeSet<(Option<String>, &str)> =
        objs.of("cert-manager.io", "Issuer").map(|o| (objs.namespace_of(o), o.name())).collect();
    for o in objs
        .all
        .iter()
        .filter(|o| o.is(GATEWAY_API, "Gateway") || o.is("networking.k8s.io", "Ingress"))
    {
        if let Some(a) = o.annotation(CLUSTER_ISSUER).and_then(Node::as_str)
            && !cluster_issuers.is_empty()
            && !cluster_issuers.contains(a)
        {
            let l = o
                .node
                .at(&["metadata", "annotations"])
                .map_or(o.line(), |m| m.key_line(CLUSTER_ISSUER));
            out.push(finding(
                RuleId::K8s016,
                &o.file.rel,
                l,
                format!("{} names ClusterIssuer {a}, which this tree does not define", o.label()),
            ));
        }
        if let Some(a) = o.annotation(ISSUER).and_then(Node::as_str)
            && !issuers.is_empty()
            && !issuers.contains(&(objs.namespace_of(o), a))
        {
            let l =
                o.node.at(&["metadata", "annotations"]).map_or(o.line(), |m| m.key_line(ISSUER));
            out.push(finding(
                RuleId::K8s016,
                &o.file.rel,
                l,
                format!("{} names Issuer {a}, which its namespace does not define", o.label()),
            ));
        }
    }
    let have_gateways = objs.of(GATEWAY_API, "Gateway").next().is_some();
    for iss in objs
        .all
        .iter()
        .filter(|o| o.group() == "cert-manager.io" && matches!(o.kind, "ClusterIssuer" | "Issuer"))
    {
        let Some(acme) = iss.spec().get("acme") else { continue };
        let solvers = acme.field("solvers").seq();
        if solvers.is_empty() {
            out.push(finding(
                RuleId::K8s016,
                &iss.file.rel,
                iss.spec().key_line("acme"),
                format!("{} has no ACME solver", iss.label()),
            ));
        }
        for s in solvers {
            if s.get("dns01").is_some() {
                continue;
            }
            let Some(route) = s.at(&["http01", "gatewayHTTPRoute"]) else {
                out.push(finding(
                    RuleId::K8s016,
                    &iss.file.rel,
                    s.line,
                    format!("{} solves HTTP-01 without gatewayHTTPRoute: there is no Ingress controller (ingress-nginx is retired); solve through the Gateways", iss.label()),
                ));
                continue;
            };
            let prefs = route.field("parentRefs").seq();
            if prefs.is_empty() {
                out.push(finding(
                    RuleId::K8s016,
                    &iss.file.rel,
                    s.line,
                    format!("{} gatewayHTTPRoute names no Gateway (parentRefs)", iss.label()),
                ));
            }
            if !have_gateways {
                continue;
            }
            for p in prefs {
                let name = p.field("name").as_str().unwrap_or("");
                let ns = p.field("namespace").as_str();
                let gw = objs.of(GATEWAY_API, "Gateway").find(|g| {
                    g.name() == name && (ns.is_none() || objs.namespace_of(g).as_deref() == ns)
                });
                let ok = gw.is_some_and(|g| {
                    let section = p.field("sectionName").scalar_text();
                    listeners(g).iter().any(|l| {
                        l.protocol == "HTTP" && section.as_ref().is_none_or(|s| *s == l.name)
                    })
                });
                if !ok {
                    out.push(finding(
                        RuleId::K8s016,
                        &iss.file.rel,
                        p.line,
                        format!(
                            "{} solves HTTP-01 through Gateway {}/{name} listener {}, which this tree does not define (an HTTP listener is needed)",
                            iss.label(),
                            ns.unwrap_or("?"),
                            p.field("sectionName").scalar_text().unwrap_or_else(|| "(any)".into())
                        ),
                    ));
                }
            }
        }
    }
}
