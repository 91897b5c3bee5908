//! Terraform rules (TF001..TF009). HCL is parsed with hcl-edit (re-exported by
//! hcl-rs) and never evaluated: a value that is an expression (a variable, a
//! conditional, a function call) is accepted unless the rule says otherwise,
//! because only literals can be judged without running Terraform.

use std::collections::BTreeMap;

use hcl::edit::Span;
use hcl::edit::expr::{Expression, ObjectKey};
use hcl::edit::structure::{Attribute, Block, Body, Structure};

use crate::walk::{Kind, Repo, SourceFile};
use crate::{Finding, finding, secrets};

/// Whether a path belongs to production (a path part named production/prod).
pub fn is_production_path(rel: &str) -> bool {
    rel.split(['/', '-', '_', '.']).any(|p| p == "production" || p == "prod")
}

fn line(file: &SourceFile, span: Option<std::ops::Range<usize>>) -> usize {
    span.map_or(1, |r| file.line_of(r.start))
}

fn blocks<'a>(body: &'a Body, ident: &'a str) -> impl Iterator<Item = &'a Block> + 'a {
    body.iter().filter_map(|s| s.as_block()).filter(move |b| b.ident.as_str() == ident)
}

fn label(b: &Block, i: usize) -> Option<&str> {
    b.labels.get(i).map(|l| l.as_str())
}

fn attr<'a>(body: &'a Body, key: &str) -> Option<&'a Attribute> {
    body.iter().filter_map(Structure::as_attribute).find(|a| a.key.as_str() == key)
}

fn lit_bool(e: &Expression) -> Option<bool> {
    e.as_bool()
}

fn lit_str(e: &Expression) -> Option<&str> {
    e.as_str()
}

fn obj_get<'a>(e: &'a Expression, key: &str) -> Option<&'a Expression> {
    e.as_object()?.iter().find_map(|(k, v)| {
        let name = match k {
            ObjectKey::Ident(i) => Some(i.as_str()),
            ObjectKey::Expression(x) => x.as_str(),
        };
        (name == Some(key)).then(|| v.expr())
    })
}

/// Resource blocks of a type: (name, block).
fn resources<'a>(body: &'a Body, ty: &'a str) -> impl Iterator<Item = (&'a str, &'a Block)> + 'a {
    blocks(body, "resource")
        .filter(move |b| label(b, 0) == Some(ty))
        .map(|b| (label(b, 1).unwrap_or(""), b))
}

pub fn check(repo: &Repo) -> Vec<Finding> {
    let mut out = Vec::new();
    // dir -> (has a linode required_provider, first linode use (file, line), has backend, first tf file)
    let mut dirs: BTreeMap<String, DirFacts> = BTreeMap::new();
    for file in repo
        .files
        .iter()
        .filter(|f| matches!(f.kind, Kind::Terraform | Kind::TfVars | Kind::TfVarsJson))
    {
        secret_literals(file, &mut out);
        if let Some(map) = &file.json {
            json_vars(file, map, &mut out);
            continue;
        }
        let Some(body) = &file.hcl else { continue };
        if file.kind == Kind::TfVars {
            production_flags(file, body, &mut out);
            continue;
        }
        let dir = file.rel.rsplit_once('/').map_or("", |(d, _)| d).to_owned();
        let facts = dirs.entry(dir).or_default();
        if facts.first_file.is_empty() {
            facts.first_file = file.rel.clone();
        }
        for tb in blocks(body, "terraform") {
            backend(file, tb, facts, &mut out);
            for rp in blocks(&tb.body, "required_providers") {
                if let Some(a) = attr(&rp.body, "linode") {
                    facts.pinned_linode = true;
                    provider_version(file, a, &mut out);
                }
            }
        }
        for b in body.iter().filter_map(|s| s.as_block()) {
            let uses_linode = (b.ident.as_str() == "resource" || b.ident.as_str() == "data")
                && label(b, 0).is_some_and(|t| t.starts_with("linode_"))
                || (b.ident.as_str() == "provider" && label(b, 0) == Some("linode"));
            if uses_linode && facts.first_use.is_none() {
                facts.first_use = Some((file.rel.clone(), line(file, b.span())));
            }
        }
        for v in blocks(body, "variable").filter(|b| label(b, 0) == Some("region")) {
            match attr(&v.body, "default") {
                None => out.push(finding(
                    "TF003",
                    &file.rel,
                    line(file, v.span()),
                    "variable \"region\" has no default; it must default to \"fr-par\"",
                )),
                Some(d) => match lit_str(&d.value) {
                    Some("fr-par") => {}
                    Some(other) => out.push(finding(
                        "TF003",
                        &file.rel,
                        line(file, d.span()),
                        format!("variable \"region\" defaults to {other:?}, not \"fr-par\""),
                    )),
                    None => out.push(finding(
                        "TF003",
                        &file.rel,
                        line(file, d.span()),
                        "variable \"region\" default is not the literal \"fr-par\"",
                    )),
                },
            }
        }
        for (name, b) in resources(body, "linode_lke_cluster") {
            lke_cluster(file, name, b, &mut out);
        }
        for (name, b) in resources(body, "linode_object_storage_bucket") {
            state_bucket(file, name, b, &mut out);
        }
        if is_production_path(&file.rel) {
            for m in blocks(body, "module") {
                production_flags(file, &m.body, &mut out);
            }
        }
    }
    for (dir, facts) in &dirs {
        if let Some((rel, l)) = &facts.first_use
            && !facts.pinned_linode
        {
            out.push(finding("TF002", rel, *l, format!("{dir}/ uses the linode provider but declares no required_providers.linode with a pinned version")));
        }
        let is_env_root = dir.starts_with("infra/terraform/envs/") && dir.matches('/').count() == 3;
        if is_env_root && !facts.has_backend {
            out.push(finding(
                "TF001",
                &facts.first_file,
                1,
                format!("environment root {dir}/ has no backend block: state would be local"),
            ));
        }
    }
    out
}

#[derive(Default)]
struct DirFacts {
    pinned_linode: bool,
    first_use: Option<(String, usize)>,
    has_backend: bool,
    first_file: String,
}

fn backend(file: &SourceFile, tb: &Block, facts: &mut DirFacts, out: &mut Vec<Finding>) {
    for b in blocks(&tb.body, "backend") {
        facts.has_backend = true;
        let l = line(file, b.span());
        match label(b, 0) {
            Some("http") => {}
            Some("s3") => {
                if attr(&b.body, "use_lockfile").and_then(|a| lit_bool(&a.value)) != Some(true) {
                    out.push(finding("TF001", &file.rel, l, "backend \"s3\" without use_lockfile = true: state is not locked"));
                }
            }
            Some(other) => out.push(finding("TF001", &file.rel, l, format!("backend {other:?} is not allowed; use \"http\" (platctl) or \"s3\" with use_lockfile"))),
            None => out.push(finding("TF001", &file.rel, l, "backend block without a type")),
        }
    }
    if blocks(&tb.body, "cloud").next().is_some() {
        facts.has_backend = true;
    }
}

fn provider_version(file: &SourceFile, a: &Attribute, out: &mut Vec<Finding>) {
    let l = line(file, a.span());
    let Some(version) = obj_get(&a.value, "version") else {
        out.push(finding(
            "TF002",
            &file.rel,
            l,
            "required_providers.linode has no version constraint",
        ));
        return;
    };
    let Some(v) = lit_str(version) else {
        out.push(finding(
            "TF002",
            &file.rel,
            l,
            "required_providers.linode version is not a literal constraint",
        ));
        return;
    };
    let pinned = v.split(',').map(str::trim).any(|c| {
        c.starts_with("~>")
            || c.starts_with('<')
            || c.starts_with(|ch: char| ch.is_ascii_digit())
            || (c.starts_with('=') && !c.starts_with("=>"))
    });
    if !pinned {
        out.push(finding(
            "TF002",
            &file.rel,
            l,
            format!("linode provider version {v:?} has no upper bound"),
        ));
    }
}

fn lke_cluster(file: &SourceFile, name: &str, b: &Block, out: &mut Vec<Finding>) {
    let l = line(file, b.span());
    let pools = blocks(&b.body, "pool").count()
        + blocks(&b.body, "dynamic").filter(|d| label(d, 0) == Some("pool")).count();
    if pools < 2 {
        out.push(finding(
            "TF004",
            &file.rel,
            l,
            format!(
                "linode_lke_cluster.{name} has {pools} node pool(s); at least two are required"
            ),
        ));
    }
    let tagged_prod = attr(&b.body, "tags")
        .and_then(|t| t.value.as_array())
        .is_some_and(|arr| arr.iter().any(|e| lit_str(e) == Some("production")));
    let label_prod =
        attr(&b.body, "label").and_then(|a| lit_str(&a.value)).is_some_and(is_production_path);
    if !(is_production_path(&file.rel) || tagged_prod || label_prod) {
        // Non-production: only literal `false` is judged (it is allowed), nothing to check.
        return;
    }
    let Some(cp) = blocks(&b.body, "control_plane").next() else {
        out.push(finding(
            "TF005",
            &file.rel,
            l,
            format!("production linode_lke_cluster.{name} has no control_plane block (no HA)"),
        ));
        out.push(finding(
            "TF006",
            &file.rel,
            l,
            format!("production linode_lke_cluster.{name} has no control_plane ACL"),
        ));
        return;
    };
    match attr(&cp.body, "high_availability") {
        None => out.push(finding(
            "TF005",
            &file.rel,
            line(file, cp.span()),
            format!(
                "production linode_lke_cluster.{name}: control_plane.high_availability is not set"
            ),
        )),
        Some(a) if lit_bool(&a.value) == Some(false) => out.push(finding(
            "TF005",
            &file.rel,
            line(file, a.span()),
            format!("production linode_lke_cluster.{name}: high_availability = false"),
        )),
        Some(_) => {}
    }
    let acl = blocks(&cp.body, "acl").next();
    let dynamic_acl = blocks(&cp.body, "dynamic").any(|d| label(d, 0) == Some("acl"));
    match acl {
        None if dynamic_acl => {}
        None => out.push(finding(
            "TF006",
            &file.rel,
            line(file, cp.span()),
            format!("production linode_lke_cluster.{name}: control_plane has no acl block"),
        )),
        Some(acl) => match attr(&acl.body, "enabled") {
            None => out.push(finding(
                "TF006",
                &file.rel,
                line(file, acl.span()),
                format!("production linode_lke_cluster.{name}: acl.enabled is not set"),
            )),
            Some(a) if lit_bool(&a.value) == Some(false) => out.push(finding(
                "TF006",
                &file.rel,
                line(file, a.span()),
                format!("production linode_lke_cluster.{name}: acl.enabled = false"),
            )),
            Some(_) => {}
        },
    }
}

/// Production module arguments and tfvars that switch HA or the ACL off.
fn production_flags(file: &SourceFile, body: &Body, out: &mut Vec<Finding>) {
    if !is_production_path(&file.rel) {
        return;
    }
    for a in body.iter().filter_map(Structure::as_attribute) {
        let key = a.key.as_str();
        if lit_bool(&a.value) != Some(false) {
            continue;
        }
        if let Some(rule) = switch_rule(key) {
            out.push(finding(
                rule,
                &file.rel,
                line(file, a.span()),
                format!("production sets {key} = false"),
            ));
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
            && secrets::is_credential_assignment(key, v)
        {
            out.push(finding(
                "TF009",
                &file.rel,
                key_line(key),
                format!("{key} holds a literal credential"),
            ));
        }
        if is_production_path(&file.rel)
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
fn switch_rule(key: &str) -> Option<&'static str> {
    if key.contains("high_availability")
        || key == "ha"
        || key.ends_with("_ha")
        || key.starts_with("ha_")
    {
        Some("TF005")
    } else if key.contains("acl") {
        Some("TF006")
    } else {
        None
    }
}

fn state_bucket(file: &SourceFile, name: &str, b: &Block, out: &mut Vec<Finding>) {
    let label_text = attr(&b.body, "label").map(|a| a.value.to_string()).unwrap_or_default();
    if !(name.contains("state") || label_text.contains("state")) {
        return;
    }
    let l = line(file, b.span());
    match attr(&b.body, "versioning") {
        None => out.push(finding(
            "TF007",
            &file.rel,
            l,
            format!("state bucket linode_object_storage_bucket.{name} has no versioning"),
        )),
        Some(a) if lit_bool(&a.value) == Some(false) => out.push(finding(
            "TF007",
            &file.rel,
            line(file, a.span()),
            format!("state bucket linode_object_storage_bucket.{name} has versioning = false"),
        )),
        Some(_) => {}
    }
    if let Some(a) = attr(&b.body, "acl")
        && let Some(acl) = lit_str(&a.value)
        && acl != "private"
    {
        out.push(finding(
            "TF008",
            &file.rel,
            line(file, a.span()),
            format!("state bucket linode_object_storage_bucket.{name} has acl = {acl:?}"),
        ));
    }
    if let Some(a) = attr(&b.body, "cors_enabled")
        && lit_bool(&a.value) == Some(true)
    {
        out.push(finding(
            "TF008",
            &file.rel,
            line(file, a.span()),
            format!("state bucket linode_object_storage_bucket.{name} enables CORS"),
        ));
    }
}

fn secret_literals(file: &SourceFile, out: &mut Vec<Finding>) {
    let mut lines = std::collections::BTreeSet::new();
    for hit in secrets::scan_text(&file.text) {
        lines.insert(hit.line);
        out.push(finding(
            "TF009",
            &file.rel,
            hit.line,
            format!("literal credential: {}", hit.what),
        ));
    }
    if let Some(body) = &file.hcl {
        visit_attrs(body, &mut |a| {
            let l = line(file, a.span());
            if let Some(v) = lit_str(&a.value)
                && secrets::is_credential_assignment(a.key.as_str(), v)
                && !lines.contains(&l)
            {
                out.push(finding(
                    "TF009",
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
