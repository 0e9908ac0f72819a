//! The command line: global options shared by every command.

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser};

use crate::command::Command;

const EXAMPLES: &str = "\
Examples:
  tern init                      create an account (asks for a passphrase)
  tern daemon                    run the node; other commands talk to it
  tern contact add bob tern:tern1...
  tern send bob 'hello'          send a message
  tern chat bob                  full-screen chat
  tern demo                      watch two users chat through a relay, no set-up

Exit codes: 0 ok, 1 failure, 2 usage, 3 locked or wrong passphrase, 4 no daemon or network,
5 unknown contact.";

/// Tern: peer-to-peer, end-to-end encrypted messaging from your terminal.
#[derive(Debug, Parser)]
#[command(name = "tern", version, after_help = EXAMPLES, propagate_version = true)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: Global,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Options every command takes.
#[derive(Debug, Clone, Args)]
pub(crate) struct Global {
    /// The profile directory: account, history, daemon files. Several profiles can live side
    /// by side. Default: $XDG_DATA_HOME/tern, else ~/.local/share/tern.
    #[arg(long, global = true, env = "TERN_HOME", value_name = "DIR")]
    pub(crate) data_dir: Option<PathBuf>,
    /// Print machine-readable JSON (one stable schema; errors as {"error": {...}} on stderr).
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// More log output (-v info, -vv debug, -vvv trace). RUST_LOG overrides it.
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub(crate) verbose: u8,
    /// Read the passphrase from the first line of this file instead of prompting. The
    /// environment variable TERN_PASSPHRASE works too.
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) passphrase_file: Option<PathBuf>,
    /// The language of the output: en or de. Default: from LC_ALL, LC_MESSAGES or LANG;
    /// English with --json.
    #[arg(long, global = true, value_name = "TAG", value_parser = crate::i18n::parse_lang)]
    #[allow(
        dead_code,
        reason = "main reads --lang before clap parses, since --help depends on it; clap checks it"
    )]
    pub(crate) lang: Option<crate::i18n::Language>,
    /// Use no passphrase at all: anyone who can read the data directory can read the
    /// account. Only for tests and throw-away profiles.
    #[arg(long, global = true)]
    pub(crate) insecure_no_passphrase: bool,
}
