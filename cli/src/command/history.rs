//! `tern history NAME`.

use super::Context;
use crate::{
    backend::{self, Need},
    error::CliError,
    output,
};

/// Show a conversation, oldest first.
///
/// Pages go back in time with --before.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  tern history bob
  tern history bob --limit 20 --before 0000018c3f...
  tern history bob --json | jq -r '.messages[].text'

Each line starts with the message's short id, for tern reply, react, edit and delete.")]
pub(crate) struct History {
    /// Contact name or address.
    peer: String,
    /// Messages per page (1 to 500).
    #[arg(long, default_value_t = 50)]
    limit: usize,
    /// The `before` cursor a previous page printed, for older messages.
    #[arg(long)]
    before: Option<String>,
}

impl History {
    pub(crate) async fn run(self, context: &Context) -> Result<(), CliError> {
        let (peer, limit, before) = (self.peer, self.limit, self.before);
        let page = backend::with(context, Need::Data, async |b| {
            b.history(&peer, Some(limit), before.as_deref()).await
        })
        .await?;
        context.out.emit(&page, |out| {
            let me = t!("me");
            for m in &page.messages {
                let who = if m.outgoing() {
                    me.as_str()
                } else {
                    peer.as_str()
                };
                let mark = if m.outgoing() {
                    m.delivery.mark()
                } else {
                    String::new()
                };
                writeln!(
                    out,
                    "{} {} {who}: {}{} {mark}",
                    super::change::short(&m.id),
                    output::time(m.sent_at_ms),
                    output::reply_mark(m),
                    output::body(m),
                )?;
                if let Some(reactions) = output::reactions(&m.reactions) {
                    writeln!(out, "         {reactions}")?;
                }
            }
            if let Some(before) = &page.before {
                let command = format!("tern history {peer} --before {before}");
                writeln!(out, "{}", t!("page-older", command = command))?;
            }
            Ok(())
        })
    }
}
