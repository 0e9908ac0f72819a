//! Queries: the terms a search looks for (see [`crate::text`] for how text becomes terms).
//!
//! A message matches a query when it holds every term of it (AND). A *prefix* term matches
//! any term that starts with it. [`Query::parse`] makes the last word a prefix when nothing
//! follows it in the query's text, so results follow a user as they type.

use crate::text::{self, Kind, Mode};

/// The most terms a query looks for: a query of more words than anyone types is cut to its
/// first 32 terms (finding a superset of what the whole query would), so that pasting a
/// page of text into the search box costs no more than a long query.
pub const MAX_QUERY_TERMS: usize = 32;

/// A parsed search query.
///
/// ```
/// let query = tern_search::Query::parse("Grüße aus Berl");
/// assert!(query.matches_term("grusse"));
/// assert!(query.matches_term("berlin"));
/// assert!(!query.matches_term("au"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    terms: Vec<QueryTerm>,
}

/// One term of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QueryTerm {
    pub(crate) text: String,
    pub(crate) prefix: bool,
}

impl Query {
    /// The query a user typed: every term must be present, and the last word is a prefix
    /// unless a space or punctuation follows it.
    pub fn parse(text: &str) -> Query {
        Query::build(text, true)
    }

    /// A query whose terms must all be present exactly, none as a prefix.
    pub fn exact(text: &str) -> Query {
        Query::build(text, false)
    }

    fn build(text: &str, prefix_last: bool) -> Query {
        let mut terms: Vec<QueryTerm> = Vec::new();
        let mut last_is_open_word = false;
        text::for_each_term(text, Mode::Query, |term| {
            let kept = terms.len() < MAX_QUERY_TERMS;
            if kept {
                terms.push(QueryTerm {
                    text: term.text.to_string(),
                    prefix: false,
                });
            }
            // The open word counts only if it made it under the cap: otherwise the last
            // term kept is some earlier, finished word.
            last_is_open_word = kept && term.kind == Kind::Word && term.span.1 == text.len();
        });
        if prefix_last
            && last_is_open_word
            && let Some(last) = terms.last_mut()
        {
            last.prefix = true;
        }
        let mut seen = std::collections::HashSet::new();
        terms.retain(|term| seen.insert((term.text.clone(), term.prefix)));
        Query { terms }
    }

    /// Whether the query has no terms (its text had no word or emoji): it finds nothing.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// Whether a term of a message (as [`crate::terms`] gives them) is one this query looks
    /// for.
    pub fn matches_term(&self, term: &str) -> bool {
        self.terms.iter().any(|q| {
            if q.prefix {
                term.starts_with(q.text.as_str())
            } else {
                term == q.text
            }
        })
    }

    pub(crate) fn terms(&self) -> &[QueryTerm] {
        &self.terms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(query: &Query) -> Vec<String> {
        query
            .terms
            .iter()
            .map(|t| format!("{}{}", t.text, if t.prefix { "*" } else { "" }))
            .collect()
    }

    #[test]
    fn the_open_last_word_is_a_prefix() {
        assert_eq!(shown(&Query::parse("Hello Wor")), ["hello", "wor*"]);
        assert_eq!(shown(&Query::parse("hello wor ")), ["hello", "wor"]);
        assert_eq!(shown(&Query::parse("hello wor.")), ["hello", "wor"]);
        assert_eq!(shown(&Query::exact("hello wor")), ["hello", "wor"]);
        assert_eq!(shown(&Query::parse("hello 🎉")), ["hello", "🎉"]);
    }

    #[test]
    fn ideographic_queries_use_bigrams() {
        assert_eq!(shown(&Query::parse("東")), ["東"]);
        assert_eq!(shown(&Query::parse("東京都")), ["東京", "京都"]);
        assert_eq!(shown(&Query::parse("東京 tower")), ["東京", "tower*"]);
    }

    #[test]
    fn repeats_go_and_the_length_is_capped() {
        assert_eq!(shown(&Query::parse("a b a b a")), ["a", "b", "a*"]);
        let long: String = (0..100).map(|i| format!("w{i} ")).collect();
        let query = Query::parse(long.trim_end());
        assert_eq!(query.terms.len(), MAX_QUERY_TERMS);
        assert!(query.terms.iter().all(|t| !t.prefix));
    }

    #[test]
    fn a_query_without_words_is_empty() {
        assert!(Query::parse("  ... !? ").is_empty());
        assert!(Query::parse("").is_empty());
        assert!(!Query::parse("?a").is_empty());
    }
}
