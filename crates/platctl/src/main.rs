//! `platctl`: the platform's operator tool. A thin binary: argument parsing,
//! output formatting and exit codes live here; every capability lives in a
//! library crate (see ARCHITECTURE.md).

mod cli;
mod cmd;
mod exit;
mod output;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // One TLS crypto provider for the whole process (reqwest, rustls servers, object_store).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();

    let cli = cli::Cli::parse();
    output::init_tracing(cli.global.verbose);

    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::ERROR);
        }
    };
    match runtime.block_on(cmd::run(cli)) {
        Ok(code) => code,
        Err(err) => exit::report(&err),
    }
}
