//! Backend, provider pins and tokens, the region default and literal
//! credentials: TF001, TF002, TF003, TF009, TF012.

use std::collections::BTreeSet;

use hcl::edit::Span;
use hcl::edit::structure::{Attribute, Block, Body, Structure};

use super::{Dir, attr, blocks, label, line, lit_bool, lit_str, obj_get};
use crate::walk::{Kind, SourceFile};
use crate::{Context, Finding, RuleId, credentials, finding, is_production};

pub(super) fn check(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    for file in ctx
        .repo
        .files
        .iter()
        .filter(|f| matches!(f.kind, Kind::Terraform | Kind::TfVars | Kind::TfVarsJson))
    {
        secret_literals(file, out);
        if let Some(map) = &file.json {
            json_vars(file, map, out);
        }
        if file.kind == Kind::TfVars
            && let Some(body) = &file.hcl
        {
            production_flags(file, body, out);
        }
    }
    for dir in ctx.tf.modules() {
        directory(dir, out);
    }
}

fn directory(dir: &Dir<'_>, out: &mut Vec<Finding>) {
    let mut has_backend = false;
    let mut pinned_linode = false;
    let mut first_use: Option<(&str, usize)> = None;
    for file in &dir.tf {
        let Some(body) = &file.hcl else { continue };
        for tb in blocks(body, "terraform") {
            has_backend |= backend(file, tb, out);
            for rp in blocks(&tb.body, "required_providers") {
                for a in super::attrs(&rp.body) {
                    if a.key.as_str() == "linode" {
                        pinned_linode = true;
                    }
                    provider_version(file, a, out);
                }
            }
        }
        for b in body.iter().filter_map(|s| s.as_block()) {
            let uses_linode = (b.ident.as_str() == "resource" || b.ident.as_str() == "data")
                && label(b, 0).is_some_and(|t| t.starts_with("linode_"))
                || (b.ident.as_str() == "provider" && label(b, 0) == Some("linode"));
            if uses_linode && first_use.is_none() {
                first_use = Some((&file.rel, line(file, b.span())));
            }
            if b.ident.as_str() == "provider"
                && label(b, 0) == Some("linode")
                && let Some(token) = attr(&b.body, "token")
            {
                out.push(finding(
                    RuleId::Tf012,
                    &file.rel,
                    line(file, token.span()),
                    "provider \"linode\" sets token: read it from LINODE_TOKEN instead (a variable ends up in plans and state)",
                ));
            }
        }
        for v in blocks(body, "variable").filter(|b| label(b, 0) == Some("region")) {
            region(file, v, out);
        }
        if is_production(&file.rel) {
            for m in blocks(body, "module") {
                production_flags(file, &m.body, out);
            }
        }
    }
    if let Some((rel, l)) = first_use
        && !pinned_linode
    {
        out.push(finding(RuleId::Tf002, rel, l, format!("{}/ uses the linode provider but declares no required_providers.linode with a pinned version", dir.rel)));
    }
    if dir.is_env_root() && !has_backend {
        out.push(finding(
            RuleId::Tf001,
            &dir.tf[0].rel,
            1,
            format!("environment root {}/ has no backend block: state would be local", dir.rel),
        ));
    }
}

/// TF001 for one `terraform` block; returns whether it declares a backend.
fn backend(file: &SourceFile, tb: &Block, out: &mut Vec<Finding>) -> bool {
    let mut found = blocks(&tb.body, "cloud").next().is_some();
    for b in blocks(&tb.body, "backend") {
        found = true;
        let l = line(file, b.span());
        match label(b, 0) {
            Some("http") => {
                let args: Vec<&str> = b.body.iter().map(|s| match s {
                    Structure::Attribute(a) => a.key.as_str(),
                    Structure::Block(b) => b.ident.as_str(),
                }).collect();
                if !args.is_empty() {
                    out.push(finding(RuleId::Tf001, &file.rel, l, format!("backend \"http\" sets {}: leave it empty, platctl tf passes the address and a one-time password through TF_HTTP_*", args.join(", "))));
                }
            }
            Some("s3") => {
                if attr(&b.body, "use_lockfile").and_then(|a| lit_bool(&a.value)) != Some(true) {
                    out.push(finding(RuleId::Tf001, &file.rel, l, "backend \"s3\" without use_lockfile = true: state is not locked"));
                }
            }
            Some(other) => out.push(finding(RuleId::Tf001, &file.rel, l, format!("backend {other:?} is not allowed; use \"http\" (platctl) or \"s3\" with use_lockfile"))),
            None => out.push(finding(RuleId::Tf001, &file.rel, l, "backend block without a type")),
        }
    }
    found
}

/// Whether a version constraint has an upper bound.
pub fn has_upper_bound(constraint: &str) -> bool {
    constraint.split(',').map(str::trim).any(|c| {
        c.starts_with("~>")
            || c.starts_with('<')
            || c.starts_with(|ch: char| ch.is_ascii_digit())
            || (c.starts_with('=') && !c.starts_with("=>"))
    })
}

/// TF002 for one `required_providers` entry.
fn provider_version(file: &SourceFile, a: &Attribute, out: &mut Vec<Finding>) {
    let l = line(file, a.span());
    let name = a.key.as_str();
    let Some(version) = obj_get(&a.value, "version") else {
        out.push(finding(
            RuleId::Tf002,
            &file.rel,
            l,
            format!("required_providers.{name} has no version constraint"),
        ));
        return;
    };
    let Some(v) = lit_str(version) else {
        out.push(finding(
            RuleId::Tf002,
            &file.rel,
            l,
            format!("required_providers.{name} version is not a literal constraint"),
        ));
        return;
    };
    if !has_upper_bound(v) {
        out.push(finding(
            RuleId::Tf002,
            &file.rel,
            l,
            format!("{name} provider version {v:?} has no upper bound"),
        ));
    }
}

/// TF003: the region variable defaults to fr-par.
fn region(file: &SourceFile, v: &Block, out: &mut Vec<Finding>) {
    match attr(&v.body, "default") {
        None => out.push(finding(
            RuleId::Tf003,
            &file.rel,
            line(file, v.span()),
            "variable \"region\" has no default; it must default to \"fr-par\"",
        )),
        Some(d) => match lit_str(&d.value) {
            Some("fr-par") => {}
            Some(other) => out.push(finding(
                RuleId::Tf003,
                &file.rel,
                line(file, d.span()),
                format!("variable \"region\" defaults to {other:?}, not \"fr-par\""),
            )),
            None => out.push(finding(
                RuleId::Tf003,
                &file.rel,
                line(file, d.span()),
                "variable \"region\" default is not the literal \"fr-par\"",
            )),
        },
    }
}

/// Production module arguments and tfvars that switch HA or the ACL off.
fn production_flags(file: &SourceFile, body: &Body, out: &mut Vec<Finding>) {
    if !is_production(&file.rel) {
        return;
    }
    for a in body.iter().filter_map(Structure::as_attribute) {
        let key = a.key.as_str();
        let l = line(file, a.span());
        if lit_bool(&a.value) == Some(false)
            && let Some(rule) = switch_rule(key)
        {
            out.push(finding(rule, &file.rel, l, format!("production sets {key} = false")));
        }
        if key.contains("acl")
            && key.contains("allowed")
            && let Some(arr) = a.value.as_array()
        {
            let cidrs: Vec<&str> = arr.iter().filter_map(lit_str).collect();
            if let Some(open) = cidrs.iter().find(|c| matches!(**c, "0.0.0.0/0" | "::/0")) {
                out.push(finding(
                    RuleId::Tf006,
                    &file.rel,
                    l,
                    format!("production {key} admits {open}: the ACL would admit everyone"),
                ));
            } else if arr.iter().next().is_none() && key.contains("ipv4") {
                out.push(finding(RuleId::Tf006, &file.rel, l, format!("production {key} is empty: an enabled ACL with no address locks everyone out")));
            }
        }
    }
}

/// `.tfvars.json`: credential-named literals, and production HA/ACL switches.
fn json_vars(
    file: &SourceFile,
    map: &serde_json::Map<String, serde_json::Value>,
    out: &mut Vec<Finding>,
) {
    let key_line = |key: &str| file.text.find(&format!("\"{key}\"")).map_or(1, |i| file.line_of(i));
    for (key, value) in map {
        if let Some(v) = value.as_str()
            && credentials::is_credential_assignment(key, v)
        {
            out.push(finding(
                RuleId::Tf009,
                &file.rel,
                key_line(key),
                format!("{key} holds a literal credential"),
            ));
        }
        if is_production(&file.rel)
            && value.as_bool() == Some(false)
            && let Some(rule) = switch_rule(key)
        {
            out.push(finding(
                rule,
                &file.rel,
                key_line(key),
                format!("production sets {key} = false"),
            ));
        }
    }
}

/// The rule an HA or ACL on/off variable belongs to, by its name.
fn switch_rule(key: &str) -> Option<RuleId> {
    if key.contains("high_availability")
        || key == "ha"
        || key.ends_with("_ha")
        || key.starts_with("ha_")
    {
        Some(RuleId::Tf005)
    } else if key.contains("acl") && !key.contains("allowed") {
        Some(RuleId::Tf006)
    } else {
        None
    }
}

/// TF009: credential-shaped text, and credential-named attributes holding a literal.
fn secret_literals(file: &SourceFile, out: &mut Vec<Finding>) {
    let mut lines = BTreeSet::new();
    for hit in credentials::scan_text(&file.text) {
        lines.insert(hit.line);
        out.push(finding(
            RuleId::Tf009,
            &file.rel,
            hit.line,
            format!("literal credential: {}", hit.what),
        ));
    }
    if let Some(body) = &file.hcl {
        visit_attrs(body, &mut |a| {
            let l = line(file, a.span());
            if let Some(v) = lit_str(&a.value)
                && credentials::is_credential_assignment(a.key.as_str(), v)
                && !lines.contains(&l)
            {
                out.push(finding(
                    RuleId::Tf009,
                    &file.rel,
                    l,
                    format!("{} holds a literal credential", a.key.as_str()),
                ));
            }
        });
    }
}

fn visit_attrs<'a>(body: &'a Body, f: &mut dyn FnMut(&'a Attribute)) {
    for s in body.iter() {
        match s {
            Structure::Attribute(a) => f(a),
            Structure::Block(b) => visit_attrs(&b.body, f),
        }
    }
}
