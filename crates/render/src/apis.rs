//! The API resources a cluster serves: built in, installed by LKE, provided by
//! the tree's own CRDs, or by an external source on the known list.
//!
//! Argo CD renders every chart with `--api-versions` listing what the cluster
//! serves, in both forms `group/version` and `group/version/Kind`. Offline,
//! "the cluster" is the tree itself once synced: the CRDs its charts and
//! manifests create, the external sources below, and what LKE installs.
//! Helm already knows the built-in Kubernetes APIs of `--kube-version`.

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;
use serde_json::Value;

/// One kind the cluster serves, and whether its objects live in a namespace.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ApiResource {
    /// API group; empty for the core group.
    pub group: String,
    pub version: String,
    pub kind: String,
    pub namespaced: bool,
}

impl ApiResource {
    pub fn new(group: &str, version: &str, kind: &str, namespaced: bool) -> Self {
        Self { group: group.into(), version: version.into(), kind: kind.into(), namespaced }
    }

    /// `group/version`, or `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The two strings Argo CD passes to `helm template --api-versions` for it.
    pub fn helm_strings(&self) -> [String; 2] {
        let gv = self.api_version();
        let gvk = format!("{gv}/{}", self.kind);
        [gv, gvk]
    }
}

/// The served kinds a CustomResourceDefinition object declares (none when the
/// object is not a CRD or is malformed; strict schema validation reports that).
pub fn from_crd(obj: &Value) -> Vec<ApiResource> {
    if obj["kind"] != "CustomResourceDefinition"
        || !obj["apiVersion"].as_str().is_some_and(|a| a.starts_with("apiextensions.k8s.io/"))
    {
        return Vec::new();
    }
    let spec = &obj["spec"];
    let (Some(group), Some(kind)) = (spec["group"].as_str(), spec["names"]["kind"].as_str()) else {
        return Vec::new();
    };
    let namespaced = spec["scope"].as_str() != Some("Cluster");
    let mut versions: Vec<&str> = spec["versions"]
        .as_array()
        .map(|vs| {
            vs.iter()
                .filter(|v| v["served"].as_bool() != Some(false))
                .filter_map(|v| v["name"].as_str())
                .collect()
        })
        .unwrap_or_default();
    // apiextensions.k8s.io/v1beta1 CRDs may name a single `spec.version`.
    if let Some(v) = spec["version"].as_str()
        && !versions.contains(&v)
    {
        versions.push(v);
    }
    versions.into_iter().map(|v| ApiResource::new(group, v, kind, namespaced)).collect()
}

/// An external Git source that the render cannot read, with what it installs.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ExternalSource {
    pub repo_url: &'static str,
    pub revision: &'static str,
    pub path: &'static str,
    /// The commit the revision (a tag) points at, for review.
    pub commit: &'static str,
    /// (group, version, kind, namespaced) of every CRD the source installs.
    pub provides: &'static [(&'static str, &'static str, &'static str, bool)],
    pub why: &'static str,
}

impl ExternalSource {
    pub fn resources(&self) -> Vec<ApiResource> {
        self.provides.iter().map(|(g, v, k, n)| ApiResource::new(g, v, k, *n)).collect()
    }
}

/// External sources the tree may use. Their objects are not rendered (the
/// chart cache holds Helm charts only, and the render never fetches Git); the
/// kinds they install are known to every chart and to the sync-order checks.
/// Changing a source's revision without updating this list is an error, so
/// the list cannot drift from the tree.
pub const EXTERNAL_SOURCES: &[ExternalSource] = &[ExternalSource {
    repo_url: "https://github.com/kubernetes-sigs/gateway-api.git",
    revision: "v1.3.0",
    path: "config/crd/standard",
    commit: "40be951cebe5cb3f0365fe6951403de4ff8b9f33",
    provides: &[
        ("gateway.networking.k8s.io", "v1", "GatewayClass", false),
        ("gateway.networking.k8s.io", "v1beta1", "GatewayClass", false),
        ("gateway.networking.k8s.io", "v1", "Gateway", true),
        ("gateway.networking.k8s.io", "v1beta1", "Gateway", true),
        ("gateway.networking.k8s.io", "v1", "HTTPRoute", true),
        ("gateway.networking.k8s.io", "v1beta1", "HTTPRoute", true),
        ("gateway.networking.k8s.io", "v1", "GRPCRoute", true),
        ("gateway.networking.k8s.io", "v1beta1", "ReferenceGrant", true),
    ],
    why: "Gateway API standard-channel CRDs, published as plain manifests in Git (no Helm chart); \
their JSON schemas are in ../shared/schemas/crds/gateway.networking.k8s.io",
}];

/// The known external source matching an Application source, if any.
pub fn external_source(
    repo_url: &str,
    revision: &str,
    path: &str,
) -> Option<&'static ExternalSource> {
    EXTERNAL_SOURCES.iter().find(|s| {
        same_repo(s.repo_url, repo_url)
            && s.revision == revision
            && trim_path(s.path) == trim_path(path)
    })
}

/// A known external repository at another revision or path: a hint for the error.
pub fn external_hint(repo_url: &str) -> Option<&'static ExternalSource> {
    EXTERNAL_SOURCES.iter().find(|s| same_repo(s.repo_url, repo_url))
}

fn trim_path(p: &str) -> &str {
    p.trim_start_matches("./").trim_matches('/')
}

/// Git URLs compared the way people write them: case-insensitive, with or
/// without `.git` and a trailing slash.
pub fn same_repo(a: &str, b: &str) -> bool {
    fn norm(u: &str) -> String {
        let u = u.trim().trim_end_matches('/').to_ascii_lowercase();
        u.strip_suffix(".git").map(str::to_owned).unwrap_or(u)
    }
    norm(a) == norm(b)
}

/// Installed by LKE itself before Argo CD runs: Calico is the cluster's CNI
/// and policy engine, and its CRDs (`crd.projectcalico.org/v1`, without the
/// Calico API server) are what the tree's GlobalNetworkPolicy uses (see
/// docs/gitops.md, "Which Calico API group").
pub const CLUSTER_PROVIDED: &[(&str, &str, &str, bool)] = &[
    ("crd.projectcalico.org", "v1", "GlobalNetworkPolicy", false),
    ("crd.projectcalico.org", "v1", "GlobalNetworkSet", false),
    ("crd.projectcalico.org", "v1", "HostEndpoint", false),
    ("crd.projectcalico.org", "v1", "NetworkPolicy", true),
    ("crd.projectcalico.org", "v1", "NetworkSet", true),
];

pub fn cluster_provided() -> Vec<ApiResource> {
    CLUSTER_PROVIDED.iter().map(|(g, v, k, n)| ApiResource::new(g, v, k, *n)).collect()
}

/// API groups built into Kubernetes (Helm knows their versions already).
const BUILTIN_GROUPS: &[&str] = &[
    "",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "apiregistration.k8s.io",
    "apps",
    "authentication.k8s.io",
    "authorization.k8s.io",
    "autoscaling",
    "batch",
    "certificates.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
    "events.k8s.io",
    "flowcontrol.apiserver.k8s.io",
    "internal.apiserver.k8s.io",
    "networking.k8s.io",
    "node.k8s.io",
    "policy",
    "rbac.authorization.k8s.io",
    "resource.k8s.io",
    "scheduling.k8s.io",
    "storage.k8s.io",
    "storagemigration.k8s.io",
];

/// Built-in kinds that are not namespaced (Kubernetes 1.34).
const BUILTIN_CLUSTER_SCOPED: &[(&str, &str)] = &[
    ("", "ComponentStatus"),
    ("", "Namespace"),
    ("", "Node"),
    ("", "PersistentVolume"),
    ("admissionregistration.k8s.io", "MutatingAdmissionPolicy"),
    ("admissionregistration.k8s.io", "MutatingAdmissionPolicyBinding"),
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"),
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("apiregistration.k8s.io", "APIService"),
    ("authentication.k8s.io", "SelfSubjectReview"),
    ("authentication.k8s.io", "TokenReview"),
    ("authorization.k8s.io", "SelfSubjectAccessReview"),
    ("authorization.k8s.io", "SelfSubjectRulesReview"),
    ("authorization.k8s.io", "SubjectAccessReview"),
    ("certificates.k8s.io", "CertificateSigningRequest"),
    ("certificates.k8s.io", "ClusterTrustBundle"),
    ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
    ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
    ("internal.apiserver.k8s.io", "StorageVersion"),
    ("networking.k8s.io", "IPAddress"),
    ("networking.k8s.io", "IngressClass"),
    ("networking.k8s.io", "ServiceCIDR"),
    ("node.k8s.io", "RuntimeClass"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("resource.k8s.io", "DeviceClass"),
    ("resource.k8s.io", "ResourceSlice"),
    ("scheduling.k8s.io", "PriorityClass"),
    ("storage.k8s.io", "CSIDriver"),
    ("storage.k8s.io", "CSINode"),
    ("storage.k8s.io", "StorageClass"),
    ("storage.k8s.io", "VolumeAttachment"),
    ("storage.k8s.io", "VolumeAttributesClass"),
    ("storagemigration.k8s.io", "StorageVersionMigration"),
];

/// Whether an API group is built into Kubernetes (its kinds need no CRD).
pub fn is_builtin_group(group: &str) -> bool {
    BUILTIN_GROUPS.contains(&group)
}

/// The group of an `apiVersion` (`""` for the core group).
pub fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(g, _)| g)
}

/// What the render knows about kinds: the built-in ones and every
/// [`ApiResource`] added (CRDs, external sources, LKE).
#[derive(Debug, Clone, Default)]
pub struct ApiSet {
    resources: BTreeSet<ApiResource>,
    scope: HashMap<(String, String), bool>,
}

impl ApiSet {
    /// Add resources; returns how many were new.
    pub fn extend(&mut self, items: impl IntoIterator<Item = ApiResource>) -> usize {
        let mut added = 0;
        for r in items {
            self.scope.insert((r.group.clone(), r.kind.clone()), r.namespaced);
            if self.resources.insert(r) {
                added += 1;
            }
        }
        added
    }

    pub fn resources(&self) -> &BTreeSet<ApiResource> {
        &self.resources
    }

    /// Whether objects of this kind are namespaced; `None` when the kind is
    /// neither built in nor provided by anything the render knows.
    pub fn namespaced(&self, api_version: &str, kind: &str) -> Option<bool> {
        let group = group_of(api_version);
        if BUILTIN_GROUPS.contains(&group) {
            return Some(!BUILTIN_CLUSTER_SCOPED.contains(&(group, kind)));
        }
        self.scope.get(&(group.to_owned(), kind.to_owned())).copied()
    }

    /// The `--api-versions` values for helm, sorted and without duplicates.
    pub fn helm_args(&self) -> Vec<String> {
        let set: BTreeSet<String> = self.resources.iter().flat_map(|r| r.helm_strings()).collect();
        set.into_iter().collect()
    }

    /// The `group/version`s of `self` that `older` lacks.
    pub fn new_since(&self, older: &ApiSet) -> BTreeSet<String> {
        self.resources.difference(&older.resources).map(ApiResource::api_version).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn crd_yields_its_served_versions_and_scope() {
        let crd = json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "spec": {"group": "monitoring.coreos.com", "scope": "Namespaced",
                     "names": {"kind": "ServiceMonitor"},
                     "versions": [{"name": "v1", "served": true}, {"name": "v1alpha1", "served": false}]}
        });
        assert_eq!(
            from_crd(&crd),
            vec![ApiResource::new("monitoring.coreos.com", "v1", "ServiceMonitor", true)]
        );
        assert_eq!(
            ApiResource::new("monitoring.coreos.com", "v1", "ServiceMonitor", true).helm_strings(),
            [
                "monitoring.coreos.com/v1".to_owned(),
                "monitoring.coreos.com/v1/ServiceMonitor".to_owned()
            ]
        );
        assert!(from_crd(&json!({"kind": "ConfigMap"})).is_empty());
    }

    #[test]
    fn scopes_of_builtin_and_provided_kinds() {
        let mut set = ApiSet::default();
        assert_eq!(set.namespaced("v1", "ConfigMap"), Some(true));
        assert_eq!(set.namespaced("v1", "Namespace"), Some(false));
        assert_eq!(set.namespaced("rbac.authorization.k8s.io/v1", "ClusterRole"), Some(false));
        assert_eq!(set.namespaced("gateway.networking.k8s.io/v1", "GatewayClass"), None);
        set.extend(EXTERNAL_SOURCES[0].resources());
        assert_eq!(set.namespaced("gateway.networking.k8s.io/v1", "GatewayClass"), Some(false));
        assert_eq!(set.namespaced("gateway.networking.k8s.io/v1", "HTTPRoute"), Some(true));
        assert!(set.helm_args().contains(&"gateway.networking.k8s.io/v1/HTTPRoute".to_owned()));
    }

    #[test]
    fn external_sources_match_on_repository_revision_and_path() {
        let url = "https://github.com/Kubernetes-SIGs/gateway-api/";
        assert!(external_source(url, "v1.3.0", "config/crd/standard/").is_some());
        assert!(external_source(url, "v1.4.0", "config/crd/standard").is_none());
        assert!(external_hint(url).is_some());
        assert!(
            external_source("https://example.com/x.git", "v1.3.0", "config/crd/standard").is_none()
        );
    }

    #[test]
    fn known_external_kinds_have_schemas_for_validation() {
        // The render's objects are validated against ../shared/schemas: every kind an
        // external source provides must be validatable there in at least one version.
        let schemas =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/schemas/crds");
        assert!(
            schemas.is_dir(),
            "{} is missing: the suite needs ../shared/schemas",
            schemas.display()
        );
        for s in EXTERNAL_SOURCES {
            let resources = s.resources();
            let kinds: BTreeSet<&str> = resources.iter().map(|r| r.kind.as_str()).collect();
            for kind in kinds {
                let found = resources.iter().filter(|r| r.kind == kind).any(|r| {
                    let f = format!("{}_{}.json", r.kind.to_lowercase(), r.version);
                    schemas.join(&r.group).join(f).is_file()
                });
                assert!(found, "no schema in {} for {kind} of {}", schemas.display(), s.repo_url);
            }
        }
    }
}
