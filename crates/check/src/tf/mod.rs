//! Terraform rules (TF001-TF017). HCL is parsed with hcl-edit (re-exported by
//! hcl-rs) and never evaluated: a value that is an expression (a variable, a
//! conditional, a function call) is accepted unless the rule says otherwise,
//! because only literals can be judged without running Terraform. Where a
//! rule needs a value, [`Model::values`] follows `var.` references to the
//! variable's default, the root's tfvars and the module calls that set it.
//!
//! - [`settings`]: backend, provider pins and tokens, region, literal credentials (TF001-TF003, TF009, TF012)
//! - [`cluster`]: LKE clusters (TF004-TF006, TF016)
//! - [`storage`]: Object Storage buckets and keys (TF007, TF008, TF017)
//! - [`structure`]: module layout, documentation, references, shared files, state files (TF010, TF011, TF013-TF015)

pub mod cluster;
pub mod settings;
pub mod storage;
pub mod structure;

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use hcl::edit::Span;
use hcl::edit::expr::{Expression, ObjectKey, TraversalOperator};
use hcl::edit::structure::{Attribute, Block, Body, Structure};

use crate::walk::{Kind, Repo, SourceFile};
use crate::{Context, Family, Finding, RuleId};

pub const FAMILY: Family = Family {
    name: "terraform",
    rules: &[
        RuleId::Tf001,
        RuleId::Tf002,
        RuleId::Tf003,
        RuleId::Tf004,
        RuleId::Tf005,
        RuleId::Tf006,
        RuleId::Tf007,
        RuleId::Tf008,
        RuleId::Tf009,
        RuleId::Tf010,
        RuleId::Tf011,
        RuleId::Tf012,
        RuleId::Tf013,
        RuleId::Tf014,
        RuleId::Tf015,
        RuleId::Tf016,
        RuleId::Tf017,
    ],
    run: check,
};

/// Where environment roots live; each folder below is one root.
pub const ENVS_DIR: &str = "infra/terraform/envs";

fn check(ctx: &Context<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    settings::check(ctx, &mut out);
    cluster::check(ctx, &mut out);
    storage::check(ctx, &mut out);
    structure::check(ctx, &mut out);
    out
}

// ---------------------------------------------------------------- HCL helpers

/// The 1-based line where a spanned node starts (1 when the span is unknown).
pub fn line(file: &SourceFile, span: Option<Range<usize>>) -> usize {
    span.map_or(1, |r| file.line_of(r.start))
}

pub fn blocks<'a>(body: &'a Body, ident: &'a str) -> impl Iterator<Item = &'a Block> + 'a {
    body.iter().filter_map(|s| s.as_block()).filter(move |b| b.ident.as_str() == ident)
}

pub fn label(b: &Block, i: usize) -> Option<&str> {
    b.labels.get(i).map(|l| l.as_str())
}

pub fn attr<'a>(body: &'a Body, key: &str) -> Option<&'a Attribute> {
    body.iter().filter_map(Structure::as_attribute).find(|a| a.key.as_str() == key)
}

pub fn attrs(body: &Body) -> impl Iterator<Item = &Attribute> {
    body.iter().filter_map(Structure::as_attribute)
}

pub fn lit_bool(e: &Expression) -> Option<bool> {
    e.as_bool()
}

pub fn lit_str(e: &Expression) -> Option<&str> {
    e.as_str()
}

pub fn obj_get<'a>(e: &'a Expression, key: &str) -> Option<&'a Expression> {
    e.as_object()?.iter().find_map(|(k, v)| {
        let name = match k {
            ObjectKey::Ident(i) => Some(i.as_str()),
            ObjectKey::Expression(x) => x.as_str(),
        };
        (name == Some(key)).then(|| v.expr())
    })
}

/// `var.NAME` (possibly followed by more traversal) -> NAME.
pub fn var_ref(e: &Expression) -> Option<&str> {
    let t = e.as_traversal()?;
    if t.expr.as_variable().map(|v| v.as_str()) != Some("var") {
        return None;
    }
    match t.operators.first().map(|o| o.value()) {
        Some(TraversalOperator::GetAttr(name)) => Some(name.as_str()),
        _ => None,
    }
}

/// Resource (or data) blocks of a type: (name, block).
pub fn typed_blocks<'a>(
    body: &'a Body,
    kind: &'a str,
    ty: &'a str,
) -> impl Iterator<Item = (&'a str, &'a Block)> + 'a {
    blocks(body, kind)
        .filter(move |b| label(b, 0) == Some(ty))
        .map(|b| (label(b, 1).unwrap_or(""), b))
}

/// Nested blocks named `ident`, written out or as `dynamic "ident" { content { ... } }`:
/// (the body that holds the block's arguments, whether it is dynamic).
pub fn nested<'a>(body: &'a Body, ident: &'a str) -> Vec<(&'a Block, &'a Body, bool)> {
    let mut out: Vec<(&Block, &Body, bool)> =
        blocks(body, ident).map(|b| (b, &b.body, false)).collect();
    for d in blocks(body, "dynamic").filter(|d| label(d, 0) == Some(ident)) {
        if let Some(content) = blocks(&d.body, "content").next() {
            out.push((d, &content.body, true));
        }
    }
    out
}

// ---------------------------------------------------------------- the model

/// One Terraform directory (a module or a root) and its files.
#[derive(Default)]
pub struct Dir<'a> {
    /// Relative path of the directory, `/`-separated.
    pub rel: String,
    /// `.tf` files.
    pub tf: Vec<&'a SourceFile>,
    /// `.tfvars` and `.tfvars.json` files.
    pub tfvars: Vec<&'a SourceFile>,
}

impl<'a> Dir<'a> {
    /// Every top-level block of this directory with the file it is in.
    pub fn blocks(&self, ident: &'a str) -> impl Iterator<Item = (&'a SourceFile, &'a Block)> + '_ {
        self.tf
            .iter()
            .filter_map(|f| Some((*f, f.hcl.as_ref()?)))
            .flat_map(move |(f, body)| blocks(body, ident).map(move |b| (f, b)))
    }

    /// The `variable "name"` block.
    pub fn variable(&self, name: &str) -> Option<(&'a SourceFile, &'a Block)> {
        self.blocks("variable").find(|(_, b)| label(b, 0) == Some(name))
    }

    pub fn variable_names(&self) -> BTreeSet<&'a str> {
        self.blocks("variable").filter_map(|(_, b)| label(b, 0)).collect()
    }

    /// Whether this directory is an environment root (`infra/terraform/envs/<env>`).
    pub fn is_env_root(&self) -> bool {
        self.rel
            .strip_prefix(ENVS_DIR)
            .and_then(|r| r.strip_prefix('/'))
            .is_some_and(|r| !r.is_empty() && !r.contains('/'))
    }
}

/// The Terraform directories of the repository.
pub struct Model<'a> {
    pub dirs: BTreeMap<String, Dir<'a>>,
}

/// A literal value a variable or an expression can take.
fn literal(e: &Expression) -> Option<String> {
    match e {
        Expression::String(s) => Some(s.value().clone()),
        Expression::Number(n) => Some(n.value().to_string()),
        Expression::Bool(b) => Some(b.value().to_string()),
        _ => None,
    }
}

/// Normalize `a/b/../c` (no leading `..` beyond the root).
pub fn normalize(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

impl<'a> Model<'a> {
    pub fn new(repo: &'a Repo) -> Self {
        let mut dirs: BTreeMap<String, Dir<'a>> = BTreeMap::new();
        for f in &repo.files {
            let dir = crate::k8s::dir_of(&f.rel).to_owned();
            match f.kind {
                Kind::Terraform => {
                    let d = dirs.entry(dir.clone()).or_default();
                    d.rel = dir;
                    d.tf.push(f);
                }
                Kind::TfVars | Kind::TfVarsJson => {
                    let d = dirs.entry(dir.clone()).or_default();
                    d.rel = dir;
                    d.tfvars.push(f);
                }
                _ => {}
            }
        }
        Model { dirs }
    }

    /// Directories with at least one `.tf` file.
    pub fn modules(&self) -> impl Iterator<Item = &Dir<'a>> {
        self.dirs.values().filter(|d| !d.tf.is_empty())
    }

    /// The directory a module call's `source` points at (local sources only).
    pub fn module_dir(&self, caller: &str, source: &str) -> Option<&Dir<'a>> {
        if !(source.starts_with("./") || source.starts_with("../")) {
            return None;
        }
        let target = normalize(&format!("{caller}/{source}"))?;
        self.dirs.get(&target)
    }

    /// Module calls whose source is `dir`: (calling directory, file, module block).
    pub fn callers(&self, dir: &str) -> Vec<(&Dir<'a>, &'a SourceFile, &'a Block)> {
        let mut out = Vec::new();
        for d in self.modules() {
            for (f, m) in d.blocks("module") {
                let src = attr(&m.body, "source").and_then(|a| lit_str(&a.value));
                if src.and_then(|s| self.module_dir(&d.rel, s)).is_some_and(|t| t.rel == dir) {
                    out.push((d, f, m));
                }
            }
        }
        out
    }

    /// The literal values an expression in `dir` can take: a literal; for
    /// `var.X`, the variable's default, the values set in this root's tfvars
    /// and the literal (or resolvable) arguments of the module calls; for a
    /// list, each element's values. Empty when nothing literal is known.
    pub fn values(&self, dir: &str, e: &Expression) -> BTreeSet<String> {
        self.values_depth(dir, e, 0)
    }

    fn values_depth(&self, dir: &str, e: &Expression, depth: usize) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        if depth > 8 {
            return out;
        }
        if let Some(v) = literal(e) {
            out.insert(v);
        } else if let Some(arr) = e.as_array() {
            for item in arr.iter() {
                out.extend(self.values_depth(dir, item, depth + 1));
            }
        } else if let Some(name) = var_ref(e) {
            out.extend(self.var_values(dir, name, depth + 1));
        } else if let Some(c) = e.as_conditional() {
            // Either branch may be taken: a value is possible if either gives it.
            out.extend(self.values_depth(dir, &c.true_expr, depth + 1));
            out.extend(self.values_depth(dir, &c.false_expr, depth + 1));
        } else if let Some(p) = e.as_parenthesis() {
            out.extend(self.values_depth(dir, p.inner(), depth + 1));
        }
        out
    }

    fn var_values(&self, dir: &str, name: &str, depth: usize) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let Some(d) = self.dirs.get(dir) else { return out };
        if let Some((_, v)) = d.variable(name)
            && let Some(default) = attr(&v.body, "default")
        {
            out.extend(self.values_depth(dir, &default.value, depth + 1));
        }
        for f in &d.tfvars {
            if let Some(body) = &f.hcl
                && let Some(a) = attr(body, name)
            {
                out.extend(self.values_depth(dir, &a.value, depth + 1));
            }
            if let Some(v) = f.json.as_ref().and_then(|m| m.get(name)) {
                match v {
                    serde_json::Value::String(s) => {
                        out.insert(s.clone());
                    }
                    serde_json::Value::Array(items) => {
                        out.extend(items.iter().filter_map(|i| i.as_str().map(str::to_owned)));
                    }
                    other => {
                        out.insert(other.to_string());
                    }
                }
            }
        }
        for (caller, _, m) in self.callers(dir) {
            if let Some(a) = attr(&m.body, name) {
                out.extend(self.values_depth(&caller.rel, &a.value, depth + 1));
            }
        }
        out
    }

    /// Every literal value attribute `attribute` of `resource "ty"` blocks can take.
    pub fn resource_values(&self, ty: &str, attribute: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for d in self.modules() {
            for (_, b) in d.blocks("resource").filter(|(_, b)| label(b, 0) == Some(ty)) {
                if let Some(a) = attr(&b.body, attribute) {
                    out.extend(self.values(&d.rel, &a.value));
                }
            }
        }
        out
    }
}

/// `Span` for blocks and attributes, re-exported for the rule modules.
pub fn span_line<T: Span>(file: &SourceFile, node: &T) -> usize {
    line(file, node.span())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(
            normalize("infra/terraform/envs/prod/../../modules/x").as_deref(),
            Some("infra/terraform/modules/x")
        );
        assert_eq!(normalize("../x"), None);
    }
}
