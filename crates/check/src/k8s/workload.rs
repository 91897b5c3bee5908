//! Workloads: K8S007 (no plain Secrets), K8S008-K8S012 (resources, probes,
//! non-root, read-only root filesystem, pinned images, also in Helm values)
//! and K8S013 (metrics Services have a ServiceMonitor).

use super::{Obj, Objects};
use crate::walk::{Kind, SourceFile};
use crate::yaml::{Node, Value};
use crate::{Context, Family, Finding, RuleId, finding};

pub const FAMILY: Family = Family {
    name: "workload",
    rules: &[
        RuleId::K8s007,
        RuleId::K8s008,
        RuleId::K8s009,
        RuleId::K8s010,
        RuleId::K8s011,
        RuleId::K8s012,
        RuleId::K8s013,
    ],
    run: check,
};

fn check(ctx: &Context<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for o in &ctx.k8s.all {
        if o.is("", "Secret") {
            plain_secret(o, &mut out);
        }
        if let Some((pod, long_running)) = pod_spec(o) {
            workload(o, pod, long_running, &mut out);
        }
    }
    service_monitors(&ctx.k8s, &mut out);
    for file in
        ctx.repo.files.iter().filter(|f| matches!(f.kind, Kind::HelmValues | Kind::Manifest))
    {
        for doc in file.docs.iter().filter(|d| d.get("kind").is_none()) {
            values_images(file, doc, &mut out);
        }
    }
    out
}

fn plain_secret(o: &Obj<'_>, out: &mut Vec<Finding>) {
    for key in ["data", "stringData"] {
        if let Some(e) = o.node.entry(key)
            && !e.value.entries().is_empty()
        {
            out.push(finding(
                RuleId::K8s007,
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

/// The pod spec of a workload, and whether it runs long (probes required).
pub(crate) fn pod_spec<'a>(o: &Obj<'a>) -> Option<(&'a Node, bool)> {
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
        for c in pod.field(key).seq() {
            let cname = c.field("name").scalar_text().unwrap_or_default();
            let l = c.line;
            let what = format!("{} container {cname}", o.label());
            let res = c.field("resources");
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
                    RuleId::K8s008,
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
                        RuleId::K8s009,
                        f,
                        l,
                        format!("{what} has no {}", probes.join(" and ")),
                    ));
                }
            }
            let c_non_root = c.at(&["securityContext", "runAsNonRoot"]).and_then(Node::as_bool);
            if c_non_root == Some(false) || (!pod_non_root && c_non_root != Some(true)) {
                out.push(finding(
                    RuleId::K8s010,
                    f,
                    l,
                    format!("{what} may run as root (runAsNonRoot is not true)"),
                ));
            }
            if c.at(&["securityContext", "readOnlyRootFilesystem"]).and_then(Node::as_bool)
                != Some(true)
            {
                out.push(finding(
                    RuleId::K8s011,
                    f,
                    l,
                    format!("{what} has a writable root filesystem"),
                ));
            }
            if let Some(img) = c.get("image")
                && let Some(problem) = image_problem(img.as_str().unwrap_or(""))
            {
                out.push(finding(
                    RuleId::K8s012,
                    f,
                    c.key_line("image"),
                    format!("{what}: {problem}"),
                ));
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
                    RuleId::K8s012,
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
                    out.push(finding(RuleId::K8s012, &file.rel, e.key_line, problem));
                }
                values_images(file, &e.value, out);
            }
        }
        Value::Seq(items) => items.iter().for_each(|i| values_images(file, i, out)),
        _ => {}
    }
}

fn service_monitors(objs: &Objects<'_>, out: &mut Vec<Finding>) {
    let monitors: Vec<&Obj<'_>> = objs.of("monitoring.coreos.com", "ServiceMonitor").collect();
    for svc in objs.of("", "Service") {
        let ports = svc.node.at(&["spec", "ports"]).map(Node::seq).unwrap_or(&[]);
        let metrics_port =
            ports.iter().any(|p| p.field("name").as_str().is_some_and(|n| n.contains("metrics")));
        let scrape = svc.annotation("prometheus.io/scrape").and_then(Node::scalar_text).as_deref()
            == Some("true");
        if !(metrics_port || scrape) {
            continue;
        }
        let svc_ns = objs.namespace_of(svc);
        let labels = svc.node.at(&["metadata", "labels"]);
        let covered = monitors.iter().any(|m| {
            let spec = m.node.field("spec");
            let nsel = spec.field("namespaceSelector");
            let ns_ok = nsel.field("any").as_bool() == Some(true)
                || nsel.field("matchNames").seq().iter().any(|n| n.as_str() == svc_ns.as_deref())
                || (nsel.field("matchNames").seq().is_empty() && objs.namespace_of(m) == svc_ns);
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
                RuleId::K8s013,
                &svc.file.rel,
                svc.line(),
                format!("Service {} exposes metrics but no ServiceMonitor selects it", svc.name()),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images() {
        assert!(image_problem("nginx").is_some());
        assert!(image_problem("nginx:latest").is_some());
        assert!(image_problem("registry:5000/nginx").is_some());
        assert!(image_problem("registry:5000/nginx:1.27").is_none());
        assert!(image_problem("ghcr.io/x/y@sha256:abcd").is_none());
    }
}
