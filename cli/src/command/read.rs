//! `tern read NAME`.

use super::Context;
use crate::{
    backend::{self, Need},
    error::CliError,
};

/// Mark a conversation read.
///
/// The sender sees read marks (the receipts leave with the daemon). A group (`#name`) is
/// marked read only here: groups send no read receipts.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  tern read bob
  tern read '#family'")]
pub(crate) struct Read {
    /// Contact name or address, or a group as `#name`.
    peer: String,
}

impl Read {
    pub(crate) async fn run(self, context: &Context) -> Result<(), CliError> {
        let peer = self.peer;
        let marked = backend::with(context, Need::Data, async |b| {
            if peer.starts_with('#') {
                b.mark_group_read(&peer).await
            } else {
                b.mark_read(&peer).await
            }
        })
        .await?;
        context.out.emit(&marked, |out| {
            writeln!(
                out,
                "{}",
                t!("read-marked", count = marked.marked, peer = peer.as_str())
            )
        })
    }
}
