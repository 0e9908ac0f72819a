//! `tern completions SHELL`.

use clap::CommandFactory;

use super::Context;
use crate::{cli::Cli, error::CliError};

/// Print a shell completion script.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  tern completions bash > ~/.local/share/bash-completion/completions/tern
  tern completions zsh > ~/.zfunc/_tern")]
pub(crate) struct Completions {
    /// The shell.
    shell: clap_complete::Shell,
}

impl Completions {
    pub(crate) fn run(self, _context: &Context) -> Result<(), CliError> {
        let mut out = std::io::stdout().lock();
        clap_complete::generate(self.shell, &mut Cli::command(), "tern", &mut out);
        Ok(())
    }
}
