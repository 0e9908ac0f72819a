//! `tern search WORDS…`.

use std::collections::HashMap;

use super::Context;
use crate::{
    api::model::{SearchHitView, SearchQuery},
    backend::{self, Need},
    error::CliError,
    output,
};

/// Search your history, 1:1 chats and groups: messages holding every word, newest first.
///
/// Case and accents do not matter, the last word may be the start of one, any language
/// works, and a file is found by its name too. The index lives in memory only (nothing of it
/// is written to disk) and is built when the node starts.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  tern search kilimanjaro
  tern search dinner fri --in bob
  tern search tickets --in '#family'
  tern search invoice --json | jq -r '.hits[].message.text'")]
pub(crate) struct Search {
    /// The words to find.
    #[arg(required = true)]
    words: Vec<String>,
    /// Only this chat: a contact (name or address) or a group (`#name` or its id).
    #[arg(long = "in", value_name = "CHAT")]
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
        let (results, names) = backend::with(context, Need::Data, async |b| {
            let results = b.search(query).await?;
            // Group hits are shown with their group's name.
            let names: HashMap<String, String> = if results
                .hits
                .iter()
                .any(|h| matches!(h, SearchHitView::Group { .. }))
            {
                b.groups()
                    .await?
                    .into_iter()
                    .map(|g| (g.id, g.name))
                    .collect()
            } else {
                HashMap::new()
            };
            Ok((results, names))
        })
        .await?;
        context.out.emit(&results, |out| {
            if results.hits.is_empty() {
                return writeln!(out, "{}", t!("search-nothing", words = words.as_str()));
            }
            for hit in &results.hits {
                match hit {
                    SearchHitView::Peer { message: m } => {
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
                    SearchHitView::Group { message: m } => {
                        let group = names.get(&m.group).map_or(&m.group[..8], String::as_str);
                        let who = if m.direction == "out" {
                            t!("me")
                        } else {
                            super::chats::short(&m.sender)
                        };
                        writeln!(
                            out,
                            "{} {} #{group} {who}: {}",
                            super::change::short(&m.id),
                            output::time(m.sent_at_ms),
                            output::group_body(m, None),
                        )?;
                    }
                }
            }
            if let Some(after) = &results.next {
                let command = format!("tern search {words} --after {after}");
                writeln!(out, "{}", t!("page-older", command = command))?;
            }
            Ok(())
        })
    }
}
