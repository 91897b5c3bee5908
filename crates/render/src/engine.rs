//! The walk: from the Terraform bootstrap down the app-of-apps tree, rendering
//! each Application's sources with the real `helm` and `kubectl kustomize`.
//!
//! Order of work: the tree is walked level by level; each level's units render
//! in parallel. A chart whose templates consult `.Capabilities.APIVersions` is
//! held back until everything else of the walk so far has rendered, so that it
//! sees the API versions of the CRDs found meanwhile (and of the CRDs in the
//! `crds/` folders of every held-back chart). When rendering adds API versions
//! a rendered chart could have checked for (its text names their group, or it
//! uses the list in another way), that chart renders again; this repeats
//! until nothing changes. The result is the steady state Argo CD reaches,
//! where every chart sees every API the synced tree provides.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::{Component, Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use rayon::prelude::*;
use serde_json::Value;

use crate::apis::{self, ApiResource, ApiSet};
use crate::app::{self, AppSpec, Source};
use crate::chart::{ApiUse, ChartCache, ChartInfo};
use crate::error::RenderError;
use crate::model::*;
use crate::sync::{self, Step, SyncOrder};
use crate::terraform::{self, HelmRelease, normalize};
use crate::yaml;

/// Progress lines for people (the command prints them on stderr).
pub type Progress = Arc<dyn Fn(&str) + Send + Sync>;

/// What to render and with which tools.
#[derive(Clone)]
pub struct RenderOptions {
    /// The repository root (holding `infra/` and `deploy/`).
    pub repo: PathBuf,
    /// The environment: a folder of `infra/terraform/envs/`.
    pub env: String,
    /// Terraform variable values (`--var NAME=VALUE`), over the env's tfvars.
    pub vars: Vec<(String, String)>,
    /// The chart cache (see [`crate::resolve_cache`]).
    pub charts: PathBuf,
    pub helm: PathBuf,
    pub kubectl: PathBuf,
    /// `--kube-version` for helm, e.g. `1.34`.
    pub kube_version: String,
    /// Renders at once.
    pub jobs: usize,
    pub progress: Option<Progress>,
}

impl std::fmt::Debug for RenderOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RenderOptions")
            .field("repo", &self.repo)
            .field("env", &self.env)
            .field("vars", &self.vars)
            .field("charts", &self.charts)
            .field("helm", &self.helm)
            .field("kubectl", &self.kubectl)
            .field("kube_version", &self.kube_version)
            .field("jobs", &self.jobs)
            .finish_non_exhaustive()
    }
}

/// Argo CD's in-cluster destination.
const IN_CLUSTER: &str = "https://kubernetes.default.svc";
/// Rounds of re-rendering before the API versions must have settled.
const MAX_ROUNDS: usize = 5;
/// Where helm and kubectl send any HTTP(S) request: a closed local port, so a
/// chart or kustomization that needs the network fails at once.
const NO_NETWORK_PROXY: &str = "http://127.0.0.1:9";

#[derive(Debug, Clone)]
enum UnitKind {
    Release(HelmRelease),
    /// An object the Terraform bootstrap creates directly.
    Manifest(Value),
    App {
        spec: AppSpec,
        local_repo: String,
        local_revision: String,
    },
}

#[derive(Debug, Clone)]
struct Unit {
    name: String,
    origin: Origin,
    /// Where the unit itself is applied.
    order: SyncOrder,
    /// What its objects' positions extend.
    base: SyncOrder,
    namespace: Option<String>,
    create_namespace: bool,
    automated: bool,
    kind: UnitKind,
}

#[derive(Debug, Default)]
struct Output {
    /// (where it came from, object) in render order.
    objects: Vec<(String, Value)>,
    sources: Vec<SourceInfo>,
    external: Vec<ApiResource>,
    helm_calls: Vec<HelmCall>,
    warnings: Vec<String>,
    /// The API set a chart of this unit saw, when its render depends on it.
    saw: Option<ApiSet>,
    api_use: ApiUse,
    charts: Vec<Arc<ChartInfo>>,
}

/// How a unit's render depends on `--api-versions`, and the charts it renders.
type ChartUse = (ApiUse, Vec<Arc<ChartInfo>>);

struct Engine<'a> {
    opts: &'a RenderOptions,
    cache: ChartCache,
    work: tempfile::TempDir,
    charts: Mutex<HashMap<PathBuf, Arc<ChartInfo>>>,
    argocd_namespace: String,
    /// The bootstrap's notes (placeholders, resources left out): warnings.
    notes: Vec<String>,
}

/// Render one environment. Reads the tree and the chart cache; writes only
/// in a temporary folder of its own (helm's home, generated values files).
pub fn render_env(opts: &RenderOptions) -> Result<Render, RenderError> {
    let bootstrap = terraform::load(&opts.repo, &opts.env, &opts.vars)?;
    let work = tempfile::Builder::new()
        .prefix("platctl-render-")
        .tempdir()
        .map_err(|e| RenderError::io("create a temporary folder in", std::env::temp_dir(), e))?;
    let argocd_namespace = bootstrap
        .releases
        .iter()
        .find(|r| r.chart == "argo-cd")
        .map_or_else(|| "argocd".to_owned(), |r| r.namespace.clone());
    let engine = Engine {
        opts,
        cache: ChartCache { dir: opts.charts.clone() },
        work,
        charts: Mutex::new(HashMap::new()),
        argocd_namespace,
        notes: bootstrap.notes.clone(),
    };
    let terraform_unit =
        |address: &str, step: u32, namespace: Option<String>, create: bool, kind| {
            let order = SyncOrder::Terraform { step, within: None };
            Unit {
                name: address.to_owned(),
                origin: Origin::Terraform { address: address.to_owned(), step },
                order: order.clone(),
                base: order,
                namespace,
                create_namespace: create,
                automated: true,
                kind,
            }
        };
    let mut units: Vec<Unit> = bootstrap
        .releases
        .iter()
        .map(|r| {
            let kind = UnitKind::Release(r.clone());
            terraform_unit(&r.address, r.step, Some(r.namespace.clone()), r.create_namespace, kind)
        })
        .collect();
    units.extend(bootstrap.manifests.iter().map(|m| {
        let ns = m.object["metadata"]["namespace"].as_str().map(str::to_owned);
        terraform_unit(&m.address, m.step, ns, false, UnitKind::Manifest(m.object.clone()))
    }));
    units.sort_by(|a, b| a.order.cmp(&b.order));
    engine.run(units)
}

fn progress(opts: &RenderOptions, msg: &str) {
    if let Some(p) = &opts.progress {
        p(msg);
    }
}

fn first_error<T>(results: Vec<Result<T, RenderError>>) -> Result<Vec<T>, RenderError> {
    results.into_iter().collect()
}

impl Engine<'_> {
    fn pool(&self) -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new().num_threads(self.opts.jobs.max(1)).build().unwrap_or_else(
            |_| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(1)
                    .build()
                    .expect("a pool of one thread")
            },
        )
    }

    fn run(&self, bootstrap: Vec<Unit>) -> Result<Render, RenderError> {
        let pool = self.pool();
        let mut apis = ApiSet::default();
        apis.extend(apis::cluster_provided());
        let mut units: BTreeMap<String, Unit> = BTreeMap::new();
        let mut outputs: BTreeMap<String, Output> = BTreeMap::new();
        let mut children: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut frontier: Vec<Unit> = bootstrap;
        let mut held: Vec<Unit> = Vec::new();

        let mut rounds = 0;
        let mut rerendered: Vec<String> = Vec::new();
        loop {
            // Walk: render level by level; hold back the charts that read API versions.
            while !frontier.is_empty() || !held.is_empty() {
                let batch: Vec<Unit> = if frontier.is_empty() {
                    std::mem::take(&mut held)
                } else {
                    let level = std::mem::take(&mut frontier);
                    let uses: Vec<Result<ChartUse, RenderError>> =
                        pool.install(|| level.par_iter().map(|u| self.api_use(u)).collect());
                    let mut now = Vec::new();
                    for (u, used) in level.into_iter().zip(first_error(uses)?) {
                        if used.0 == ApiUse::None {
                            now.push(u);
                        } else {
                            for c in &used.1 {
                                apis.extend(c.static_crds.iter().cloned());
                            }
                            held.push(u);
                        }
                    }
                    now
                };
                for u in &batch {
                    if let Some(prev) = units.get(&u.name) {
                        return Err(RenderError::DuplicateApp {
                            name: u.name.clone(),
                            first: parent_of(prev),
                            second: parent_of(u),
                        });
                    }
                }
                let snapshot = apis.clone();
                let results: Vec<Result<Output, RenderError>> = pool
                    .install(|| batch.par_iter().map(|u| self.render_unit(u, &snapshot)).collect());
                for (u, out) in batch.into_iter().zip(first_error(results)?) {
                    progress(self.opts, &describe(&u, &out));
                    apis.extend(out.external.iter().cloned());
                    apis.extend(applied_crds(&out));
                    let kids = self.children(&u, &out)?;
                    children.insert(u.name.clone(), kids.iter().map(|k| k.name.clone()).collect());
                    frontier.extend(kids);
                    outputs.insert(u.name.clone(), out);
                    units.insert(u.name.clone(), u);
                }
            }
            // Settle: render again what could have checked for an API that appeared since.
            let stale: Vec<Unit> = outputs
                .iter()
                .filter(|(_, o)| is_stale(o, &apis))
                .map(|(name, _)| units[name].clone())
                .collect();
            if stale.is_empty() {
                break;
            }
            rounds += 1;
            if rounds > MAX_ROUNDS {
                return Err(RenderError::NoFixpoint {
                    rounds: MAX_ROUNDS,
                    changing: stale.iter().map(|u| u.name.as_str()).collect::<Vec<_>>().join(", "),
                });
            }
            let snapshot = apis.clone();
            let results: Vec<Result<Output, RenderError>> =
                pool.install(|| stale.par_iter().map(|u| self.render_unit(u, &snapshot)).collect());
            rerendered.extend(stale.iter().map(|u| u.name.clone()));
            for (u, out) in stale.into_iter().zip(first_error(results)?) {
                progress(
                    self.opts,
                    &format!(
                        "{} (again: it may check API versions that appeared since)",
                        describe(&u, &out)
                    ),
                );
                apis.extend(applied_crds(&out));
                let kids: Vec<String> =
                    self.children(&u, &out)?.into_iter().map(|k| k.name).collect();
                if children.get(&u.name) != Some(&kids) {
                    return Err(RenderError::NoFixpoint {
                        rounds,
                        changing: format!("the Applications that {} creates", u.name),
                    });
                }
                outputs.insert(u.name.clone(), out);
            }
        }
        let mut render = self.finish(units, outputs, &apis)?;
        render.rerendered = rerendered;
        Ok(render)
    }

    /// Whether a unit's render depends on `--api-versions`, and its charts.
    fn api_use(&self, u: &Unit) -> Result<ChartUse, RenderError> {
        let mut charts = Vec::new();
        match &u.kind {
            UnitKind::Manifest(_) => {}
            UnitKind::Release(r) => {
                let file = self.cache.lookup(&u.name, &r.chart, &r.version)?;
                charts.push(self.chart_info(&u.name, &file, Some((&r.chart, &r.version)))?);
            }
            UnitKind::App { spec, local_repo, .. } => {
                for s in &spec.sources {
                    if let Some(chart) = &s.chart {
                        let file = self.cache.lookup(&u.name, chart, &s.target_revision)?;
                        charts.push(self.chart_info(
                            &u.name,
                            &file,
                            Some((chart, &s.target_revision)),
                        )?);
                    } else if let Some(path) = &s.path
                        && apis::same_repo(&s.repo_url, local_repo)
                        && let Ok(dir) = self.repo_dir(&u.name, path)
                        && dir.join("Chart.yaml").is_file()
                    {
                        charts.push(self.chart_info(&u.name, &dir, None)?);
                    }
                }
            }
        }
        Ok((charts.iter().map(|c| c.api_use).max().unwrap_or(ApiUse::None), charts))
    }

    fn chart_info(
        &self,
        app: &str,
        path: &Path,
        expect: Option<(&str, &str)>,
    ) -> Result<Arc<ChartInfo>, RenderError> {
        if let Some(info) =
            self.charts.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(path)
        {
            return Ok(info.clone());
        }
        let info =
            if path.is_dir() { ChartInfo::from_dir(path) } else { ChartInfo::from_package(path) }
                .map_err(|message| RenderError::BadChart {
                app: app.to_owned(),
                file: path.to_path_buf(),
                message,
            })?;
        if let Some((chart, version)) = expect
            && (info.name != chart
                || info.version.trim_start_matches('v') != version.trim_start_matches('v'))
        {
            return Err(RenderError::ChartMismatch {
                app: app.to_owned(),
                file: path.to_path_buf(),
                found: format!("{} {}", info.name, info.version),
                chart: chart.to_owned(),
                version: version.to_owned(),
            });
        }
        let info = Arc::new(info);
        self.charts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(path.to_path_buf(), info.clone());
        Ok(info)
    }

    /// A folder of the repository named by an Application (never outside it).
    fn repo_dir(&self, app: &str, path: &str) -> Result<PathBuf, RenderError> {
        let rel = Path::new(path.trim_start_matches("./"));
        if rel.is_absolute() || rel.components().any(|c| matches!(c, Component::ParentDir)) {
            return Err(RenderError::Unsupported {
                app: app.to_owned(),
                message: format!(
                    "source path {path:?} leaves the repository; Argo CD refuses it too"
                ),
            });
        }
        let dir = self.opts.repo.join(rel);
        if !dir.is_dir() {
            return Err(RenderError::MissingPath { app: app.to_owned(), path: path.to_owned() });
        }
        Ok(dir)
    }

    fn render_unit(&self, u: &Unit, apis: &ApiSet) -> Result<Output, RenderError> {
        let mut out = Output::default();
        let (api_use, charts) = self.api_use(u)?;
        out.api_use = api_use;
        out.charts = charts;
        if api_use != ApiUse::None {
            out.saw = Some(apis.clone());
        }
        match &u.kind {
            UnitKind::Manifest(obj) => {
                let resource = u.name.rsplit('.').nth(1).unwrap_or_default().to_owned();
                out.sources.push(SourceInfo::Terraform { resource });
                out.objects.push(("terraform".into(), obj.clone()));
            }
            UnitKind::Release(r) => self.render_release(u, r, apis, &mut out)?,
            UnitKind::App { spec, local_repo, local_revision } => {
                self.render_app(u, spec, local_repo, local_revision, apis, &mut out)?;
            }
        }
        Ok(out)
    }

    fn render_release(
        &self,
        u: &Unit,
        r: &HelmRelease,
        apis: &ApiSet,
        out: &mut Output,
    ) -> Result<(), RenderError> {
        let file = self.cache.lookup(&u.name, &r.chart, &r.version)?;
        let values: Vec<ValuesArg> = r
            .values
            .iter()
            .enumerate()
            .map(|(i, text)| ValuesArg::Generated {
                name: format!("{}/values-{}.yaml", u.name, i + 1),
                content: text.clone(),
            })
            .collect();
        let call = Template {
            app: &u.name,
            label: format!("{} {}", r.chart, r.version),
            chart: &file,
            release: &r.name,
            namespace: &r.namespace,
            kube_version: &self.opts.kube_version,
            set: &r.set,
            values,
            api_versions: apis.helm_args(),
            include_crds: r.include_crds,
            skip_tests: false,
            skip_schema_validation: false,
        };
        let (objects, record, warnings) = self.helm(&call)?;
        out.sources.push(SourceInfo::Chart {
            repo_url: r.repository.clone().unwrap_or_default(),
            chart: r.chart.clone(),
            version: r.version.clone(),
            file: file.clone(),
        });
        out.objects.extend(objects.into_iter().map(|o| (format!("chart {}", call.label), o)));
        out.helm_calls.push(record);
        out.warnings.extend(warnings);
        Ok(())
    }

    fn render_app(
        &self,
        u: &Unit,
        spec: &AppSpec,
        local_repo: &str,
        local_revision: &str,
        apis: &ApiSet,
        out: &mut Output,
    ) -> Result<(), RenderError> {
        let app = u.name.as_str();
        let server_ok =
            spec.destination_server.as_deref().map(|s| s.trim_end_matches('/')) == Some(IN_CLUSTER);
        let name_ok = spec.destination_name.as_deref() == Some("in-cluster");
        if !server_ok && !name_ok {
            return Err(RenderError::Unsupported {
                app: app.to_owned(),
                message: format!(
                    "destination {} is not this cluster ({IN_CLUSTER}); the render covers the cluster the \
environment's bootstrap creates",
                    spec.destination_server
                        .clone()
                        .or(spec.destination_name.clone())
                        .unwrap_or_else(|| "(none)".into())
                ),
            });
        }
        let namespace = u.namespace.clone().unwrap_or_default();
        for (i, s) in spec.sources.iter().enumerate() {
            if s.is_reference_only() {
                out.sources.push(SourceInfo::Reference {
                    name: s.reference.clone().unwrap_or_default(),
                    repo_url: s.repo_url.clone(),
                });
                continue;
            }
            if s.plugin {
                return Err(RenderError::Unsupported {
                    app: app.to_owned(),
                    message: "config management plugin sources cannot be rendered offline".into(),
                });
            }
            if let Some(chart) = &s.chart {
                self.render_chart_source(u, spec, i, s, chart, &namespace, local_repo, apis, out)?;
                continue;
            }
            let path = s.path.clone().unwrap_or_else(|| ".".into());
            if !apis::same_repo(&s.repo_url, local_repo) {
                if let Some(ext) = apis::external_source(&s.repo_url, &s.target_revision, &path) {
                    out.external.extend(ext.resources());
                    out.sources.push(SourceInfo::External {
                        repo_url: s.repo_url.clone(),
                        revision: s.target_revision.clone(),
                        path: path.clone(),
                    });
                    continue;
                }
                let hint = apis::external_hint(&s.repo_url).map_or_else(String::new, |known| {
                    format!(
                        "; the list knows {} at {} path {}: update the list (its kinds and commit) together \
with the pin",
                        known.repo_url, known.revision, known.path
                    )
                });
                return Err(RenderError::ExternalSource {
                    app: app.to_owned(),
                    repo_url: s.repo_url.clone(),
                    revision: s.target_revision.clone(),
                    path,
                    hint,
                });
            }
            if s.target_revision != local_revision && s.target_revision != "HEAD" {
                out.warnings.push(format!(
                    "{app}: tracks revision {} of this repository; the render reads the working tree ({local_revision})",
                    s.target_revision
                ));
            }
            let dir = self.repo_dir(app, &path)?;
            let is_kustomize = ["kustomization.yaml", "kustomization.yml", "Kustomization"]
                .iter()
                .any(|k| dir.join(k).is_file());
            if s.helm.is_some()
                || (dir.join("Chart.yaml").is_file()
                    && s.kustomize.is_none()
                    && s.directory.is_none())
            {
                self.render_chart_source(u, spec, i, s, &path, &namespace, local_repo, apis, out)?;
            } else if s.kustomize.is_some() || (is_kustomize && s.directory.is_none()) {
                if let Some(k) = &s.kustomize {
                    let keys: Vec<&String> =
                        k.as_object().map(|m| m.keys().collect()).unwrap_or_default();
                    return Err(RenderError::Unsupported {
                        app: app.to_owned(),
                        message: format!(
                            "kustomize overrides in the Application ({}) are not applied by the render; put them \
in the kustomization itself",
                            keys.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
                        ),
                    });
                }
                let objects = self.kustomize(app, &path, &dir)?;
                out.sources
                    .push(SourceInfo::Path { path: path.clone(), render: "kustomize".into() });
                out.objects.extend(objects.into_iter().map(|o| (format!("kustomize {path}"), o)));
            } else {
                let d = s.directory.clone().unwrap_or_default();
                let objects = self.directory(app, &path, &dir, &d)?;
                out.sources
                    .push(SourceInfo::Path { path: path.clone(), render: "directory".into() });
                out.objects.extend(objects);
            }
        }
        Ok(())
    }

    /// A chart from the cache (`chart` set) or a chart folder of the repository.
    #[allow(clippy::too_many_arguments)]
    fn render_chart_source(
        &self,
        u: &Unit,
        spec: &AppSpec,
        index: usize,
        s: &Source,
        chart_or_path: &str,
        namespace: &str,
        local_repo: &str,
        apis: &ApiSet,
        out: &mut Output,
    ) -> Result<(), RenderError> {
        let app = u.name.as_str();
        let helm = s.helm.clone().unwrap_or_default();
        if helm.file_parameters {
            return Err(RenderError::Unsupported {
                app: app.into(),
                message: "helm.fileParameters are not supported by the render".into(),
            });
        }
        let from_cache = s.chart.is_some();
        let (chart_path, label, info) = if from_cache {
            if s.target_revision.chars().any(|c| "*^~><=| x".contains(c)) {
                return Err(RenderError::Unsupported {
                    app: app.into(),
                    message: format!(
                        "chart {chart_or_path} targetRevision {:?} is a range; the render (like a reviewed pin) needs an exact version",
                        s.target_revision
                    ),
                });
            }
            let file = self.cache.lookup(app, chart_or_path, &s.target_revision)?;
            let info = self.chart_info(app, &file, Some((chart_or_path, &s.target_revision)))?;
            (file, format!("{chart_or_path} {}", s.target_revision), info)
        } else {
            let dir = self.repo_dir(app, chart_or_path)?;
            if !dir.join("Chart.yaml").is_file() {
                return Err(RenderError::Unsupported {
                    app: app.into(),
                    message: format!(
                        "source path {chart_or_path} has helm settings but no Chart.yaml"
                    ),
                });
            }
            let info = self.chart_info(app, &dir, None)?;
            (dir, format!("{chart_or_path} (chart {} {})", info.name, info.version), info)
        };
        let mut values = Vec::new();
        for (n, vf) in helm.value_files.iter().enumerate() {
            if vf.contains("://") {
                return Err(RenderError::Unsupported {
                    app: app.into(),
                    message: format!(
                        "values file {vf} is a URL; the render never uses the network"
                    ),
                });
            }
            let resolved: Option<PathBuf> = if let Some(rest) = vf.strip_prefix('$') {
                let (name, rel) = rest.split_once('/').unwrap_or((rest, ""));
                let r =
                    spec.sources.iter().find(|o| o.reference.as_deref() == Some(name)).ok_or_else(
                        || RenderError::Unsupported {
                            app: app.into(),
                            message: format!("values file {vf}: no source has ref: {name}"),
                        },
                    )?;
                if !apis::same_repo(&r.repo_url, local_repo) {
                    return Err(RenderError::ExternalSource {
                        app: app.into(),
                        repo_url: r.repo_url.clone(),
                        revision: r.target_revision.clone(),
                        path: rel.into(),
                        hint: format!(" (values file {vf})"),
                    });
                }
                let base = r.path.clone().unwrap_or_default();
                Some(self.opts.repo.join(base.trim_start_matches("./")).join(rel))
            } else if from_cache {
                match info.file(vf) {
                    Some(bytes) => {
                        values.push(ValuesArg::Generated {
                            name: format!("{app}/source-{}-{}", index + 1, vf.replace('/', "_")),
                            content: String::from_utf8_lossy(bytes).into_owned(),
                        });
                        None
                    }
                    None => {
                        if helm.ignore_missing_value_files {
                            continue;
                        }
                        return Err(RenderError::MissingValuesFile {
                            app: app.into(),
                            file: vf.clone(),
                            path: chart_path.join(vf),
                        });
                    }
                }
            } else {
                Some(chart_path.join(vf))
            };
            if let Some(p) = resolved {
                let p = normalize(&p);
                if !p.starts_with(&self.opts.repo) {
                    return Err(RenderError::Unsupported {
                        app: app.into(),
                        message: format!("values file {vf} leaves the repository"),
                    });
                }
                if !p.is_file() {
                    if helm.ignore_missing_value_files {
                        continue;
                    }
                    return Err(RenderError::MissingValuesFile {
                        app: app.into(),
                        file: vf.clone(),
                        path: p,
                    });
                }
                values.push(ValuesArg::File(p));
            }
            let _ = n;
        }
        if let Some(v) = &helm.values {
            let content = match v {
                Value::String(s) => s.clone(),
                other => serde_json::to_string(other).unwrap_or_default(),
            };
            values.push(ValuesArg::Generated {
                name: format!("{app}/source-{}-values.yaml", index + 1),
                content,
            });
        }
        let set: Vec<(String, String, bool)> = helm.parameters.clone();
        let api_versions =
            if helm.api_versions.is_empty() { apis.helm_args() } else { helm.api_versions.clone() };
        let release = helm.release_name.clone().unwrap_or_else(|| spec.name.clone());
        let ns = helm.namespace.clone().unwrap_or_else(|| namespace.to_owned());
        let kube = helm.kube_version.clone().unwrap_or_else(|| self.opts.kube_version.clone());
        let call = Template {
            app,
            label: label.clone(),
            chart: &chart_path,
            release: &release,
            namespace: &ns,
            kube_version: &kube,
            set: &set,
            values,
            api_versions,
            include_crds: !helm.skip_crds,
            skip_tests: helm.skip_tests,
            skip_schema_validation: helm.skip_schema_validation,
        };
        let (objects, record, warnings) = self.helm(&call)?;
        out.sources.push(if from_cache {
            SourceInfo::Chart {
                repo_url: s.repo_url.clone(),
                chart: chart_or_path.to_owned(),
                version: s.target_revision.clone(),
                file: chart_path.clone(),
            }
        } else {
            SourceInfo::Path { path: chart_or_path.to_owned(), render: "helm".into() }
        });
        out.objects.extend(objects.into_iter().map(|o| (format!("chart {label}"), o)));
        out.helm_calls.push(record);
        out.warnings.extend(warnings);
        Ok(())
    }

    /// Isolate helm and kubectl: their own home in the work folder, and no network.
    fn tool_env(&self, cmd: &mut Command) {
        let home = self.work.path().join("home");
        for (k, sub) in [
            ("HELM_CACHE_HOME", "cache"),
            ("HELM_CONFIG_HOME", "config"),
            ("HELM_DATA_HOME", "data"),
            ("XDG_CACHE_HOME", "cache"),
            ("XDG_CONFIG_HOME", "config"),
            ("XDG_DATA_HOME", "data"),
        ] {
            cmd.env(k, home.join(sub));
        }
        for k in
            ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"]
        {
            cmd.env(k, NO_NETWORK_PROXY);
        }
        for k in ["NO_PROXY", "no_proxy", "HELM_KUBECONTEXT", "HELM_NAMESPACE", "HELM_PLUGINS"] {
            cmd.env_remove(k);
        }
        cmd.env("KUBECONFIG", self.work.path().join("no-kubeconfig"))
            .env("GIT_ALLOW_PROTOCOL", "file")
            .env("GIT_TERMINAL_PROMPT", "0");
    }

    fn write_generated(&self, name: &str, content: &str) -> Result<PathBuf, RenderError> {
        let path = self.work.path().join("values").join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| RenderError::io("create", parent, e))?;
        }
        fs::write(&path, content).map_err(|e| RenderError::io("write", &path, e))?;
        Ok(path)
    }

    fn helm(&self, t: &Template<'_>) -> Result<(Vec<Value>, HelmCall, Vec<String>), RenderError> {
        let mut args: Vec<HelmArg> = vec![
            HelmArg::Plain("template".into()),
            HelmArg::Plain(t.chart.display().to_string()),
            HelmArg::Plain("--name-template".into()),
            HelmArg::Plain(t.release.into()),
            HelmArg::Plain("--namespace".into()),
            HelmArg::Plain(t.namespace.into()),
            HelmArg::Plain("--kube-version".into()),
            HelmArg::Plain(t.kube_version.into()),
        ];
        for (name, value, as_string) in t.set {
            args.push(HelmArg::Plain(if *as_string { "--set-string" } else { "--set" }.into()));
            args.push(HelmArg::Plain(format!("{name}={}", escape_set(value))));
        }
        let mut argv: Vec<String> = Vec::new();
        let mut files = Vec::new();
        for v in &t.values {
            args.push(HelmArg::Plain("--values".into()));
            match v {
                ValuesArg::File(p) => args.push(HelmArg::Plain(p.display().to_string())),
                ValuesArg::Generated { name, content } => {
                    files.push((args.len(), self.write_generated(name, content)?));
                    args.push(HelmArg::Generated { name: name.clone(), content: content.clone() });
                }
            }
        }
        for a in &t.api_versions {
            args.push(HelmArg::Plain("--api-versions".into()));
            args.push(HelmArg::Plain(a.clone()));
        }
        if t.include_crds {
            args.push(HelmArg::Plain("--include-crds".into()));
        }
        if t.skip_schema_validation {
            args.push(HelmArg::Plain("--skip-schema-validation".into()));
        }
        if t.skip_tests {
            args.push(HelmArg::Plain("--skip-tests".into()));
        }
        for (i, a) in args.iter().enumerate() {
            argv.push(match a {
                HelmArg::Plain(s) => s.clone(),
                HelmArg::Generated { .. } => files
                    .iter()
                    .find(|(at, _)| *at == i)
                    .map(|(_, p)| p.display().to_string())
                    .unwrap_or_default(),
            });
        }
        let mut cmd = Command::new(&self.opts.helm);
        cmd.args(&argv);
        self.tool_env(&mut cmd);
        let out = cmd.output().map_err(|source| RenderError::Tool {
            tool: "helm",
            path: self.opts.helm.clone(),
            source,
        })?;
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        if !out.status.success() {
            return Err(RenderError::Helm {
                app: t.app.into(),
                chart: t.label.clone(),
                message: clip(&stderr, 6000),
            });
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let objects = yaml::parse_stream(&text).map_err(|message| RenderError::Manifest {
            app: t.app.into(),
            file: format!("output of helm template {}", t.label),
            message,
        })?;
        let warnings = stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| format!("{}: helm ({}): {}", t.app, t.label, l.trim()))
            .collect();
        Ok((objects, HelmCall { app: t.app.into(), args }, warnings))
    }

    fn kustomize(&self, app: &str, path: &str, dir: &Path) -> Result<Vec<Value>, RenderError> {
        let mut cmd = Command::new(&self.opts.kubectl);
        cmd.arg("kustomize").arg(dir);
        self.tool_env(&mut cmd);
        let out = cmd.output().map_err(|source| RenderError::Tool {
            tool: "kubectl",
            path: self.opts.kubectl.clone(),
            source,
        })?;
        if !out.status.success() {
            let mut message = clip(String::from_utf8_lossy(&out.stderr).trim(), 6000);
            if message.contains("127.0.0.1:9")
                || message.contains("transport")
                || message.contains("git")
            {
                message.push_str(
                    "\n(the render never uses the network: a remote base or resource cannot be rendered; vendor it \
into the repository)",
                );
            }
            return Err(RenderError::Kustomize { app: app.into(), path: path.into(), message });
        }
        yaml::parse_stream(&String::from_utf8_lossy(&out.stdout)).map_err(|message| {
            RenderError::Manifest {
                app: app.into(),
                file: format!("output of kubectl kustomize {path}"),
                message,
            }
        })
    }

    /// Plain manifests: `*.yaml`, `*.yml`, `*.json`, as Argo CD's directory source reads them.
    fn directory(
        &self,
        app: &str,
        path: &str,
        dir: &Path,
        d: &app::DirectorySource,
    ) -> Result<Vec<(String, Value)>, RenderError> {
        if d.jsonnet {
            return Err(RenderError::Unsupported {
                app: app.into(),
                message: "jsonnet directory sources cannot be rendered".into(),
            });
        }
        let glob = |pattern: &Option<String>| -> Result<Option<globset::GlobSet>, RenderError> {
            let Some(p) = pattern else { return Ok(None) };
            let mut b = globset::GlobSetBuilder::new();
            let g = globset::GlobBuilder::new(p).literal_separator(false).build().map_err(|e| {
                RenderError::Unsupported {
                    app: app.into(),
                    message: format!("directory include/exclude pattern {p:?}: {e}"),
                }
            })?;
            b.add(g);
            Ok(Some(b.build().map_err(|e| RenderError::Unsupported {
                app: app.into(),
                message: e.to_string(),
            })?))
        };
        let include = glob(&d.include)?;
        let exclude = glob(&d.exclude)?;
        let mut files = Vec::new();
        list_files(dir, dir, d.recurse, &mut files)
            .map_err(|e| RenderError::io("read folder", dir, e))?;
        let mut out = Vec::new();
        for rel in files {
            if rel.ends_with(".jsonnet") || rel.ends_with(".libsonnet") {
                return Err(RenderError::Unsupported {
                    app: app.into(),
                    message: format!("{path}/{rel}: jsonnet files cannot be rendered"),
                });
            }
            let ext_ok = rel.ends_with(".yaml") || rel.ends_with(".yml") || rel.ends_with(".json");
            if !ext_ok
                || include.as_ref().is_some_and(|g| !g.is_match(&rel))
                || exclude.as_ref().is_some_and(|g| g.is_match(&rel))
            {
                continue;
            }
            let file = dir.join(&rel);
            let shown = format!("{}/{rel}", path.trim_end_matches('/'));
            let text = fs::read_to_string(&file).map_err(|e| RenderError::io("read", &file, e))?;
            let docs = yaml::parse_stream(&text).map_err(|message| RenderError::Manifest {
                app: app.into(),
                file: shown.clone(),
                message,
            })?;
            out.extend(docs.into_iter().map(|d| (shown.clone(), d)));
        }
        Ok(out)
    }

    /// The Applications in a unit's output: the next level of the walk.
    fn children(&self, parent: &Unit, out: &Output) -> Result<Vec<Unit>, RenderError> {
        let mut kids = Vec::new();
        for (from, obj) in &out.objects {
            let api = obj["apiVersion"].as_str().unwrap_or_default();
            if !api.starts_with("argoproj.io/") {
                continue;
            }
            match obj["kind"].as_str() {
                Some("ApplicationSet") => {
                    return Err(RenderError::Unsupported {
                        app: parent.name.clone(),
                        message: format!(
                            "{from}: ApplicationSet {} cannot be rendered offline (its generators need the cluster or \
Git); list its Applications explicitly",
                            obj["metadata"]["name"].as_str().unwrap_or("?")
                        ),
                    });
                }
                Some("Application") => {}
                _ => continue,
            }
            let Ok(phase) = sync::phase(obj) else { continue };
            let spec = app::parse(obj).map_err(|message| RenderError::Manifest {
                app: parent.name.clone(),
                file: from.clone(),
                message: format!(
                    "Application {}: {message}",
                    obj["metadata"]["name"].as_str().unwrap_or("?")
                ),
            })?;
            let ns =
                spec.namespace.clone().or_else(|| parent.namespace.clone()).unwrap_or_default();
            if ns != self.argocd_namespace {
                continue; // reported as a warning when the render is finished
            }
            let step = Step { phase, wave: sync::wave(obj) };
            let order = parent.base.child(step);
            let (base, local_repo, local_revision) = match &parent.kind {
                UnitKind::Release(_) | UnitKind::Manifest(_) => {
                    let first = spec.sources.first().cloned().unwrap_or_default();
                    (SyncOrder::ArgoCd { steps: Vec::new() }, first.repo_url, first.target_revision)
                }
                UnitKind::App { local_repo, local_revision, .. } => {
                    (order.clone(), local_repo.clone(), local_revision.clone())
                }
            };
            kids.push(Unit {
                name: spec.name.clone(),
                origin: Origin::ArgoCd {
                    parent: parent.name.clone(),
                    project: spec.project.clone(),
                },
                order,
                base,
                namespace: spec.destination_namespace.clone(),
                create_namespace: spec.create_namespace,
                automated: spec.automated,
                kind: UnitKind::App { spec, local_repo, local_revision },
            });
        }
        Ok(kids)
    }

    /// Annotate, place and collect every object; the render as returned.
    fn finish(
        &self,
        units: BTreeMap<String, Unit>,
        mut outputs: BTreeMap<String, Output>,
        apis: &ApiSet,
    ) -> Result<Render, RenderError> {
        let mut ordered: Vec<Unit> = units.into_values().collect();
        ordered.sort_by(|a, b| (&a.order, &a.name).cmp(&(&b.order, &b.name)));
        let mut warnings: BTreeSet<String> = self.notes.iter().cloned().collect();
        let mut apps = Vec::new();
        let mut helm_calls = Vec::new();
        let mut root_path = None;
        for u in ordered {
            let out = outputs.remove(&u.name).unwrap_or_default();
            warnings.extend(out.warnings.iter().cloned());
            helm_calls.extend(out.helm_calls.iter().cloned());
            if matches!(u.origin, Origin::ArgoCd { .. })
                && matches!(u.base, SyncOrder::ArgoCd { ref steps } if steps.is_empty())
                && let UnitKind::App { spec, .. } = &u.kind
            {
                root_path = spec.sources.first().and_then(|s| s.path.clone());
            }
            apps.push(self.place(&u, out, apis, &mut warnings)?);
        }
        Ok(Render {
            env: self.opts.env.clone(),
            repository: std::fs::canonicalize(&self.opts.repo)
                .unwrap_or_else(|_| self.opts.repo.clone()),
            root_path,
            kube_version: self.opts.kube_version.clone(),
            api_versions: apis.helm_args(),
            apps,
            warnings: warnings.into_iter().collect(),
            helm_calls,
            rerendered: Vec::new(),
        })
    }

    fn place(
        &self,
        u: &Unit,
        out: Output,
        apis: &ApiSet,
        warnings: &mut BTreeSet<String>,
    ) -> Result<RenderedApp, RenderError> {
        let namespace = u.namespace.clone().unwrap_or_default();
        let mut objects: Vec<Object> = Vec::new();
        let mut skipped = Vec::new();
        let mut provides: BTreeSet<ApiResource> = out.external.iter().cloned().collect();
        let mut index: HashMap<(String, String, String, String), usize> = HashMap::new();
        for (from, mut obj) in out.objects {
            let (Some(api_version), Some(kind)) = (
                obj["apiVersion"].as_str().map(str::to_owned),
                obj["kind"].as_str().map(str::to_owned),
            ) else {
                return Err(RenderError::Manifest {
                    app: u.name.clone(),
                    file: from,
                    message: "a document without apiVersion or kind is not a Kubernetes object"
                        .into(),
                });
            };
            let Some(name) = obj["metadata"]["name"].as_str().map(str::to_owned) else {
                return Err(RenderError::Manifest {
                    app: u.name.clone(),
                    file: from,
                    message: format!("a {kind} without metadata.name"),
                });
            };
            if api_version == "v1" && kind.ends_with("List") && obj["items"].is_array() {
                return Err(RenderError::Unsupported {
                    app: u.name.clone(),
                    message: format!(
                        "{from}: {kind} {name}: List objects are not expanded by the render"
                    ),
                });
            }
            let ns = match apis.namespaced(&api_version, &kind) {
                Some(true) => {
                    let set = obj["metadata"]["namespace"]
                        .as_str()
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned);
                    let ns = set.unwrap_or_else(|| namespace.clone());
                    if !ns.is_empty() {
                        obj["metadata"]["namespace"] = Value::String(ns.clone());
                    }
                    Some(ns).filter(|s| !s.is_empty())
                }
                Some(false) => None,
                None => {
                    warnings.insert(format!(
                        "{}: {api_version} {kind} {name}: no CRD in the tree or the cluster provides this kind \
(namespace left as written)",
                        u.name
                    ));
                    obj["metadata"]["namespace"].as_str().map(str::to_owned)
                }
            };
            let phase = match sync::phase(&obj) {
                Ok(p) => p,
                Err(reason) => {
                    skipped.push(Skipped { api_version, kind, name, reason });
                    continue;
                }
            };
            if kind == "Application"
                && api_version.starts_with("argoproj.io/")
                && ns.as_deref() != Some(&self.argocd_namespace)
            {
                warnings.insert(format!(
                    "{}: Application {name} is in namespace {}, which Argo CD (namespace {}) does not watch; its \
sources are not rendered",
                    u.name,
                    ns.as_deref().unwrap_or("(none)"),
                    self.argocd_namespace
                ));
            }
            provides.extend(apis::from_crd(&obj));
            let wave = sync::wave(&obj);
            let order = u.base.child(Step { phase, wave });
            let annotations = &mut obj["metadata"]["annotations"];
            if !annotations.is_object() {
                *annotations = Value::Object(serde_json::Map::new());
            }
            annotations[ANNOTATION_APPLICATION] = Value::String(u.name.clone());
            annotations[ANNOTATION_SYNC_WAVE] = Value::String(wave.to_string());
            annotations[ANNOTATION_SYNC_PHASE] = Value::String(phase.to_string());
            annotations[ANNOTATION_SYNC_ORDER] = Value::String(order.to_string());
            let key = (
                apis::group_of(&api_version).to_owned(),
                kind.clone(),
                ns.clone().unwrap_or_default(),
                name.clone(),
            );
            let object = Object {
                api_version,
                kind,
                name,
                namespace: ns,
                wave,
                phase,
                order,
                manifest: obj,
            };
            if let Some(&i) = index.get(&key) {
                warnings.insert(format!(
                    "{}: {} {} {} appears more than once; the last one wins, as in Argo CD",
                    u.name, key.1, key.2, key.3
                ));
                objects[i] = object;
            } else {
                index.insert(key, objects.len());
                objects.push(object);
            }
        }
        // Sync order inside the file; Helm's (kind) order stays within a wave.
        objects.sort_by(|a, b| a.order.cmp(&b.order));
        if u.namespace.is_none()
            && objects.iter().any(|o| {
                o.namespace.is_none() && apis.namespaced(&o.api_version, &o.kind) == Some(true)
            })
        {
            warnings.insert(format!(
                "{}: no destination namespace, and namespaced objects without one",
                u.name
            ));
        }
        Ok(RenderedApp {
            name: u.name.clone(),
            origin: u.origin.clone(),
            namespace,
            order: u.order.clone(),
            sources: out.sources,
            create_namespace: u.create_namespace,
            automated: u.automated,
            provides: provides.into_iter().collect(),
            objects,
            skipped,
            file: format!("{}.yaml", u.name),
        })
    }
}

struct Template<'a> {
    app: &'a str,
    label: String,
    chart: &'a Path,
    release: &'a str,
    namespace: &'a str,
    kube_version: &'a str,
    set: &'a [(String, String, bool)],
    values: Vec<ValuesArg>,
    api_versions: Vec<String>,
    include_crds: bool,
    skip_tests: bool,
    skip_schema_validation: bool,
}

enum ValuesArg {
    File(PathBuf),
    Generated { name: String, content: String },
}

/// Argo CD escapes commas in `--set` values unless they are a `{list}`.
fn escape_set(value: &str) -> String {
    if value.starts_with('{') && value.ends_with('}') {
        return value.to_owned();
    }
    let mut out = String::new();
    let mut prev = '\0';
    for c in value.chars() {
        if c == ',' && prev != '\\' {
            out.push_str("\\,");
        } else {
            out.push(c);
        }
        prev = c;
    }
    out
}

fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}\n... ({} more bytes)", &s[..end], s.len() - end)
}

fn list_files(
    root: &Path,
    dir: &Path,
    recurse: bool,
    out: &mut Vec<String>,
) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> =
        fs::read_dir(dir)?.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.file_name().is_some_and(|n| n == ".git") {
            continue;
        }
        if p.is_dir() {
            if recurse {
                list_files(root, &p, recurse, out)?;
            }
        } else if p.is_file() {
            let rel = p.strip_prefix(root).unwrap_or(&p);
            out.push(
                rel.components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/"),
            );
        }
    }
    Ok(())
}

fn parent_of(u: &Unit) -> String {
    match &u.origin {
        Origin::ArgoCd { parent, .. } => parent.clone(),
        Origin::Terraform { address, .. } => address.clone(),
    }
}

/// The kinds of the CRDs in a unit's output that a sync applies.
fn applied_crds(out: &Output) -> Vec<ApiResource> {
    out.objects
        .iter()
        .filter(|(_, o)| sync::phase(o).is_ok())
        .flat_map(|(_, o)| apis::from_crd(o))
        .collect()
}

/// Whether a unit rendered with API versions it could have checked, and
/// there are now more of them. A chart whose `.Has` checks are all literals
/// renders differently only if one of them became served; one with a computed
/// `.Has` argument has to spell the `group/version` somewhere in its text.
fn is_stale(out: &Output, now: &ApiSet) -> bool {
    let Some(saw) = &out.saw else { return false };
    let new = now.new_since(saw);
    if new.is_empty() {
        return false;
    }
    let now_served: BTreeSet<String> = now.helm_args().into_iter().collect();
    let saw_served: BTreeSet<String> = saw.helm_args().into_iter().collect();
    out.charts.iter().any(|c| match c.api_use {
        ApiUse::None => false,
        ApiUse::Any => true,
        // Exactly: a literal whose answer changed.
        ApiUse::Literal => {
            c.has_literals.iter().any(|l| now_served.contains(l) && !saw_served.contains(l))
        }
        ApiUse::Has => new.iter().any(|gv| c.mentions(gv)),
    })
}

fn describe(u: &Unit, out: &Output) -> String {
    let what: Vec<String> = out
        .sources
        .iter()
        .map(|s| match s {
            SourceInfo::Chart { chart, version, .. } => format!("chart {chart} {version}"),
            SourceInfo::Path { path, render } => format!("{render} {path}"),
            SourceInfo::Reference { name, .. } => format!("ref {name}"),
            SourceInfo::External { repo_url, revision, .. } => {
                format!("external {repo_url}@{revision}")
            }
            SourceInfo::Terraform { resource } => format!("terraform {resource}"),
        })
        .collect();
    format!("{} [{}]: {} objects from {}", u.name, u.order, out.objects.len(), what.join(", "))
}
