use std::process::ExitCode;

use crate::cli::StoreCommand;
use crate::exit;
use crate::output::{self, Format};

pub async fn run(cmd: StoreCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        StoreCommand::Probe { store, output: format } => {
            let store = super::open_store(&store)?;
            output::progress(format!(
                "probing {store}: two create-only writes of one key, then writes and deletes conditional on its ETag"
            ));
            let report = store.probe().await?;
            match format {
                Format::Json => output::print_json(&report)?,
                Format::Table => {
                    let verdict = if report.conditional_create_enforced {
                        "enforced: the second create was refused; locking is safe"
                    } else {
                        "NOT enforced: the second create succeeded; platctl will refuse to lock on this store"
                    };
                    let delete = if report.conditional_delete_enforced {
                        "enforced: a DELETE with a stale If-Match ETag was refused; an unlock is one request"
                    } else {
                        "not enforced (or not available): an unlock reads the lock and checks its ID before deleting"
                    };
                    let update = if report.conditional_update_enforced {
                        "enforced: a PUT with a stale If-Match ETag was refused; the current state is replaced only if it is still the one a write read"
                    } else {
                        "not enforced (or not available): state writes are serialised per env within one server process only"
                    };
                    println!(
                        "store: {}\nconditional create: {verdict}\nconditional delete: {delete}\nconditional update: {update}\nelapsed: {} ms",
                        report.store, report.elapsed_ms
                    );
                }
            }
            Ok(ExitCode::from(if report.conditional_create_enforced {
                exit::OK
            } else {
                exit::UNSAFE_STORE
            }))
        }
    }
}
