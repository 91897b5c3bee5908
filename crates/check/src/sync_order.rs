//! The sync-order simulation (SYNC001-SYNC004) over a rendered platform.
//!
//! It runs on a folder written by `platctl render` (recognised by its
//! summary, [`platctl_render::output::SUMMARY`]): every object carries its
//! Application and its position in the whole sync
//! (`render.platctl.io/sync-order`), and the summary lists every unit with
//! its order, destination namespace, `CreateNamespace`, sources and the kinds
//! it installs. Argo CD applies a wave only when everything of the waves
//! before is healthy, so an object that needs something that arrives later
//! (or never) stops the sync there. The rules report each such chain:
//!
//! - SYNC001: a Secret referenced but provided by nothing (or not with the key,
//!   or, for Argo CD, not with the label Argo CD requires);
//! - SYNC002: a Secret whose provider arrives later than its consumer;
//! - SYNC003: a custom resource whose CRD arrives later, or never;
//! - SYNC004: a namespace that nothing creates, or that is created later.
//!
//! Providers of a Secret: a Secret object, a SealedSecret, a
//! SecretProviderClass's `secretObjects` (only while a pod mounts the class),
//! a cert-manager Certificate's `secretName`, and an entry of the sync
//! mapping (`deploy/secrets/mapping.yaml` of the repository the render read),
//! which becomes a SealedSecret in the folder an Application syncs. Argo CD's
//! `$secret:key` references are resolved lazily (see [`argocd_refs`]), so they
//! are checked for existence only. See docs/rules.md and docs/secrets.md.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use platctl_render::apis;
use platctl_render::model::{ANNOTATION_APPLICATION, ANNOTATION_SYNC_ORDER};
use platctl_render::output::SUMMARY;
use platctl_render::sync::{Phase, Step, SyncOrder};
use serde::Deserialize;

use crate::k8s::Obj;
use crate::k8s::workload::pod_spec;
use crate::yaml::{self, Node};
use crate::{Context, Family, Finding, RuleId, finding};

pub const FAMILY: Family = Family {
    name: "sync_order",
    rules: &[RuleId::Sync001, RuleId::Sync002, RuleId::Sync003, RuleId::Sync004],
    run: check,
};

/// Namespaces every cluster has before anything syncs.
const BUILTIN_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];
/// The sync mapping, relative to the repository root.
pub const MAPPING: &str = "deploy/secrets/mapping.yaml";
/// Argo CD resolves `$name:key` only in Secrets with this label.
const ARGOCD_LABEL: (&str, &str) = ("app.kubernetes.io/part-of", "argocd");
/// Where the Prometheus operator mounts an Alertmanager's `spec.secrets`.
const ALERTMANAGER_SECRETS: &str = "/etc/alertmanager/secrets/";

/// The parts of the render summary (`platctl render --output json`) read here.
#[derive(Debug, Deserialize)]
pub struct Summary {
    /// The repository the render read (absolute, or relative to the render folder).
    #[serde(default)]
    pub repository: Option<PathBuf>,
    pub applications: Vec<SummaryApp>,
}

#[derive(Debug, Deserialize)]
pub struct SummaryApp {
    pub name: String,
    #[serde(default)]
    pub namespace: String,
    pub order: String,
    #[serde(default)]
    pub create_namespace: bool,
    #[serde(default)]
    pub sources: Vec<serde_json::Value>,
    /// `group/version/Kind` (`version/Kind` for the core group).
    #[serde(default)]
    pub provides: Vec<String>,
}

/// A unit of the render (an Application or a bootstrap release).
struct Unit {
    name: String,
    namespace: String,
    create_namespace: bool,
    order: SyncOrder,
    /// Paths of this repository it syncs.
    paths: Vec<String>,
    external: bool,
    provides: Vec<(String, String, String)>,
}

/// A rendered object and its place in the sync.
struct Placed<'a> {
    obj: &'a Obj<'a>,
    unit: &'a str,
    order: SyncOrder,
    namespace: Option<&'a str>,
}

impl Placed<'_> {
    fn label(&self) -> String {
        match self.namespace {
            Some(ns) => format!("{} {ns}/{}", self.obj.kind, self.obj.name()),
            None => format!("{} {}", self.obj.kind, self.obj.name()),
        }
    }
    /// `Deployment monitoring/grafana (Application kube-prometheus-stack, at -10/-2/0)`.
    fn describe(&self) -> String {
        format!("{} ({})", self.label(), at(self.unit, &self.order))
    }
}

/// `Application loki, at -10/-2/0`, `Terraform module.argocd.helm_release.argocd, at terraform:1/0`.
fn at(unit: &str, order: &SyncOrder) -> String {
    let by = if matches!(order, SyncOrder::Terraform { .. }) { "Terraform" } else { "Application" };
    format!("{by} {unit}, at {order}")
}

/// Something that makes a Secret exist, and when.
#[derive(Debug, Clone)]
struct Provider {
    /// `SealedSecret monitoring/loki-s3`, `sync-mapping entry platform: monitoring/loki-s3`.
    what: String,
    unit: String,
    order: SyncOrder,
    /// Labels of the Secret it makes, when known.
    labels: Option<BTreeMap<String, String>>,
    /// Keys of the Secret it makes, when known.
    keys: Option<BTreeSet<String>>,
    /// False when it would provide the Secret but never does (a class no pod mounts).
    live: bool,
}

impl Provider {
    fn describe(&self) -> String {
        format!("{} ({})", self.what, at(&self.unit, &self.order))
    }
}

/// A reference to a Secret.
struct Ref<'p, 'a> {
    consumer: &'p Placed<'a>,
    namespace: String,
    name: String,
    key: Option<String>,
    optional: bool,
    /// Resolved when used, not when the consumer starts (Argo CD's `$secret:key`).
    lazy: bool,
    /// Needs Argo CD's label on the Secret.
    argocd: bool,
    /// For a reference of an Application's values: compare at the unit's depth.
    unit_level: bool,
    line: usize,
    via: String,
}

/// The position of `order` at the depth of `depth` (its Application-level prefix).
fn truncate(order: &SyncOrder, depth: &SyncOrder) -> SyncOrder {
    match (order, depth) {
        (SyncOrder::ArgoCd { steps }, SyncOrder::ArgoCd { steps: d }) => {
            SyncOrder::ArgoCd { steps: steps.iter().take(d.len()).copied().collect() }
        }
        _ => order.clone(),
    }
}

/// The render summary of a folder, if it is a render.
pub fn summary(root: &Path) -> Option<Result<Summary, String>> {
    let path = root.join(SUMMARY);
    let text = std::fs::read_to_string(&path).ok()?;
    Some(serde_json::from_str(&text).map_err(|e| format!("{SUMMARY}: {e}")))
}

fn check(ctx: &Context<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    let summary = match summary(&ctx.repo.root) {
        None => return out,
        Some(Ok(s)) => s,
        Some(Err(e)) => {
            out.push(finding(
                RuleId::Sync001,
                SUMMARY,
                0,
                format!("cannot read the render summary ({e}); render again with `platctl render`"),
            ));
            return out;
        }
    };
    let units = units(&summary);
    let placed: Vec<Placed<'_>> = ctx.k8s.all.iter().filter_map(place).collect();
    let mapping = mapping_providers(ctx, &summary, &units, &mut out);
    secrets(&placed, &units, mapping, &mut out);
    crds(&placed, &units, &mut out);
    namespaces(&placed, &units, &mut out);
    out
}

fn units(summary: &Summary) -> Vec<Unit> {
    summary
        .applications
        .iter()
        .filter_map(|a| {
            let order = a.order.parse().ok()?;
            let paths = a
                .sources
                .iter()
                .filter(|s| s["type"] == "path")
                .filter_map(|s| s["path"].as_str())
                .map(|p| p.trim_start_matches("./").trim_end_matches('/').to_owned())
                .collect();
            let external = a.sources.iter().any(|s| s["type"] == "external");
            let provides = a
                .provides
                .iter()
                .filter_map(|p| {
                    let (api, kind) = p.rsplit_once('/')?;
                    let version = api.rsplit('/').next()?;
                    Some((apis::group_of(api).to_owned(), version.to_owned(), kind.to_owned()))
                })
                .collect();
            Some(Unit {
                name: a.name.clone(),
                namespace: a.namespace.clone(),
                create_namespace: a.create_namespace,
                order,
                paths,
                external,
                provides,
            })
        })
        .collect()
}

fn place<'a>(obj: &'a Obj<'a>) -> Option<Placed<'a>> {
    let order: SyncOrder = obj.annotation(ANNOTATION_SYNC_ORDER)?.scalar_text()?.parse().ok()?;
    if order_phase(&order) == Some(Phase::SyncFail) {
        return None; // runs only when a sync fails
    }
    let unit = obj.annotation(ANNOTATION_APPLICATION).and_then(Node::as_str).unwrap_or("");
    let namespace = obj.node.at(&["metadata", "namespace"]).and_then(Node::as_str);
    Some(Placed { obj, unit, order, namespace })
}

fn order_phase(order: &SyncOrder) -> Option<Phase> {
    match order {
        SyncOrder::ArgoCd { steps } => steps.last().map(|s| s.phase),
        SyncOrder::Terraform { within, .. } => within.map(|s| s.phase),
    }
}

fn str_map(n: &Node) -> BTreeMap<String, String> {
    n.entries().iter().filter_map(|e| Some((e.key.clone(), e.value.scalar_text()?))).collect()
}

fn keys_of(nodes: &[&Node]) -> BTreeSet<String> {
    nodes.iter().flat_map(|n| n.entries().iter().map(|e| e.key.clone())).collect()
}

fn labels_at(n: &Node) -> BTreeMap<String, String> {
    str_map(n.field("metadata").field("labels"))
}

type Providers = BTreeMap<(String, String), Vec<Provider>>;

/// Providers found among the rendered objects.
fn object_providers(placed: &[Placed<'_>]) -> Providers {
    let mut out = Providers::new();
    // The first pod (template) that mounts each SecretProviderClass: (namespace, class) -> order.
    let mut mounts: BTreeMap<(&str, &str), &SyncOrder> = BTreeMap::new();
    for p in placed {
        let (Some(ns), Some((pod, _))) = (p.namespace, pod_spec(p.obj)) else { continue };
        for v in pod.field("volumes").seq() {
            let csi = v.field("csi");
            if csi.field("driver").as_str() != Some("secrets-store.csi.k8s.io") {
                continue;
            }
            if let Some(class) =
                csi.at(&["volumeAttributes", "secretProviderClass"]).and_then(Node::as_str)
            {
                let first = mounts.entry((ns, class)).or_insert(&p.order);
                if p.order < **first {
                    *first = &p.order;
                }
            }
        }
    }
    for p in placed {
        let Some(ns) = p.namespace else { continue };
        let (o, spec) = (p.obj, p.obj.spec());
        let prov = |what: String, labels, keys: BTreeSet<String>| Provider {
            what,
            unit: p.unit.to_owned(),
            order: p.order.clone(),
            labels,
            keys: Some(keys),
            live: true,
        };
        let mut add = |name: &str, prov: Provider| {
            out.entry((ns.to_owned(), name.to_owned())).or_default().push(prov);
        };
        match (o.group(), o.kind) {
            ("", "Secret") => {
                let keys = keys_of(&[o.node.field("data"), o.node.field("stringData")]);
                add(o.name(), prov(p.label(), Some(labels_at(o.node)), keys));
            }
            ("bitnami.com", "SealedSecret") => {
                let template = spec.field("template");
                let name =
                    template.at(&["metadata", "name"]).and_then(Node::as_str).unwrap_or(o.name());
                let keys = keys_of(&[spec.field("encryptedData"), template.field("data")]);
                add(name, prov(p.label(), Some(labels_at(template)), keys));
            }
            ("cert-manager.io", "Certificate") => {
                if let Some(name) = spec.field("secretName").as_str() {
                    let labels = spec.at(&["secretTemplate", "labels"]).map(str_map);
                    let keys = ["tls.crt", "tls.key", "ca.crt"].map(str::to_owned).into();
                    add(name, prov(p.label(), labels, keys));
                }
            }
            ("secrets-store.csi.x-k8s.io", "SecretProviderClass") => {
                let mounted = mounts.get(&(ns, o.name())).copied();
                for so in spec.field("secretObjects").seq() {
                    let Some(name) = so.field("secretName").as_str() else { continue };
                    let keys = so
                        .field("data")
                        .seq()
                        .iter()
                        .filter_map(|d| d.field("key").scalar_text())
                        .collect();
                    let mut pr = prov(
                        format!(
                            "{} secretObjects (created while a pod mounts the class)",
                            p.label()
                        ),
                        Some(str_map(so.field("labels"))),
                        keys,
                    );
                    match mounted {
                        // The CSI driver creates the Secret when the first pod mounting the class starts.
                        Some(m) if *m > p.order => pr.order = m.clone(),
                        Some(_) => {}
                        None => {
                            pr.live = false;
                            pr.what = format!(
                                "{} secretObjects (no pod mounts the class, so the CSI driver never creates it)",
                                p.label()
                            );
                        }
                    }
                    add(name, pr);
                }
            }
            _ => {}
        }
    }
    out
}

/// Secrets a workload creates at run time (a hook Job generating a certificate
/// or a password): its ServiceAccount may `create` Secrets in the namespace
/// (a Role or ClusterRole bound to it in the render), and it names the Secret
/// either in a flag of its command line whose name mentions a secret
/// (`--secret-name=X`, `--server-tls-secret=X`) or in the `resourceNames` of
/// that role's Secret rules. The Secret exists once the workload has run, so it
/// counts from the workload's position (a PreSync hook: before the Sync phase).
fn runtime_providers(placed: &[Placed<'_>]) -> Providers {
    fn grants_create(rules: &Node) -> (bool, Vec<String>) {
        let mut create = false;
        let mut names = Vec::new();
        for r in rules.seq() {
            let has = |field: &str, want: &str| {
                r.field(field)
                    .seq()
                    .iter()
                    .any(|v| v.as_str().is_some_and(|s| s == want || s == "*"))
            };
            if !has("resources", "secrets")
                || !r
                    .field("apiGroups")
                    .seq()
                    .iter()
                    .any(|g| g.as_str().is_some_and(|s| s.is_empty() || s == "*"))
            {
                continue;
            }
            create |= has("verbs", "create");
            names.extend(
                r.field("resourceNames").seq().iter().filter_map(|n| n.as_str().map(str::to_owned)),
            );
        }
        (create, names)
    }
    // (kind, namespace or "", name) -> (create, resourceNames)
    let mut roles: BTreeMap<(&str, &str, &str), (bool, Vec<String>)> = BTreeMap::new();
    for p in placed {
        if p.obj.group() == "rbac.authorization.k8s.io"
            && matches!(p.obj.kind, "Role" | "ClusterRole")
        {
            let ns = if p.obj.kind == "Role" { p.namespace.unwrap_or_default() } else { "" };
            roles.insert((p.obj.kind, ns, p.obj.name()), grants_create(p.obj.node.field("rules")));
        }
    }
    // (namespace, service account) -> what its roles allow
    let mut accounts: BTreeMap<(String, String), (bool, Vec<String>)> = BTreeMap::new();
    for p in placed {
        if p.obj.group() != "rbac.authorization.k8s.io"
            || !matches!(p.obj.kind, "RoleBinding" | "ClusterRoleBinding")
        {
            continue;
        }
        let binding_ns = p.namespace.unwrap_or_default();
        let role = p.obj.node.field("roleRef");
        let (Some(kind), Some(name)) = (role.field("kind").as_str(), role.field("name").as_str())
        else {
            continue;
        };
        // A RoleBinding to a ClusterRole grants it within the binding's namespace.
        let key = if kind == "Role" { (kind, binding_ns, name) } else { (kind, "", name) };
        let Some((create, names)) = roles.get(&key) else { continue };
        for s in p.obj.node.field("subjects").seq() {
            if s.field("kind").as_str() != Some("ServiceAccount") {
                continue;
            }
            let (Some(sa), Some(sa_ns)) =
                (s.field("name").as_str(), s.field("namespace").as_str().or(Some(binding_ns)))
            else {
                continue;
            };
            if p.obj.kind == "RoleBinding" && sa_ns != binding_ns {
                continue; // a RoleBinding grants only in its own namespace
            }
            let e = accounts.entry((sa_ns.to_owned(), sa.to_owned())).or_default();
            e.0 |= *create;
            e.1.extend(names.iter().cloned());
        }
    }
    let mut out = Providers::new();
    for p in placed {
        let (Some(ns), Some((pod, _))) = (p.namespace, pod_spec(p.obj)) else { continue };
        let sa = pod.field("serviceAccountName").as_str().unwrap_or("default");
        let Some((true, role_names)) = accounts.get(&(ns.to_owned(), sa.to_owned())) else {
            continue;
        };
        let mut names: BTreeSet<String> = role_names.iter().cloned().collect();
        for c in ["initContainers", "containers"].iter().flat_map(|g| pod.field(g).seq()) {
            let words: Vec<&str> = ["command", "args"]
                .iter()
                .flat_map(|k| c.field(k).seq())
                .filter_map(Node::as_str)
                .collect();
            for (i, w) in words.iter().enumerate() {
                let Some(flag) = w.strip_prefix("--") else { continue };
                let (flag, value) = match flag.split_once('=') {
                    Some((f, v)) => (f, Some(v)),
                    None => (flag, words.get(i + 1).copied().filter(|v| !v.starts_with('-'))),
                };
                if flag.contains("secret")
                    && let Some(v) = value.filter(|v| !v.is_empty())
                {
                    names.insert(v.to_owned());
                }
            }
        }
        for name in names {
            out.entry((ns.to_owned(), name)).or_default().push(Provider {
                what: format!(
                    "{} (creates it at run time: ServiceAccount {sa} may create Secrets)",
                    p.label()
                ),
                unit: p.unit.to_owned(),
                order: p.order.clone(),
                labels: None,
                keys: None,
                live: true,
            });
        }
    }
    out
}

/// The sync mapping's Secrets, each where the Application that syncs its
/// environment's folder (`deploy/secrets/<env>`) would apply its SealedSecret.
fn mapping_providers(
    ctx: &Context<'_>,
    summary: &Summary,
    units: &[Unit],
    out: &mut Vec<Finding>,
) -> Providers {
    let mut providers = Providers::new();
    let Some(repo) = &summary.repository else { return providers };
    let repo = if repo.is_absolute() { repo.clone() } else { ctx.repo.root.join(repo) };
    let path = repo.join(MAPPING);
    if !path.is_file() {
        return providers;
    }
    let mapping = match platctl_secrets::sync::Mapping::load(&path) {
        Ok(m) => m,
        Err(e) => {
            out.push(finding(
                RuleId::Sync001,
                SUMMARY,
                0,
                format!("the sync mapping {} cannot be read: {e}", path.display()),
            ));
            return providers;
        }
    };
    let folder = MAPPING.rsplit_once('/').map_or("", |(d, _)| d);
    for (env, em) in &mapping.environments {
        let env_dir = format!("{folder}/{env}");
        let syncing = units.iter().find(|u| u.paths.contains(&env_dir));
        for s in &em.secrets {
            let wave = s
                .annotations
                .get("argocd.argoproj.io/sync-wave")
                .and_then(|w| w.trim().parse().ok())
                .unwrap_or(0);
            let what = format!("sync-mapping entry {env}: {}/{} ({MAPPING})", s.namespace, s.name);
            let (order, unit, live, what) = match syncing {
                Some(u) => (
                    u.order.child(Step { phase: Phase::Sync, wave }),
                    u.name.clone(),
                    true,
                    format!("{what}, sealed into {env_dir}"),
                ),
                None => (
                    SyncOrder::ArgoCd { steps: Vec::new() },
                    String::new(),
                    false,
                    format!("{what}, but no Application of this render syncs {env_dir}"),
                ),
            };
            providers.entry((s.namespace.clone(), s.name.clone())).or_default().push(Provider {
                what,
                unit,
                order,
                labels: Some(s.labels.clone().into_iter().collect()),
                keys: Some(s.keys.keys().cloned().collect()),
                live,
            });
        }
    }
    providers
}

/// Secret references of a pod spec: (line, what, name, key, optional).
fn pod_refs(pod: &Node) -> Vec<(usize, String, String, Option<String>, bool)> {
    let mut refs = Vec::new();
    let opt = |n: &Node| n.field("optional").as_bool() == Some(true);
    for group in ["initContainers", "containers"] {
        for c in pod.field(group).seq() {
            let cname = c.field("name").scalar_text().unwrap_or_default();
            for e in c.field("env").seq() {
                let r = e.field("valueFrom").field("secretKeyRef");
                if let Some(name) = r.field("name").as_str() {
                    let var = e.field("name").scalar_text().unwrap_or_default();
                    refs.push((
                        r.key_line("name"),
                        format!("env {var} of container {cname}"),
                        name.to_owned(),
                        r.field("key").scalar_text(),
                        opt(r),
                    ));
                }
            }
            for e in c.field("envFrom").seq() {
                let r = e.field("secretRef");
                if let Some(name) = r.field("name").as_str() {
                    refs.push((
                        r.key_line("name"),
                        format!("envFrom of container {cname}"),
                        name.to_owned(),
                        None,
                        opt(r),
                    ));
                }
            }
        }
    }
    for v in pod.field("volumes").seq() {
        let vname = v.field("name").scalar_text().unwrap_or_default();
        let s = v.field("secret");
        if let Some(name) = s.field("secretName").as_str() {
            let items: Vec<String> = s
                .field("items")
                .seq()
                .iter()
                .filter_map(|i| i.field("key").scalar_text())
                .collect();
            let line = v.key_line("secret");
            let what = format!("volume {vname}");
            if items.is_empty() {
                refs.push((line, what.clone(), name.to_owned(), None, opt(s)));
            }
            for k in items {
                refs.push((line, what.clone(), name.to_owned(), Some(k), opt(s)));
            }
        }
        for src in v.at(&["projected", "sources"]).map(Node::seq).unwrap_or_default() {
            let s = src.field("secret");
            if let Some(name) = s.field("name").as_str() {
                refs.push((
                    s.key_line("name"),
                    format!("projected volume {vname}"),
                    name.to_owned(),
                    None,
                    opt(s),
                ));
            }
        }
        if let Some(name) = v.at(&["csi", "nodePublishSecretRef", "name"]).and_then(Node::as_str) {
            refs.push((
                v.key_line("csi"),
                format!("CSI volume {vname} (nodePublishSecretRef)"),
                name.to_owned(),
                None,
                false,
            ));
        }
    }
    for s in pod.field("imagePullSecrets").seq() {
        if let Some(name) = s.field("name").as_str() {
            refs.push((
                s.key_line("name"),
                "imagePullSecrets".to_owned(),
                name.to_owned(),
                None,
                false,
            ));
        }
    }
    refs
}

/// Argo CD's `$secret:key` references in argocd-cm and argocd-rbac-cm: every
/// value, and every scalar of the YAML values (`dex.config`, `oidc.config`),
/// that starts with `$`: `$name:key` reads Secret `name` (which must carry the
/// label `app.kubernetes.io/part-of: argocd`), `$key` reads argocd-secret.
///
/// Argo CD reads them when it uses the setting (Dex's configuration when the
/// Dex server starts and again when the settings change, OIDC at login), not
/// when it syncs: a missing Secret leaves the value unresolved and the sync
/// goes on. So they are checked for existence (SYNC001), never for order.
fn argocd_refs(cm: &Obj<'_>) -> Vec<(usize, String, String, String)> {
    let mut refs = Vec::new();
    let data = cm.node.field("data");
    let mut take = |line: usize, setting: &str, text: &str| {
        let Some(r) = text.trim().strip_prefix('$') else { return };
        // `$` followed by a name: a reference (a literal `$` elsewhere is not).
        let (secret, key) = match r.split_once(':') {
            Some((s, k)) => (s, k),
            None => ("argocd-secret", r),
        };
        let name_ok = |t: &str| {
            !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
        };
        if name_ok(secret) && name_ok(key) {
            refs.push((line, setting.to_owned(), secret.to_owned(), key.to_owned()));
        }
    };
    for e in data.entries() {
        let Some(text) = e.value.as_str() else { continue };
        if text.contains('\n') {
            let Ok(docs) = yaml::parse_documents(text) else { continue };
            let base = e.key_line;
            for d in &docs {
                walk_scalars(d, &mut |n| {
                    if let Some(t) = n.as_str() {
                        take(base + n.line, &e.key, t);
                    }
                });
            }
        } else {
            take(e.value.line.max(e.key_line), &e.key, text);
        }
    }
    refs
}

fn walk_scalars(n: &Node, f: &mut dyn FnMut(&Node)) {
    match &n.value {
        yaml::Value::Map(entries) => entries.iter().for_each(|e| walk_scalars(&e.value, f)),
        yaml::Value::Seq(items) => items.iter().for_each(|i| walk_scalars(i, f)),
        _ => f(n),
    }
}

/// `existingSecret`-style keys of Helm values: (line, key path, secret name).
fn values_refs(values: &Node, base: usize) -> Vec<(usize, String, String)> {
    fn walk(n: &Node, path: &str, base: usize, out: &mut Vec<(usize, String, String)>) {
        match &n.value {
            yaml::Value::Map(entries) => {
                for e in entries {
                    let p =
                        if path.is_empty() { e.key.clone() } else { format!("{path}.{}", e.key) };
                    let k = e.key.to_ascii_lowercase();
                    if (k.ends_with("existingsecret") || k.ends_with("existingsecretname"))
                        && let Some(name) = e.value.as_str().filter(|s| !s.trim().is_empty())
                    {
                        out.push((base + e.key_line, p.clone(), name.trim().to_owned()));
                    }
                    walk(&e.value, &p, base, out);
                }
            }
            yaml::Value::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(item, &format!("{path}[{i}]"), base, out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(values, "", base, &mut out);
    out
}

/// The Helm values of an Application object: `valuesObject` (as written) or
/// `values` (parsed; lines counted from the key), with the line offset.
fn app_values(app: &Obj<'_>) -> Vec<(Node, usize)> {
    let mut out = Vec::new();
    for src in crate::k8s::sources(app.node) {
        let helm = src.field("helm");
        if let Some(v) = helm.get("valuesObject") {
            out.push((v.clone(), 0));
        } else if let Some(text) = helm.field("values").as_str()
            && let Ok(docs) = yaml::parse_documents(text)
            && let Some(d) = docs.into_iter().next()
        {
            out.push((d, helm.key_line("values")));
        }
    }
    out
}

/// Alertmanager: `spec.secrets` are mounted at /etc/alertmanager/secrets/<name>/
/// (a missing one keeps its pods from starting); every `*_file` path of its
/// configuration that points there needs that Secret mounted and holding the key.
fn alertmanager_refs<'p, 'a>(
    am: &'p Placed<'a>,
    placed: &'p [Placed<'a>],
    out: &mut Vec<Ref<'p, 'a>>,
    findings: &mut Vec<Finding>,
) {
    let ns = am.namespace.unwrap_or_default();
    let spec = am.obj.spec();
    let mounted: BTreeSet<&str> =
        spec.field("secrets").seq().iter().filter_map(Node::as_str).collect();
    for s in spec.field("secrets").seq() {
        if let Some(name) = s.as_str() {
            out.push(Ref {
                consumer: am,
                namespace: ns.to_owned(),
                name: name.to_owned(),
                key: None,
                optional: false,
                lazy: false,
                argocd: false,
                unit_level: false,
                line: s.line,
                via: "spec.secrets".into(),
            });
        }
    }
    if am.obj.kind != "Alertmanager" {
        return;
    }
    let default_cfg = format!("alertmanager-{}", am.obj.name());
    let cfg_name = spec.field("configSecret").as_str().unwrap_or(&default_cfg);
    let Some(cfg) = placed
        .iter()
        .find(|p| p.obj.is("", "Secret") && p.namespace == Some(ns) && p.obj.name() == cfg_name)
    else {
        return;
    };
    let text = cfg
        .obj
        .node
        .at(&["stringData", "alertmanager.yaml"])
        .and_then(Node::as_str)
        .map(str::to_owned)
        .or_else(|| {
            let b64 = cfg.obj.node.at(&["data", "alertmanager.yaml"])?.as_str()?;
            let bytes = base64::engine::general_purpose::STANDARD.decode(b64.trim()).ok()?;
            String::from_utf8(bytes).ok()
        });
    let Some(config) =
        text.and_then(|t| yaml::parse_documents(&t).ok()).and_then(|d| d.into_iter().next())
    else {
        return;
    };
    let mut files = Vec::new();
    collect_files(&config, "", &mut files);
    for (setting, path) in files {
        let Some(rest) = path.strip_prefix(ALERTMANAGER_SECRETS) else { continue };
        let Some((secret, key)) = rest.split_once('/') else { continue };
        let line = am.obj.name_line();
        let via = format!("{setting}: {path} in its configuration (Secret {cfg_name})");
        if !mounted.contains(secret) {
            findings.push(finding(
                RuleId::Sync001,
                &am.obj.file.rel,
                line,
                format!(
                    "{} -> {via} -> Secret {ns}/{secret}: not mounted, since {} does not list it in spec.secrets",
                    am.describe(),
                    am.obj.label()
                ),
            ));
            continue;
        }
        out.push(Ref {
            consumer: am,
            namespace: ns.to_owned(),
            name: secret.to_owned(),
            key: Some(key.to_owned()),
            optional: false,
            lazy: false,
            argocd: false,
            unit_level: false,
            line,
            via,
        });
    }
}

fn collect_files(n: &Node, path: &str, out: &mut Vec<(String, String)>) {
    match &n.value {
        yaml::Value::Map(entries) => {
            for e in entries {
                let p = if path.is_empty() { e.key.clone() } else { format!("{path}.{}", e.key) };
                if e.key.ends_with("_file")
                    && let Some(v) = e.value.as_str()
                {
                    out.push((p.clone(), v.to_owned()));
                }
                collect_files(&e.value, &p, out);
            }
        }
        yaml::Value::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                collect_files(item, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// SYNC001 and SYNC002.
fn secrets(placed: &[Placed<'_>], units: &[Unit], mapping: Providers, out: &mut Vec<Finding>) {
    let mut providers = object_providers(placed);
    for (k, v) in mapping.into_iter().chain(runtime_providers(placed)) {
        providers.entry(k).or_default().extend(v);
    }
    let mut refs: Vec<Ref<'_, '_>> = Vec::new();
    for p in placed {
        let ns = p.namespace.unwrap_or_default();
        let o = p.obj;
        if let Some((pod, _)) = pod_spec(o) {
            for (line, via, name, key, optional) in pod_refs(pod) {
                refs.push(Ref {
                    consumer: p,
                    namespace: ns.to_owned(),
                    name,
                    key,
                    optional,
                    lazy: false,
                    argocd: false,
                    unit_level: false,
                    line,
                    via,
                });
            }
        }
        match (o.group(), o.kind) {
            ("", "ConfigMap") if matches!(o.name(), "argocd-cm" | "argocd-rbac-cm") => {
                for (line, setting, name, key) in argocd_refs(o) {
                    refs.push(Ref {
                        consumer: p,
                        namespace: ns.to_owned(),
                        argocd: name != "argocd-secret",
                        name,
                        key: Some(key),
                        optional: false,
                        lazy: true,
                        unit_level: false,
                        line,
                        via: format!("{setting} (`$` reference, resolved by Argo CD when used)"),
                    });
                }
            }
            ("monitoring.coreos.com", "Alertmanager" | "Prometheus") => {
                alertmanager_refs(p, placed, &mut refs, out);
            }
            _ => {}
        }
    }
    // existingSecret-style values, unless the chart's own pod templates already reference it.
    let mut values = Vec::new();
    for p in placed.iter().filter(|p| p.obj.is("argoproj.io", "Application")) {
        let name = p.obj.name();
        let Some(unit) = units.iter().find(|u| u.name == name) else { continue };
        for (v, base) in app_values(p.obj) {
            for (line, key, secret) in values_refs(&v, base) {
                let seen = refs.iter().any(|r| {
                    r.consumer.unit == name && r.name == secret && r.namespace == unit.namespace
                });
                if !seen {
                    values.push(Ref {
                        consumer: p,
                        namespace: unit.namespace.clone(),
                        name: secret,
                        key: None,
                        optional: false,
                        lazy: false,
                        argocd: false,
                        unit_level: true,
                        line,
                        via: format!("Helm value {key} of Application {name}"),
                    });
                }
            }
        }
    }
    refs.extend(values);
    for r in &refs {
        judge(r, units, providers.get(&(r.namespace.clone(), r.name.clone())), out);
    }
}

fn judge(r: &Ref<'_, '_>, units: &[Unit], provs: Option<&Vec<Provider>>, out: &mut Vec<Finding>) {
    if r.optional {
        return; // an optional Secret never keeps a pod from starting
    }
    let c = r.consumer;
    let file = &c.obj.file.rel;
    // For a values reference the consumer is the Application's own sync, at its unit's order.
    let (consumer, consumer_order) = if r.unit_level {
        let order = units
            .iter()
            .find(|u| u.name == c.obj.name())
            .map_or_else(|| c.order.clone(), |u| u.order.clone());
        (format!("Application {} ({})", c.obj.name(), at(c.unit, &order)), order)
    } else {
        (c.describe(), c.order.clone())
    };
    let secret = format!("Secret {}/{}", r.namespace, r.name);
    let chain = format!("{consumer} -> {} -> {secret}", r.via);
    let all: Vec<&Provider> = provs.map(|v| v.iter().collect()).unwrap_or_default();
    let live: Vec<&Provider> = all.iter().copied().filter(|p| p.live).collect();
    if live.is_empty() {
        let why = match all.first() {
            Some(p) => format!("its only providers never make it: {}", p.what),
            None => {
                "provided by nothing in the render (no Secret, SealedSecret, SecretProviderClass \
secretObjects, Certificate or sync-mapping entry)"
                    .to_owned()
            }
        };
        out.push(finding(RuleId::Sync001, file, r.line, format!("{chain}: {why}")));
        return;
    }
    if let Some(key) = &r.key
        && live.iter().all(|p| p.keys.as_ref().is_some_and(|k| !k.contains(key)))
    {
        let p = live[0];
        let has: Vec<&str> = p.keys.iter().flatten().map(String::as_str).collect();
        out.push(finding(
            RuleId::Sync001,
            file,
            r.line,
            format!(
                "{chain} key {key}: {} provides no such key (it has: {})",
                p.describe(),
                if has.is_empty() { "none".to_owned() } else { has.join(", ") }
            ),
        ));
        return;
    }
    if r.argocd
        && live.iter().all(|p| {
            p.labels
                .as_ref()
                .is_some_and(|l| l.get(ARGOCD_LABEL.0).map(String::as_str) != Some(ARGOCD_LABEL.1))
        })
    {
        out.push(finding(
            RuleId::Sync001,
            file,
            r.line,
            format!(
                "{chain}: {} lacks the label {}: {}, so Argo CD does not resolve the reference",
                live[0].describe(),
                ARGOCD_LABEL.0,
                ARGOCD_LABEL.1
            ),
        ));
        return;
    }
    if r.lazy {
        return;
    }
    let in_time = |p: &&Provider| {
        (r.unit_level && p.unit == c.obj.name()) || {
            let order =
                if r.unit_level { truncate(&p.order, &consumer_order) } else { p.order.clone() };
            order <= consumer_order
        }
    };
    if !live.iter().any(in_time) {
        let first = live.iter().min_by(|a, b| a.order.cmp(&b.order)).copied().unwrap_or(live[0]);
        out.push(finding(
            RuleId::Sync002,
            file,
            r.line,
            format!(
                "{chain} -> {}: the provider syncs later, so the consumer cannot become healthy and the sync waits at {}",
                first.describe(),
                consumer_order
            ),
        ));
    }
}

/// SYNC003: every custom resource's CRD is applied no later than the resource.
fn crds(placed: &[Placed<'_>], units: &[Unit], out: &mut Vec<Finding>) {
    // (group, kind) -> [(version, order, what)]
    type Served = BTreeMap<(String, String), Vec<(String, SyncOrder, String)>>;
    let mut served = Served::new();
    let before_all = SyncOrder::Terraform { step: 0, within: None };
    for r in apis::cluster_provided() {
        served.entry((r.group, r.kind)).or_default().push((
            r.version,
            before_all.clone(),
            "LKE (installed with the cluster)".into(),
        ));
    }
    for p in placed.iter().filter(|p| p.obj.is("apiextensions.k8s.io", "CustomResourceDefinition"))
    {
        for r in apis::from_crd(&p.obj.node.to_json()) {
            served.entry((r.group, r.kind)).or_default().push((
                r.version,
                p.order.clone(),
                format!("CustomResourceDefinition {} ({})", p.obj.name(), at(p.unit, &p.order)),
            ));
        }
    }
    for u in units.iter().filter(|u| u.external) {
        let order = u.order.child(Step { phase: Phase::Sync, wave: 0 });
        for (g, v, k) in &u.provides {
            served.entry((g.clone(), k.clone())).or_default().push((
                v.clone(),
                order.clone(),
                format!("the external source of {} ({})", u.name, at(&u.name, &order)),
            ));
        }
    }
    let mut seen = BTreeSet::new();
    for p in placed {
        let group = p.obj.group();
        if apis::is_builtin_group(group) {
            continue;
        }
        let version = p.obj.api.rsplit('/').next().unwrap_or_default();
        if !seen.insert((p.unit, p.obj.api, p.obj.kind)) {
            continue; // one finding per kind and Application
        }
        let what = format!("{} -> kind {}/{}", p.describe(), p.obj.api, p.obj.kind);
        let file = &p.obj.file.rel;
        let line = p.obj.line();
        let Some(all) = served.get(&(group.to_owned(), p.obj.kind.to_owned())) else {
            out.push(finding(
                RuleId::Sync003,
                file,
                line,
                format!("{what}: no CustomResourceDefinition in the render, no known external source, not built into Kubernetes or LKE"),
            ));
            continue;
        };
        let with_version: Vec<_> = all.iter().filter(|(v, _, _)| v == version).collect();
        let Some(first) = with_version.iter().min_by(|a, b| a.1.cmp(&b.1)) else {
            let versions: BTreeSet<&str> = all.iter().map(|(v, _, _)| v.as_str()).collect();
            out.push(finding(
                RuleId::Sync003,
                file,
                line,
                format!(
                    "{what}: {} serves {} only, not {version}",
                    all[0].2,
                    versions.into_iter().collect::<Vec<_>>().join(", ")
                ),
            ));
            continue;
        };
        if first.1 > p.order {
            out.push(finding(
                RuleId::Sync003,
                file,
                line,
                format!(
                    "{what} -> {}: the CRD arrives later, so the sync fails at {}",
                    first.2, p.order
                ),
            ));
        }
    }
}

/// SYNC004: every namespace an object lands in exists by then.
fn namespaces(placed: &[Placed<'_>], units: &[Unit], out: &mut Vec<Finding>) {
    // namespace -> [(order, what)]
    let mut created: BTreeMap<&str, Vec<(SyncOrder, String)>> = BTreeMap::new();
    for p in placed.iter().filter(|p| p.obj.is("", "Namespace")) {
        created.entry(p.obj.name()).or_default().push((p.order.clone(), p.describe()));
    }
    for u in units.iter().filter(|u| u.create_namespace && !u.namespace.is_empty()) {
        created
            .entry(&u.namespace)
            .or_default()
            .push((u.order.clone(), format!("CreateNamespace of {}", at(&u.name, &u.order))));
    }
    let mut seen = BTreeSet::new();
    for p in placed {
        let Some(ns) = p.namespace else { continue };
        if BUILTIN_NAMESPACES.contains(&ns) || !seen.insert((p.unit, ns)) {
            continue;
        }
        let what = format!("{} -> Namespace {ns}", p.describe());
        let file = &p.obj.file.rel;
        let line = p.obj.line();
        match created.get(ns).and_then(|c| c.iter().min_by(|a, b| a.0.cmp(&b.0))) {
            None => out.push(finding(
                RuleId::Sync004,
                file,
                line,
                format!("{what}: nothing creates it (no Namespace object, no Application with CreateNamespace=true for it)"),
            )),
            Some((order, by)) if *order > p.order => out.push(finding(
                RuleId::Sync004,
                file,
                line,
                format!("{what} -> {by}: created later, so the sync fails at {}", p.order),
            )),
            Some(_) => {}
        }
    }
}
