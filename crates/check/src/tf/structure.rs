//! How the Terraform tree is put together: TF010 (module layout and README),
//! TF011 (typed, described variables; described, sensitive outputs), TF013
//! (references resolve: a small `terraform validate` that needs no provider),
//! TF014 (shared settings are linked, not copied) and TF015 (no state files).

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use hcl::edit::Span;
use hcl::edit::expr::{Expression, Traversal, TraversalOperator};
use hcl::edit::visit::{Visit, visit_traversal};

use super::{Dir, ENVS_DIR, attr, attrs, label, line, lit_bool};
use crate::walk::{Kind, SourceFile};
use crate::{Context, Finding, RuleId, finding};

pub(super) fn check(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    let called: BTreeSet<String> = ctx
        .tf
        .modules()
        .flat_map(|d| {
            d.blocks("module").filter_map(|(_, m)| {
                let src = attr(&m.body, "source").and_then(|a| super::lit_str(&a.value))?;
                Some(ctx.tf.module_dir(&d.rel, src)?.rel.clone())
            })
        })
        .collect();
    for dir in ctx.tf.modules() {
        if dir.rel.split('/').any(|p| p == "modules") || called.contains(&dir.rel) {
            module_layout(ctx, dir, out);
        }
        documented(dir, out);
        references(ctx, dir, out);
    }
    shared_files(ctx, out);
    for rel in ctx.repo.state_files.iter().filter(|r| r.starts_with("infra/") || !r.contains('/')) {
        out.push(finding(
            RuleId::Tf015,
            rel,
            0,
            "Terraform state or a saved plan is in the tree: it holds resource attributes and secrets in plain text",
        ));
    }
}

/// TF010: main.tf, variables.tf, outputs.tf, versions.tf and a README listing every input and output.
fn module_layout(ctx: &Context<'_>, dir: &Dir<'_>, out: &mut Vec<Finding>) {
    let first = &dir.tf[0].rel;
    for need in ["main.tf", "variables.tf", "outputs.tf", "versions.tf"] {
        if !dir.tf.iter().any(|f| f.rel.rsplit('/').next() == Some(need)) {
            out.push(finding(
                RuleId::Tf010,
                first,
                0,
                format!("module {}/ has no {need}", dir.rel),
            ));
        }
    }
    let readme_rel = format!("{}/README.md", dir.rel);
    let Ok(readme) = std::fs::read_to_string(ctx.repo.root.join(&readme_rel)) else {
        out.push(finding(
            RuleId::Tf010,
            first,
            0,
            format!("module {}/ has no README.md documenting its inputs and outputs", dir.rel),
        ));
        return;
    };
    for (kind, ident) in [("input", "variable"), ("output", "output")] {
        for (file, b) in dir.blocks(ident) {
            let name = label(b, 0).unwrap_or("");
            if !readme.contains(&format!("`{name}`")) {
                out.push(finding(
                    RuleId::Tf010,
                    &file.rel,
                    line(file, b.span()),
                    format!("{kind} {name} is not listed in {readme_rel} (as `{name}`)"),
                ));
            }
        }
    }
}

/// Output names that carry credentials or cluster access: `kubeconfig`, or a
/// name ending in key, secret, token or password (`ci_secret_key`, `admin_password`).
fn is_credential_output(name: &str) -> bool {
    name.contains("kubeconfig")
        || name
            .rsplit('_')
            .next()
            .is_some_and(|last| matches!(last, "key" | "secret" | "token" | "password"))
}

/// TF011: typed and described variables, described outputs, sensitive credentials.
fn documented(dir: &Dir<'_>, out: &mut Vec<Finding>) {
    for (file, v) in dir.blocks("variable") {
        let name = label(v, 0).unwrap_or("");
        let missing: Vec<&str> =
            ["type", "description"].into_iter().filter(|k| attr(&v.body, k).is_none()).collect();
        if !missing.is_empty() {
            out.push(finding(
                RuleId::Tf011,
                &file.rel,
                line(file, v.span()),
                format!("variable {name} has no {}", missing.join(" and no ")),
            ));
        }
    }
    for (file, o) in dir.blocks("output") {
        let name = label(o, 0).unwrap_or("");
        if attr(&o.body, "description").is_none() {
            out.push(finding(
                RuleId::Tf011,
                &file.rel,
                line(file, o.span()),
                format!("output {name} has no description"),
            ));
        }
        if is_credential_output(name)
            && attr(&o.body, "sensitive").and_then(|a| lit_bool(&a.value)) != Some(true)
        {
            out.push(finding(
                RuleId::Tf011,
                &file.rel,
                line(file, o.span()),
                format!("output {name} carries credentials but is not sensitive = true"),
            ));
        }
    }
}

/// `var.`, `local.` and `module.` references with their spans.
#[derive(Default)]
struct Refs {
    found: Vec<(&'static str, String, Option<Range<usize>>)>,
}

impl Visit for Refs {
    fn visit_traversal(&mut self, t: &Traversal) {
        let kind = match t.expr.as_variable().map(|v| v.as_str()) {
            Some("var") => Some("var"),
            Some("local") => Some("local"),
            Some("module") => Some("module"),
            _ => None,
        };
        if let Some(kind) = kind
            && let Some(TraversalOperator::GetAttr(name)) = t.operators.first().map(|o| o.value())
        {
            self.found.push((kind, name.as_str().to_owned(), t.span()));
        }
        visit_traversal(self, t);
    }
}

/// Meta-arguments of a module call, not inputs of the module.
const MODULE_META: &[&str] = &["source", "version", "count", "for_each", "depends_on", "providers"];

/// The primitive type a variable declares, if it is one.
fn primitive_type(e: &Expression) -> Option<&str> {
    e.as_variable().map(|v| v.as_str()).filter(|t| matches!(*t, "string" | "number" | "bool"))
}

/// TF013: every reference resolves; module calls and tfvars match the declarations.
fn references(ctx: &Context<'_>, dir: &Dir<'_>, out: &mut Vec<Finding>) {
    let vars = dir.variable_names();
    let locals: BTreeSet<&str> =
        dir.blocks("locals").flat_map(|(_, b)| attrs(&b.body).map(|a| a.key.as_str())).collect();
    let modules: BTreeSet<&str> = dir.blocks("module").filter_map(|(_, b)| label(b, 0)).collect();
    for file in &dir.tf {
        let Some(body) = &file.hcl else { continue };
        let mut refs = Refs::default();
        refs.visit_body(body);
        let mut seen = BTreeSet::new();
        for (kind, name, span) in refs.found {
            let declared = match kind {
                "var" => vars.contains(name.as_str()),
                "local" => locals.contains(name.as_str()),
                _ => modules.contains(name.as_str()),
            };
            if !declared && seen.insert((kind, name.clone())) {
                let what = match kind {
                    "var" => "variable",
                    "local" => "local value",
                    _ => "module",
                };
                out.push(finding(
                    RuleId::Tf013,
                    &file.rel,
                    line(file, span),
                    format!("{kind}.{name} is used but {}/ declares no {what} {name}", dir.rel),
                ));
            }
        }
    }
    for (file, call) in dir.blocks("module") {
        let name = label(call, 0).unwrap_or("");
        let Some(src) = attr(&call.body, "source").and_then(|a| super::lit_str(&a.value)) else {
            continue;
        };
        if !(src.starts_with("./") || src.starts_with("../")) {
            continue; // a registry or Git module: not in this tree
        }
        let Some(target) = ctx.tf.module_dir(&dir.rel, src) else {
            out.push(finding(
                RuleId::Tf013,
                &file.rel,
                line(file, call.span()),
                format!("module {name}: source {src} is not a Terraform directory of this tree"),
            ));
            continue;
        };
        let inputs = target.variable_names();
        let given: BTreeSet<&str> = attrs(&call.body)
            .map(|a| a.key.as_str())
            .filter(|k| !MODULE_META.contains(k))
            .collect();
        for a in attrs(&call.body).filter(|a| !MODULE_META.contains(&a.key.as_str())) {
            if !inputs.contains(a.key.as_str()) {
                out.push(finding(
                    RuleId::Tf013,
                    &file.rel,
                    line(file, a.span()),
                    format!("module {name}: {src} has no input {}", a.key.as_str()),
                ));
            }
        }
        for (_, v) in target.blocks("variable") {
            let vname = label(v, 0).unwrap_or("");
            if attr(&v.body, "default").is_none() && !given.contains(vname) {
                out.push(finding(
                    RuleId::Tf013,
                    &file.rel,
                    line(file, call.span()),
                    format!("module {name}: required input {vname} of {src} is not set"),
                ));
            }
        }
    }
    let types: BTreeMap<&str, &str> = dir
        .blocks("variable")
        .filter_map(|(_, v)| Some((label(v, 0)?, primitive_type(&attr(&v.body, "type")?.value)?)))
        .collect();
    for file in &dir.tfvars {
        tfvars(dir, file, &vars, &types, out);
    }
    if dir.is_env_root() {
        // An environment root runs as is (`platctl tf --env X`): a variable without
        // a default needs a value in one of its tfvars files.
        let set: BTreeSet<String> = dir.tfvars.iter().flat_map(|f| keys(f)).collect();
        for (file, v) in dir.blocks("variable") {
            let name = label(v, 0).unwrap_or("");
            if attr(&v.body, "default").is_none() && !set.contains(name) {
                out.push(finding(
                    RuleId::Tf013,
                    &file.rel,
                    line(file, v.span()),
                    format!("variable {name} has no default and no tfvars file of {}/ sets it: terraform would stop and ask", dir.rel),
                ));
            }
        }
    }
}

fn tfvars(
    dir: &Dir<'_>,
    file: &SourceFile,
    vars: &BTreeSet<&str>,
    types: &BTreeMap<&str, &str>,
    out: &mut Vec<Finding>,
) {
    let mut bad = |key: &str, l: usize, got: &str| {
        if !vars.contains(key) {
            out.push(finding(
                RuleId::Tf013,
                &file.rel,
                l,
                format!("{key} is set but {}/ declares no variable {key}", dir.rel),
            ));
        } else if let Some(want) = types.get(key)
            && !got.is_empty()
            && *want != got
        {
            out.push(finding(
                RuleId::Tf013,
                &file.rel,
                l,
                format!("{key} is declared {want} but set to a {got}"),
            ));
        }
    };
    if let Some(body) = &file.hcl {
        for a in attrs(body) {
            let got = match &a.value {
                Expression::String(_) => "string",
                Expression::Number(_) => "number",
                Expression::Bool(_) => "bool",
                _ => "",
            };
            bad(a.key.as_str(), line(file, a.span()), got);
        }
    }
    if let Some(map) = &file.json {
        for (key, value) in map {
            let l = file.text.find(&format!("\"{key}\"")).map_or(1, |i| file.line_of(i));
            let got = match value {
                serde_json::Value::String(_) => "string",
                serde_json::Value::Number(_) => "number",
                serde_json::Value::Bool(_) => "bool",
                _ => "",
            };
            bad(key, l, got);
        }
    }
}

/// The keys a tfvars file sets.
fn keys(file: &SourceFile) -> Vec<String> {
    let mut out: Vec<String> = file.json.iter().flat_map(|m| m.keys().cloned()).collect();
    if let Some(body) = &file.hcl {
        out.extend(attrs(body).map(|a| a.key.as_str().to_owned()));
    }
    out
}

/// TF014: `envs/*.auto.tfvars(.json)` files are linked into each root that uses them.
fn shared_files(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    let shared: Vec<&SourceFile> = ctx
        .repo
        .files
        .iter()
        .filter(|f| {
            matches!(f.kind, Kind::TfVars | Kind::TfVarsJson)
                && crate::k8s::dir_of(&f.rel) == ENVS_DIR
                && f.rel.contains(".auto.tfvars")
        })
        .collect();
    for f in shared {
        let name = f.rel.rsplit('/').next().unwrap_or("");
        let real = std::fs::canonicalize(ctx.repo.root.join(&f.rel)).ok();
        let keys = keys(f);
        for root in ctx.tf.modules().filter(|d| d.is_env_root()) {
            let here = root.tfvars.iter().find(|t| t.rel.rsplit('/').next() == Some(name));
            match here {
                Some(copy) if copy.link_target.is_none() || copy.link_target != real => {
                    out.push(finding(
                        RuleId::Tf014,
                        &copy.rel,
                        0,
                        format!(
                            "{} is a copy, not a link to {}: the roots can drift apart",
                            copy.rel, f.rel
                        ),
                    ));
                }
                Some(_) => {}
                None => {
                    let vars = root.variable_names();
                    if let Some(k) = keys.iter().find(|k| vars.contains(k.as_str())) {
                        let (vf, vb) =
                            root.variable(k).map_or((&root.tf[0].rel, 0), |(file, b)| {
                                (&file.rel, line(file, b.span()))
                            });
                        out.push(finding(
                            RuleId::Tf014,
                            vf,
                            vb,
                            format!("{}/ declares {k} but does not link {}: it silently uses the default", root.rel, f.rel),
                        ));
                    }
                }
            }
        }
    }
}
