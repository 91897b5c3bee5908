//! Object Storage: TF007 (the state bucket is versioned and expires old
//! versions), TF008 (buckets are private; no CORS on the state bucket) and
//! TF017 (access keys are limited to named buckets).

use hcl::edit::Span;
use hcl::edit::structure::Block;

use super::{Dir, attr, label, line, lit_bool, nested};
use crate::walk::SourceFile;
use crate::{Context, Finding, RuleId, finding};

pub(super) fn check(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    for dir in ctx.tf.modules() {
        for (file, b) in dir.blocks("resource") {
            let name = label(b, 1).unwrap_or("");
            match label(b, 0) {
                Some("linode_object_storage_bucket") => bucket(ctx, dir, file, name, b, out),
                Some("linode_object_storage_key") => key(file, name, b, out),
                _ => {}
            }
        }
    }
}

fn bucket(
    ctx: &Context<'_>,
    dir: &Dir<'_>,
    file: &SourceFile,
    name: &str,
    b: &Block,
    out: &mut Vec<Finding>,
) {
    let what = format!("linode_object_storage_bucket.{name}");
    if let Some(a) = attr(&b.body, "acl") {
        let acls = ctx.tf.values(&dir.rel, &a.value);
        if let Some(public) = acls.iter().find(|acl| *acl != "private") {
            out.push(finding(
                RuleId::Tf008,
                &file.rel,
                line(file, a.span()),
                format!("{what} has acl = {public:?}: objects would be readable without a key"),
            ));
        }
    }
    let label_values = attr(&b.body, "label")
        .map(|a| {
            let mut v: Vec<String> = ctx.tf.values(&dir.rel, &a.value).into_iter().collect();
            v.push(a.value.to_string());
            v.join(" ")
        })
        .unwrap_or_default();
    if !(name.contains("state") || label_values.contains("state")) {
        return;
    }
    let l = line(file, b.span());
    match attr(&b.body, "versioning") {
        None => out.push(finding(
            RuleId::Tf007,
            &file.rel,
            l,
            format!("state bucket {what} has no versioning"),
        )),
        Some(a) if lit_bool(&a.value) == Some(false) => out.push(finding(
            RuleId::Tf007,
            &file.rel,
            line(file, a.span()),
            format!("state bucket {what} has versioning = false"),
        )),
        Some(_) => {}
    }
    let expires = nested(&b.body, "lifecycle_rule").iter().any(|(_, rule, _)| {
        attr(rule, "enabled").and_then(|a| lit_bool(&a.value)) != Some(false)
            && !nested(rule, "noncurrent_version_expiration").is_empty()
    });
    if !expires {
        out.push(finding(
            RuleId::Tf007,
            &file.rel,
            l,
            format!("state bucket {what} has no enabled lifecycle_rule with noncurrent_version_expiration: old versions are kept forever"),
        ));
    }
    if let Some(a) = attr(&b.body, "cors_enabled")
        && lit_bool(&a.value) == Some(true)
    {
        out.push(finding(
            RuleId::Tf008,
            &file.rel,
            line(file, a.span()),
            format!("state bucket {what} enables CORS"),
        ));
    }
}

fn key(file: &SourceFile, name: &str, b: &Block, out: &mut Vec<Finding>) {
    if nested(&b.body, "bucket_access").is_empty() {
        out.push(finding(
            RuleId::Tf017,
            &file.rel,
            line(file, b.span()),
            format!("linode_object_storage_key.{name} has no bucket_access: it can read and write every bucket of the account"),
        ));
    }
}
