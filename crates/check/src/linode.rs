//! The Linode provider's argument schema (LINODE001-LINODE004): every
//! `linode_*` resource and data source is checked against
//! `<schemas>/terraform/linode/<version>.json` (settable arguments, required
//! ones, nested blocks at any depth, `dynamic` blocks included), because the
//! provider itself cannot be downloaded for `terraform validate`.
//!
//! The version comes from the directory's `required_providers.linode`
//! constraint: its lower bound names the release line (`~> 3.9` -> 3.9), and
//! the schema of that line is used. A constraint whose line has no schema is
//! a finding (LINODE004), not a silent pass.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use hcl::edit::Span;
use hcl::edit::structure::{Block, Body, Structure};
use serde::Deserialize;

use crate::tf::{Dir, attr, blocks, label, line, lit_str, obj_get};
use crate::walk::SourceFile;
use crate::{Context, Family, Finding, RuleId, finding};

pub const FAMILY: Family = Family {
    name: "linode",
    rules: &[RuleId::Linode001, RuleId::Linode002, RuleId::Linode003, RuleId::Linode004],
    run: check,
};

/// Where the provider schemas live inside the schema folder.
pub const SCHEMA_DIR: &str = "terraform/linode";

/// Arguments of a resource, a data source or a nested block.
pub type Args = BTreeMap<String, Arg>;

#[derive(Debug, Deserialize)]
pub struct Arg {
    pub required: bool,
    /// Present for a nested block: its own arguments.
    #[serde(default)]
    pub block: Option<Args>,
    #[serde(rename = "type", default)]
    pub ty: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct ProviderSchema {
    pub version: String,
    pub resources: BTreeMap<String, Args>,
    pub data_sources: BTreeMap<String, Args>,
}

/// A release version, `major.minor.patch` (missing parts are 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(pub u64, pub u64, pub u64);

impl Version {
    pub fn parse(s: &str) -> Option<Version> {
        let s = s.trim().trim_start_matches('v');
        let core = s.split(['-', '+']).next()?;
        let mut parts = core.split('.').map(|p| p.parse::<u64>());
        let major = parts.next()?.ok()?;
        let minor = parts.next().transpose().ok()?.unwrap_or(0);
        let patch = parts.next().transpose().ok()?.unwrap_or(0);
        Some(Version(major, minor, patch))
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// The lowest version a Terraform version constraint admits (`~> 3.9`, `>= 3.9, < 4`,
/// `= 3.9.0`, `3.9.0`); `None` when it has no lower bound.
pub fn lower_bound(constraint: &str) -> Option<Version> {
    constraint
        .split(',')
        .filter_map(|c| {
            let c = c.trim();
            let v = c
                .strip_prefix("~>")
                .or_else(|| c.strip_prefix(">="))
                .or_else(|| c.strip_prefix('>'))
                .or_else(|| c.strip_prefix('='))
                .or_else(|| c.starts_with(|ch: char| ch.is_ascii_digit()).then_some(c))?;
            Version::parse(v)
        })
        .max()
}

/// The schemas of the folder, loaded on first use, by version.
pub struct Schemas {
    /// `<schemas>/terraform/linode`, as messages show it (independent of where the folder is).
    shown: String,
    available: Vec<(Version, PathBuf)>,
    loaded: HashMap<Version, OnceLock<Result<ProviderSchema, String>>>,
}

impl Schemas {
    pub fn open(schema_root: &Path) -> Schemas {
        let dir = schema_root.join(SCHEMA_DIR);
        let mut available: Vec<(Version, PathBuf)> = std::fs::read_dir(&dir)
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter_map(|p| {
                        let stem = p.file_name()?.to_str()?.strip_suffix(".json")?;
                        Some((Version::parse(stem)?, p))
                    })
                    .collect()
            })
            .unwrap_or_default();
        available.sort();
        let loaded = available.iter().map(|(v, _)| (*v, OnceLock::new())).collect();
        Schemas { shown: format!("<schemas>/{SCHEMA_DIR}"), available, loaded }
    }

    fn names(&self) -> String {
        if self.available.is_empty() {
            "none".to_owned()
        } else {
            self.available.iter().map(|(v, _)| v.to_string()).collect::<Vec<_>>().join(", ")
        }
    }

    /// The schema for a release line (same major.minor as `min`), newest patch first.
    fn for_line(&self, min: Version) -> Option<Version> {
        self.available.iter().rev().map(|(v, _)| *v).find(|v| v.0 == min.0 && v.1 == min.1)
    }

    fn newest(&self) -> Option<Version> {
        self.available.last().map(|(v, _)| *v)
    }

    fn get(&self, v: Version) -> Result<&ProviderSchema, String> {
        let path = self.available.iter().find(|(a, _)| *a == v).map(|(_, p)| p.clone());
        let cell = self.loaded.get(&v).ok_or_else(|| format!("no schema for {v}"))?;
        cell.get_or_init(|| {
            let path = path.ok_or_else(|| format!("no schema for {v}"))?;
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            serde_json::from_str(&text)
                .map_err(|e| format!("{} is not a provider schema: {e}", path.display()))
        })
        .as_ref()
        .map_err(Clone::clone)
    }
}

fn check(ctx: &Context<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    let uses = ctx.tf.modules().any(|d| linode_blocks(d).next().is_some());
    if !uses {
        return out;
    }
    let schemas = Schemas::open(ctx.schemas.root());
    for dir in ctx.tf.modules() {
        let Some((first_file, first_block)) = linode_blocks(dir).next() else { continue };
        let version = match pinned(dir) {
            Some((file, l, constraint)) => {
                let line_of = lower_bound(&constraint).and_then(|min| schemas.for_line(min));
                match line_of {
                    Some(v) => v,
                    None => {
                        out.push(finding(
                            RuleId::Linode004,
                            &file.rel,
                            l,
                            format!(
                                "linode provider constraint {constraint:?} names a release line with no argument schema in {}/ (available: {}); pin \"~> 3.9\" or add that version's schema",
                                schemas.shown,
                                schemas.names()
                            ),
                        ));
                        continue;
                    }
                }
            }
            None => match schemas.newest() {
                Some(v) => v, // TF002 reports the missing pin; check against the newest schema meanwhile
                None => {
                    out.push(finding(
                        RuleId::Linode004,
                        &first_file.rel,
                        line(first_file, first_block.span()),
                        format!(
                            "no Linode provider schema in {}/ to check linode_* blocks against",
                            schemas.shown
                        ),
                    ));
                    continue;
                }
            },
        };
        let schema = match schemas.get(version) {
            Ok(s) => s,
            Err(e) => {
                out.push(finding(RuleId::Linode004, &first_file.rel, 0, e));
                continue;
            }
        };
        for (file, b) in linode_blocks(dir) {
            check_block(file, b, schema, &mut out);
        }
    }
    out
}

/// Every `resource` and `data` block whose type starts with `linode_`.
fn linode_blocks<'a>(dir: &'a Dir<'a>) -> impl Iterator<Item = (&'a SourceFile, &'a Block)> + 'a {
    dir.blocks("resource")
        .chain(dir.blocks("data"))
        .filter(|(_, b)| label(b, 0).is_some_and(|t| t.starts_with("linode_")))
}

/// The directory's `required_providers.linode` version: (file, line, constraint).
fn pinned<'a>(dir: &'a Dir<'a>) -> Option<(&'a SourceFile, usize, String)> {
    for (file, tb) in dir.blocks("terraform") {
        for rp in blocks(&tb.body, "required_providers") {
            if let Some(a) = attr(&rp.body, "linode")
                && let Some(v) = obj_get(&a.value, "version").and_then(lit_str)
            {
                return Some((file, line(file, a.span()), v.to_owned()));
            }
        }
    }
    None
}

const RESOURCE_META_ARGS: &[&str] = &["count", "for_each", "provider", "depends_on"];
const RESOURCE_META_BLOCKS: &[&str] = &["lifecycle", "provisioner", "connection", "timeouts"];
const DYNAMIC_ARGS: &[&str] = &["for_each", "iterator", "labels"];

fn check_block(file: &SourceFile, b: &Block, schema: &ProviderSchema, out: &mut Vec<Finding>) {
    let kind = b.ident.as_str();
    let ty = label(b, 0).unwrap_or("");
    let name = label(b, 1).unwrap_or("");
    let (table, what) = if kind == "data" {
        (&schema.data_sources, "data source")
    } else {
        (&schema.resources, "resource")
    };
    let prefix = if kind == "data" { format!("data.{ty}.{name}") } else { format!("{ty}.{name}") };
    let Some(args) = table.get(ty) else {
        let hint = suggest(ty, table.keys().map(String::as_str));
        out.push(finding(
            RuleId::Linode001,
            &file.rel,
            line(file, b.span()),
            format!("{prefix}: linode provider {} has no {what} type {ty}{hint}", schema.version),
        ));
        return;
    };
    let walker = Walker { file, version: &schema.version, prefix: &prefix, dynamic: None };
    walker.body(&b.body, args, "", line(file, b.span()), true, out);
}

#[derive(Clone, Copy)]
struct Walker<'a> {
    file: &'a SourceFile,
    version: &'a str,
    prefix: &'a str,
    /// The `dynamic` block the current body is the content of (or is inside).
    dynamic: Option<&'a str>,
}

impl<'a> Walker<'a> {
    /// Check one body against `args`. `path` is the block path inside the
    /// resource (`""`, `pool`, `pool.autoscaler`); `top` allows meta-arguments.
    fn body(
        &self,
        body: &'a Body,
        args: &'a Args,
        path: &str,
        at: usize,
        top: bool,
        out: &mut Vec<Finding>,
    ) {
        let file = self.file;
        let within = match (path.is_empty(), self.dynamic) {
            (true, _) => String::new(),
            (false, None) => format!(" in {path}"),
            (false, Some(d)) => format!(" in {path} (dynamic \"{d}\")"),
        };
        for s in body.iter() {
            match s {
                Structure::Attribute(a) => {
                    let key = a.key.as_str();
                    if top && RESOURCE_META_ARGS.contains(&key) {
                        continue;
                    }
                    if !args.contains_key(key) {
                        out.push(self.unknown(
                            line(file, a.span()),
                            "argument",
                            key,
                            &within,
                            args,
                        ));
                    }
                }
                Structure::Block(inner) => {
                    let ident = inner.ident.as_str();
                    if top && RESOURCE_META_BLOCKS.contains(&ident) {
                        continue;
                    }
                    let l = line(file, inner.span());
                    let (name, content, dynamic) = if ident == "dynamic" {
                        let Some(name) = label(inner, 0) else { continue };
                        for a in crate::tf::attrs(&inner.body) {
                            if !DYNAMIC_ARGS.contains(&a.key.as_str()) {
                                out.push(self.unknown(
                                    line(file, a.span()),
                                    "argument",
                                    a.key.as_str(),
                                    &format!(" of dynamic \"{name}\""),
                                    &Args::new(),
                                ));
                            }
                        }
                        match blocks(&inner.body, "content").next() {
                            Some(c) => (name, &c.body, true),
                            None => {
                                out.push(finding(
                                    RuleId::Linode002,
                                    &file.rel,
                                    l,
                                    format!(
                                        "{}: dynamic \"{name}\"{within} has no content block",
                                        self.prefix
                                    ),
                                ));
                                continue;
                            }
                        }
                    } else {
                        (ident, &inner.body, false)
                    };
                    let kind = if dynamic { "dynamic block" } else { "block" };
                    match args.get(name) {
                        Some(Arg { block: Some(sub), .. }) => {
                            let sub_path = if path.is_empty() {
                                name.to_owned()
                            } else {
                                format!("{path}.{name}")
                            };
                            let walker = Walker {
                                dynamic: if dynamic { Some(name) } else { self.dynamic },
                                ..*self
                            };
                            walker.body(content, sub, &sub_path, l, false, out);
                        }
                        Some(arg) => out.push(finding(
                            RuleId::Linode002,
                            &file.rel,
                            l,
                            format!(
                                "{}: {name}{within} is an argument of type {}, not a {kind} (linode provider {})",
                                self.prefix,
                                arg.ty.as_deref().unwrap_or("any"),
                                self.version
                            ),
                        )),
                        None => out.push(self.unknown(l, kind, name, &within, args)),
                    }
                }
            }
        }
        for (name, arg) in args.iter().filter(|(_, a)| a.required) {
            let set = attr(body, name).is_some()
                || blocks(body, name).next().is_some()
                || blocks(body, "dynamic").any(|d| label(d, 0) == Some(name.as_str()));
            if !set {
                let kind = if arg.block.is_some() { "block" } else { "argument" };
                out.push(finding(
                    RuleId::Linode003,
                    &file.rel,
                    at,
                    format!(
                        "{}: required {kind} {name}{within} is not set (linode provider {})",
                        self.prefix, self.version
                    ),
                ));
            }
        }
    }

    fn unknown(&self, l: usize, kind: &str, name: &str, within: &str, args: &Args) -> Finding {
        let hint = suggest(name, args.keys().map(String::as_str));
        finding(
            RuleId::Linode002,
            &self.file.rel,
            l,
            format!(
                "{}: unknown {kind} {name}{within} (linode provider {}){hint}",
                self.prefix, self.version
            ),
        )
    }
}

/// `; did you mean X?` for the closest known name (edit distance at most 2).
fn suggest<'a>(name: &str, known: impl Iterator<Item = &'a str>) -> String {
    known
        .map(|k| (edit_distance(name, k), k))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, k)| format!("; did you mean {k}?"))
        .unwrap_or_default()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraints_name_a_release_line() {
        assert_eq!(lower_bound("~> 3.9"), Some(Version(3, 9, 0)));
        assert_eq!(lower_bound(">= 3.9.1, < 4.0"), Some(Version(3, 9, 1)));
        assert_eq!(lower_bound("= 3.9.0"), Some(Version(3, 9, 0)));
        assert_eq!(lower_bound("3.5"), Some(Version(3, 5, 0)));
        assert_eq!(lower_bound("< 4.0"), None);
        assert_eq!(Version::parse("v3.9.0"), Some(Version(3, 9, 0)));
        assert_eq!(Version::parse("three"), None);
    }

    #[test]
    fn suggestions() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(
            suggest("k8s_verison", ["k8s_version", "label"].into_iter()),
            "; did you mean k8s_version?"
        );
        assert_eq!(suggest("zzz", ["label"].into_iter()), "");
    }
}
