//! `tern send NAME [TEXT]`.

use std::io::{self, IsTerminal, Read};

use super::Context;
use crate::{
    backend::{self, Need},
    error::CliError,
};

/// Send a message (needs `tern daemon` running).
///
/// The message is safe on disk when this returns; the daemon delivers it, directly or through
/// the recipient's relays while it is offline.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  tern send bob 'see you at 8'
  uptime | tern send ops-bot
  tern send tern1qz... hello --json")]
pub(crate) struct Send {
    /// Contact name or address.
    to: String,
    /// The text; read from standard input when absent or `-`.
    text: Option<String>,
}

impl Send {
    pub(crate) async fn run(self, context: &Context) -> Result<(), CliError> {
        let text = match self.text.as_deref() {
            Some("-") | None => {
                if io::stdin().is_terminal() {
                    return Err(CliError::Usage(t!("send-no-text")));
                }
                let mut text = String::new();
                io::stdin()
                    .read_to_string(&mut text)
                    .map_err(|e| CliError::Usage(t!("send-stdin", error = e.to_string())))?;
                text.trim_end_matches('\n').to_owned()
            }
            Some(text) => text.to_owned(),
        };
        let to = self.to;
        let sent = backend::with(context, Need::Network, async |b| {
            b.send(&to, None, &text).await
        })
        .await?;
        context.out.emit(&sent, |out| {
            writeln!(out, "{}", t!("send-queued", id = sent.id.as_str()))
        })
    }
}
