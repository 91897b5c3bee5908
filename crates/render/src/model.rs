//! What a render returns: every Application (and bootstrap release) with the
//! objects it applies, where each object sits in the sync, and how it was
//! produced.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;
use serde_json::Value;

use crate::apis::ApiResource;
use crate::sync::{Phase, SyncOrder};

/// Annotations the render adds to every object it writes.
pub const ANNOTATION_APPLICATION: &str = "render.platctl.io/application";
pub const ANNOTATION_SYNC_WAVE: &str = "render.platctl.io/sync-wave";
pub const ANNOTATION_SYNC_PHASE: &str = "render.platctl.io/sync-phase";
pub const ANNOTATION_SYNC_ORDER: &str = "render.platctl.io/sync-order";

/// A whole environment, rendered.
#[derive(Debug, Clone, Serialize)]
pub struct Render {
    pub env: String,
    /// The repository whose tree was rendered (its `deploy/` and `infra/`).
    pub repository: PathBuf,
    /// The path the root Application syncs (e.g. `deploy/clusters/shared`).
    pub root_path: Option<String>,
    pub kube_version: String,
    /// The `--api-versions` the charts saw in the end (the tree's own CRDs,
    /// the known external sources, and what LKE installs).
    pub api_versions: Vec<String>,
    /// In sync order: the bootstrap releases, then Argo CD's Applications.
    pub apps: Vec<RenderedApp>,
    /// Things a reader should know that do not stop the render.
    pub warnings: Vec<String>,
    /// Every `helm template` run whose output is in the render, in sync order.
    pub helm_calls: Vec<HelmCall>,
    /// Units rendered a second time because API versions they may check
    /// appeared after their first render (see docs/render.md).
    pub rerendered: Vec<String>,
}

/// Who applies a unit's objects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "by", rename_all = "kebab-case")]
pub enum Origin {
    /// A `helm_release` of the Terraform bootstrap.
    Terraform { address: String, step: u32 },
    /// An Argo CD Application, found in `parent`'s objects.
    ArgoCd { parent: String, project: String },
}

/// Where a unit's objects come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum SourceInfo {
    /// A packaged chart from the chart cache.
    Chart { repo_url: String, chart: String, version: String, file: PathBuf },
    /// A folder of this repository: `directory`, `kustomize` or `helm`.
    Path { path: String, render: String },
    /// Only referenced by other sources as `$<name>/...`.
    Reference { name: String, repo_url: String },
    /// A known external Git source: not rendered; the kinds it installs are in `provides`.
    External { repo_url: String, revision: String, path: String },
    /// An object a `kubernetes_*` resource of the Terraform bootstrap creates.
    Terraform { resource: String },
}

/// An object that the render found but that the sync never applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub reason: String,
}

/// One rendered object, with its place in the sync.
#[derive(Debug, Clone, Serialize)]
pub struct Object {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    /// Set for namespaced kinds (filled from the destination when the
    /// manifest has none, as Argo CD does).
    pub namespace: Option<String>,
    /// The object's wave inside its Application.
    pub wave: i64,
    pub phase: Phase,
    /// Its position in the whole sync.
    pub order: SyncOrder,
    /// The manifest as written, with the `render.platctl.io/*` annotations.
    pub manifest: Value,
}

impl Object {
    /// The API group (`""` for the core group).
    pub fn group(&self) -> &str {
        crate::apis::group_of(&self.api_version)
    }

    /// The pod template of a workload (or the spec of a bare Pod): its
    /// metadata (labels) and spec. `None` for anything that runs no pods.
    pub fn pod_template(&self) -> Option<(&Value, &Value)> {
        let m = &self.manifest;
        let t = match (self.group(), self.kind.as_str()) {
            ("", "Pod") => return Some((&m["metadata"], &m["spec"])),
            ("apps", "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet")
            | ("batch", "Job")
            | ("", "ReplicationController") => &m["spec"]["template"],
            ("batch", "CronJob") => &m["spec"]["jobTemplate"]["spec"]["template"],
            _ => return None,
        };
        t["spec"].is_object().then_some((&t["metadata"], &t["spec"]))
    }
}

/// An Argo CD Application or a bootstrap release, with everything it applies.
#[derive(Debug, Clone, Serialize)]
pub struct RenderedApp {
    /// The Application's name, or the release's Terraform address.
    pub name: String,
    pub origin: Origin,
    /// Destination namespace.
    pub namespace: String,
    /// Where the Application itself is applied (for a release: its step).
    pub order: SyncOrder,
    pub sources: Vec<SourceInfo>,
    /// Argo CD creates the destination namespace (`CreateNamespace=true`;
    /// `create_namespace` of a release).
    pub create_namespace: bool,
    /// Synced automatically (always true for the Terraform bootstrap).
    pub automated: bool,
    /// Kinds this unit makes the cluster serve (its CRDs; an external source's list).
    pub provides: Vec<ApiResource>,
    pub objects: Vec<Object>,
    pub skipped: Vec<Skipped>,
    /// The output file name (`<name>.yaml`).
    pub file: String,
}

impl Render {
    /// Every object, with the unit that applies it.
    pub fn objects(&self) -> impl Iterator<Item = (&RenderedApp, &Object)> {
        self.apps.iter().flat_map(|a| a.objects.iter().map(move |o| (a, o)))
    }

    /// A unit by name.
    pub fn app(&self, name: &str) -> Option<&RenderedApp> {
        self.apps.iter().find(|a| a.name == name)
    }

    /// Objects per kind (`group/Kind`, `Kind` for the core group).
    pub fn objects_by_kind(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for (_, o) in self.objects() {
            let key = if o.group().is_empty() {
                o.kind.clone()
            } else {
                format!("{}/{}", o.group(), o.kind)
            };
            *out.entry(key).or_insert(0) += 1;
        }
        out
    }
}

/// One argument of a recorded `helm template` run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum HelmArg {
    Plain(String),
    /// A values file the render wrote (an Application's `values`/`valuesObject`,
    /// a release's `values`): `name` is unique in the render.
    Generated {
        name: String,
        content: String,
    },
}

/// A `helm template` run, to show and to repeat (bench/render.sh does).
#[derive(Debug, Clone, Serialize)]
pub struct HelmCall {
    pub app: String,
    /// The arguments after `helm`.
    pub args: Vec<HelmArg>,
}
