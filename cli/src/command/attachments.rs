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
  tern attachments '#family'
  tern attachments --json | jq '.files[] | select(.file.state == \"offered\")'")]
pub(crate) struct Attachments {
    /// Only this conversation's files (a contact name or address, or a group as `#name`).
    peer: Option<String>,
}

impl Attachments {
    pub(crate) async fn run(self, context: &Context) -> Result<(), CliError> {
        let peer = self.peer;
        let (page, contacts, groups) = backend::with(context, Need::Data, async |b| {
            Ok((
                b.files(peer.as_deref()).await?,
                b.contacts().await?,
                b.groups().await?,
            ))
        })
        .await?;
        context.out.emit(&page, |out| {
            if page.files.is_empty() {
                return writeln!(out, "{}", t!("attachments-none"));
            }
            for file in &page.files {
                let who = match &file.group {
                    // A group's file: the group's name.
                    Some(group) => groups.iter().find(|g| g.id == *group).map_or_else(
                        || format!("#{}", group.get(..8).unwrap_or(group)),
                        |g| format!("#{}", g.name),
                    ),
                    None => contacts
                        .iter()
                        .find(|c| c.address == file.peer)
                        .map_or_else(|| file.peer.chars().take(12).collect(), |c| c.name.clone()),
                };
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
