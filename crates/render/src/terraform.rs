//! The Argo CD bootstrap as Terraform creates it.
//!
//! An environment root (`infra/terraform/envs/<env>`) calls the
//! `argocd-bootstrap` module, whose `helm_release` resources install Argo CD
//! and the root Application. This module reads both with the variable values
//! Terraform would use (defaults, `terraform.tfvars`, `*.auto.tfvars[.json]`,
//! then `--var`), evaluates what the releases need (HCL expressions, a few
//! Terraform functions), and returns each release's chart, version, namespace
//! and values. Expressions that need real infrastructure (the cluster's
//! kubeconfig, say) stay unknown; that is an error only when a release needs
//! one.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Component, Path, PathBuf};

use hcl::eval::{Context, Evaluate, FuncArgs, FuncDef, ParamType};
use hcl::{Block, Body, Expression, Map, Value};

use crate::error::RenderError;

/// A `helm_release` of the bootstrap module, evaluated.
#[derive(Debug, Clone)]
pub struct HelmRelease {
    /// Terraform address, e.g. `module.argocd.helm_release.argocd`.
    pub address: String,
    /// Apply order among the module's releases (1 = first).
    pub step: u32,
    pub name: String,
    pub repository: Option<String>,
    pub chart: String,
    pub version: String,
    pub namespace: String,
    pub create_namespace: bool,
    /// `skip_crds = false` (the default): CRDs in the chart's `crds/` are installed.
    pub include_crds: bool,
    /// Each element of `values`, as YAML (or JSON) text.
    pub values: Vec<String>,
    /// `set` blocks: (name, value, as string).
    pub set: Vec<(String, String, bool)>,
}

/// A Kubernetes object the bootstrap module creates with the `kubernetes`
/// provider (`kubernetes_secret_v1`, `kubernetes_namespace_v1`,
/// `kubernetes_config_map_v1`, `kubernetes_manifest`).
#[derive(Debug, Clone)]
pub struct TfManifest {
    /// Terraform address, e.g. `module.argocd.kubernetes_secret_v1.in_cluster`.
    pub address: String,
    /// Apply order among the module's releases and manifests (1 = first).
    pub step: u32,
    pub object: serde_json::Value,
}

/// What the environment's Terraform creates for Argo CD.
#[derive(Debug, Clone)]
pub struct Bootstrap {
    pub env_dir: PathBuf,
    pub module_address: String,
    pub module_dir: PathBuf,
    pub releases: Vec<HelmRelease>,
    pub manifests: Vec<TfManifest>,
    /// Values known only after `terraform apply` (rendered as placeholders),
    /// and resources the render does not turn into objects.
    pub notes: Vec<String>,
}

/// How a value Terraform computes at apply time is written in a render.
pub const KNOWN_AFTER_APPLY: &str = "(known after apply: ";

struct TfFile {
    path: PathBuf,
    body: Body,
}

fn read_tf_dir(dir: &Path) -> Result<Vec<TfFile>, RenderError> {
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| RenderError::io("read folder", dir, e))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "tf") && p.is_file())
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let text = fs::read_to_string(&path).map_err(|e| RenderError::io("read", &path, e))?;
            let body = hcl::parse(&text).map_err(|e| RenderError::Terraform {
                file: path.clone(),
                message: format!("invalid HCL: {e}"),
            })?;
            Ok(TfFile { path, body })
        })
        .collect()
}

fn labels(b: &Block) -> Vec<&str> {
    b.labels().iter().map(|l| l.as_str()).collect()
}

fn attr<'a>(body: &'a Body, key: &str) -> Option<&'a Expression> {
    body.attributes().find(|a| a.key() == key).map(|a| a.expr())
}

fn expr_text(e: &Expression) -> String {
    hcl::format::to_string(e).unwrap_or_else(|_| "<expression>".into())
}

// --- Terraform functions the bootstrap uses (evaluated eagerly, like HCL does).

fn json_text(v: &Value) -> Result<String, String> {
    serde_json::to_string(v).map_err(|e| e.to_string())
}

fn f_yamlencode(args: FuncArgs) -> Result<Value, String> {
    // JSON is YAML: Helm reads it as the same values.
    json_text(&args[0]).map(Value::String)
}

fn f_jsonencode(args: FuncArgs) -> Result<Value, String> {
    json_text(&args[0]).map(Value::String)
}

fn f_join(args: FuncArgs) -> Result<Value, String> {
    let sep = args[0].as_str().ok_or("join: separator must be a string")?;
    let items = args[1].as_array().ok_or("join: second argument must be a list")?;
    let parts: Result<Vec<String>, String> = items
        .iter()
        .map(|v| scalar_text(v).ok_or("join: list of strings expected".into()))
        .collect();
    Ok(Value::String(parts?.join(sep)))
}

fn f_concat(args: FuncArgs) -> Result<Value, String> {
    let mut out = Vec::new();
    for a in args.iter() {
        out.extend(a.as_array().ok_or("concat: lists expected")?.iter().cloned());
    }
    Ok(Value::Array(out))
}

fn f_merge(args: FuncArgs) -> Result<Value, String> {
    let mut out = Map::new();
    for a in args.iter() {
        match a {
            Value::Object(m) => out.extend(m.clone()),
            Value::Null => {}
            _ => return Err("merge: objects expected".into()),
        }
    }
    Ok(Value::Object(out))
}

fn f_lookup(args: FuncArgs) -> Result<Value, String> {
    let map = args[0].as_object().ok_or("lookup: first argument must be a map")?;
    let key = args[1].as_str().ok_or("lookup: key must be a string")?;
    match (map.get(key), args.get(2)) {
        (Some(v), _) => Ok(v.clone()),
        (None, Some(default)) => Ok(default.clone()),
        (None, None) => Err(format!("lookup: no key {key:?} and no default")),
    }
}

fn f_length(args: FuncArgs) -> Result<Value, String> {
    let n = match &args[0] {
        Value::Array(a) => a.len(),
        Value::Object(m) => m.len(),
        Value::String(s) => s.chars().count(),
        _ => return Err("length: list, map or string expected".into()),
    };
    Ok(Value::from(n as u64))
}

fn f_contains(args: FuncArgs) -> Result<Value, String> {
    let list = args[0].as_array().ok_or("contains: first argument must be a list")?;
    Ok(Value::Bool(list.contains(&args[1])))
}

fn f_tostring(args: FuncArgs) -> Result<Value, String> {
    scalar_text(&args[0]).map(Value::String).ok_or("tostring: a scalar expected".into())
}

fn f_lower(args: FuncArgs) -> Result<Value, String> {
    Ok(Value::String(args[0].as_str().unwrap_or_default().to_lowercase()))
}

fn f_upper(args: FuncArgs) -> Result<Value, String> {
    Ok(Value::String(args[0].as_str().unwrap_or_default().to_uppercase()))
}

fn f_coalesce(args: FuncArgs) -> Result<Value, String> {
    args.iter()
        .find(|v| !v.is_null() && v.as_str() != Some(""))
        .cloned()
        .ok_or("coalesce: no non-null, non-empty argument".into())
}

/// `try(a, b...)`: HCL evaluates arguments eagerly, so an argument that
/// fails makes the whole call unknown; the first one is the answer otherwise.
fn f_try(args: FuncArgs) -> Result<Value, String> {
    Ok(args[0].clone())
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn functions() -> Vec<(&'static str, FuncDef)> {
    use ParamType::Any;
    let f = |params: Vec<ParamType>, variadic: bool, func| {
        let mut b = FuncDef::builder().params(params);
        if variadic {
            b = b.variadic_param(Any);
        }
        b.build(func)
    };
    vec![
        ("yamlencode", f(vec![Any], false, f_yamlencode)),
        ("jsonencode", f(vec![Any], false, f_jsonencode)),
        ("join", f(vec![Any, Any], false, f_join)),
        ("concat", f(vec![], true, f_concat)),
        ("merge", f(vec![], true, f_merge)),
        ("lookup", f(vec![Any, Any], true, f_lookup)),
        ("length", f(vec![Any], false, f_length)),
        ("contains", f(vec![Any, Any], false, f_contains)),
        ("tostring", f(vec![Any], false, f_tostring)),
        ("lower", f(vec![Any], false, f_lower)),
        ("upper", f(vec![Any], false, f_upper)),
        ("coalesce", f(vec![], true, f_coalesce)),
        ("try", f(vec![Any], true, f_try)),
    ]
}

/// Variables and locals of one module instance, evaluated as far as possible.
struct Scope {
    vars: Map<String, Value>,
    /// Variables without a value, with the reason.
    unknown: BTreeMap<String, String>,
    locals: Map<String, Value>,
    path: Map<String, Value>,
    /// Attributes of resources, data sources and modules, which Terraform
    /// knows only after apply: `<type>`, `data`, `module` objects of placeholders.
    computed: Map<String, Value>,
}

impl Scope {
    fn context(&self) -> Context<'static> {
        let mut ctx = Context::new();
        for (name, v) in &self.computed {
            ctx.declare_var(name.as_str(), v.clone());
        }
        ctx.declare_var("var", Value::Object(self.vars.clone()));
        ctx.declare_var("local", Value::Object(self.locals.clone()));
        ctx.declare_var("path", Value::Object(self.path.clone()));
        for (name, func) in functions() {
            ctx.declare_func(name, func);
        }
        ctx
    }

    fn eval(&self, e: &Expression) -> Result<Value, String> {
        self.eval_with(e, &[])
    }

    /// Evaluate with extra variables (`count`, `each`).
    fn eval_with(&self, e: &Expression, extra: &[(&str, Value)]) -> Result<Value, String> {
        let mut ctx = self.context();
        for (name, v) in extra {
            ctx.declare_var(*name, v.clone());
        }
        e.evaluate(&ctx).map_err(|errs| {
            let msg = errs.to_string();
            let missing: Vec<String> = self
                .unknown
                .iter()
                .filter(|(name, _)| expr_text(e).contains(&format!("var.{name}")))
                .map(|(name, why)| format!("var.{name} has no value ({why})"))
                .collect();
            if missing.is_empty() { msg } else { format!("{msg}; {}", missing.join("; ")) }
        })
    }

    /// Evaluate every `locals` attribute that can be, in dependency order.
    fn eval_locals(&mut self, files: &[TfFile]) {
        let mut pending: Vec<(&str, &Expression)> = files
            .iter()
            .flat_map(|f| f.body.blocks().filter(|b| b.identifier() == "locals"))
            .flat_map(|b| b.body().attributes().map(|a| (a.key(), a.expr())))
            .collect();
        loop {
            let before = pending.len();
            pending.retain(|(name, expr)| match self.eval(expr) {
                Ok(v) => {
                    self.locals.insert((*name).to_owned(), v);
                    false
                }
                Err(_) => true,
            });
            if pending.len() == before {
                break;
            }
        }
    }
}

fn reference_re() -> &'static regex::Regex {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        regex::Regex::new(r"\b(data\.|module\.)?([a-z][a-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_-]*)(?:\.([A-Za-z_][A-Za-z0-9_]*))?")
            .expect("valid regex")
    })
}

/// Placeholders for every attribute of a declared resource, data source or
/// module call that the files reference: Terraform knows them only after apply.
fn computed(files: &[TfFile]) -> Map<String, Value> {
    let mut resources: BTreeSet<(String, String)> = BTreeSet::new();
    let mut data: BTreeSet<(String, String)> = BTreeSet::new();
    let mut modules: BTreeSet<String> = BTreeSet::new();
    for f in files {
        for b in f.body.blocks() {
            let l = labels(b);
            match (b.identifier(), l.as_slice()) {
                ("resource", [t, n]) => {
                    resources.insert(((*t).to_owned(), (*n).to_owned()));
                }
                ("data", [t, n]) => {
                    data.insert(((*t).to_owned(), (*n).to_owned()));
                }
                ("module", [n]) => {
                    modules.insert((*n).to_owned());
                }
                _ => {}
            }
        }
    }
    let mut out = Map::new();
    let placeholder = |what: String| Value::String(format!("{KNOWN_AFTER_APPLY}{what})"));
    fn put(out: &mut Map<String, Value>, path: &[&str], leaf: Value) {
        let Some((first, rest)) = path.split_first() else { return };
        if rest.is_empty() {
            out.entry((*first).to_owned()).or_insert(leaf);
            return;
        }
        let entry = out.entry((*first).to_owned()).or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(m) = entry {
            put(m, rest, leaf);
        }
    }
    for f in files {
        let text = hcl::format::to_string(&f.body).unwrap_or_default();
        for c in reference_re().captures_iter(&text) {
            let prefix = c.get(1).map_or("", |m| m.as_str());
            let (a, b) = (&c[2], &c[3]);
            let attr = c.get(4).map(|m| m.as_str());
            match (prefix, attr) {
                ("module.", _) if modules.contains(a) => {
                    put(&mut out, &["module", a, b], placeholder(format!("module.{a}.{b}")));
                }
                ("data.", Some(at)) if data.contains(&(a.to_owned(), b.to_owned())) => {
                    put(&mut out, &["data", a, b, at], placeholder(format!("data.{a}.{b}.{at}")));
                }
                ("", Some(at)) if resources.contains(&(a.to_owned(), b.to_owned())) => {
                    put(&mut out, &[a, b, at], placeholder(format!("{a}.{b}.{at}")));
                }
                _ => {}
            }
        }
    }
    out
}

/// The placeholders a value carries (what it needs from `terraform apply`).
fn placeholders_in(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::String(s) => {
            for part in s.split(KNOWN_AFTER_APPLY).skip(1) {
                out.insert(part.split(')').next().unwrap_or(part).to_owned());
            }
        }
        Value::Array(items) => items.iter().for_each(|i| placeholders_in(i, out)),
        Value::Object(m) => m.values().for_each(|i| placeholders_in(i, out)),
        _ => {}
    }
}

/// Declared variables: whether each is typed `string`, and the defaults.
struct Declared {
    is_string: BTreeMap<String, bool>,
    defaults: Map<String, Value>,
}

/// Declared variables with their defaults; the rest stay unknown until set.
fn declared_vars(files: &[TfFile]) -> Result<Declared, RenderError> {
    let mut is_string = BTreeMap::new();
    let mut defaults = Map::new();
    for f in files {
        for b in f.body.blocks().filter(|b| b.identifier() == "variable") {
            let Some(name) = labels(b).first().map(|s| (*s).to_owned()) else { continue };
            let string_type =
                attr(b.body(), "type").is_some_and(|t| expr_text(t).trim() == "string");
            is_string.insert(name.clone(), string_type);
            if let Some(d) = attr(b.body(), "default") {
                let v = d.evaluate(&Context::new()).map_err(|e| RenderError::Terraform {
                    file: f.path.clone(),
                    message: format!("variable {name}: cannot evaluate its default: {e}"),
                })?;
                defaults.insert(name, v);
            }
        }
    }
    Ok(Declared { is_string, defaults })
}

/// The root module's variable values, in Terraform's order of precedence.
fn root_vars(
    dir: &Path,
    files: &[TfFile],
    overrides: &[(String, String)],
) -> Result<Map<String, Value>, RenderError> {
    let Declared { is_string, defaults: mut vars } = declared_vars(files)?;
    let mut var_files: Vec<PathBuf> = Vec::new();
    for name in ["terraform.tfvars", "terraform.tfvars.json"] {
        let p = dir.join(name);
        if p.is_file() {
            var_files.push(p);
        }
    }
    let mut auto: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| RenderError::io("read folder", dir, e))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            let n = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            n.ends_with(".auto.tfvars") || n.ends_with(".auto.tfvars.json")
        })
        .collect();
    auto.sort();
    var_files.extend(auto);
    for p in var_files {
        let text = fs::read_to_string(&p).map_err(|e| RenderError::io("read", &p, e))?;
        let bad = |message: String| RenderError::Terraform { file: p.clone(), message };
        if p.extension().is_some_and(|x| x == "json") {
            let json: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&text).map_err(|e| bad(format!("invalid JSON: {e}")))?;
            for (k, v) in json {
                let v: Value = hcl::to_value(v).map_err(|e| bad(e.to_string()))?;
                vars.insert(k, v);
            }
        } else {
            let body = hcl::parse(&text).map_err(|e| bad(format!("invalid HCL: {e}")))?;
            for a in body.attributes() {
                let v = a
                    .expr()
                    .evaluate(&Context::new())
                    .map_err(|e| bad(format!("{}: {e}", a.key())))?;
                vars.insert(a.key().to_owned(), v);
            }
        }
    }
    for (name, raw) in overrides {
        let Some(string_type) = is_string.get(name) else {
            let known: Vec<&str> = is_string.keys().map(String::as_str).collect();
            return Err(RenderError::Terraform {
                file: dir.to_path_buf(),
                message: format!(
                    "--var {name}: no such variable in this environment (it declares: {})",
                    known.join(", ")
                ),
            });
        };
        let value = if *string_type {
            Value::String(raw.clone())
        } else {
            let body =
                hcl::parse(&format!("value = {raw}\n")).map_err(|e| RenderError::Terraform {
                    file: dir.to_path_buf(),
                    message: format!("--var {name}={raw}: not an HCL value: {e}"),
                })?;
            let e = attr(&body, "value").ok_or_else(|| RenderError::Terraform {
                file: dir.to_path_buf(),
                message: format!("--var {name}={raw}: not an HCL value"),
            })?;
            e.evaluate(&Context::new()).map_err(|e| RenderError::Terraform {
                file: dir.to_path_buf(),
                message: format!("--var {name}={raw}: {e}"),
            })?
        };
        vars.insert(name.clone(), value);
    }
    Ok(vars)
}

/// `p` with `.` and `..` resolved lexically (the path need not exist).
pub(crate) fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

fn path_scope(module: &Path, root: &Path) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("module".into(), Value::String(module.display().to_string()));
    m.insert("root".into(), Value::String(root.display().to_string()));
    m.insert("cwd".into(), Value::String(root.display().to_string()));
    m
}

/// Read the environment's bootstrap: the module whose `source` ends in
/// `argocd-bootstrap`, and its `helm_release` resources.
pub fn load(
    repo: &Path,
    env: &str,
    overrides: &[(String, String)],
) -> Result<Bootstrap, RenderError> {
    let envs = repo.join("infra/terraform/envs");
    let env_dir = envs.join(env);
    if !env_dir.is_dir() || env.contains('/') || env.starts_with('.') {
        let mut known: Vec<String> = fs::read_dir(&envs)
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .filter(|e| e.path().is_dir())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| !n.starts_with('.'))
                    .collect()
            })
            .unwrap_or_default();
        known.sort();
        return Err(RenderError::NoSuchEnv {
            env: env.to_owned(),
            dir: env_dir,
            known: if known.is_empty() { "none".into() } else { known.join(", ") },
        });
    }
    let files = read_tf_dir(&env_dir)?;
    let mut root = Scope {
        vars: root_vars(&env_dir, &files, overrides)?,
        unknown: BTreeMap::new(),
        locals: Map::new(),
        path: path_scope(&env_dir, &env_dir),
        computed: computed(&files),
    };
    root.eval_locals(&files);

    let mut found: Vec<(&TfFile, &Block, String)> = Vec::new();
    for f in &files {
        for b in f.body.blocks().filter(|b| b.identifier() == "module") {
            let source = attr(b.body(), "source").and_then(|e| match e {
                Expression::String(s) => Some(s.clone()),
                _ => None,
            });
            if let Some(source) = source
                && source.trim_end_matches('/').ends_with("argocd-bootstrap")
            {
                found.push((f, b, source));
            }
        }
    }
    let (file, block, source) = match found.len() {
        1 => found.remove(0),
        0 => {
            return Err(RenderError::NoBootstrap {
                env: env.to_owned(),
                reason: format!(
                    "{} calls no module whose source is .../argocd-bootstrap",
                    env_dir.display()
                ),
            });
        }
        n => {
            return Err(RenderError::Terraform {
                file: env_dir.clone(),
                message: format!(
                    "{n} modules call argocd-bootstrap; the render expects one per environment"
                ),
            });
        }
    };
    let module_name = labels(block).first().map(|s| (*s).to_owned()).unwrap_or_default();
    let module_address = format!("module.{module_name}");
    let bad = |message: String| RenderError::Terraform { file: file.path.clone(), message };
    if attr(block.body(), "for_each").is_some() {
        return Err(bad(format!(
            "{module_address}: for_each on the bootstrap module is not supported"
        )));
    }
    if let Some(count) = attr(block.body(), "count") {
        let n = root
            .eval(count)
            .map_err(|e| bad(format!("{module_address}: cannot evaluate count: {e}")))?;
        if n.as_u64() == Some(0) || n.as_f64() == Some(0.0) {
            return Err(RenderError::NoBootstrap {
                env: env.to_owned(),
                reason: format!(
                    "{module_address} has count = {} = 0 in {}",
                    expr_text(count).trim(),
                    file.path.display()
                ),
            });
        }
    }
    if source.starts_with("./") || source.starts_with("../") {
    } else {
        return Err(bad(format!(
            "{module_address}: source {source:?} is not a local path; the render reads modules from the repository only"
        )));
    }
    let module_dir = normalize(&env_dir.join(&source));
    let module_files = read_tf_dir(&module_dir)?;
    let defaults = declared_vars(&module_files)?.defaults;
    let declared: BTreeSet<String> = module_files
        .iter()
        .flat_map(|f| f.body.blocks().filter(|b| b.identifier() == "variable"))
        .filter_map(|b| labels(b).first().map(|s| (*s).to_owned()))
        .collect();
    let mut scope = Scope {
        vars: defaults,
        unknown: BTreeMap::new(),
        locals: Map::new(),
        path: path_scope(&module_dir, &env_dir),
        computed: computed(&module_files),
    };
    for a in block.body().attributes() {
        if matches!(
            a.key(),
            "source" | "count" | "for_each" | "depends_on" | "providers" | "version"
        ) {
            continue;
        }
        match root.eval(a.expr()) {
            Ok(v) => {
                scope.vars.insert(a.key().to_owned(), v);
            }
            Err(e) => {
                scope.vars.shift_remove(a.key());
                scope.unknown.insert(
                    a.key().to_owned(),
                    format!("{} = {}: {e}", a.key(), expr_text(a.expr()).trim()),
                );
            }
        }
    }
    for name in &declared {
        if !scope.vars.contains_key(name) && !scope.unknown.contains_key(name) {
            scope.unknown.insert(name.clone(), "required, and not set by the environment".into());
        }
    }
    scope.eval_locals(&module_files);
    let (releases, manifests, notes) = resources(&module_files, &scope, &module_address)?;
    Ok(Bootstrap { env_dir, module_address, module_dir, releases, manifests, notes })
}

/// Every resource's address and what it depends on (explicitly, or by naming
/// another resource in its expressions).
fn resource_graph(files: &[TfFile]) -> BTreeMap<String, BTreeSet<String>> {
    let resources: Vec<(String, &Block)> = files
        .iter()
        .flat_map(|f| f.body.blocks().filter(|b| b.identifier() == "resource"))
        .filter_map(|b| {
            let l = labels(b);
            (l.len() == 2).then(|| (format!("{}.{}", l[0], l[1]), b))
        })
        .collect();
    let names: Vec<String> = resources.iter().map(|(a, _)| a.clone()).collect();
    resources
        .iter()
        .map(|(addr, b)| {
            let text = hcl::format::to_string(b.body()).unwrap_or_default();
            let deps = names
                .iter()
                .filter(|other| *other != addr)
                .filter(|other| {
                    text.match_indices(other.as_str()).any(|(i, _)| {
                        let after = text[i + other.len()..].chars().next();
                        !after.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '-')
                    })
                })
                .cloned()
                .collect();
            (addr.clone(), deps)
        })
        .collect()
}

fn depends_on(graph: &BTreeMap<String, BTreeSet<String>>, from: &str, to: &str) -> bool {
    let mut seen = BTreeSet::new();
    let mut stack = vec![from.to_owned()];
    while let Some(n) = stack.pop() {
        for d in graph.get(&n).into_iter().flatten() {
            if d == to {
                return true;
            }
            if seen.insert(d.clone()) {
                stack.push(d.clone());
            }
        }
    }
    false
}

/// Kubernetes objects the `kubernetes` provider's resources describe: type,
/// and the object's apiVersion and kind (`kubernetes_manifest` carries its own).
const K8S_RESOURCES: &[(&str, &str, &str)] = &[
    ("kubernetes_secret_v1", "v1", "Secret"),
    ("kubernetes_secret", "v1", "Secret"),
    ("kubernetes_namespace_v1", "v1", "Namespace"),
    ("kubernetes_namespace", "v1", "Namespace"),
    ("kubernetes_config_map_v1", "v1", "ConfigMap"),
    ("kubernetes_config_map", "v1", "ConfigMap"),
];

/// One instance of a resource block: its address suffix and its `count`/`each`.
type Instance = (String, Vec<(&'static str, Value)>);

fn instances(
    scope: &Scope,
    body: &Body,
    bad: &dyn Fn(String) -> RenderError,
) -> Result<Vec<Instance>, RenderError> {
    if let Some(e) = attr(body, "count") {
        let n = scope.eval(e).map_err(|m| bad(format!("cannot evaluate count: {m}")))?;
        let n = n.as_u64().ok_or_else(|| bad(format!("count is not a whole number: {n}")))?;
        return Ok((0..n)
            .map(|i| {
                let mut count = Map::new();
                count.insert("index".to_owned(), Value::from(i));
                let suffix = if n == 1 { String::new() } else { format!("[{i}]") };
                (suffix, vec![("count", Value::Object(count))])
            })
            .collect());
    }
    if let Some(e) = attr(body, "for_each") {
        let items: Vec<(String, Value)> =
            match scope.eval(e).map_err(|m| bad(format!("cannot evaluate for_each: {m}")))? {
                Value::Object(m) => m.into_iter().collect(),
                Value::Array(a) => {
                    a.into_iter().map(|v| (scalar_text(&v).unwrap_or_default(), v)).collect()
                }
                other => return Err(bad(format!("for_each is neither a map nor a set: {other}"))),
            };
        return Ok(items
            .into_iter()
            .map(|(key, value)| {
                let mut each = Map::new();
                each.insert("key".to_owned(), Value::String(key.clone()));
                each.insert("value".to_owned(), value);
                (format!("[{key:?}]"), vec![("each", Value::Object(each))])
            })
            .collect());
    }
    Ok(vec![(String::new(), Vec::new())])
}

fn to_json(v: &Value) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

/// A `kubernetes_*` resource instance as the object the provider creates.
fn k8s_object(
    type_: &str,
    body: &Body,
    scope: &Scope,
    extra: &[(&str, Value)],
    bad: &dyn Fn(String) -> RenderError,
) -> Result<serde_json::Value, RenderError> {
    let eval = |e: &Expression, what: &str| {
        scope.eval_with(e, extra).map_err(|m| bad(format!("cannot evaluate {what}: {m}")))
    };
    if type_ == "kubernetes_manifest" {
        let e = attr(body, "manifest").ok_or_else(|| bad("has no manifest".into()))?;
        return Ok(to_json(&eval(e, "manifest")?));
    }
    let (_, api_version, kind) = K8S_RESOURCES
        .iter()
        .find(|(t, _, _)| *t == type_)
        .ok_or_else(|| bad(format!("{type_} is not rendered")))?;
    let mut metadata = serde_json::Map::new();
    if let Some(m) = body.blocks().find(|b| b.identifier() == "metadata") {
        for a in m.body().attributes() {
            if matches!(a.key(), "name" | "namespace" | "labels" | "annotations" | "generate_name")
            {
                let key = if a.key() == "generate_name" { "generateName" } else { a.key() };
                metadata.insert(
                    key.to_owned(),
                    to_json(&eval(a.expr(), &format!("metadata.{}", a.key()))?),
                );
            }
        }
    }
    let mut obj =
        serde_json::json!({"apiVersion": api_version, "kind": kind, "metadata": metadata});
    match *kind {
        "Secret" => {
            use base64::Engine as _;
            obj["type"] = match attr(body, "type") {
                Some(e) => to_json(&eval(e, "type")?),
                None => serde_json::Value::from("Opaque"),
            };
            // The provider takes plain values and stores them base64-encoded.
            if let Some(e) = attr(body, "data") {
                let data = eval(e, "data")?;
                let map = data.as_object().ok_or_else(|| bad("data is not a map".into()))?;
                obj["data"] = map
                    .iter()
                    .map(|(k, v)| {
                        let text = scalar_text(v).unwrap_or_else(|| to_json(v).to_string());
                        (
                            k.clone(),
                            serde_json::Value::from(
                                base64::engine::general_purpose::STANDARD.encode(text),
                            ),
                        )
                    })
                    .collect::<serde_json::Map<_, _>>()
                    .into();
            }
            if let Some(e) = attr(body, "binary_data") {
                let binary = to_json(&eval(e, "binary_data")?);
                if !obj["data"].is_object() {
                    obj["data"] = serde_json::json!({});
                }
                if let (Some(d), Some(b)) = (obj["data"].as_object_mut(), binary.as_object()) {
                    d.extend(b.clone());
                }
            }
        }
        "ConfigMap" => {
            for (key, field) in [("data", "data"), ("binary_data", "binaryData")] {
                if let Some(e) = attr(body, key) {
                    obj[field] = to_json(&eval(e, key)?);
                }
            }
        }
        _ => {}
    }
    if let Some(e) = attr(body, "immutable") {
        obj["immutable"] = to_json(&eval(e, "immutable")?);
    }
    Ok(obj)
}

fn helm_release(
    address: &str,
    body: &Body,
    scope: &Scope,
    bad: &dyn Fn(String) -> RenderError,
) -> Result<HelmRelease, RenderError> {
    let get = |key: &str| -> Result<Option<Value>, RenderError> {
        attr(body, key)
            .map(|e| scope.eval(e).map_err(|m| bad(format!("cannot evaluate {key}: {m}"))))
            .transpose()
    };
    let text = |key: &str, default: Option<&str>| -> Result<String, RenderError> {
        match get(key)? {
            Some(v) => scalar_text(&v).ok_or_else(|| bad(format!("{key} is not a string"))),
            None => default.map(str::to_owned).ok_or_else(|| bad(format!("has no {key}"))),
        }
    };
    let flag = |key: &str, default: bool| -> Result<bool, RenderError> {
        Ok(get(key)?.and_then(|v| v.as_bool()).unwrap_or(default))
    };
    let values = match get("values")? {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| bad("values must be a list of strings".into()))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(bad("values must be a list of strings".into())),
    };
    let mut set = Vec::new();
    for sb in body.blocks() {
        let as_string = match sb.identifier() {
            "set" => false,
            "set_sensitive" | "set_list" => {
                return Err(bad(format!(
                    "{} blocks are not supported by the render",
                    sb.identifier()
                )));
            }
            _ => continue,
        };
        let field = |key: &str| -> Result<String, RenderError> {
            let e = attr(sb.body(), key).ok_or_else(|| bad(format!("a set block has no {key}")))?;
            let v = scope.eval(e).map_err(|m| bad(format!("set.{key}: {m}")))?;
            scalar_text(&v).ok_or_else(|| bad(format!("set.{key} is not a scalar")))
        };
        let kind = attr(sb.body(), "type").map(expr_text).unwrap_or_default();
        set.push((field("name")?, field("value")?, as_string || kind.contains("string")));
    }
    Ok(HelmRelease {
        address: address.to_owned(),
        step: 0,
        name: text("name", None)?,
        repository: get("repository")?.and_then(|v| scalar_text(&v)),
        chart: text("chart", None)?,
        version: text("version", None)?,
        namespace: text("namespace", Some("default"))?,
        create_namespace: flag("create_namespace", false)?,
        include_crds: !flag("skip_crds", false)?,
        values,
        set,
    })
}

enum Made {
    Release(HelmRelease),
    Manifest(TfManifest),
}

type Resources = (Vec<HelmRelease>, Vec<TfManifest>, Vec<String>);

/// The module's `helm_release` and `kubernetes_*` resources, evaluated, in
/// apply order; notes on placeholders and on resources left out.
fn resources(files: &[TfFile], scope: &Scope, module: &str) -> Result<Resources, RenderError> {
    let graph = resource_graph(files);
    let mut made: Vec<(String, Made)> = Vec::new();
    let mut notes = Vec::new();
    for f in files {
        for b in f.body.blocks().filter(|b| b.identifier() == "resource") {
            let l = labels(b);
            let [type_, name] = l.as_slice() else { continue };
            let local = format!("{type_}.{name}");
            let is_k8s =
                *type_ == "kubernetes_manifest" || K8S_RESOURCES.iter().any(|(t, _, _)| t == type_);
            if *type_ != "helm_release" && !is_k8s {
                if type_.starts_with("kubernetes_") {
                    notes.push(format!(
                        "{module}.{local}: {type_} is not rendered (not a kind the render knows)"
                    ));
                }
                continue;
            }
            let bad = |message: String| RenderError::Terraform {
                file: f.path.clone(),
                message: format!("{module}.{local}: {message}"),
            };
            if *type_ == "helm_release" {
                if attr(b.body(), "for_each").is_some() {
                    return Err(
                        bad("for_each on a bootstrap helm_release is not supported".into()),
                    );
                }
                if let Some(count) = attr(b.body(), "count") {
                    let n = scope
                        .eval(count)
                        .map_err(|m| bad(format!("cannot evaluate count: {m}")))?;
                    if n.as_u64() == Some(0) {
                        continue;
                    }
                }
                let address = format!("{module}.{local}");
                let release = helm_release(&address, b.body(), scope, &bad)?;
                let mut needs = BTreeSet::new();
                for v in &release.values {
                    placeholders_in(&Value::String(v.clone()), &mut needs);
                }
                if !needs.is_empty() {
                    notes.push(format!(
                        "{address}: values known only after terraform apply are placeholders: {}",
                        needs.into_iter().collect::<Vec<_>>().join(", ")
                    ));
                }
                made.push((local, Made::Release(release)));
                continue;
            }
            for (suffix, extra) in instances(scope, b.body(), &bad)? {
                let address = format!("{module}.{local}{suffix}");
                let object = k8s_object(type_, b.body(), scope, &extra, &bad)?;
                let mut needs = BTreeSet::new();
                placeholders_in(&hcl::to_value(&object).unwrap_or(Value::Null), &mut needs);
                if !needs.is_empty() {
                    notes.push(format!(
                        "{address}: values known only after terraform apply are placeholders: {}",
                        needs.into_iter().collect::<Vec<_>>().join(", ")
                    ));
                }
                made.push((local.clone(), Made::Manifest(TfManifest { address, step: 0, object })));
            }
        }
    }
    // Apply order: after every resource it (transitively) depends on; file
    // order otherwise (Terraform would run independent ones concurrently).
    let mut ordered: Vec<Made> = Vec::new();
    while !made.is_empty() {
        let i = made
            .iter()
            .position(|(a, _)| !made.iter().any(|(b, _)| b != a && depends_on(&graph, a, b)))
            .ok_or_else(|| RenderError::Terraform {
                file: PathBuf::from(module),
                message: "the bootstrap's resources depend on each other in a cycle".into(),
            })?;
        ordered.push(made.remove(i).1);
    }
    let mut releases = Vec::new();
    let mut manifests = Vec::new();
    for (i, m) in ordered.into_iter().enumerate() {
        let step = i as u32 + 1;
        match m {
            Made::Release(mut r) => {
                r.step = step;
                releases.push(r);
            }
            Made::Manifest(mut m) => {
                m.step = step;
                manifests.push(m);
            }
        }
    }
    Ok((releases, manifests, notes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, rel: &str, text: &str) {
        let p = dir.join(rel);
        fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        fs::write(p, text).expect("write");
    }

    const MODULE: &str = r#"
variable "root_path" { type = string }
variable "namespace" {
  type    = string
  default = "argocd"
}
variable "apps_version" {
  type    = string
  default = "2.0.2"
}
locals { labels = { env = var.root_path } }
resource "helm_release" "root" {
  name      = "argocd-root"
  chart     = "argocd-apps"
  version   = var.apps_version
  namespace = var.namespace
  values = [yamlencode({
    applications = { root = { source = { path = var.root_path } } }
    labels       = local.labels
  })]
  depends_on = [kubernetes_secret_v1.cluster]
}
resource "kubernetes_secret_v1" "cluster" {
  metadata {
    name        = "x"
    namespace   = var.namespace
    labels      = { "argocd.argoproj.io/secret-type" = "cluster" }
    annotations = { key = tls_private_key.sealing.public_key_pem }
  }
  data       = { server = "https://kubernetes.default.svc" }
  depends_on = [helm_release.argocd]
}
resource "tls_private_key" "sealing" {
  algorithm = "RSA"
}
resource "helm_release" "argocd" {
  name             = "argocd"
  chart            = "argo-cd"
  version          = "8.0.4"
  namespace        = var.namespace
  create_namespace = true
}
"#;

    fn repo(env_main: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "infra/terraform/modules/argocd-bootstrap/main.tf", MODULE);
        write(dir.path(), "infra/terraform/envs/prod/main.tf", env_main);
        write(
            dir.path(),
            "infra/terraform/envs/prod/variables.tf",
            "variable \"dedicated\" {\n  type    = bool\n  default = false\n}\nvariable \"region\" { type = string }\n",
        );
        write(dir.path(), "infra/terraform/envs/prod/terraform.tfvars", "region = \"fr-par\"\n");
        write(
            dir.path(),
            "infra/terraform/envs/topology.auto.tfvars.json",
            "{\"dedicated\": true}\n",
        );
        std::os::unix::fs::symlink(
            "../topology.auto.tfvars.json",
            dir.path().join("infra/terraform/envs/prod/topology.auto.tfvars.json"),
        )
        .expect("symlink");
        dir
    }

    const ENV_MAIN: &str = r#"
locals {
  root = var.dedicated ? "deploy/clusters/prod" : "deploy/clusters/shared"
  kubeconfig = yamldecode(base64decode(module.cluster.kubeconfig))
}
module "argocd" {
  source    = "../../modules/argocd-bootstrap"
  root_path = local.root
}
"#;

    #[test]
    fn evaluates_the_bootstrap_releases_in_apply_order() {
        let dir = repo(ENV_MAIN);
        let b = load(dir.path(), "prod", &[]).expect("loads");
        assert_eq!(b.module_address, "module.argocd");
        let names: Vec<&str> = b.releases.iter().map(|r| r.address.as_str()).collect();
        assert_eq!(names, ["module.argocd.helm_release.argocd", "module.argocd.helm_release.root"]);
        let root = &b.releases[1];
        assert_eq!(
            (root.chart.as_str(), root.version.as_str(), root.namespace.as_str()),
            ("argocd-apps", "2.0.2", "argocd")
        );
        // argocd, then the cluster Secret (which depends on it), then the root (which depends on the Secret)
        assert_eq!((b.releases[0].step, b.manifests[0].step, root.step), (1, 2, 3));
        let secret = &b.manifests[0].object;
        assert_eq!(b.manifests[0].address, "module.argocd.kubernetes_secret_v1.cluster");
        assert_eq!(
            (secret["kind"].as_str(), secret["metadata"]["name"].as_str()),
            (Some("Secret"), Some("x"))
        );
        assert_eq!(secret["metadata"]["labels"]["argocd.argoproj.io/secret-type"], "cluster");
        assert_eq!(
            secret["data"]["server"], "aHR0cHM6Ly9rdWJlcm5ldGVzLmRlZmF1bHQuc3Zj",
            "base64, as the provider stores it"
        );
        // An attribute computed at apply time is an explicit placeholder, and a note says so.
        assert_eq!(
            secret["metadata"]["annotations"]["key"],
            "(known after apply: tls_private_key.sealing.public_key_pem)"
        );
        assert!(
            b.notes.iter().any(|n| n.contains("kubernetes_secret_v1.cluster")
                && n.contains("tls_private_key.sealing.public_key_pem")),
            "{:?}",
            b.notes
        );
        let values: serde_json::Value = serde_json::from_str(&root.values[0]).expect("JSON values");
        // *.auto.tfvars.json (through the symlink) wins over the default
        assert_eq!(values["applications"]["root"]["source"]["path"], "deploy/clusters/prod");
        assert_eq!(values["labels"]["env"], "deploy/clusters/prod");
        assert!(b.releases[0].create_namespace);

        // --var wins over every file, typed by the variable's declaration
        let b = load(dir.path(), "prod", &[("dedicated".into(), "false".into())]).expect("loads");
        let values: serde_json::Value =
            serde_json::from_str(&b.releases[1].values[0]).expect("JSON");
        assert_eq!(values["applications"]["root"]["source"]["path"], "deploy/clusters/shared");
    }

    #[test]
    fn a_module_with_count_zero_is_no_bootstrap() {
        let main = ENV_MAIN.replace("source    =", "count = var.dedicated ? 0 : 1\n  source    =");
        let dir = repo(&main);
        let err = load(dir.path(), "prod", &[]).expect_err("count 0");
        assert!(matches!(err, RenderError::NoBootstrap { .. }), "{err}");
        assert!(err.to_string().contains("count = var.dedicated ? 0 : 1"), "{err}");
        assert!(load(dir.path(), "prod", &[("dedicated".into(), "false".into())]).is_ok());
    }

    #[test]
    fn unknown_env_variable_and_unknowable_inputs_are_named() {
        let dir = repo(ENV_MAIN);
        let err = load(dir.path(), "staging", &[]).expect_err("no env");
        assert!(err.is_not_found() && err.to_string().contains("environments: prod"), "{err}");
        let err =
            load(dir.path(), "prod", &[("dedicatd".into(), "true".into())]).expect_err("typo");
        assert!(err.to_string().contains("--var dedicatd: no such variable"), "{err}");
        // root_path from an output of real infrastructure cannot be known offline
        let main = ENV_MAIN.replace("root_path = local.root", "root_path = local.kubeconfig.path");
        let dir = repo(&main);
        let err = load(dir.path(), "prod", &[]).expect_err("unknown");
        let msg = err.to_string();
        assert!(
            msg.contains("helm_release.root") && msg.contains("var.root_path has no value"),
            "{msg}"
        );
    }
}
