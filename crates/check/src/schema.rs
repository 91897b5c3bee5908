//! Strict JSON-schema validation of every Kubernetes object.
//!
//! Core kinds: `<schemas>/kubernetes/<version>-local-strict/{kind}-{group}-{version}.json`
//! (`{kind}-{version}.json` for the core group), whose `$ref`s point into
//! `_definitions.json` of the same folder. CRDs: `<schemas>/crds/{group}/{kind}_{version}.json`
//! (the kubeconform layout). CRD schemas are closed before use: an object
//! schema with `properties` and neither `additionalProperties` nor
//! `x-kubernetes-preserve-unknown-fields` rejects unknown fields, like the API
//! server's structural-schema pruning would silently drop them.
//! Compiled validators are cached per schema file for the whole run.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use jsonschema::{Registry, Resource, Validator, error::ValidationErrorKind};
use rayon::prelude::*;
use serde_json::Value;

use crate::k8s::objects;
use crate::walk::{Kind, Repo};
use crate::{CheckError, Finding, finding};

/// Errors reported per object at most (the rest are counted).
const MAX_ERRORS_PER_OBJECT: usize = 10;
/// Calico's CRD group (what LKE has without the Calico API server). Its
/// objects validate against the `projectcalico.org/v3` schemas when no
/// `crds/crd.projectcalico.org/` schema exists.
const CALICO_CRD_GROUP: &str = "crd.projectcalico.org";
const DEFINITIONS_URI: &str = "https://kubernetes.io/api/_definitions.json";

type Compiled = Arc<OnceLock<Result<Validator, String>>>;

pub struct SchemaSet {
    root: PathBuf,
    core: PathBuf,
    crds: PathBuf,
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
            registry: OnceLock::new(),
            cache: Mutex::new(HashMap::new()),
        })
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
        let mut opts = jsonschema::options().should_validate_formats(false);
        if path.starts_with(&self.core) {
            opts = opts.with_registry(self.registry()?);
        } else {
            close(&mut schema);
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

/// Validate every object under deploy/. Returns findings and the object count.
pub fn check(repo: &Repo, schemas: &SchemaSet) -> (Vec<Finding>, usize) {
    let mut out = Vec::new();
    for file in repo.files.iter().filter(|f| f.kind == Kind::Manifest) {
        for doc in &file.docs {
            match (doc.get("apiVersion"), doc.get("kind")) {
                (Some(_), None) => out.push(finding(
                    "SCHEMA003",
                    &file.rel,
                    doc.key_line("apiVersion"),
                    "document has apiVersion but no kind",
                )),
                (None, Some(_)) => out.push(finding(
                    "SCHEMA003",
                    &file.rel,
                    doc.key_line("kind"),
                    "document has kind but no apiVersion",
                )),
                _ => {}
            }
        }
    }
    let objs: Vec<_> = objects(repo)
        .into_iter()
        .filter(|o| !o.group().starts_with("kustomize.config.k8s.io"))
        .collect();
    let count = objs.len();
    let results: Vec<Vec<Finding>> = objs
        .par_iter()
        .map(|o| {
            let mut out = Vec::new();
            let f = &o.file.rel;
            let Some(path) = schemas.candidates(o.api, o.kind).into_iter().find(|p| p.is_file())
            else {
                out.push(finding(
                    "SCHEMA002",
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
                    out.push(finding("SCHEMA002", f, o.line(), one_line(e, 300)));
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
                out.push(finding("SCHEMA001", f, line, msg));
            }
            if n > MAX_ERRORS_PER_OBJECT {
                out.push(finding(
                    "SCHEMA001",
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
