//! Strict JSON-schema validation of every Kubernetes object.
//!
//! Core kinds: `<schemas>/kubernetes/<version>-local-strict/{kind}-{group}-{version}.json`
//! (`{kind}-{version}.json` for the core group), whose `$ref`s point into
//! `_definitions.json` of the same folder. CRDs: `<schemas>/crds/{group}/{kind}_{version}.json`
//! (the kubeconform layout). CRD schemas are closed before use: an object
//! schema with `properties` and neither `additionalProperties` nor
//! `x-kubernetes-preserve-unknown-fields` rejects unknown fields, like the API
//! server's structural-schema pruning would silently drop them.
//! A CRD object's `metadata` is validated against the (strict) Kubernetes
//! ObjectMeta, which CRD schemas only describe as `type: object`.
//! Compiled validators are cached per schema file for the whole run.
//!
//! Also here: SCHEMA003 (documents are objects: apiVersion and kind, and every
//! document in a folder an Application applies as a plain directory) and
//! SCHEMA004 (what a Kustomization names exists).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use jsonschema::{Registry, Resource, Validator, error::ValidationErrorKind};
use rayon::prelude::*;
use serde_json::Value;

use crate::k8s::{Obj, dir_of, is_kustomization, sources};
use crate::walk::Kind;
use crate::yaml::Node;
use crate::{CheckError, Context, Family, Finding, RuleId, finding};

pub const FAMILY: Family = Family {
    name: "schema",
    rules: &[RuleId::Schema001, RuleId::Schema002, RuleId::Schema003, RuleId::Schema004],
    run: check,
};

/// Errors reported per object at most (the rest are counted).
const MAX_ERRORS_PER_OBJECT: usize = 10;
/// Calico's CRD group (what LKE has without the Calico API server). Its
/// objects validate against the `projectcalico.org/v3` schemas when no
/// `crds/crd.projectcalico.org/` schema exists.
const CALICO_CRD_GROUP: &str = "crd.projectcalico.org";
const DEFINITIONS_URI: &str = "https://kubernetes.io/api/_definitions.json";
const OBJECT_META: &str = "https://kubernetes.io/api/_definitions.json#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

type Compiled = Arc<OnceLock<Result<Validator, String>>>;

pub struct SchemaSet {
    root: PathBuf,
    core: PathBuf,
    crds: PathBuf,
    /// A render's own CRD schemas (`<render>/.schemas/crds`), looked up after `crds`.
    own_crds: Option<PathBuf>,
    /// `_definitions.json`, parsed and indexed once, shared by every core schema.
    registry: OnceLock<Result<Registry, String>>,
    cache: Mutex<HashMap<PathBuf, Compiled>>,
}

impl SchemaSet {
    /// Open a schema folder (see the module docs for its layout).
    pub fn open(dir: &Path) -> Result<Self, CheckError> {
        let k8s = dir.join("kubernetes");
        let mut strict: Vec<PathBuf> = std::fs::read_dir(&k8s)
            .map_err(|_| CheckError::BadSchemas(dir.to_path_buf()))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.join("_definitions.json").is_file())
            .collect();
        strict.sort();
        let core = strict.pop().ok_or_else(|| CheckError::BadSchemas(dir.to_path_buf()))?;
        Ok(Self {
            root: dir.to_path_buf(),
            core,
            crds: dir.join("crds"),
            own_crds: None,
            registry: OnceLock::new(),
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// Also look CRD schemas up in `dir` (same layout as `crds/`), after the
    /// schema folder: a render's `.schemas/crds`, the schemas of the CRDs the
    /// tree itself installs, which is what the API server would enforce.
    pub fn with_own_crds(mut self, dir: PathBuf) -> Self {
        self.own_crds = Some(dir);
        self
    }

    /// The schema folder itself (other families read their own schemas below it).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Candidate schema files for an apiVersion/kind, in lookup order.
    pub fn candidates(&self, api: &str, kind: &str) -> Vec<PathBuf> {
        let (group, version) = api.rsplit_once('/').unwrap_or(("", api));
        let k = kind.to_lowercase();
        let mut out = Vec::new();
        if group.is_empty() {
            out.push(self.core.join(format!("{k}-{version}.json")));
        } else {
            if !group.contains('.') || group.ends_with(".k8s.io") {
                let short = group.split('.').next().unwrap_or(group);
                out.push(self.core.join(format!("{k}-{short}-{version}.json")));
            }
            out.push(self.crds.join(group).join(format!("{k}_{version}.json")));
            if let Some(own) = &self.own_crds {
                out.push(own.join(group).join(format!("{k}_{version}.json")));
            }
            if group == CALICO_CRD_GROUP && version == "v1" {
                // Same structural schema: Calico generates its CRDs from the v3 API types.
                out.push(self.crds.join("projectcalico.org").join(format!("{k}_v3.json")));
            }
        }
        out
    }

    fn registry(&self) -> Result<Registry, String> {
        self.registry
            .get_or_init(|| {
                let p = self.core.join("_definitions.json");
                let text = std::fs::read_to_string(&p)
                    .map_err(|e| format!("{}: {e}", self.display(&p)))?;
                let defs: Value = serde_json::from_str(&text)
                    .map_err(|e| format!("{}: {e}", self.display(&p)))?;
                Registry::try_new(DEFINITIONS_URI, Resource::from_contents(defs))
                    .map_err(|e| format!("{}: {e}", self.display(&p)))
            })
            .clone()
    }

    fn compile(&self, path: &Path) -> Result<Validator, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read schema {}: {e}", self.display(path)))?;
        let mut schema: Value = serde_json::from_str(&text)
            .map_err(|e| format!("schema {} is not JSON: {e}", self.display(path)))?;
        let opts =
            jsonschema::options().should_validate_formats(false).with_registry(self.registry()?);
        if !path.starts_with(&self.core) {
            close(&mut schema);
            if let Some(Value::Object(props)) = schema.get_mut("properties")
                && props.contains_key("metadata")
            {
                props.insert("metadata".into(), serde_json::json!({ "$ref": OBJECT_META }));
            }
        }
        opts.build(&schema)
            .map_err(|e| format!("schema {} does not compile: {e}", self.display(path)))
    }

    /// A schema path as `<schemas>/...`, independent of where the folder lives.
    pub fn display(&self, p: &Path) -> String {
        p.strip_prefix(&self.root)
            .map_or_else(|_| p.display().to_string(), |r| format!("<schemas>/{}", r.display()))
    }

    /// The cached validator for a schema file.
    fn validator(&self, path: &Path) -> Compiled {
        let mut cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.entry(path.to_path_buf()).or_default().clone()
    }
}

/// Close object schemas that list properties but say nothing about others.
pub fn close(schema: &mut Value) {
    let Value::Object(map) = schema else { return };
    let preserve =
        map.get("x-kubernetes-preserve-unknown-fields").and_then(Value::as_bool) == Some(true);
    if map.contains_key("properties") && !map.contains_key("additionalProperties") && !preserve {
        map.insert("additionalProperties".into(), Value::Bool(false));
    }
    for key in ["properties", "patternProperties", "$defs", "definitions"] {
        if let Some(Value::Object(props)) = map.get_mut(key) {
            props.values_mut().for_each(close);
        }
    }
    for key in ["additionalProperties", "items", "not", "additionalItems", "if", "then", "else"] {
        match map.get_mut(key) {
            Some(Value::Array(items)) => items.iter_mut().for_each(close),
            Some(v @ Value::Object(_)) => close(v),
            _ => {}
        }
    }
    for key in ["allOf", "anyOf", "oneOf", "prefixItems"] {
        if let Some(Value::Array(items)) = map.get_mut(key) {
            items.iter_mut().for_each(close);
        }
    }
}

fn one_line(s: &str, max: usize) -> String {
    let s = s.replace('\n', " ");
    if s.chars().count() > max {
        format!("{}...", s.chars().take(max).collect::<String>())
    } else {
        s
    }
}

/// Folders Applications of this tree apply as plain directories (every YAML
/// file in them is sent to the API server): (folder, recursive, Application name).
fn applied_directories<'a>(ctx: &Context<'a>) -> Vec<(String, bool, &'a str)> {
    let mut out = Vec::new();
    for (o, app) in ctx.k8s.applications() {
        for s in sources(app) {
            if s.get("chart").is_some() || s.get("helm").is_some() || s.get("kustomize").is_some() {
                continue;
            }
            let Some(path) = s.field("path").as_str() else { continue };
            let path = path.trim_end_matches('/');
            let dir = ctx.repo.root.join(path);
            if !dir.is_dir()
                || dir.join("kustomization.yaml").is_file()
                || dir.join("Chart.yaml").is_file()
            {
                continue;
            }
            let recurse = s.at(&["directory", "recurse"]).and_then(Node::as_bool) == Some(true);
            out.push((path.to_owned(), recurse, o.name()));
        }
    }
    out
}

/// SCHEMA003: documents are Kubernetes objects.
fn documents(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    let applied = applied_directories(ctx);
    for file in ctx.repo.files.iter().filter(|f| f.kind == Kind::Manifest) {
        let dir = dir_of(&file.rel);
        let applied_by = applied.iter().find(|(path, recurse, _)| {
            dir == path || (*recurse && dir.starts_with(&format!("{path}/")))
        });
        for doc in &file.docs {
            match (doc.get("apiVersion"), doc.get("kind")) {
                (Some(_), None) => out.push(finding(
                    RuleId::Schema003,
                    &file.rel,
                    doc.key_line("apiVersion"),
                    "document has apiVersion but no kind",
                )),
                (None, Some(_)) => out.push(finding(
                    RuleId::Schema003,
                    &file.rel,
                    doc.key_line("kind"),
                    "document has kind but no apiVersion",
                )),
                (None, None) => {
                    if let Some((path, _, app)) = applied_by {
                        out.push(finding(
                            RuleId::Schema003,
                            &file.rel,
                            doc.line,
                            format!("document is not a Kubernetes object (no apiVersion, no kind), but Application {app} applies every file in {path}"),
                        ));
                    }
                }
                _ => {}
            }
        }
    }
}

/// SCHEMA004: resources and generator files of each Kustomization exist.
fn kustomizations(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    for k in ctx.k8s.all.iter().filter(|o| is_kustomization(o)) {
        let base = ctx.repo.root.join(dir_of(&k.file.rel));
        let mut check_path = |node: &Node, text: &str, what: &str| {
            if text.contains("://") || text.starts_with("github.com/") {
                return; // a remote base
            }
            if !base.join(text).exists() {
                out.push(finding(
                    RuleId::Schema004,
                    &k.file.rel,
                    node.line,
                    format!(
                        "Kustomization {what} {text} does not exist (relative to {})",
                        dir_of(&k.file.rel)
                    ),
                ));
            }
        };
        for key in ["resources", "components", "crds"] {
            for r in k.node.field(key).seq() {
                if let Some(text) = r.as_str() {
                    check_path(r, text, key);
                }
            }
        }
        for generator in ["configMapGenerator", "secretGenerator"] {
            for g in k.node.field(generator).seq() {
                for key in ["files", "envs"] {
                    for entry in g.field(key).seq() {
                        let Some(text) = entry.as_str() else { continue };
                        let path = text.split_once('=').map_or(text, |(_, p)| p);
                        check_path(entry, path, &format!("{generator} file"));
                    }
                }
            }
        }
    }
}

fn check(ctx: &Context<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    documents(ctx, &mut out);
    kustomizations(ctx, &mut out);
    let (found, count) = validate(&ctx.k8s.all, ctx.schemas);
    ctx.add_objects_validated(count);
    out.extend(found);
    out
}

/// Validate every object. Returns findings and the object count.
pub fn validate(all: &[Obj<'_>], schemas: &SchemaSet) -> (Vec<Finding>, usize) {
    let mut out = Vec::new();
    let objs: Vec<&Obj<'_>> = all.iter().filter(|o| !is_kustomization(o)).collect();
    let count = objs.len();
    let results: Vec<Vec<Finding>> = objs
        .par_iter()
        .map(|o| {
            let mut out = Vec::new();
            let f = &o.file.rel;
            let Some(path) = schemas.candidates(o.api, o.kind).into_iter().find(|p| p.is_file())
            else {
                out.push(finding(
                    RuleId::Schema002,
                    f,
                    o.line(),
                    format!(
                        "no schema for {} {} (looked for {})",
                        o.api,
                        o.kind,
                        schemas
                            .candidates(o.api, o.kind)
                            .iter()
                            .map(|p| schemas.display(p))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
                return out;
            };
            let cell = schemas.validator(&path);
            let validator = match cell.get_or_init(|| schemas.compile(&path)) {
                Ok(v) => v,
                Err(e) => {
                    out.push(finding(RuleId::Schema002, f, o.line(), one_line(e, 300)));
                    return out;
                }
            };
            let json = o.node.to_json();
            let what = format!("{} {}", o.kind, o.name());
            let mut n = 0;
            for err in validator.iter_errors(&json) {
                n += 1;
                if n > MAX_ERRORS_PER_OBJECT {
                    continue;
                }
                let pointer = err.instance_path().as_str().to_owned();
                let (line, msg) = match err.kind() {
                    ValidationErrorKind::AdditionalProperties { unexpected } => {
                        let first = unexpected.first().map(String::as_str);
                        (
                            o.node.line_of_pointer(&pointer, first),
                            format!(
                                "{what}: unknown field {} at {}",
                                unexpected.join(", "),
                                if pointer.is_empty() { "/" } else { &pointer }
                            ),
                        )
                    }
                    _ => (
                        o.node.line_of_pointer(&pointer, None),
                        format!(
                            "{what}: {} at {}",
                            one_line(&err.to_string(), 160),
                            if pointer.is_empty() { "/" } else { &pointer }
                        ),
                    ),
                };
                out.push(finding(RuleId::Schema001, f, line, msg));
            }
            if n > MAX_ERRORS_PER_OBJECT {
                out.push(finding(
                    RuleId::Schema001,
                    f,
                    o.line(),
                    format!("{what}: {} more schema errors not shown", n - MAX_ERRORS_PER_OBJECT),
                ));
            }
            out
        })
        .collect();
    out.extend(results.into_iter().flatten());
    (out, count)
}
