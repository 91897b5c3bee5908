//! Exit codes: every command's exit code is decided here. Documented in README.md
//! ("Exit codes") and in each command's `--help`; keep them in sync.

use std::process::ExitCode;

/// Success.
pub const OK: u8 = 0;
/// Any error not listed below (bad config, store unreachable, I/O); also `check`
/// with an error-level finding, `smoke` with a failed check, `secrets scan` with a finding.
pub const ERROR: u8 = 1;
/// Usage error: unknown flag or bad value (clap's own code).
pub const USAGE: u8 = 2;
/// `platctl drift`: every env was checked and at least one has drift or pending
/// changes. Shares 2 with [`USAGE`], as documented in `drift --help`.
pub const DRIFT: u8 = 2;
/// The state is locked by someone else, or a lineage/serial conflict.
pub const CONFLICT: u8 = 3;
/// The store does not enforce create-only writes: locking is refused.
pub const UNSAFE_STORE: u8 = 4;
/// The named env, version or lock does not exist.
pub const NOT_FOUND: u8 = 5;

/// `platctl drift`: 0 clean, 2 drift or pending changes, 1 a check failed (the run
/// is incomplete, which wins over drift).
pub fn drift(verdict: platctl_drift::Verdict) -> u8 {
    match verdict {
        platctl_drift::Verdict::Clean => OK,
        platctl_drift::Verdict::Changes => DRIFT,
        platctl_drift::Verdict::Incomplete => ERROR,
    }
}

/// `platctl tf` exits with terraform's own code (128 + signal when it was killed);
/// a code that does not fit an exit status is an error.
pub fn terraform(code: i32) -> u8 {
    u8::try_from(code).unwrap_or(ERROR)
}

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
        return state_error_code(inner.as_ref());
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

#[cfg(test)]
mod tests {
    use platctl_drift::Verdict;

    #[test]
    fn drift_verdicts_map_to_the_documented_codes() {
        assert_eq!(super::drift(Verdict::Clean), 0);
        assert_eq!(super::drift(Verdict::Changes), 2);
        assert_eq!(super::drift(Verdict::Incomplete), 1);
    }

    #[test]
    fn terraform_codes_pass_through_and_out_of_range_is_an_error() {
        assert_eq!(super::terraform(0), 0);
        assert_eq!(super::terraform(2), 2);
        assert_eq!(super::terraform(130), 130);
        assert_eq!(super::terraform(-1), 1);
        assert_eq!(super::terraform(300), 1);
    }
}
