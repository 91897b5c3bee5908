//! Kubernetes, Argo CD and observability rules over the YAML documents of
//! deploy/ (and Helm values under charts/).

use std::collections::{BTreeMap, BTreeSet};

use crate::tf::is_production_path;
use crate::walk::{Kind, Repo, SourceFile};
use crate::yaml::{self, Node, Value};
use crate::{Finding, finding};

/// Namespaces that belong to the platform itself, not to applications:
/// K8S001-K8S003 do not apply to them.
pub const PLATFORM_NAMESPACES: &[&str] = &[
    "default",
    "kube-system",
    "kube-public",
    "kube-node-lease",
    "argocd",
    "cert-manager",
    "sealed-secrets",
    "secrets-store-csi",
    "openbao",
    "vault",
    "nginx-gateway",
    "gateway",
    "monitoring",
    "observability",
    "loki",
    "tempo",
    "alloy",
    "calico-system",
    "calico-apiserver",
    "tigera-operator",
    "kyverno",
    "external-dns",
];

/// A Kubernetes object (a YAML document with apiVersion and kind).
#[derive(Debug, Clone, Copy)]
pub struct Obj<'a> {
    pub file: &'a SourceFile,
    pub node: &'a Node,
    pub api: &'a str,
    pub kind: &'a str,
}

impl<'a> Obj<'a> {
    pub fn group(&self) -> &'a str {
        self.api.rsplit_once('/').map_or("", |(g, _)| g)
    }
    pub fn name(&self) -> &'a str {
        self.node.at(&["metadata", "name"]).and_then(Node::as_str).unwrap_or("")
    }
    pub fn ns(&self, kustomize: &BTreeMap<String, String>) -> Option<String> {
        if let Some(ns) = self.node.at(&["metadata", "namespace"]).and_then(Node::as_str) {
            return Some(ns.to_owned());
        }
        let mut dir = self.file.rel.as_str();
        while let Some((parent, _)) = dir.rsplit_once('/') {
            if let Some(ns) = kustomize.get(parent) {
                return Some(ns.clone());
            }
            dir = parent;
        }
        None
    }
    pub fn line(&self) -> usize {
        self.node.key_line("kind")
    }
    pub fn annotation(&self, key: &str) -> Option<&'a Node> {
        self.node.at(&["metadata", "annotations", key])
    }
    fn is(&self, group: &str, kind: &str) -> bool {
        self.kind == kind && self.group() == group
    }
    fn label(&self) -> String {
        format!("{} {}", self.kind, self.name())
    }
}

/// Every object in Manifest files.
pub fn objects(repo: &Repo) -> Vec<Obj<'_>> {
    let mut out = Vec::new();
    for file in repo.files.iter().filter(|f| f.kind == Kind::Manifest) {
        for doc in &file.docs {
            if let (Some(api), Some(kind)) = (doc.g("apiVersion").as_str(), doc.g("kind").as_str())
            {
                out.push(Obj { file, node: doc, api, kind });
            }
        }
    }
    out
}

pub fn check(repo: &Repo) -> Vec<Finding> {
    let objs = objects(repo);
    let mut kustomize = BTreeMap::new();
    for o in objs
        .iter()
        .filter(|o| o.kind == "Kustomization" && o.group().starts_with("kustomize.config.k8s.io"))
    {
        if let Some(ns) = o.node.g("namespace").as_str() {
            let dir = o.file.rel.rsplit_once('/').map_or("", |(d, _)| d);
            kustomize.insert(dir.to_owned(), ns.to_owned());
        }
    }
    let mut out = Vec::new();
    namespaces(&objs, &kustomize, &mut out);
    gateways(&objs, &kustomize, &mut out);
    for o in &objs {
        match (o.group(), o.kind) {
            ("networking.k8s.io", "Ingress") => ingress(o, &objs, &mut out),
            ("", "Secret") => plain_secret(o, &mut out),
            ("argoproj.io", "Application") => application(o, o.node, &objs, &mut out),
            ("argoproj.io", "ApplicationSet") => {
                if let Some(t) = o.node.at(&["spec", "template"]) {
                    application(o, t, &objs, &mut out);
                }
            }
            _ => {}
        }
        if let Some((pod, long_running)) = pod_spec(o) {
            workload(o, pod, long_running, &mut out);
        }
    }
    service_monitors(&objs, &kustomize, &mut out);
    for file in repo.files.iter().filter(|f| matches!(f.kind, Kind::HelmValues | Kind::Manifest)) {
        for doc in file.docs.iter().filter(|d| d.get("kind").is_none()) {
            values_images(file, doc, &mut out);
        }
    }
    loki_retention(repo, &objs, &mut out);
    observability_stack(repo, &objs, &mut out);
    out
}

// ---------------------------------------------------------------- network policies

fn is_empty_selector(n: Option<&Node>) -> bool {
    match n {
        None => true,
        Some(n) => {
            n.is_null()
                || n.entries().iter().all(|e| {
                    e.value.is_null() || e.value.entries().is_empty() && e.value.seq().is_empty()
                })
        }
    }
}

fn has_type(spec: &Node, key: &str, t: &str) -> bool {
    spec.g(key).seq().iter().any(|x| x.as_str() == Some(t))
}

/// (deny ingress, deny egress, dns protocols allowed) contributed by one policy.
fn policy_effect(o: &Obj<'_>) -> (bool, bool, BTreeSet<String>) {
    let spec = o.node.g("spec");
    let mut dns = BTreeSet::new();
    if o.is("networking.k8s.io", "NetworkPolicy") {
        let all_pods = is_empty_selector(spec.get("podSelector"));
        let deny_in = all_pods
            && has_type(spec, "policyTypes", "Ingress")
            && spec.g("ingress").seq().is_empty();
        let deny_out = all_pods
            && has_type(spec, "policyTypes", "Egress")
            && spec.g("egress").seq().is_empty();
        for rule in spec.g("egress").seq() {
            let ports = rule.g("ports").seq();
            if ports.is_empty() {
                dns.extend(["UDP".to_owned(), "TCP".to_owned()]);
            }
            for p in ports {
                let port = p.g("port").scalar_text();
                if port.as_deref() == Some("53")
                    || port.as_deref().is_some_and(|s| s.starts_with("dns"))
                {
                    dns.insert(p.g("protocol").as_str().unwrap_or("TCP").to_uppercase());
                }
            }
        }
        return (deny_in, deny_out, dns);
    }
    let calico = matches!(o.group(), "projectcalico.org" | "crd.projectcalico.org");
    if calico && matches!(o.kind, "NetworkPolicy" | "GlobalNetworkPolicy") {
        let sel = spec.g("selector").as_str().unwrap_or("all()").trim();
        let all_pods = sel == "all()" || sel.is_empty();
        let denies =
            |key: &str| spec.g(key).seq().iter().all(|r| r.g("action").as_str() == Some("Deny"));
        let deny_in = all_pods && has_type(spec, "types", "Ingress") && denies("ingress");
        let deny_out = all_pods && has_type(spec, "types", "Egress") && denies("egress");
        for rule in
            spec.g("egress").seq().iter().filter(|r| r.g("action").as_str() == Some("Allow"))
        {
            let ports = rule.at(&["destination", "ports"]).map(Node::seq).unwrap_or(&[]);
            let proto = rule.g("protocol").as_str().map(str::to_uppercase);
            if ports.is_empty() && proto.is_none() {
                dns.extend(["UDP".to_owned(), "TCP".to_owned()]);
            }
            if ports.iter().any(|p| p.scalar_text().as_deref() == Some("53")) {
                match proto {
                    Some(p) => {
                        dns.insert(p);
                    }
                    None => dns.extend(["UDP".to_owned(), "TCP".to_owned()]),
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

fn namespaces(objs: &[Obj<'_>], kustomize: &BTreeMap<String, String>, out: &mut Vec<Finding>) {
    for ns_obj in objs.iter().filter(|o| o.is("", "Namespace")) {
        let ns = ns_obj.name();
        if PLATFORM_NAMESPACES.contains(&ns) || ns.is_empty() {
            continue;
        }
        let (mut deny_in, mut deny_out, mut dns) = (false, false, BTreeSet::new());
        for p in objs {
            let applies = if p.kind == "GlobalNetworkPolicy" {
                global_applies(p, ns)
            } else {
                p.kind == "NetworkPolicy" && p.ns(kustomize).as_deref() == Some(ns)
            };
            if !applies {
                continue;
            }
            let (i, e, d) = policy_effect(p);
            deny_in |= i;
            deny_out |= e;
            dns.extend(d);
        }
        let l = ns_obj.node.at(&["metadata"]).map_or(ns_obj.line(), |m| m.key_line("name"));
        let f = &ns_obj.file.rel;
        if !deny_in {
            out.push(finding(
                "K8S001",
                f,
                l,
                format!("namespace {ns} has no default-deny ingress NetworkPolicy"),
            ));
        }
        if !deny_out {
            out.push(finding(
                "K8S002",
                f,
                l,
                format!("namespace {ns} has no default-deny egress NetworkPolicy"),
            ));
        }
        let missing: Vec<&str> = ["UDP", "TCP"].into_iter().filter(|p| !dns.contains(*p)).collect();
        if !missing.is_empty() {
            out.push(finding(
                "K8S003",
                f,
                l,
                format!("namespace {ns} does not allow DNS egress on {}/53", missing.join(" and ")),
            ));
        }
    }
}

// ---------------------------------------------------------------- TLS

fn cert_manager_secrets<'a>(objs: &[Obj<'a>]) -> BTreeSet<&'a str> {
    objs.iter()
        .filter(|o| o.is("cert-manager.io", "Certificate"))
        .filter_map(|o| o.node.at(&["spec", "secretName"]).and_then(Node::as_str))
        .collect()
}

fn has_issuer_annotation(o: &Obj<'_>) -> bool {
    o.annotation("cert-manager.io/cluster-issuer").is_some()
        || o.annotation("cert-manager.io/issuer").is_some()
}

struct Listener<'a> {
    name: String,
    protocol: String,
    port: Option<i64>,
    hostname: Option<&'a str>,
}

fn listeners<'a>(gw: &Obj<'a>) -> Vec<Listener<'a>> {
    gw.node
        .at(&["spec", "listeners"])
        .map(Node::seq)
        .unwrap_or(&[])
        .iter()
        .map(|l| Listener {
            name: l.g("name").scalar_text().unwrap_or_default(),
            protocol: l.g("protocol").as_str().unwrap_or("").to_uppercase(),
            port: l.g("port").as_i64(),
            hostname: l.g("hostname").as_str(),
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

fn gateways(objs: &[Obj<'_>], kustomize: &BTreeMap<String, String>, out: &mut Vec<Finding>) {
    let certs = cert_manager_secrets(objs);
    let gws: Vec<&Obj<'_>> =
        objs.iter().filter(|o| o.is("gateway.networking.k8s.io", "Gateway")).collect();
    for gw in &gws {
        let f = &gw.file.rel;
        let ls = gw.node.at(&["spec", "listeners"]).map(Node::seq).unwrap_or(&[]);
        let mut https = 0;
        for l in ls {
            let proto = l.g("protocol").as_str().unwrap_or("").to_uppercase();
            if proto != "HTTPS" && proto != "TLS" {
                continue;
            }
            https += 1;
            let lname = l.g("name").scalar_text().unwrap_or_default();
            let refs = l.at(&["tls", "certificateRefs"]).map(Node::seq).unwrap_or(&[]);
            if l.at(&["tls", "mode"]).and_then(Node::as_str) == Some("Passthrough") {
                continue;
            }
            if refs.is_empty() {
                out.push(finding(
                    "K8S004",
                    f,
                    l.line,
                    format!("Gateway {} listener {lname} has no tls.certificateRefs", gw.name()),
                ));
                continue;
            }
            for r in refs {
                let secret = r.g("name").as_str().unwrap_or("");
                if !has_issuer_annotation(gw) && !certs.contains(secret) {
                    out.push(finding(
                        "K8S004",
                        f,
                        r.line,
                        format!("Gateway {} listener {lname}: certificate {secret} is not issued by cert-manager (no issuer annotation, no Certificate with that secretName)", gw.name()),
                    ));
                }
            }
        }
        if https == 0 {
            out.push(finding(
                "K8S004",
                f,
                gw.line(),
                format!("Gateway {} has no HTTPS listener", gw.name()),
            ));
        }
    }
    for route in objs.iter().filter(|o| o.is("gateway.networking.k8s.io", "HTTPRoute")) {
        let f = &route.file.rel;
        let route_ns = route.ns(kustomize);
        let spec = route.node.g("spec");
        let redirect_only = !spec.g("rules").seq().is_empty()
            && spec.g("rules").seq().iter().all(|rule| {
                rule.g("backendRefs").seq().is_empty()
                    && rule.g("filters").seq().iter().any(|flt| {
                        flt.g("type").as_str() == Some("RequestRedirect")
                            && flt.at(&["requestRedirect", "scheme"]).and_then(Node::as_str)
                                == Some("https")
                    })
            });
        for pref in spec.g("parentRefs").seq() {
            if pref.g("kind").as_str().is_some_and(|k| k != "Gateway") {
                continue;
            }
            let gname = pref.g("name").as_str().unwrap_or("");
            let gns = pref.g("namespace").as_str().map(str::to_owned).or_else(|| route_ns.clone());
            let Some(gw) = gws.iter().find(|g| {
                g.name() == gname
                    && (gns.is_none() || g.ns(kustomize) == gns || g.ns(kustomize).is_none())
            }) else {
                continue; // the Gateway is not in this tree: nothing to compare with
            };
            let section = pref.g("sectionName").scalar_text();
            let port = pref.g("port").as_i64();
            let attached: Vec<Listener<'_>> = listeners(gw)
                .into_iter()
                .filter(|l| {
                    section.as_ref().is_none_or(|s| *s == l.name)
                        && port.is_none_or(|p| l.port == Some(p))
                })
                .collect();
            if let Some(plain) = attached.iter().find(|l| l.protocol == "HTTP")
                && !redirect_only
            {
                out.push(finding(
                    "K8S005",
                    f,
                    pref.line,
                    format!("HTTPRoute {} serves plain HTTP through listener {} of Gateway {gname} (only an https redirect may attach there)", route.name(), plain.name),
                ));
            }
            if redirect_only {
                continue;
            }
            let secure: Vec<&Listener<'_>> =
                attached.iter().filter(|l| l.protocol == "HTTPS").collect();
            let hosts = spec.g("hostnames").seq();
            if hosts.is_empty() && secure.is_empty() {
                out.push(finding(
                    "K8S005",
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
                    out.push(finding("K8S005", f, h.line, format!("HTTPRoute {} host {host} is not served by an HTTPS listener of Gateway {gname}", route.name())));
                }
            }
        }
    }
}

fn ingress(o: &Obj<'_>, objs: &[Obj<'_>], out: &mut Vec<Finding>) {
    let f = &o.file.rel;
    let spec = o.node.g("spec");
    let tls = spec.g("tls").seq();
    if tls.is_empty() {
        out.push(finding("K8S006", f, o.line(), format!("Ingress {} has no spec.tls", o.name())));
        return;
    }
    let tls_hosts: BTreeSet<String> =
        tls.iter().flat_map(|t| t.g("hosts").seq().iter().filter_map(Node::scalar_text)).collect();
    for rule in spec.g("rules").seq() {
        if let Some(h) = rule.g("host").as_str()
            && !tls_hosts.contains(h)
        {
            out.push(finding(
                "K8S006",
                f,
                rule.key_line("host"),
                format!("Ingress {} host {h} is not covered by spec.tls", o.name()),
            ));
        }
    }
    let certs = cert_manager_secrets(objs);
    let all_cm = tls.iter().all(|t| t.g("secretName").as_str().is_some_and(|s| certs.contains(s)));
    if !has_issuer_annotation(o) && !all_cm {
        out.push(finding("K8S006", f, o.line(), format!("Ingress {} TLS is not from cert-manager (add a cert-manager.io/cluster-issuer annotation)", o.name())));
    }
}

fn plain_secret(o: &Obj<'_>, out: &mut Vec<Finding>) {
    for key in ["data", "stringData"] {
        if let Some(e) = o.node.entry(key)
            && !e.value.entries().is_empty()
        {
            out.push(finding(
                "K8S007",
                &o.file.rel,
                e.key_line,
                format!(
                    "Secret {} commits {key} in plain text (base64 is not encryption)",
                    o.name()
                ),
            ));
        }
    }
}

// ---------------------------------------------------------------- workloads

/// The pod spec of a workload, and whether it runs long (probes required).
fn pod_spec<'a>(o: &Obj<'a>) -> Option<(&'a Node, bool)> {
    let n = o.node;
    match (o.group(), o.kind) {
        ("", "Pod") => Some((n.get("spec")?, true)),
        ("apps", "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet") => {
            Some((n.at(&["spec", "template", "spec"])?, true))
        }
        ("batch", "Job") => Some((n.at(&["spec", "template", "spec"])?, false)),
        ("batch", "CronJob") => {
            Some((n.at(&["spec", "jobTemplate", "spec", "template", "spec"])?, false))
        }
        _ => None,
    }
}

fn workload(o: &Obj<'_>, pod: &Node, long_running: bool, out: &mut Vec<Finding>) {
    let f = &o.file.rel;
    let pod_non_root =
        pod.at(&["securityContext", "runAsNonRoot"]).and_then(Node::as_bool) == Some(true);
    let groups = [("containers", true), ("initContainers", false)];
    for (key, main) in groups {
        for c in pod.g(key).seq() {
            let cname = c.g("name").scalar_text().unwrap_or_default();
            let l = c.line;
            let what = format!("{} container {cname}", o.label());
            let res = c.g("resources");
            let missing: Vec<&str> =
                [("requests", "cpu"), ("requests", "memory"), ("limits", "memory")]
                    .into_iter()
                    .filter(|(a, b)| res.at(&[a, b]).is_none_or(Node::is_null))
                    .map(|(a, b)| {
                        if a == "requests" {
                            if b == "cpu" { "requests.cpu" } else { "requests.memory" }
                        } else {
                            "limits.memory"
                        }
                    })
                    .collect();
            if !missing.is_empty() {
                out.push(finding(
                    "K8S008",
                    f,
                    l,
                    format!("{what} has no resources.{}", missing.join(", resources.")),
                ));
            }
            if main && long_running {
                let probes: Vec<&str> = ["livenessProbe", "readinessProbe"]
                    .into_iter()
                    .filter(|p| c.get(p).is_none())
                    .collect();
                if !probes.is_empty() {
                    out.push(finding(
                        "K8S009",
                        f,
                        l,
                        format!("{what} has no {}", probes.join(" and ")),
                    ));
                }
            }
            let c_non_root = c.at(&["securityContext", "runAsNonRoot"]).and_then(Node::as_bool);
            if c_non_root == Some(false) || (!pod_non_root && c_non_root != Some(true)) {
                out.push(finding(
                    "K8S010",
                    f,
                    l,
                    format!("{what} may run as root (runAsNonRoot is not true)"),
                ));
            }
            if c.at(&["securityContext", "readOnlyRootFilesystem"]).and_then(Node::as_bool)
                != Some(true)
            {
                out.push(finding("K8S011", f, l, format!("{what} has a writable root filesystem")));
            }
            if let Some(img) = c.get("image")
                && let Some(problem) = image_problem(img.as_str().unwrap_or(""))
            {
                out.push(finding("K8S012", f, c.key_line("image"), format!("{what}: {problem}")));
            }
        }
    }
}

/// Why an image reference is not pinned, if it is not.
pub fn image_problem(image: &str) -> Option<String> {
    if image.contains("@sha256:") || image.contains("{{") || image.contains("${") {
        return None;
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        None => Some(format!("image {image} has no tag (means :latest)")),
        Some((_, "latest")) => Some(format!("image {image} uses :latest")),
        Some((_, "")) => Some(format!("image {image} has an empty tag")),
        Some(_) => None,
    }
}

/// `image: repo:latest` strings and `{repository, tag: latest}` maps in values.
fn values_images(file: &SourceFile, node: &Node, out: &mut Vec<Finding>) {
    match &node.value {
        Value::Map(entries) => {
            let repo = node.get("repository").and_then(Node::as_str);
            if let Some(repo) = repo
                && let Some(tag) = node.get("tag").and_then(Node::scalar_text)
                && tag == "latest"
            {
                out.push(finding(
                    "K8S012",
                    &file.rel,
                    node.key_line("tag"),
                    format!("image {repo} uses tag latest"),
                ));
            }
            for e in entries {
                if e.key == "image"
                    && let Some(s) = e.value.as_str()
                    && let Some(problem) = image_problem(s)
                {
                    out.push(finding("K8S012", &file.rel, e.key_line, problem));
                }
                values_images(file, &e.value, out);
            }
        }
        Value::Seq(items) => items.iter().for_each(|i| values_images(file, i, out)),
        _ => {}
    }
}

fn service_monitors(
    objs: &[Obj<'_>],
    kustomize: &BTreeMap<String, String>,
    out: &mut Vec<Finding>,
) {
    let monitors: Vec<&Obj<'_>> =
        objs.iter().filter(|o| o.is("monitoring.coreos.com", "ServiceMonitor")).collect();
    for svc in objs.iter().filter(|o| o.is("", "Service")) {
        let ports = svc.node.at(&["spec", "ports"]).map(Node::seq).unwrap_or(&[]);
        let metrics_port =
            ports.iter().any(|p| p.g("name").as_str().is_some_and(|n| n.contains("metrics")));
        let scrape = svc.annotation("prometheus.io/scrape").and_then(Node::scalar_text).as_deref()
            == Some("true");
        if !(metrics_port || scrape) {
            continue;
        }
        let svc_ns = svc.ns(kustomize);
        let labels = svc.node.at(&["metadata", "labels"]);
        let covered = monitors.iter().any(|m| {
            let spec = m.node.g("spec");
            let nsel = spec.g("namespaceSelector");
            let ns_ok = nsel.g("any").as_bool() == Some(true)
                || nsel.g("matchNames").seq().iter().any(|n| n.as_str() == svc_ns.as_deref())
                || (nsel.g("matchNames").seq().is_empty() && m.ns(kustomize) == svc_ns);
            let sel = spec.at(&["selector", "matchLabels"]);
            let labels_ok = sel.is_none_or(|sel| {
                sel.entries().iter().all(|e| {
                    labels.and_then(|l| l.get(&e.key)).and_then(Node::scalar_text)
                        == e.value.scalar_text()
                })
            });
            ns_ok && labels_ok
        });
        if !covered {
            out.push(finding(
                "K8S013",
                &svc.file.rel,
                svc.line(),
                format!("Service {} exposes metrics but no ServiceMonitor selects it", svc.name()),
            ));
        }
    }
}

// ---------------------------------------------------------------- Argo CD

/// Where Argo CD runs (Applications whose destination is this namespace are apps-of-apps).
pub const ARGOCD_NAMESPACE: &str = "argocd";
const SYNC_WAVE: &str = "argocd.argoproj.io/sync-wave";

/// `app` is the Application (or an ApplicationSet's template).
fn application(o: &Obj<'_>, app: &Node, objs: &[Obj<'_>], out: &mut Vec<Finding>) {
    let f = &o.file.rel;
    let name = app.at(&["metadata", "name"]).and_then(Node::as_str).unwrap_or(o.name());
    let meta_line = app.get("metadata").map_or(o.line(), |m| m.line);
    if app.at(&["metadata", "annotations", SYNC_WAVE]).is_none() {
        let l = if std::ptr::eq(app, o.node) { o.node.key_line("metadata") } else { meta_line };
        out.push(finding(
            "ARGO001",
            f,
            l,
            format!("{} {name} has no {SYNC_WAVE} annotation", o.kind),
        ));
    }
    let spec = app.g("spec");
    let project = spec.g("project").as_str();
    match project {
        None | Some("default") | Some("") => {
            let l = if spec.get("project").is_some() {
                spec.key_line("project")
            } else {
                app.key_line("spec")
            };
            out.push(finding(
                "ARGO002",
                f,
                l,
                format!("{} {name} uses the default project", o.kind),
            ));
        }
        Some(_) => {}
    }
    let dest_ns = spec.at(&["destination", "namespace"]).and_then(Node::as_str).unwrap_or("");
    // An app-of-apps (destination: the Argo CD namespace) only creates Applications;
    // it is judged through them, and each of them is checked here itself.
    let app_of_apps = dest_ns == ARGOCD_NAMESPACE;
    let production = is_production_path(dest_ns)
        || project.is_some_and(is_production_path)
        || (!app_of_apps && (is_production_path(name) || is_production_path(&o.file.rel)));
    if production && let Some(auto) = spec.at(&["syncPolicy"]).and_then(|s| s.entry("automated")) {
        let windows = objs.iter().any(|p| {
            p.is("argoproj.io", "AppProject")
                && Some(p.name()) == project
                && !p.node.at(&["spec", "syncWindows"]).map(Node::seq).unwrap_or(&[]).is_empty()
        });
        if !windows {
            out.push(finding(
                "ARGO003",
                f,
                auto.key_line,
                format!("production {} {name} syncs automatically and its project has no syncWindows: changes skip approval", o.kind),
            ));
        }
    }
}

// ---------------------------------------------------------------- observability

/// Duration in hours of a Prometheus/Loki duration (`720h`, `30d`, `4w`, `1y`).
pub fn duration_hours(s: &str) -> Option<f64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let mut total = 0.0;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        if c == 'm' && chars.peek() == Some(&'s') {
            unit.push('s');
            chars.next();
        }
        let n: f64 = num.parse().ok()?;
        num.clear();
        total += n * match unit.as_str() {
            "ms" => 1.0 / 3_600_000.0,
            "s" => 1.0 / 3600.0,
            "m" => 1.0 / 60.0,
            "h" => 1.0,
            "d" => 24.0,
            "w" => 168.0,
            "y" => 8760.0,
            _ => return None,
        };
    }
    if !num.is_empty() {
        total += num.parse::<f64>().ok()? / 3600.0; // bare number: seconds
    }
    Some(total)
}

fn find_key<'a>(node: &'a Node, key: &str, acc: &mut Vec<(usize, &'a Node)>) {
    match &node.value {
        Value::Map(entries) => {
            for e in entries {
                if e.key == key {
                    acc.push((e.key_line, &e.value));
                }
                find_key(&e.value, key, acc);
            }
        }
        Value::Seq(items) => items.iter().for_each(|i| find_key(i, key, acc)),
        _ => {}
    }
}

fn chart_names(app: &Node) -> Vec<&str> {
    let spec = app.g("spec");
    let mut out = Vec::new();
    for src in std::iter::once(spec.g("source")).chain(spec.g("sources").seq()) {
        if let Some(c) = src.g("chart").as_str() {
            out.push(c);
        }
    }
    out
}

/// Loki configuration trees: (file, node, line offset for nodes parsed from strings).
/// Loki config trees (file, tree, line offset) and where Loki is deployed.
type LokiSources<'a> = (Vec<(&'a SourceFile, Node, usize)>, Option<(&'a SourceFile, usize)>);

fn loki_sources<'a>(repo: &'a Repo, objs: &[Obj<'a>]) -> LokiSources<'a> {
    let mut trees = Vec::new();
    let mut deployed = None;
    for f in repo.files.iter().filter(|f| {
        matches!(f.kind, Kind::HelmValues | Kind::Manifest) && f.rel.to_lowercase().contains("loki")
    }) {
        for d in f.docs.iter().filter(|d| d.get("kind").is_none()) {
            trees.push((f, d.clone(), 0));
            deployed.get_or_insert((f, 1));
        }
    }
    for o in objs {
        let app = match (o.group(), o.kind) {
            ("argoproj.io", "Application") => o.node,
            ("argoproj.io", "ApplicationSet") => o.node.g("spec").g("template"),
            _ => continue,
        };
        if !chart_names(app).iter().any(|c| c.starts_with("loki")) {
            continue;
        }
        deployed = Some((o.file, o.line()));
        let spec = app.g("spec");
        for src in std::iter::once(spec.g("source")).chain(spec.g("sources").seq()) {
            let helm = src.g("helm");
            if let Some(v) = helm.get("valuesObject") {
                trees.push((o.file, v.clone(), 0));
            }
            if let Some(v) = helm.get("values")
                && let Some(text) = v.as_str()
                && let Ok(docs) = yaml::parse_documents(text)
            {
                let offset = helm.key_line("values");
                trees.extend(docs.into_iter().map(|d| (o.file, d, offset)));
            }
        }
    }
    (trees, deployed)
}

fn loki_retention(repo: &Repo, objs: &[Obj<'_>], out: &mut Vec<Finding>) {
    let (trees, deployed) = loki_sources(repo, objs);
    let mut seen = false;
    for (file, tree, offset) in &trees {
        let mut hits = Vec::new();
        find_key(tree, "retention_period", &mut hits);
        for (l, v) in hits {
            seen = true;
            let text = v.scalar_text().unwrap_or_default();
            match duration_hours(&text) {
                Some(h) if h == 0.0 || h >= 720.0 => {}
                Some(h) => out.push(finding(
                    "OBS001",
                    &file.rel,
                    l + offset,
                    format!("Loki retention_period {text} is {h}h, under 720h"),
                )),
                None => out.push(finding(
                    "OBS001",
                    &file.rel,
                    l + offset,
                    format!("Loki retention_period {text:?} is not a duration"),
                )),
            }
        }
    }
    if !seen && let Some((file, l)) = deployed {
        out.push(finding(
            "OBS001",
            &file.rel,
            l,
            "Loki is deployed but no retention_period is set (720h or more required)",
        ));
    }
}

/// Terraform roots under infra/terraform/envs/ that are not workload environments
/// (account-wide resources such as the state bucket): OBS002 does not apply to them.
pub const NON_CLUSTER_ENVS: &[&str] = &["global", "shared", "common", "bootstrap"];

const STACK: &[(&str, &[&str])] = &[
    ("kube-prometheus-stack", &["kube-prometheus-stack"]),
    ("Loki", &["loki", "loki-distributed", "loki-stack"]),
    ("Tempo", &["tempo", "tempo-distributed"]),
];

fn observability_stack(repo: &Repo, objs: &[Obj<'_>], out: &mut Vec<Finding>) {
    let apps: Vec<&Obj<'_>> = objs
        .iter()
        .filter(|o| {
            o.group() == "argoproj.io" && matches!(o.kind, "Application" | "ApplicationSet")
        })
        .collect();
    let Some(first) = apps.first() else { return };
    // (component, env or "" for shared)
    let mut present: BTreeSet<(&str, String)> = BTreeSet::new();
    let envs_of = |text: &str| -> Vec<String> {
        repo.envs
            .iter()
            .filter(|e| text.split(['/', '-', '_', '.']).any(|p| p == e.as_str()))
            .cloned()
            .collect()
    };
    let mut add = |charts: &[&str], context: String| {
        for (comp, names) in STACK {
            if charts.iter().any(|c| names.contains(c)) {
                let envs = envs_of(&context);
                if envs.is_empty() {
                    present.insert((comp, String::new()));
                }
                for e in envs {
                    present.insert((comp, e));
                }
            }
        }
    };
    for o in &apps {
        let app = if o.kind == "Application" { o.node } else { o.node.g("spec").g("template") };
        let dest =
            app.at(&["spec", "destination", "namespace"]).and_then(Node::as_str).unwrap_or("");
        let name = app.at(&["metadata", "name"]).and_then(Node::as_str).unwrap_or("");
        add(&chart_names(app), format!("{} {name} {dest}", o.file.rel).replace(' ', "/"));
    }
    for f in repo.files.iter().filter(|f| f.kind == Kind::ChartMeta) {
        for d in &f.docs {
            let deps: Vec<&str> =
                d.g("dependencies").seq().iter().filter_map(|x| x.g("name").as_str()).collect();
            add(&deps, f.rel.clone());
        }
    }
    let cluster_envs: Vec<String> =
        repo.envs.iter().filter(|e| !NON_CLUSTER_ENVS.contains(&e.as_str())).cloned().collect();
    let envs: Vec<String> =
        if cluster_envs.is_empty() { vec![String::new()] } else { cluster_envs };
    for (comp, _) in STACK {
        for env in &envs {
            let ok = present.contains(&(*comp, String::new()))
                || present.contains(&(*comp, env.clone()));
            if !ok {
                let which =
                    if env.is_empty() { String::new() } else { format!(" for environment {env}") };
                out.push(finding(
                    "OBS002",
                    &first.file.rel,
                    0,
                    format!("no Argo CD Application deploys {comp}{which}"),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration_hours("720h"), Some(720.0));
        assert_eq!(duration_hours("30d"), Some(720.0));
        assert_eq!(duration_hours("4w"), Some(672.0));
        assert_eq!(duration_hours("1h30m"), Some(1.5));
        assert_eq!(duration_hours("0s"), Some(0.0));
        assert_eq!(duration_hours("soon"), None);
    }

    #[test]
    fn images() {
        assert!(image_problem("nginx").is_some());
        assert!(image_problem("nginx:latest").is_some());
        assert!(image_problem("registry:5000/nginx").is_some());
        assert!(image_problem("registry:5000/nginx:1.27").is_none());
        assert!(image_problem("ghcr.io/x/y@sha256:abcd").is_none());
    }
}
