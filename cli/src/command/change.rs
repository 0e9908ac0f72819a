//! `tern reply`, `tern react`, `tern edit`, `tern delete`, `tern edits`: answering and
//! changing earlier messages. A message is named by its id, a unique prefix of it (the
//! 8 digits `tern history` prints), or `last`.

use super::Context;
use crate::{
    backend::{self, Need},
    error::CliError,
    output,
};

/// Reply to a message: the recipient sees it quoted (needs `tern daemon` running).
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  tern reply bob last 'sounds good'
  tern reply bob 1a2b3c4d 'yes, that one'")]
pub(crate) struct Reply {
    /// Contact name or address, or a group as `#name`.
    peer: String,
    /// The message answered: its id, a unique prefix (as `tern history` shows), or `last`.
    message: String,
    /// The text.
    text: String,
}

impl Reply {
    pub(crate) async fn run(self, context: &Context) -> Result<(), CliError> {
        let sent = backend::with(context, Need::Network, async |b| {
            b.send(&self.peer, Some(&self.message), &self.text).await
        })
        .await?;
        context.out.emit(&sent, |out| {
            writeln!(out, "{}", t!("send-queued", id = sent.id.as_str()))
        })
    }
}

/// React to a message with one emoji, replacing your earlier reaction (needs `tern daemon`).
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  tern react bob last 👍
  tern react bob 1a2b3c4d --remove")]
pub(crate) struct React {
    /// Contact name or address, or a group as `#name`.
    peer: String,
    /// The message: its id, a unique prefix, or `last`.
    message: String,
    /// One emoji.
    #[arg(required_unless_present = "remove")]
    emoji: Option<String>,
    /// Take your reaction back.
    #[arg(long, conflicts_with = "emoji")]
    remove: bool,
}

impl React {
    pub(crate) async fn run(self, context: &Context) -> Result<(), CliError> {
        let emoji = self.emoji.unwrap_or_default();
        let changed = backend::with(context, Need::Network, async |b| {
            b.react(&self.peer, &self.message, &emoji).await
        })
        .await?;
        context.out.emit(&changed, |out| {
            let id = short(&changed.target);
            if emoji.is_empty() {
                writeln!(out, "{}", t!("react-removed", id = id))
            } else {
                writeln!(out, "{}", t!("react-reacted", id = id))
            }
        })
    }
}

/// Edit one of your messages, within 24 hours of sending it (needs `tern daemon`).
///
/// Every recipient sees the new text, marked as edited; `tern edits` shows every version.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  tern edit bob last 'see you at 6, not 5'")]
pub(crate) struct Edit {
    /// Contact name or address, or a group as `#name`.
    peer: String,
    /// Your message: its id, a unique prefix, or `last` (your newest).
    message: String,
    /// The new text.
    text: String,
}

impl Edit {
    pub(crate) async fn run(self, context: &Context) -> Result<(), CliError> {
        let changed = backend::with(context, Need::Network, async |b| {
            b.edit(&self.peer, &self.message, &self.text).await
        })
        .await?;
        context.out.emit(&changed, |out| {
            writeln!(out, "{}", t!("edit-edited", id = short(&changed.target)))
        })
    }
}

/// Delete a message: for everyone (your own, within 24 hours of sending it), or with --for-me
/// from this device only. Its text is erased from the database files.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  tern delete bob last                 (your newest message, for everyone)
  tern delete bob 1a2b3c4d --for-me    (any message, from this device only)")]
pub(crate) struct Delete {
    /// Contact name or address, or a group as `#name`.
    peer: String,
    /// The message: its id, a unique prefix, or `last` (your newest, or with --for-me the newest).
    message: String,
    /// Delete it from this device only; the other side (or the group's other members) keeps it.
    #[arg(long)]
    for_me: bool,
}

impl Delete {
    pub(crate) async fn run(self, context: &Context) -> Result<(), CliError> {
        let need = if self.for_me {
            Need::Data
        } else {
            Need::Network
        };
        let changed = backend::with(context, need, async |b| {
            b.delete_message(&self.peer, &self.message, !self.for_me)
                .await
        })
        .await?;
        context.out.emit(&changed, |out| {
            let id = short(&changed.target);
            if self.for_me {
                writeln!(out, "{}", t!("delete-for-me", id = id))
            } else {
                writeln!(out, "{}", t!("delete-for-everyone", id = id))
            }
        })
    }
}

/// Show every version of an edited message, oldest first.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  tern edits bob 1a2b3c4d")]
pub(crate) struct Edits {
    /// Contact name or address, or a group as `#name`.
    peer: String,
    /// The message: its id, a unique prefix, or `last`.
    message: String,
}

impl Edits {
    pub(crate) async fn run(self, context: &Context) -> Result<(), CliError> {
        let versions = backend::with(context, Need::Data, async |b| {
            b.edit_history(&self.peer, &self.message).await
        })
        .await?;
        context.out.emit(&versions, |out| {
            for version in &versions {
                writeln!(out, "{} {}", output::time(version.at_ms), version.text)?;
            }
            Ok(())
        })
    }
}

/// The 8-digit form of a message id that `tern history` prints.
pub(crate) fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}
