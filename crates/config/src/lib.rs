//! The platform's configuration: one file (`platform.yaml` at the repository
//! root) holds every value a team chooses — GitHub organisation, repository
//! URL, base domain, ACME contact, region, topology, the control-plane ACL
//! (admin and CI egress addresses) and the image registry — and every other
//! file that carries one of those values is *derived* from it.
//!
//! - [`values`]: the values, their validation (every bad value gets a message
//!   that names the problem and the fix) and the YAML file format.
//! - [`derive`]: the files rendered from the values (Terraform inputs of each
//!   env root) and the text replacements that carry a value change into the
//!   rest of the tree.
//! - [`tree`]: the plan over a repository (which files change, and how) and
//!   its all-or-nothing application.
//! - [`placeholder`]: the scan for placeholder values (documentation domains
//!   and addresses, `.invalid`, all-zero digests, `example-org`, `CHANGEME`)
//!   anywhere deployable, telling apart the ones the configuration owns.
//!   The one implementation of the placeholder gate: `platctl check` (rules
//!   CONF001/CONF002, crate platctl-check) and `platctl init --check` (the
//!   deploy workflows' gate) both call [`placeholder::scan`].
//!
//! See docs/configuration.md for the design.

pub mod derive;
pub mod placeholder;
pub mod text;
pub mod tree;
pub mod values;

use std::path::PathBuf;

pub use tree::{Plan, apply, plan};
pub use values::{CONFIG_FILE, ConfigFile, FieldError, Topology, Values};

/// Errors that stop `platctl init` before it writes anything.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// One or more values are invalid; nothing was written.
    #[error("{}", invalid_message(.0))]
    Invalid(Vec<FieldError>),
    #[error("{path}: not a platform configuration file: {reason}")]
    Parse { path: PathBuf, reason: String },
    #[error(
        "{0} is not the repository root (no infra/terraform/envs/ there): run from the repository or pass --dir"
    )]
    NotARepository(PathBuf),
    #[error("{refusal}")]
    Refused { refusal: String },
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn invalid_message(errors: &[FieldError]) -> String {
    let mut s = format!(
        "{} invalid value{}; nothing was written:",
        errors.len(),
        if errors.len() == 1 { "" } else { "s" }
    );
    for e in errors {
        s.push_str("\n  - ");
        s.push_str(&e.to_string());
    }
    s
}

pub(crate) fn io(
    action: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> ConfigError {
    let path = path.into();
    move |source| ConfigError::Io { action, path, source }
}
