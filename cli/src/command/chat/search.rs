//! `/search WORDS` in both chat screens: the messages of the open chat that hold every word,
//! as the daemon's search finds them (`GET /v1/search` with the chat), highlighted where the
//! screen shows them, the newest brought into view.

use ratatui::style::{Color, Style};

use super::{clock, link::Report};
use crate::api::{
    Client,
    model::{SearchHitView, SearchQuery},
};

/// How a found message's text is drawn.
pub(super) const HIT: Style = Style::new().fg(Color::Black).bg(Color::Yellow);

/// Most messages one `/search` finds: the newest of them.
const LIMIT: usize = 100;

/// What a `/search` found in the open chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Matches {
    /// The words searched for.
    pub(crate) query: String,
    /// The messages found, newest first: their ids, times and texts.
    pub(crate) hits: Vec<(String, u64, String)>,
}

impl Matches {
    /// Whether message `id` is one of them.
    pub(super) fn holds(&self, id: &str) -> bool {
        self.hits.iter().any(|(hit, ..)| hit == id)
    }

    /// What the status line says, once the screen knows whether any of them is on it.
    pub(super) fn notice(&self, shown: bool) -> String {
        let query = self.query.as_str();
        match self.hits.first() {
            None => t!("chat-search-none", query = query),
            Some(_) if shown => t!("chat-search-found", query = query, count = self.hits.len()),
            Some((_, at_ms, text)) => t!(
                "chat-search-older",
                query = query,
                count = self.hits.len(),
                time = clock(*at_ms),
                text = text.as_str()
            ),
        }
    }
}

/// The words a `/search` line asks for, or what is wrong with it.
pub(super) fn words(argument: &str) -> Result<String, String> {
    let words = argument.trim();
    if words.is_empty() {
        Err(t!("chat-search-usage"))
    } else {
        Ok(words.to_owned())
    }
}

/// Asks the daemon for the messages of `chat` (a contact's address, or a group's id) that
/// hold `query`; the report the screen gets.
pub(super) async fn run(client: &Client, chat: &str, query: String) -> Report {
    let request = SearchQuery {
        q: query.clone(),
        peer: Some(chat.to_owned()),
        limit: Some(LIMIT),
        after: None,
    };
    match client.search(&request).await {
        Ok(results) => Report::Found(Matches {
            query,
            hits: results
                .hits
                .into_iter()
                .map(|hit| match hit {
                    SearchHitView::Peer { message } => {
                        (message.id, message.sent_at_ms, message.text)
                    }
                    SearchHitView::Group { message } => {
                        (message.id, message.sent_at_ms, message.text)
                    }
                })
                .collect(),
        }),
        Err(e) => Report::Notice(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_says_what_it_found_and_where() {
        let found = Matches {
            query: "dinner".into(),
            hits: vec![
                ("b".into(), 1_800_000_000_000, "dinner at 8".into()),
                ("a".into(), 1_799_999_000_000, "dinner?".into()),
            ],
        };
        assert!(found.holds("a") && !found.holds("c"));
        assert!(
            found.notice(true).contains("2 found"),
            "{}",
            found.notice(true)
        );
        let older = found.notice(false);
        assert!(older.contains("dinner at 8"), "{older}");
        let none = Matches {
            query: "lunch".into(),
            hits: Vec::new(),
        };
        assert!(
            none.notice(false).contains("nothing"),
            "{}",
            none.notice(false)
        );
        assert_eq!(words("  two words "), Ok("two words".into()));
        assert!(words(" ").is_err());
    }
}
