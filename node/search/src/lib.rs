//! Local full-text search over Tern's decrypted history.
//!
//! The node feeds every message's text into an [`Index`] under a [`DocKey`] (conversation,
//! history stamp, message id), and asks it for pages of keys matching a [`Query`], newest
//! first, with a [`Cursor`] to continue, the way history pages. The index holds terms and
//! keys, never the text: the node reads the messages of a page from its history.
//!
//! The index lives in memory only. The node builds it from history at unlock and keeps it
//! in step as messages come and go; nothing derived from the text is ever written to disk,
//! so erasing a message from the database erases it from search as well, and a removed
//! message's terms are wiped from memory at once. `docs/search.md` gives the measurements
//! behind this choice over an encrypted index on disk.
//!
//! Text is cut into terms for many languages at once ([`terms`]): Unicode word boundaries,
//! NFKC, case folding and accent folding for alphabetic scripts, unigrams and bigrams for
//! Chinese, Japanese and Korean, and emoji as terms of their own.
//!
//! # Quick start
//!
//! ```
//! use tern_search::{Cursor, DocKey, Index, Query};
//!
//! let alice = [1u8; 16];
//! let bob = [2u8; 16];
//! // At unlock, from every stored message, in any order.
//! let mut index = Index::build([
//!     (DocKey::new(bob, 11, [11; 16]), "Friday works for me"),
//!     (DocKey::new(alice, 10, [10; 16]), "Dinner on Friday?"),
//! ])?;
//! // Then for every message sent or received.
//! index.insert(DocKey::new(alice, 12, [12; 16]), "friday it is 🎉")?;
//! // An edit replaces the text; a delete or expiry removes it.
//! index.insert(DocKey::new(bob, 11, [11; 16]), "Saturday works for me")?;
//!
//! let query = Query::parse("frid");
//! let page = index.search(&query, None, 1, None);
//! assert_eq!(page.hits, [DocKey::new(alice, 12, [12; 16])]);
//! let next = index.search(&query, None, 1, page.next.as_ref());
//! assert_eq!(next.hits, [DocKey::new(alice, 10, [10; 16])]);
//! assert_eq!(next.next, None);
//!
//! // Only one conversation; a deleted chat leaves the index whole.
//! assert_eq!(index.search(&query, Some(&bob), 20, None).hits, []);
//! index.remove_conversation(&alice);
//! assert!(index.search(&query, None, 20, None).hits.is_empty());
//! # Ok::<(), tern_search::InsertError>(())
//! ```

#![cfg_attr(not(test), deny(clippy::unwrap_used))]
#![deny(missing_docs)]

#[cfg(any(test, feature = "test-utils"))]
pub mod corpus;
mod index;
mod key;
mod postings;
mod query;
mod text;

pub use self::{
    index::{Index, InsertError, MAX_PAGE, MIN_RENUMBER_SLOTS, Stats},
    key::{Cursor, DocKey, Page, ParseCursorError},
    query::{MAX_QUERY_TERMS, Query},
    text::{MAX_TERM_BYTES, highlight, terms},
};
