//! `tern`: the Tern messenger at a terminal.
//!
//! The binary stays thin: parse the command line, run the command, turn its outcome into an
//! exit code. Everything else lives in [`command`] (one module per command, mirroring the
//! command tree), [`api`] (the daemon's local REST + WebSocket API and its client) and
//! [`profile`] (the files of one account on this machine). What people read comes from the
//! message catalogs of [`i18n`].

// First: the other modules use its `t!` macro.
#[macro_use]
mod i18n;

mod api;
mod backend;
mod cli;
mod command;
mod error;
mod output;
mod profile;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

fn main() -> ExitCode {
    // Key files, the API token and the database must never be readable by other users,
    // whatever the caller's umask.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    // The language is needed before parsing: clap prints --help while it parses.
    let language = i18n::from_command_line(std::env::args_os());
    i18n::init(language);
    let matches = i18n::help::localize(cli::Cli::command(), language).get_matches();
    let cli = match cli::Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
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
