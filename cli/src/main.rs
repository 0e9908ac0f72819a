//! `tern`: the Tern messenger at a terminal.
//!
//! The binary stays thin: parse the command line, run the command, turn its outcome into an
//! exit code. Everything else lives in [`command`] (one module per command, mirroring the
//! command tree), [`api`] (the daemon's local REST + WebSocket API and its client) and
//! [`profile`] (the files of one account on this machine).

mod api;
mod backend;
mod cli;
mod command;
mod error;
mod output;
mod profile;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Key files, the API token and the database must never be readable by other users,
    // whatever the caller's umask.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let cli = cli::Cli::parse();
    let json = cli.global.json;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return error::report(&error::CliError::Other(e.into()), json),
    };
    let outcome = runtime.block_on(command::run(cli));
    // Background tasks (a node's network) must not keep the process alive after the command.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        // `tern history bob | head` closes our stdout early; that is not a failure.
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => error::report(&e, json),
    }
}
