//! `tern contact …`: the address book.

mod add;
mod list;
mod policy;
mod remove;
mod verify;

use super::Context;
use crate::error::CliError;

/// Manage contacts: add, list, remove, verify, set the identity-change policy.
#[derive(Debug, clap::Subcommand)]
#[command(after_help = "Examples:
  tern contact add bob tern:tern1qz...
  tern contact list
  tern contact verify bob
  tern contact policy bob block
  tern contact remove bob")]
pub(crate) enum Contact {
    Add(add::Add),
    List(list::List),
    Remove(remove::Remove),
    Verify(verify::Verify),
    Policy(policy::SetPolicy),
}

impl Contact {
    pub(crate) async fn run(self, context: &Context) -> Result<(), CliError> {
        match self {
            Self::Add(c) => c.run(context).await,
            Self::List(c) => c.run(context).await,
            Self::Remove(c) => c.run(context).await,
            Self::Verify(c) => c.run(context).await,
            Self::Policy(c) => c.run(context).await,
        }
    }
}
