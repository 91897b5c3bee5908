//! Exit codes. Documented in README.md ("Exit codes"); keep the two in sync.

use std::process::ExitCode;

/// Success.
pub const OK: u8 = 0;
/// Any error not listed below (bad config, store unreachable, I/O).
pub const ERROR: u8 = 1;
/// Usage error: unknown flag or bad value (clap's own code). Drift/check
/// commands use 2 for "findings" as documented per command.
pub const USAGE: u8 = 2;
/// The state is locked by someone else, or a lineage/serial conflict.
pub const CONFLICT: u8 = 3;
/// The store does not enforce create-only writes: locking is refused.
pub const UNSAFE_STORE: u8 = 4;
/// The named env, version or lock does not exist.
pub const NOT_FOUND: u8 = 5;

/// An error that carries its exit code. Commands return it through `anyhow`;
/// `report` finds it in the chain.
#[derive(Debug)]
pub struct Coded {
    pub code: u8,
    pub message: String,
}

impl std::fmt::Display for Coded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Coded {}

pub fn coded(code: u8, message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Coded { code, message: message.into() })
}

/// Print the error chain on stderr and choose the exit code.
pub fn report(err: &anyhow::Error) -> ExitCode {
    eprintln!("{} {err:#}", crate::output::paint_error("error:"));
    let code = err
        .chain()
        .find_map(|e| e.downcast_ref::<Coded>().map(|c| c.code))
        .or_else(|| err.chain().find_map(state_error_code))
        .unwrap_or(ERROR);
    ExitCode::from(code)
}

fn state_error_code(e: &(dyn std::error::Error + 'static)) -> Option<u8> {
    use platctl_state::StateError;
    use platctl_store::StoreError;
    if let Some(platctl_tf::TfError::State(inner)) = e.downcast_ref::<platctl_tf::TfError>() {
        return state_error_code(inner);
    }
    if let Some(StoreError::Unsafe { .. }) = e.downcast_ref::<StoreError>() {
        return Some(UNSAFE_STORE);
    }
    match e.downcast_ref::<StateError>()? {
        StateError::Locked { .. }
        | StateError::LockMismatch { .. }
        | StateError::Conflict(_)
        | StateError::NotLocked { .. } => Some(CONFLICT),
        StateError::Store(StoreError::Unsafe { .. }) => Some(UNSAFE_STORE),
        StateError::NotFound(_) => Some(NOT_FOUND),
        _ => None,
    }
}
