//! LKE clusters: TF004 (two node pools, one autoscaled), TF005 (HA control
//! plane in production), TF006 (control-plane ACL in production) and TF016
//! (GPU pools are tainted).

use hcl::edit::Span;
use hcl::edit::structure::Block;

use super::{Dir, attr, blocks, label, line, lit_bool, lit_str, nested};
use crate::walk::SourceFile;
use crate::{Context, Finding, RuleId, finding, is_production};

pub(super) fn check(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    for dir in ctx.tf.modules() {
        for (file, b) in dir.blocks("resource") {
            if label(b, 0) == Some("linode_lke_cluster") {
                lke_cluster(ctx, dir, file, label(b, 1).unwrap_or(""), b, out);
            }
        }
    }
}

fn lke_cluster(
    ctx: &Context<'_>,
    dir: &Dir<'_>,
    file: &SourceFile,
    name: &str,
    b: &Block,
    out: &mut Vec<Finding>,
) {
    let l = line(file, b.span());
    let pools = nested(&b.body, "pool");
    // Pools that exist whatever the variables say: written out, or dynamic over
    // something other than a conditional (`cond ? [x] : []` may yield none).
    let always: Vec<&(&Block, &hcl::edit::structure::Body, bool)> = pools
        .iter()
        .filter(|(block, _, dynamic)| {
            !dynamic
                || attr(&block.body, "for_each").is_some_and(|a| {
                    !matches!(a.value, hcl::edit::expr::Expression::Conditional(_))
                })
        })
        .collect();
    let autoscaled = always.iter().any(|(_, body, _)| !nested(body, "autoscaler").is_empty());
    if always.len() < 2 {
        out.push(finding(
            RuleId::Tf004,
            &file.rel,
            l,
            format!(
                "linode_lke_cluster.{name} has {} node pool(s) that always exist; at least two are required (system and workload)",
                always.len()
            ),
        ));
    } else if !autoscaled {
        out.push(finding(
            RuleId::Tf004,
            &file.rel,
            l,
            format!("linode_lke_cluster.{name}: no node pool has an autoscaler; the workload pool needs min/max"),
        ));
    }
    for (pool, body, dynamic) in &pools {
        let mut text = attr(body, "type").map(|a| a.value.to_string()).unwrap_or_default();
        if let Some(a) = attr(body, "type") {
            text.extend(ctx.tf.values(&dir.rel, &a.value));
        }
        for key in ["tags", "labels"] {
            if let Some(a) = attr(body, key) {
                text.push_str(&a.value.to_string());
            }
        }
        if *dynamic && let Some(a) = attr(&pool.body, "for_each") {
            text.push_str(&a.value.to_string());
        }
        if text.to_lowercase().contains("gpu") && nested(body, "taint").is_empty() {
            out.push(finding(
                RuleId::Tf016,
                &file.rel,
                line(file, pool.span()),
                format!("linode_lke_cluster.{name} has a GPU node pool without a taint: any pod may be scheduled on GPU nodes"),
            ));
        }
    }
    let tagged_prod = attr(&b.body, "tags")
        .and_then(|t| t.value.as_array())
        .is_some_and(|arr| arr.iter().any(|e| lit_str(e) == Some("production")));
    let label_prod =
        attr(&b.body, "label").and_then(|a| lit_str(&a.value)).is_some_and(is_production);
    if !(is_production(&file.rel) || tagged_prod || label_prod) {
        // Non-production: only literal `false` is judged (it is allowed), nothing to check.
        return;
    }
    let Some(cp) = blocks(&b.body, "control_plane").next() else {
        out.push(finding(
            RuleId::Tf005,
            &file.rel,
            l,
            format!("production linode_lke_cluster.{name} has no control_plane block (no HA)"),
        ));
        out.push(finding(
            RuleId::Tf006,
            &file.rel,
            l,
            format!("production linode_lke_cluster.{name} has no control_plane ACL"),
        ));
        return;
    };
    match attr(&cp.body, "high_availability") {
        None => out.push(finding(
            RuleId::Tf005,
            &file.rel,
            line(file, cp.span()),
            format!(
                "production linode_lke_cluster.{name}: control_plane.high_availability is not set"
            ),
        )),
        Some(a) if lit_bool(&a.value) == Some(false) => out.push(finding(
            RuleId::Tf005,
            &file.rel,
            line(file, a.span()),
            format!("production linode_lke_cluster.{name}: high_availability = false"),
        )),
        Some(_) => {}
    }
    let acls = nested(&cp.body, "acl");
    let Some((acl, acl_body, dynamic)) = acls.first() else {
        out.push(finding(
            RuleId::Tf006,
            &file.rel,
            line(file, cp.span()),
            format!("production linode_lke_cluster.{name}: control_plane has no acl block"),
        ));
        return;
    };
    if *dynamic {
        return; // built from variables: judged by the module's validation and the tfvars
    }
    match attr(acl_body, "enabled") {
        None => out.push(finding(
            RuleId::Tf006,
            &file.rel,
            line(file, acl.span()),
            format!("production linode_lke_cluster.{name}: acl.enabled is not set"),
        )),
        Some(a) if lit_bool(&a.value) == Some(false) => out.push(finding(
            RuleId::Tf006,
            &file.rel,
            line(file, a.span()),
            format!("production linode_lke_cluster.{name}: acl.enabled = false"),
        )),
        Some(_) => {}
    }
    for (_, addresses, _) in nested(acl_body, "addresses") {
        for key in ["ipv4", "ipv6"] {
            let Some(a) = attr(addresses, key) else { continue };
            let open = a.value.as_array().is_some_and(|arr| {
                arr.iter().any(|c| matches!(lit_str(c), Some("0.0.0.0/0" | "::/0")))
            });
            if open {
                out.push(finding(
                    RuleId::Tf006,
                    &file.rel,
                    line(file, a.span()),
                    format!(
                        "production linode_lke_cluster.{name}: the ACL admits every address ({key})"
                    ),
                ));
            }
        }
    }
}
