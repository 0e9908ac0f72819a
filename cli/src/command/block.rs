//! `tern block` and `tern unblock`.

use super::{Context, chats::short};
use crate::{
    backend::{self, Need},
    error::CliError,
};

/// Block an account: its messages are refused (directly) or dropped (through relays), its
/// message request is deleted, and you cannot write to it until you unblock it. Without an
/// address, list the blocked accounts.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  tern block tern1qz...
  tern block
  tern unblock tern1qz...")]
pub(crate) struct Block {
    /// A contact's name or an address; none lists the blocked accounts.
    peer: Option<String>,
}

/// Unblock an account. Messages it sent while blocked do not come back.
#[derive(Debug, clap::Args)]
#[command(after_help = "Example:
  tern unblock tern1qz...")]
pub(crate) struct Unblock {
    /// A contact's name or an address.
    peer: String,
}

impl Block {
    pub(crate) async fn run(self, context: &Context) -> Result<(), CliError> {
        let Some(peer) = self.peer else {
            let blocked = backend::with(context, Need::Data, async |b| b.blocked().await).await?;
            return context.out.emit(&blocked, |out| {
                if blocked.is_empty() {
                    return writeln!(out, "{}", t!("block-none"));
                }
                for account in &blocked {
                    writeln!(out, "{}", account.address)?;
                }
                Ok(())
            });
        };
        backend::with(context, Need::Data, async |b| b.block(&peer, true).await).await?;
        context
            .out
            .emit(&serde_json::json!({ "blocked": peer }), |out| {
                writeln!(out, "{}", t!("block-blocked", peer = short(&peer)))
            })
    }
}

impl Unblock {
    pub(crate) async fn run(self, context: &Context) -> Result<(), CliError> {
        let peer = self.peer;
        backend::with(context, Need::Data, async |b| b.block(&peer, false).await).await?;
        context
            .out
            .emit(&serde_json::json!({ "unblocked": peer }), |out| {
                writeln!(out, "{}", t!("block-unblocked", peer = short(&peer)))
            })
    }
}
