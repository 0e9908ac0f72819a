//! `tern attachments [NAME]`: the files sent and received.

use super::Context;
use crate::{
    backend::{self, Need},
    error::CliError,
    output,
};

/// List files sent and received, newest first: their message id (for `tern save`), the
/// conversation, name, size and whether they are here.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  tern attachments
  tern attachments bob
  tern attachments --json | jq '.files[] | select(.file.state == \"offered\")'")]
pub(crate) struct Attachments {
    /// Only this conversation's files (a contact name or address).
    peer: Option<String>,
}

impl Attachments {
    pub(crate) async fn run(self, context: &Context) -> Result<(), CliError> {
        let peer = self.peer;
        let (page, contacts) = backend::with(context, Need::Data, async |b| {
            Ok((b.files(peer.as_deref()).await?, b.contacts().await?))
        })
        .await?;
        context.out.emit(&page, |out| {
            if page.files.is_empty() {
                return writeln!(out, "{}", t!("attachments-none"));
            }
            for file in &page.files {
                let who = contacts
                    .iter()
                    .find(|c| c.address == file.peer)
                    .map_or_else(|| file.peer.chars().take(12).collect(), |c| c.name.clone());
                let arrow = if file.direction == "outgoing" {
                    "→"
                } else {
                    "←"
                };
                writeln!(
                    out,
                    "{}  {} {}  {}",
                    file.id.get(..8).unwrap_or(&file.id),
                    arrow,
                    output::pad(&who, 12),
                    output::attachment(&file.file),
                )?;
            }
            Ok(())
        })
    }
}
