//! The placeholder gate (CONF001, CONF002): no documentation domain or
//! address (RFC 2606, RFC 5737/3849), `.invalid` name, all-zero digest,
//! `example-org` or `CHANGEME` anywhere deployable, except as a value derived
//! from the one configuration file, platform.yaml, which `platctl init`
//! replaces.
//!
//! The scan is platctl-config's ([`platctl_config::placeholder::scan`]), the
//! one implementation: `platctl init --check`, the deploy workflows' gate,
//! calls the same function with the same owners. This family only turns its
//! result into findings:
//!
//! - CONF001 (error): a placeholder platform.yaml does not own. `platctl init`
//!   cannot replace it, so the tree can never be deployed as it is.
//! - CONF002 (warning): placeholders platform.yaml owns remain, one finding on
//!   platform.yaml. The repository ships as an unconfigured template, so
//!   `platctl check .` passes on it (warnings do not fail) while `platctl init
//!   --check` refuses to deploy it; once platform.yaml holds a team's values
//!   and init has run, no placeholder is owned and any left is CONF001.
//!
//! Neither can be suppressed inline (see [`crate::suppress`]): the deploy gate
//! does not read suppressions, and the two must agree.

use platctl_config::placeholder::{self, Found};
use platctl_config::{CONFIG_FILE, ConfigFile};

use crate::{Context, Family, Finding, RuleId, finding};

pub const FAMILY: Family =
    Family { name: "configuration", rules: &[RuleId::Conf001, RuleId::Conf002], run: check };

/// Rules whose findings `# platctl:ignore` cannot silence.
pub const UNSUPPRESSIBLE: &[RuleId] = &[RuleId::Conf001, RuleId::Conf002];

fn check(ctx: &Context<'_>) -> Vec<Finding> {
    let root = &ctx.repo.root;
    let mut out = Vec::new();
    let config = match ConfigFile::load(root) {
        Ok(c) => c,
        Err(e) => {
            out.push(finding(
                RuleId::Conf001,
                CONFIG_FILE,
                0,
                format!("{e}: without it no placeholder counts as derived from the configuration"),
            ));
            None
        }
    };
    // What init last wrote into the tree owns the placeholders in it.
    let owner = config.as_ref().map(|c| c.applied.as_ref().unwrap_or(&c.values));
    let found = match placeholder::scan(root, owner) {
        Ok(f) => f,
        Err(e) => {
            out.push(finding(RuleId::Conf001, "", 0, format!("cannot scan for placeholders: {e}")));
            return out;
        }
    };
    let (owned, stray): (Vec<Found>, Vec<Found>) = found.into_iter().partition(|f| f.owned);
    for f in &stray {
        let why = if config.is_some() {
            "not derived from platform.yaml, so `platctl init` cannot replace it"
        } else {
            "and there is no platform.yaml to derive it from"
        };
        out.push(finding(
            RuleId::Conf001,
            &f.file,
            f.line,
            format!("placeholder {} ({}), {why}", f.text, f.kind.describe()),
        ));
    }
    if let (Some(config), Some(first)) = (&config, owned.first()) {
        let mut files: Vec<&str> = owned.iter().map(|f| f.file.as_str()).collect();
        files.dedup();
        let state = if config.values.placeholders().is_empty() {
            "platform.yaml holds a team's values, but `platctl init` has not carried them into the tree"
        } else {
            "platform.yaml is the unconfigured template"
        };
        out.push(finding(
            RuleId::Conf002,
            CONFIG_FILE,
            0,
            format!(
                "{state}: {} placeholder value(s) in {} deployable file(s) derive from it (first: {}:{} {}); the deploy workflows' gate `platctl init --check` refuses them",
                owned.len(),
                files.len(),
                first.file,
                first.line,
                first.text
            ),
        ));
    }
    out
}
