//! `tern chats`: the chat list.

use super::Context;
use crate::{
    backend::{self, Need},
    error::CliError,
    output,
};

/// List conversations, most recent first, with unread counts; or delete one. Message
/// requests from people who are not contacts are listed by `tern requests`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  tern chats
  tern chats --json | jq '.chats[] | select(.unread > 0)'
  tern chats delete bob")]
pub(crate) struct Chats {
    #[command(subcommand)]
    action: Option<Action>,
    /// Chats per page.
    #[arg(long, default_value_t = 50)]
    limit: usize,
    /// Continue from the `next` cursor of a previous page.
    #[arg(long)]
    cursor: Option<String>,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Delete a conversation and every message stored for it (erased from the database
    /// files); messages to the peer not yet delivered are not sent. The contact stays.
    Delete {
        /// A contact's name or an address.
        peer: String,
    },
}

impl Chats {
    pub(crate) async fn run(self, context: &Context) -> Result<(), CliError> {
        if let Some(Action::Delete { peer }) = self.action {
            let deleted =
                backend::with(context, Need::Data, async |b| b.delete_chat(&peer).await).await?;
            return context.out.emit(&deleted, |out| {
                writeln!(
                    out,
                    "Deleted the conversation with {} ({} messages)",
                    short(&peer),
                    deleted.deleted
                )
            });
        }
        let (limit, cursor) = (self.limit, self.cursor);
        let page = backend::with(context, Need::Data, async |b| {
            b.chats(Some(limit), cursor.as_deref()).await
        })
        .await?;
        context.out.emit(&page, |out| {
            if page.chats.is_empty() {
                return writeln!(out, "No conversations yet.");
            }
            for chat in &page.chats {
                let name = chat.name.clone().unwrap_or_else(|| short(&chat.peer));
                let unread = if chat.unread > 0 {
                    format!("({} unread)", chat.unread)
                } else {
                    String::new()
                };
                writeln!(
                    out,
                    "{name:16} {:11} {}  {}",
                    unread,
                    output::time(chat.last_ms),
                    preview(&chat.last_text)
                )?;
            }
            if let Some(next) = &page.next {
                writeln!(out, "more: tern chats --cursor {next}")?;
            }
            Ok(())
        })
    }
}

/// An address shortened for a list.
pub(crate) fn short(address: &str) -> String {
    if address.len() > 16 {
        format!("{}…", &address[..14])
    } else {
        address.to_owned()
    }
}

/// One line of a message, cut to fit a list.
fn preview(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    if line.chars().count() > 48 || text.lines().nth(1).is_some() {
        format!("{}…", line.chars().take(47).collect::<String>())
    } else {
        line.to_owned()
    }
}
