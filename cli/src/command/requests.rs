//! `tern requests`: messages from people who are not contacts, held apart until answered.

use super::{Context, chats::short};
use crate::{
    backend::{self, Need},
    error::CliError,
    output,
};

/// List message requests, or accept or delete one. A request holds the messages of someone
/// who is neither a contact nor in your chats; they get no receipt until you accept. Read
/// one with `tern history ADDRESS`; block its sender with `tern block ADDRESS`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  tern requests
  tern history tern1qz...
  tern requests accept tern1qz...
  tern requests delete tern1qz...
  tern block tern1qz...")]
pub(crate) struct Requests {
    #[command(subcommand)]
    action: Option<Action>,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Accept a request: it becomes a chat and its sender gets the receipts held back.
    Accept {
        /// The sender's address.
        peer: String,
    },
    /// Delete a request and its messages. The sender can write again (a new request).
    Delete {
        /// The sender's address.
        peer: String,
    },
}

impl Requests {
    pub(crate) async fn run(self, context: &Context) -> Result<(), CliError> {
        match self.action {
            None => list(context).await,
            Some(Action::Accept { peer }) => {
                backend::with(context, Need::Data, async |b| b.accept_request(&peer).await).await?;
                context
                    .out
                    .emit(&serde_json::json!({ "accepted": peer }), |out| {
                        writeln!(out, "{}", t!("requests-accepted", peer = short(&peer)))
                    })
            }
            Some(Action::Delete { peer }) => {
                let deleted =
                    backend::with(context, Need::Data, async |b| b.delete_chat(&peer).await)
                        .await?;
                context.out.emit(&deleted, |out| {
                    let line = t!(
                        "requests-deleted",
                        peer = short(&peer),
                        count = deleted.deleted
                    );
                    writeln!(out, "{line}")
                })
            }
        }
    }
}

async fn list(context: &Context) -> Result<(), CliError> {
    let requests = backend::with(context, Need::Data, async |b| b.requests().await).await?;
    context.out.emit(&requests, |out| {
        if requests.is_empty() {
            return writeln!(out, "{}", t!("requests-none"));
        }
        for request in &requests {
            let count = if request.dropped > 0 {
                t!(
                    "requests-count-dropped",
                    count = request.messages,
                    dropped = request.dropped
                )
            } else {
                t!("requests-count", count = request.messages)
            };
            writeln!(
                out,
                "{}  {count}  {}  {}",
                request.peer,
                output::time(request.last_ms),
                request.last_text.lines().next().unwrap_or_default()
            )?;
        }
        writeln!(out, "{}", t!("requests-hint"))
    })
}
