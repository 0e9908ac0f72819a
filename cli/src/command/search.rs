//! `tern search WORDS…`.

use super::Context;
use crate::{
    api::model::SearchQuery,
    backend::{self, Need},
    error::CliError,
    output,
};

/// Search your history: messages holding every word, newest first.
///
/// Case and accents do not matter, the last word may be the start of one, and any language
/// works. The index lives in memory only (nothing of it is written to disk) and is built
/// when the node starts.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  tern search kilimanjaro
  tern search dinner fri --in bob
  tern search invoice --json | jq -r '.messages[].text'")]
pub(crate) struct Search {
    /// The words to find.
    #[arg(required = true)]
    words: Vec<String>,
    /// Only the conversation with this contact (name or address).
    #[arg(long = "in", value_name = "PEER")]
    peer: Option<String>,
    /// Results per page (1 to 500).
    #[arg(long, default_value_t = 20)]
    limit: usize,
    /// The `after` cursor a previous page printed, for older results.
    #[arg(long)]
    after: Option<String>,
}

impl Search {
    pub(crate) async fn run(self, context: &Context) -> Result<(), CliError> {
        let query = SearchQuery {
            q: self.words.join(" "),
            peer: self.peer,
            limit: Some(self.limit),
            after: self.after,
        };
        let words = query.q.clone();
        let results = backend::with(context, Need::Data, async |b| b.search(query).await).await?;
        context.out.emit(&results, |out| {
            if results.messages.is_empty() {
                return writeln!(out, "{}", t!("search-nothing", words = words.as_str()));
            }
            for m in &results.messages {
                let who = if m.outgoing() {
                    t!("me")
                } else {
                    super::chats::short(&m.peer)
                };
                writeln!(
                    out,
                    "{} {} {who}: {}",
                    super::change::short(&m.id),
                    output::time(m.sent_at_ms),
                    output::body(m),
                )?;
            }
            if let Some(after) = &results.next {
                let command = format!("tern search {words} --after {after}");
                writeln!(out, "{}", t!("page-older", command = command))?;
            }
            Ok(())
        })
    }
}
