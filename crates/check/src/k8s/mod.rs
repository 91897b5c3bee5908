//! Kubernetes objects of the manifests, and the rule families over them:
//! [`network`] (K8S001-K8S003, K8S014), [`tls`] (K8S004-K8S006, K8S015,
//! K8S016) and [`workload`] (K8S007-K8S013). Argo CD and observability rules
//! have their own modules ([`crate::argocd`], [`crate::observability`]).

pub mod network;
pub mod tls;
pub mod workload;

use std::collections::BTreeMap;

use crate::walk::{Kind, Repo, SourceFile};
use crate::yaml::Node;

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
    pub fn line(&self) -> usize {
        self.node.key_line("kind")
    }
    /// The line of `metadata.name` (else of `kind`).
    pub fn name_line(&self) -> usize {
        self.node.get("metadata").map_or(self.line(), |m| m.key_line("name"))
    }
    pub fn annotation(&self, key: &str) -> Option<&'a Node> {
        self.node.at(&["metadata", "annotations", key])
    }
    pub fn spec(&self) -> &'a Node {
        self.node.field("spec")
    }
    pub fn is(&self, group: &str, kind: &str) -> bool {
        self.kind == kind && self.group() == group
    }
    pub fn label(&self) -> String {
        format!("{} {}", self.kind, self.name())
    }
}

/// Every object of the Manifest files, and where each folder's objects live
/// (a Kustomization's `namespace:` applies to the folder below it).
pub struct Objects<'a> {
    pub all: Vec<Obj<'a>>,
    /// Folder -> namespace, from kustomization files.
    kustomize_namespaces: BTreeMap<String, String>,
}

impl<'a> Objects<'a> {
    pub fn new(repo: &'a Repo) -> Self {
        let mut all = Vec::new();
        for file in repo.files.iter().filter(|f| f.kind == Kind::Manifest) {
            for doc in &file.docs {
                if let (Some(api), Some(kind)) =
                    (doc.field("apiVersion").as_str(), doc.field("kind").as_str())
                {
                    all.push(Obj { file, node: doc, api, kind });
                }
            }
        }
        let mut kustomize_namespaces = BTreeMap::new();
        for o in all.iter().filter(|o| is_kustomization(o)) {
            if let Some(ns) = o.node.field("namespace").as_str() {
                kustomize_namespaces.insert(dir_of(&o.file.rel).to_owned(), ns.to_owned());
            }
        }
        Objects { all, kustomize_namespaces }
    }

    /// Objects of one group and kind.
    pub fn of<'s>(&'s self, group: &'s str, kind: &'s str) -> impl Iterator<Item = &'s Obj<'a>> {
        self.all.iter().filter(move |o| o.is(group, kind))
    }

    /// Argo CD Applications, and the Application template of each ApplicationSet:
    /// (the object, the Application node).
    pub fn applications(&self) -> impl Iterator<Item = (&Obj<'a>, &'a Node)> {
        self.all.iter().filter_map(|o| match (o.group(), o.kind) {
            ("argoproj.io", "Application") => Some((o, o.node)),
            ("argoproj.io", "ApplicationSet") => o.node.at(&["spec", "template"]).map(|t| (o, t)),
            _ => None,
        })
    }

    /// The namespace of an object: its metadata.namespace, else the namespace
    /// of the nearest kustomization above it.
    pub fn namespace_of(&self, o: &Obj<'_>) -> Option<String> {
        if let Some(ns) = o.node.at(&["metadata", "namespace"]).and_then(Node::as_str) {
            return Some(ns.to_owned());
        }
        let mut dir = o.file.rel.as_str();
        while let Some((parent, _)) = dir.rsplit_once('/') {
            if let Some(ns) = self.kustomize_namespaces.get(parent) {
                return Some(ns.clone());
            }
            dir = parent;
        }
        None
    }
}

pub fn is_kustomization(o: &Obj<'_>) -> bool {
    o.kind == "Kustomization" && o.group().starts_with("kustomize.config.k8s.io")
}

/// The folder of a relative path (`""` at the root).
pub fn dir_of(rel: &str) -> &str {
    rel.rsplit_once('/').map_or("", |(d, _)| d)
}

/// Helm chart names of an Application's source(s).
pub fn chart_names(app: &Node) -> Vec<&str> {
    sources(app).filter_map(|s| s.field("chart").as_str()).collect()
}

/// An Application's `source` and every entry of `sources`.
pub fn sources(app: &Node) -> impl Iterator<Item = &Node> {
    let spec = app.field("spec");
    spec.get("source").into_iter().chain(spec.field("sources").seq())
}

/// Whether a label selector (`matchLabels` map) is empty: it selects every pod.
pub fn is_empty_selector(n: Option<&Node>) -> bool {
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
